"""Presets by name or folder: the names users call, in one place.

    model = vms_zoo.presets.load("vms_vae_synthetic_64")   # also vms_zoo.load
    vms_zoo.presets.list_presets("generator")

The preset folder format, loading and saving live in `vms_zoo.preset_io` (the floor the model families stand on)
and the names in `vms_zoo.registry`; this module re-exports them, so user code needs no more than this one.
"""

from vms_zoo.preset_io import (CARD_FILE, CONFIG_FILE, CONFIG_KEYS, KERAS_CONFIG_KEYS, LICENSE,
                               MAX_ACTIVATIONS, MAX_IMAGE_SIZE, MAX_PARAMETERS, MAX_WIDTH, METADATA_FIELDS,
                               METADATA_FILE, WEIGHTS_FILE, PresetMixin, build, check_config, check_sha256,
                               checkpoints_dir, download, file_sha256, is_path, load, model_card,
                               nested, preset_weights, read_json_object, read_preset_dir, locate, save_preset,
                               size_estimate, weights_status, without_downloads,
                               make_preset, train_command, with_recipes)
from vms_zoo.registry import classes as model_classes
from vms_zoo.registry import list_presets, model_class
from vms_zoo.registry import preset as get_preset
from vms_zoo.registry import presets as registry

__all__ = ["load", "list_presets", "get_preset", "save_preset", "PresetMixin", "locate", "build", "model_class",
           "model_classes", "registry", "weights_status", "preset_weights", "read_preset_dir", "model_card",
           "check_config", "size_estimate", "without_downloads", "is_path", "checkpoints_dir", "nested",
           "make_preset", "with_recipes", "train_command", "file_sha256", "check_sha256", "download", "read_json_object", "LICENSE",
           "METADATA_FIELDS", "CONFIG_FILE", "WEIGHTS_FILE", "METADATA_FILE", "CARD_FILE", "CONFIG_KEYS",
           "KERAS_CONFIG_KEYS", "MAX_IMAGE_SIZE", "MAX_WIDTH", "MAX_PARAMETERS", "MAX_ACTIVATIONS"]
