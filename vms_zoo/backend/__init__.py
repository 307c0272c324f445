"""Framework code: the only package of vms_zoo that imports tensorflow, jax or torch, or Keras' private
`keras.src`, and the only one that branches on the Keras backend (vms_zoo/data/ builds tf.data pipelines, the one
exception; tests/test_backend.py checks both). Besides this module: `conv` (convolutions with faster gradients),
`fit_data` (what the GANs' `fit` is given) and `distribution` (data-parallel setups).

Model code stays backend-agnostic by asking for these things only:

- `value_and_grad(fn, variables)`: gradients of a scalar loss w.r.t. Keras variables. `fn()` takes no
  arguments, reads the variables as ordinary layer weights and returns `(loss, aux)`.
- `input_gradient(fn, x)`: d sum(fn(x)) / dx, kept differentiable w.r.t. the weights `fn` reads, so a
  loss built from it (the WGAN-GP penalty) can be differentiated again (double backprop).
- `train_step(model, step, *args)`: runs a stateful `step(data) -> logs` as Keras' train step. On JAX the
  Keras trainer passes and expects the whole state (weights, optimizer slots, metrics); the step runs in
  a `keras.StatelessScope` seeded with that state and the updated values are read back from it.
- `inference(model, x)`: `model(x, training=False)` outside a train step, compiled once per input shape on JAX;
  `in_batches(fn, arrays, batch_size)`: inference over equal-shaped chunks.
- `conv_nhwc(x, kernel, strides, padding)`: keras.ops.conv, on torch without Keras' layout copies.
- `scale_for_replicas(loss)`: a hand-written loss averaged over a replica's batch, scaled so that the
  summed gradients of tf.distribute replicas equal those of the global batch (identity elsewhere).
- `apply_gradients(optimizer, grads, variables)`: optimizer.apply, loss-scaled optimizers included on JAX.
- The per-backend choices, each named for its reason: `synchronized_batch_norm()`, `traces_optimizer_build()`,
  `tuner_imports_tensorboard()`, `jit_compile_with_double_backprop()`.
- `read_torch_state_dict(path)`: a third-party torch checkpoint as numpy arrays, on any backend.

On JAX `fn` must not update state (no seed draws, no batch-norm statistics): those updates happen inside
`jax.grad` and cannot leave it. Draw random numbers before calling `value_and_grad`.
"""

import keras

BACKEND = keras.backend.backend()


def same_padding(size, kernel, stride):
    """(before, after) zero padding of one spatial axis for Keras' (TensorFlow's) 'same': ceil(size / stride)
    outputs, the odd pixel after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def same_transpose_crop(kernel, stride):
    """Where Keras' (TensorFlow's) 'same' transposed convolution starts in its full output, (n - 1) * s + k long,
    along one axis: it keeps n * s from here."""
    return max(kernel - stride, 0) // 2


if BACKEND == "tensorflow":
    import tensorflow as tf

    def value_and_grad(fn, variables):
        with tf.GradientTape() as tape:
            for v in variables:
                tape.watch(v.value)
            loss, aux = fn()
        # Zeros, not None, for weights the loss ignores (as JAX does): e.g. the critic's output bias in the GP.
        grads = tape.gradient(loss, [v.value for v in variables], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, aux, grads

    def input_gradient(fn, x):
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        # Computed inside any enclosing tape, so the outer tape records it: double backprop.
        return tape.gradient(y, x)

    def train_step(model, step, data):
        return step(data)

    def scale_for_replicas(loss):
        """A replica's share of a loss averaged over the global batch: gradients are summed across replicas."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / replicas if replicas > 1 else loss

    def replica_slice():
        """(index, count) of this replica under tf.distribute: replicas draw the global batch's noise from
        their shared (mirrored) seed state and keep their own slice of it. (0, 1) outside a replica context."""
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return 0, 1
        return context.replica_id_in_sync_group, context.num_replicas_in_sync

    conv_nhwc = keras.ops.conv

elif BACKEND == "jax":
    import jax
    from keras.src.backend.common.stateless_scope import get_stateless_scope

    def _scope_with(variables, values):
        """A StatelessScope that sees the enclosing scope's state, with `variables` set to `values`."""
        outer = get_stateless_scope()
        scope = keras.StatelessScope(state_mapping=list(zip(variables, values)))
        if outer is not None:
            scope.state_mapping = {**outer.state_mapping, **scope.state_mapping}
        return scope

    def value_and_grad(fn, variables):
        variables = list(variables)
        values = [v.value for v in variables]

        def pure(values):
            scope = _scope_with(variables, values)
            before = dict(scope.state_mapping)
            with scope:
                loss, aux = fn()
            if any(before.get(k) is not v for k, v in scope.state_mapping.items()):
                raise RuntimeError(
                    "The loss function passed to value_and_grad updated a variable (a seed draw or a "
                    "batch-norm statistic); on JAX that update would be lost. Draw random numbers before."
                )
            return loss, aux

        (loss, aux), grads = jax.value_and_grad(pure, has_aux=True)(values)
        return loss, aux, grads

    def input_gradient(fn, x):
        # The weights `fn` reads are tracers of any enclosing jax.grad, so the result stays differentiable.
        return jax.grad(lambda x: jax.numpy.sum(fn(x)))(x)

    def train_step(model, step, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        groups = [
            (model.trainable_variables, trainable),
            (model.non_trainable_variables, non_trainable),
            (model.optimizer.variables, optimizer_vars),
            (model.metrics_variables, metrics_vars),
        ]
        mapping = [pair for refs, values in groups for pair in zip(refs, values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = step(data)
        new_state = tuple([scope.get_current_value(v) for v in refs] for refs, _ in groups)
        return logs, new_state

    def scale_for_replicas(loss):
        return loss  # keras.distribution shards one global computation: nothing to rescale

    def replica_slice():
        return 0, 1

    conv_nhwc = keras.ops.conv

elif BACKEND == "torch":
    import torch

    def value_and_grad(fn, variables):
        loss, aux = fn()
        values = [v.value for v in variables]
        grads = torch.autograd.grad(loss, values, allow_unused=True)
        grads = [torch.zeros_like(v) if g is None else g for v, g in zip(values, grads)]
        return loss, aux, grads

    def input_gradient(fn, x):
        x = torch.as_tensor(x).detach().requires_grad_(True)
        y = fn(x)
        return torch.autograd.grad(y.sum(), x, create_graph=True)[0]

    def train_step(model, step, data):
        return step(data)

    def scale_for_replicas(loss):
        return loss  # Keras' torch trainer runs one process on one device

    def replica_slice():
        return 0, 1

    def conv_nhwc(x, kernel, strides=1, padding="valid"):
        """keras.ops.conv (NHWC, kernel (kh, kw, in, out), no dilation or groups) without Keras' two layout copies
        (an NCHW `.contiguous()`, then back to channels-last): the permuted view already is channels-last in memory,
        which oneDNN convolves as it is."""
        import torch.nn.functional as F

        x = torch.as_tensor(x).permute(0, 3, 1, 2)
        kernel = torch.as_tensor(kernel).permute(3, 2, 0, 1)
        strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
        pads = [(0, 0), (0, 0)]
        if padding == "same":
            pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel.shape[2:], strides)]
        if all(a == b for a, b in pads):
            out = F.conv2d(x, kernel, stride=strides, padding=[a for a, _ in pads])
        else:
            out = F.conv2d(F.pad(x, (*pads[1], *pads[0])), kernel, stride=strides)
        return out.permute(0, 2, 3, 1)

    def conv_transpose_nhwc(x, kernel, strides, padding):
        """keras.ops.conv_transpose (NHWC, kernel (kh, kw, out, in), kernel >= stride, no dilation or output
        padding) without Keras' two layout copies, as `conv_nhwc`: torch's full transposed convolution, then the
        window Keras keeps: n * s from (k - s) // 2 for 'same', (n - 1) * s + k from 0 for 'valid'."""
        import torch.nn.functional as F

        x = torch.as_tensor(x).permute(0, 3, 1, 2)
        out = F.conv_transpose2d(x, torch.as_tensor(kernel).permute(3, 2, 0, 1), stride=tuple(strides))
        if padding == "same":
            (h, w), (kh, kw), (sh, sw) = x.shape[2:], kernel.shape[:2], strides
            fh, fw = same_transpose_crop(kh, sh), same_transpose_crop(kw, sw)
            out = out[:, :, fh:fh + h * sh, fw:fw + w * sw]
        return out.permute(0, 2, 3, 1)

else:
    raise ImportError(
        f"vms_zoo supports the tensorflow, jax and torch Keras backends, not {BACKEND!r}."
    )


def has_values(x):
    """Whether `x` holds numbers now (numpy, an eager tensor), so they can be checked in Python. False for Keras'
    symbolic tensors and for tensors being traced (tf.function, jax.jit, torch.compile): their values exist only
    when the compiled function runs."""
    if isinstance(x, keras.KerasTensor):
        return False
    if BACKEND == "tensorflow":
        return not tf.is_symbolic_tensor(x)
    if BACKEND == "jax":
        return not isinstance(x, jax.core.Tracer)
    return not torch.compiler.is_compiling()


def inference(model, x):
    """`model(x, training=False)` outside a train step. On JAX through the model's jitted predict function, one
    compile per input shape: called eagerly, each of its ops would compile on its own (~25 ms apiece on XLA:CPU,
    seconds per model). Elsewhere the plain call, which needs no tracing."""
    if BACKEND == "jax":
        return model.predict_on_batch(x)
    return model(x, training=False)


BATCH_PIXELS = 1 << 18  # our choice: input pixels per inference batch; 5 images for ResMem (about 1.5 GB on TF)


def fitting_batch(batch_size, image_size):
    """`batch_size`, made smaller for large inputs: a functional Keras model keeps every activation of a batch
    until it ends (ResMem: about 0.3 GB per 227 px image on TF), so 64 such images would need 19 GB."""
    return max(1, min(int(batch_size), BATCH_PIXELS // (int(image_size) ** 2)))


def in_batches(fn, arrays, batch_size):
    """numpy `fn(*chunks)` over equal chunks of `batch_size` rows (fewer rows: one chunk of them), concatenated:
    the last chunk is zero-padded to the others' shape and its padding dropped, as on JAX each new input shape
    compiles the model again. For row-independent `fn` (inference)."""
    import numpy as np

    n = len(arrays[0])
    batch = max(1, min(batch_size, n))
    out = []
    for start in range(0, n, batch):
        chunks = [a[start:start + batch] for a in arrays]
        rows = len(chunks[0])
        padded = [np.concatenate([c, np.zeros((batch - rows,) + c.shape[1:], c.dtype)]) for c in chunks]
        out.append(keras.ops.convert_to_numpy(fn(*padded))[:rows])
    return np.concatenate(out)


def apply_gradients(optimizer, grads, variables):
    """optimizer.apply(grads, variables); on JAX a LossScaleOptimizer goes through its stateless_apply, as Keras'
    JAX trainer does (its stateful apply assigns variables inside a traced branch, which JAX cannot)."""
    if BACKEND != "jax" or not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.apply(grads, variables)
        return
    new_values, new_slots = optimizer.stateless_apply([v.value for v in optimizer.variables], grads,
                                                      [v.value for v in variables])
    for variable, value in zip(list(variables) + list(optimizer.variables), list(new_values) + list(new_slots)):
        variable.assign(value)


def jit_compile_with_double_backprop():
    """compile()'s jit_compile for a train step that differentiates twice (a gradient penalty), chosen with
    bench/bench_gan.py --jit-compile (docs/performance.md): "auto" on TensorFlow (XLA trains these nets slower on
    CPUs; "auto" uses it on GPUs only), True on JAX (faster than op by op), False on torch (torch.compile cannot
    differentiate the penalty twice)."""
    return {"tensorflow": "auto", "jax": True, "torch": False}[BACKEND]


def synchronized_batch_norm():
    """Whether BatchNormalization must synchronise its statistics across replicas to see the global batch: under
    tf.distribute each replica holds a share of it; JAX's DataParallel is one global computation and torch one
    device."""
    return BACKEND == "tensorflow"


def traces_optimizer_build():
    """Whether an optimizer built on the first train step makes the step trace twice: on TensorFlow, whose
    tf.function traces again for the variables created inside (1-3 s per model); Keras builds it beforehand on JAX
    and torch."""
    return BACKEND == "tensorflow"


def tuner_imports_tensorboard():
    """Whether keras-tuner imports tensorboard in every trial: on TensorFlow, to patch TensorBoard callbacks."""
    return BACKEND == "tensorflow"


def read_torch_state_dict(path):
    """{name: numpy array} of a torch state-dict file (weights_only: the file runs no code), on any Keras backend;
    an ImportError when torch is not installed."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"Reading {path} needs torch: pip install torch") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {name: value.numpy() for name, value in state.items()}


__all__ = ["BACKEND", "value_and_grad", "input_gradient", "train_step", "scale_for_replicas", "replica_slice",
           "has_values", "inference", "in_batches", "conv_nhwc", "same_padding", "same_transpose_crop",
           "apply_gradients", "jit_compile_with_double_backprop", "synchronized_batch_norm", "traces_optimizer_build",
           "tuner_imports_tensorboard", "read_torch_state_dict"]
