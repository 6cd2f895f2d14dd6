"""Browser security headers, which `middleware.Guard` adds to every HTTP response the app sends."""

from __future__ import annotations

from starlette.types import Scope

# Only this site's own scripts, styles, images and sockets; nothing inline; never in a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
# Sent only over TLS: a browser ignores it on plain HTTP, and a proxy may end TLS for us.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers for a response to this request: HSTS only when it came over TLS."""
    if scope.get("scheme") == "https":
        return [*SECURITY_HEADERS, HSTS]
    return SECURITY_HEADERS
