"""The remedies lab: a short full-batch SGD run in numpy, fast enough for a slider.

Notebook 07 changes the activation, initialisation, batch norm, residual
connections, gradient clipping, weight decay and depth, and on every move shows
both the per-layer gradient norms at initialisation and the first steps of
training the same network on the same data. On networks this small every
framework call costs more than its arithmetic, and torch's loop
(helpers.training.train) takes about twice as long as numpy for the same run, far
over a slider's budget. `numpy_train` does the same arithmetic in numpy, with the
gradients from helpers.network.numpy_layer_gradients:

    g      = dL/dtheta                          all weights and biases
    g      = clip(g)                            optional, by global norm or by value
    g      = g + weight_decay * theta           coupled L2, as torch.optim.SGD(weight_decay)
    theta  = theta - lr * g

Row 0 of the recorded gradient norms is taken before any update, so it is the
gradient at initialisation: the figure needs no second backward pass for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from helpers.gradcheck import norm
from helpers.network import NetConfig, _frobenius_norms, init_params, numpy_layer_gradients
from helpers.validation import check_int, check_number, check_optional_number

# The lab's defaults. A full update (build the network, train it; row 0 of the
# gradient norms is the initialisation) costs about steps * depth * 20-70 us: numpy's
# per-call overhead, not arithmetic, so a smaller batch or width barely helps and
# every step or layer counts. With these, on a busy 2-core machine, the median over
# a mix of settings was ~6 ms at depth 5, ~24 ms at depth 20 and ~55 ms at depth 50;
# the slowest setting (sigmoid + batch norm + residual) ~37 ms and ~87 ms.
DEFAULT_STEPS = 20  # enough for the remedies to separate at lr = 0.1
DEFAULT_WIDTH = 16
DEFAULT_BATCH = 32  # rows of data to train on, e.g. helpers.data.insurance_batch(DEFAULT_BATCH)
CLIP_NORM_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6)


@dataclass
class LabRun:
    """What happened during `numpy_train`, one row per step.

    loss:                 (steps,) mean binary cross-entropy before each update; inf/NaN kept.
    grad_norms:           (steps, depth+1) ||dL/dW_l|| of each weight matrix, before clipping
                          and weight decay; row 0 is the gradient at initialisation.
    first_nonfinite_step: first step whose loss, gradient or updated parameters held
                          inf/NaN (checked in that order, as helpers.training.train), or None.
    params:               the depth+1 pairs (W (fan_out, fan_in), b (fan_out,)) after the
                          last step.
    """

    loss: np.ndarray
    grad_norms: np.ndarray
    first_nonfinite_step: int | None
    params: list

    @property
    def diverged(self) -> bool:
        """True if anything became inf/NaN during the run."""
        return self.first_nonfinite_step is not None


def _check_run_options(config, steps, lr, clip_norm, clip_value, weight_decay) -> None:
    if not isinstance(config, NetConfig):
        raise ValueError(f"config must be a helpers.network.NetConfig, got {type(config).__name__}")
    check_int(steps, "steps", 1)
    check_number(lr, "lr", 0.0, strict=True)
    check_optional_number(clip_norm, "clip_norm", 0.0, strict=True)
    check_optional_number(clip_value, "clip_value", 0.0, strict=True)
    if clip_norm is not None and clip_value is not None:
        raise ValueError("choose one of clip_norm and clip_value (or neither), not both")
    check_number(weight_decay, "weight_decay", 0.0)


def _flat_params(params: list):
    """(flat, views): every W and then every b copied into one float64 vector, and
    (W, b) pairs that are views into it, shaped as params.

    numpy_layer_gradients reads the views; clipping, weight decay, the update and the
    inf/NaN check then each cost one operation on `flat` instead of one per array.
    """
    arrays = [w for w, _ in params] + [b for _, b in params]
    flat = np.concatenate(arrays, axis=None)
    views, start = [], 0
    for a in arrays:
        views.append(flat[start:start + a.size].reshape(a.shape))
        start += a.size
    n = len(params)
    return flat, list(zip(views[:n], views[n:]))


def _clip_norm_scale(grads, clip_norm: float) -> float:
    """The factor clip_grad_norm_ multiplies every gradient by: min(clip_norm / (norm + eps), 1).

    norm is the global norm of all weight and bias gradients, taken as torch and
    helpers.clipping.clip_by_global_norm take it, as the norm of the per-array
    norms (no overflow for finite entries; inf for inf entries; NaN, and so a NaN
    factor, for NaN entries). The weight norms are the ones numpy_layer_gradients
    already has. Not one norm of the whole flat gradient: over 10,000 entries numpy
    hands that to OpenBLAS's multithreaded dot, whose threads can stall a busy
    2-core machine for milliseconds per call.
    """
    total = norm(np.concatenate([grads.weight_norms, _frobenius_norms(grads.bias_grads)]))
    if math.isnan(total):
        return math.nan  # torch.clamp keeps NaN, so every entry becomes NaN
    if total + CLIP_NORM_EPS <= clip_norm:
        return 1.0
    return clip_norm / (total + CLIP_NORM_EPS)


def numpy_train(config: NetConfig, x, y, *, rng, steps: int = DEFAULT_STEPS, lr: float = 0.1,
                clip_norm: float | None = None, clip_value: float | None = None,
                weight_decay: float = 0.0) -> LabRun:
    """Full-batch plain SGD on init_params(config, rng).

    x (n, config.n_in), y (n,) labels in [0, 1]; the loss is helpers.network's mean
    binary cross-entropy. Each step is helpers.training.train(optimizer="sgd") on
    to_torch(...) of the same parameters: clip_norm rescales all gradients (weights
    and biases together) to norm <= clip_norm as torch.nn.utils.clip_grad_norm_;
    clip_value cuts every entry to [-clip_value, clip_value]; then weight_decay * theta
    is added to the gradient, as torch.optim.SGD(weight_decay=...) does. With
    batch_norm the hidden biases get zero gradient (BN cancels them) and, starting at
    0, stay 0 under weight decay, like torch's Linear layers without bias.
    A blow-up is a result: the run goes on, recording inf/NaN, without warnings.
    """
    _check_run_options(config, steps, lr, clip_norm, clip_value, weight_decay)
    flat, params = _flat_params(init_params(config, rng))
    # Converted once, so the per-step checks inside numpy_layer_gradients are no-ops.
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    losses = np.empty(steps)
    grad_norms = np.empty((steps, config.depth + 1))
    first_bad = None
    lr, weight_decay = float(lr), float(weight_decay)
    with np.errstate(all="ignore"):  # overflow to inf and NaN are what a blow-up is
        for step in range(steps):
            grads = numpy_layer_gradients(params, x, y, config.activation,
                                          batch_norm=config.batch_norm, residual=config.residual)
            losses[step] = grads.loss
            grad_norms[step] = grads.weight_norms
            g = np.concatenate(grads.weight_grads + grads.bias_grads, axis=None)  # same layout as flat
            if first_bad is None and not (math.isfinite(grads.loss) and np.isfinite(g).all()):
                first_bad = step
            if clip_norm is not None:
                g *= _clip_norm_scale(grads, clip_norm)
            elif clip_value is not None:
                # clip_by_value's rule (NaN stays, +-inf -> +-limit), in place, without the
                # global norm it also reports: that norm would cost more than the clip.
                np.clip(g, -clip_value, clip_value, out=g)
            if weight_decay:
                g += weight_decay * flat
            g *= lr
            flat -= g  # in place: the views in params see the new values
            if first_bad is None and not np.isfinite(flat).all():
                first_bad = step
    return LabRun(loss=losses, grad_norms=grad_norms, first_nonfinite_step=first_bad, params=params)
