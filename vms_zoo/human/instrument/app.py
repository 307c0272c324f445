"""The experiment's ASGI app (Starlette): the page, the images, the participants' API and the admin API.

Participants' API (JSON; docs/experiment.md has the full reference):

- ``GET  api/participant/{id}``: "new", "started" (with the next trial) or "finished"; changes nothing.
- ``POST api/start`` ``{"participant", "token"?}``: assigns a sequence on first call and returns the browser's
  token, the trials' image URLs, the next unanswered trial and the timings.
- ``POST api/trial`` ``{"participant", "token", "position", "response", "rt_ms", "boxes"}``: one answered
  trial, acknowledged (200) only after it is committed; the same answer again is a 200 duplicate.
- ``GET  img/{sequence}/{position}``: the image of a trial. URLs name no file, so they can't leave the image
  folder and don't give away which images repeat or which are the high / low ones.

Admin API (``Authorization: Bearer <token printed at start>``): ``GET api/admin/status`` and
``GET api/admin/export/{trials|annotations|participants}.csv``.

Every refused request gets a 4xx with ``{"error": "..."}`` and changes nothing.
"""

import csv
import hmac
import io
import json
import math
import os

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vms_zoo.human.instrument.store import Refused, export_tables

MAX_BODY = 16 * 1024  # bytes; a trial with the most boxes is under 2 KiB
MAX_RT_MS = 24 * 3600 * 1000
TRIAL_KEYS = {"participant", "token", "position", "response", "rt_ms", "boxes"}


def image_paths(streams, images_dir):
    """{image id: absolute path} for every image of the stream, refusing any that is missing or resolves
    outside `images_dir` (an id like ../x, an absolute path, or a link out of the folder)."""
    root = os.path.realpath(images_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--images {images_dir} is not a folder")
    paths, bad = {}, []
    for image in sorted({str(it["image"]) for seq in streams for it in seq}):
        path = os.path.realpath(os.path.join(root, image))
        if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
            bad.append(image)
        paths[image] = path
    if bad:
        raise FileNotFoundError(f"{len(bad)} stream images are not files inside {images_dir}: {bad[:5]}")
    return paths


def create_app(store, streams, images_dir, web_dir, settings, admin_token):
    """The app for one study. `settings`: display_ms, blank_ms, min_boxes, max_boxes, completion_code (or
    None: one per participant), completion_url (or None; "{code}" in it becomes the participant's code)."""
    paths = image_paths(streams, images_dir)
    trial_images = [[paths[str(it["image"])] for it in seq] for seq in streams]
    timings = {k: settings[k] for k in ("display_ms", "blank_ms", "min_boxes", "max_boxes")}

    def with_urls(out):
        s = out["sequence"]
        out.update(timings, images=[f"img/{s}/{p}" for p in range(len(streams[s]))])
        if out.get("finished"):
            out["completion_url"] = completion_url(out["completion_code"])
        return out

    def completion_url(code):
        url = settings.get("completion_url")
        return url.replace("{code}", code) if url else None

    async def participant_state(request):
        return JSONResponse(await run_in_threadpool(store.state, request.path_params["participant"]))

    async def start(request):
        body = await _read_json(request, {"participant", "token"})
        out = await run_in_threadpool(store.start, body.get("participant"), body.get("token"),
                                      settings.get("completion_code"))
        return JSONResponse(with_urls(out))

    async def trial(request):
        args = _trial_args(await _read_json(request, TRIAL_KEYS), settings["min_boxes"], settings["max_boxes"])
        out = await run_in_threadpool(store.record, *args)
        if out["finished"]:
            out["completion_url"] = completion_url(out["completion_code"])
        return JSONResponse(out)

    async def image(request):
        s, p = request.path_params["sequence"], request.path_params["position"]
        if not (0 <= s < len(trial_images) and 0 <= p < len(trial_images[s])):
            return _error(404, f"no trial {s}/{p}")
        return FileResponse(trial_images[s][p], headers={"Cache-Control": "private, max-age=3600"})

    def admin(handler):
        async def guarded(request):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {admin_token}".encode()):
                return _error(401, "admin API: send the header 'Authorization: Bearer <admin token printed at start>'")
            return await handler(request)
        return guarded

    async def admin_status(request):
        return JSONResponse(await run_in_threadpool(store.status))

    async def admin_export(request):
        name = request.path_params["table"]
        if name not in ("trials", "annotations", "participants"):
            return _error(404, "tables: trials, annotations, participants")

        def read():
            with store.lock:
                return export_tables(store.conn)[name]
        table = await run_in_threadpool(read)
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(list(table))
        writer.writerows(zip(*table.values()))
        return Response(text.getvalue(), media_type="text/csv; charset=utf-8")

    async def refused(request, exc):
        return _error(exc.status, str(exc)) if isinstance(exc, Refused) else _error(exc.status_code, exc.detail)

    routes = [
        Route("/api/participant/{participant}", participant_state),
        Route("/api/start", start, methods=["POST"]),
        Route("/api/trial", trial, methods=["POST"]),
        Route("/img/{sequence:int}/{position:int}", image),
        Route("/api/admin/status", admin(admin_status)),
        Route("/api/admin/export/{table}.csv", admin(admin_export)),
        Mount("/", StaticFiles(directory=web_dir, html=True)),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: refused, Refused: refused})
    return SecurityHeaders(app)


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


async def _read_json(request, allowed):
    """The request's JSON object, refusing (413) a body over MAX_BODY bytes before reading it all, and (400)
    anything but an object with only `allowed` keys."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise HTTPException(413, f"request body over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HTTPException(400, f"unknown fields {unknown}; expected {sorted(allowed)}")
    return body


def _no_constant(name):
    raise ValueError(f"{name} is not allowed")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _trial_args(body, min_boxes, max_boxes):
    """(participant, token, position, response, rt_ms, boxes) from a trial body, or a 400/422 naming the
    field."""
    missing = sorted({"participant", "token", "position", "response"} - set(body))
    if missing:
        raise HTTPException(400, f"missing fields {missing}")
    position, response = body["position"], body["response"]
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise HTTPException(422, f"position must be a whole number >= 0, got {position!r}")
    if response not in (0, 1) or isinstance(response, bool):
        raise HTTPException(422, f"response must be 0 or 1, got {response!r}")
    rt = body.get("rt_ms")
    if rt is not None and not (_number(rt) and 0 <= rt <= MAX_RT_MS):
        raise HTTPException(422, f"rt_ms must be null or a number of milliseconds in [0, {MAX_RT_MS}]")
    boxes = body.get("boxes", [])
    if not isinstance(boxes, list):
        raise HTTPException(422, "boxes must be a list of [x0, y0, x1, y1]")
    if response == 0 and boxes:
        raise HTTPException(422, "boxes come only with a 'seen' response (response 1)")
    if response == 1 and not min_boxes <= len(boxes) <= max_boxes:
        raise HTTPException(422, f"a 'seen' response takes {min_boxes} to {max_boxes} boxes, got {len(boxes)}")
    for k, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            raise HTTPException(422, f"box {k} must be [x0, y0, x1, y1], four finite numbers")
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise HTTPException(422, f"box {k} {box} must lie in [0, 1] of the image's width and height with "
                                     "x0 < x1 and y0 < y1")
    return (body["participant"], body["token"], position, response, rt,
            [tuple(float(v) for v in b) for b in boxes])


class SecurityHeaders:
    """Headers on every response: no caching of the API, no sniffing, no framing, scripts and images from this
    server only, and no Referer, so a participant id in the page's URL never leaks to another site."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"no-referrer"),
               # jsPsych writes style attributes into its HTML, hence 'unsafe-inline' for styles only
               (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                            b"frame-ancestors 'none'")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + self.HEADERS
                           + ([(b"cache-control", b"no-store")] if api else [])}
            await send(message)
        await self.app(scope, receive, send_with_headers)
