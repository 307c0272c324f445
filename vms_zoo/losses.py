"""Loss terms as pure functions of tensors (keras.ops only), shared by every model in the zoo."""

from keras import ops


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) per sample, summed over latent dimensions.

    Closed form of the second term of Eq. (2) in the VMS-predictor paper.
    """
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def reconstruction_loss(y_true, y_pred, kind="mse"):
    """Per-sample reconstruction error summed over every map element.

    Summing (not averaging) over pixels keeps the term on the scale of a log-likelihood, so it stays
    balanced against the KL term whatever the map resolution. `kind` is "mse" (squared error, the
    Gaussian likelihood of Eq. 2) or "l1" (the paper's L1 variant).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    diff = ops.cast(y_true, y_pred.dtype) - y_pred
    if kind == "mse":
        err = ops.square(diff)
    elif kind == "l1":
        err = ops.abs(diff)
    else:
        raise ValueError(f"Unknown reconstruction loss {kind!r}; expected 'mse' or 'l1'.")
    return ops.sum(ops.reshape(err, (ops.shape(err)[0], -1)), axis=-1)


# --- Wasserstein GAN terms (W-MEMGAN, Eq. 3 of the W-MEMGAN paper) ----------------------------------


def critic_loss(real_scores, fake_scores):
    """Critic side of the Wasserstein loss: E[D(G(z, M))] - E[D(x)], minimised by the critic."""
    return ops.mean(fake_scores) - ops.mean(real_scores)


def generator_loss(fake_scores):
    """Generator side of the Wasserstein loss: -E[D(G(z, M))]."""
    return -ops.mean(fake_scores)


def wasserstein_estimate(real_scores, fake_scores):
    """E[D(x)] - E[D(G(z, M))]: the critic's estimate of the Earth-Mover distance, for monitoring."""
    return ops.mean(real_scores) - ops.mean(fake_scores)


def drift_loss(real_scores, weight=0.001):
    """weight * E[D(x)^2]: keeps critic outputs near zero so the Wasserstein terms cannot drift (ProGAN)."""
    return weight * ops.mean(ops.square(real_scores))


def gradient_penalty(critic, real, fake, mix, epsilon=1e-10):
    """E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = mix * real + (1 - mix) * fake (Gulrajani et al.).

    `mix` holds the uniform interpolation weights, shape (N, 1, 1, 1), drawn by the caller so the
    function stays pure. `epsilon` sits inside the square root: the norm's gradient is finite even where
    the input gradient vanishes. The result is differentiable w.r.t. the critic's weights (double backprop).
    """
    from vms_zoo import backend

    mix = ops.cast(mix, real.dtype)
    x_hat = mix * real + (1.0 - mix) * ops.cast(fake, real.dtype)
    grads = backend.input_gradient(critic, x_hat)
    grads = ops.reshape(grads, (ops.shape(grads)[0], -1))
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=-1) + epsilon)
    return ops.mean(ops.square(norms - 1.0))


def memorability_loss(predicted, target, alpha=1.0):
    """alpha * E[(P(G(z, M)) - M)^2]: the memorability feedback term of Eq. (3).

    `predicted` is the frozen predictor's true-schema output already reduced to the shape of `target`
    (a score per image, or a 10x10 map).
    """
    target = ops.cast(target, predicted.dtype)
    if tuple(predicted.shape[1:]) != tuple(target.shape[1:]):
        raise ValueError(
            f"memorability_loss: prediction shape {tuple(predicted.shape)} does not match target shape "
            f"{tuple(target.shape)}; reduce the prediction to the condition's shape first."
        )
    return alpha * ops.mean(ops.square(predicted - target))
