"""Framework code lives in vms_zoo/backend/ only: elsewhere no module imports TensorFlow, JAX, torch or Keras'
private `keras.src`, and none branches on the backend's name (vms_zoo/data/, the tf.data pipeline, is the one
exception)."""

import ast
from pathlib import Path

import vms_zoo

FRAMEWORKS = {"tensorflow", "tensorflow_datasets", "jax", "jaxlib", "torch", "torchvision"}
BACKEND_NAMES = {"tensorflow", "jax", "torch"}
ALLOWED = ("backend", "data")  # folders of vms_zoo/ where framework code belongs


def framework_uses(source, filename="<string>"):
    """[(line, what)] of framework imports, `keras.src` imports and branches on the backend's name in `source`:
    a comparison with `...backend()`, with a backend's name ("jax", ...) or any use of `BACKEND`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            names = []
        found += [(node.lineno, f"import {name}") for name in names
                  if name.split(".")[0] in FRAMEWORKS or name == "keras.src" or name.startswith("keras.src.")]
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                if (isinstance(operand, ast.Call) and isinstance(operand.func, (ast.Name, ast.Attribute))
                        and getattr(operand.func, "attr", getattr(operand.func, "id", None)) == "backend"):
                    found.append((node.lineno, "backend() compared"))
                elif isinstance(operand, ast.Constant) and operand.value in BACKEND_NAMES:
                    found.append((node.lineno, f"compared with {operand.value!r}"))
        if (isinstance(node, ast.Name) and node.id == "BACKEND") or (
                isinstance(node, ast.Attribute) and node.attr == "BACKEND"):
            found.append((node.lineno, "BACKEND"))
    return found


def test_the_check_finds_imports_comparisons_and_backend_lookups():
    source = "\n".join([
        "import os, torch.nn", "from jax import numpy", "from keras.src.trainers import x", "import keras",
        "from . import tensorflow",  # relative: a module of the package, not the framework
        "if keras.backend.backend() == 'tensorflow': pass", "kind = backend()", "if kind != 'jax': pass",
        "table[backend.BACKEND]", "if x == 'tf': pass",
    ])
    assert framework_uses(source) == [
        (1, "import torch.nn"), (2, "import jax"), (3, "import keras.src.trainers"),
        (6, "backend() compared"), (6, "compared with 'tensorflow'"), (8, "compared with 'jax'"), (9, "BACKEND")]


def test_framework_code_is_only_in_backend_and_data():
    package = Path(vms_zoo.__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in ALLOWED:
            continue
        found += [f"{relative}:{line}: {what}" for line, what in framework_uses(path.read_text(), str(path))]
    assert found == []
