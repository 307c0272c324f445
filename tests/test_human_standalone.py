"""The human-experiment toolkit and the shared statistics import no deep-learning framework."""

import subprocess
import sys

import pytest

FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")
CHECK = "print(sorted(m for m in sys.modules if m.split('.')[0] in {!r}))".format(FRAMEWORKS)


def frameworks_loaded_by(modules):
    code = f"import sys, {', '.join(modules)}; {CHECK}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("module", ["vms_zoo.human", "vms_zoo.human.annotations", "vms_zoo.human.experiment",
                                    "vms_zoo.human.streams", "vms_zoo.human.simulate", "vms_zoo.stats"])
@pytest.mark.slow
def test_module_imports_no_framework(module):
    assert frameworks_loaded_by([module]) == "[]"


def test_whole_toolkit_imports_no_framework():
    assert frameworks_loaded_by(["vms_zoo.human", "vms_zoo.human.annotations", "vms_zoo.human.experiment",
                                 "vms_zoo.human.streams", "vms_zoo.human.simulate", "vms_zoo.stats"]) == "[]"


@pytest.mark.slow
def test_check_sees_a_framework():
    """The check can fail: the Keras-based metrics module is reported."""
    assert "keras" in frameworks_loaded_by(["vms_zoo.metrics"])
