-- wrk script: GET /api/seats as many clients (a random X-Forwarded-For per request, counted by
-- the rate limits when the server trusts one proxy: NUM_PROXIES=1, as bench/run_all.sh sets).
--   wrk -t2 -c4 -d15s -s bench/seats.lua http://127.0.0.1:8000
-- Any status but 200 is an error; done() prints one JSON line (prefix "RESULT ").

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  ok, other, bytes = 0, 0, 0
end

function request()
  local headers = {["X-Forwarded-For"] = string.format("127.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))}
  return wrk.format("GET", "/api/seats", headers)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
  bytes = #body
end

function done(summary, latency, requests)
  local o, k, b = 0, 0, 0
  for _, thread in ipairs(threads) do
    o = o + thread:get("other")
    k = k + thread:get("ok")
    b = thread:get("bytes")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,' ..
    '"ok_200":%d,"bad_status":%d,"socket_errors":%d,"errors":%d,"body_bytes":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    k, o, socket_errors, o + socket_errors, b))
end
