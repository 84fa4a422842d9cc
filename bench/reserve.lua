-- wrk script: POST /api/reservations on random seats through random nodes.
--   wrk -t2 -c32 -d15s -s bench/reserve.lua http://127.0.0.1:8000 -- FIRST_SEAT_ID LAST_SEAT_ID [PATH]
-- PATH (default /api/reservations): /bench/insert for the reference view (bench/reference/).
-- A 201 and a 409 (the node sees the seat as taken) are both valid answers of the rule; any
-- other status is an error, and so is a socket error.  done() prints one JSON line (prefix
-- "RESULT ") that bench/run_all.sh collects.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  first_seat = tonumber(args[1] or "1")
  last_seat = tonumber(args[2] or "100")
  path = args[3] or "/api/reservations"
  math.randomseed(os.time() * 1000 + id)
  created, taken, other = 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local seat = math.random(first_seat, last_seat)
  local node = math.random(1, 5)
  local body = string.format('{"seat_id":%d,"customer_name":"Bench %d","server_id":"server-%d"}', seat, seat, node)
  -- Many clients: the rate limits (10 reservations/min per IP) count per X-Forwarded-For
  -- address when the server trusts one proxy (NUM_PROXIES=1, as bench/run_all.sh sets it).
  local headers = {["Content-Type"] = "application/json",
                   ["X-Forwarded-For"] = string.format("127.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))}
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 409 then
    taken = taken + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, t, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    t = t + thread:get("taken")
    o = o + thread:get("other")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,' ..
    '"created":%d,"conflict_409":%d,"bad_status":%d,"socket_errors":%d,"errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    c, t, o, socket_errors, o + socket_errors))
end
