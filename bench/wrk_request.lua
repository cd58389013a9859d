-- wrk script of the proxy measure: one fixed request, repeated; the result as one JSON line.
--   wrk -t1 -c16 -d2s -H "Host: h" -s bench/wrk_request.lua URL -- METHOD [BODY_FILE]
-- Latencies are wrk's, in microseconds, from writing a request to reading its whole response.

function init(args)
  local body = nil
  if args[2] then
    local file = assert(io.open(args[2], "rb"))
    body = file:read("*a")
    file:close()
    wrk.headers["Content-Type"] = "application/json"
  end
  wrk.method = args[1] or "GET"
  wrk.body = body
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
