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
norm is computed without overflow (helpers.gradcheck.norm), so such a finite
gradient is clipped to length `threshold` in its own direction, as the algorithm
says. torch also adds 1e-6 to the norm before dividing; `eps=1e-6` does the same
(to rounding), the default eps=0 gives exactly the threshold.
"""
import math
from dataclasses import dataclass

import numpy as np

from helpers.gradcheck import _to_numpy, norm
from helpers.validation import check_number


@dataclass(frozen=True, eq=False)
class Clipped:
    """What both clipping functions return.

    grads:       the clipped gradients, new float64 arrays shaped like the inputs
    norm_before: global_norm of the gradients before clipping (inf or NaN as global_norm says)
    """

    grads: list
    norm_before: float

    @property
    def norm_after(self) -> float:
        return global_norm(self.grads)


def _as_arrays(grads) -> list:
    """Float64 copies of the gradients (numpy arrays, torch tensors or nested lists)."""
    if not isinstance(grads, (list, tuple)):
        raise ValueError(f"grads must be a list or tuple of arrays, got {type(grads).__name__}")
    return [np.array(_to_numpy(g), dtype=np.float64) for g in grads]


def global_norm(grads) -> float:
    """||g||_2 of all gradients as one vector (the norm of the per-array norms).

    inf if some entry is inf (and none NaN), NaN if some entry is NaN; finite for
    finite entries (unless the norm itself is beyond float64's 1.8e308). 0.0 for an
    empty list.
    """
    return norm([norm(g) for g in _as_arrays(grads)])


def clip_by_global_norm(grads, threshold, eps=0.0) -> Clipped:
    """The gradients rescaled together so their global norm is <= threshold.

    grads: list of arrays of any shapes (the inputs are not changed). Each is
    multiplied by min(threshold / (norm_before + eps), 1): unchanged below the
    threshold. See the module docstring for inf/NaN.
    """
    threshold = check_number(threshold, "threshold", 0.0, strict=True)
    eps = check_number(eps, "eps", 0.0)
    arrays = _as_arrays(grads)
    total = global_norm(arrays)
    # This is min(threshold / (total + eps), 1) as in torch, without dividing by a
    # zero norm; and min() would pick 1 over NaN, where torch.clamp keeps NaN.
    if math.isnan(total):
        scale = math.nan
    else:
        scale = 1.0 if total + eps <= threshold else threshold / (total + eps)
    with np.errstate(all="ignore"):  # 0 * inf -> NaN, as in torch, silently
        return Clipped(grads=[g * scale for g in arrays], norm_before=total)


def clip_by_value(grads, limit) -> Clipped:
    """Every entry clipped to [-limit, limit] on its own.

    NaN stays NaN and +-inf becomes +-limit (as torch.nn.utils.clip_grad_value_).
    """
    limit = check_number(limit, "limit", 0.0, strict=True)
    arrays = _as_arrays(grads)
    return Clipped(grads=[np.clip(g, -limit, limit) for g in arrays], norm_before=global_norm(arrays))
