"""The password change page: the current password first, then the new one, which ends every
other session of the account (the one that changed it stays signed in); the address is told
by mail."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import passwords, users
from .auth import signed_out
from .mail import mail_password_changed
from .pages import accounts_of, busy, form, page
from .sessions import Session

TEMPLATE = "password.html"
WRONG_CURRENT = "The current password is wrong."


async def password_form(request: Request) -> Response:
    return page(request, TEMPLATE)


async def change_password(request: Request) -> Response:
    fields = await form(request)
    current, new = fields.get("current_password", ""), fields.get("new_password", "")
    db, hashing = request.state.database, accounts_of(request).passwords
    user = await users.find_by_id(db, request.user.id)
    stored = None if user is None or len(current) > passwords.MAX_LENGTH else user["password_hash"]
    try:
        valid, _ = await hashing.verify(current, stored)
        problem = WRONG_CURRENT if not valid else passwords.problem(new)
        if problem:
            return page(request, TEMPLATE, 400, error=problem)
        new_hash = await hashing.hash(new)
    except passwords.Busy:
        return busy(request, TEMPLATE)
    version = await users.change_password(db, request.user.id, new_hash)
    await signed_out(request.state.events, request.user.id)  # other sessions' sockets close
    response = RedirectResponse(request.url_for("account").path + "?changed=1", status_code=303)
    # A new session of the new version, with a new CSRF token: every other one has ended.
    accounts_of(request).set_session(response, request, Session.new(request.user.id, version))
    mail_password_changed(request, response, request.user.email)
    return response


routes = [
    Route("/account/password", password_form, methods=["GET"], name="password_form"),
    Route("/account/password", change_password, methods=["POST"], name="change_password"),
]
