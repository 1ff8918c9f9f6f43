-- wrk script for bench/gateway.py: POST one JSON body per request, cycling through a file of bodies
-- (one complete JSON document per line), and print one machine-readable summary line at the end.
--
--   wrk -t1 -cN -dDs --latency --timeout 10s -s bodies.lua URL -- BODIES_FILE [API_KEY]
--
-- The bodies are formatted into complete HTTP requests once, in init(), so the per-request cost in
-- wrk is one Lua call returning a prebuilt string. `sent` counts requests handed to the socket;
-- summary.requests counts complete responses: their difference is what was still in flight when
-- wrk stopped (bench/gateway.py uses both to bound the ledger row count).

local threads = {}
local reqs, n, i = {}, 0, 0
sent = 0 -- global on purpose: done() reads it from each thread with thread:get("sent")

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local key = args[2] or "sk-bench"
  if not path or path == "" then error("usage: -- BODIES_FILE [API_KEY]") end
  for line in io.lines(path) do
    if line ~= "" then
      local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }
      n = n + 1
      reqs[n] = wrk.format("POST", nil, headers, line)
    end
  end
  if n == 0 then error("no request bodies in " .. path) end
  i = math.random(0, n - 1) -- connections of one thread share the cycle; start anywhere
end

function request()
  sent = sent + 1
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local errs = e.connect + e.read + e.write + e.status + e.timeout
  local total_sent = 0
  for _, t in ipairs(threads) do total_sent = total_sent + (t:get("sent") or 0) end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"sent":%d,"duration_s":%.3f,"rps":%.2f,"ok_rps":%.2f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,"errors":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d,"bytes":%d}\n',
    summary.requests, total_sent, secs, summary.requests / secs, (summary.requests - e.status) / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    errs, e.connect, e.read, e.write, e.status, e.timeout, summary.bytes))
end
