"""`vms-zoo experiment serve` over HTTP: assignment, storage, hostile requests, kill -9, export and analysis.

The server runs as the real command in a subprocess (tests/study_helpers.py); the page is a stub here (the
browser tests serve the built one).
"""

import http.client
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from study_helpers import (ADMIN_TOKEN, KeepAlive, Server, admin, expected_tables, exported, make_study,
                           post_script, raw_http, request, script)
from vms_zoo.human.experiment import analyse, dprime
from vms_zoo.human.instrument import study

pytestmark = pytest.mark.experiment_server
import starlette  # noqa: E402,F401  (the experiment extra: a missing one fails, never skips)
import uvicorn  # noqa: E402,F401


@pytest.fixture(scope="module")
def study_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    streams_path, images, streams = make_study(str(folder))
    web = folder / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>stub</title>")
    return {"folder": folder, "streams_path": streams_path, "images": images, "streams": streams, "web": str(web)}


def serve(files, db, *extra, port=None):
    return Server(files["streams_path"], files["images"], str(db), "--web", files["web"], *extra, port=port)


def snapshot(url):
    """Everything the store holds, through the admin API."""
    return {name: admin(url, f"api/admin/export/{name}.csv")[1] for name in ("trials", "annotations", "participants")}


def test_balanced_assignment_resume_and_export(study_files, tmp_path):
    streams = study_files["streams"]
    with serve(study_files, tmp_path / "s.sqlite") as server:
        url = server.url
        # least-used sequence first: 7 newcomers over 3 sequences go 0, 1, 2, 0, 1, 2, 0
        first = [request(url, "api/start", {"participant": f"p{i}"})[1] for i in range(7)]
        got = [f["sequence"] for f in first]
        assert got == [0, 1, 2, 0, 1, 2, 0]
        assert [s["started"] for s in admin(url, "api/admin/status")[1]["sequences"]] == [3, 2, 2]

        scripts = {f"p{i}": (got[i], script(streams, got[i], seed=i)) for i in range(3)}
        # once started, only the browser holding the participant's token goes on
        assert request(url, "api/start", {"participant": "p0"})[0] == 403
        started, ack = post_script(url, "p0", scripts["p0"][1], token=first[0]["token"])
        assert ack["finished"] and ack["next"] == len(streams[0]) and len(ack["completion_code"]) == 8
        # p1 answers half, "reloads" (start again with its token): it resumes at the next unanswered trial
        half = dict(list(scripts["p1"][1].items())[:5])
        token = post_script(url, "p1", half, token=first[1]["token"])[0]["token"]
        status, again = request(url, "api/start", {"participant": "p1", "token": token})
        assert status == 200 and again["next"] == 5 and again["sequence"] == got[1] and not again["finished"]
        assert request(url, "api/participant/p1")[1] == {"status": "started", "next": 5, "n_trials": 12}
        for position, (response, boxes) in list(scripts["p1"][1].items())[5:]:
            assert request(url, "api/trial", {"participant": "p1", "token": token, "position": position,
                                              "response": response, "boxes": boxes})[0] == 200
        post_script(url, "p2", scripts["p2"][1], token=first[2]["token"])
        # a retry of an answered trial is acknowledged as a duplicate and stored once
        pos, (response, boxes) = next((p, a) for p, a in scripts["p0"][1].items() if a[0] == 1)
        status, dup = request(url, "api/trial", {"participant": "p0", "token": started["token"], "position": pos,
                                                 "response": response, "rt_ms": 123, "boxes": boxes})
        assert status == 200 and dup == {**dup, "duplicate": True, "stored": False, "finished": True}
        # sequences 1 and 2 tie on started (2) and finished (1: p1, p2); the lower number wins
        assert request(url, "api/start", {"participant": "p7"})[1]["sequence"] == 1

    out = tmp_path / "export"
    rows = study.export(str(tmp_path / "s.sqlite"), str(out))
    want_trials, want_boxes = expected_tables(streams, scripts)
    got_trials, got_boxes = exported(str(out))
    assert got_trials == want_trials and got_boxes == want_boxes
    assert rows == {"trials": 36, "annotations": len(want_boxes), "participants": 8}
    with pytest.raises(ValueError, match="already exists"):
        study.export(str(tmp_path / "s.sqlite"), str(out))
    finished = study.export(str(tmp_path / "s.sqlite"), str(tmp_path / "finished"), finished_only=True)
    assert finished["participants"] == 3 and finished["trials"] == 36


def test_hostile_requests_get_4xx_and_change_nothing(study_files, tmp_path):
    with serve(study_files, tmp_path / "s.sqlite") as server:
        url = server.url
        a = request(url, "api/start", {"participant": "alice"})[1]
        b = request(url, "api/start", {"participant": "bob"})[1]
        ok = {"participant": "alice", "token": a["token"], "position": 0, "response": 1, "rt_ms": 800,
              "boxes": [[0.1, 0.1, 0.5, 0.5]]}
        assert request(url, "api/trial", ok)[0] == 200
        before = snapshot(url)

        def trial(**change):
            return request(url, "api/trial", {**ok, "position": 1, **change})[0]

        refused = {
            "bob's token for alice": trial(token=b["token"]),
            "alice's token for bob": trial(participant="bob", token=a["token"], position=0),
            "no token": request(url, "api/trial", {k: v for k, v in ok.items() if k != "token"})[0],
            "unknown participant": trial(participant="mallory"),
            "bad participant id": trial(participant="../etc"),
            "box past the right edge": trial(boxes=[[0.5, 0.1, 1.2, 0.5]]),
            "negative corner": trial(boxes=[[-0.1, 0.1, 0.5, 0.5]]),
            "reversed box": trial(boxes=[[0.5, 0.1, 0.2, 0.5]]),
            "three corners": trial(boxes=[[0.1, 0.1, 0.5]]),
            "text corner": trial(boxes=[["0.1", 0.1, 0.5, 0.5]]),
            "too many boxes": trial(boxes=[[0.1, 0.1, 0.5, 0.5]] * 11),
            "no box after seen": trial(boxes=[]),
            "boxes without seen": trial(response=0),
            "response 2": trial(response=2),
            "response true": trial(response=True),
            "negative rt": trial(rt_ms=-5),
            "trial past the end": trial(position=12),
            "trial far past the end": trial(position=10 ** 12),
            "negative trial": trial(position=-1),
            "skipping ahead": trial(position=5),
            "changed answer": request(url, "api/trial", {**ok, "response": 0, "boxes": []})[0],
            "unknown field": trial(extra=1),
            "NaN corner": request(url, "api/trial", raw=json.dumps({**ok, "position": 1}).replace(
                "0.1, 0.1, 0.5, 0.5", "NaN, 0.1, 0.5, 0.5").encode())[0],
            "not JSON": request(url, "api/trial", raw=b"{position: 1")[0],
            "a list": request(url, "api/trial", raw=b"[1, 2]")[0],
            "oversized body": request(url, "api/trial", {**ok, "position": 1, "pad": "x" * 20000})[0],
            "oversized, no length": _chunked(server.port, b'{"pad": "' + b"x" * 40000 + b'"}'),
            "restart someone else": request(url, "api/start", {"participant": "bob"})[0],
            "restart with a wrong token": request(url, "api/start", {"participant": "bob", "token": a["token"]})[0],
            "state of a bad id": request(url, "api/participant/a%20b")[0],
            "image past the end": request(url, "img/0/12")[0],
            "image of no sequence": request(url, "img/9/0")[0],
            "traversal": raw_http(server.port, "GET /img/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
            "encoded traversal": raw_http(server.port, "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
            "static traversal": raw_http(server.port, "GET /../streams.json HTTP/1.1\r\nHost: x\r\n\r\n"),
            "admin without token": request(url, "api/admin/status")[0],
            "admin, wrong token": request(url, "api/admin/status", headers={"Authorization": "Bearer nope"})[0],
            "export without token": request(url, "api/admin/export/trials.csv")[0],
        }
        bad = {k: v for k, v in refused.items() if not 400 <= v < 500}
        assert not bad, bad
        assert refused["bob's token for alice"] == 403 and refused["oversized body"] == 413
        assert refused["trial past the end"] == 404 and refused["skipping ahead"] == 409
        assert refused["changed answer"] == 409 and refused["admin without token"] == 401
        assert snapshot(url) == before
        status, text = request(url, "api/admin/export/trials.csv", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert status == 200 and text.splitlines()[1].startswith("alice,")


def _chunked(port, body):
    """POST `body` with chunked transfer encoding (no Content-Length); returns the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/api/trial")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    for i in range(0, len(body), 4096):
        part = body[i:i + 4096]
        conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.slow
def test_refuses_other_settings_and_images_outside_the_folder(study_files, tmp_path):
    db = tmp_path / "s.sqlite"
    with serve(study_files, db):
        pass
    with pytest.raises(RuntimeError, match="other settings.*display_ms"):
        serve(study_files, db, "--display-s", "0.5").start()
    text = open(study_files["streams_path"]).read()
    image = json.loads(text)["sequences"][0][0]["image"]
    for name, escape in [("up", "../streams.json"), ("absolute", "/etc/hostname"), ("link", "link.png")]:
        path = tmp_path / f"{name}.json"
        path.write_text(text.replace(f'"{image}"', json.dumps(escape)))
        if name == "link":
            os.symlink(os.path.abspath(study_files["streams_path"]), os.path.join(study_files["images"], "link.png"))
        with pytest.raises(RuntimeError, match="not files inside"):
            Server(str(path), study_files["images"], str(tmp_path / "o.sqlite"), "--web", study_files["web"]).start()
    assert not (tmp_path / "o.sqlite").exists()


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_trial(study_files, tmp_path):
    """Four clients post trials while the server is killed -9 three times and restarted: every trial the
    server acknowledged is stored, once, and each client continues after the restart."""
    streams = study_files["streams"]
    db = tmp_path / "s.sqlite"
    server = serve(study_files, db).start()
    port = server.port
    acked, sent, errors = {}, {}, []
    clients = {f"k{i}": script(streams, i % 3, seed=10 + i) for i in range(4)}
    tokens = {p: request(server.url, "api/start", {"participant": p})[1]["token"] for p in clients}
    stop = threading.Event()

    def client(participant):
        answers, position = clients[participant], 0
        conn = None
        while position < len(answers) and not stop.is_set():
            response, boxes = answers[position]
            try:
                conn = conn or KeepAlive(port)
                status, ack, _ = conn.post("api/trial", {"participant": participant, "token": tokens[participant],
                                                         "position": position, "response": response, "boxes": boxes})
            except (OSError, ValueError, http.client.HTTPException):  # the server is down: retry the same trial
                sent[participant] = sent.get(participant, 0) + 1
                conn = None
                stop.wait(0.05)
                continue
            if status != 200:
                errors.append((participant, position, status, ack))
                return
            acked.setdefault(participant, []).append(position)
            position += 1
            stop.wait(0.05)

    threads = [threading.Thread(target=client, args=(p,)) for p in clients]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            stop.wait(0.3)
            server.kill9()
            stop.wait(0.2)
            server = serve(study_files, db, port=port).start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
    finally:
        stop.set()
        server.stop()
    assert not errors
    trials, _ = exported_tables(tmp_path, db)
    stored = {}
    for participant, _, _, _ in trials:
        stored[participant] = stored.get(participant, 0) + 1
    n_acked = sum(len(set(v)) for v in acked.values())
    print(f"kill -9 x3: {n_acked} trials acknowledged, {len(trials)} stored, {sum(sent.values())} sends failed")
    assert stored == {p: 12 for p in clients} and n_acked == len(trials) == 48
    want, _ = expected_tables(streams, {p: (i % 3, clients[p]) for i, p in enumerate(clients)})
    assert trials == want


def exported_tables(tmp_path, db):
    out = tmp_path / "export_kill"
    study.export(str(db), str(out), overwrite=True)
    return exported(str(out))


@pytest.mark.slow
def test_cli_export_report_status_and_analysis_match_the_script(study_files, tmp_path):
    """Six scripted participants; the exported tables give exactly the hit and false-alarm counts the script
    implies, and `vms-zoo experiment report` gives the same d' per kind."""
    streams = study_files["streams"]
    db = tmp_path / "s.sqlite"
    scripts = {}
    with serve(study_files, db) as server:
        for i in range(6):
            participant = f"s{i}"
            started = request(server.url, "api/start", {"participant": participant})[1]
            sequence = started["sequence"]
            scripts[participant] = (sequence, script(streams, sequence, seed=100 + i, p_press=0.6))
            post_script(server.url, participant, scripts[participant][1], token=started["token"])
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    run = lambda *a: subprocess.run([sys.executable, "-m", "vms_zoo", "experiment", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True)
    r = run("status", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert [(s["started"], s["finished"]) for s in status["sequences"]] == [(2, 2)] * 3 and status["trials"] == 72
    r = run("export", "--db", str(db), "--output", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    r = run("report", "--db", str(db), "--output", str(tmp_path / "report"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())

    counts = {k: np.zeros(4) for k in ("high", "low", "foil")}  # hits, signal, false alarms, noise
    for sequence, answers in scripts.values():
        for position, (response, _) in answers.items():
            item = streams[sequence][position]
            c = counts[item["kind"]]
            c[0 if item["repeat"] else 2] += response
            c[1 if item["repeat"] else 3] += 1
    for kind, (hits, n_signal, fas, n_noise) in counts.items():
        row = report["table2_dprime"][kind]
        assert (row["hits"], row["n_signal"], row["false_alarms"], row["n_noise"]) == (hits, n_signal, fas, n_noise)
        assert row["hit_rate"] == pytest.approx(hits / n_signal)
        assert row["dprime"] == pytest.approx(float(dprime(hits, n_signal, fas, n_noise)))
    assert report["participants"] == 6 and "pair_analysis" in report
    # the same analysis from the exported CSVs, read back with the toolkit's reader
    from vms_zoo.human.tables import read_table

    trials = read_table(tmp_path / "out" / "trials.csv", "trials")
    boxes = read_table(tmp_path / "out" / "annotations.csv", "annotations")
    kinds = {str(it["image"]): it["kind"] for seq in streams for it in seq}
    again = analyse(trials, boxes, kinds)
    for kind, row in report["table2_dprime"].items():
        assert again["table2_dprime"][kind] == pytest.approx(row)


def test_server_imports_no_deep_learning_framework():
    code = ("import sys, vms_zoo.cli, vms_zoo.human.instrument.study, vms_zoo.human.instrument.app; "
            "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]; assert not bad, bad")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_assignment_ties_go_to_the_sequence_with_fewer_finished(study_files, tmp_path):
    from vms_zoo.human.instrument.store import Store

    streams = study_files["streams"]
    store = Store(str(tmp_path / "s.sqlite"), streams, {"display_ms": 1000, "blank_ms": 0, "min_boxes": 1,
                                                        "max_boxes": 10})
    started = {p: store.start(p) for p in "abc"}
    assert [s["sequence"] for s in started.values()] == [0, 1, 2]
    for position in range(len(streams[1])):  # b finishes sequence 1
        store.record("b", started["b"]["token"], position, 0, None, [])
    # all three have one participant; 0 and 2 have no one finished: 0, then 2 (not 1, the lower number)
    assert [store.start(p)["sequence"] for p in "de"] == [0, 2]
    assert store.start("f")["sequence"] == 1
    store.close()
