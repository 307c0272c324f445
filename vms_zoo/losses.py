"""Loss terms as pure functions of tensors (keras.ops only), shared by every model in the zoo."""

from keras import ops


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) per sample, summed over latent dimensions.

    Closed form of the second term of Eq. (2) in the VMS-predictor paper.
    """
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def reconstruction_loss(y_true, y_pred, kind="mse"):
    """Per-sample reconstruction error summed over every map element.

    Summing (not averaging) over pixels keeps the term on the scale of a log-likelihood, so it stays
    balanced against the KL term whatever the map resolution. `kind` is "mse" (squared error, the
    Gaussian likelihood of Eq. 2) or "l1" (the paper's L1 variant).
    """
    diff = ops.cast(y_true, y_pred.dtype) - y_pred
    if kind == "mse":
        err = ops.square(diff)
    elif kind == "l1":
        err = ops.abs(diff)
    else:
        raise ValueError(f"Unknown reconstruction loss {kind!r}; expected 'mse' or 'l1'.")
    return ops.sum(ops.reshape(err, (ops.shape(err)[0], -1)), axis=-1)
