-- wrk script: start an export (a job enqueued, 202) on every request.
wrk.method = "POST"
