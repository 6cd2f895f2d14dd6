"""The account pages: sign up, sign in, sign out, change the password, and the user's personal
access tokens.

Plain HTML forms. Each form carries the session's CSRF token, checked before anything else;
a visitor without a session gets one (with no user) when a form is shown.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..core.database import Database
from ..web.about import TITLE
from ..web.templates import render
from . import metrics, passwords, users
from .auth import signed_out, token_revoked
from .mail import mail_verification
from .sessions import Accounts, Session, csrf_ok

WRONG = "Wrong email or password."  # the same answer for an unknown email
# The same answer whether the address had an account or not, so sign-up tells nobody which
# addresses have one; an existing account is left exactly as it was.
JOINED = (
    "If that address had no account, it has one now: sign in with it, and follow the link "
    "mailed to it to confirm the address."
)
RESET = "Your password is changed and every session has ended: sign in with the new one."
BUSY_SECONDS = 1


def busy(request: Request, template: str, **context: Any) -> Response:
    """503 with Retry-After: as many passwords as allowed are being hashed right now."""
    error = "The server is busy checking passwords; try again in a moment."
    response = page(request, template, 503, error=error, **context)
    response.headers["Retry-After"] = str(BUSY_SECONDS)
    return response


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.scope["accounts"]
    return accounts


async def form(request: Request) -> dict[str, str]:
    """The posted form's fields, after its CSRF token is checked against the session's."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise HTTPException(415, "Send the form as application/x-www-form-urlencoded.")
    try:
        fields = dict(parse_qsl((await request.body()).decode(), max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "The form is not valid.") from None
    if not csrf_ok(accounts_of(request).session(request), fields.get("csrf_token")):
        raise HTTPException(403, "The form is out of date; reload the page and try again.")
    return fields


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """An account page; a visitor without a session gets one, for the form's CSRF token."""
    accounts = accounts_of(request)
    session = accounts.session(request)
    fresh = session is None
    session = Session.new() if session is None else session
    values = {"project_name": TITLE, "csrf_token": session.csrf, **context}
    response = render(request, template, values, status)
    if fresh:
        accounts.set_session(response, request, session)
    return response


def signed_in(request: Request, user_id: int, version: int = 0) -> Response:
    """Redirect to where the visitor was going, with a new session (and a new CSRF token)."""
    target = request.query_params.get("next", "")
    # Only a path on this site: "//host" or "/\\host" would lead elsewhere.
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = str(request.url_for("home").path)
    response = RedirectResponse(target, status_code=303)
    accounts_of(request).set_session(response, request, Session.new(user_id, version))
    return response


async def sign_up_form(request: Request) -> Response:
    return page(request, "sign_up.html")


async def sign_up(request: Request) -> Response:
    fields = await form(request)
    email, password = fields.get("email", "").strip(), fields.get("password", "")
    problem = passwords.problem(password)
    if not users.EMAIL.fullmatch(email) or len(email) > 254:
        problem = "Enter an email address, like you@example.com."
    if problem:
        return page(request, "sign_up.html", 400, error=problem, email=email)
    db: Database = request.state.database
    try:
        # Hashed whether or not the address is taken, so both answers take as long.
        password_hash = await accounts_of(request).passwords.hash(password)
    except passwords.Busy:
        return busy(request, "sign_up.html", email=email)
    target = request.url_for("sign_in_form").include_query_params(joined="1")
    response = RedirectResponse(target.path + "?" + target.query, status_code=303)
    # A new account is mailed its verification link after the response; a taken address gets
    # nothing, and the same answer.
    with contextlib.suppress(users.EmailTaken):
        user_id = await users.create_user(db, email, password_hash)
        await mail_verification(request, response, user_id, users.normal_email(email))
    return response


async def sign_in_form(request: Request) -> Response:
    notice = JOINED if request.query_params.get("joined") else ""
    if request.query_params.get("reset"):
        notice = RESET
    return page(request, "sign_in.html", notice=notice)


async def sign_in(request: Request) -> Response:
    fields = await form(request)
    email, password = users.normal_email(fields.get("email", "")), fields.get("password", "")
    address = request.client.host if request.client else "unknown"
    metrics.SIGN_IN_ATTEMPTS.inc()
    wait = await accounts_of(request).login_limit.wait(email, address)
    if wait:
        metrics.SIGN_IN_RATE_LIMITED.inc()
        error = f"Too many attempts to sign in; try again in {wait} s."
        response = page(request, "sign_in.html", 429, error=error, email=email)
        response.headers["Retry-After"] = str(wait)
        return response
    db: Database = request.state.database
    user = await users.find_by_email(db, email) if len(password) <= passwords.MAX_LENGTH else None
    try:
        valid, new_hash = await accounts_of(request).passwords.verify(
            password, user["password_hash"] if user else None
        )
    except passwords.Busy:
        return busy(request, "sign_in.html", email=email)
    if user is None or not valid or not user["active"]:
        metrics.SIGN_IN_FAILURES.inc()
        return page(request, "sign_in.html", 400, error=WRONG, email=email)
    await users.record_sign_in(db, user["id"], new_hash)
    return signed_in(request, user["id"], user["session_version"])


async def sign_out(request: Request) -> Response:
    await form(request)
    user = request.user
    response = RedirectResponse(request.url_for("sign_in_form").path, status_code=303)
    accounts_of(request).end_session(response, request)
    if user.is_authenticated:  # every session of the user ends: the cookie, and any copy of it
        await users.end_sessions(request.state.database, user.id)
        await signed_out(request.state.events, user.id)
    return response


async def account(request: Request) -> Response:
    db = request.state.database
    tokens = await users.tokens_of(db, request.user.id)
    return page(
        request, "account.html", tokens=tokens, user=await users.find_by_id(db, request.user.id)
    )


async def create_token(request: Request) -> Response:
    """Make a token, and redirect to the page that shows it, so that reloading that page makes
    no other. Only its hash is kept: the token itself goes there in the signed session cookie
    (HttpOnly; never in a URL, which histories, logs and Referer headers keep)."""
    fields = await form(request)
    accounts = accounts_of(request)
    session = accounts.session(request)
    if session is None:  # form() has checked the session's CSRF token: it has one
        raise HTTPException(403, "The form is out of date; reload the page and try again.")
    name = fields.get("name", "").strip()[:100] or "Token"
    _, token = await users.create_token(request.state.database, request.user.id, name)
    response = RedirectResponse(request.url_for("new_token").path, status_code=303)
    accounts.set_session(response, request, replace(session, new_token=token))
    return response


async def new_token(request: Request) -> Response:
    """The account page with the token just made, once: the session cookie drops it here."""
    accounts = accounts_of(request)
    session = accounts.session(request)
    if session is None or session.new_token is None or session.user_id != request.user.id:
        return RedirectResponse(request.url_for("account").path, status_code=303)
    db = request.state.database
    tokens, user = (
        await users.tokens_of(db, request.user.id),
        await users.find_by_id(db, request.user.id),
    )
    response = page(request, "account.html", tokens=tokens, user=user, new_token=session.new_token)
    accounts.set_session(response, request, replace(session, new_token=None))
    return response


async def revoke_token(request: Request) -> Response:
    await form(request)
    user_id, token_id = request.user.id, request.path_params["id"]
    if await users.revoke_token(request.state.database, user_id, token_id):
        await token_revoked(request.state.events, user_id, token_id)
    return RedirectResponse(request.url_for("account").path, status_code=303)


routes = [
    Route("/sign-up", sign_up_form, methods=["GET"], name="sign_up_form"),
    Route("/sign-up", sign_up, methods=["POST"], name="sign_up"),
    Route("/sign-in", sign_in_form, methods=["GET"], name="sign_in_form"),
    Route("/sign-in", sign_in, methods=["POST"], name="sign_in"),
    Route("/sign-out", sign_out, methods=["POST"], name="sign_out"),
    Route("/account", account, methods=["GET"], name="account"),
    Route("/account/tokens", create_token, methods=["POST"], name="create_token"),
    Route("/account/new-token", new_token, methods=["GET"], name="new_token"),
    Route("/account/tokens/{id:id}/revoke", revoke_token, methods=["POST"], name="revoke_token"),
]
