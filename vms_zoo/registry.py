"""The model families: each `vms_zoo/models/<family>/__init__.py` registers one `Family` record, and everything
that works per family (presets, loading, training, smoke runs, FLOP counts, the tests) looks it up here.

    register(Family("vms_predictor", VMSPredictor, PRESETS, trainer="vms_zoo.training.predictor:train_predictor",
                    smallest_size=32, smoke_rule=smoke_rule, step_flops=step_flops, run_cost=run_cost,
                    test_shrink=shrink_for_tests))

Families are found by importing every package under `vms_zoo/models/` the first time one is looked up, so a new
family is a new folder (docs/extending.md). This module imports no family (nor anything that imports one): the
families import it, so the import graph stays free of circles.
"""

import dataclasses
import difflib
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

MODELS = "vms_zoo.models"

_families = {}  # family name -> Family
_presets = {}  # preset name -> preset entry, of every family (one dict: `presets.registry()` hands it out)
_classes = {}  # model class name -> model class
_discovered = False


@dataclasses.dataclass(frozen=True)
class Longer:
    """How a family's finished run goes on when its training is lengthened.

    setting: what the user raises, as the refusal's hint names it ("training.epochs").
    state_file: what the run kept to go on from, in its folder (weights, a backup, a checkpoint).
    is_longer: is_longer(old, new, config) -> whether training settings `new` differ from `old` only by a longer
        run (every phase already trained as it was).
    """

    setting: str
    state_file: str
    is_longer: Callable


def more_epochs(old, new, config):
    """`Longer.is_longer` of families that train in epochs: more epochs, every other setting as it was."""
    epochs = old.get("epochs"), new.get("epochs")
    return (all(isinstance(e, int) and not isinstance(e, bool) for e in epochs) and epochs[1] > epochs[0]
            and {**old, "epochs": None} == {**new, "epochs": None})


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family. Only `name`, `model_class` and `presets` are required: a family of third-party scorers
    has no trainer, no smoke rule and no FLOP rule.

    trainer: "module:function" of its training function, train(resolved, output, verbose, callbacks) -> record,
        imported when a run starts (importing a family never imports the training code).
    smallest_size: the smallest image side the architecture takes (smoke runs use it).
    smoke_rule: smoke_rule(config, training, width, steps, batch) shrinks a resolved preset's config and training
        entry in place for a smoke run, image_size included (usually to smallest_size; MEMGAN keeps its own and
        grows through every stage): `vms_zoo.training.smoke_settings`.
    step_flops: step_flops(model, batch_size, training, stage, fading, cached) -> FLOPs of one train step;
        `training` is the preset's training entry, or None for a bare model (`vms_zoo.flops.train_step_flops`).
    run_cost: run_cost(model, training, num_images) -> the dict of `vms_zoo.flops.run_cost`.
    test_shrink: test_shrink(config) -> a test-size copy of a preset's config (nested models are shrunk by their
        own family's rule).
    settings: the dataclass of its presets' "training" entries (a `vms_zoo.settings.Settings`): the kind and
        default of every setting, which `vms_zoo.training.resolve` checks.
    longer: how a finished run trains on when only its length rises (a `Longer`); None: such a change is
        refused like any other.
    """

    name: str
    model_class: type
    presets: dict
    trainer: str | None = None
    smallest_size: int | None = None
    smoke_rule: Callable | None = None
    step_flops: Callable | None = None
    run_cost: Callable | None = None
    test_shrink: Callable | None = None
    settings: type | None = None
    longer: "Longer | None" = None

    def train_function(self):
        """The training function named by `trainer`; a one-line error for a family that cannot be trained."""
        if self.trainer is None:
            raise ValueError(f"{self.model_class.__name__} presets cannot be trained: the {self.name} family has no "
                             "training recipe (load them with vms_zoo.load).")
        module, _, function = self.trainer.partition(":")
        return getattr(importlib.import_module(module), function)


def register(family):
    """Add a family: its class and presets become known to load, list_presets, training, smoke runs and FLOPs.

    A family registered again under the same name (a reloaded module) replaces the old record; a class or preset
    name another family has already taken is refused.
    """
    if not isinstance(family, Family):
        raise TypeError(f"register takes a Family, got {type(family).__name__}.")
    class_name = family.model_class.__name__
    wrong = sorted(name for name, preset in family.presets.items() if preset.get("class") != class_name)
    if wrong:
        raise ValueError(f"Family {family.name}: presets {', '.join(wrong)} do not name its class {class_name}.")
    if family.trainer is not None and ":" not in family.trainer:
        raise ValueError(f"Family {family.name}: trainer must be 'module:function', got {family.trainer!r}.")
    others = [f for f in _families.values() if f.name != family.name]
    taken = [f.name for f in others if f.model_class.__name__ == class_name]
    if taken:
        raise ValueError(f"Family {family.name}: the class name {class_name} is taken by the {taken[0]} family.")
    clash = sorted(set(family.presets) & {p for f in others for p in f.presets})
    if clash:
        raise ValueError(f"Family {family.name}: preset names {', '.join(clash)} are taken by another family.")
    unregister(family.name)
    _families[family.name] = family
    _classes[class_name] = family.model_class
    _presets.update(family.presets)


def unregister(name):
    """Remove a family and its presets (a family a test defined); an unknown name is ignored."""
    family = _families.pop(name, None)
    if family is not None:
        _classes.pop(family.model_class.__name__, None)
        for preset in family.presets:
            _presets.pop(preset, None)


def discover():
    """Import every family package under vms_zoo/models/ once (each registers itself on import)."""
    global _discovered
    if _discovered:
        return
    _discovered = True  # first: a lookup made while a family imports must not start discovery again
    folder = Path(__file__).resolve().parent / "models"
    try:
        for module in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
            if module.ispkg:
                importlib.import_module(f"{MODELS}.{module.name}")
    except BaseException:
        _discovered = False  # a family that fails to import fails every lookup, never drops out silently
        raise


def registered():
    """{name: Family} of every registered family."""
    discover()
    return dict(_families)


def presets():
    """{preset name: entry} of every family: the registry's own dict (tests may add an entry for their run)."""
    discover()
    return _presets


def classes():
    """{class name: model class} of every family: the closed list a preset or preset folder may name."""
    discover()
    return _classes


def family(class_name):
    """The family whose model class is called `class_name`."""
    discover()
    for f in _families.values():
        if f.model_class.__name__ == class_name:
            return f
    raise ValueError(f"No model family has the class {class_name!r}; known: {', '.join(sorted(_classes))}.")


def family_of(model):
    """The family of a model object: of its class, else of the nearest registered base class."""
    discover()
    for cls in type(model).__mro__:
        for f in _families.values():
            if f.model_class is cls:
                return f
    raise ValueError(f"{type(model).__name__} belongs to no registered model family.")


def preset(name):
    """The preset entry called `name`; an unknown name raises a ValueError suggesting close matches."""
    entries = presets()
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown preset {name!r}.{hint} Known presets: {', '.join(list_presets())}.")
    return entries[name]


def list_presets(task=None):
    """Names of every preset, sorted; `task` ("predictor", "generator", or another a family's class declares)
    keeps that kind only."""
    return sorted(name for name, entry in presets().items()
                  if task is None or classes()[entry["class"]].task == task)


def model_class(name):
    """The model class registered as `name` ("VMSPredictor", "WMEMGAN", "MEMGAN"); anything else is refused."""
    known = classes()
    if name not in known:
        raise ValueError(f"Unknown model class {name!r}; a preset names one of {', '.join(sorted(known))}.")
    return known[name]
