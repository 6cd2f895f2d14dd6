"""The notes' WebSocket channel: every note event, pushed to the sockets that may see it."""

from starlette.routing import WebSocketRoute

from ..web.sockets import stream

routes = [WebSocketRoute("/ws/notes", stream, name="notes_socket")]
