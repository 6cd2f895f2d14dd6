"""The notes feature, the example to copy: a JSON resource, an HTML page and a live channel.

table.py declares the table, schemas.py the API's shapes, queries.py the statements, api.py
the endpoints, page.py the page and live.py the WebSocket channel.
"""

from . import api, live, page

routes = [*page.routes, *api.routes, *live.routes]
