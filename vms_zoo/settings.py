"""Typed training settings: one dataclass per model family's "training" entry, and one for the GANs' pair
evaluation. Each field has its default (written only here) and its kind, which `vms_zoo.training.resolve` checks
before a run builds or writes anything.

A preset's "training" entry, and a run's run.json, hold the plain dict of `as_dict`: fields left `OMIT` (a
setting only some presets of a family carry, e.g. `num_scenes` on synthetic data) are not in it. This module
imports nothing of vms_zoo, so the families' presets can use it.
"""

import dataclasses
import math


class _Omit:
    def __repr__(self):
        return "OMIT"


OMIT = _Omit()  # a field default meaning "not in this preset's settings"
MAX_SEED = 2**31 - 1


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v, low=0):
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _text(v):
    return isinstance(v, str) and v != ""


# What a setting may hold: its kind (the words of the error message) -> the check.
KINDS = {
    "a whole number >= 1": lambda v: _whole(v, 1),
    "a whole number >= 1 or null": lambda v: v is None or _whole(v, 1),
    "a whole number from 0 to 2**31 - 1": lambda v: _whole(v) and v <= MAX_SEED,
    "a positive number": lambda v: _number(v) and v > 0,
    "a positive number or null": lambda v: v is None or (_number(v) and v > 0),
    "a number >= 0": lambda v: _number(v) and v >= 0,
    "a number in [0, 1]": lambda v: _number(v) and 0 <= v <= 1,
    "a number or null": lambda v: v is None or _number(v),
    "two increasing numbers in [0, 1]": lambda v: (isinstance(v, list) and len(v) == 2
                                                   and all(_number(x) and 0 <= x <= 1 for x in v) and v[0] < v[1]),
    "true or false": lambda v: isinstance(v, bool),
    "non-empty text": _text,
    "non-empty text or null": lambda v: v is None or _text(v),
    "'fresh' or 'reuse'": lambda v: v in ("fresh", "reuse"),
    "'paper' or 'authors_code'": lambda v: v in ("paper", "authors_code"),
    "'float32', 'mixed_bfloat16' or 'mixed_float16'": lambda v: v in ("float32", "mixed_bfloat16", "mixed_float16"),
    "a whole number >= 1, or a list of them (one per growth stage)":
        lambda v: _whole(v, 1) or (isinstance(v, list) and len(v) > 0 and all(_whole(x, 1) for x in v)),
    "a whole number >= 0, or a list of them (one per growth stage)":
        lambda v: _whole(v) or (isinstance(v, list) and len(v) > 0 and all(_whole(x) for x in v)),
}
_REQUIRED = dataclasses.MISSING


def setting(kind, default=_REQUIRED):
    """A settings field of `kind` (a key of KINDS); lists are copied for each instance."""
    if kind not in KINDS:
        raise ValueError(f"Unknown setting kind {kind!r}.")
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata={"kind": kind})
    return dataclasses.field(default=default, metadata={"kind": kind})


@dataclasses.dataclass(kw_only=True)
class Settings:
    """The fields every family's training takes."""

    data: str = setting("non-empty text")
    learning_rate: float = setting("a positive number")
    seed: int = setting("a whole number from 0 to 2**31 - 1", 0)

    def as_dict(self):
        """The plain dict a preset's "training" entry and run.json hold (`OMIT` fields left out)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not OMIT}

    @classmethod
    def kinds(cls):
        """{field: kind} of every field."""
        return {f.name: f.metadata["kind"] for f in dataclasses.fields(cls)}

    @classmethod
    def check_together(cls, training):
        """What is wrong with settings that are each of their kind but do not fit together (one line), or None."""
        return None


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


@dataclasses.dataclass(kw_only=True)
class PredictorTraining(Settings):
    """A VMS predictor's training: model.fit with Adam, an optional cosine decay and augmentation."""

    epochs: int = setting("a whole number >= 1")
    batch_size: int = setting("a whole number >= 1", 32)
    steps_per_epoch: int | None = setting("a whole number >= 1 or null", None)
    cosine_decay: bool = setting("true or false", False)
    augment: bool = setting("true or false", False)
    num_train: int = setting("a whole number >= 1", OMIT)  # synthetic scenes only
    num_test: int = setting("a whole number >= 1", OMIT)


@dataclasses.dataclass(kw_only=True)
class PairEvaluation:
    """How a trained GAN is graded: `pairs` low / high-target pairs scored by the independent scorer, split at
    `threshold` (None: at `threshold_quantile` of the scorer's scores of the real images)."""

    pairs: int = setting("a whole number >= 1", 1000)
    threshold: float | None = setting("a number or null", None)
    threshold_quantile: float = setting("a number in [0, 1]", 0.5)


@dataclasses.dataclass(kw_only=True)
class GANTraining(Settings, PairEvaluation):
    """What W-MEMGAN and MEMGAN training share: the real images, the frozen predictors, the WGAN-GP losses."""

    category: str | None = setting("non-empty text or null", "kitchen")
    predictor: str | None = setting("non-empty text or null", None)
    scorer: str | None = setting("non-empty text or null", None)
    n_critic: int = setting("a whole number >= 1", 1)
    gp_weight: float = setting("a number >= 0", 10.0)
    num_images: int = setting("a whole number >= 1", OMIT)  # real-image datasets
    num_scenes: int = setting("a whole number >= 1", OMIT)  # synthetic scenes

    ADAM = {}  # Adam's (beta_1, beta_2, epsilon) for both networks: the family's

    @classmethod
    def adam(cls, training):
        """Keyword arguments of keras.optimizers.Adam for both networks of a run with these settings."""
        return {"learning_rate": training["learning_rate"], **cls.ADAM}


@dataclasses.dataclass(kw_only=True)
class WMEMGANTraining(GANTraining):
    """W-MEMGAN's training: WGAN-GP's Adam(learning_rate, 0, 0.9), epochs over the real images, with each
    critic update on a fresh real batch ("fresh") or all updates of a step on one ("reuse")."""

    epochs: int = setting("a whole number >= 1")
    batch_size: int = setting("a whole number >= 1", 64)
    real_batches: str = setting("'fresh' or 'reuse'", "fresh")
    score_scale: bool = setting("true or false", True)
    quantiles: list = setting("two increasing numbers in [0, 1]", [0.05, 0.95])
    sample_every: int = setting("a whole number >= 1", 5)
    max_steps: int | None = setting("a whole number >= 1 or null", None)
    max_minutes: float | None = setting("a positive number or null", None)

    ADAM = {"beta_1": 0.0, "beta_2": 0.9}

    @staticmethod
    def real_batches_of(training):
        """The real-batch mode of a W-MEMGAN training entry (the default where an entry has none)."""
        return (training or {}).get("real_batches", WMEMGANTraining.real_batches)


@dataclasses.dataclass(kw_only=True)
class MEMGANTraining(GANTraining):
    """MEMGAN's training: progressive growing counted in images, Adam(learning_rate, 0, 0.99, 1e-8)."""

    fade_images: list = setting("a whole number >= 0, or a list of them (one per growth stage)")
    stabilise_images: list = setting("a whole number >= 0, or a list of them (one per growth stage)")
    batch_sizes: list = setting("a whole number >= 1, or a list of them (one per growth stage)")
    drift_weight: float = setting("a number >= 0", 0.001)
    low: float = setting("a number in [0, 1]", 0.1)
    high: float = setting("a number in [0, 1]", 0.9)
    checkpoint_every: int = setting("a whole number >= 1", 500)
    schedule: str = setting("'paper' or 'authors_code'", OMIT)

    ADAM = {"beta_1": 0.0, "beta_2": 0.99, "epsilon": 1e-8}

    @classmethod
    def check_together(cls, training):
        """The growth settings given as lists must have one entry per stage each."""
        growth = [key for key in ("batch_sizes", "fade_images", "stabilise_images")
                  if isinstance(training.get(key), list)]
        if len({len(training[key]) for key in growth}) > 1:
            return (f"Training settings {', '.join(growth)} must have one entry per growth stage each; got "
                    + ", ".join(f"{len(training[key])}" for key in growth) + " entries.")
        return None


# Settings any preset takes without listing them: name -> (kind, default). dtype_policy: Keras' "float32",
# "mixed_bfloat16" or "mixed_float16" (the GANs then scale their losses), set while the run builds and trains.
OPTIONAL = {"dtype_policy": ("'float32', 'mixed_bfloat16' or 'mixed_float16'", "float32")}


def setting_kinds(families=(PredictorTraining, WMEMGANTraining, MEMGANTraining)):
    """{setting: kind} over the settings dataclasses of `families` and the optional ones."""
    kinds = {name: kind for name, (kind, _) in OPTIONAL.items()}
    for cls in families:
        kinds.update(cls.kinds())
    return kinds
