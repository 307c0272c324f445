"""The settings of a training run: a preset's own with overrides and data applied (`resolve`), checked before
anything is built or written, and shrunk for a smoke run by its family's smoke rule (`smoke_settings`)."""

import copy
import math

from vms_zoo import registry as families
from vms_zoo.presets import check_config, get_preset, model_class

# Smoke runs: layers this wide, this many steps of this many images; the GANs' real images and pairs are as many
# as the images of those steps (one batch shape for every scoring).
SMOKE_WIDTH, SMOKE_STEPS, SMOKE_BATCH = 8, 2, 2
SMOKE_IMAGES = SMOKE_STEPS * SMOKE_BATCH
SMOKE_SCORER = "vms_vae_synthetic_scorer_32"  # shipped: grades the smoke run of a preset that names no scorer
# Training settings every preset takes without listing them: name -> default. dtype_policy: Keras' "float32",
# "mixed_bfloat16" or "mixed_float16" (the GANs then scale their losses), set while the run builds and trains.
OPTIONAL_TRAINING = {"dtype_policy": "float32"}
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def resolve(preset, overrides=None, data=None, smoke=False):
    """{"preset", "class", "config", "training", "paper"} for a preset name with `overrides` and `data` applied,
    and shrunk by `smoke_settings` (which adds "smoke": True) for a smoke run."""
    spec = copy.deepcopy(get_preset(preset))
    if spec["training"] is None:
        raise ValueError(f"Preset {preset!r} is pretrained by its authors and does not train in vms_zoo "
                         f"({spec['metadata']['recipe']}).")
    resolved = {"preset": preset, "class": spec["class"], "config": spec["config"], "training": spec["training"],
                "paper": spec["metadata"]["paper"]}
    for key, value in (overrides or {}).items():
        section, _, name = key.rpartition(".")
        if not section and name in OPTIONAL_TRAINING and name not in resolved["config"]:
            section = "training"
        if not section:
            places = [s for s in ("training", "config") if name in resolved[s]]
            if len(places) != 1:
                where = "both the config and the training settings" if places else "neither the config nor the training settings"
                raise ValueError(f"Override {key!r} is in {where} of {preset}; write config.{name} or training.{name}.")
            section = places[0]
        if section not in ("config", "training"):
            raise ValueError(f"Override {key!r}: the section must be 'config' or 'training'.")
        if name not in resolved[section] and section == "training" and name not in OPTIONAL_TRAINING:
            raise ValueError(f"Unknown training setting {name!r} for {preset}; known: {', '.join(sorted(resolved['training']))}.")
        resolved[section][name] = value
    if data is not None:
        resolved["training"]["data"] = data
    check_settings(resolved, get_preset(preset))  # the registry's own values: what overrides are checked against
    return smoke_settings(resolved) if smoke else resolved


MAX_SEED = 2**31 - 1
# What each training setting may hold; every preset's settings are checked against this before a run starts.
SETTING_KINDS = {
    "a whole number >= 1": ("epochs", "batch_size", "n_critic", "num_images", "num_scenes", "num_train", "num_test",
                            "pairs", "sample_every", "checkpoint_every"),
    "a whole number >= 1 or null": ("steps_per_epoch", "max_steps"),
    "a whole number from 0 to 2**31 - 1": ("seed",),
    "a positive number": ("learning_rate",),
    "a positive number or null": ("max_minutes",),
    "a number >= 0": ("gp_weight", "drift_weight"),
    "a number in [0, 1]": ("low", "high", "threshold_quantile"),
    "a number or null": ("threshold",),
    "two increasing numbers in [0, 1]": ("quantiles",),
    "true or false": ("augment", "cosine_decay", "score_scale"),
    "non-empty text": ("data",),
    "non-empty text or null": ("predictor", "scorer", "category"),
    "'fresh' or 'reuse'": ("real_batches",),
    "'paper' or 'authors_code'": ("schedule",),
    "'float32', 'mixed_bfloat16' or 'mixed_float16'": ("dtype_policy",),
    "a whole number >= 1, or a list of them (one per growth stage)": ("batch_sizes",),
    "a whole number >= 0, or a list of them (one per growth stage)": ("fade_images", "stabilise_images"),
}
SETTING_KIND = {key: kind for kind, keys in SETTING_KINDS.items() for key in keys}


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v, low=0):
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


_VALID = {
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
    "non-empty text": lambda v: isinstance(v, str) and v != "",
    "non-empty text or null": lambda v: v is None or (isinstance(v, str) and v != ""),
    "'fresh' or 'reuse'": lambda v: v in ("fresh", "reuse"),
    "'paper' or 'authors_code'": lambda v: v in ("paper", "authors_code"),
    "'float32', 'mixed_bfloat16' or 'mixed_float16'": lambda v: v in DTYPE_POLICIES,
    "a whole number >= 1, or a list of them (one per growth stage)":
        lambda v: _whole(v, 1) or (isinstance(v, list) and len(v) > 0 and all(_whole(x, 1) for x in v)),
    "a whole number >= 0, or a list of them (one per growth stage)":
        lambda v: _whole(v) or (isinstance(v, list) and len(v) > 0 and all(_whole(x) for x in v)),
}


def check_settings(resolved, spec):
    """Refuse, before anything is built or written, a training setting of the wrong type or range, and a config
    that `presets.check_config` refuses (unknown keys, wrong types, non-finite numbers, sizes): one line naming it."""
    for key, value in resolved["training"].items():
        kind = SETTING_KIND.get(key)
        if kind is None:
            raise ValueError(f"Training setting {key!r} of {resolved['preset']} has no known kind.")
        if not _VALID[kind](_plain(value)):
            raise ValueError(f"Training setting {key}={value!r} must be {kind} (the preset's is "
                             f"{spec['training'].get(key)!r}).")
    growth = [key for key in ("batch_sizes", "fade_images", "stabilise_images")
              if isinstance(resolved["training"].get(key), list)]
    if len({len(resolved["training"][key]) for key in growth}) > 1:
        raise ValueError(f"Training settings {', '.join(growth)} must have one entry per growth stage each; got "
                         + ", ".join(f"{len(resolved['training'][key])}" for key in growth) + " entries.")
    check_config(model_class(resolved["class"]), resolved["config"], f"The config of {resolved['preset']}")


def _plain(value):
    """Tuples as lists: settings compare as JSON stores them."""
    return list(value) if isinstance(value, tuple) else value


def smallest_size(class_name):
    """The smallest image side each architecture takes (its family's)."""
    family = families.family(class_name)
    if family.smallest_size is None:
        raise ValueError(f"The {family.name} family states no smallest image size.")
    return family.smallest_size


def smoke_settings(resolved):
    """`resolved` (see `resolve`) shrunk for a smoke run, for any preset: the same class, data, switches and
    code path (encoder kind, pixel norm, minibatch stddev, condition, real-batch mode, the growth phases),
    at the smallest image side the architecture takes, with SMOKE_WIDTH-wide layers and latents, SMOKE_STEPS
    steps of SMOKE_BATCH images, SMOKE_IMAGES real images and pairs: the family's `smoke_rule` (in
    vms_zoo/models/<family>/presets.py) says how, image_size included (the family's smallest, or for MEMGAN every
    stage up to the preset's own). A smoke run downloads nothing. "smoke": True is part of the settings, so a smoke
    run and a full run never share a run folder."""
    smoke = {**copy.deepcopy(resolved), "smoke": True}
    family = families.family(smoke["class"])
    if family.smoke_rule is None:
        raise ValueError(f"Preset {smoke['preset']!r} ({smoke['class']}) has no smoke run: the {family.name} "
                         "family states no smoke rule.")
    family.smoke_rule(smoke["config"], smoke["training"], SMOKE_WIDTH, SMOKE_STEPS, SMOKE_BATCH)
    return smoke


def check_trainable(preset):
    """A one-line error, before anything is written, for a preset whose family has no trainer (e.g. third-party
    scorers, whose weights come from their owners' packages)."""
    family = families.family(get_preset(preset)["class"])
    if family.trainer is None:
        raise ValueError(f"Preset {preset!r} cannot be trained: {family.model_class.__name__} (the {family.name} "
                         "family) has no training recipe here; use it as it is, e.g. vms_zoo.load"
                         f"({preset!r}).")
