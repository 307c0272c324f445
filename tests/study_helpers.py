"""A tiny study on disk, the `vms-zoo experiment serve` process, and JSON over HTTP, for the experiment tests.

The server runs as the real command in a subprocess, so the tests reach it the way a browser does and can
kill -9 it. Images are 64 px squares of distinct noise; ids are plain file names.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np

ADMIN_TOKEN = "test-admin-token"
CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium keeps calling outside hosts, which these machines refuse.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB_DIST = os.path.join(REPO, "web", "dist")


def make_study(folder, n_pairs=6, n_foils=6, n_sequences=3, length=12, n_targets=4, min_gap=2, display_s=1.0,
               seed=0, size=64):
    """Images and a designed stream (JSON) in `folder`; returns (streams path, images folder, streams).

    Images already in `folder`/images (pairs/z000_high.png ... and foils/z000_0.5.png, as `vms-zoo generate`
    names them) are used as they are; missing ones are drawn."""
    from PIL import Image, ImageDraw

    from vms_zoo.human.streams import design_streams, save_streams

    images = os.path.join(folder, "images")
    os.makedirs(os.path.join(images, "pairs"), exist_ok=True)
    os.makedirs(os.path.join(images, "foils"), exist_ok=True)
    pairs = [(f"pairs/z{i:03d}_high.png", f"pairs/z{i:03d}_low.png") for i in range(n_pairs)]
    foils = [f"foils/z{i:03d}_0.5.png" for i in range(n_foils)]
    rng = np.random.default_rng(seed)
    for name in [i for p in pairs for i in p] + foils:  # flat shapes on a flat ground: distinct, small PNGs
        if os.path.exists(os.path.join(images, name)):
            continue
        image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(60, 200, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x0, y0 = rng.integers(0, size * 3 // 4, 2)
            w, h = rng.integers(size // 8, size // 2, 2)
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        image.save(os.path.join(images, name))
    streams = design_streams(pairs, foils, n_sequences=n_sequences, length=length, n_targets=n_targets,
                             min_gap=min_gap, seed=seed)
    path = os.path.join(folder, "streams.json")
    save_streams(streams, path, min_gap=min_gap, display_s=display_s)
    return path, images, streams


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`vms-zoo experiment serve` in a subprocess on 127.0.0.1."""

    def __init__(self, streams, images, db, *extra, port=None):
        self.args = [sys.executable, "-m", "vms_zoo", "experiment", "serve", "--streams", streams, "--images", images,
                     "--db", db, "--port", str(port or free_port()), *extra]
        self.port = int(self.args[self.args.index("--port") + 1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = None

    def start(self, timeout=60):
        env = {**os.environ, "VMS_ZOO_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONPATH": REPO}
        self.proc = subprocess.Popen(self.args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                urllib.request.urlopen(self.url + "api/participant/ping", timeout=2).read()
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not answer in time")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def request(url, path, body=None, method=None, headers=None, raw=None):
    """(status, parsed JSON or text) of one request; `raw` sends bytes as they are."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method or ("GET" if data is None else "POST"),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def admin(url, path):
    return request(url, path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def raw_http(port, text):
    """Send `text` as the raw request (for paths urllib would normalise) and return the status code."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        conn.sendall(text.encode())
        return int(conn.recv(4096).split(b" ", 2)[1])
    finally:
        conn.close()


def script(streams, sequence, seed, p_press=0.5, max_boxes=2):
    """A scripted participant for `sequence`: {position: (response, boxes)} with boxes on a 1/20 grid (exact
    in binary after the page's rounding to 4 decimals, and on whole pixels of a 480 px image)."""
    rng = np.random.default_rng(seed)
    out = {}
    for position in range(len(streams[sequence])):
        if rng.random() < p_press:
            boxes = []
            for _ in range(rng.integers(1, max_boxes + 1)):
                x0, y0 = rng.integers(0, 15, 2)
                w, h = rng.integers(2, 6, 2)
                boxes.append([float(v) / 20 for v in (x0, y0, x0 + w, y0 + h)])
            out[position] = (1, boxes)
        else:
            out[position] = (0, [])
    return out


def expected_tables(streams, scripts):
    """The trial and annotation rows an export must hold for `scripts` {participant: (sequence, script)}."""
    trials, boxes = [], []
    for participant in sorted(scripts):
        sequence, answers = scripts[participant]
        for position, (response, drawn) in sorted(answers.items()):
            item = streams[sequence][position]
            trials.append((participant, item["image"], int(item["repeat"]), response))
            for box in drawn:
                boxes.append((item["image"], participant, "true" if item["repeat"] else "false", *box))
    return trials, boxes


def exported(folder):
    """(trial rows, box rows) read back from `vms-zoo experiment export` output with the toolkit's reader."""
    from vms_zoo.human.tables import read_table

    t = read_table(os.path.join(folder, "trials.csv"), "trials")
    trials = list(zip(t["participant"].tolist(), t["image_id"].tolist(), t["repeat"].tolist(), t["response"].tolist()))
    path = os.path.join(folder, "annotations.csv")
    with open(path) as f:
        if len(f.read().splitlines()) < 2:
            return trials, []
    a = read_table(path, "annotations")
    boxes = list(zip(a["image_id"].tolist(), a["participant"].tolist(),
                     ["true" if r else "false" for r in a["response"].tolist()],
                     *(a[k].tolist() for k in ("x0", "y0", "x1", "y1"))))
    return trials, boxes


def post_script(url, participant, answers, token=None):
    """A participant over HTTP: start (again, given the `token`), then every scripted trial in order; returns
    (start answer, last ack)."""
    status, started = request(url, "api/start", {"participant": participant, "token": token})
    assert status == 200, started
    ack = None
    for position, (response, boxes) in sorted(answers.items()):
        status, ack = request(url, "api/trial", {"participant": participant, "token": started["token"],
                                                 "position": position, "response": response, "rt_ms": 500,
                                                 "boxes": boxes})
        assert status == 200 and ack["stored"], ack
    return started, ack


class KeepAlive:
    """One persistent HTTP/1.1 connection posting JSON, timing each request (the load test's client)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path, body):
        start = time.perf_counter()
        self.conn.request("POST", "/" + path, json.dumps(body), {"Content-Type": "application/json"})
        res = self.conn.getresponse()
        data = json.loads(res.read())
        return res.status, data, time.perf_counter() - start

    def close(self):
        self.conn.close()
