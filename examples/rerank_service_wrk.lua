-- wrk script for examples/rerank_service (docs/service.md): POSTs one fixed request body to /rerank.
--   wrk -t1 -c1 -d10s --latency -s examples/rerank_service_wrk.lua http://127.0.0.1:PORT -- request.json
-- The body should carry no "id": the service then gives every request a fresh one (in the sample
-- mode a repeated id still waiting for feedback is refused with 409).
local body
function init(args)
  local f = assert(io.open(args[1], "rb"), "usage: ... -- REQUEST.json")
  body = f:read("*a")
  f:close()
end
function request()
  return wrk.format("POST", "/rerank", { ["Content-Type"] = "application/json" }, body)
end
