"""Typed CSV tables: the one reader the toolkit uses for every CSV, with a declared schema per table.

`read_table(path, schema)` reads a CSV with a header into a dict of numpy columns. A schema maps each
required column to a type; columns not in the schema are kept as text. Files are read as UTF-8 with or
without a byte-order mark, spaces around cells are ignored and trailing blank rows are dropped. A bad cell,
a row of the wrong length, a blank row inside the table or a missing column is a ValueError naming the file,
the row (as a spreadsheet numbers it: the header is row 1) and the column, e.g.::

    trials.csv, row 7, column 'response': expected 0 or 1, got '2'

Types (`TYPES`):

- ``id``: non-empty text kept exactly as written, so "007", "7" and "1e1" are three different ids.
- ``binary``: 0 or 1 -> int64 (trial responses and repeats: 1 = pressed "seen it" / a repeat).
- ``bool``: true, false, 1 or 0 in any letter case -> bool (annotation responses).
- ``float``: a finite decimal number -> float64 (box corners).
- ``index``: an integer >= 0 -> int64 (sequence numbers, stream positions).
- ``pair``: an integer >= -1 -> int64 (-1 = a foil, no pair).
- ``kind``: high, low or foil.
- ``text``: anything.

Tables (`SCHEMAS`; their meaning is documented in the module that uses them):

- ``annotations`` (`vms_zoo.human.annotations`): image_id, participant (id), response (bool),
  x0, y0, x1, y1 (float).
- ``trials`` (`vms_zoo.human.experiment`): participant, image_id (id), repeat, response (binary).
- ``responses`` (web-experiment answers for `vms_zoo.human.streams.responses_to_trials`): participant (id),
  sequence, position (index), response (binary).
- ``streams`` (`vms_zoo.human.streams.load_streams`): sequence, position (index), image (id), kind (kind),
  pair (pair), repeat (binary).

Tables built in memory skip the reader, so the functions that take them check the same rules with
`binary` and `integers`; their errors name the row as an index from 0 and as the CSV row it would be.
"""

import csv
import operator
import os
import re

import numpy as np

_INT = re.compile(r"[+-]?\d+\Z")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
_BOOL = {"true": True, "1": True, "false": False, "0": False}


def _int_from(low):
    return lambda s: int(s) if _INT.match(s) and int(s) >= low else None


def _finite(s):
    return float(s) if _NUMBER.match(s) and np.isfinite(float(s)) else None


# type name: (what a valid cell looks like, parser returning None for a bad cell, numpy dtype)
TYPES = {
    "id": ("a non-empty id", lambda s: s or None, str),
    "binary": ("0 or 1", {"0": 0, "1": 1}.get, np.int64),
    "bool": ("true, false, 1 or 0", lambda s: _BOOL.get(s.lower()), bool),
    "float": ("a finite number", _finite, np.float64),
    "index": ("an integer >= 0", _int_from(0), np.int64),
    "pair": ("an integer >= -1 (-1 = no pair)", _int_from(-1), np.int64),
    "kind": ("high, low or foil", lambda s: s if s in ("high", "low", "foil") else None, str),
    "text": ("text", lambda s: s, str),
}

SCHEMAS = {
    "annotations": {"image_id": "id", "participant": "id", "response": "bool",
                    "x0": "float", "y0": "float", "x1": "float", "y1": "float"},
    "trials": {"participant": "id", "image_id": "id", "repeat": "binary", "response": "binary"},
    "responses": {"participant": "id", "sequence": "index", "position": "index", "response": "binary"},
    "streams": {"sequence": "index", "position": "index", "image": "id", "kind": "kind", "pair": "pair",
                "repeat": "binary"},
}


def read_table(path, schema="annotations"):
    """Read a CSV with a header into {column: numpy array}, typed by `schema`.

    `schema` is a name in `SCHEMAS` or a dict column -> type name in `TYPES`. Raises ValueError naming the
    file, row and column of the first bad cell.
    """
    name = os.fspath(path)
    types = schema_types(schema)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise ValueError(f"{name}: not a readable CSV file ({e})") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    header = [h.strip() for h in rows[0]] if rows else []
    missing = [c for c in types if c not in header]
    if missing:
        raise ValueError(f"{name}: expected CSV columns {list(types)}; missing {missing} in header {header}")
    if len(set(header)) < len(header):
        raise ValueError(f"{name}, row 1: repeated column names in header {header}")
    if len(rows) < 2:
        raise ValueError(f"{name}: no rows")
    kinds = [TYPES[types.get(h, "text")] for h in header]
    columns = [[] for _ in header]
    for row_number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            what = "a blank row" if not any(c.strip() for c in row) else f"{len(row)} cells"
            raise ValueError(f"{name}, row {row_number}: {what}, expected {len(header)} cells ({header})")
        for h, (expected, parse, _), cell, column in zip(header, kinds, row, columns):
            value = parse(cell.strip())
            if value is None:
                raise ValueError(f"{name}, row {row_number}, column {h!r}: expected {expected}, got {cell!r}")
            column.append(value)
    return {h: np.array(column, dtype=kind[2]) for h, kind, column in zip(header, kinds, columns)}


def schema_types(schema):
    """{column: type name} of a schema given by name (a key of `SCHEMAS`) or as a dict; unknown names are a
    ValueError listing the known ones."""
    if isinstance(schema, str):
        if schema not in SCHEMAS:
            raise ValueError(f"schema must be one of {sorted(SCHEMAS)} or a dict column -> type; got {schema!r}")
        return SCHEMAS[schema]
    if not isinstance(schema, dict):
        raise ValueError(f"schema must be one of {sorted(SCHEMAS)} or a dict column -> type; "
                         f"got a {type(schema).__name__}")
    unknown = {c: t for c, t in schema.items() if t not in TYPES}
    if unknown:
        raise ValueError(f"schema gives unknown type(s) {unknown}; known types: {sorted(TYPES)}")
    return dict(schema)


def columns(table, required, what):
    """Check an in-memory table: a dict holding every `required` column, all columns 1-D and of one length.

    `what` names the argument in the error (e.g. "responses"). Ragged columns would otherwise be zipped
    together and cut to the shortest without a word. Returns the number of rows.
    """
    if not isinstance(table, dict):
        raise ValueError(f"{what} must be a dict of equal-length columns {list(required)}; "
                         f"got a {type(table).__name__}")
    missing = [c for c in required if c not in table]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(table)}")
    lengths = {}
    for c, v in table.items():
        v = np.asarray(v)
        if v.ndim != 1:
            raise ValueError(f"{what}: column {c!r} must be 1-D (one value per row); got shape {v.shape}")
        lengths[c] = len(v)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{what}: columns must have equal lengths (one value per row); got {lengths}")
    return next(iter(lengths.values()), 0)


def whole(value, name, low=0, meaning=""):
    """`value` as an int >= `low`, or a ValueError naming the argument `name` and the valid range (with
    `meaning`, a few words on what the number counts)."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < low:
        raise ValueError(f"{name} must be an integer >= {low}{f' ({meaning})' if meaning else ''}; got {value!r}")
    return number


def write_table(table, path):
    """Write a dict of equal-length columns as UTF-8 CSV (inverse of `read_table`)."""
    columns(table, (), "table")
    keys = list(table)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        writer.writerows(zip(*(np.asarray(table[k]).tolist() for k in keys)))


def row(i):
    """How an error names row `i` (from 0) of an in-memory table."""
    return f"row {i} (CSV row {i + 2})"


def _bad(column, values, ok, expected):
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"column {column!r}, {row(i)}: expected {expected}, got {values[i].item()!r}")


def binary(values, column, words=False):
    """An in-memory 0/1 column as bool: bool, 0/1 numbers or "0"/"1" text (and true/false if `words`)."""
    v = np.asarray(values).reshape(-1)
    if v.dtype.kind == "O":
        v = np.asarray(v.tolist())
    if v.dtype.kind in "US":
        text = np.char.lower(np.char.strip(v.astype(str)))
        _bad(column, v, np.isin(text, ["0", "1", "true", "false"] if words else ["0", "1"]),
             "true, false, 1 or 0" if words else "0 or 1")
        return np.isin(text, ["1", "true"])
    _bad(column, v, np.isin(v, [0, 1]) if v.dtype.kind in "biuf" else np.zeros(len(v), bool),
         "true, false, 1 or 0" if words else "0 or 1")
    return v == 1


def integers(values, column):
    """An in-memory integer column as int64 (whole-valued floats allowed)."""
    v = np.asarray(values).reshape(-1)
    if v.dtype.kind in "iu":
        return v.astype(np.int64)
    ok = np.isfinite(v) & (v == np.round(v)) if v.dtype.kind == "f" else np.zeros(len(v), bool)
    _bad(column, v, ok, "an integer")
    return v.astype(np.int64)
