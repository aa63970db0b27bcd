-- wrk script: POST the recorded sentry-python KeyError envelope (uncompressed) with a fresh
-- 32-hex event_id per request.
--
--   wrk -t2 -c8 -d20s -s bench/wrk_envelope.lua http://127.0.0.1:PORT -- TEMPLATE KEY PROJECT_ID
--
-- TEMPLATE is written by bench/make_envelope.py: the envelope with the target's public key already
-- in it and the marker EVENTID_EVENTID_EVENTID_EVENTID_ where the event id goes (envelope header
-- and event payload). The id has the marker's length, so the item `length` stays right.
--
-- Ids: 8 hex of a per-run nonce, 4 hex of the thread number, 8 hex of a per-thread counter,
-- 12 random hex (each thread seeds its own generator), so threads and runs never collide.
--
-- At the end one line is printed: "WRK_JSON {...}" with the totals, for bench/lib/ingest_bench.py.

local MARKER = "EVENTID_EVENTID_EVENTID_EVENTID_"

local threads = {}
local thread_no = 0

function setup(thread)
   thread_no = thread_no + 1
   thread:set("thread_no", thread_no)
   -- one nonce for the whole run, taken in the main Lua state
   if run_nonce == nil then
      math.randomseed(os.time())
      run_nonce = string.format("%08x", (os.time() * 7919 + math.random(0, 65535)) % 4294967296)
   end
   thread:set("run_nonce", run_nonce)
   table.insert(threads, thread)
end

local parts = {}
local path = "/"
local counter = 0

local function split_plain(s, sep)
   local out, from = {}, 1
   while true do
      local i, j = string.find(s, sep, from, true)
      if not i then
         table.insert(out, string.sub(s, from))
         return out
      end
      table.insert(out, string.sub(s, from, i - 1))
      from = j + 1
   end
end

function init(args)
   local template, key, project = args[1], args[2], args[3]
   if not template or not key or not project then
      error("usage: wrk ... -s wrk_envelope.lua URL -- TEMPLATE KEY PROJECT_ID")
   end
   local f = assert(io.open(template, "rb"))
   local body = f:read("*a")
   f:close()
   parts = split_plain(body, MARKER)
   assert(#parts >= 2, "template has no event id marker")
   path = "/api/" .. project .. "/envelope/"
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/x-sentry-envelope"
   wrk.headers["X-Sentry-Auth"] = "Sentry sentry_key=" .. key .. ", sentry_version=7, sentry_client=lookout-bench/1.0"
   -- seed per thread: time, thread number and the address of a fresh table all differ
   local addr = tonumber(string.match(tostring({}), "0x(%x+)") or "0", 16) or 0
   math.randomseed((os.time() * 1000003 + (thread_no or 0) * 7777777 + addr) % 2147483647)
end

function request()
   counter = counter + 1
   local id = string.format("%s%04x%08x%06x%06x", run_nonce or "00000000", (thread_no or 0) % 65536,
      counter % 4294967296, math.random(0, 16777215), math.random(0, 16777215))
   return wrk.format(nil, path, nil, table.concat(parts, id))
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect_errors": %d, ' ..
      '"read_errors": %d, "write_errors": %d, "timeouts": %d, "latency_us": {"mean": %.1f, "p50": %d, ' ..
      '"p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
