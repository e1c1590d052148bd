-- One authenticated request per call, each with the next token of a file (a different session).
-- Arguments after `--`: tokens_file method path [json_body]
local tokens = {}
local method, path, body

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  method, path = args[2], args[3]
  if args[4] and #args[4] > 0 then body = args[4] end
  index = math.random(#tokens)
end

function request()
  index = index % #tokens + 1
  local headers = {}
  if tokens[index] ~= "-" then headers["Authorization"] = "Bearer " .. tokens[index] end
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end

dofile("report.lua")  -- defines done(); wrk runs in this folder
