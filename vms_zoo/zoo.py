"""Presets as data: a name -> the model config, how it is trained, and where it comes from.

Paper presets reproduce the published configurations (GPU-sized); `*_synthetic_*` presets are CPU-sized
configurations trained here on the embedded synthetic scenes.
"""

import difflib

PREDICTOR_PAPER = "Kyle-Davidson, Bors & Evans, Predicting visual memory schemas with variational autoencoders, BMVC 2019"

# The paper's optimisation: Adam 1e-4, batch 32, 250 epochs x 20 steps, shift/zoom/flip augmentation.
_PAPER_TRAINING = {"learning_rate": 1e-4, "batch_size": 32, "epochs": 250, "steps_per_epoch": 20, "augment": True}
_PAPER_VAE = {"image_size": 224, "encoder": "vgg16", "encoder_weights": "imagenet", "decoder_filters": [256, 128, 64, 32]}

PRESETS = {
    "vms_vae_m8": {
        "class": "VMSPredictor",
        "config": {**_PAPER_VAE, "dense_units": 64, "latent_dim": 8, "reconstruction": "mse"},
        "training": _PAPER_TRAINING,
        "metadata": {"paper": PREDICTOR_PAPER, "dataset": "vischema1", "description": "Paper config 1: n=64, m=8, MSE."},
    },
    "vms_vae_m8_l1": {
        "class": "VMSPredictor",
        "config": {**_PAPER_VAE, "dense_units": 64, "latent_dim": 8, "reconstruction": "l1"},
        "training": _PAPER_TRAINING,
        "metadata": {"paper": PREDICTOR_PAPER, "dataset": "vischema1", "description": "Paper config 2: n=64, m=8, L1."},
    },
    "vms_vae_m32": {
        "class": "VMSPredictor",
        "config": {**_PAPER_VAE, "dense_units": 128, "latent_dim": 32, "reconstruction": "mse"},
        "training": _PAPER_TRAINING,
        "metadata": {"paper": PREDICTOR_PAPER, "dataset": "vischema1", "description": "Paper config 3: n=128, m=32, MSE."},
    },
    "vms_vae_synthetic_64": {
        "class": "VMSPredictor",
        "config": {
            "image_size": 64,
            "encoder": "conv",
            "encoder_filters": [32, 64, 96, 128],
            "dense_units": 128,
            "latent_dim": 32,
            "decoder_filters": [128, 96, 64, 32],
            "reconstruction": "mse",
            "kl_weight": 0.1,
            "kl_warmup_steps": 1000,
            "l2": 0.02,
            "seed": 0,
        },
        "training": {"learning_rate": 1e-3, "batch_size": 32, "epochs": 30, "steps_per_epoch": None,
                     "augment": True, "num_train": 8000, "num_test": 1000},
        "metadata": {"paper": PREDICTOR_PAPER, "dataset": "synthetic",
                     "description": "CPU preset: small trainable conv encoder, 64 px synthetic scenes."},
    },
}


def list_presets():
    """Names of every preset, sorted."""
    return sorted(PRESETS)


def get_preset(name):
    """The preset dict for `name`; an unknown name raises a ValueError suggesting close matches."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown preset {name!r}.{hint} Known presets: {', '.join(list_presets())}.")
    return PRESETS[name]
