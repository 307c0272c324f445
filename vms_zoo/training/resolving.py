"""The settings of a training run: a preset's own with overrides and data applied (`resolve`), checked before
anything is built or written, and shrunk for a smoke run by its family's smoke rule (`smoke_settings`)."""

import copy

from vms_zoo import registry as families
from vms_zoo import settings
from vms_zoo.presets import check_config, get_preset, model_class
from vms_zoo.settings import MAX_SEED  # noqa: F401  (the bound of every seed, here with the other settings)

# Smoke runs: layers this wide, this many steps of this many images; the GANs' real images and pairs are as many
# as the images of those steps (one batch shape for every scoring).
SMOKE_WIDTH, SMOKE_STEPS, SMOKE_BATCH = 8, 2, 2
SMOKE_IMAGES = SMOKE_STEPS * SMOKE_BATCH
SMOKE_SCORER = "vms_vae_synthetic_scorer_32"  # shipped: grades the smoke run of a preset that names no scorer
# Training settings every preset takes without listing them: name -> default (`vms_zoo.settings.OPTIONAL`).
OPTIONAL_TRAINING = {name: default for name, (_, default) in settings.OPTIONAL.items()}


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


def setting_kinds(class_name):
    """{setting: kind} for a model class' training: the dataclass its family registered (`Family.settings`; a
    family without one, e.g. one a test registers, is checked against every registered family's kinds), and the
    optional ones."""
    own = families.family(class_name).settings
    if own is None:
        return settings.setting_kinds([f.settings for f in families.registered().values() if f.settings])
    return settings.setting_kinds([own])


def check_settings(resolved, spec):
    """Refuse, before anything is built or written, a training setting of the wrong type or range, and a config
    that `presets.check_config` refuses (unknown keys, wrong types, non-finite numbers, sizes): one line naming it."""
    kinds = setting_kinds(resolved["class"])
    for key, value in resolved["training"].items():
        kind = kinds.get(key)
        if kind is None:
            raise ValueError(f"Training setting {key!r} of {resolved['preset']} has no known kind.")
        if not settings.KINDS[kind](_plain(value)):
            raise ValueError(f"Training setting {key}={value!r} must be {kind} (the preset's is "
                             f"{spec['training'].get(key)!r}).")
    own = families.family(resolved["class"]).settings
    problem = own.check_together(resolved["training"]) if own is not None else None
    if problem:
        raise ValueError(problem)
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
