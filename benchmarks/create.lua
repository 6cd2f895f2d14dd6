-- wrk script: create a note on every request, and print the first answer that was not 2xx
-- (its status and body), so a failure under load is reported with its cause.
wrk.method = "POST"
wrk.body = '{"title": "bench", "body": "a note written by the benchmark"}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function response(status, headers, body)
   if status >= 300 and failure == nil then
      failure = status .. " " .. (body or "")
   end
end

function done(summary, latency, requests)
   for _, thread in ipairs(threads) do
      local first = thread:get("failure")
      if first then
         io.write("first failure: " .. (first:gsub("%s+", " ")) .. "\n")
         return
      end
   end
end
