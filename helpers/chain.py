"""A chain of n scalar units: the smallest model that vanishes or explodes.

    a_0 = x0,    z_k = w * a_{k-1} + b,    a_k = f(z_k),    k = 1..n

By the chain rule d a_n / d a_0 is a product of n local derivatives
w * f'(z_k); a product of many numbers shrinks to 0 or blows up unless the
numbers stay close to 1 in size. Nothing here warns about overflow: inf, 0 and
NaN are part of what the course shows.
"""
from dataclasses import dataclass

import numpy as np

from helpers.activations import get_activation
from helpers.validation import check_int, check_number


@dataclass(frozen=True, eq=False)
class ChainResult:
    """Forward values and backward derivatives of one chain of n units.

    z        (n,)   pre-activations z_1..z_n
    a        (n+1,) activations a_0 = x0, a_1..a_n
    factors  (n,)   local derivatives d a_k / d a_{k-1} = w * f'(z_k), k = 1..n
    grad_wrt (n+1,) d a_n / d a_k for k = 0..n (grad_wrt[n] = 1)
    """

    z: np.ndarray
    a: np.ndarray
    factors: np.ndarray
    grad_wrt: np.ndarray

    @property
    def gradient(self) -> float:
        """d a_n / d a_0: the product of all n local derivatives."""
        return float(self.grad_wrt[0])


def chain_forward_backward(n_units, weight, activation, x0=1.0, bias=0.0) -> ChainResult:
    """Run the chain forward, then compute d a_n / d a_k for every k."""
    n = check_int(n_units, "n_units", 1)
    w = check_number(weight, "weight")
    b = check_number(bias, "bias")
    act = get_activation(activation)
    a = np.empty(n + 1)
    a[0] = check_number(x0, "x0")
    with np.errstate(all="ignore"):
        # The forward pass is inherently sequential: each unit needs the last.
        z = np.empty(n)
        for k in range(n):
            z[k] = w * a[k] + b
            a[k + 1] = act.f(z[k])
        factors = w * act.df(z)
        # d a_n / d a_k = factors[k] * ... * factors[n-1]: a cumulative
        # product taken from the output end of the chain.
        grad_wrt = np.ones(n + 1)
        grad_wrt[:n] = np.cumprod(factors[::-1])[::-1]
    return ChainResult(z=z, a=a, factors=factors, grad_wrt=grad_wrt)


def chain_bound_curve(n_units, weight, activation) -> np.ndarray:
    """(n_units+1,) upper bound (|w| * max_slope)^(n-k) on |d a_n / d a_k|, k = 0..n.

    Each local derivative is at most |w| * sup|f'| in size, whatever the
    inputs and bias, so a product of n - k of them is at most that power.
    """
    n = check_int(n_units, "n_units", 1)
    w = check_number(weight, "weight")
    per_unit = abs(w) * get_activation(activation).max_slope
    with np.errstate(all="ignore"):
        # numpy's power turns overflow into inf (Python's ** would raise).
        return np.float64(per_unit) ** np.arange(n, -1, -1, dtype=np.float64)


def chain_bound(n_units, weight, activation) -> float:
    """(|w| * max_slope)^n_units: the bound on |d a_n / d a_0| (may be inf or 0)."""
    return float(chain_bound_curve(n_units, weight, activation)[0])


def factor_products(factor, n_factors) -> np.ndarray:
    """(n_factors,) running products factor^1, factor^2, ..., factor^n_factors.

    Computed as repeated multiplication, which is exactly what backprop does
    with a local derivative of the same size at every layer.
    """
    n = check_int(n_factors, "n_factors", 1)
    c = check_number(factor, "factor")
    with np.errstate(all="ignore"):
        return np.cumprod(np.full(n, c))
