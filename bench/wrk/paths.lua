-- One authenticated GET per call: the next token of one file and the next path of another.
-- Arguments after `--`: tokens_file paths_file
local tokens, paths = {}, {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  for line in io.lines(args[2]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  index = math.random(#tokens)
  path_index = math.random(#paths)
end

function request()
  index = index % #tokens + 1
  path_index = path_index % #paths + 1
  return wrk.format("GET", paths[path_index], {["Authorization"] = "Bearer " .. tokens[index]})
end

dofile("report.lua")  -- defines done(); wrk runs in this folder
