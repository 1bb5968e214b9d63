"""Tools to check a gradient: a norm that cannot overflow, a relative error and central differences."""
import math

import numpy as np

from helpers.validation import check_number


def _to_numpy(a) -> np.ndarray:
    # torch tensors (possibly requiring grad) expose detach(); anything else
    # numpy can read (scalars, lists, arrays) goes straight through. Tensors become
    # float64 on torch's side: numpy cannot read bfloat16, and float64 comes next anyway.
    if hasattr(a, "detach"):
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


# A sum of squares at or above this lost nothing that matters to gradual underflow
# (each square below 2.2e-308 is off by at most 5e-324); one below it, or one that
# overflowed, is done again with the entries rescaled.
_SUMSQ_FLOOR = 1e-280


def _check_axis(axis, ndim: int):
    """axis (None, an int or a tuple of ints) as None or a tuple of distinct axes 0..ndim-1."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) and -ndim <= i < ndim for i in axes):
        axes = tuple(int(i) % ndim for i in axes)
        if len(set(axes)) == len(axes):
            return axes
    raise ValueError(f"axis must be None, an integer or a tuple of distinct integers from {-ndim} to {ndim - 1} "
                     f"(the array has {ndim} dimensions), got {axis!r}")


def _rescaled_norm(a: np.ndarray, axis, biggest: np.ndarray) -> np.ndarray:
    """The norm over axis with the entries divided by a power of two near the largest one.

    biggest: max |a| over axis, keepdims. A power of two divides and multiplies back
    exactly, so this is the plain sum of squares, just with no square out of range.
    """
    ok = (biggest > 0) & np.isfinite(biggest)
    scale = np.ldexp(1.0, np.frexp(biggest)[1] - 1)  # biggest / scale in [1, 2)
    scale = np.where(ok, scale, 1.0)
    scaled = np.sqrt(np.sum(np.square(a / scale), axis=axis, keepdims=True)) * scale
    # All zeros, an inf or a NaN: the largest |entry| is already the norm (0, inf, NaN).
    return np.where(ok, scaled, biggest)


def _norm_of_all(a: np.ndarray) -> float:
    """norm(a) over every entry of a float64 array; call inside np.errstate(all="ignore").

    Apart from norm so that a loop over many arrays (helpers.network's per-layer
    norms, redone on every slider move) pays for the argument checks and the
    errstate once, not once per array.
    """
    # One dot product, numpy's cheapest sum of squares, is right unless it left the range.
    flat = a.ravel()
    sumsq = float(np.dot(flat, flat))
    if _SUMSQ_FLOOR <= sumsq < math.inf:
        return math.sqrt(sumsq)
    biggest = np.max(np.abs(a), initial=0.0, keepdims=True)
    return float(_rescaled_norm(a, None, biggest).reshape(()))


def norm(a, axis=None):
    """Euclidean (Frobenius) norm of ``a`` (...) over ``axis``, free of overflow and underflow.

    a: array, torch tensor or number of any shape, read as float64. axis: None (every
    entry; returns a float), or an int or tuple of ints (returns an array with those
    axes removed), as in np.linalg.norm(a.ravel()) or np.sqrt(np.sum(a**2, axis)).
    The result is 0 when every entry is 0 (or there are none), NaN when an entry is
    NaN, inf when an entry is inf (or the norm itself is beyond float64's 1.8e308),
    and otherwise the norm to rounding, even where squaring the entries would
    overflow (|a| above 1e154) or underflow (below 1e-154).
    """
    a = _to_numpy(a)
    axes = _check_axis(axis, a.ndim)
    with np.errstate(all="ignore"):
        if axes is None:
            return _norm_of_all(a)
        sumsq = np.sum(np.square(a), axis=axes)
        out = np.sqrt(sumsq)
        redo = ~((sumsq >= _SUMSQ_FLOOR) & (sumsq < math.inf))  # overflowed, underflowed or NaN
        if redo.any():
            biggest = np.max(np.abs(a), axis=axes, initial=0.0, keepdims=True)
            out = np.where(redo, _rescaled_norm(a, axes, biggest).reshape(out.shape), out)
        return out


def rel_error(a, b, eps=1e-12) -> float:
    """||a - b|| / max(||a|| + ||b||, eps), a number in [0, 1] (or nan).

    a, b: arrays, torch tensors or scalars of one shape (...). The Euclidean
    norm of the whole array is used, so one tiny entry that differs a lot
    relative to itself does not dominate. NaN in either input gives nan.
    """
    eps_value = check_number(eps, "eps", 0.0, strict=True)
    a, b = _to_numpy(a), _to_numpy(b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    with np.errstate(all="ignore"):
        if np.isnan(a).any() or np.isnan(b).any():
            return math.nan
        return norm(a - b) / max(norm(a) + norm(b), eps_value)


def numerical_gradient(f, x, h=1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function f at x, shape of x.

    x must be a float64 numpy array: each entry is nudged by +-h in place (so
    f may read x through a closure, e.g. one weight matrix inside a list of
    parameters) and put back afterwards, even if f raises. The error is
    O(h^2) from the formula plus O(eps_machine / h) from rounding.
    """
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
        raise ValueError(
            f"x must be a float64 numpy array (it is nudged in place), got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")
        )
    h_value = check_number(h, "h", 0.0, strict=True)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        try:
            x[index] = original + h_value
            f_plus = float(f(x))
            x[index] = original - h_value
            f_minus = float(f(x))
        finally:
            x[index] = original
        grad[index] = (f_plus - f_minus) / (2.0 * h_value)
    return grad


def check_close(name: str, got, reference, expected_below: float) -> bool:
    """Print the relative error of `got` against `reference` and whether it is below the bound.

    The printed error itself varies with the machine's rounding; the verdict does not.
    """
    err = rel_error(got, reference)
    ok = err < expected_below
    print(f"{name}: relative error {err:.1e} (expected below {expected_below:.0e}): {'OK' if ok else 'TOO LARGE'}")
    return ok
