"""Exports of the caller's notes: the example job to copy.

POST /api/exports enqueues `export_notes` and answers 202 at once; the job reads the notes a
page at a time, reporting its progress (the caller's sockets hear `job.progress`, then
`job.done`), and returns the file's content, which the queue keeps for EXPORT_KEEP_HOURS.
GET /api/exports/{id} says where it is; GET /api/exports/{id}/file downloads it.

Run twice (a retry, a worker killed mid-job), the job gives the same file: it writes nothing,
and its result is stored under the export's own key.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.jobs import CALLER, Context, Job, Queue
from ..web import scoping
from ..web.responses import JSONResponse
from ..web.routing import ApiRoute, Operation
from ..web.schemas import Problem
from .api import json_ready
from .queries import count_notes, list_after
from .schemas import Export, ExportFile

PAGE = 200  # notes read at a time, with a progress report after each page
MOST = 10_000  # notes an export holds at most; the file says when there were more
KEEP_SECONDS = 24 * 3600  # how long the file stays downloadable


async def export_notes(context: Context, *, caller: dict[str, Any]) -> dict[str, Any]:
    """The job: every note of `caller`, oldest first, as the API shows them."""
    total = min(await count_notes(context.database, caller), MOST)
    exported: list[dict[str, Any]] = []
    after = 0
    while len(exported) < MOST:
        page = await list_after(context.database, after, min(PAGE, MOST - len(exported)), caller)
        exported.extend(json_ready(note) for note in page)
        await context.progress(len(exported) / total if total else 1.0)
        if len(page) < PAGE:
            break
        after = page[-1]["id"]
    more = len(exported) >= MOST and await count_notes(context.database, caller) > MOST
    exported_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"exported_at": exported_at, "truncated": more, "notes": exported}


async def start_export(request: Request) -> Response:
    key = secrets.token_urlsafe(16)
    caller = scoping.of(request)
    jobs: Queue = request.state.jobs
    await jobs.enqueue(export_notes, key, keep_seconds=KEEP_SECONDS, caller=caller)
    location = str(request.url_for("export", id=key))
    body = {"id": key, "status": "queued", "progress": 0.0, "file": None}
    return JSONResponse(body, status_code=202, headers={"Location": location})


async def read_export(request: Request) -> Response:
    job = await found(request)
    return JSONResponse(shown(request, job))


async def download_export(request: Request) -> Response:
    job = await found(request)
    if job.status != "complete":
        raise HTTPException(409, f"The export is {job.status}, not ready to download.")
    name = f"notes-{job.key}.json"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return JSONResponse(job.result, headers=headers)


async def found(request: Request) -> Job:
    """The export of the path's id, if it is the caller's; else 404, as for a missing one."""
    key = request.path_params["id"]
    jobs: Queue = request.state.jobs
    job = None if len(key) > 64 else await jobs.job(key)
    if (
        job is None
        or job.function != export_notes.__qualname__
        or job.arguments.get(CALLER) != scoping.of(request)
    ):
        raise HTTPException(404, f"There is no export with id {key}.")
    return job


def shown(request: Request, job: Job) -> dict[str, Any]:
    done = job.status == "complete"
    file = str(request.url_for("export_file", id=job.key)) if done else None
    return {"id": job.key, "status": job.status, "progress": job.progress, "file": file}


jobs = [export_notes]
routes = [
    ApiRoute(
        "/api/exports",
        name="exports",
        tag="notes",
        operations={
            "POST": Operation(
                start_export, "Export your notes to a file", {202: Export, 503: Problem}
            ),
        },
    ),
    ApiRoute(
        "/api/exports/{id:str}",
        name="export",
        tag="notes",
        operations={"GET": Operation(read_export, "Where an export is", {200: Export})},
    ),
    ApiRoute(
        "/api/exports/{id:str}/file",
        name="export_file",
        tag="notes",
        operations={
            "GET": Operation(
                download_export, "Download an export", {200: ExportFile, 409: Problem}
            ),
        },
    ),
]
