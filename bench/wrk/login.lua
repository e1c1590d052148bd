-- POST /api/v1/auth/login for a different seeded user on every request.
-- Arguments after `--`: usernames_file password
local users = {}
local password

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then users[#users + 1] = line end
  end
  password = args[2]
  index = math.random(#users)
end

function request()
  index = index % #users + 1
  local body = string.format('{"username": "%s", "password": "%s"}', users[index], password)
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end

dofile("report.lua")  -- defines done(); wrk runs in this folder
