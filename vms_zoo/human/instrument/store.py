"""The experiment's SQLite store: the stream, the participants, one row per answered trial and its boxes.

Standard-library sqlite3 in WAL mode with ``synchronous=FULL``: a trial is acknowledged only after its
transaction commits, so a killed server (even a power cut) loses nothing it acknowledged, and readers
(`export`, `status`) never block the server. One connection behind a lock serves all requests; every write is
one ``BEGIN IMMEDIATE`` transaction that checks before it writes, so a refused request changes nothing.

The database holds its own copy of the stream and the settings it was created with; opening it with another
stream or other timings is refused (`SettingsMismatch`), so a study can't silently change under its data.
"""

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stream (sequence INTEGER NOT NULL, position INTEGER NOT NULL, image TEXT NOT NULL,
    kind TEXT NOT NULL, pair INTEGER NOT NULL, repeat INTEGER NOT NULL, PRIMARY KEY (sequence, position));
CREATE TABLE IF NOT EXISTS participants (participant TEXT PRIMARY KEY, sequence INTEGER NOT NULL,
    token TEXT NOT NULL, completion_code TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL);
CREATE TABLE IF NOT EXISTS responses (participant TEXT NOT NULL, position INTEGER NOT NULL,
    response INTEGER NOT NULL, rt_ms REAL, received_at REAL NOT NULL, PRIMARY KEY (participant, position));
CREATE TABLE IF NOT EXISTS boxes (participant TEXT NOT NULL, position INTEGER NOT NULL, box INTEGER NOT NULL,
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
    PRIMARY KEY (participant, position, box));
"""

PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}\Z")


class Refused(Exception):
    """A request the store turns down, with the HTTP status that says why; nothing was written."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class SettingsMismatch(ValueError):
    """The database was created for another stream or other settings."""


def stream_digest(streams):
    """sha256 of the stream's content (not its file), so the same design saved as CSV or JSON matches."""
    rows = [[it["image"], it["kind"], it["pair"], bool(it["repeat"])] for seq in streams for it in seq]
    text = json.dumps([len(seq) for seq in streams] + rows, default=lambda o: o.item())
    return hashlib.sha256(text.encode()).hexdigest()


def connect(path, readonly=False):
    """A connection in WAL mode; `readonly` opens an existing file without ever creating or writing it."""
    if readonly:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class Store:
    """The server's handle on one study database (see the module docstring)."""

    def __init__(self, path, streams, settings):
        self.lock = threading.Lock()
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)
        self.settings = {**settings, "streams_sha256": stream_digest(streams)}
        with self.lock, self._transaction():
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta VALUES ('settings', ?)", (json.dumps(self.settings),))
                self.conn.executemany("INSERT INTO stream VALUES (?, ?, ?, ?, ?, ?)", [
                    (s, p, str(it["image"]), it["kind"], -1 if it["pair"] is None else int(it["pair"]),
                     int(bool(it["repeat"]))) for s, seq in enumerate(streams) for p, it in enumerate(seq)])
            else:
                stored = json.loads(row[0])
                changed = sorted(k for k in set(stored) | set(self.settings) if stored.get(k) != self.settings.get(k))
                if changed:
                    raise SettingsMismatch(
                        f"{path} was created with other settings ({', '.join(changed)}: "
                        + "; ".join(f"{k} {stored.get(k)!r} there, {self.settings.get(k)!r} now" for k in changed)
                        + "); serve it with the same stream and timings, or start a new --db")
        self.lengths = [len(seq) for seq in streams]

    def _transaction(self):
        return _Transaction(self.conn)

    def close(self):
        self.conn.close()

    # --- participants -----------------------------------------------------------------------------------

    def state(self, participant):
        """"new", "started" (with the next trial) or "finished"; assigns nothing."""
        check_participant(participant)
        with self.lock:
            row = self.conn.execute("SELECT sequence, finished_at FROM participants WHERE participant = ?",
                                    (participant,)).fetchone()
            if row is None:
                return {"status": "new"}
            return {"status": "finished" if row[1] is not None else "started",
                    "next": self._answered(participant), "n_trials": self.lengths[row[0]]}

    def start(self, participant, token=None, completion_code=None):
        """Assign the least-used sequence to a new participant (ties: fewest finished, then the lowest number)
        and issue the browser's token; a participant who has started gets their own state back, given their
        token. Returns {sequence, token, next, n_trials, finished, completion_code (when finished)}."""
        check_participant(participant)
        with self.lock, self._transaction():
            row = self.conn.execute("SELECT sequence, token, completion_code, finished_at FROM participants "
                                    "WHERE participant = ?", (participant,)).fetchone()
            if row is None:
                counts = dict.fromkeys(range(len(self.lengths)), (0, 0))
                for s, n, done in self.conn.execute(
                        "SELECT sequence, COUNT(*), COUNT(finished_at) FROM participants GROUP BY sequence"):
                    counts[s] = (n, done)
                sequence = min(counts, key=lambda s: (*counts[s], s))
                token = secrets.token_urlsafe(18)
                code = completion_code or secrets.token_hex(4).upper()
                self.conn.execute("INSERT INTO participants VALUES (?, ?, ?, ?, ?, NULL)",
                                  (participant, sequence, token, code, time.time()))
                row = (sequence, token, code, None)
            elif not (isinstance(token, str) and hmac.compare_digest(token, row[1])):
                raise Refused(403, f"participant {participant} has already started in another browser; "
                                   "continue there (the same link resumes), or contact the researcher")
            sequence, token, code, finished = row
            out = {"sequence": sequence, "token": token, "next": self._answered(participant),
                   "n_trials": self.lengths[sequence], "finished": finished is not None}
            if finished is not None:
                out["completion_code"] = code
            return out

    def record(self, participant, token, position, response, rt_ms, boxes):
        """Store one answered trial, checked (own token, existing trial, next in order) before anything is
        written; the same answer again is acknowledged as a duplicate and stored once. Raises Refused."""
        check_participant(participant)
        with self.lock, self._transaction():
            row = self.conn.execute("SELECT sequence, token, completion_code FROM participants "
                                    "WHERE participant = ?", (participant,)).fetchone()
            if row is None:
                raise Refused(404, f"participant {participant} has not started")
            sequence, own_token, code = row
            if not (isinstance(token, str) and hmac.compare_digest(token, own_token)):
                raise Refused(403, f"wrong token for participant {participant}: a participant writes only "
                                   "their own trials")
            n = self.lengths[sequence]
            if not 0 <= position < n:
                raise Refused(404, f"no trial {position} in this participant's sequence (0..{n - 1})")
            stored = self.conn.execute("SELECT response FROM responses WHERE participant = ? AND position = ?",
                                       (participant, position)).fetchone()
            answered = self._answered(participant)
            if stored is not None:
                same = stored[0] == response and self._boxes(participant, position) == [tuple(b) for b in boxes]
                if not same:
                    raise Refused(409, f"trial {position} was already answered differently; answers are final")
                return self._ack(participant, position, answered, n, code, duplicate=True)
            if position != answered:
                raise Refused(409, f"trial {position} is not next; the next unanswered trial is {answered}")
            now = time.time()
            self.conn.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?)",
                              (participant, position, response, rt_ms, now))
            self.conn.executemany("INSERT INTO boxes VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  [(participant, position, k, *b) for k, b in enumerate(boxes)])
            if answered + 1 == n:
                self.conn.execute("UPDATE participants SET finished_at = ? WHERE participant = ?",
                                  (now, participant))
            return self._ack(participant, position, answered + 1, n, code, duplicate=False)

    def _ack(self, participant, position, answered, n, code, duplicate):
        out = {"stored": not duplicate, "duplicate": duplicate, "position": position, "next": answered,
               "finished": answered == n}
        if answered == n:
            out["completion_code"] = code
        return out

    def _answered(self, participant):
        return self.conn.execute("SELECT COUNT(*) FROM responses WHERE participant = ?",
                                 (participant,)).fetchone()[0]

    def _boxes(self, participant, position):
        return self.conn.execute("SELECT x0, y0, x1, y1 FROM boxes WHERE participant = ? AND position = ? "
                                 "ORDER BY box", (participant, position)).fetchall()

    def status(self):
        with self.lock:
            return status(self.conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error): the write lock is taken before the checks."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb):
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        return False


def check_participant(participant):
    if not (isinstance(participant, str) and PARTICIPANT_ID.match(participant)):
        raise Refused(400, "a participant id is 1-64 letters, digits, '_', '-' or '.' (from ?PROLIFIC_PID= "
                           "or ?participant= in the link)")


# --- reading a study database (export, status) -------------------------------------------------------------


def status(conn):
    """Participants started and finished per sequence, and answered trials, from an open connection."""
    n_sequences = conn.execute("SELECT COUNT(DISTINCT sequence) FROM stream").fetchone()[0]
    per = {s: {"sequence": s, "started": 0, "finished": 0} for s in range(n_sequences)}
    for s, n, done in conn.execute("SELECT sequence, COUNT(*), COUNT(finished_at) FROM participants "
                                   "GROUP BY sequence"):
        per[s].update(started=n, finished=done)
    last = conn.execute("SELECT MAX(received_at) FROM responses").fetchone()[0]
    return {"sequences": list(per.values()),
            "started": sum(p["started"] for p in per.values()),
            "finished": sum(p["finished"] for p in per.values()),
            "trials": conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0],
            "boxes": conn.execute("SELECT COUNT(*) FROM boxes").fetchone()[0],
            "last_response_at": last}


def read_settings(conn):
    """The settings the database was created with (timings, box limits, min_gap, the stream's sha256)."""
    return json.loads(conn.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])


def read_streams(conn):
    """The stream stored in the database, as `vms_zoo.human.streams` lists."""
    streams = []
    for s, p, image, kind, pair, repeat in conn.execute("SELECT * FROM stream ORDER BY sequence, position"):
        while len(streams) <= s:
            streams.append([])
        streams[s].append({"image": image, "kind": kind, "pair": None if pair < 0 else pair, "repeat": bool(repeat)})
    return streams


def export_tables(conn, finished_only=False):
    """{"trials", "annotations", "participants"}: column dicts of lists, ordered by participant and position.

    trials (`vms_zoo.human.experiment`'s trial table plus sequence, position, kind, pair, rt_ms) has one row per
    answered presentation; annotations (`vms_zoo.human.annotations`' table plus sequence, position, box) one
    row per box, response "true" when the image was a repeat (a hit: a true schema) and "false" on a first
    showing (a false alarm: a false schema)."""
    keep = "WHERE p.finished_at IS NOT NULL" if finished_only else ""
    trials = _columns(conn, f"""
        SELECT r.participant, s.image AS image_id, s.repeat, r.response, p.sequence, r.position, s.kind, s.pair,
               r.rt_ms
        FROM responses r JOIN participants p USING (participant)
        JOIN stream s ON s.sequence = p.sequence AND s.position = r.position {keep}
        ORDER BY r.participant, r.position""")
    annotations = _columns(conn, f"""
        SELECT s.image AS image_id, b.participant, CASE s.repeat WHEN 1 THEN 'true' ELSE 'false' END AS response,
               b.x0, b.y0, b.x1, b.y1, p.sequence, b.position, b.box
        FROM boxes b JOIN participants p USING (participant)
        JOIN stream s ON s.sequence = p.sequence AND s.position = b.position {keep}
        ORDER BY b.participant, b.position, b.box""")
    participants = _columns(conn, f"""
        SELECT p.participant, p.sequence, p.started_at, p.finished_at,
               (SELECT COUNT(*) FROM responses r WHERE r.participant = p.participant) AS answered,
               CASE WHEN p.finished_at IS NULL THEN '' ELSE p.completion_code END AS completion_code
        FROM participants p {keep} ORDER BY p.participant""")
    participants["finished_at"] = ["" if v is None else v for v in participants["finished_at"]]
    return {"trials": trials, "annotations": annotations, "participants": participants}


def _columns(conn, sql):
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return {name: [r[i] for r in rows] for i, name in enumerate(names)}
