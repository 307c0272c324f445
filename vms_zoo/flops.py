"""FLOPs of forward passes and training steps, counted from layer shapes.

    from vms_zoo.flops import run_cost, train_step_flops

    train_step_flops("wmemgan_score_128")          # one generator step at the preset's batch size
    train_step_flops("memgan_256", stage=3)        # one step at 32 px (stage 3), stable
    train_step_flops("vms_vae_m32", cached=True)   # the predictor trained on cached encoder features
    run_cost("memgan_256")                         # FLOPs per step and per run, steps and images per run

The rules:

- Only multiply-adds are counted, 2 FLOPs each: Dense 2 * in * out per position, Conv 2 * (output pixels) *
  k * k * (in / groups) * out, Conv transpose 2 * (input pixels) * k * k * in * out; `EqualizedDense` and
  `EqualizedConv2D` as their plain counterparts, whatever formulation a backend runs. Elementwise work (bias,
  activations, normalisation, pooling, resizing, the optimizer update) is not counted.
- A backward pass costs 2x its forward pass (activation and weight gradients) through a net whose weights are
  updated, and 1x (activation gradients only) through a net the gradient only crosses: the frozen feedback
  predictor, and the critic in the generator update. A frozen encoder that takes the images costs its
  forward pass alone.
- The gradient penalty (double backprop) costs 6 critic forwards per batch: the forward pass on the
  interpolates, their input gradient (1x) and the backward pass of both (2x each).
- W-MEMGAN and MEMGAN, a train step at per-update batch B: `n_critic` critic updates, each G(B) (fakes,
  no gradient) + 3 D(B) real + 3 D(B) fake + 6 D(B) penalty, then the generator update, 3 G(B) + 2 D(B) +
  2 P(B) (P, the predictor, at its own input size). MEMGAN counts the blocks active at its stage (both RGB
  paths while fading).
- The VMS predictor, a train step at batch B: 3 x (encoder + head) for a trainable encoder, 1 x encoder +
  3 x head for a frozen one, and 3 x head on cached features (the head: flatten, dense, latent, decoder).

FLOPs are per sample from `forward_flops` and `layer_flops`, per step (the whole batch) from
`train_step_flops`.
"""

import math

import keras

from vms_zoo import registry
from vms_zoo.layers import EqualizedConv2D, EqualizedDense

CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, EqualizedConv2D)
TRANSPOSED_CONVS = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
GP_FORWARDS = 6  # the gradient penalty, in critic forward passes (see the module docstring)


def _tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def layer_flops(layer, input_shape):
    """FLOPs of one call of `layer` on one sample of shape `input_shape` (no batch axis, channels last).

    Dense, Conv and Conv-transpose layers (and the equalised-learning-rate ones); 0 for any other layer.
    """
    shape = tuple(int(d) for d in input_shape)
    if isinstance(layer, (keras.layers.Dense, EqualizedDense)):
        return 2 * math.prod(shape[:-1]) * shape[-1] * layer.units
    if isinstance(layer, TRANSPOSED_CONVS):
        return 2 * math.prod(shape[:-1]) * math.prod(layer.kernel_size) * shape[-1] * layer.filters
    if isinstance(layer, CONVS):
        rank = len(shape) - 1
        kernel = _tuple(layer.kernel_size, rank)
        strides = _tuple(getattr(layer, "strides", 1), rank)
        dilation = _tuple(getattr(layer, "dilation_rate", 1), rank)
        if layer.padding == "same":
            out = [-(-n // s) for n, s in zip(shape[:-1], strides)]
        else:
            out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(shape[:-1], kernel, strides, dilation)]
        groups = getattr(layer, "groups", 1)
        return 2 * math.prod(out) * math.prod(kernel) * (shape[-1] // groups) * layer.filters
    return 0


def forward_flops(model):
    """FLOPs of one sample's forward pass through a functional or Sequential Keras model (nested ones included),
    from the shapes recorded in its graph."""
    graph = getattr(model, "_functional", None) or model  # a Sequential keeps its graph here
    if not hasattr(graph, "_nodes_by_depth"):
        raise TypeError(f"{model.name} is not a functional model; count its layers with layer_flops.")
    total = 0
    for nodes in graph._nodes_by_depth.values():
        for node in nodes:
            op, inputs = node.operation, node.arguments.keras_tensors
            if isinstance(op, keras.Model):
                total += forward_flops(op)
            elif inputs:
                total += layer_flops(op, inputs[0].shape[1:])
    return total


# --- the models: each family's FLOP rule (vms_zoo/models/<family>/flops.py) --------------------------------


def gan_step_flops(generator, critic, predictor, batch_size, n_critic):
    """FLOPs of one W-MEMGAN / MEMGAN train step from per-sample forward FLOPs (see the module docstring)."""
    critic_update = generator + (3 + 3 + GP_FORWARDS) * critic
    generator_update = 3 * generator + 2 * critic + 2 * predictor
    return batch_size * (n_critic * critic_update + generator_update)


def train_step_flops(model, batch_size=None, stage=None, fading=None, cached=False):
    """FLOPs of one train step of a model or a preset (name or folder; built without weights), by its family's rule.

    batch_size: the batch of one update (W-MEMGAN: one critic update's; MEMGAN: the stage's); default: the
        preset's (MEMGAN: that of `stage`), required for a model.
    stage, fading: MEMGAN's growth state (default: the model's stored one; a preset's: its last stage).
    cached: the VMS predictor on cached encoder features.
    """
    training = None
    if not isinstance(model, keras.Model):
        training, model = _training(model), build_for_counting(model)
    elif batch_size is None:
        raise ValueError("batch_size is required when counting a model rather than a preset.")
    return _rule(model, "step_flops")(model, batch_size, training, stage=stage, fading=fading, cached=cached)


def run_cost(preset, num_images=None, overrides=None):
    """What a preset's whole training run costs, as its "training" entry schedules it: a dict of "batch" and
    "flops_per_step" (MEMGAN: at its last stage), "steps_per_run", "images_per_run" (real images trained on)
    and "flops_per_run".

    W-MEMGAN: epochs x whole steps of the training images (`num_images`, default the entry's "num_images";
    "max_steps" caps it, "max_minutes" is not counted). MEMGAN: every fade and stabilise phase at its stage
    and batch size. Predictor: epochs x steps_per_epoch (or num_train // batch_size), on cached features when
    its encoder is frozen and nothing augments the images (plus the one encoding pass over num_train images).
    `overrides` replace training settings, e.g. {"schedule": "authors_code"}.
    """
    model = build_for_counting(preset)
    try:
        return _rule(model, "run_cost")(model, {**_training(preset), **(overrides or {})}, num_images)
    except ValueError as e:
        raise ValueError(f"{preset}: {e}") from None


def _rule(model, name):
    """The FLOP rule `name` of the model's family."""
    family = registry.family_of(model)
    rule = getattr(family, name)
    if rule is None:
        raise ValueError(f"The {family.name} family states no FLOP rule: its models' training is not counted.")
    return rule


def build_for_counting(preset):
    """A preset's model built from its config without weights (no download: pretrained encoders random), a GAN
    with its preset's n_critic."""
    from vms_zoo.preset_io import build, locate, without_downloads

    class_name, config, _, _ = locate(preset)
    model = build(class_name, without_downloads(config))
    if "n_critic" in _training(preset):
        model.n_critic = int(_training(preset)["n_critic"])
    return model


def _training(preset):
    """A registered preset's "training" entry ({} for a preset folder)."""
    return registry.presets().get(preset, {}).get("training") or {}
