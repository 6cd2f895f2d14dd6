"""The notes feature, the example to copy: a JSON resource, an HTML page and a live channel.

table.py declares the table, schemas.py the API's shapes, queries.py the statements, api.py
the endpoints, page.py the page, live.py the WebSocket channel and export.py a job that
exports them to a file.
"""

from . import api, export, live, page

routes = [*page.routes, *api.routes, *export.routes, *live.routes]
jobs = [*export.jobs]
