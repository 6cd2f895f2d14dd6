"""The pages behind the links mailed to users: confirming an address (sent at sign-up, and
again from the account page) and resetting a forgotten password.

A reset is asked for by address; the answer is the same whether the address has an account
or not, and so is the work done for it, and only an account's address gets mail.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import links, passwords, users
from .auth import signed_out
from .mail import mail_password_changed, mail_verification, send_later
from .pages import accounts_of, busy, form, page

ASKED = "If that address has an account, a link to reset its password is on its way."
BROKEN = "That link does not work: it was used already, or it has expired. Ask for a new one."


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def verify_email(request: Request) -> Response:
    db = request.state.database
    user_id = await links.spend(db, links.VERIFY, request.query_params.get("token", ""))
    if user_id is None:
        return page(request, "verified.html", 400, error=BROKEN)
    await links.verify(db, user_id)
    return page(request, "verified.html")


async def verify_again(request: Request) -> Response:
    await form(request)
    response = RedirectResponse(request.url_for("account").path + "?sent=1", status_code=303)
    user = await users.find_by_id(request.state.database, request.user.id)
    if user is not None and user["email_verified_at"] is None:
        await mail_verification(request, response, user["id"], user["email"])
    return response


async def forgot_form(request: Request) -> Response:
    return page(request, "forgot.html")


async def forgot(request: Request) -> Response:
    fields = await form(request)
    email = users.normal_email(fields.get("email", ""))
    accounts = accounts_of(request)
    wait = await accounts.mailer.wait(client_of(request))
    if wait:
        error = f"Too many requests for mail; try again in {wait} s."
        response = page(request, "forgot.html", 429, error=error, email=email)
        response.headers["Retry-After"] = str(wait)
        return response
    # The token is made and the address looked up and counted either way.
    token, token_digest = links.new_token()
    db = request.state.database
    user = await users.find_by_email(db, email) if users.EMAIL.fullmatch(email) else None
    allowed = await accounts.mailer.allowed(email)
    response = page(request, "forgot.html", notice=ASKED)
    if user is not None and user["active"] and allowed:
        minutes = accounts.settings.reset_link_minutes
        await links.store(db, user["id"], links.RESET, token_digest, timedelta(minutes=minutes))
        link = request.url_for("reset_form").include_query_params(token=token)
        message = accounts.mailer.message("reset", user["email"], link=str(link), minutes=minutes)
        send_later(request, response, message)
    return response


async def reset_form(request: Request) -> Response:
    token = request.query_params.get("token", "")
    if await links.holder(request.state.database, links.RESET, token) is None:
        return page(request, "reset.html", 400, error=BROKEN, broken=True)
    return page(request, "reset.html", token=token)


async def reset(request: Request) -> Response:
    fields = await form(request)
    token, new = fields.get("token", ""), fields.get("new_password", "")
    db = request.state.database
    problem = passwords.problem(new)
    if problem:
        return page(request, "reset.html", 400, error=problem, token=token)
    try:
        new_hash = await accounts_of(request).passwords.hash(new)
    except passwords.Busy:
        return busy(request, "reset.html", token=token)
    user_id = await links.spend(db, links.RESET, token)
    user = None if user_id is None else await users.find_by_id(db, user_id)
    if user is None:
        return page(request, "reset.html", 400, error=BROKEN, broken=True)
    await users.change_password(db, user["id"], new_hash)  # every session ends
    await links.verify(db, user["id"])  # the link reached the address: it is the owner's
    await signed_out(request.state.events, user["id"])
    target = request.url_for("sign_in_form").include_query_params(reset="1")
    response = RedirectResponse(target.path + "?" + target.query, status_code=303)
    mail_password_changed(request, response, user["email"])
    return response


routes = [
    Route("/verify-email", verify_email, methods=["GET"], name="verify_email"),
    Route("/account/verify-email", verify_again, methods=["POST"], name="verify_again"),
    Route("/forgot-password", forgot_form, methods=["GET"], name="forgot_form"),
    Route("/forgot-password", forgot, methods=["POST"], name="forgot"),
    Route("/reset-password", reset_form, methods=["GET"], name="reset_form"),
    Route("/reset-password", reset, methods=["POST"], name="reset"),
]
