"""Load: 100 scripted participants at once over HTTP on 127.0.0.1, for VMS_ZOO_LOAD_SECONDS (default 10).

Each client runs participants one after another on a keep-alive connection, posting every trial of the
paper-sized design (10 sequences of 150) as fast as the server answers: far above 100 real participants, who
answer one trial every 3 s or more. The run stops itself at its deadline; it must end with no error and every
acknowledged trial stored once. Throughput and latencies are printed (-s) and written beside the test's files.
"""

import json
import os
import threading
import time

import numpy as np
import pytest

from study_helpers import KeepAlive, Server, make_study
from vms_zoo.human.instrument import study

pytestmark = pytest.mark.experiment_server
import uvicorn  # noqa: E402,F401

CLIENTS = 100


@pytest.mark.slow
def test_100_concurrent_participants(tmp_path):
    seconds = float(os.environ.get("VMS_ZOO_LOAD_SECONDS", "10"))
    streams_path, images, streams = make_study(str(tmp_path), n_pairs=60, n_foils=60, n_sequences=10, length=150,
                                               n_targets=40, min_gap=30, size=16)
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>stub</title>")
    db = tmp_path / "load.sqlite"
    latencies, acked, errors = [], {}, []
    lock = threading.Lock()

    def client(k, port, deadline):
        conn, rng, n = KeepAlive(port), np.random.default_rng(k), 0
        try:
            while time.monotonic() < deadline:
                participant = f"load{k:03d}_{n}"
                n += 1
                status, started, dt = conn.post("api/start", {"participant": participant})
                mine = [dt]
                if status != 200:
                    errors.append((participant, "start", status, started))
                    return
                for position in range(started["n_trials"]):
                    if time.monotonic() >= deadline:
                        break
                    seen = int(rng.random() < 0.3)
                    boxes = [[0.1, 0.2, 0.4, 0.6]] if seen else []
                    status, ack, dt = conn.post("api/trial", {
                        "participant": participant, "token": started["token"], "position": position,
                        "response": seen, "rt_ms": 700, "boxes": boxes})
                    mine.append(dt)
                    if status != 200 or not ack["stored"]:
                        errors.append((participant, position, status, ack))
                        return
                    with lock:
                        acked[participant] = acked.get(participant, 0) + 1
                with lock:
                    latencies.extend(mine)
        except Exception as e:  # noqa: BLE001 (any failure is a test failure, reported below)
            errors.append((k, "exception", repr(e)))
        finally:
            conn.close()

    with Server(streams_path, images, str(db), "--web", str(web)) as server:
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=client, args=(k, server.port, deadline)) for k in range(CLIENTS)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 60)
        elapsed = time.monotonic() - start
        assert not any(t.is_alive() for t in threads), "clients did not stop"
    assert not errors, errors[:5]

    trials = study.analysis_tables(str(db))[0]
    people, counts = np.unique(trials["participant"], return_counts=True)
    stored = dict(zip(people.tolist(), counts.tolist()))
    assert stored == {p: n for p, n in acked.items() if n}
    n_trials = sum(acked.values())
    ms = np.array(latencies) * 1000
    result = {"clients": CLIENTS, "seconds": round(elapsed, 1), "participants": len(acked),
              "trials_acknowledged": n_trials, "trials_stored": len(trials["participant"]),
              "requests_per_s": round(len(ms) / elapsed, 1), "trials_per_s": round(n_trials / elapsed, 1),
              "latency_ms": {q: round(float(np.percentile(ms, v)), 1) for q, v in
                             [("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)]}}
    (tmp_path / "load.json").write_text(json.dumps(result, indent=1))
    print("load:", json.dumps(result))
    assert n_trials > CLIENTS  # every client got past its first participant's start
