"""Recurrent weight matrices of a chosen size, and the two numbers that measure them.

A vanilla RNN multiplies the gradient by W_h^T (and by f') once per time step, so
over T steps the gradient is shaped by powers of W_h. Two numbers describe W_h:

- spectral_radius(W) = max |eigenvalue|: how fast W^T grows or shrinks in the
  long run (||W^T||^(1/T) -> spectral radius as T grows);
- largest_singular_value(W) = ||W||_2: the most W can stretch a vector in one
  step, so ||W^T||_2 <= ||W||_2^T for every T (the bound of Pascanu et al. 2013).

For a scaled orthogonal matrix rho * Q the two coincide (every singular value and
every eigenvalue modulus is rho), so the bound is exact. For a Gaussian matrix the
largest singular value is about twice the spectral radius (for large n), so the
bound is loose early on while the long-run rate is set by the spectral radius.
"""
import numpy as np

from helpers.validation import check_int, check_number, check_rng


def _check_matrix(W, square: bool) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.size == 0 or (square and W.shape[0] != W.shape[1]):
        kind = "a non-empty square 2-D array (n, n)" if square else "a non-empty 2-D array"
        raise ValueError(f"W must be {kind}, got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W must hold finite numbers only; found inf or NaN")
    return W


def spectral_radius(W) -> float:
    """max |eigenvalue| of the square matrix W (n, n), finite entries only."""
    return float(np.max(np.abs(np.linalg.eigvals(_check_matrix(W, square=True)))))


def largest_singular_value(W) -> float:
    """||W||_2, the largest singular value of the 2-D matrix W, finite entries only."""
    return float(np.linalg.norm(_check_matrix(W, square=False), 2))


def scaled_orthogonal(n, rho, rng) -> np.ndarray:
    """(n, n) float64 matrix rho * Q with Q a random orthogonal matrix.

    All n singular values equal rho (and all eigenvalues have modulus rho).
    Q is uniformly distributed over the orthogonal matrices (Haar measure):
    the Q of a QR decomposition of a Gaussian matrix, with the sign of each
    column fixed by the sign of R's diagonal. Draws n * n normals from rng.
    """
    n = check_int(n, "n", 1)
    rho = check_number(rho, "rho", 0.0)
    check_rng(rng)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    # Without the sign fix QR's sign convention would bias Q away from uniform.
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    return rho * (q * signs)


def scaled_gaussian(n, radius, rng) -> np.ndarray:
    """(n, n) float64 Gaussian matrix rescaled so its spectral radius is `radius`.

    The entries are i.i.d. N(0, 1) (n * n draws from rng) times one common
    factor radius / (spectral radius of the draw), so the matrix keeps its
    random shape and only its size is set. Its largest singular value is larger
    than `radius` (about 2 * radius for large n): Gaussian matrices are not normal.
    """
    n = check_int(n, "n", 1)
    radius = check_number(radius, "radius", 0.0)
    check_rng(rng)
    g = rng.standard_normal((n, n))
    # A Gaussian draw is invertible with probability 1, so its radius is > 0.
    return g * (radius / spectral_radius(g))
