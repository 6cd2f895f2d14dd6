"""What every request meets before routing, in one plain ASGI middleware (`Guard`).

For each HTTP request and WebSocket handshake, in one pass over its headers:

1. a request id, the caller's `X-Request-ID` if safe or a new one, on every log line of the
   request (`logs.py`) and on the response;
2. the Host check: only the names in ALLOWED_HOSTS are answered (DNS rebinding, forged links);
3. the body limit: a body over MAX_BODY_SIZE is refused with 413 before it is buffered, at
   the first read of it;
4. on every HTTP response, errors included: the request id, the browser security headers
   (`security.py`) and, while the process drains (`drain.py`), `Connection: close`;
5. an unhandled error is logged once, with its traceback and request id, and answered 500
   without them.

One middleware rather than one per rule: each layer costs a call and a wrapped `send` on every
request, which on the cheapest routes came to a third of the time the app spent
(benchmarks/README.md). CORS, when it is on, is Starlette's, after this one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core import logs
from ..ops.drain import Drain
from .errors import ENDED_EARLY, problem
from .security import security_headers

logger = logging.getLogger(__name__)

# A Host header is a name or a bracketed IPv6 address, then at most a numeric port.
HOST = re.compile(rb"(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


class AllowedHosts:
    """The host names this service answers to.

    Entries are exact names, `*.example.com` (any subdomain) or `*` (any host). The header is
    parsed strictly, so `allowed.example:1@evil.example` is refused rather than cut at a colon.
    """

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        allowed = [host.lower() for host in allowed_hosts]
        self.any = "*" in allowed
        self.exact = frozenset(host.encode() for host in allowed if not host.startswith("*"))
        self.suffixes = tuple(host[1:].encode() for host in allowed if host.startswith("*."))

    def allow(self, header: bytes | None) -> bool:
        if self.any:
            return True
        match = HOST.fullmatch(header.lower()) if header is not None else None
        if match is None:
            return False
        host = match["name"]
        return host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))


class Guard:
    """The request id, the Host check, the body limit, the response headers, the last resort."""

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str], max_body_size: int, drain: Drain
    ) -> None:
        self.app = app
        self.hosts = AllowedHosts(allowed_hosts)
        self.max_body_size = max_body_size
        self.too_large = f"The request body is larger than {max_body_size} bytes."
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = caller_id = length = None
        for name, value in scope["headers"]:
            if name == b"host" and host is None:
                host = value
            elif name == b"x-request-id":
                caller_id = value
            elif name == b"content-length":
                length = value
        request_id = logs.request_id(caller_id)
        added = [(b"x-request-id", request_id.encode()), *security_headers(scope)]
        closing = self.drain.draining and scope.get("http_version") != "2"  # HTTP/2: GOAWAY
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", ())
                if closing:
                    headers = [(k, v) for k, v in headers if k != b"connection"]
                    headers.append((b"connection", b"close"))
                message["headers"] = [*headers, *added]
            await send(message)

        token = logs.REQUEST_ID.set(request_id)
        try:
            if not self.hosts.allow(host):
                refusal = problem(400, "The Host header does not name this service.")
                await refusal(scope, receive, send_with_headers)
            elif scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self.app(scope, self.limited(receive, length), send_with_headers)
        except ClientDisconnect:  # read by a middleware past the app's error handlers
            logger.warning(ENDED_EARLY, scope.get("method"), scope["path"])
            if not started:
                await problem(400, "The request body ended before it was complete.")(
                    scope, receive, send_with_headers
                )
        except Exception:
            # Logged here, with the request id; not raised on, so the server logs it no second
            # time.
            method = scope.get("method", "WebSocket")
            logger.exception("Unhandled error in %s %s", method, scope["path"])
            if scope["type"] == "http" and not started:
                await problem(500, "The server failed to handle this request.")(
                    scope, receive, send_with_headers
                )
        finally:
            logs.REQUEST_ID.reset(token)

    def limited(self, receive: Receive, length: bytes | None) -> Receive:
        """`receive`, failing with 413 at the first read of a body declared over the limit, or
        at the read that takes a body without a length (chunked) over it. The error reaches the
        app's error handler, so CORS, when on, still lets the page read it.
        """
        if length is not None:
            if len(length) < 19 and length.isdigit() and int(length) <= self.max_body_size:
                return receive  # the server stops at the declared length

            async def refused() -> Message:
                raise HTTPException(413, self.too_large)

            return refused
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_size:
                raise HTTPException(413, self.too_large)
            return message

        return counted


class Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight in the problem shape of every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        refused = problem(response.status_code, f"{bytes(response.body).decode()}.")
        refused.headers.update({"Vary": response.headers.get("vary", "Origin")})
        return refused
