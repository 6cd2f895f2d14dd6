-- wrk script: create a note on every request.
wrk.method = "POST"
wrk.body = '{"title": "bench", "body": "a note written by the benchmark"}'
wrk.headers["Content-Type"] = "application/json"
