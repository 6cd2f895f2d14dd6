"""The signed session cookie and its CSRF token, the sign-in limit, and the mailer."""

from __future__ import annotations

import hmac
import math
import secrets
import time
from dataclasses import dataclass

import limits
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection
from starlette.responses import Response

from .mail import Mailer
from .passwords import Passwords
from .settings import AuthSettings
from .tickets import Tickets

COOKIE = "session"  # on plain http, for local development
# Over TLS: a browser keeps a __Host- cookie only if it is Secure, for Path=/ and no Domain, so
# neither another subdomain nor a plain-http page can set or replace it.
HOST_COOKIE = "__Host-session"


@dataclass(frozen=True)
class Session:
    """What the signed session cookie holds: the user, if signed in, the user's session version
    when it was issued (see `users.users`), and the CSRF token. A token made on the account
    page rides along from its form's redirect to the one page that shows it (pages.py)."""

    user_id: int | None
    csrf: str
    version: int = 0
    new_token: str | None = None

    @classmethod
    def new(cls, user_id: int | None = None, version: int = 0) -> Session:
        return cls(user_id, secrets.token_urlsafe(32), version)


class LoginLimit:
    """Sign-in attempts per account and per client address, counted in this process's memory."""

    def __init__(self, per_account: str, per_address: str) -> None:
        self.per_account = limits.parse(per_account)
        self.per_address = limits.parse(per_address)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def wait(self, email: str, address: str) -> int:
        """Seconds until another attempt is allowed; 0 counts this one and lets it through."""
        for item, key in ((self.per_account, email), (self.per_address, address)):
            if not await self.limiter.test(item, "sign-in", key):
                stats = await self.limiter.get_window_stats(item, "sign-in", key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        await self.limiter.hit(self.per_account, "sign-in", email)
        await self.limiter.hit(self.per_address, "sign-in", address)
        return 0


class Accounts:
    """The session cookie's signing and reading, WebSocket tickets, the sign-in limit and mail;
    endpoints find this object in `scope["accounts"]`."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.passwords = Passwords(settings)
        self.login_limit = LoginLimit(
            settings.login_rate_per_account, settings.login_rate_per_address
        )
        self.max_age = int(settings.session_days * 86400)
        key = settings.secret_key.get_secret_value()
        self.serializer = URLSafeTimedSerializer(key, salt="session")
        self.tickets = Tickets(key)
        self.mailer = Mailer(settings)

    def session(self, connection: HTTPConnection) -> Session | None:
        cookie = connection.cookies.get(HOST_COOKIE) or connection.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
            return Session(data["user"], data["csrf"], int(data["v"]), data.get("t"))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def set_session(self, response: Response, connection: HTTPConnection, session: Session) -> None:
        # Secure whenever the request came over TLS (directly, or as the trusted proxy says).
        secure = connection.url.scheme in {"https", "wss"}
        data = {"user": session.user_id, "csrf": session.csrf, "v": session.version}
        if session.new_token is not None:
            data["t"] = session.new_token
        response.set_cookie(
            HOST_COOKIE if secure else COOKIE,
            self.serializer.dumps(data),
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    def end_session(self, response: Response, connection: HTTPConnection) -> None:
        secure = connection.url.scheme in {"https", "wss"}
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=secure)
        if secure:
            response.delete_cookie(HOST_COOKIE, httponly=True, samesite="lax", secure=True)


def csrf_ok(session: Session | None, supplied: str | None) -> bool:
    if session is None or not supplied:
        return False
    return hmac.compare_digest(session.csrf.encode(), supplied.encode())
