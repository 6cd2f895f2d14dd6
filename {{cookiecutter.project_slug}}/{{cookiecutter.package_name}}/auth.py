"""Who a request acts for: the page's session cookie, or a personal access token (Bearer).

`Authenticate` sets `scope["user"]` (a `users.User`, or None) on every request and WebSocket.
Everything but the public paths needs a user: the API answers 401, a WebSocket handshake is
refused (403), and a page redirects to the sign-in form. A write authenticated by the cookie
must carry the session's CSRF token, in the X-CSRF-Token header or the form's `csrf_token`.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

import limits
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import URL
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .database import Database, DatabaseUnavailable
from .errors import problem
from .events import Events
from .settings import SettingsError, sentence
from .users import User, active_user, session_user, user_of_token

COOKIE = "session"
TICKET_SECONDS = 60
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Open to anyone: probes, the API's description, static files, and the account forms.
PUBLIC = ("/health/", "/static/", "/docs", "/openapi.json", "/sign-in", "/sign-up")
# The account forms check the CSRF token of their form themselves.
FORMS = ("/sign-in", "/sign-up", "/sign-out", "/account")
WEAK = {"changeme", "secret", "change-me", "your-secret-key"}


class AuthSettings(BaseSettings):
    """The variables of user accounts (see .env.example)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    secret_key: SecretStr
    session_days: float = Field(14.0, gt=0, le=366)
    login_rate_per_account: str = "5/minute"
    login_rate_per_address: str = "20/minute"

    @field_validator("login_rate_per_account", "login_rate_per_address")
    @classmethod
    def rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError("write a rate like 5/minute") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def strong(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if len(key) < 32 or len(set(key)) < 16 or key.lower() in WEAK:
            raise ValueError(
                "SECRET_KEY is too weak to sign sessions: set it to at least 32 random characters, "
                "such as python -c 'import secrets; print(secrets.token_urlsafe(48))' prints."
            )
        return value


def load_auth(**values: Any) -> AuthSettings:
    """`AuthSettings` from the environment and `.env` (`values` win), or `SettingsError`."""
    try:
        return AuthSettings(**values)
    except ValidationError as exc:
        raise SettingsError(sentence(exc.errors(include_url=False)[0])) from None


@dataclass(frozen=True)
class Session:
    """What the signed session cookie holds: the user, if signed in, the user's session version
    when it was issued (see `users.users`), and the CSRF token."""

    user_id: int | None
    csrf: str
    version: int = 0

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
    """The session cookie's signing and reading, and the sign-in limit; endpoints find this
    object in `scope["accounts"]`."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.login_limit = LoginLimit(
            settings.login_rate_per_account, settings.login_rate_per_address
        )
        self.max_age = int(settings.session_days * 86400)
        key = settings.secret_key.get_secret_value()
        self.serializer = URLSafeTimedSerializer(key, salt="session")
        self.tickets = URLSafeTimedSerializer(key, salt="socket")

    def ticket(self, user: User) -> str:
        """A token that opens a WebSocket as `user` within `TICKET_SECONDS`: for clients that
        cannot send a cookie or an Authorization header with the handshake."""
        return self.tickets.dumps({"user": user.id, "token": user.token_id})

    def ticket_holder(self, ticket: str) -> tuple[int, int | None] | None:
        try:
            data = self.tickets.loads(ticket, max_age=TICKET_SECONDS)
            return int(data["user"]), data["token"]
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def session(self, connection: HTTPConnection) -> Session | None:
        cookie = connection.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
            return Session(data["user"], data["csrf"], int(data["v"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def set_session(self, response: Response, connection: HTTPConnection, session: Session) -> None:
        # Secure whenever the request came over TLS (directly, or as the trusted proxy says).
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(
                {"user": session.user_id, "csrf": session.csrf, "v": session.version}
            ),
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=connection.url.scheme in {"https", "wss"},
        )

    def end_session(self, response: Response, connection: HTTPConnection) -> None:
        secure = connection.url.scheme in {"https", "wss"}
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=secure)


def csrf_ok(session: Session | None, supplied: str | None) -> bool:
    if session is None or not supplied:
        return False
    return hmac.compare_digest(session.csrf.encode(), supplied.encode())


class Authenticate:
    """Resolves the user of each HTTP request and WebSocket handshake; refuses the anonymous.

    Public paths are passed through without a look at the database: a probe costs nothing.
    """

    def __init__(self, app: ASGIApp, accounts: Accounts) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        session = self.accounts.session(connection)
        scope["accounts"] = self.accounts
        scope["csrf_token"] = None if session is None else session.csrf  # for the pages' forms
        scope["user"] = None
        refusal = None
        if not public(connection.url.path):
            try:
                scope["user"], refusal = await self.authenticate(connection, session)
            except DatabaseUnavailable:
                refusal = problem(503, "The database is unavailable; try again shortly.")
                refusal.headers["Retry-After"] = "5"
            if refusal is None and scope["user"] is None:
                refusal = self.anonymous(connection)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": ""})  # 403
        else:
            await refusal(scope, receive, send)

    async def authenticate(
        self, connection: HTTPConnection, session: Session | None
    ) -> tuple[User | None, Response | None]:
        db: Database = connection.state.database
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            user = await user_of_token(db, token.strip())
            if user is None:
                return None, unauthorized("The token is not valid, or was revoked.")
            return user, None
        ticket = connection.query_params.get("token")
        if connection.scope["type"] == "websocket" and ticket:
            holder = self.accounts.ticket_holder(ticket)
            user = None if holder is None else await active_user(db, holder[0])
            if holder is None or user is None:
                return None, unauthorized("The token is not valid, or has expired.")
            return User(user.id, user.email, holder[1]), None
        if session is None or session.user_id is None:
            return None, None
        user = await session_user(db, session.user_id, session.version)
        if user is None:
            return None, None
        method = connection.scope.get("method", "GET")
        if method not in SAFE_METHODS and not connection.url.path.startswith(FORMS):
            if not csrf_ok(session, connection.headers.get(CSRF_HEADER)):
                return user, problem(403, "The X-CSRF-Token header is missing or wrong.")
        return user, None

    def anonymous(self, connection: HTTPConnection) -> Response:
        path = connection.url.path
        if connection.scope["type"] == "http" and not path.startswith("/api/"):
            sign_in = URL("/sign-in").include_query_params(next=path)
            return RedirectResponse(str(sign_in), status_code=303)
        return unauthorized("Sign in, or send a personal access token as a Bearer token.")


# Sockets listen for these (see live.py): each closes the sockets opened with that credential.


async def signed_out(events: Events, user_id: int) -> None:
    await events.publish({"type": "session.ended", "owner_id": user_id})


async def token_revoked(events: Events, user_id: int, token_id: int) -> None:
    await events.publish({"type": "token.revoked", "owner_id": user_id, "token_id": token_id})


def public(path: str) -> bool:
    return path.startswith(PUBLIC)


def unauthorized(detail: str) -> Response:
    response = problem(401, detail)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response
