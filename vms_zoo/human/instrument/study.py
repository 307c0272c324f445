"""What `vms-zoo experiment serve | export | report | status` runs: one function per subcommand."""

import json
import os
import secrets
from pathlib import Path

import numpy as np

from vms_zoo.human.instrument.store import Store, connect, export_tables, read_settings, read_streams, status
from vms_zoo.human.streams import load_streams, save_streams, stream_pairs

WEB_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"
BUILD = "cd web && npm ci && npm run build"
EXPORTS = ("trials.csv", "annotations.csv", "participants.csv", "streams.csv")


def stream_settings(streams_path, display_s=None, blank_s=0.0, min_boxes=1, max_boxes=10, min_gap=None):
    """The stream (validated with `min_gap`: the JSON file's own, else the paper's 30) and the timings a study
    runs with: `display_s` defaults to the stream file's own display_s (a JSON from `save_streams`), else
    the paper's 3 s."""
    streams = load_streams(streams_path, min_gap)
    own = {}
    if str(streams_path).endswith(".json"):
        with open(streams_path, encoding="utf-8-sig") as f:
            own = json.load(f)
    display_s = float(own.get("display_s", 3.0)) if display_s is None else display_s
    min_gap = int(own.get("min_gap", 30)) if min_gap is None else min_gap
    if not (0 < display_s <= 60 and 0 <= blank_s <= 10):
        raise ValueError(f"--display-s must be in (0, 60] and --blank-s in [0, 10]; got {display_s}, {blank_s}")
    if not 1 <= max_boxes <= 20 or not 0 <= min_boxes <= max_boxes:
        raise ValueError(f"need 0 <= --min-boxes <= --max-boxes <= 20; got {min_boxes}, {max_boxes}")
    return streams, {"display_ms": round(display_s * 1000), "blank_ms": round(blank_s * 1000),
                     "min_boxes": min_boxes, "max_boxes": max_boxes, "min_gap": min_gap}


def serve(streams_path, images, db, host="127.0.0.1", port=8000, web=None, display_s=None, blank_s=0.0,
          min_boxes=1, max_boxes=10, min_gap=None, completion_code=None, completion_url=None, root_path="",
          log_level="warning"):
    """Serve the study until interrupted. The admin token is VMS_ZOO_ADMIN_TOKEN if set, else a fresh one."""
    import uvicorn

    from vms_zoo.human.instrument.app import create_app, image_paths

    web = Path(web) if web else WEB_DIST
    if not (web / "index.html").is_file():
        raise FileNotFoundError(f"no built experiment page in {web}: run `{BUILD}` in the repository, "
                                "or pass --web FOLDER")
    streams, settings = stream_settings(streams_path, display_s, blank_s, min_boxes, max_boxes, min_gap)
    image_paths(streams, images)  # before the database is created: a bad folder leaves nothing behind
    store = Store(db, streams, settings)
    token = os.environ.get("VMS_ZOO_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    app = create_app(store, streams, images, web, {**settings, "completion_code": completion_code,
                                                   "completion_url": completion_url}, token)
    n = store.status()
    base = f"http://{host}:{port}{root_path}/"
    print(f"Serving {len(streams)} sequences of {len(streams[0])} images ({settings['display_ms'] / 1000:g} s "
          f"each) from {db}: {n['started']} participants started, {n['finished']} finished.\n"
          f"Participant link: {base}?participant=ID (or ?PROLIFIC_PID=ID)\n"
          f"Admin token: {token}\n"
          f"Monitor: curl -H 'Authorization: Bearer {token}' {base}api/admin/status", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, root_path=root_path, log_level=log_level, proxy_headers=True,
                    server_header=False)
    finally:
        store.close()


def _open(db):
    if not os.path.isfile(db):
        raise FileNotFoundError(f"No such study database: {db}")
    return connect(db, readonly=True)


def export(db, output, finished_only=False, overwrite=False):
    """Write trials.csv, annotations.csv (the tables `vms_zoo.human.experiment.analyse` reads),
    participants.csv and streams.csv into `output`; returns {name: rows}."""
    from vms_zoo.human.tables import write_table

    out = Path(output)
    existing = [str(out / n) for n in EXPORTS if os.path.lexists(out / n)]
    if existing and not overwrite:
        raise ValueError(f"Output {existing[0]} already exists; pass --overwrite to replace, or choose another "
                         "--output.")
    conn = _open(db)
    try:
        tables, streams, settings = export_tables(conn, finished_only), read_streams(conn), read_settings(conn)
    finally:
        conn.close()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("trials", "annotations", "participants"):
        write_table(tables[name], out / f"{name}.csv")
    save_streams(streams, out / "streams.csv", min_gap=settings["min_gap"], display_s=settings["display_ms"] / 1000)
    return {name: len(next(iter(t.values()))) for name, t in tables.items()}


def analysis_tables(db, finished_only=False):
    """(trials, annotations, streams) from a study database, as numpy columns for `analyse`."""
    conn = _open(db)
    try:
        tables, streams = export_tables(conn, finished_only), read_streams(conn)
    finally:
        conn.close()
    t, a = tables["trials"], tables["annotations"]
    trials = {"participant": np.array(t["participant"], str), "image_id": np.array(t["image_id"], str),
              "repeat": np.array(t["repeat"], np.int64), "response": np.array(t["response"], np.int64)}
    annotations = {"image_id": np.array(a["image_id"], str), "participant": np.array(a["participant"], str),
                   "response": np.array(a["response"], str),
                   **{k: np.array(a[k], np.float64) for k in ("x0", "y0", "x1", "y1")}}
    return trials, annotations, streams


def report(db, output, categories=None, size=32, finished_only=False, overwrite=False):
    """Run `vms_zoo.human.experiment.analyse` on the study's responses (with the stream's high / low pairs)
    and `write_report` into `output`. `categories`: a CSV of image_id, category; default each image's kind
    (high, low, foil)."""
    from vms_zoo.human.experiment import analyse, write_report
    from vms_zoo.human.tables import read_table

    if os.path.lexists(Path(output) / "report.json") and not overwrite:
        raise ValueError(f"Output {Path(output) / 'report.json'} already exists; pass --overwrite to replace, "
                         "or choose another --output.")
    trials, annotations, streams = analysis_tables(db, finished_only)
    if not len(trials["participant"]):
        raise ValueError(f"{db} holds no answered trials yet")
    if categories:
        c = read_table(categories, {"image_id": "id", "category": "id"})
        mapping = dict(zip(c["image_id"].tolist(), c["category"].tolist()))
    else:
        mapping = {str(it["image"]): it["kind"] for seq in streams for it in seq}
    shown = set(trials["image_id"].tolist())
    pairs = [p for p in stream_pairs(streams) if set(p) <= shown]  # only pairs with both images answered
    result = analyse(trials, annotations, mapping, size=(size, size), pairs=pairs or None)
    result["participants"] = len(np.unique(trials["participant"]))
    paths = write_report(result, output)
    return result, paths


def study_status(db):
    conn = _open(db)
    try:
        return status(conn)
    finally:
        conn.close()
