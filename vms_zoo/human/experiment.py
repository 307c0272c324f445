"""Analysis of repeat-recognition memory experiments: d', split-half consistency, the papers' tests.

Trial table
-----------
A dict of equal-length numpy columns (``read_table(path, "trials")`` from `vms_zoo.human.tables` reads one
from CSV)::

    participant, image_id, repeat, response

one row per presentation: ``repeat`` is 1 when the image had already been shown to that participant (a
signal trial), 0 on a first showing (a noise trial); ``response`` is 1 when the participant pressed
"seen it". A hit is a response on a repeat, a false alarm a response on a first showing. ``repeat`` and
``response`` must be 0 or 1 (or bool); anything else, blank or NaN included, is an error naming the row.
Ids from CSV are text exactly as written, so the keys of ``groups`` / ``categories`` / ``kinds`` dicts
must be too ("7", not 7).

Annotation tables (boxes) are described in `vms_zoo.human.annotations`. Effect sizes and the t / Wilcoxon
tests come from `vms_zoo.stats`, shared with the pair evaluation of generators.

`analyse` rebuilds the summaries of the W-MEMGAN paper from such raw data: Table 1 (per-category VMS map
consistency over 25 split halves), Table 2 (per-category d'), their rank correlation, and Fig. 1 (per
category, the correlation across images of map consistency with d'); given the high/low image pairs it
adds the tests of its human experiment: `memory_experiment` (high vs low memorability images, foils left
out) and `pair_analysis` (the images that share z, paired, after the 2-SD outlier exclusion); given the
target maps the images were generated from, `target_agreement` (Pearson, Spearman and MSE against the maps
participants drew). `write_report` saves JSON and PNG charts. docs/evaluation.md states the definitions.
"""

import json
import os

import numpy as np
from scipy import integrate, stats

from vms_zoo.human.annotations import COLUMNS, grid_size, smoothing, vms_maps
from vms_zoo.human.tables import binary, columns, whole
from vms_zoo.stats import cohens_d, corr2, paired_comparison, t_test, wilcoxon, within_sd

N_SPLITS = 25
TRIAL_COLUMNS = ("participant", "image_id", "repeat", "response")


# --- signal detection ------------------------------------------------------------------------------

def dprime(hits, n_signal, false_alarms, n_noise):
    """d' = Z(H) - Z(F) with the log-linear correction (Hautus, 1995).

    Adding 0.5 to the hit and false-alarm counts and 1 to the signal and noise trial counts keeps Z
    finite when a rate is 0 or 1 and biases d' less than replacing extreme rates by 1/(2N).
    """
    h = (np.asarray(hits, np.float64) + 0.5) / (np.asarray(n_signal, np.float64) + 1.0)
    f = (np.asarray(false_alarms, np.float64) + 0.5) / (np.asarray(n_noise, np.float64) + 1.0)
    return stats.norm.ppf(h) - stats.norm.ppf(f)


def rates(trials, groups=None):
    """Hit rate, false-alarm rate and d' per image, or per group when `groups` maps image_id -> label.

    Groups pool the counts of their images before computing d' (Table 2 style). Raw rates are NaN where
    a group has no signal (or noise) trials; d' is always finite thanks to the correction.
    """
    columns(trials, TRIAL_COLUMNS[1:], "trials")
    ids = np.asarray(trials["image_id"])
    labels = ids if groups is None else _labels(groups, ids, "groups")
    repeat = binary(trials["repeat"], "repeat")
    response = binary(trials["response"], "response")
    keys, inverse = np.unique(labels, return_inverse=True)
    count = lambda mask: np.bincount(inverse, weights=mask, minlength=len(keys))  # noqa: E731
    hits, n_signal = count(repeat & response), count(repeat)
    fas, n_noise = count(~repeat & response), count(~repeat)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"group": keys, "hits": hits, "n_signal": n_signal, "false_alarms": fas, "n_noise": n_noise,
                "hit_rate": hits / n_signal, "fa_rate": fas / n_noise,
                "dprime": dprime(hits, n_signal, fas, n_noise)}


def _labels(mapping, ids, name):
    """mapping[i] for each id, or a ValueError listing ids the dict lacks (ids are matched exactly)."""
    ids = np.asarray(ids).tolist()
    missing = sorted({i for i in ids if i not in mapping}, key=str)
    if missing:
        raise ValueError(f"{name} has no entry for image_id {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                         "(ids are matched exactly: '7', '007' and 7 differ)")
    return np.array([mapping[i] for i in ids])


# --- consistency -----------------------------------------------------------------------------------

def hit_rate_consistency(trials, n_splits=N_SPLITS, seed=0):
    """Spearman rho between per-image hit rates of two random halves of the participants, per split.

    The classic memorability consistency: if people agree on which images are memorable, one half of
    them ranks the images like the other half. Returns the (n_splits,) array; report its mean.
    """
    n_splits = whole(n_splits, "n_splits", 1, "random split halves")
    columns(trials, TRIAL_COLUMNS, "trials")
    rng = np.random.default_rng(seed)
    people = np.unique(trials["participant"])
    ids = np.unique(trials["image_id"])
    out = []
    for _ in range(n_splits):
        half = np.isin(trials["participant"], rng.permutation(people)[: len(people) // 2])
        hr = []
        for mask in (half, ~half):
            r = rates({k: np.asarray(v)[mask] for k, v in trials.items()})
            hr.append(dict(zip(r["group"].tolist(), r["hit_rate"])))
        a = np.array([hr[0].get(i, np.nan) for i in ids.tolist()])
        b = np.array([hr[1].get(i, np.nan) for i in ids.tolist()])
        ok = np.isfinite(a) & np.isfinite(b)
        out.append(stats.spearmanr(a[ok], b[ok]).statistic if ok.sum() > 2 else np.nan)
    return np.array(out)


def map_consistency(annotations, size=(32, 32), n_splits=N_SPLITS, seed=0, channel=0, sigma=0.0):
    """Per-image split-half consistency of VMS maps (Table 1 of the W-MEMGAN paper).

    For each of `n_splits` splits, the participants who annotated an image are divided into two equal
    random halves, each half's boxes make a map, and the two maps are correlated with `corr2`.
    `channel` is 0 (true map), 1 (false map) or None (both channels together). Returns
    {image_id: mean over splits}, NaN where no split gave two non-empty maps.
    """
    n_splits = whole(n_splits, "n_splits", 1, "random split halves")
    size, sigma = grid_size(size), smoothing(sigma)
    if channel not in (0, 1, None):
        raise ValueError(f"channel must be 0 (true map), 1 (false map) or None (both); got {channel!r}")
    columns(annotations, COLUMNS, "annotations")
    rng = np.random.default_rng(seed)
    ids = np.asarray(annotations["image_id"])
    people = np.asarray(annotations["participant"])
    out = {}
    for image_id in np.unique(ids).tolist():
        mine = {k: np.asarray(v)[ids == image_id] for k, v in annotations.items()}
        who = np.unique(people[ids == image_id])
        scores = []
        for _ in range(n_splits):
            half = np.isin(mine["participant"], rng.permutation(who)[: len(who) // 2])
            a, b = (vms_maps({k: v[m] for k, v in mine.items()}, size, [image_id], sigma=sigma,
                             normalise=None)[image_id] for m in (half, ~half))
            sl = slice(None) if channel is None else channel
            scores.append(corr2(a[..., sl], b[..., sl]))
        scores = np.array(scores)
        out[image_id] = float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")
    return out


# --- statistical tests -----------------------------------------------------------------------------

def jzs_bayes_factor(t, n1, n2=None, r=np.sqrt(2) / 2):
    """BF10 of the JZS t-test (Rouder et al., 2009, Eq. 1) by numerical integration over g.

    One-sample/paired when n2 is None (effective N = n1, df = n1 - 1), else two-sample (N = n1 n2 /
    (n1 + n2), df = n1 + n2 - 2). The effect size has a Cauchy(0, r) prior, written as a normal with an
    inverse-chi-square(1) mixing variance g; r = sqrt(2)/2 is the usual "medium" default (r = 1 in the
    paper). BF10 > 1 favours an effect, < 1 the null.
    """
    n = n1 if n2 is None else n1 * n2 / (n1 + n2)
    df = n1 - 1 if n2 is None else n1 + n2 - 2

    def log_lik(g):  # log of the t likelihood under delta ~ N(0, g r^2), up to the constant of the null
        s = 1.0 + n * g * r * r
        return -0.5 * np.log(s) - (df + 1) / 2 * np.log1p(t * t / (s * df))

    def integrand(g):
        if g <= 0:
            return 0.0
        log_prior = -0.5 * np.log(2 * np.pi) - 1.5 * np.log(g) - 1.0 / (2 * g)
        return np.exp(log_lik(g) + log_prior + (df + 1) / 2 * np.log1p(t * t / df))

    value = integrate.quad(integrand, 0, 1)[0] + integrate.quad(integrand, 1, np.inf)[0]
    return float(value)


def compare_groups(*groups, paired=False, alternative="greater"):
    """The papers' test battery on two (or more) groups of scores, as a dict of floats.

    All groups: one-way ANOVA and Kruskal-Wallis. First vs second group: Student t-test (paired or
    independent), Mann-Whitney U in the `alternative` direction (first > second by default), Cohen's d and
    the JZS Bayes factor; paired adds the Wilcoxon signed-rank test.
    """
    a, b = (np.asarray(g, np.float64) for g in groups[:2])
    out = {"means": [float(np.mean(g)) for g in groups], "n": [len(g) for g in groups]}
    f = stats.f_oneway(*groups)
    h = stats.kruskal(*groups)
    out["anova"] = {"F": float(f.statistic), "p": float(f.pvalue)}
    out["kruskal"] = {"H": float(h.statistic), "p": float(h.pvalue)}
    u = stats.mannwhitneyu(a, b, alternative=alternative)
    out["mann_whitney"] = {"U": float(u.statistic), "p": float(u.pvalue), "alternative": alternative}
    t = t_test(a, b, paired=paired)
    if paired:
        w = wilcoxon(a, b, alternative=alternative)
        out["wilcoxon"] = {"W": w.w, "p": w.p, "alternative": alternative}
        bf = jzs_bayes_factor(t.t, len(a))
    else:
        bf = jzs_bayes_factor(t.t, len(a), len(b))
    out["t_test"] = {"t": t.t, "df": t.df, "p": t.p, "paired": paired}
    out["cohens_d"] = cohens_d(a, b, paired=paired)
    out["bf10"] = bf
    return out


# --- reports ---------------------------------------------------------------------------------------

def analyse(trials, annotations, categories, size=(32, 32), n_splits=N_SPLITS, seed=0, sigma=0.0, pairs=None,
            n_sd=2.0, targets=None):
    """Table 1, Table 2 and Fig. 1 of the W-MEMGAN paper from raw trials and boxes.

    `categories` maps image_id -> category name. Consistency is the per-image true-map split-half
    correlation averaged over a category's images; d' pools each category's counts. `pairs`, the
    (high_id, low_id) images that share z, adds the experiment's tests: "memory_experiment" (every other
    image is a foil) and "pair_analysis", with outliers beyond `n_sd` SDs excluded where they describe.
    `targets`, image_id -> the target VMS map the image was generated from, adds "target_agreement"
    (`target_agreement` against the participants' true maps, drawn at each target's own size, smoothed by
    `sigma`). Every argument is checked before any work.
    """
    size, sigma, n_sd = grid_size(size), smoothing(sigma), _n_sd(n_sd)
    n_splits = whole(n_splits, "n_splits", 1, "random split halves")
    columns(trials, TRIAL_COLUMNS, "trials")
    columns(annotations, COLUMNS, "annotations")
    if targets is not None:
        targets = _target_maps(targets, trials)
    per_image = rates(trials)
    per_cat = rates(trials, categories)
    _labels(categories, annotations["image_id"], "categories")
    per_image_cons = map_consistency(annotations, size, n_splits, seed, sigma=sigma)
    image_d = dict(zip(per_image["group"].tolist(), per_image["dprime"]))
    names = per_cat["group"].tolist()
    table1, figure1 = {}, {}
    for c in names:
        ids = [i for i in per_image_cons if categories[i] == c and np.isfinite(per_image_cons[i])]
        cons = np.array([per_image_cons[i] for i in ids])
        table1[c] = float(cons.mean()) if len(cons) else float("nan")
        d = np.array([image_d.get(i, np.nan) for i in ids])
        ok = np.isfinite(d)
        figure1[c] = (float(stats.pearsonr(cons[ok], d[ok]).statistic)
                      if ok.sum() > 2 and np.ptp(cons[ok]) > 0 and np.ptp(d[ok]) > 0 else float("nan"))
    table2 = {c: {k: float(per_cat[k][j]) for k in ("hit_rate", "fa_rate", "dprime", "hits", "n_signal",
                                                      "false_alarms", "n_noise")}
              for j, c in enumerate(names)}
    x = np.array([table1[c] for c in names])
    y = np.array([table2[c]["dprime"] for c in names])
    ok = np.isfinite(x)
    rho = stats.spearmanr(x[ok], y[ok]) if ok.sum() > 2 else None
    return {
        "table1_consistency": table1,
        "table2_dprime": table2,
        "consistency_vs_dprime": {"rho": float(rho.statistic) if rho else float("nan"),
                                  "p": float(rho.pvalue) if rho else float("nan")},
        "figure1_image_correlation": figure1,
        "hit_rate_consistency": _mean_of_finite(hit_rate_consistency(trials, n_splits, seed)),
        "per_image": {"consistency": per_image_cons, "dprime": image_d},
        "settings": {"size": list(size), "n_splits": n_splits, "seed": seed, "sigma": sigma, "n_sd": n_sd},
        **({} if targets is None else {
            "target_agreement": target_agreement(targets, participant_maps(annotations, targets, sigma))}),
        **({} if pairs is None else {
            "memory_experiment": memory_experiment(trials, pair_kinds(pairs, trials), annotations=annotations,
                                                   size=size, n_sd=n_sd),
            "pair_analysis": pair_analysis(trials, pairs, annotations, size, n_sd)}),
    }


def _mean_of_finite(values):
    values = np.asarray(values, np.float64)
    return float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else float("nan")


def _n_sd(n_sd):
    """The outlier cut in SDs: None (keep all) or a finite number > 0; NaN would drop every value."""
    if n_sd is not None and not (isinstance(n_sd, (int, float, np.number)) and np.isfinite(n_sd) and n_sd > 0):
        raise ValueError(f"n_sd must be a finite number > 0 (outlier cut in SDs) or None (keep all); got {n_sd!r}")
    return n_sd


# --- target maps against participants' maps --------------------------------------------------------

def target_agreement(targets, maps, channel=0):
    """The paper's comparison of the target VMS maps the images were generated from with the maps
    participants drew on them (W-MEMGAN paper: Pearson 0.49, Spearman 0.5, mean MSE 58).

    `targets` and `maps` are dicts image_id -> map in [0, 1], (H, W) or (H, W, C), read at `channel` when
    they have channels (0 = true map); every target needs a participants' map of its height and width.
    Per image, over the pixels: Pearson (`corr2`), Spearman, and the MSE. NaN correlations where a map is
    constant (nobody drew on the image, or a flat target).
    MSE is on the 0-255 scale, 255^2 x the MSE of the [0, 1] maps, as in the papers' MSE tables: the paper's
    58 cannot be a [0, 1] MSE (at most 1), and on 0-255 it is an RMS error of 7.6 levels (0.03 of the range).
    "overall": the mean over images of each value, the paper's "population average" (correlations over
    the images where they are defined, "num_correlated"), with a one-sample t-test of the per-image
    correlations against 0 (images as the units: our choice, the paper gives only p < 0.05). "pooled":
    Pearson and Spearman over all pixels of all images at once, with scipy's p-values (pixels are not
    independent, so these p-values are optimistic).
    """
    targets = _maps_in_range(targets, "targets", channel)
    maps = _maps_in_range(maps, "maps", channel)
    missing = [i for i in targets if i not in maps]
    if missing:
        raise ValueError(f"maps has no participants' map for target image_id {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}")
    wrong = [(i, targets[i].shape, maps[i].shape) for i in targets if targets[i].shape != maps[i].shape]
    if wrong:
        raise ValueError("targets and maps must have the same height and width per image; got (image_id, "
                         f"target, participants') {wrong[:3]}")
    per_image, t_all, m_all = {}, [], []
    for i, t in targets.items():
        m = maps[i]
        t_all.append(t.ravel())
        m_all.append(m.ravel())
        flat = np.ptp(t) == 0 or np.ptp(m) == 0
        per_image[i] = {"pearson": corr2(t, m),
                        "spearman": float("nan") if flat else float(stats.spearmanr(t.ravel(), m.ravel()).statistic),
                        "mse_255": float(np.mean(np.square(255.0 * (t - m))))}
    table = {k: np.array([v[k] for v in per_image.values()]) for k in ("pearson", "spearman", "mse_255")}
    overall = {"num_images": len(per_image), "mse_255": float(table["mse_255"].mean())}
    for k in ("pearson", "spearman"):
        r = table[k][np.isfinite(table[k])]
        overall[k] = float(r.mean()) if len(r) else float("nan")
        overall[f"{k}_p"] = float(stats.ttest_1samp(r, 0.0).pvalue) if len(r) >= 2 and np.ptp(r) > 0 else float("nan")
        overall[f"num_correlated_{k}"] = int(len(r))
    t_all, m_all = np.concatenate(t_all), np.concatenate(m_all)
    pooled = {}
    for k, test in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
        ok = len(t_all) > 2 and np.ptp(t_all) > 0 and np.ptp(m_all) > 0
        result = test(t_all, m_all) if ok else None
        pooled[k] = float(result.statistic) if ok else float("nan")
        pooled[f"{k}_p"] = float(result.pvalue) if ok else float("nan")
    return {"per_image": per_image, "overall": overall, "pooled": pooled}


def participant_maps(annotations, targets, sigma=0.0, channel=0):
    """Each target image's participants' map (`channel` 0 = true) at the target's own height and width,
    scaled to peak 1 (`vms_maps(..., normalise="channel")`; our choice, the paper does not say how it
    scaled them), as `target_agreement` takes them. An image nobody drew on gets an all-zero map."""
    out = {}
    for i, t in targets.items():
        t = np.asarray(t)
        out[i] = vms_maps(annotations, t.shape[:2], [i], sigma=sigma, normalise="channel")[i][..., channel]
    return out


def _maps_in_range(maps, name, channel):
    """{image_id: (H, W) float64 map} from a dict of (H, W) / (H, W, C) maps in [0, 1], read at `channel`."""
    if not isinstance(maps, dict) or not maps:
        raise ValueError(f"{name} must be a non-empty dict image_id -> map in [0, 1]")
    out = {}
    for i, m in maps.items():
        m = np.asarray(m)
        if m.dtype.kind not in "fiub" or m.ndim not in (2, 3) or min(m.shape[:2]) < 1:
            raise ValueError(f"{name}[{i!r}]: expected a numeric (H, W) or (H, W, C) map; got dtype {m.dtype}, "
                             f"shape {m.shape}")
        if m.ndim == 3:
            if not 0 <= channel < m.shape[-1]:
                raise ValueError(f"{name}[{i!r}] has {m.shape[-1]} channel(s); channel {channel} asked for")
            m = m[..., channel]
        m = m.astype(np.float64)
        if not (np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1):
            raise ValueError(f"{name}[{i!r}]: map values must be finite and in [0, 1]; got "
                             f"{'non-finite values' if not np.isfinite(m).all() else f'[{m.min():g}, {m.max():g}]'}")
        out[i.item() if isinstance(i, np.generic) else i] = m
    return out


def _target_maps(targets, trials):
    """analyse's `targets`, checked before any work: maps in [0, 1] for images that trials show."""
    checked = _maps_in_range(targets, "targets", 0)
    shown = set(np.asarray(trials["image_id"]).tolist())
    unseen = sorted((i for i in checked if i not in shown), key=str)
    if unseen:
        raise ValueError(f"targets name image_id {unseen[:5]}{' ...' if len(unseen) > 5 else ''} that no trial "
                         "shows (ids are matched exactly: '7', '007' and 7 differ)")
    return targets


def memory_experiment(trials, kinds, high="high", low="low", foil="foil", annotations=None, size=(32, 32),
                      n_sd=2.0):
    """Tests of the W-MEMGAN human experiment: are high-memorability images remembered better?

    `kinds` maps image_id -> "high" / "low" / "foil". Only high and low images are compared: the foils are
    unconstrained images of another category, there to keep the task from being too hard, not a level of
    memorability. Per participant, hit rates on high and low repeats are compared paired (t, Wilcoxon, d,
    BF); per image, the hit rates and false-alarm rates of high vs low images go through `compare_groups`,
    and so do, given the annotations, their true and false VMS intensities (`vms_intensity`) after excluding
    images beyond `n_sd` SDs of their kind's mean, as the paper does for VMS intensity. A test with fewer than
    two values in a group is None. Rates and d' are reported for every kind, foils included.
    """
    n_sd = _n_sd(n_sd)
    kind = _labels(kinds, trials["image_id"], "kinds")
    people = np.unique(trials["participant"])
    per_person = {}
    for k in (high, low):
        sel = {c: np.asarray(v)[kind == k] for c, v in trials.items()}
        per_person[k] = _per_participant_hit_rate(sel, people)
    ok = np.isfinite(per_person[high]) & np.isfinite(per_person[low])
    r = rates(trials)
    image_kind = np.array([kinds[i] for i in r["group"].tolist()])

    def high_vs_low(values, keep=True):
        groups = [values[(image_kind == k) & np.isfinite(values) & keep] for k in (high, low)]
        return compare_groups(*groups) if min(len(g) for g in groups) >= 2 else None

    dk = rates(trials, kinds)
    out = {
        "per_participant": compare_groups(per_person[high][ok], per_person[low][ok], paired=True)
        if ok.sum() >= 2 else None,
        "per_image": high_vs_low(r["hit_rate"]),
        "per_image_false_alarms": high_vs_low(r["fa_rate"]),
        "dprime": dict(zip(dk["group"].tolist(), dk["dprime"].tolist())),
        "hit_rate": dict(zip(dk["group"].tolist(), dk["hit_rate"].tolist())),
        "fa_rate": dict(zip(dk["group"].tolist(), dk["fa_rate"].tolist())),
    }
    if annotations is not None:
        intensity = vms_intensity(trials, annotations, size)
        for c in ("true", "false"):
            keep = np.ones(len(image_kind), bool)
            for k in (high, low):
                keep[image_kind == k] = within_sd(intensity[c][image_kind == k], n_sd)
            tests = high_vs_low(intensity[c], keep)
            excluded = int(np.sum(np.isin(image_kind, [high, low]) & np.isfinite(intensity[c]) & ~keep))
            out[f"vms_{c}"] = None if tests is None else {**tests, "excluded": excluded}
    return out


def vms_intensity(trials, annotations, size=(32, 32)):
    """Mean intensity of each image's true and false VMS map, the value the paper condenses a map to, as
    {"image_id", "true", "false"} arrays over the images in `trials`.

    A map is the box coverage summed over participants (`vms_maps(..., normalise=None)`), averaged over the
    pixels and divided by the participants who could draw it: those shown the image's repeat for the true
    map (its boxes follow hits), those shown its first showing for the false map (boxes after false alarms).
    So an intensity is the share of the image one viewer marks, on average, comparable between images seen by
    different numbers of people. Our choice: the paper does not say how its maps were scaled. NaN where
    nobody could draw the map.
    """
    r = rates(trials)
    ids = r["group"].tolist()
    maps = vms_maps(annotations, size, ids, normalise=None)
    mean = np.array([maps[i].mean(axis=(0, 1)) for i in ids], np.float64).reshape(-1, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"image_id": r["group"],
                "true": np.where(r["n_signal"] > 0, mean[:, 0] / r["n_signal"], np.nan),
                "false": np.where(r["n_noise"] > 0, mean[:, 1] / r["n_noise"], np.nan)}


def pair_kinds(pairs, trials):
    """image_id -> "high" / "low" for the images of `pairs`, "foil" for every other image in `trials`."""
    high_ids, low_ids = _pair_ids(pairs, trials)
    kinds = {i: "foil" for i in np.unique(trials["image_id"]).tolist()}
    kinds.update({i: "high" for i in high_ids})
    kinds.update({i: "low" for i in low_ids})
    return kinds


def _pair_ids(pairs, trials):
    """(high ids, low ids) of `pairs`, checked: two distinct images per pair, none in two pairs, all shown."""
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError("pairs must be a non-empty list of (high_id, low_id)")
    flat = [i for p in pairs for i in p]
    twice = sorted({i for i in flat if flat.count(i) > 1}, key=str)
    if twice:
        raise ValueError(f"image_id {twice[:5]} appear(s) more than once in pairs; each image belongs to one pair")
    shown = set(np.asarray(trials["image_id"]).tolist())
    missing = sorted({i for i in flat if i not in shown}, key=str)
    if missing:
        raise ValueError(f"pairs name image_id {missing[:5]}{' ...' if len(missing) > 5 else ''} that no trial "
                         "shows (ids are matched exactly: '7', '007' and 7 differ)")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def paired_tests(high, low):
    """`vms_zoo.stats.paired_comparison` of high over low plus the paired JZS Bayes factor ("bf10",
    r = sqrt(2)/2; infinite when every difference is the same non-zero value); None below 2 pairs."""
    high, low = np.asarray(high, np.float64), np.asarray(low, np.float64)
    if len(high) < 2:
        return None
    out = paired_comparison(high, low)
    out["bf10"] = jzs_bayes_factor(out["t_paired"], len(high)) if np.isfinite(out["t_paired"]) else float("inf")
    return out


def pair_analysis(trials, pairs, annotations=None, size=(32, 32), n_sd=2.0):
    """The W-MEMGAN paper's image-pair analysis: high vs low memorability images generated from one z.

    `pairs` lists (high_id, low_id), as `design_streams` takes them (`streams.stream_pairs` reads them back).
    Per pair: paired t-test and Wilcoxon signed-rank test (with d_z and BF10, `paired_tests`) on the images'
    hit rates and, given the annotations, on their true and false VMS intensities (`vms_intensity`).
    Per participant ("per_participant_hit_rate"): the same on each participant's hit rate on the high and on
    the low images they saw; no participant sees both images of a pair, so this pairs the two conditions.

    Outliers (`vms_zoo.stats.within_sd`, `n_sd` = 2 as in the paper; None keeps all): for each measure, an
    image whose value lies beyond `n_sd` SDs of the mean of its kind (high or low) takes its pair out of that
    measure's test, as does an image without a value (never repeated); a participant whose high or low hit
    rate lies beyond `n_sd` SDs of the participants' mean for that kind is left out of the per-participant
    test. The paper states the rule for VMS intensities; using it for hit rates and participants is our choice.
    Each entry is `paired_tests`' dict (None below 2 pairs) with "excluded" (pairs or participants left out).
    """
    n_sd = _n_sd(n_sd)
    high_ids, low_ids = _pair_ids(pairs, trials)
    r = rates(trials)
    measures = {"hit_rate": dict(zip(r["group"].tolist(), r["hit_rate"]))}
    if annotations is not None:
        intensity = vms_intensity(trials, annotations, size)
        for c in ("true", "false"):
            measures[f"vms_{c}"] = dict(zip(intensity["image_id"].tolist(), intensity[c]))
    ids = np.asarray(trials["image_id"]).tolist()
    people = np.unique(trials["participant"])
    per_person = []
    for members in (set(high_ids), set(low_ids)):
        mask = np.array([i in members for i in ids])
        per_person.append(_per_participant_hit_rate({c: np.asarray(v)[mask] for c, v in trials.items()}, people))
    values = {name: tuple(np.array([v[i] for i in group], np.float64) for group in (high_ids, low_ids))
              for name, v in measures.items()}
    values["per_participant_hit_rate"] = tuple(per_person)
    out = {"num_pairs": len(high_ids), "n_sd": n_sd}
    for name, (h, lo) in values.items():
        keep = within_sd(h, n_sd) & within_sd(lo, n_sd)
        tests = paired_tests(h[keep], lo[keep])
        out[name] = {**(tests or {"num_pairs": int(keep.sum())}), "excluded": int((~keep).sum())}
    return out


def _per_participant_hit_rate(trials, people):
    r = rates({**trials, "image_id": trials["participant"]})
    lookup = dict(zip(r["group"].tolist(), r["hit_rate"]))
    return np.array([lookup.get(p, np.nan) for p in people.tolist()])


def write_report(report, out_dir):
    """Save `report` as report.json plus PNG bar charts of Table 1, Table 2 and Fig. 1 (PIL only), and of the
    image pairs' mean differences when the report has a pair analysis."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2, default=_json_default, allow_nan=True)
    charts = {
        "table1_consistency.png": ("VMS consistency per category", report["table1_consistency"]),
        "table2_dprime.png": ("d' per category", {k: v["dprime"] for k, v in report["table2_dprime"].items()}),
        "figure1_image_correlation.png": ("corr(consistency, d') across images",
                                          report["figure1_image_correlation"]),
    }
    if report.get("pair_analysis"):
        charts["pair_differences.png"] = ("mean difference high - low, image pairs", {
            name: entry["mean_difference"] for name, entry in report["pair_analysis"].items()
            if isinstance(entry, dict) and "mean_difference" in entry})
    paths = []
    for name, (title, values) in charts.items():
        paths.append(os.path.join(out_dir, name))
        bar_chart(values, title).save(paths[-1])
    return paths


def bar_chart(values, title, width=640, height=360):
    """A labelled bar chart of {label: value} drawn with PIL (matplotlib is not a dependency)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 8), title, fill="black")
    labels = list(values)
    v = np.nan_to_num(np.array([values[k] for k in labels], np.float64))
    top, bottom, left = 30, height - 60, 40
    lo, hi = min(0.0, v.min(initial=0)), max(0.0, v.max(initial=0))
    span = (hi - lo) or 1.0
    y = lambda val: bottom - (val - lo) / span * (bottom - top)  # noqa: E731
    draw.line([(left, y(0)), (width - 10, y(0))], fill="black")
    step = (width - left - 10) / max(len(labels), 1)
    for j, (label, val) in enumerate(zip(labels, v)):
        x0 = left + j * step + step * 0.15
        draw.rectangle([x0, min(y(0), y(val)), x0 + step * 0.7, max(y(0), y(val))], fill=(60, 140, 60))
        draw.text((x0, bottom + 6 + 12 * (j % 3)), str(label)[:14], fill="black")
        draw.text((x0, min(y(0), y(val)) - 12), f"{val:.2f}", fill="black")
    return img


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"Not JSON serialisable: {type(obj).__name__}")
