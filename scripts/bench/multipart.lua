-- wrk script: POST /api/v1/recognize with multipart bodies (field `file`, as
-- wx.uploadFile sends it), rotating over the photo files given after `--`.
local bodies = {}
local boundary = "----museum-bench-boundary"
local n = 0
local statuses = {}

init = function(args)
  for _, path in ipairs(args) do
    local f = assert(io.open(path, "rb"))
    local data = f:read("*all")
    f:close()
    bodies[#bodies + 1] = "--" .. boundary .. "\r\n"
      .. "Content-Disposition: form-data; name=\"lang\"\r\n\r\nen\r\n"
      .. "--" .. boundary .. "\r\n"
      .. "Content-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
      .. "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n"
      .. "--" .. boundary .. "--\r\n"
  end
  -- Threads start at different photos.
  n = math.random(#bodies)
end

request = function()
  n = n + 1
  local body = bodies[(n % #bodies) + 1]
  return wrk.format("POST", "/api/v1/recognize",
    { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }, body)
end

done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    "RESULT {\"requests\": %d, \"rps\": %.2f, \"p50_ms\": %.1f, \"p99_ms\": %.1f, \"non2xx\": %d, \"errors\": %d}\n",
    summary.requests, summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
