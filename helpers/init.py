"""Weight initialisations, each a function of (fan_out, fan_in, rng, gain=1.0).

Every function returns a fresh (fan_out, fan_in) float64 matrix, the layout of
torch.nn.Linear.weight, so a batch goes through it as h @ W.T. The caller's
np.random.Generator decides reproducibility. ``gain`` multiplies the whole
matrix (as torch.nn.init's ``gain`` does), so the variances below are for gain 1.

- naive_normal: N(0, scale^2) whatever the layer's size. With scale = 1 every
  layer multiplies the signal's variance by about fan_in: it explodes; with a
  small fixed scale (0.01) it vanishes instead.
- xavier_normal: N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010, "Understanding
  the difficulty of training deep feedforward neural networks"). Forward, a unit's
  variance is multiplied by fan_in * Var(W); backward by fan_out * Var(W). Both
  are 1 only if fan_in = fan_out; the harmonic compromise 2 / (fan_in + fan_out)
  keeps both near 1 for units of slope ~1 at 0 (tanh, linear).
- he_normal: N(0, 2 / fan_in) (He, Zhang, Ren & Sun 2015, "Delving deep into
  rectifiers"). relu zeroes half of its inputs, which halves the second moment;
  twice the 1/fan_in variance makes up for it exactly.
- orthogonal: a random matrix with orthonormal rows or columns, so every
  singular value is 1 (Saxe, McClelland & Ganguli 2014, "Exact solutions to the
  nonlinear dynamics of learning in deep linear neural networks"). A product
  of square orthogonal matrices is orthogonal: a deep linear network neither
  shrinks nor stretches any direction, however deep.
- identity: the identity matrix, for recurrent weights (Le, Jaitly & Hinton
  2015, "A simple way to initialize recurrent networks of rectified linear
  units"): h_t = relu(h_{t-1} + W_x x_t) starts out copying its state forward.
  Square only.

The *_std functions give the standard deviations of the Gaussian ones, so code
that rescales stored N(0, 1) draws (helpers.network) uses exactly these rules.
"""
import math

import numpy as np

from helpers.validation import check_int, check_number, check_rng


def _check_args(fan_out, fan_in, rng, gain):
    fan_out = check_int(fan_out, "fan_out", 1)
    fan_in = check_int(fan_in, "fan_in", 1)
    check_rng(rng)
    return fan_out, fan_in, check_number(gain, "gain", 0.0)


def xavier_std(fan_out, fan_in, gain=1.0) -> float:
    """gain * sqrt(2 / (fan_in + fan_out)): the standard deviation of xavier_normal."""
    fan_out = check_int(fan_out, "fan_out", 1)
    fan_in = check_int(fan_in, "fan_in", 1)
    return check_number(gain, "gain", 0.0) * math.sqrt(2.0 / (fan_in + fan_out))


def he_std(fan_out, fan_in, gain=1.0) -> float:
    """gain * sqrt(2 / fan_in): the standard deviation of he_normal."""
    check_int(fan_out, "fan_out", 1)
    fan_in = check_int(fan_in, "fan_in", 1)
    return check_number(gain, "gain", 0.0) * math.sqrt(2.0 / fan_in)


def naive_normal(fan_out, fan_in, rng, gain=1.0, scale=1.0) -> np.ndarray:
    """(fan_out, fan_in) draws from N(0, (gain * scale)^2), blind to the layer's size."""
    fan_out, fan_in, gain = _check_args(fan_out, fan_in, rng, gain)
    std = gain * check_number(scale, "scale", 0.0)
    return rng.standard_normal((fan_out, fan_in)) * std


def xavier_normal(fan_out, fan_in, rng, gain=1.0) -> np.ndarray:
    """(fan_out, fan_in) draws from N(0, gain^2 * 2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_out, fan_in, gain = _check_args(fan_out, fan_in, rng, gain)
    return rng.standard_normal((fan_out, fan_in)) * xavier_std(fan_out, fan_in, gain)


def he_normal(fan_out, fan_in, rng, gain=1.0) -> np.ndarray:
    """(fan_out, fan_in) draws from N(0, gain^2 * 2 / fan_in) (He et al. 2015)."""
    fan_out, fan_in, gain = _check_args(fan_out, fan_in, rng, gain)
    return rng.standard_normal((fan_out, fan_in)) * he_std(fan_out, fan_in, gain)


def orthogonal(fan_out, fan_in, rng, gain=1.0) -> np.ndarray:
    """(fan_out, fan_in) gain * Q with orthonormal columns (fan_out >= fan_in) or rows.

    All min(fan_out, fan_in) singular values equal gain. Q is uniformly
    distributed (Haar): the Q of a QR decomposition of a Gaussian matrix, each
    column's sign fixed by the sign of R's diagonal (without that, QR's sign
    convention would bias it). Draws max * min normals from rng; for a square
    matrix this is the same draw as helpers.recurrent.scaled_orthogonal.
    """
    fan_out, fan_in, gain = _check_args(fan_out, fan_in, rng, gain)
    tall = fan_out >= fan_in
    rows, cols = (fan_out, fan_in) if tall else (fan_in, fan_out)
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))  # q: (rows, cols), orthonormal columns
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    return gain * (q if tall else q.T)


def identity(fan_out, fan_in, rng, gain=1.0) -> np.ndarray:
    """(n, n) gain * I for a square recurrent matrix; rng is checked but draws nothing.

    It takes rng only so that every initialisation here has the same signature.
    """
    fan_out, fan_in, gain = _check_args(fan_out, fan_in, rng, gain)
    if fan_out != fan_in:
        raise ValueError(
            f"identity needs a square matrix (fan_out == fan_in, as for recurrent weights), "
            f"got fan_out={fan_out}, fan_in={fan_in}; use orthogonal for a rectangular layer"
        )
    return gain * np.eye(fan_out)


# Name -> function, for choosers that call any of them the same way.
INITS = {f.__name__: f for f in (naive_normal, xavier_normal, he_normal, orthogonal, identity)}
