"""The family registry: the package's imports form no circle and no upward arrow between its floors, and a family
defined here (a class, one preset and its record) is seen by load, list_presets, the CLI, training, smoke runs and
FLOP counts without any other edit."""

import ast
import json
import tomllib
from pathlib import Path

import keras
import numpy as np
import pytest

import vms_zoo
from vms_zoo import cli, flops, presets, registry, training
from vms_zoo.presets import PresetMixin

# --- the import graph ---------------------------------------------------------------------------------------


def import_graph(root, package):
    """{module: the package's modules it imports}, read with ast from every .py file under root/package; imports
    inside functions count too (a lazy import is still an arrow)."""
    files = {}
    for path in (Path(root) / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in files.items():
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package `level - 1` steps above this one
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
        targets = set()
        for name in names:
            while name and name not in files:  # `import a.b.c` of a name inside a module: that module
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph):
    """One import circle as [a, b, ..., a], or None."""
    state = {}  # module -> "open" while on the current path, "done" after

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [module, target] if target in path else [module, target]
            if target not in state:
                found = visit(target, path + [module])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [])
            if found:
                return found
    return None


def test_the_walker_finds_circles_through_lazy_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import os\n\ndef f():\n    from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("from . import c\n")
    (package / "sub" / "c.py").write_text("from ..a import f\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg": set(), "pkg.a": {"pkg.sub", "pkg.sub.b"}, "pkg.sub": set(), "pkg.sub.b": {"pkg.sub",
                     "pkg.sub.c"}, "pkg.sub.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]
    (package / "sub" / "c.py").write_text("import json\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None


# The package's floors, lowest first: a module imports from its own floor and the floors below, never above (a
# module is on the floor of the longest name here that is it or a package holding it).
FLOORS = (
    # the ground: the image contract, files, presets' folder format, the registry, the frameworks
    ("vms_zoo", "vms_zoo.io", "vms_zoo.vms", "vms_zoo.stats", "vms_zoo.registry", "vms_zoo.preset_io",
     "vms_zoo.backend", "vms_zoo.distribute"),
    # what models are built and trained from
    ("vms_zoo.layers", "vms_zoo.losses", "vms_zoo.targets", "vms_zoo.metrics", "vms_zoo.flops", "vms_zoo.visualize",
     "vms_zoo.data"),
    ("vms_zoo.models",),
    # what uses models: presets by name, evaluation, training
    ("vms_zoo.presets", "vms_zoo.quality", "vms_zoo.evaluation", "vms_zoo.training"),
    # the front ends
    ("vms_zoo.cli", "vms_zoo.__main__", "vms_zoo.human"),
)


def floor_of(module, floors=FLOORS):
    """The index of `module`'s floor in `floors`, or None for a module no floor names."""
    best = None
    for level, names in enumerate(floors):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (level, name)
    return None if best is None else best[0]


def upward_arrows(graph, floors=FLOORS):
    """[(module, imported module)] for every import of a higher floor than the importer's."""
    return sorted((module, target) for module, targets in graph.items() for target in targets
                  if floor_of(target, floors) > floor_of(module, floors))


def test_the_floor_check_finds_an_upward_arrow_even_a_lazy_one(tmp_path):
    package = tmp_path / "pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "io.py").write_text("def f():\n    from pkg.models import net\n")  # lazy, and upwards
    (package / "models" / "__init__.py").write_text("")
    (package / "models" / "net.py").write_text("from pkg import io\n")
    floors = (("pkg", "pkg.io"), ("pkg.models",))
    graph = import_graph(tmp_path, "pkg")
    assert [floor_of(m, floors) for m in ("pkg", "pkg.io", "pkg.models", "pkg.models.net")] == [0, 0, 1, 1]
    assert upward_arrows(graph, floors) == [("pkg.io", "pkg.models"), ("pkg.io", "pkg.models.net")]
    (package / "io.py").write_text("import json\n")
    assert upward_arrows(import_graph(tmp_path, "pkg"), floors) == []


def test_the_package_imports_without_a_circle_or_an_upward_arrow():
    root = Path(vms_zoo.__file__).resolve().parent.parent
    graph = import_graph(root, "vms_zoo")
    assert find_cycle(graph) is None
    assert [m for m in graph if floor_of(m) is None] == []  # a new module is given its floor above
    assert upward_arrows(graph) == []
    # The registry imports nothing of the package (it finds the families as plugins); the models stand on the
    # ground floor's preset_io, never on presets.
    assert graph["vms_zoo.registry"] == set()
    assert not [m for m in graph if m.startswith("vms_zoo.models") and "vms_zoo.presets" in graph[m]]
    # Every package under vms_zoo/models/ is a family that registered itself when first looked up.
    families = {m.split(".")[2] for m in graph if m.startswith("vms_zoo.models.") and m.count(".") == 2
                and (root / m.replace(".", "/") / "__init__.py").exists()}
    assert families == set(registry.registered()) and {"vms_predictor", "wmemgan", "memgan"} <= families


def test_the_wheel_lists_every_package():
    """pyproject.toml names the packages a wheel holds: a family folder missing there would be missing from an
    installed vms_zoo, and discovery would not find it."""
    root = Path(__file__).resolve().parent.parent  # the checkout these tests belong to
    pyproject = root / "pyproject.toml"
    listed = set(tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(root).parts) for p in (root / "vms_zoo").rglob("__init__.py")}
    assert packages - listed == set()


# --- a family defined here ----------------------------------------------------------------------------------


class ToyScorer(PresetMixin, keras.Model):
    """One score in [0, 1] per image: two dense layers on the flattened pixels."""

    task = "toy"  # a task of its own: list_presets("toy") lists the toys alone

    def __init__(self, image_size=16, units=4, **kwargs):
        images = keras.Input((image_size, image_size, 3), name="images")
        hidden = keras.layers.Dense(units)(keras.layers.Flatten()(images))
        super().__init__(images, keras.layers.Dense(1, activation="sigmoid")(hidden), **kwargs)
        self.image_size, self.units = image_size, units

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "units": self.units}


class BareScorer(ToyScorer):
    """A family with nothing but a class and presets, like third-party scorers: no trainer, smoke or FLOP rule."""


TOY_TRAINING = {"data": "synthetic", "epochs": 3, "batch_size": 4, "num_images": 16, "learning_rate": 0.5, "seed": 0}


def toy_preset(class_name, training=True):
    preset = {"class": class_name, "config": {"image_size": 16, "units": 4}, "weights": None,
              "metadata": {"description": "A test's toy scorer.", "paper": "none (a test)", "dataset": "synthetic",
                           "resolution": 16, "metrics": {}, "recipe": "vms-zoo train toy_16", "license": "Apache-2.0"}}
    return {**preset, "training": dict(TOY_TRAINING)} if training else preset


def toy_images(n, size, seed):
    return np.random.default_rng(seed).uniform(size=(n, size, size, 3)).astype("float32")


def train_toy(resolved, output, verbose=1, callbacks=()):
    """The toy family's trainer: SGD towards each image's mean brightness; writes the preset folder."""
    config, settings = resolved["config"], resolved["training"]
    keras.utils.set_random_seed(settings["seed"])
    model = presets.build(resolved["class"], config)
    images = toy_images(settings["num_images"], config["image_size"], settings["seed"])
    model.compile(optimizer=keras.optimizers.SGD(settings["learning_rate"]), loss="mse")
    history = model.fit(images, images.mean(axis=(1, 2, 3))[:, None], batch_size=settings["batch_size"],
                        epochs=settings["epochs"], verbose=0, callbacks=list(callbacks))
    presets.save_preset(model, output, presets.get_preset(resolved["preset"])["metadata"])
    scores = keras.ops.convert_to_numpy(model(images[:2], training=False))
    return {"loss": history.history["loss"], "scores": scores.ravel().tolist()}


def toy_smoke_rule(config, training, width, steps, batch):
    config.update(image_size=4, units=width)
    training.update(epochs=1, batch_size=batch, num_images=steps * batch)


def toy_step_flops(model, batch_size, training, stage=None, fading=None, cached=False):
    batch_size = training["batch_size"] if batch_size is None else batch_size
    return batch_size * 3 * flops.forward_flops(model)  # forward + a backward pass of twice its cost


def toy_run_cost(model, training, num_images=None):
    steps = training["epochs"] * (num_images or training["num_images"]) // training["batch_size"]
    step = toy_step_flops(model, None, training)
    return {"batch": training["batch_size"], "flops_per_step": step, "steps_per_run": steps,
            "images_per_run": steps * training["batch_size"], "flops_per_run": steps * step}


@pytest.fixture
def toy_families():
    """Register the two toy families for one test, and take them away after it."""
    toy = registry.Family("toy", ToyScorer, {"toy_16": toy_preset("ToyScorer")}, trainer=f"{__name__}:train_toy",
                          smallest_size=4, smoke_rule=toy_smoke_rule, step_flops=toy_step_flops,
                          run_cost=toy_run_cost, test_shrink=lambda config: {**config, "image_size": 8})
    bare = registry.Family("bare_toy", BareScorer, {"bare_toy_16": toy_preset("BareScorer", training=False)})
    registry.register(toy)
    registry.register(bare)
    yield toy, bare
    registry.unregister("toy")
    registry.unregister("bare_toy")


def test_a_family_registered_here_is_loaded_listed_smoke_shrunk_and_counted(toy_families, tmp_path, capsys):
    assert presets.list_presets("toy") == ["bare_toy_16", "toy_16"]
    assert {"toy_16", "bare_toy_16", "vms_vae_m8", "memgan_256"} <= set(presets.list_presets())
    assert presets.model_class("ToyScorer") is ToyScorer and vms_zoo.ToyScorer is ToyScorer
    for model in (vms_zoo.load("toy_16", weights=False), ToyScorer.from_preset("toy_16", weights=False)):
        assert type(model) is ToyScorer and model.image_size == 16 and model.count_params() == 16 * 16 * 3 * 4 + 4 + 5
    with pytest.raises(ValueError, match="is a ToyScorer, not a VMSPredictor"):
        vms_zoo.VMSPredictor.from_preset("toy_16", weights=False)
    assert cli.main(["list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert {k: rows["toy_16"][k] for k in ("name", "class", "resolution", "dataset", "weights", "default")} == {
        "name": "toy_16", "class": "ToyScorer", "resolution": 16, "dataset": "synthetic", "weights": "not published",
        "default": False}

    smoke = training.resolve("toy_16", smoke=True)
    assert smoke["config"] == {"image_size": 4, "units": training.SMOKE_WIDTH}
    assert smoke["training"] == {**TOY_TRAINING, "epochs": 1, "batch_size": training.SMOKE_BATCH,
                                 "num_images": training.SMOKE_IMAGES}
    assert training.smallest_size("ToyScorer") == 4

    forward = 2 * (16 * 16 * 3) * 4 + 2 * 4 * 1  # the two dense layers, 2 FLOPs a multiply-add
    assert flops.forward_flops(vms_zoo.load("toy_16", weights=False)) == forward
    assert flops.train_step_flops("toy_16") == 4 * 3 * forward
    assert flops.run_cost("toy_16") == {"batch": 4, "flops_per_step": 12 * forward, "steps_per_run": 12,
                                        "images_per_run": 48, "flops_per_run": 12 * 12 * forward}

    from helpers import shrink_preset

    assert shrink_preset("toy_16") == ("ToyScorer", {"image_size": 8, "units": 4})


def test_a_family_registered_here_trains_through_the_command(toy_families, tmp_path, capsys):
    out = tmp_path / "run"
    assert "ToyScorer" in training.trainers() and "BareScorer" not in training.trainers()
    assert cli.main(["train", "toy_16", "--output", str(out)]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["preset"] == "toy_16" and record["class"] == "ToyScorer" and len(record["loss"]) == 3
    assert np.all(np.isfinite(record["loss"]))
    loaded = vms_zoo.load(str(out))  # the folder holds the trained weights: the same scores as after training
    scores = keras.ops.convert_to_numpy(loaded(toy_images(16, 16, 0)[:2], training=False)).ravel()
    np.testing.assert_allclose(scores, record["scores"], rtol=1e-6, atol=1e-7)
    untrained = keras.ops.convert_to_numpy(vms_zoo.load("toy_16", weights=False)(toy_images(16, 16, 0)[:2])).ravel()
    assert np.abs(untrained - scores).max() > 1e-4
    assert json.loads((out / "run.json").read_text())["training"] == TOY_TRAINING


def test_a_family_without_trainer_smoke_or_flop_rule(toy_families, tmp_path, capsys):
    """Third-party scorers: loaded and listed like any model; training them is a one-line error that writes
    nothing, and FLOP counts say the family has no rule."""
    assert type(vms_zoo.load("bare_toy_16", weights=False)) is BareScorer
    out = tmp_path / "run"
    for extra in ([], ["--smoke"], ["--dry-run"]):
        capsys.readouterr()
        assert cli.main(["train", "bare_toy_16", "--output", str(out), *extra]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vms-zoo: error: Preset 'bare_toy_16' cannot be trained"), err
        assert not out.exists()
    with pytest.raises(ValueError, match="bare_toy family states no FLOP rule"):
        flops.train_step_flops("bare_toy_16")
    with pytest.raises(ValueError, match="bare_toy family states no smoke rule"):
        training.smoke_settings({"preset": "bare_toy_16", "class": "BareScorer", "config": {}, "training": {}})
    with pytest.raises(ValueError, match="bare_toy family states no smallest image size"):
        training.smallest_size("BareScorer")
    # A BareScorer is also a ToyScorer; it is counted by its own family, not its base class's.
    assert registry.family_of(BareScorer()) is toy_families[1]


def test_unregistered_families_leave_nothing_behind(toy_families):
    registry.unregister("toy")
    registry.unregister("bare_toy")
    assert not {"toy_16", "bare_toy_16"} & set(presets.list_presets())
    assert "ToyScorer" not in presets.model_classes() and not hasattr(vms_zoo, "ToyScorer")
    with pytest.raises(ValueError, match="Unknown model class 'ToyScorer'"):
        presets.model_class("ToyScorer")


def test_registering_refuses_names_taken_and_presets_of_another_class(toy_families):
    toy, _ = toy_families
    with pytest.raises(ValueError, match="preset names vms_vae_m8 are taken by another family"):
        registry.register(registry.Family("toy", ToyScorer, {"vms_vae_m8": toy_preset("ToyScorer")}))
    with pytest.raises(ValueError, match="the class name ToyScorer is taken by the toy family"):
        registry.register(registry.Family("toy_again", ToyScorer, {}))
    with pytest.raises(ValueError, match="presets toy_x do not name its class ToyScorer"):
        registry.register(registry.Family("toy", ToyScorer, {"toy_x": toy_preset("VMSPredictor")}))
    with pytest.raises(ValueError, match="trainer must be 'module:function'"):
        registry.register(registry.Family("toy", ToyScorer, {}, trainer="train_toy"))
    assert registry.registered()["toy"] is toy and presets.get_preset("toy_16")["class"] == "ToyScorer"
