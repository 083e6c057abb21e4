-- wrk script for bench/requests-overhead.ts: counts the requests wrk sent and prints "sent N" at the end. wrk's own
-- summary counts only the requests answered; those still in flight when the run ends were sent too, and both ends
-- of the connection saw them, so the ground truth of request capture is what was sent.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
end

function request()
  sent = sent + 1
  return wrk.format()
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + t:get("sent")
  end
  io.write(string.format("sent %d\n", n))
end
