"""Who a request acts for, through Starlette's own authentication: `request.user` is a
`users.User` (or `UnauthenticatedUser`), `request.auth.scopes` holds "authenticated" and the
credential used ("session" or "token"), so `starlette.authentication.requires` works.

`SessionOrToken` reads the page's session cookie, a personal access token (Bearer) or, on a
WebSocket, a single-use ticket offered as a subprotocol. `SignInRequired` then refuses the
anonymous everywhere but the public paths: the API answers 401, a WebSocket handshake is
refused (403), and a page redirects to the sign-in form. A write authenticated by the cookie
must carry the session's CSRF token, in the X-CSRF-Token header or the form's `csrf_token`.
"""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError
from starlette.datastructures import URL, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.database import Database, DatabaseUnavailable
from ..core.events import Events
from ..web.errors import problem
from .sessions import Accounts, Session, csrf_ok
from .users import User, session_user, token_user, user_of_token

CSRF_HEADER = "x-csrf-token"
# A WebSocket client offers the subprotocols ["ticket", TICKET_TEXT]: a ticket never sits in a
# URL, which servers and proxies log; the handshake's answer names "ticket".
TICKET = "ticket"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Open to anyone: probes, the API's description, static files, the account forms, and the
# pages of the links mailed to users.
PUBLIC = (
    *("/health/", "/static/", "/favicon.ico", "/docs", "/openapi.json", "/sign-in", "/sign-up"),
    *("/verify-email", "/forgot-password", "/reset-password"),
)
# The account forms check the CSRF token of their form themselves.
FORMS = ("/sign-in", "/sign-up", "/sign-out", "/account")


class Refused(AuthenticationError):
    """Credentials that were sent but do not hold; `response` says so."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def refusal(connection: HTTPConnection, error: AuthenticationError) -> Response:
    """`AuthenticationMiddleware`'s answer to a `Refused` credential."""
    if isinstance(error, Refused):
        return error.response
    return PlainTextResponse(str(error), 400)


class SessionOrToken(AuthenticationBackend):
    """Resolves the user of each HTTP request and WebSocket handshake.

    Public paths are passed through without a look at the database: a probe costs nothing.
    """

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    async def authenticate(self, connection: HTTPConnection) -> tuple[AuthCredentials, User] | None:
        session = self.accounts.session(connection)
        connection.scope["accounts"] = self.accounts
        connection.scope["csrf_token"] = None if session is None else session.csrf  # for forms
        if public(connection.url.path):
            return None
        try:
            user = await self.user(connection, session)
        except DatabaseUnavailable:
            unavailable = problem(503, "The database is unavailable; try again shortly.")
            unavailable.headers["Retry-After"] = "5"
            raise Refused(unavailable) from None
        if user is None:
            return None
        credential = "session" if user.token_id is None else "token"
        return AuthCredentials(["authenticated", credential]), user

    async def user(self, connection: HTTPConnection, session: Session | None) -> User | None:
        db: Database = connection.state.database
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            user = await user_of_token(db, token.strip())
            if user is None:
                raise Refused(unauthorized("The token is not valid, or was revoked."))
            return user
        offered = connection.scope.get("subprotocols") or []
        if connection.scope["type"] == "websocket" and offered[:1] == [TICKET] and offered[1:]:
            user = await self.ticket_user(db, offered[1])
            if user is None:
                raise Refused(unauthorized("The ticket is not valid, was used, or has expired."))
            connection.scope["subprotocol"] = TICKET  # sockets.stream accepts with it
            return user
        if session is None or session.user_id is None:
            return None
        user = await session_user(db, session.user_id, session.version)
        method = connection.scope.get("method", "GET")
        if (
            user is not None
            and method not in SAFE_METHODS
            and not connection.url.path.startswith(FORMS)
        ):
            if not csrf_ok(session, connection.headers.get(CSRF_HEADER)):
                raise Refused(problem(403, "The X-CSRF-Token header is missing or wrong."))
        return user

    async def ticket_user(self, db: Database, ticket: str) -> User | None:
        """The user a WebSocket ticket opens a socket for, while its credential still holds."""
        holder = await self.accounts.tickets.spend(db, ticket)
        if holder is None:
            return None
        if holder.token_id is None:
            return await session_user(db, holder.user_id, holder.version)
        user = await token_user(db, holder.user_id, holder.token_id)
        return None if user is None else User(user.id, user.email, holder.token_id)


class SignInRequired:
    """Refuses the anonymous everywhere but the public paths; after `AuthenticationMiddleware`.

    Every answer to a signed-in request says `Cache-Control: no-store`: pages, notes and new
    tokens are the user's own, and no cache (a shared one, or the browser's history) keeps them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["user"].is_authenticated:

            async def send_unstored(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(scope=message)
                    headers["Cache-Control"] = "no-store"
                await send(message)

            await self.app(scope, receive, send_unstored)
            return
        if scope["type"] not in {"http", "websocket"} or scope["user"].is_authenticated:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        path = connection.url.path
        if public(path):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": ""})  # 403
        elif not path.startswith("/api/"):
            sign_in = URL("/sign-in").include_query_params(next=path)
            await RedirectResponse(str(sign_in), status_code=303)(scope, receive, send)
        else:
            anonymous = unauthorized("Sign in, or send a personal access token as a Bearer token.")
            await anonymous(scope, receive, send)


# Sockets listen for these (web/scoping.py): each closes the sockets opened with that credential.


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
