"""Cold start of a rendered project's Lambda handler, run from its unzipped bundle.

    python -I -S tests/lambda_probe.py BUNDLE PACKAGE

Only the bundle and the standard library are importable, as in a function. Imports the
handler, then sends it API Gateway HTTP API (payload 2.0) events: a note created, then read
back. Prints one JSON object: the seconds each step took (wall clock; the import's in CPU time
too), the answers, and the top-level modules the import loaded. DATABASE_URL and
ALLOWED_HOSTS come from the environment.
"""

import json
import sys
import time

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"


class Context:
    """The part of Lambda's context object Mangum reads."""

    function_name = "probe"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def event(method: str, path: str, body: object = None) -> dict[str, object]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "cookies": [],
        "headers": {
            "accept": "application/json",
            "content-type": "application/json",
            "host": HOST,
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "http": {
                "method": method, "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7", "userAgent": "probe",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1741608000000,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def main() -> None:
    bundle, package = sys.argv[1:3]
    sys.path.insert(0, bundle)
    started, cpu = time.perf_counter(), time.process_time()
    aws_lambda = __import__(f"{package}.ops.aws_lambda", fromlist=["handler"])
    imported, imported_cpu = time.perf_counter(), time.process_time()
    loaded = sorted({name.partition(".")[0] for name in sys.modules})
    note = {"title": "From Lambda", "body": "via API Gateway"}
    created = aws_lambda.handler(event("POST", "/api/notes", note), Context())
    first = time.perf_counter()
    path = created["headers"].get("location", "").removeprefix(f"https://{HOST}")
    read = aws_lambda.handler(event("GET", path or "/api/notes"), Context())
    second = time.perf_counter()
    print(json.dumps({
        "import": imported - started,
        "import_cpu": imported_cpu - cpu,  # the same, without the time other processes took
        "first_event": first - imported,
        "second_event": second - first,
        "created": created,
        "read": read,
        "modules": loaded,
        "path": sys.path,
    }))


main()
