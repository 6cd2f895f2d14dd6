"""`scripts/manage`: account commands for the operator, e.g. the first account.

`scripts/manage createuser EMAIL` asks for the password (or reads $PASSWORD);
`scripts/manage deactivate EMAIL` stops the account: no more sign-ins, its tokens stop working.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from . import passwords, users
from .database import Database, DatabaseUnavailable
from .settings import SettingsError, load


async def create_user(url: str, email: str, password: str) -> str:
    db = Database(url, min_size=1, max_size=1)
    try:
        await users.create_user(db, email, await passwords.hash_password(password))
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
            if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
                raise ValueError(
                    f"the password must have {passwords.MIN_LENGTH} to "
                    f"{passwords.MAX_LENGTH} characters"
                )
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
