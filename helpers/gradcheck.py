"""Tools to check a gradient: a relative error and central differences."""
import math

import numpy as np

from helpers.validation import check_number


def _to_numpy(a) -> np.ndarray:
    # torch tensors (possibly requiring grad) expose detach(); anything else
    # numpy can read (scalars, lists, arrays) goes straight through.
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _norm(a: np.ndarray) -> float:
    # Dividing by the largest entry first keeps ||a|| finite (and non-zero)
    # when the squares of the entries would overflow (or underflow).
    scale = np.max(np.abs(a), initial=0.0)
    if scale == 0 or not np.isfinite(scale):
        return float(scale)  # 0, inf or nan: already the right answer
    return float(scale * np.linalg.norm(a / scale))


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
        return _norm(a - b) / max(_norm(a) + _norm(b), eps_value)


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
