"""`scripts/manage`: account commands for the operator, e.g. the first account.

`scripts/manage createuser EMAIL` asks for the password (or reads $PASSWORD, or a line of
standard input when there is no terminal);
`scripts/manage deactivate EMAIL` stops the account: no more sign-ins, its tokens stop working.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from ..core.database import Database, DatabaseUnavailable
from ..core.settings import SettingsError, load
from . import passwords, users
from .settings import load_auth


async def create_user(url: str, email: str, password: str) -> str:
    db = Database(url, min_size=1, max_size=1)
    try:
        password_hash = await passwords.Passwords(load_auth()).hash(password)
        await users.create_user(db, email, password_hash)
    except users.EmailTaken:
        return f"An account for {users.normal_email(email)} exists already."
    finally:
        await db.disconnect()
    return ""


async def deactivate(url: str, email: str) -> str:
    db = Database(url, min_size=1, max_size=1)
    try:
        if not await users.set_active(db, email, active=False):
            return f"There is no account for {users.normal_email(email)}."
    finally:
        await db.disconnect()
    return ""


def read_password() -> str:
    given = os.environ.get("PASSWORD")
    if given is not None:
        return given
    if not sys.stdin.isatty():  # piped in, as from a script: one line, without its newline
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ValueError(
                "there is no terminal to ask for the password: set PASSWORD, or send it on "
                "standard input"
            )
        return line
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/manage")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("createuser", help="create an account").add_argument("email")
    commands.add_parser("deactivate", help="stop an account").add_argument("email")
    options = parser.parse_args(arguments)
    try:
        url = load().database_url
        if options.command == "createuser":
            if not users.EMAIL.fullmatch(options.email.strip()):
                raise ValueError(f"{options.email!r} is not an email address")
            password = read_password()
            # The sign-up page's rules: length, and none of the most common passwords.
            refused = passwords.problem(password)
            if refused:
                raise ValueError(refused[0].lower() + refused[1:].rstrip("."))
            problem = asyncio.run(create_user(url, options.email, password))
        else:
            problem = asyncio.run(deactivate(url, options.email))
    except (SettingsError, DatabaseUnavailable, ValueError) as exc:
        print(f"Cannot {options.command}: {exc}.", file=sys.stderr)
        return 1
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"Done: {options.command} {users.normal_email(options.email)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
