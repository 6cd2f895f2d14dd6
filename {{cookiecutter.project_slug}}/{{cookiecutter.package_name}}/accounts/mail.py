"""Mail to users: messages made from templates/emails/NAME.txt and NAME.html, and sent over SMTP
by a job (`send_mail`, enqueued once the response has gone): in the web process with
JOBS_URL=memory://, best effort; by the worker with a queue, retried on failure.

`send_later` is the one way mail leaves. Jinja and aiosmtplib are imported with the first
message, as pages import Jinja (web/templates.py).
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.background import BackgroundTask, BackgroundTasks
from starlette.requests import Request
from starlette.responses import Response

from ..core.jobs import Context, JobFailed, Queue
from . import links
from .settings import SMTP_SCHEMES, AuthSettings, load_auth

if TYPE_CHECKING:
    from jinja2 import Environment

    from .sessions import Accounts

logger = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates" / "emails"
SUBJECTS = {
    "verify": "Confirm your email address",
    "reset": "Reset your password",
    "password_changed": "Your password was changed",
}


@cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class Mailer:
    """Makes and sends the messages, and limits how many go to one address or for one client."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.per_account = limits.parse(settings.mail_rate_per_account)
        self.per_address = limits.parse(settings.mail_rate_per_address)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def wait(self, client: str) -> int:
        """Seconds until this client may ask for mail again; 0 counts this request."""
        if not await self.limiter.hit(self.per_address, "mail", client):
            stats = await self.limiter.get_window_stats(self.per_address, "mail", client)
            return max(1, math.ceil(stats.reset_time - time.time()))
        return 0

    async def allowed(self, email: str) -> bool:
        """Whether another message may go to this address now (counting it); a silent no, so
        the answer is the same whether or not the address has an account."""
        return await self.limiter.hit(self.per_account, "mail", email)

    def message(self, name: str, to: str, **context: Any) -> EmailMessage:
        env = environment()
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = (
            SUBJECTS[name],
            self.settings.mail_from,
            to,
        )
        message.set_content(env.get_template(f"{name}.txt").render(context))
        message.add_alternative(env.get_template(f"{name}.html").render(context), subtype="html")
        return message

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message`, or log why not and raise `MailNotSent` (a job retries it)."""
        import aiosmtplib

        url = urlsplit(self.settings.smtp_url.get_secret_value())
        try:
            await aiosmtplib.send(
                message,
                hostname=url.hostname,
                port=url.port or SMTP_SCHEMES[url.scheme],
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                use_tls=url.scheme == "smtps",
                start_tls=url.scheme == "smtp+starttls",
                timeout=self.settings.smtp_timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            logger.warning("mail not sent: %s (%s)", message["Subject"], exc)
            raise MailNotSent(str(exc)) from exc
        logger.info("mail sent: %s", message["Subject"])


class MailNotSent(JobFailed):
    """The mail server refused the message or could not be reached."""


async def send_mail(context: Context, *, message: str) -> None:
    """The job: deliver one message (its text, as `send_later` enqueued it)."""
    parsed = message_from_string(message, policy=policy.SMTP)
    assert isinstance(parsed, EmailMessage)  # noqa: S101 - what policy.SMTP parses to
    await Mailer(load_auth()).send(parsed)


def send_later(request: Request, response: Response, message: EmailMessage) -> None:
    """Enqueue `message` once `response` has gone (so the answer takes no longer for it)."""
    jobs: Queue = request.state.jobs
    text = message.as_string(policy=policy.SMTP)
    # Forgotten once sent: a reset link is a password until it is used.
    task = BackgroundTask(jobs.enqueue, send_mail, keep_seconds=0, message=text)
    if response.background is None:
        response.background = task
    else:
        tasks = BackgroundTasks([response.background, task])
        response.background = tasks


async def mail_verification(request: Request, response: Response, user_id: int, email: str) -> None:
    """Store a new verification link for the user and mail it once `response` has gone."""
    accounts: Accounts = request.scope["accounts"]
    if not await accounts.mailer.allowed(email):
        return
    token, token_digest = links.new_token()
    life = timedelta(hours=accounts.settings.verify_link_hours)
    await links.store(request.state.database, user_id, links.VERIFY, token_digest, life)
    link = request.url_for("verify_email").include_query_params(token=token)
    hours = accounts.settings.verify_link_hours
    message = accounts.mailer.message("verify", email, link=str(link), hours=hours)
    send_later(request, response, message)


def mail_password_changed(request: Request, response: Response, email: str) -> None:
    accounts: Accounts = request.scope["accounts"]
    link = request.url_for("forgot_form")
    message = accounts.mailer.message("password_changed", email, link=str(link))
    send_later(request, response, message)


jobs = [send_mail]
