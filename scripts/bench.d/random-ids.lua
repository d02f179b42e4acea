-- wrk: every request asks for a random positive id, like real consumers.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/" .. math.random(1, 1000000))
end
