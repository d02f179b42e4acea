-- wrk: every request asks for a random positive id, like real consumers; at the end, a line
-- "statuses: 200=N 503=N ..." counts the answers by status over every thread.
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  statuses = {}
end

request = function()
  return wrk.format("GET", "/" .. math.random(1, 1000000))
end

response = function(status)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function()
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local keys = {}
  for status in pairs(total) do table.insert(keys, status) end
  table.sort(keys)
  local parts = {}
  for _, status in ipairs(keys) do table.insert(parts, status .. "=" .. total[status]) end
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
