-- bench/pay.lua: wrk script that sends pre-signed Auto Debit pay requests.
--
--   wrk -t T -c C -d D -s bench/pay.lua http://HOST:PORT/ams/api/v1/payments/pay -- FILE CLIENT_ID T
--
-- FILE is what bench/presign wrote, one request a line: time TAB Signature TAB body, signed
-- for the URL's path and CLIENT_ID.  Thread k of T takes lines k, k+T, k+2T, ... (disjoint
-- slices) and sends each once; when its slice runs out it starts it again, and those are
-- counted as replays (the sandbox answers them from the stored payment, no second debit).
-- An answer counts as good when it is HTTP 200 with "resultStatus":"S".  done() prints one
-- line "PAYLUA key=value ..." for bench/sandbox-load.sh.

local threads = {}

-- setup: number each thread so init can pick its slice.
function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

-- init: load this thread's slice of FILE as ready-made HTTP requests.
function init(args)
	local file, client_id, nthreads = args[1], args[2], tonumber(args[3])
	if not file or not client_id or not nthreads then
		error("pay.lua needs: -- FILE CLIENT_ID THREADS")
	end
	reqs = {}
	local i = 0
	for line in io.lines(file) do
		if i % nthreads == tid then
			local t, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
			if not t then error("pay.lua: bad line " .. (i + 1) .. " in " .. file) end
			reqs[#reqs + 1] = wrk.format("POST", wrk.path, {
				["Client-Id"] = client_id,
				["Request-Time"] = t,
				["Signature"] = sig,
				["Content-Type"] = "application/json; charset=UTF-8",
			}, body)
		end
		i = i + 1
	end
	if #reqs == 0 then error("pay.lua: no requests for thread " .. tid) end
	nreqs = #reqs
	pos = 0          -- requests handed to wrk (first sends and replays)
	good = 0         -- HTTP 200 with resultStatus S
	non200 = 0
	notsuccess = 0   -- HTTP 200 with another resultStatus
	sample = ""      -- the first bad answer, for the report
	-- wrk calls request() once on thread 0 before running, to check the request, and never
	-- sends that one: hand it out without counting it.
	verifying = (tid == 0)
end

-- request: the next request of the slice, round and round.
function request()
	if verifying then
		verifying = false
		return reqs[1]
	end
	pos = pos + 1
	return reqs[(pos - 1) % nreqs + 1]
end

-- response: count good and bad answers.
function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
		if sample == "" then sample = "HTTP " .. status .. " " .. (body or "") end
	elseif body and body:find('"resultStatus":"S"', 1, true) then
		good = good + 1
	else
		notsuccess = notsuccess + 1
		if sample == "" then sample = "HTTP 200 " .. (body or "") end
	end
end

-- done: sum the threads' counters into one line.
function done(summary, latency, requests)
	local sent, first, good_, non200_, notsuccess_, sample_ = 0, 0, 0, 0, 0, ""
	for _, thread in ipairs(threads) do
		local p, n = thread:get("pos"), thread:get("nreqs")
		sent = sent + p
		first = first + math.min(p, n)
		good_ = good_ + thread:get("good")
		non200_ = non200_ + thread:get("non200")
		notsuccess_ = notsuccess_ + thread:get("notsuccess")
		if sample_ == "" then sample_ = thread:get("sample") end
	end
	local secs = summary.duration / 1e6
	io.write(string.format(
		"PAYLUA sent=%d first=%d replays=%d answers=%d good=%d non200=%d notsuccess=%d " ..
		"errors=%d secs=%.3f rate=%.1f meanms=%.1f p50ms=%.1f p99ms=%.1f\n",
		sent, first, sent - first, summary.requests, good_, non200_, notsuccess_,
		summary.errors.connect + summary.errors.read + summary.errors.write +
		summary.errors.status + summary.errors.timeout,
		secs, summary.requests / secs, latency.mean / 1000,
		latency:percentile(50) / 1000, latency:percentile(99) / 1000))
	if sample_ ~= "" then
		io.write("PAYLUA-SAMPLE " .. sample_:gsub("[\r\n]", " "):sub(1, 300) .. "\n")
	end
end
