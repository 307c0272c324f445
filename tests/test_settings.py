"""Typed training settings: every preset's settings as they were before the settings became dataclasses, the
checks `resolve` makes from the dataclasses' kinds, and run.json's layout."""

import json
from pathlib import Path

import pytest

from vms_zoo import settings, training
from vms_zoo.presets import get_preset, registry

RECORDED = json.loads((Path(__file__).parent / "data" / "preset_settings.json").read_text())


def test_every_preset_and_its_resolved_and_smoke_settings_are_unchanged():
    """The presets written before the settings had types, recorded from them: entries, resolved and smoke
    settings, value for value (docs/fidelity.md cites these values)."""
    assert sorted(RECORDED) == sorted(registry())
    for name, before in RECORDED.items():
        preset = get_preset(name)
        now = json.loads(json.dumps({key: preset[key] for key in ("class", "config", "training", "metadata")}))
        assert now == before["preset"], name
        if preset["training"] is not None:
            assert json.loads(json.dumps(training.resolve(name))) == before["resolved"], name
            assert json.loads(json.dumps(training.resolve(name, smoke=True))) == before["smoke"], name


@pytest.mark.parametrize("cls", [settings.PredictorTraining, settings.WMEMGANTraining, settings.MEMGANTraining])
def test_every_family_setting_has_a_kind_and_its_defaults_pass_their_own_check(cls):
    for field, kind in cls.kinds().items():
        assert kind in settings.KINDS, (cls.__name__, field)
    required = {"data": "synthetic", "learning_rate": 1e-3, "epochs": 1, "fade_images": [0, 4],
                "stabilise_images": [4, 4], "batch_sizes": [2, 2]}
    values = cls(**{k: v for k, v in required.items() if k in cls.kinds()}).as_dict()
    for key, value in values.items():
        assert settings.KINDS[cls.kinds()[key]](value), (cls.__name__, key, value)
    assert "num_scenes" not in values and "num_images" not in values  # left out until a preset gives them


def test_each_family_preset_holds_exactly_its_dataclass_fields_and_a_wrong_kind_is_refused():
    by_class = {"VMSPredictor": settings.PredictorTraining, "WMEMGAN": settings.WMEMGANTraining,
                "MEMGAN": settings.MEMGANTraining}
    for name in registry():
        preset = get_preset(name)
        if preset["training"] is not None:
            assert set(preset["training"]) <= set(by_class[preset["class"]].kinds()), name
    with pytest.raises(ValueError, match=r"Training setting real_batches='some' must be 'fresh' or 'reuse' "
                                         r"\(the preset's is 'reuse'\)"):
        training.resolve("wmemgan_synthetic_score_32", {"real_batches": "some"})
    with pytest.raises(ValueError, match=r"seed=2147483648 must be a whole number from 0 to 2\*\*31 - 1"):
        training.resolve("vms_vae_synthetic_64", {"training.seed": settings.MAX_SEED + 1})
    assert training.resolve("vms_vae_synthetic_64", {"training.seed": settings.MAX_SEED})["training"]["seed"] == 2**31 - 1


def test_the_adam_settings_and_the_real_batch_default_are_the_families():
    assert settings.WMEMGANTraining.adam({"learning_rate": 2e-4}) == {"learning_rate": 2e-4, "beta_1": 0.0,
                                                                       "beta_2": 0.9}
    assert settings.MEMGANTraining.adam({"learning_rate": 1.5e-3}) == {"learning_rate": 1.5e-3, "beta_1": 0.0,
                                                                        "beta_2": 0.99, "epsilon": 1e-8}
    assert settings.WMEMGANTraining.real_batches_of({}) == "fresh"
    assert settings.WMEMGANTraining.real_batches_of(None) == "fresh"
    assert settings.WMEMGANTraining.real_batches_of({"real_batches": "reuse"}) == "reuse"


def test_each_trainable_family_registers_its_settings_dataclass():
    from vms_zoo import registry

    trainable = {f.model_class.__name__: f.settings for f in registry.registered().values() if f.trainer}
    assert trainable == {"VMSPredictor": settings.PredictorTraining, "WMEMGAN": settings.WMEMGANTraining,
                         "MEMGAN": settings.MEMGANTraining}
    assert training.setting_kinds("WMEMGAN")["n_critic"] == settings.WMEMGANTraining.kinds()["n_critic"]
    assert "n_critic" not in training.setting_kinds("VMSPredictor")


def test_growth_settings_of_unequal_stage_counts_are_refused_by_memgans_own_check():
    with pytest.raises(ValueError, match="one entry per growth stage each; got 2, 4, 4 entries"):
        training.resolve("memgan_synthetic_32", {"training.batch_sizes": [2, 2]})
    assert settings.WMEMGANTraining.check_together({"batch_sizes": [1], "fade_images": [1, 2]}) is None
