"""Paper presets: fresh real batches per critic update (and the reuse option), PixelNorm and minibatch stddev in
the W-MEMGAN paper nets, no generator moving average in the MEMGAN paper presets, one feedback predictor on
VISCHEMA PLUS, "not trained by us" cards, the MEMGAN schedule against the paper's numbers, and docs/fidelity.md
covering every value of every paper preset."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import test_wmemgan
from helpers import make_memgan, make_wmemgan, shrink_preset, stand_in_predictor, tiny_predictor, trainable_presets
from vms_zoo import presets
from vms_zoo.layers import MinibatchStdDev, PixelNorm
from vms_zoo.models.vms_predictor.presets import FEEDBACK_PRESET
from vms_zoo.training.wmemgan import whole_steps

ROOT = Path(__file__).resolve().parents[1]
PAPER_PRESETS = [name for name in trainable_presets() if "synthetic" not in name]
SIZE, BATCH = 16, 4
EAGER_SIZE = 8  # the W-MEMGAN the eager recording tests run


def np_(x):
    return ops.convert_to_numpy(x)


# --- fresh real batches per critic update -------------------------------------------------------------------


def recorded_real_batches(real_batches, images, batch_size, n_critic=3):
    """One `fit` epoch of a tiny W-MEMGAN, run eagerly, recording every concrete input of the critic; returns the
    inputs that are real images (each row one of `images`, mapped to [-1, 1]) in the order the critic saw them."""
    # 8 px, the smallest W-MEMGAN: which images a critic update gets does not depend on the size, and run eagerly
    # every op of a bigger net costs a compile of its own under JAX.
    model = make_wmemgan("score", predictor=stand_in_predictor(EAGER_SIZE), image_size=EAGER_SIZE)
    model.compile(n_critic=n_critic, real_batches=real_batches, run_eagerly=True)
    seen, critic_scores = [], model.critic_scores

    def recording(x):
        try:  # under JAX the penalty's interpolates are tracers: only concrete inputs are recorded
            seen.append(np.array(np_(x)))
        except Exception:
            pass
        return critic_scores(x)

    model.critic_scores = recording
    model.fit(images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    rows = images * 2.0 - 1.0
    return [x for x in seen if all(np.abs(rows - r).max(axis=(1, 2, 3)).min() < 1e-6 for r in x)]


def test_fresh_real_batches_give_each_critic_update_its_own_images():
    images = np.random.default_rng(0).uniform(size=(12, EAGER_SIZE, EAGER_SIZE, 3)).astype("float32")
    rows = images * 2.0 - 1.0
    seen = recorded_real_batches("fresh", images, batch_size=BATCH)  # 3 updates x 4 images: one train step
    assert len(seen) == 3
    for i, batch in enumerate(seen):  # dealt in turn: update i sees images i, i + 3, i + 6, i + 9
        np.testing.assert_allclose(batch, rows[i::3], atol=1e-6)
    used = [tuple(int(np.abs(rows - r).max(axis=(1, 2, 3)).argmin()) for r in batch) for batch in seen]
    assert sorted(i for batch in used for i in batch) == list(range(12))  # distinct, and every image once


def test_reuse_gives_every_critic_update_the_same_batch():
    # One step of BATCH images: the critic sees batches of the fresh test's shape, so under JAX the eager ops
    # compiled there are reused (each op compiles per shape).
    images = np.random.default_rng(0).uniform(size=(BATCH, EAGER_SIZE, EAGER_SIZE, 3)).astype("float32")
    seen = recorded_real_batches("reuse", images, batch_size=BATCH)  # one batch for all of a step's updates
    assert len(seen) == 3
    for batch in seen:
        np.testing.assert_allclose(batch, images * 2.0 - 1.0, atol=1e-6)


def one_step(real_batches, images):
    """test_wmemgan's step (fixed noise, SGD, n_critic 2, batch 8 per critic update) with `real_batches`."""
    model = make_wmemgan("score", alpha=10.0)
    model.compile(d_optimizer=keras.optimizers.SGD(1e-3), g_optimizer=keras.optimizers.SGD(1e-3), n_critic=2,
                  gp_weight=10.0, real_batches=real_batches)
    noise = test_wmemgan.fixed_noise("score", 2)
    model.draw_noise = lambda batch_size: noise
    history = model.fit(images, batch_size=test_wmemgan.BATCH, epochs=1, shuffle=False, verbose=0).history
    assert int(np_(model.g_optimizer.iterations)) == 1 and int(np_(model.d_optimizer.iterations)) == 2
    logs = {k: float(v[-1]) for k, v in history.items()}
    probe = np.random.default_rng(4).uniform(size=(test_wmemgan.BATCH, SIZE, SIZE, 3)).astype("float32")
    logs["critic_after"] = float(np_(ops.mean(model.critic(probe * 2 - 1))))
    logs["generator_after"] = float(np.mean(model.generate(noise["z"], noise["m"]) ** 2))
    return logs


def assert_logs(logs, expected):
    assert set(logs) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(logs[key], value, rtol=2e-4, atol=2e-5, err_msg=key)


def test_reuse_reproduces_the_step_recorded_before_fresh_batches_existed():
    images = np.random.default_rng(4).uniform(size=(test_wmemgan.BATCH, SIZE, SIZE, 3)).astype("float32")
    assert_logs(one_step("reuse", images), test_wmemgan.REFERENCE["score"])
    # Fresh batches that happen to hold the same images twice are that same step: the dealing is exact.
    assert_logs(one_step("fresh", np.repeat(images, 2, axis=0)), test_wmemgan.REFERENCE["score"])


# Computed once on TensorFlow with 16 distinct images; JAX and PyTorch must reproduce them.
FRESH_REFERENCE = {"d_loss": 3.460865, "g_loss": 1.214582, "gp": 0.3158571, "mem_loss": 0.05147123,
                   "wasserstein": -0.3018226, "critic_after": -0.2825855, "generator_after": 0.3191587}


def test_fresh_step_matches_reference_on_every_backend():
    images = np.random.default_rng(5).uniform(size=(2 * test_wmemgan.BATCH, SIZE, SIZE, 3)).astype("float32")
    logs = one_step("fresh", images)
    assert_logs(logs, FRESH_REFERENCE)
    assert abs(logs["d_loss"] - test_wmemgan.REFERENCE["score"]["d_loss"]) > 1e-3  # other images: another step


def test_fresh_batches_need_whole_steps():
    model = make_wmemgan("score")
    with pytest.raises(ValueError, match="real_batches"):
        model.compile(real_batches="sometimes")
    model.compile(n_critic=3)
    assert model.real_batches == "fresh"  # the default
    with pytest.raises(ValueError, match="at least n_critic = 3"):
        model.train_on_batch(np.zeros((2, SIZE, SIZE, 3), "float32"))
    images = np.zeros((10, SIZE, SIZE, 3), "float32")
    assert len(whole_steps(images, 4)) == 8 and len(whole_steps(images, 5)) == 10
    with pytest.raises(ValueError, match="batch_size \\* n_critic = 12"):
        whole_steps(images, 12)


def test_wmemgan_training_takes_n_critic_fresh_batches_per_generator_step(tmp_path):
    from vms_zoo import training

    # The step count does not depend on sizes: 16 px, and tiny predictors as feedback and scorer (not the
    # shipped 64 and 32 px ones), so the run compiles small nets.
    feedback, scorer = (presets.save_preset(tiny_predictor(seed=seed), tmp_path / f"tiny{seed}") for seed in (0, 1))
    overrides = {"epochs": 1, "batch_size": 4, "n_critic": 2, "real_batches": "fresh", "num_scenes": 160,
                 "pairs": 4, "config.filters": 16, "config.latent_dim": 8, "config.image_size": 16,
                 "training.predictor": str(feedback), "training.scorer": str(scorer),
                 "training.score_scale": False}  # untrained predictors score every image alike: no z-scores
    record = training.train("wmemgan_synthetic_score_32", output=tmp_path / "run", overrides=overrides, verbose=0)
    # One epoch over the kitchens, cut to whole steps of 2 x 4 images: one generator step per 8 images.
    assert record["num_images"] >= 8 and record["gan"]["generator_steps"] == record["num_images"] // 8


# --- PixelNorm and minibatch stddev in W-MEMGAN -------------------------------------------------------------


def count(net, cls):
    return sum(isinstance(layer, cls) for layer in net.layers)


@pytest.mark.parametrize("name", ["wmemgan_score_128", "wmemgan_map_128"])
def test_wmemgan_paper_nets_have_pixel_norm_and_minibatch_stddev(name):
    class_name, config = shrink_preset(name)  # 16 px, the paper preset's other settings
    model = presets.build(class_name, config)
    assert (model.pixel_norm, model.minibatch_stddev, model.group_size) == (True, True, 4)
    # PixelNorm on z, after the 4x4 dense and after each of the two upsampling convs (4 -> 16 px).
    assert count(model.generator, PixelNorm) == 4 and count(model.critic, MinibatchStdDev) == 1
    # Every hidden feature vector leaves the generator's last PixelNorm with unit mean square.
    norm = [layer for layer in model.generator.layers if isinstance(layer, PixelNorm)][-1]
    hidden = keras.Model(model.generator.inputs, norm.output)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(8, model.latent_dim)).astype("float32")
    m = rng.uniform(size=(8,) + model.condition_shape).astype("float32")
    np.testing.assert_allclose(np.mean(np_(hidden([z, m])) ** 2, axis=-1), 1.0, rtol=1e-4)
    # The critic's extra 4x4 feature is the mean standard deviation over groups of 4 (numpy reference).
    std_layer = [layer for layer in model.critic.layers if isinstance(layer, MinibatchStdDev)][0]
    around = keras.Model(model.critic.input, [std_layer.input, std_layer.output])  # one pass: before and after
    x = rng.uniform(-1, 1, size=(8, SIZE, SIZE, 3)).astype("float32")
    features, out = map(np_, around(x))
    groups = features.reshape(2, 4, *features.shape[1:])
    expected = np.sqrt(groups.var(axis=1) + 1e-8).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(out[..., -1], np.repeat(expected, 4)[:, None, None] * np.ones(out.shape[1:3]),
                               rtol=1e-4)
    np.testing.assert_array_equal(out[..., :-1], features)
    # ...and the paper config trains a fresh-batch step at this size.
    model.compile(n_critic=2)
    logs = model.train_on_batch(rng.uniform(size=(16, SIZE, SIZE, 3)).astype("float32"), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())


def test_new_wmemgan_layers_default_off():
    model = make_wmemgan("map")
    assert not model.pixel_norm and not model.minibatch_stddev
    assert count(model.generator, PixelNorm) == 0 and count(model.critic, MinibatchStdDev) == 0
    for name in ("wmemgan_synthetic_score_32", "wmemgan_synthetic_map_32"):  # the shipped CPU presets
        config = presets.get_preset(name)["config"]
        assert "pixel_norm" not in config and "minibatch_stddev" not in config
        assert presets.get_preset(name)["training"]["real_batches"] == "reuse"


# --- EMA off in the MEMGAN paper presets --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["memgan_256", "memgan_foil_256"])
def test_memgan_paper_presets_keep_no_moving_average(name, tmp_path):
    assert presets.get_preset(name)["config"]["ema_beta"] is None
    class_name, config = shrink_preset(name)
    # 8 px (two blocks), not 16: whether a moving average exists does not depend on the size; fewer layers to build.
    model = presets.build(class_name, {**config, "image_size": 8, "filters": config["filters"][:2]})
    assert model.ema_beta is None and model.generator_ema is None
    assert not any("generator_ema" in w.path for w in model.weights)
    model.compile()
    model.fit(np.random.default_rng(0).uniform(size=(8, 4, 4, 3)).astype("float32"), batch_size=4, verbose=0)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, model.latent_dim)).astype("float32")
    m = rng.uniform(size=(3, 10, 10, 1)).astype("float32")
    # generate is the trained generator itself.
    np.testing.assert_allclose(model.generate(z, m), (np_(model.sampling_images(z, m, ema=False)) + 1) / 2,
                               atol=1e-6)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config()["ema_beta"] is None
    clone.load_weights(path)
    np.testing.assert_allclose(clone.generate(z, m), model.generate(z, m), atol=1e-6)


def test_moving_average_stays_available_and_zero_means_off():
    assert make_memgan(8, ema_beta=0).generator_ema is None
    with pytest.raises(ValueError, match="ema_beta"):
        make_memgan(8, ema_beta=1.0)
    model = make_memgan(8, ema_beta=0.5)
    model.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2))
    before = [np_(w).copy() for w in model.generator.weights]
    model.fit(np.random.default_rng(0).uniform(size=(4, 4, 4, 3)).astype("float32"), batch_size=4, verbose=0)
    after = [np_(w) for w in model.generator.weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    for ema, b, a in zip(model.generator_ema.weights, before, after):  # one step: 0.5 * old + 0.5 * new
        np.testing.assert_allclose(np_(ema), 0.5 * b + 0.5 * a, rtol=1e-5, atol=1e-6)


# --- one feedback predictor, cards, the MEMGAN schedule ------------------------------------------------------


def test_one_feedback_predictor_on_vischema_plus_serves_both_gans():
    feedback = presets.get_preset(FEEDBACK_PRESET)
    assert feedback["class"] == "VMSPredictor" and feedback["training"]["data"] == "vischema_plus"
    gans = ["memgan_256", "memgan_foil_256", "wmemgan_score_128", "wmemgan_map_128"]
    for name in gans:
        preset = presets.get_preset(name)
        assert preset["training"]["predictor"] == FEEDBACK_PRESET, name
        assert preset["config"]["predictor"]["config"] == feedback["config"], name


def test_paper_preset_cards_say_not_trained_by_us():
    for name in PAPER_PRESETS:
        preset = presets.get_preset(name)
        assert preset["weights"] is None, name
        card = presets.model_card(name, {**preset["metadata"], "class": preset["class"]})
        assert "Not trained by us" in card and preset["metadata"]["recipe"] in card, name
    assert "not trained" not in presets.get_preset("memgan_synthetic_32")["metadata"]["description"].lower()


def test_memgan_schedule_has_the_papers_numbers():
    from vms_zoo.models.memgan import GrowthSchedule

    training = presets.get_preset("memgan_256")["training"]
    epoch = training["num_images"]
    assert epoch == 240_000  # the paper's kitchen set; 4,800,000 images = 20 epochs
    schedule = GrowthSchedule(7, training["fade_images"], training["stabilise_images"], training["batch_sizes"])
    assert schedule.total_images == 200 * epoch  # "trained for 200 epochs"
    per_block = [0] * 7
    for stage, fading, start, end, batch in schedule.phases:
        per_block[stage] += end - start
        if fading:
            assert end - start == 10 * epoch  # "introduced ... over a duration of ten epochs"
    assert per_block[:5] == [4_800_000] * 5 and per_block[6] == 2_400_000  # the first five blocks; the final one
    assert training["batch_sizes"] == [256, 128, 128, 8, 4, 4, 4]  # the code's batch_sizes
    assert presets.get_preset("memgan_256")["config"]["filters"] == [512, 512, 512, 512, 256, 256, 128]


def test_memgan_authors_code_schedule_grows_where_the_code_grows():
    from vms_zoo.flops import run_cost
    from vms_zoo.models.memgan import GrowthSchedule
    from vms_zoo.models.memgan.presets import growth_settings

    paper = presets.get_preset("memgan_256")["training"]
    assert paper["schedule"] == "paper" and growth_settings(paper) == paper
    code = growth_settings({**paper, "schedule": "authors_code"})
    epoch = code["num_images"]
    assert epoch == 60_000  # memgan_spatial.py total_datapoints
    # Batch 1 everywhere: phase boundaries land on exact epochs (the preset's batches round them up).
    schedule = GrowthSchedule(7, code["fade_images"], code["stabilise_images"], 1)
    assert schedule.total_images == 201 * epoch  # EPOCHS = 201
    grows = [start // epoch for stage, fading, start, end, batch in schedule.phases if fading]
    assert grows == [10, 30, 50, 70, 90, 180]  # grow_checkpoints
    fades = [(end - start) // epoch for stage, fading, start, end, batch in schedule.phases if fading]
    assert fades == [9] * 6  # alpha 0.1 ... 0.9, one step an epoch, then 1.0
    last = schedule.phases[-1]
    assert last[:2] == (6, False) and (last[3] - last[2]) // epoch == 12  # 256 px at full weight, 12 epochs
    assert run_cost("memgan_256", overrides={"schedule": "authors_code"})["images_per_run"] == pytest.approx(
        201 * epoch, rel=1e-4)  # rounded up to whole batches per phase
    with pytest.raises(ValueError, match="Unknown MEMGAN schedule 'code'"):
        growth_settings({**paper, "schedule": "code"})


# --- docs/fidelity.md covers every value -----------------------------------------------------------------------


def fidelity_rows():
    """(presets, key, value) of each table row whose detail is a preset key such as `training.batch_size`."""
    rows = []
    for line in (ROOT / "docs" / "fidelity.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 5 or not re.fullmatch(r"`(config|training)\.\w+`", cells[1]):
            continue
        names = re.findall(r"`([\w]+)`", cells[0])
        value = re.fullmatch(r"`(.*)`", cells[2])
        assert names and value, f"unreadable fidelity row: {line}"
        rows.append((names, cells[1].strip("`"), json.loads(value.group(1))))
    return rows


def preset_values(name):
    """{"config.x": value, "training.y": value} of a preset; a nested predictor is compared by its config."""
    preset = presets.get_preset(name)
    return {f"{section}.{key}": value for section in ("config", "training") for key, value in preset[section].items()}


def same(table_value, value):
    if isinstance(value, dict) and "class_name" in value:  # a nested model: the table names its preset
        return table_value in presets.registry() and presets.get_preset(table_value)["config"] == value["config"]
    if isinstance(value, tuple):
        value = list(value)
    return table_value == value and type(table_value) is type(value) or (
        isinstance(value, float) and isinstance(table_value, (int, float)) and float(table_value) == value)


def test_fidelity_table_covers_every_value_of_every_paper_preset():
    assert len(PAPER_PRESETS) == 8
    rows = fidelity_rows()
    covered = {}
    for names, key, value in rows:
        for name in names:
            assert name in PAPER_PRESETS, f"docs/fidelity.md names {name}, which is not a paper preset"
            assert (name, key) not in covered, f"docs/fidelity.md has two rows for {name} {key}"
            covered[name, key] = value
    for name in PAPER_PRESETS:
        values = preset_values(name)
        missing = sorted(key for key in values if (name, key) not in covered)
        assert not missing, f"docs/fidelity.md does not give the source of {name}: {', '.join(missing)}"
        stale = sorted(key for (n, key) in covered if n == name and key not in values)
        assert not stale, f"docs/fidelity.md lists {name} keys the preset does not have: {', '.join(stale)}"
        for key, value in values.items():
            assert same(covered[name, key], value), f"{name} {key}: preset {value!r}, docs {covered[name, key]!r}"


# --- The paper predictors' ImageNet VGG16: Keras' file, from its cache or a (file://) download ---------------------


@pytest.fixture
def imagenet_file(tmp_path, monkeypatch):
    """A real-shaped VGG16 no-top weights file with random values, in Keras' h5 layout and under Keras' name, as
    the md5 the loader checks, and an empty KERAS_HOME. Returns (the VGG16 it holds, its path, KERAS_HOME)."""
    import hashlib

    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from vms_zoo.models.vms_predictor import vgg16_weights as vw

    keras.utils.set_random_seed(3)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "source" / vw.IMAGENET_FILE
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, vgg)
    monkeypatch.setattr(vw, "IMAGENET_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(vw, "IMAGENET_URL", (tmp_path / "offline" / vw.IMAGENET_FILE).as_uri())  # no such file
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return vgg, path, tmp_path / "keras_home"


def test_imagenet_encoder_loads_keras_file_from_the_cache_or_a_download(imagenet_file, monkeypatch):
    import shutil

    from vms_zoo.models.vms_predictor import VMSPredictor
    from vms_zoo.models.vms_predictor import vgg16_weights as vw

    vgg, source, home = imagenet_file
    expected = {name: [np_(w) for w in vgg.get_layer(name).weights] for name in ("block1_conv1", "block5_conv3")}

    def encoder_weights():
        model = VMSPredictor(image_size=32, encoder="vgg16", encoder_weights="imagenet", dense_units=8,
                             latent_dim=4, decoder_filters=[8, 8, 8, 8])
        base = model.encoder.get_layer("vgg16")
        return {name: [np_(w) for w in base.get_layer(name).weights] for name in expected}

    (home / "models").mkdir(parents=True)
    shutil.copy(source, home / "models" / vw.IMAGENET_FILE)  # placed where Keras looks: no download
    for name, weights in encoder_weights().items():
        for got, want in zip(weights, expected[name]):
            np.testing.assert_array_equal(got, want)
    (home / "models" / vw.IMAGENET_FILE).unlink()
    monkeypatch.setattr(vw, "IMAGENET_URL", source.as_uri())  # not cached: fetched, its md5 checked, then cached
    for name, weights in encoder_weights().items():
        np.testing.assert_array_equal(weights[0], expected[name][0])
    assert (home / "models" / vw.IMAGENET_FILE).read_bytes() == source.read_bytes()


def test_offline_imagenet_weights_are_one_line_naming_the_file_and_where(imagenet_file):
    import vms_zoo
    from vms_zoo.models.vms_predictor import vgg16_weights as vw

    _, source, home = imagenet_file
    with pytest.raises(OSError) as error:
        vms_zoo.load("memgan_256", weights=False)
    message = str(error.value)
    target = home / "models" / vw.IMAGENET_FILE
    assert "\n" not in message and message.startswith('encoder_weights="imagenet" needs ' + vw.IMAGENET_FILE)
    assert f"put it at {target}" in message and vw.IMAGENET_URL in message
    # A cached file whose md5 differs (damaged, or another file) is not used: the same one line.
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"not the weights")
    with pytest.raises(OSError, match="could not be fetched"):
        vms_zoo.load("vms_vae_m32_vischema_plus", weights=False)
