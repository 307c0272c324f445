"""MEMGAN presets: the paper's 256 px progressive GAN and its foil (alpha = 0), and CPU presets grown to 32 px.

"training" is read by `vms_zoo.training`: the growth schedule in images (fade and stabilise phase lengths and
the batch size per resolution), the optimiser (Adam(learning_rate, 0, 0.99, 1e-8) for both networks), and
the feedback `predictor` / independent `scorer` (preset names or preset folders).

Paper presets take each value from the Sci. Rep. 2022 paper where it states it, else from the authors' code
(github.com/ckyleda/MEMGAN, memgan_spatial.py: the map-conditioned MEMGAN), else it is our choice;
docs/fidelity.md lists every one with its source.
"""

from vms_zoo.models.memgan.model import PAPER_FILTERS, resolutions
from vms_zoo.models.memorability_gan import smoke_images
from vms_zoo.models.vms_predictor.presets import FEEDBACK_CONFIG, FEEDBACK_PRESET, NOT_TRAINED
from vms_zoo.preset_io import WEIGHTS_FILE, make_preset, nested, with_recipes
from vms_zoo.settings import MEMGANTraining

PAPER = ("Kyle-Davidson, Bors & Evans, Modulating human memory for complex scenes with artificially generated "
         "images, Scientific Reports 12, 1583 (2022)")

# The paper's epoch: its 240,000 LSUN images per category (4,800,000 images = the 10 + 10 epochs of a block).
EPOCH = 240_000
_PAPER = {"predictor": nested("VMSPredictor", FEEDBACK_CONFIG),
          "image_size": 256, "latent_dim": 512, "condition": "map", "map_size": 10, "filters": list(PAPER_FILTERS),
          "alpha": 10.0, "ema_beta": None, "group_size": 4,  # alpha: the paper (the code's aux_loss uses 5)
          "target_sampler": "authors_code"}  # P_t as gen_fake_vms.py draws it (docs/fidelity.md)
# 200 epochs in all. 4 px: 20 epochs (no fade); 8-64 px: 10 epochs of fade-in, 10 to stabilise (4.8M images each,
# "the first five blocks"); 128 px: 10 + 80, the rest of the 200 (the code, too, trains it for 90 epochs);
# 256 px: its 2.4M images (10 epochs) are the fade-in. Batch sizes per resolution: the code's (the paper has none).
_PAPER_TRAINING = MEMGANTraining(data="lsun", num_images=EPOCH, schedule="paper", predictor=FEEDBACK_PRESET,
                                 fade_images=[0] + [10 * EPOCH] * 6,
                                 stabilise_images=[20 * EPOCH] + [10 * EPOCH] * 4 + [80 * EPOCH, 0],
                                 batch_sizes=[256, 128, 128, 8, 4, 4, 4], learning_rate=1.5e-3).as_dict()

# The authors' code (memgan_spatial.py): EPOCHS = 201 epochs of total_datapoints = 60,000 images, growing at the start
# of epochs 10, 30, 50, 70, 90 and 180 (grow_checkpoints). A new block's alpha steps 0.1, 0.2, ... 0.9, one step an
# epoch, then 1.0: 9 epochs of fade (ours linear per image, the same mean), then full weight. 4 px: 10 epochs;
# 8-64 px: 9 + 11; 128 px: 9 + 81; 256 px: 9 + 12 (full weight for its last 12 of 21 epochs). 12.06M images.
CODE_EPOCH = 60_000
SCHEDULES = {
    "paper": None,  # the training settings' own num_images / fade_images / stabilise_images (the paper's here)
    "authors_code": {"num_images": CODE_EPOCH, "fade_images": [0] + [9 * CODE_EPOCH] * 6,
                     "stabilise_images": [10 * CODE_EPOCH] + [11 * CODE_EPOCH] * 4 + [81 * CODE_EPOCH, 12 * CODE_EPOCH]},
}


def growth_settings(training):
    """`training` with its named `schedule` applied: "authors_code" replaces num_images, fade_images and
    stabilise_images with the code's; "paper" (or no schedule) keeps them as they are."""
    name = training.get("schedule", "paper")
    if name not in SCHEDULES:
        raise ValueError(f"Unknown MEMGAN schedule {name!r}; expected one of {', '.join(SCHEDULES)}.")
    return {**training, **(SCHEDULES[name] or {})}


def extends_schedule(old, new, config):
    """Whether MEMGAN training settings `new` differ from `old` only by a longer last phase: the last stage's
    stabilise_images raised, every other setting (each earlier phase included) as it was, numbers for every
    stage compared stage by stage."""
    stages = len(resolutions(config["image_size"]))
    old, new = per_stage(growth_settings(old), stages), per_stage(growth_settings(new), stages)
    before, after = old.pop("stabilise_images"), new.pop("stabilise_images")
    return before[:-1] == after[:-1] and after[-1] > before[-1] and old == new


def per_stage(training, stages):
    """`training` with its growth settings as lists, one entry per stage."""
    growth = ("fade_images", "stabilise_images", "batch_sizes")
    return {key: (list(value) if isinstance(value, (list, tuple)) else [value] * stages) if key in growth else value
            for key, value in training.items()}


def smoke_rule(config, training, width, steps, batch):
    """A MEMGAN smoke run (in place): every growth stage up to the preset's own image_size with a `width` latent
    and blocks, and the preset's moving average as it is; one train step of `batch` images at 4 px, one fading
    each later block in, and one at full weight at the last stage; `steps` x `batch` real images and pairs. Every
    block trains and both traced graphs (fading and stable) run, in n + 1 phases for n stages: each phase is one
    more traced train step (seconds)."""
    smoke_images(training, steps * batch)
    stages = len(resolutions(config["image_size"]))
    config.update(latent_dim=width, filters=[width] * stages)
    training.update(batch_sizes=[batch] * stages, fade_images=[0] + [batch] * (stages - 1),
                    stabilise_images=[batch] + [0] * (stages - 2) + [batch])


# CPU: grows 4 -> 32 px on synthetic kitchens, fed back by a 32 px predictor trained first (vms_vae_synthetic_32).
# A shorter moving average (0.99) suits a run of ~1000 steps.
_SYNTHETIC = {"predictor": nested("VMSPredictor", {"image_size": 32, "encoder": "conv", "encoder_weights": None,
                                                   "kl_weight": 1e-3, "seed": 0}),
              "image_size": 32, "latent_dim": 64, "condition": "map", "map_size": 10, "filters": [64, 64, 32, 16],
              "alpha": 10.0, "ema_beta": 0.99, "group_size": 4, "seed": 0}
_SYNTHETIC_TRAINING = MEMGANTraining(data="synthetic", num_scenes=4000, predictor="vms_vae_synthetic_32",
                                     scorer="vms_vae_synthetic_scorer_32", fade_images=[0, 3000, 3000, 3000],
                                     stabilise_images=[3000, 3000, 3000, 6000], batch_sizes=[32, 32, 32, 16],
                                     learning_rate=1.5e-3, checkpoint_every=25).as_dict()


def _preset(config, training, weights, dataset, description):
    return make_preset("MEMGAN", config, training=training, weights=weights, description=description, paper=PAPER,
                       dataset=dataset)


PRESETS = with_recipes({
    "memgan_256": _preset(_PAPER, _PAPER_TRAINING, None, "lsun_kitchen",
                          "MEMGAN: progressive GAN with memorability feedback at every resolution, 256 px kitchens, "
                          "alpha = 10. " + NOT_TRAINED),
    # alpha = 0, the memorability weight: no feedback, for the experiment's foil images.
    "memgan_foil_256": _preset({**_PAPER, "alpha": 0.0}, {**_PAPER_TRAINING, "category": "living_room"}, None,
                               "lsun_living_room", "The experiment's foil generator: MEMGAN without memorability "
                                                   "feedback (alpha = 0), 256 px living rooms. " + NOT_TRAINED),
    "memgan_synthetic_32": _preset(
        _SYNTHETIC, _SYNTHETIC_TRAINING,
        {"file": WEIGHTS_FILE, "sha256": "a533e1c51db8d218e62ef21180b3944128f2c47713284070399a66803b1535c0"},
        "synthetic", "CPU preset: MEMGAN growing 4 -> 32 px on synthetic kitchens, 10x10 map condition."),
    "memgan_foil_synthetic_32": _preset(
        {**_SYNTHETIC, "alpha": 0.0}, _SYNTHETIC_TRAINING,
        {"file": WEIGHTS_FILE, "sha256": "503d7c4457287bca8be3f52aaa017c26664db03e05fcdb9ac6095949bac894dc"},
        "synthetic", "CPU foil preset: the same MEMGAN without memorability feedback (alpha = 0)."),
})


def shrink_for_tests(config):
    """A test-size copy of a MEMGAN config: grows to 16 px (the nested predictor shrinks by its own rule)."""
    return {**config, "image_size": 16, "latent_dim": 8, "filters": [16, 16, 8]}
