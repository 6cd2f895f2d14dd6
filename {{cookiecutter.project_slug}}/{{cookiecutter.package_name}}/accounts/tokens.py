"""Personal access tokens over the API: list, create (the token is shown once), revoke; and
single-use tickets that open the WebSocket (offered as its subprotocols `ticket`, TICKET)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..web.routing import ApiRoute, Operation, parse
from ..web.schemas import SOME_TEXT, Input, UTCDateTime
from . import tickets, users
from .auth import token_revoked
from .sessions import Accounts


class TokenIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=SOME_TEXT)]


class Token(BaseModel):
    id: int
    name: str
    created_at: UTCDateTime
    last_used_at: UTCDateTime | None = Field(
        description="When a request last came with it, to the minute; null: never."
    )


class NewToken(Token):
    token: str = Field(description="Send it as `Authorization: Bearer <token>`; shown only now.")


class TokenList(BaseModel):
    items: list[Token]


class SocketToken(BaseModel):
    token: str = Field(
        description=(
            "Open the WebSocket once, before it expires, offering the subprotocols "
            '`["ticket", "<token>"]`; signing out or revoking the token that made it voids it.'
        )
    )
    expires_in: int = Field(description="Seconds it stays valid.")


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(model.model_dump_json(), status_code, headers, "application/json")


async def list_tokens(request: Request) -> Response:
    rows = await users.tokens_of(request.state.database, request.user.id)
    return json_response(TokenList(items=[Token.model_validate(row) for row in rows]))


async def create_token(request: Request) -> Response:
    data = parse(TokenIn, "body", await request.body())
    db, user_id = request.state.database, request.user.id
    token_id, token = await users.create_token(db, user_id, data.name.strip())
    created = next(row for row in await users.tokens_of(db, user_id) if row["id"] == token_id)
    location = str(request.url_for("token", id=token_id))
    return json_response(NewToken(**created, token=token), 201, {"Location": location})


async def revoke_token(request: Request) -> Response:
    user_id, token_id = request.user.id, request.path_params["id"]
    if not await users.revoke_token(request.state.database, user_id, token_id):
        raise HTTPException(404, f"There is no token with id {token_id}.")
    await token_revoked(request.state.events, user_id, token_id)
    return Response(status_code=204)


async def create_socket_token(request: Request) -> Response:
    accounts: Accounts = request.scope["accounts"]
    session = accounts.session(request)
    ticket = accounts.tickets.mint(request.user, 0 if session is None else session.version)
    return json_response(SocketToken(token=ticket, expires_in=tickets.SECONDS), 201)


routes = [
    ApiRoute(
        "/api/tokens",
        name="tokens",
        tag="tokens",
        operations={
            "GET": Operation(list_tokens, "List your personal access tokens", {200: TokenList}),
            "POST": Operation(
                create_token,
                "Create a personal access token",
                {201: NewToken},
                body=TokenIn,
                example={"name": "My laptop"},
            ),
        },
    ),
    ApiRoute(
        "/api/tokens/{id:id}",
        name="token",
        tag="tokens",
        operations={"DELETE": Operation(revoke_token, "Revoke a token", {204: None})},
    ),
    ApiRoute(
        "/api/socket-tokens",
        name="socket_tokens",
        tag="tokens",
        operations={
            "POST": Operation(
                create_socket_token, "Get a token that opens the WebSocket", {201: SocketToken}
            )
        },
    ),
]
