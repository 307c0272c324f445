"""Image streams for a repeat-recognition memory experiment (W-MEMGAN paper, Fig. 11).

Paper design: 10 sequences of 150 images, 40 targets (repeats) per sequence, at least 30 images between a
first showing and its repeat, and no sequence holding both the high- and the low-memorability image of a
pair (otherwise a participant could "recognise" the other member of a pair). Foils (unconstrained images
of another category) can repeat too, so repeats are not predictable from the category.

`design_streams` balances each sequence: half of its distinct images are pair images (half high, half
low), half foils; half of its repeats are pair images (again half high, half low), half foils. Across
sequences it prefers the least-used images, so every image is shown about equally often and each pair's
high and low member about equally often.

A stream is a list of sequences; a sequence is a list of presentations
``{"image": id, "kind": "high" | "low" | "foil", "pair": int or None, "repeat": bool}`` in display order.
`save_streams` writes CSV (one row per presentation: sequence, position, image, kind, pair, repeat; pair
-1 for foils) or JSON (``{"min_gap": 30, "display_s": 3.0, "sequences": [[...], ...]}``) for a web
experiment; `load_streams` reads either and validates it. A CSV is read with the "streams" schema of
`vms_zoo.human.tables` (image ids stay text, repeat is 0/1, positions are integers >= 0) and must hold each
position 0, 1, ... of each sequence 0, 1, ... exactly once.

The web experiment's answers (columns participant, sequence, position, response; ``read_table(path,
"responses")`` reads them from CSV) become a trial table with `responses_to_trials`; a sequence or position
that is not in the stream, or a response other than 0/1, is an error naming the row.
"""

import csv
import json

import numpy as np

from vms_zoo.human.tables import binary, columns, integers, read_table, row, whole

KINDS = ("high", "low", "foil")


class StreamError(ValueError):
    """A stream breaks a design rule; the message lists every violation."""


def design_streams(pairs, foils, n_sequences=10, length=150, n_targets=40, min_gap=30, seed=0,
                   max_tries=200):
    """K = `n_sequences` sequences of `length` presentations with `n_targets` repeats each.

    `pairs` is a list of (high_id, low_id); `foils` a list of ids. `min_gap` is the minimum number of
    images shown between a first showing and its repeat. Every image must be a distinct id (text or
    integer): one pair's two images differ, no image is in two pairs, no foil is listed twice or is also a
    pair image. A broken rule is a ValueError naming the argument and the first offending ids.
    """
    n_sequences = whole(n_sequences, "n_sequences", 1, "sequences to design")
    length = whole(length, "length", 1, "presentations per sequence")
    n_targets = whole(n_targets, "n_targets", 0, "repeats per sequence")
    min_gap = _min_gap(min_gap)
    max_tries = whole(max_tries, "max_tries", 1, "placement attempts per sequence")
    _check_images(pairs, foils)
    n_unique = length - n_targets
    n_pair_images, n_foils = n_unique // 2, n_unique - n_unique // 2
    if 2 * n_targets > length or n_targets > length - min_gap - 1:
        raise ValueError(f"{n_targets} repeats with a gap of {min_gap} do not fit in {length} slots")
    if len(pairs) < n_pair_images or len(foils) < n_foils:
        raise ValueError(f"Each sequence needs {n_pair_images} pairs and {n_foils} foils; got "
                         f"{len(pairs)} pairs and {len(foils)} foils")
    rng = np.random.default_rng(seed)
    pair_use = np.zeros(len(pairs))               # times a pair appeared in any sequence
    high_bias = np.zeros(len(pairs))              # high shown minus low shown
    foil_use = np.zeros(len(foils))
    repeat_use = {}

    def least_used(counts, k):
        return np.lexsort((rng.random(len(counts)), counts))[:k]

    streams = []
    for _ in range(n_sequences):
        chosen = least_used(pair_use, n_pair_images)
        pair_use[chosen] += 1
        chosen = chosen[np.lexsort((rng.random(len(chosen)), high_bias[chosen]))]
        n_high = (n_pair_images + rng.integers(2) * (n_pair_images % 2)) // 2
        items = []
        for j, p in enumerate(chosen):
            kind = "high" if j < n_high else "low"
            high_bias[p] += 1 if kind == "high" else -1
            items.append({"image": pairs[p][0 if kind == "high" else 1], "kind": kind, "pair": int(p)})
        f = least_used(foil_use, n_foils)
        foil_use[f] += 1
        items += [{"image": foils[i], "kind": "foil", "pair": None} for i in f]

        by_kind = {k: [it for it in items if it["kind"] == k] for k in KINDS}
        n_rep = {"foil": n_targets - n_targets // 2}
        n_rep["high"] = (n_targets // 2 + rng.integers(2) * (n_targets // 2 % 2)) // 2
        n_rep["low"] = n_targets // 2 - n_rep["high"]
        targets = []
        for k in KINDS:
            counts = np.array([repeat_use.get(it["image"], 0) for it in by_kind[k]])
            if n_rep[k] > len(counts):
                raise ValueError(f"Not enough {k} images in a sequence for {n_rep[k]} repeats")
            targets += [by_kind[k][i] for i in least_used(counts, n_rep[k])]
        for it in targets:
            repeat_use[it["image"]] = repeat_use.get(it["image"], 0) + 1
        singles = [it for it in items if not any(it is t for t in targets)]
        streams.append(_place(targets, singles, length, min_gap, rng, max_tries))
    validate_streams(streams, min_gap)
    return streams


def _min_gap(min_gap):
    return whole(min_gap, "min_gap", 0, "images shown between a first showing and its repeat")


def _listed(ids):
    return f"{ids[:5]}{f' and {len(ids) - 5} more' if len(ids) > 5 else ''}"


def _check_images(pairs, foils):
    """design_streams' inputs as distinct image ids, or one ValueError naming the argument and the ids."""
    is_id = lambda i: (isinstance(i, str) and i != "") or (  # noqa: E731
        isinstance(i, (int, np.integer)) and not isinstance(i, bool))
    try:
        pairs, foils = [tuple(p) for p in pairs], list(foils)
    except TypeError:
        raise ValueError("pairs must be a list of (high_id, low_id) and foils a list of ids") from None
    shape = [j for j, p in enumerate(pairs) if len(p) != 2]
    if shape:
        raise ValueError(f"pairs must hold (high_id, low_id) tuples; pair(s) {_listed(shape)} "
                         f"are {[pairs[j] for j in shape[:3]]}")
    bad = [i for i in [i for p in pairs for i in p] + foils if not is_id(i)]
    if bad:
        raise ValueError(f"image ids must be non-empty text or integers; got {_listed(bad)}")
    same = [p for p in pairs if p[0] == p[1]]
    if same:
        raise ValueError(f"pairs: {_listed(same)} use one image as both high and low; a pair's two images "
                         "must differ")
    flat = [i for p in pairs for i in p]
    for name, ids in (("pairs", flat), ("foils", foils)):
        seen, twice = set(), []
        for i in ids:
            if i in seen and i not in twice:
                twice.append(i)
            seen.add(i)
        if twice:
            raise ValueError(f"{name}: image id(s) {_listed(twice)} appear more than once; "
                             + ("each image belongs to one pair" if name == "pairs" else "list each foil once"))
    paired = set(flat)
    both = [i for i in foils if i in paired]
    if both:
        raise ValueError(f"foils: image id(s) {_listed(both)} are also pair images; a foil is an unpaired image")


def _place(targets, singles, length, min_gap, rng, max_tries):
    """Random positions for each target's two showings (gap >= min_gap), singles in the rest."""
    for _ in range(max_tries):
        slots = [None] * length
        for t in rng.permutation(len(targets)):
            free = np.flatnonzero([s is None for s in slots])
            starts = free[free < free.max() - min_gap] if len(free) else free
            if not len(starts):
                break
            p = rng.choice(starts)
            q = rng.choice(free[free > p + min_gap])
            slots[p] = {**targets[t], "repeat": False}
            slots[q] = {**targets[t], "repeat": True}
        else:
            rest = iter(rng.permutation(len(singles)))
            return [s if s is not None else {**singles[next(rest)], "repeat": False} for s in slots]
    raise RuntimeError(f"Could not place {len(targets)} repeats with gap {min_gap} in {length} slots")


def validate_streams(streams, min_gap=30):
    """Raise StreamError listing every broken rule: repeats, gaps, pairs, kinds, lengths."""
    min_gap = _min_gap(min_gap)
    _check_shape(streams)
    errors = []
    if not streams:
        errors.append("no sequences")
    kinds = {}
    for s, seq in enumerate(streams):
        where = f"sequence {s}"
        if len(seq) != len(streams[0]):
            errors.append(f"{where}: length {len(seq)} differs from sequence 0 ({len(streams[0])})")
        seen, pair_images = {}, {}
        for pos, item in enumerate(seq):
            image, kind, pair, rep = item.get("image"), item.get("kind"), item.get("pair"), item.get("repeat")
            at = f"{where}, position {pos} ({image!r})"
            if isinstance(image, bool) or not isinstance(image, (str, int, np.integer)) or image == "":
                errors.append(f"{at}: image must be a non-empty id (text or integer)")
                continue
            if pair is not None and (isinstance(pair, bool) or not isinstance(pair, (int, np.integer)) or pair < 0):
                errors.append(f"{at}: pair must be an integer >= 0, or null for a foil; got {pair!r}")
                pair = None
            if rep not in (True, False):  # 0 and 1 compare equal to False and True
                errors.append(f"{at}: repeat must be true or false; got {rep!r}")
            if kind not in KINDS:
                errors.append(f"{at}: kind {kind!r} is not one of {KINDS}")
            if kinds.setdefault(image, kind) != kind:
                errors.append(f"{at}: kind {kind!r} but {kinds[image]!r} elsewhere")
            if (kind == "foil") != (pair is None):
                errors.append(f"{at}: {kind} images must {'not ' if kind == 'foil' else ''}have a pair")
            if pair is not None and pair_images.setdefault(pair, image) != image:
                errors.append(f"{at}: pair {pair} already shown as {pair_images[pair]!r} in this sequence")
            if image in seen:
                first = seen[image]
                if not rep:
                    errors.append(f"{at}: shown again at {pos} but not marked as a repeat")
                elif first is None:
                    errors.append(f"{at}: shown more than twice")
                elif pos - first - 1 < min_gap:
                    errors.append(f"{at}: only {pos - first - 1} images since its first showing at {first}; "
                                  f"at least {min_gap} required")
                seen[image] = None
            else:
                if rep:
                    errors.append(f"{at}: marked as a repeat but not shown before")
                seen[image] = pos
    if errors:
        shown = "\n  ".join(errors[:30]) + (f"\n  ... and {len(errors) - 30} more" if len(errors) > 30 else "")
        raise StreamError(f"Invalid stream ({len(errors)} problems):\n  {shown}")


def _check_shape(streams):
    """A StreamError unless `streams` is a list of lists of presentation dicts (the rules need that shape)."""
    if not isinstance(streams, (list, tuple)):
        raise StreamError(f"streams must be a list of sequences; got a {type(streams).__name__}")
    for s, seq in enumerate(streams):
        if not isinstance(seq, (list, tuple)):
            raise StreamError(f"sequence {s} must be a list of presentations; got {seq!r:.60}")
        for pos, item in enumerate(seq):
            if not isinstance(item, dict):
                raise StreamError(f"sequence {s}, position {pos}: expected an object with keys image, kind, "
                                  f"pair, repeat; got {item!r:.60}")


def save_streams(streams, path, min_gap=30, display_s=3.0):
    """Write streams as .csv or .json (chosen by the extension), after `validate_streams` with `min_gap` (pass
    the gap they were designed with), so no file is written that `load_streams` would refuse."""
    validate_streams(streams, min_gap)
    if str(path).endswith(".json"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"min_gap": min_gap, "display_s": display_s, "sequences": streams}, f, indent=1,
                      default=lambda o: o.item())
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sequence", "position", "image", "kind", "pair", "repeat"])
        for s, seq in enumerate(streams):
            for pos, it in enumerate(seq):
                pair = -1 if it["pair"] is None else it["pair"]
                writer.writerow([s, pos, it["image"], it["kind"], pair, int(it["repeat"])])


def load_streams(path, min_gap=None):
    """Read streams saved by `save_streams` (or written by hand) and validate them.

    `min_gap` defaults to the JSON file's own value, else 30. Image ids come back as strings from CSV.
    Every problem is a StreamError naming the file.
    """
    if min_gap is not None:
        min_gap = _min_gap(min_gap)
    if str(path).endswith(".json"):
        try:
            with open(path, encoding="utf-8-sig") as f:
                data = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StreamError(f"{path}: not a JSON text file ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("sequences"), list):
            raise StreamError(f"{path}: expected an object with a 'sequences' list")
        streams = data["sequences"]
        if min_gap is None:
            try:
                min_gap = _min_gap(data.get("min_gap", 30))
            except ValueError as e:
                raise StreamError(f"{path}: {e}") from None
    else:
        try:
            t = read_table(path, "streams")
        except ValueError as e:
            raise StreamError(str(e)) from None
        streams = {}
        for i in np.lexsort((t["position"], t["sequence"])).tolist():
            s, pos, pair = int(t["sequence"][i]), int(t["position"][i]), int(t["pair"][i])
            seq = streams.setdefault(s, [])
            if pos != len(seq):
                raise StreamError(f"{path}, row {i + 2}: sequence {s} " + (
                    f"has position {pos} twice" if pos < len(seq) else f"lacks position {len(seq)}"))
            seq.append({"image": str(t["image"][i]), "kind": str(t["kind"][i]), "pair": None if pair < 0 else pair,
                        "repeat": bool(t["repeat"][i])})
        if sorted(streams) != list(range(len(streams))):
            raise StreamError(f"{path}: sequences must be numbered 0, 1, ...; got {sorted(streams)}")
        streams = [streams[k] for k in range(len(streams))]
        min_gap = 30 if min_gap is None else min_gap
    try:
        validate_streams(streams, min_gap)
    except StreamError as e:
        raise StreamError(f"{path}: {e}") from None
    return streams


def stream_pairs(streams):
    """The (high_id, low_id) pairs shown in `streams`, by pair number, for the pair analysis
    (`vms_zoo.human.experiment.pair_analysis`). A pair whose high or low image is never shown has nothing to
    compare and is left out; a pair number given to two different high (or low) images is a StreamError."""
    members, errors = {}, []
    for s, seq in enumerate(streams):
        for pos, item in enumerate(seq):
            if item.get("pair") is None:
                continue
            known = members.setdefault(item["pair"], {}).setdefault(item["kind"], item["image"])
            if known != item["image"]:
                errors.append(f"sequence {s}, position {pos}: pair {item['pair']} has {item['kind']} image "
                              f"{item['image']!r} here but {known!r} elsewhere")
    if errors:
        raise StreamError("Inconsistent pairs:\n  " + "\n  ".join(errors[:30]))
    return [(m["high"], m["low"]) for _, m in sorted(members.items()) if "high" in m and "low" in m]


def responses_to_trials(streams, responses):
    """Trial table for `vms_zoo.human.experiment` from web-experiment responses.

    `responses` has columns participant, sequence, position, response (1 = pressed "seen it"); see the
    module docstring. A sequence or position outside `streams` is an error, never a wrap-around, and so
    are columns of different lengths.
    """
    columns(responses, ("participant", "sequence", "position", "response"), "responses")
    seq = integers(responses["sequence"], "sequence")
    pos = integers(responses["position"], "position")
    for i, (s, p) in enumerate(zip(seq.tolist(), pos.tolist())):
        if not 0 <= s < len(streams):
            raise ValueError(f"column 'sequence', {row(i)}: no sequence {s}; the stream has 0..{len(streams) - 1}")
        if not 0 <= p < len(streams[s]):
            raise ValueError(f"column 'position', {row(i)}: no position {p} in sequence {s} "
                             f"(0..{len(streams[s]) - 1})")
    items = [streams[s][p] for s, p in zip(seq.tolist(), pos.tolist())]
    return {"participant": np.asarray(responses["participant"]),
            "image_id": np.array([it["image"] for it in items]),
            "repeat": np.array([int(it["repeat"]) for it in items], np.int64),
            "response": binary(responses["response"], "response").astype(np.int64)}
