"""A real SMTP server for the tests (aiosmtpd, on a free local port, in a thread of its own):
the app sends to it over TCP as to any mail server, and tests read what it received."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://\S+")


@dataclass
class Mailbox:
    """Every message the server received, in order."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    def link(self, address: str) -> str:
        """The path and query of the link in the last message to `address`, from its text."""
        body = self.to(address)[-1].get_body(("plain",))
        assert body is not None
        found = LINK.search(body.get_content())
        assert found is not None, "the message has no link"
        return "/" + found.group(0).split("/", 3)[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(mailbox: Mailbox) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port
