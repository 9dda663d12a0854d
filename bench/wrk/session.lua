-- wrk script of `python -m bench` (bench/web.py): one route, each stack's own session cookies.
--
--   wrk -t2 -c8 -d3s --latency -s bench/wrk/session.lua http://127.0.0.1:PORT \
--       -- METHOD PATH COOKIE_FILE THREADS
--
-- METHOD and PATH choose the workload (GET /read, GET /touch, POST /write, GET /health).
-- COOKIE_FILE holds one `Cookie:` header value per line, each a session the stack made
-- at log-in (its own cookie: express-session's signed `s:` id, Flask's, Django's
-- `sessionid`, the floor app's bare id); "-" means no cookie. Thread i of THREADS takes
-- lines i+1, i+1+THREADS, ... and sends them in turn, so requests in flight carry
-- different sessions (concurrent writes to one session would measure conflict
-- handling, not a session store). Requests are formatted once, in init().
-- done() prints one machine-readable line for bench/web.py, with `sent`: the requests
-- written, which bounds those still in flight when wrk stops (wrk counts completed
-- responses only; the server serves the others too, inside the measured window).

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   threads[#threads + 1] = thread
end

local prepared = {}
local turn = 0

function init(args)
   local method, path, cookie_file = args[1], args[2], args[3]
   local threads = tonumber(args[4]) or 1
   local index = thread_index or 0
   local body = nil
   if method == "POST" then
      body = ""  -- wrk.format then sends Content-Length: 0
   end
   local cookies = {}
   if cookie_file and cookie_file ~= "-" then
      local n = 0
      for line in io.lines(cookie_file) do
         if line ~= "" then
            if n % threads == index then
               cookies[#cookies + 1] = line
            end
            n = n + 1
         end
      end
   end
   if #cookies == 0 then
      prepared[1] = wrk.format(method, path, {}, body)
   else
      for i, cookie in ipairs(cookies) do
         prepared[i] = wrk.format(method, path, { ["Cookie"] = cookie }, body)
      end
   end
end

sent = 0

function request()
   sent = sent + 1
   turn = turn % #prepared + 1
   return prepared[turn]
end

function done(summary, latency, requests)
   local e = summary.errors
   local written = 0
   for _, thread in ipairs(threads) do
      written = written + (thread:get("sent") or 0)
   end
   -- Before any connection opens, wrk calls request() once on the first thread's state to
   -- check that the request parses (script_verify_request in wrk's main); that call
   -- sent nothing.
   written = math.max(0, written - 1)
   io.write(string.format(
      "bench-wrk-result requests=%d sent=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, written, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
   ))
end
