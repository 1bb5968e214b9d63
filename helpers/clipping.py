"""Gradient clipping, the usual cure for exploding gradients, in numpy.

clip_by_global_norm is Algorithm 1 of Pascanu, Mikolov & Bengio (2013), "On the
difficulty of training recurrent neural networks":

    g = all gradients as one vector
    if ||g|| >= threshold:  g <- (threshold / ||g||) * g

It keeps the direction of the step and only shortens it. clip_by_value clips
every entry to [-limit, limit] separately, which can turn the direction.

Both follow torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (with
error_if_nonfinite=False, torch's default) in what they do to inf and NaN:

- global norm: the total norm is computed as torch does, as the norm of the
  per-array norms. NaN anywhere makes the norm NaN and every clipped entry NaN;
  an inf entry (and no NaN) makes the norm inf, the scale factor
  threshold / inf = 0, so finite entries become 0 and the inf entries NaN (0 * inf).
- by value: NaN stays NaN, +-inf becomes +-limit.

One deliberate difference: torch sums squares, so in float64 entries beyond
about 1e154 overflow its norm to inf and the whole gradient is zeroed. Here the
norm is computed without overflow (as in helpers.gradcheck), so such a finite
gradient is clipped to length `threshold` in its own direction, as the algorithm
says. torch also adds 1e-6 to the norm before dividing; `eps=1e-6` does the same
(to rounding), the default eps=0 gives exactly the threshold.
"""
import math
from numbers import Real

import numpy as np

from helpers.gradcheck import _norm, _to_numpy


def _check_positive(value, name: str) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _as_arrays(grads) -> list:
    """Float64 copies of the gradients (numpy arrays, torch tensors or nested lists)."""
    if not isinstance(grads, (list, tuple)):
        raise ValueError(f"grads must be a list or tuple of arrays, got {type(grads).__name__}")
    return [np.array(_to_numpy(g), dtype=np.float64) for g in grads]


def global_norm(grads) -> float:
    """||g||_2 of all gradients as one vector (the norm of the per-array norms).

    inf if some entry is inf (and none NaN), NaN if some entry is NaN; never
    overflows for finite entries. 0.0 for an empty list.
    """
    arrays = _as_arrays(grads)
    with np.errstate(all="ignore"):
        return _norm(np.array([_norm(g) for g in arrays]))


def clip_by_global_norm(grads, threshold, eps=0.0):
    """(clipped, norm_before): the gradients rescaled so their global norm is <= threshold.

    grads: list of arrays of any shapes; clipped: list of float64 arrays of the
    same shapes (new arrays; the inputs are not changed). Each is multiplied by
    min(threshold / (norm_before + eps), 1): unchanged below the threshold.
    norm_before: global_norm(grads), a float. See the module docstring for inf/NaN.
    """
    threshold = _check_positive(threshold, "threshold")
    ok = isinstance(eps, Real) and not isinstance(eps, bool) and math.isfinite(eps) and eps >= 0
    if not ok:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    arrays = _as_arrays(grads)
    norm = global_norm(arrays)
    # This is min(threshold / (norm + eps), 1) as in torch, without dividing by a
    # zero norm; and min() would pick 1 over NaN, where torch.clamp keeps NaN.
    if math.isnan(norm):
        scale = math.nan
    else:
        scale = 1.0 if norm + eps <= threshold else threshold / (norm + eps)
    with np.errstate(all="ignore"):  # 0 * inf -> NaN, as in torch, silently
        return [g * scale for g in arrays], norm


def clip_by_value(grads, limit) -> list:
    """Every entry clipped to [-limit, limit]; float64 arrays of the same shapes.

    NaN stays NaN and +-inf becomes +-limit (as torch.nn.utils.clip_grad_value_).
    """
    limit = _check_positive(limit, "limit")
    return [np.clip(g, -limit, limit) for g in _as_arrays(grads)]
