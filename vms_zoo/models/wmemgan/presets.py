"""W-MEMGAN presets: the paper's 128 px LSUN-kitchen configurations (GPU) and the CPU presets trained here.

"training" is read by `vms_zoo.training`: the feedback `predictor` and the independent `scorer` are preset
names or preset folders; the data is an image source; the optimiser is Adam(learning_rate, 0, 0.9) for both
networks, as in WGAN-GP; `real_batches` says whether each critic update takes a fresh real batch ("fresh", as
WGAN-GP) or all updates of a step reuse one ("reuse").

Paper presets take each value from the Sci. Rep. 2022 paper where it states it, else it is our choice (the
authors' public code holds MEMGAN only); docs/fidelity.md lists every one with its source.
"""

from vms_zoo.models.memorability_gan import smoke_images
from vms_zoo.models.wmemgan.model import SUPPORTED_SIZES
from vms_zoo.models.vms_predictor.presets import FEEDBACK_CONFIG, FEEDBACK_PRESET, NOT_TRAINED, SYNTHETIC_64
from vms_zoo.preset_io import WEIGHTS_FILE, make_preset, nested, with_recipes
from vms_zoo.settings import WMEMGANTraining

PAPER = ("Kyle-Davidson, Bors & Evans, Modulating human memory for complex scenes with artificially generated "
         "images, Scientific Reports 12, 1583 (2022)")

_PAPER_PREDICTOR = nested("VMSPredictor", FEEDBACK_CONFIG)
# Fig. 9: PixelNorm and minibatch stddev are in the networks, "omitted for clarity" from the drawing.
_PAPER_LAYERS = {"pixel_norm": True, "minibatch_stddev": True, "group_size": 4}
# 500 epochs of 60,000 LSUN kitchens (the paper); WGAN-GP's batch 64, 5 critic updates on fresh real batches,
# Adam 1e-4 (our choice: the paper names WGAN-GP and no settings).
_PAPER_TRAINING = WMEMGANTraining(data="lsun", num_images=60_000, predictor=FEEDBACK_PRESET, epochs=500,
                                  batch_size=64, n_critic=5, real_batches="fresh", learning_rate=1e-4).as_dict()
# CPU: 32 px synthetic kitchens, fed back by the shipped 64 px predictor, graded by the shipped 32 px scorer.
# "reuse": the shipped checkpoints were trained with one real batch per step, so the same command still
# reproduces them (and the README's step counts and timings hold).
_SYNTHETIC_TRAINING = WMEMGANTraining(data="synthetic", num_scenes=24000, predictor="vms_vae_synthetic_64",
                                      scorer="vms_vae_synthetic_scorer_32", epochs=35, batch_size=64, n_critic=4,
                                      real_batches="reuse", learning_rate=2e-4, max_minutes=9.5).as_dict()


def _preset(condition, size, config, training, weights, dataset, description):
    return make_preset("WMEMGAN", {"image_size": size, "condition": condition, "alpha": 10.0, "seed": 0, **config},
                       training=training, weights=weights, description=description, paper=PAPER, dataset=dataset)


PRESETS = with_recipes({
    "wmemgan_score_128": _preset(
        "score", 128, {"predictor": _PAPER_PREDICTOR, "latent_dim": 128, "filters": 256, **_PAPER_LAYERS},
        _PAPER_TRAINING, None, "lsun_kitchen",
        "W-MEMGAN, single-score condition: G(z, score) -> 128 px kitchen. " + NOT_TRAINED),
    "wmemgan_map_128": _preset(
        "map", 128, {"predictor": _PAPER_PREDICTOR, "latent_dim": 128, "map_size": 10, "filters": 256,
                     "target_sampler": "authors_code", **_PAPER_LAYERS},
        {**_PAPER_TRAINING, "score_scale": False}, None,
        "lsun_kitchen", "W-MEMGAN, 10x10 target-map condition: G(z, M) -> 128 px kitchen. " + NOT_TRAINED),
    # score_scale: mean and std of the feedback predictor's scores on the real training kitchens (M is a z-score).
    "wmemgan_synthetic_score_32": _preset(
        "score", 32, {"predictor": nested("VMSPredictor", SYNTHETIC_64), "latent_dim": 64, "filters": 128,
                      "score_scale": [0.06274096059830238, 0.03460666045824046]}, _SYNTHETIC_TRAINING,
        {"file": WEIGHTS_FILE, "sha256": "4e0749c3a07a6f1406d9059a2afbf9df9fe38da8327f87780a7eaded8ca1527b"},
        "synthetic", "CPU preset: W-MEMGAN, score condition, 32 px synthetic kitchens."),
    "wmemgan_synthetic_map_32": _preset(
        "map", 32, {"predictor": nested("VMSPredictor", SYNTHETIC_64), "latent_dim": 64, "map_size": 10,
                    "filters": 128}, {**_SYNTHETIC_TRAINING, "score_scale": False},
        {"file": WEIGHTS_FILE, "sha256": "b1429f53e07b9632772d53ccc259e275129852f1c9d0d17805282df46fe92267"},
        "synthetic", "CPU preset: W-MEMGAN, 10x10 map condition, 32 px synthetic kitchens."),
})


def smoke_rule(config, training, width, steps, batch):
    """A smoke run of a W-MEMGAN preset: the smallest size, `width` filters and latent, `steps` generator steps of `batch` images
    (epochs: 2 steps also when a step takes all the images, with fresh batches), n_critic at most `batch`."""
    smoke_images(training, steps * batch)
    config.update(image_size=min(SUPPORTED_SIZES), latent_dim=width, filters=width)
    training.update(epochs=steps, max_steps=steps, max_minutes=None, batch_size=batch,
                    n_critic=min(training["n_critic"], batch))


def shrink_for_tests(config):
    """A test-size copy of a W-MEMGAN config: 16 px, 16 filters (the nested predictor shrinks by its own rule)."""
    return {**config, "image_size": 16, "latent_dim": 8, "filters": 16}
