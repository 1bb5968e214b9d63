"""A vanilla recurrent network, with hand-written backpropagation through time
in numpy and the same network in torch, so the two can be checked against each other.

    h_0 given (default zeros)                       (batch, hidden)
    z_t = W_h h_{t-1} + W_x x_t + b,  h_t = f(z_t)  t = 1..T
    y_hat = W_y h_T + c                             (batch, n_out), read out at the last step only

Weights are stored as (fan_out, fan_in) like torch.nn.Linear, so a batch goes
through a step as h @ W_h.T + x @ W_x.T + b. Sequences are batch-first, as in
torch's batch_first=True layers and helpers.tasks: xs has shape (batch, T, n_in),
and every per-step array of a cache or of the gradients is (batch, steps, ...).
(The arrays are stored time-major inside, so each step reads and writes one block;
what is handed out are batch-first views of them.)
Everything numpy is float64 and nothing warns about overflow: inf, NaN and 0 in
the results are what exploding and vanishing look like.

The gradient reaching h_k from the last step is

    dL/dh_k = (dh_T/dh_k)^T dL/dh_T,   dh_T/dh_k = J_T J_{T-1} ... J_{k+1},   J_t = diag(f'(z_t)) W_h,

a product of T - k Jacobians: `jacobian_norms` measures its size,
`jacobian_singular_values` gives all its singular values, and
`pascanu_bound` bounds it by (||W_h||_2 * max|f'|)^(T - k) (Pascanu, Mikolov &
Bengio 2013, "On the difficulty of training recurrent neural networks").

The recurrent matrix starts as one of RECURRENT_INITS, scaled by `radius`:
"orthogonal" (every singular value radius), "gaussian" (spectral radius radius) or
"identity" (radius * I: with radius 1, ReLU units and zero biases this is the IRNN
of Le, Jaitly & Hinton 2015, "A simple way to initialize recurrent networks of
rectified linear units"; each Jacobian is then diag(f'(z_t)), and a product of
them multiplies every unit's gradient by its own slopes, mixing no units).

For training on the course's tasks there are two small torch models built on
nn.RNN, `RNNClassifier` and `RNNRegressor`, that helpers.training.train accepts.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.activations import ACTIVATION_NAMES, get_activation
from helpers.chain import chain_forward_backward
from helpers.gradcheck import norm
from helpers.recurrent import largest_singular_value, scaled_gaussian, scaled_orthogonal
from helpers.validation import as_float_array, check_choice, check_int, check_number, check_rng


LOSSES = ("mse", "ce")
RECURRENT_INITS = ("orthogonal", "gaussian", "identity")

# jacobian_norms rescales its running product only when an entry leaves this
# range, so for ordinary sizes the product is exactly the plain one.
_RESCALE_ABOVE = 1e100
_RESCALE_BELOW = 1e-100


def _activation_name(activation) -> str:
    name = get_activation(activation).name
    if name not in ACTIVATION_NAMES:  # a home-made Activation object
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATION_NAMES)}")
    return name


def _check_loss(loss) -> str:
    return check_choice(loss, "loss", LOSSES)  # 'mse': mean squared error, 'ce': softmax cross-entropy


@dataclass(eq=False)
class RNNParams:
    """Parameters of a vanilla RNN, float64.

    W_h (H, H) recurrent, W_x (H, D) input, b (H,) bias, W_y (O, H) readout, c (O,) readout bias.
    eq=False because comparing numpy arrays with == has no single truth value.
    """

    W_h: np.ndarray
    W_x: np.ndarray
    b: np.ndarray
    W_y: np.ndarray
    c: np.ndarray

    def __post_init__(self):
        for name in ("W_h", "W_x", "b", "W_y", "c"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{name} must be a numpy array, got {type(value).__name__}")
            setattr(self, name, value.astype(np.float64, copy=False))
        H = self.W_h.shape[0] if self.W_h.ndim == 2 else -1
        expected = {
            "W_h": (H, H),
            "W_x": (H, self.W_x.shape[1] if self.W_x.ndim == 2 else -1),
            "b": (H,),
            "W_y": (self.W_y.shape[0] if self.W_y.ndim == 2 else -1, H),
            "c": (self.W_y.shape[0] if self.W_y.ndim == 2 else -1,),
        }
        for name, shape in expected.items():
            got = getattr(self, name).shape
            if got != shape or min(got) < 1:
                raise ValueError(
                    "shapes must be W_h (H, H), W_x (H, D), b (H,), W_y (O, H), c (O,) with H, D, O >= 1; "
                    f"got W_h {self.W_h.shape}, W_x {self.W_x.shape}, b {self.b.shape}, "
                    f"W_y {self.W_y.shape}, c {self.c.shape}"
                )

    @property
    def hidden(self) -> int:
        return int(self.W_h.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.W_x.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.W_y.shape[0])


def _scaled_identity(n: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """(n, n) radius * I, exactly. Draws (and discards) the n * n normals the other
    recurrent choices draw, so that with the same rng W_x and W_y come out the same
    whichever recurrent matrix is chosen: only W_h differs."""
    rng.standard_normal((n, n))
    return radius * np.eye(n)


_RECURRENT_MAKERS = {"orthogonal": scaled_orthogonal, "gaussian": scaled_gaussian, "identity": _scaled_identity}


def init_rnn(hidden, n_in, n_out, rng, recurrent="orthogonal", radius=1.0, input_scale=1.0) -> RNNParams:
    """Random RNNParams; the caller's rng decides reproducibility.

    W_h, drawn first (hidden * hidden normals for every choice):
         "orthogonal": scaled_orthogonal(hidden, radius), every singular value = radius;
         "gaussian":   scaled_gaussian(hidden, radius), spectral radius = radius;
         "identity":   radius * I exactly (radius 1: I itself, the IRNN's start);
    W_x: input_scale * N(0, 1) / sqrt(n_in), drawn second (unit-variance inputs
         give pre-activations of variance ~input_scale^2);
    W_y: N(0, 1) / sqrt(hidden), drawn last; b and c are zero.
    With the same rng, W_x and W_y are the same for every choice of W_h.
    """
    hidden = check_int(hidden, "hidden", 1)
    n_in = check_int(n_in, "n_in", 1)
    n_out = check_int(n_out, "n_out", 1)
    check_rng(rng)
    check_choice(recurrent, "recurrent", RECURRENT_INITS)
    input_scale = check_number(input_scale, "input_scale", 0.0)
    radius = check_number(radius, "radius", 0.0)
    W_h = _RECURRENT_MAKERS[recurrent](hidden, radius, rng)
    W_x = rng.standard_normal((hidden, n_in)) * (input_scale / math.sqrt(n_in))
    W_y = rng.standard_normal((n_out, hidden)) / math.sqrt(hidden)
    return RNNParams(W_h=W_h, W_x=W_x, b=np.zeros(hidden), W_y=W_y, c=np.zeros(n_out))


@dataclass(eq=False)
class RNNCache:
    """What rnn_forward computed, kept for backpropagation through time.

    hs  (B, T+1, H) hidden states h_0..h_T (hs[:, t] is h_t)
    zs  (B, T, H)   pre-activations z_1..z_T (zs[:, t-1] is z_t)
    out (B, O)      readout W_y h_T + c (logits or regression values)
    xs  (B, T, D)   the inputs (the input weights' gradient needs them)
    activation      name of f, so BPTT cannot silently use a different one
    """

    hs: np.ndarray
    zs: np.ndarray
    out: np.ndarray
    xs: np.ndarray
    activation: str

    @property
    def T(self) -> int:
        return int(self.zs.shape[1])


@dataclass(eq=False)
class RNNGrads:
    """Gradients of one backward pass through time.

    dh (B, T+1, H) dL/dh_t for every t = 0..T (the total gradient, through all later steps)
    dW_h (H, H), dW_x (H, D), db (H,), dW_y (O, H), dc (O,)
    """

    dh: np.ndarray
    dW_h: np.ndarray
    dW_x: np.ndarray
    db: np.ndarray
    dW_y: np.ndarray
    dc: np.ndarray

    def norms(self) -> np.ndarray:
        """(T+1,) Frobenius norms of dL/dh_t over the batch, t = 0..T (inf only where dh_t is)."""
        return norm(self.dh, axis=(0, 2))


def _check_params(params) -> RNNParams:
    if not isinstance(params, RNNParams):
        raise ValueError(f"params must be an RNNParams (e.g. from init_rnn), got {type(params).__name__}")
    return params


def _check_inputs(params: RNNParams, xs, h0):
    xs_allowed = f"an array of shape (batch, T, {params.n_in}) with batch, T >= 1"
    xs = as_float_array(xs, "xs", xs_allowed)
    if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[1] < 1 or xs.shape[2] != params.n_in:
        raise ValueError(f"xs must have shape (batch, T, {params.n_in}) with batch, T >= 1, got {xs.shape}")
    B, H = xs.shape[0], params.hidden
    if h0 is None:
        return xs, np.zeros((B, H))
    h0 = as_float_array(h0, "h0", f"None, shape ({H},) or ({B}, {H})")
    if h0.shape == (H,):
        h0 = np.broadcast_to(h0, (B, H))
    if h0.shape != (B, H):
        raise ValueError(f"h0 must be None, shape ({H},) or ({B}, {H}), got {h0.shape}")
    return xs, h0


def rnn_forward(params, xs, activation, h0=None) -> RNNCache:
    """Run the RNN over xs (B, T, D) from h0 (None: zeros, (H,) or (B, H)); see RNNCache."""
    params = _check_params(params)
    name = _activation_name(activation)
    f = get_activation(name).f
    xs, h0 = _check_inputs(params, xs, h0)
    B, T, H = xs.shape[0], xs.shape[1], params.hidden
    hs = np.empty((T + 1, B, H))  # time-major inside: each step reads and writes one block
    hs[0] = h0
    w_h_t = params.W_h.T
    with np.errstate(all="ignore"):
        # The input part of every z_t needs no earlier state: one matmul for all
        # steps, written into zs, to which the loop adds the recurrent part.
        zs = xs.swapaxes(0, 1) @ params.W_x.T
        zs += params.b
        for t in range(T):
            z = zs[t]
            z += hs[t] @ w_h_t
            hs[t + 1] = f(z)
        out = hs[T] @ params.W_y.T + params.c
    return RNNCache(hs=hs.swapaxes(0, 1), zs=zs.swapaxes(0, 1), out=out, xs=xs, activation=name)


def _cache_activation(cache: RNNCache, activation) -> str:
    if not isinstance(cache, RNNCache):
        raise ValueError(f"cache must be an RNNCache from rnn_forward, got {type(cache).__name__}")
    if activation is None:
        return cache.activation
    name = _activation_name(activation)
    if name != cache.activation:
        raise ValueError(
            f"activation {name!r} differs from the forward pass's {cache.activation!r}; "
            "pass the same one (or None to use the forward pass's)"
        )
    return name


def _check_targets(targets, loss: str, B: int, O: int) -> np.ndarray:
    targets = np.asarray(targets)
    if loss == "ce":
        ok_values = targets.shape == (B,) and np.issubdtype(targets.dtype, np.number)
        if ok_values:
            with np.errstate(all="ignore"):  # inf targets: np.mod would warn
                ok_values = bool(np.all(np.mod(targets, 1) == 0) and np.all((targets >= 0) & (targets < O)))
        if not ok_values:
            raise ValueError(f"with loss='ce' targets must be integer class indices of shape ({B},) "
                             f"with values 0..{O - 1}, got shape {targets.shape}")
        return targets.astype(np.int64)
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape == (B,) and O == 1:
        targets = targets[:, None]
    if targets.shape != (B, O):
        allowed = f"({B},) or " if O == 1 else ""
        raise ValueError(f"with loss='mse' targets must have shape {allowed}({B}, {O}), got {targets.shape}")
    return targets


def _loss_and_grad(out: np.ndarray, targets: np.ndarray, loss: str):
    """(loss, dL/dout (B, O)); call inside np.errstate(all='ignore')."""
    B = out.shape[0]
    if loss == "mse":  # torch's mse_loss: the mean over batch and outputs
        diff = out - targets
        return float(np.mean(np.square(diff))), 2.0 * diff / diff.size
    # log-sum-exp around the largest logit, so exp never overflows.
    shifted = out - np.max(out, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = np.sum(exp, axis=1, keepdims=True)
    rows = np.arange(B)
    value = float(np.mean(np.log(total[:, 0]) - shifted[rows, targets]))
    dout = exp / total  # softmax; minus the one-hot target, over the batch size
    dout[rows, targets] -= 1.0
    return value, dout / B


@dataclass(eq=False)
class OutputLoss:
    """A loss on a network's outputs: value (float) and dout (B, O) = dL/d(out), where a backward pass starts."""

    value: float
    dout: np.ndarray


def output_loss(out, targets, loss) -> OutputLoss:
    """The loss of outputs `out` (B, O) against `targets`, and its gradient with respect to `out`.

    loss="ce": softmax cross-entropy against integer classes (B,) in 0..O-1;
    loss="mse": the mean squared error (torch's mse_loss) against (B, O), or (B,)
    when O = 1. Both are means over the batch.
    """
    loss = _check_loss(loss)
    out = as_float_array(out, "out", "an array of shape (batch, n_out)")
    if out.ndim != 2 or min(out.shape) < 1:
        raise ValueError(f"out must have shape (batch, n_out) with batch, n_out >= 1, got {out.shape}")
    targets = _check_targets(targets, loss, out.shape[0], out.shape[1])
    with np.errstate(all="ignore"):
        value, dout = _loss_and_grad(out, targets, loss)
    return OutputLoss(value=value, dout=dout)


def rnn_bptt(params, cache, dout, activation=None) -> RNNGrads:
    """Backpropagation through time, by hand, from dout = dL/d(cache.out), (B, O).

    Like every backward pass of the course it starts from the gradient with respect
    to what its forward pass returned; output_loss(cache.out, targets, loss).dout
    gives it for a loss. activation: None uses the forward pass's; a different name raises.
    """
    params = _check_params(params)
    act = get_activation(_cache_activation(cache, activation))
    # Time-major views (the cache's own storage is time-major: no copies here).
    hs, zs, xs = cache.hs.swapaxes(0, 1), cache.zs.swapaxes(0, 1), cache.xs.swapaxes(0, 1)
    T, B, H = zs.shape
    if hs.shape[1:] != (B, params.hidden) or xs.shape[2] != params.n_in:
        raise ValueError("cache must come from rnn_forward with these params; the hidden or input sizes differ")
    dout = as_float_array(dout, "dout", f"an array of shape ({B}, {params.n_out})")
    if dout.shape == (B,) and params.n_out == 1:
        dout = dout[:, None]
    if dout.shape != (B, params.n_out):
        raise ValueError(f"dout (dL/d out) must have shape ({B}, {params.n_out}), got {dout.shape}")
    with np.errstate(all="ignore"):
        dW_y = dout.T @ hs[T]
        dc = dout.sum(axis=0)
        dh = np.empty((T + 1, B, H))
        dh[T] = dout @ params.W_y
        dfs = act.df(zs)  # f'(z_t) for all steps at once: nothing here is sequential
        dzs = dfs  # overwritten in place, step by step, by dL/dz_t
        for t in range(T, 0, -1):
            # dL/dz_t = dL/dh_t * f'(z_t); dL/dh_{t-1} = dL/dz_t @ W_h (the rows of z @ W_h.T).
            dz = np.multiply(dh[t], dfs[t - 1], out=dzs[t - 1])
            np.matmul(dz, params.W_h, out=dh[t - 1])
        # The weights are shared by all steps: sum each step's contribution,
        # all steps and batch rows in one matmul each.
        flat_dz = dzs.reshape(T * B, H)
        dW_h = flat_dz.T @ hs[:-1].reshape(T * B, H)
        dW_x = flat_dz.T @ xs.reshape(T * B, params.n_in)
        db = flat_dz.sum(axis=0)
    return RNNGrads(dh=dh.swapaxes(0, 1), dW_h=dW_h, dW_x=dW_x, db=db, dW_y=dW_y, dc=dc)


def rnn_loss(params, xs, targets, loss, *, activation, h0=None) -> float:
    """The loss alone (forward pass only): what finite differences need."""
    return output_loss(rnn_forward(params, xs, activation, h0).out, targets, loss).value


def _jacobian_products(params, cache, activation, which):
    """The products dh_T/dh_k, k = 0..T, of batch row `which`, each stored rescaled.

    Returns (mats (T+1, H, H), log_scales (T+1,)): dh_T/dh_k = exp(log_scales[k]) * mats[k].
    Accumulated from the output end (entry T is the identity). When the running
    product leaves [1e-100, 1e100] it is divided by its largest entry and that
    factor kept as a logarithm, so for ordinary sizes the product is exactly the
    plain one and log_scales is 0.
    """
    params = _check_params(params)
    act = get_activation(_cache_activation(cache, activation))
    B, T, H = cache.zs.shape
    if H != params.hidden:
        raise ValueError(f"cache has hidden size {H} but params has {params.hidden}")
    which = check_int(which, "which", 0, B - 1)
    W_h = params.W_h
    mats = np.empty((T + 1, H, H))
    log_scales = np.zeros(T + 1)
    mats[T] = np.eye(H)
    with np.errstate(all="ignore"):
        slopes = act.df(cache.zs[which])  # (T, H): slopes[t-1] = f'(z_t)
        product, log_scale = mats[T], 0.0
        for k in range(T - 1, -1, -1):
            # dh_T/dh_k = (dh_T/dh_{k+1}) diag(f'(z_{k+1})) W_h; z_{k+1} is zs[k].
            product = (product * slopes[k]) @ W_h
            size = np.max(np.abs(product))
            if math.isfinite(size) and 0 < size and not (_RESCALE_BELOW <= size <= _RESCALE_ABOVE):
                product = product / size
                log_scale += math.log(size)
            mats[k] = product
            log_scales[k] = log_scale
    return mats, log_scales


def _scaled_back(log_scales: np.ndarray, sv: np.ndarray) -> np.ndarray:
    """sv (T+1, ...) times exp(log_scales) (T+1,), where a row was rescaled; inf or 0 beyond float64."""
    scales = log_scales.reshape((-1,) + (1,) * (sv.ndim - 1))
    with np.errstate(all="ignore"):
        # exp(log_scale + log(sv)) sends an unrepresentable value to inf or 0 (never inf * 0).
        scaled = np.exp(scales + np.log(sv))
    return np.where(scales == 0, sv, scaled)


def jacobian_norms(params, cache, activation=None, which=0) -> np.ndarray:
    """(T+1,) spectral norms ||dh_T/dh_k||_2, k = 0..T, for batch row `which`.

    dh_T/dh_k = J_T ... J_{k+1} with J_t = diag(f'(z_t)) W_h, accumulated from
    the output end (entry T is the identity, norm 1). When the running product
    leaves [1e-100, 1e100] it is rescaled and the scale kept as a logarithm, so
    a product beyond float64's range comes out as inf or 0, not NaN. Costs T
    (H, H) matmuls plus T small SVDs: about 10 ms for T = 200, H = 32.
    activation: None uses the forward pass's; a different name raises.
    """
    mats, log_scales = _jacobian_products(params, cache, activation, which)
    with np.errstate(all="ignore"):
        finite = np.all(np.isfinite(mats), axis=(1, 2))
        sv = np.full(mats.shape[0], np.nan)
        # LAPACK refuses inf/NaN: only finite products go to the SVD. An inf
        # product (from inf in W_h or f') has norm inf; one with NaN, NaN.
        sv[finite] = np.linalg.svd(mats[finite], compute_uv=False)[:, 0]
        has_nan = np.any(np.isnan(mats), axis=(1, 2))
        sv[~finite & ~has_nan] = np.inf
    return _scaled_back(log_scales, sv)


def jacobian_singular_values(params, cache, activation=None, which=0) -> np.ndarray:
    """(T+1, H) all singular values of dh_T/dh_k, largest first, k = 0..T, for batch row `which`.

    Row k belongs to the product of the T - k Jacobians J_T ... J_{k+1} (row T: the
    identity, all ones); column 0 is jacobian_norms. A product whose size leaves
    float64's range is rescaled as there, so its values come out as inf or 0; a
    product holding inf or NaN (from inf in W_h or f') has a row of NaN.
    activation: None uses the forward pass's; a different name raises.
    """
    mats, log_scales = _jacobian_products(params, cache, activation, which)
    with np.errstate(all="ignore"):
        finite = np.all(np.isfinite(mats), axis=(1, 2))
        sv = np.full(mats.shape[:2], np.nan)
        sv[finite] = np.linalg.svd(mats[finite], compute_uv=False)
    return _scaled_back(log_scales, sv)


def pascanu_bound(W_h, activation, T) -> np.ndarray:
    """(T+1,) upper bound (s * gamma)^(T - k) on ||dh_T/dh_k||_2, k = 0..T.

    s = largest singular value of W_h, gamma = max |f'| (1 for tanh, 1/4 for
    sigmoid): each Jacobian diag(f'(z)) W_h has norm <= gamma * s, and the norm
    of a product is at most the product of the norms (Pascanu, Mikolov & Bengio
    2013). s * gamma < 1 is sufficient for vanishing; s * gamma > 1 is
    necessary (not sufficient) for exploding.
    """
    shape = np.shape(W_h)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"W_h must be a square 2-D array (H, H), got shape {shape}")
    s = largest_singular_value(W_h)
    gamma = get_activation(_activation_name(activation)).max_slope
    T = check_int(T, "T", 1)
    with np.errstate(all="ignore"):
        return np.power(s * gamma, np.arange(T, -1, -1, dtype=np.float64))


def scalar_bptt(w, T, activation, x0=1.0) -> np.ndarray:
    """(T+1,) |dh_T/dh_k|, k = 0..T, for a one-unit RNN h_t = f(w h_{t-1}), h_0 = x0.

    No inputs and no bias: the lecture's example, where |dh_T/dh_0| = |w|^T for
    the linear unit (0.5^T vanishes, 1.5^T explodes). This is the scalar chain
    of helpers.chain run over time steps instead of layers.
    """
    T = check_int(T, "T", 1)
    w = check_number(w, "w")
    _activation_name(activation)
    result = chain_forward_backward(T, w, activation, x0=x0, bias=0.0)
    return np.abs(result.grad_wrt)


class TorchRNN(nn.Module):
    """The same RNN in torch, float64, with an explicit loop over time steps.

    forward(xs (B, T, D), h0=None) -> (out (B, O), hs: list of T+1 tensors (B, H)).
    """

    def __init__(self, params: RNNParams, activation):
        super().__init__()
        params = _check_params(params)
        self.activation = _activation_name(activation)
        self._f = get_activation(self.activation).torch_f
        for name in ("W_h", "W_x", "b", "W_y", "c"):
            value = torch.tensor(getattr(params, name), dtype=torch.float64)
            setattr(self, name, nn.Parameter(value))

    def forward(self, xs: torch.Tensor, h0=None):
        B, T = xs.shape[0], xs.shape[1]
        h = torch.zeros(B, self.W_h.shape[0], dtype=torch.float64) if h0 is None else h0
        hs = [h]
        for t in range(T):
            h = self._f(h @ self.W_h.T + xs[:, t] @ self.W_x.T + self.b)
            hs.append(h)
        return h @ self.W_y.T + self.c, hs


def to_torch_rnn(params, activation) -> TorchRNN:
    """A TorchRNN holding copies of params' arrays as float64 nn.Parameters."""
    return TorchRNN(params, activation)


def torch_rnn_grads(model, xs, targets, loss, h0=None) -> RNNGrads:
    """RNNGrads of `model` (a TorchRNN) for the loss of its outputs, from autograd: the reference for rnn_bptt.

    dL/dh_t comes from retain_grad on every hidden state; h_0 is a leaf that
    requires grad. Inputs and targets are as for rnn_forward / rnn_bptt.
    """
    if not isinstance(model, TorchRNN):
        raise ValueError(f"model must be a TorchRNN from to_torch_rnn, got {type(model).__name__}")
    loss = _check_loss(loss)
    params = RNNParams(*(getattr(model, n).detach().numpy() for n in ("W_h", "W_x", "b", "W_y", "c")))
    xs, h0 = _check_inputs(params, xs, h0)
    targets = _check_targets(targets, loss, xs.shape[0], params.n_out)
    model.zero_grad(set_to_none=True)
    h0_t = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    out, hs = model(torch.from_numpy(xs), h0_t)
    for h in hs[1:]:
        h.retain_grad()
    if loss == "ce":
        value = nn.functional.cross_entropy(out, torch.from_numpy(targets))
    else:
        value = nn.functional.mse_loss(out, torch.from_numpy(targets))
    value.backward()

    def grad(t: torch.Tensor) -> np.ndarray:
        # A state the loss does not reach (impossible here, but cheap to cover) has no grad.
        return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy().copy()

    return RNNGrads(
        dh=np.stack([grad(h) for h in hs], axis=1),
        dW_h=grad(model.W_h), dW_x=grad(model.W_x), db=grad(model.b),
        dW_y=grad(model.W_y), dc=grad(model.c),
    )


class _SequenceModel(nn.Module):
    """nn.RNN (batch_first, activation ACTIVATION) -> nn.Linear on the last hidden state -> (n,) outputs.

    x: (n, T, n_in) -> (n,). The weights are init_rnn(hidden, n_in, 1, rng,
    recurrent, radius, input_scale) copied over
    (nn.RNN's second bias, bias_hh, is zero), so the numpy RNN with those params
    and the class's ACTIVATION computes the same outputs: its jacobian_norms describe
    this model at initialisation, and rnn_params_of reads the params back at any time.
    `radius` is the recurrent matrix's spectral
    radius (for "orthogonal" and "identity" also every singular value).

    With one-hot inputs each step adds one column of W_x, whose entries have
    standard deviation input_scale / sqrt(n_in). A larger input_scale pushes the
    tanh units further into saturation, so f' and with it the gradient reaching
    early steps shrink faster. train() records the gradient norms of every weight
    matrix, the recurrent ones inside nn.RNN included (see training.weight_matrices).

    truncate: None, or k >= 1 for truncated backpropagation through time: the
    gradient reaches back at most k steps from the last one (the state is detached
    every k steps); the outputs are the same as without it.
    """

    ACTIVATION = "tanh"  # the name says it: ReLURNNRegressor is the one with ReLU units

    def __init__(self, n_in, hidden=32, radius=1.0, *, rng, recurrent="orthogonal", input_scale=1.0,
                 dtype=torch.float32, truncate=None):
        super().__init__()
        if truncate is not None:
            truncate = check_int(truncate, "truncate (None or the number of steps the gradient may go back)", 1)
        self.truncate = truncate
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        params = init_rnn(hidden, n_in, 1, rng, recurrent=recurrent, radius=radius, input_scale=input_scale)
        self.rnn = nn.RNN(params.n_in, params.hidden, nonlinearity=self.ACTIVATION, batch_first=True, dtype=dtype)
        self.readout = nn.Linear(params.hidden, 1, dtype=dtype)
        with torch.no_grad():
            for target, value in ((self.rnn.weight_hh_l0, params.W_h), (self.rnn.weight_ih_l0, params.W_x),
                                  (self.rnn.bias_ih_l0, params.b), (self.rnn.bias_hh_l0, np.zeros(hidden)),
                                  (self.readout.weight, params.W_y), (self.readout.bias, params.c)):
                target.copy_(torch.from_numpy(value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.truncate is None:
            _, h_last = self.rnn(x)  # h_last: (1, n, hidden), the state after the last step
            return self.readout(h_last[0])[:, 0]
        # Truncated BPTT: the sequence runs in chunks of `truncate` steps, counted back
        # from the last step, and the state handed from one chunk to the next is
        # detached. The forward pass is unchanged; the gradient reaches back at most
        # `truncate` steps, so no product of more Jacobians than that is ever formed.
        T = x.shape[1]
        edges = sorted({0, *range(T, 0, -self.truncate)})
        h_last = None
        for start, stop in zip(edges, edges[1:]):
            _, h_last = self.rnn(x[:, start:stop], None if h_last is None else h_last.detach())
        return self.readout(h_last[0])[:, 0]


class RNNClassifier(_SequenceModel):
    """One-hot sequences (n, T, V) -> one logit per sequence (n,), for train(..., loss="bce").

    RNNClassifier(n_in=V, hidden=32, radius=1.0, *, rng (a np.random.Generator),
    recurrent="orthogonal", input_scale=1.0, dtype=torch.float32, truncate=None).
    """


class RNNRegressor(_SequenceModel):
    """Sequences (n, T, n_in) -> one value per sequence (n,), for train(..., loss="mse").

    Same constructor as RNNClassifier; for the adding problem n_in = 2.
    """


class ReLURNNRegressor(RNNRegressor):
    """RNNRegressor with ReLU units: nothing bounds its hidden state, so what grows through time can overflow."""

    ACTIVATION = "relu"


def rnn_params_of(model) -> RNNParams:
    """The RNNParams of an RNNClassifier / RNNRegressor, as float64 numpy copies.

    b is nn.RNN's two biases added, since the numpy RNN has one; with
    rnn_forward(params, xs, model.ACTIVATION) it computes what the model computes.
    """
    if not isinstance(model, _SequenceModel):
        raise ValueError(f"model must be an RNNClassifier or RNNRegressor, got {type(model).__name__}")
    rnn, readout = model.rnn, model.readout

    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().double().numpy().copy()
    return RNNParams(W_h=numpy(rnn.weight_hh_l0), W_x=numpy(rnn.weight_ih_l0),
                     b=numpy(rnn.bias_ih_l0 + rnn.bias_hh_l0), W_y=numpy(readout.weight), c=numpy(readout.bias))


def state_gradient_norms(model, xs, targets) -> np.ndarray:
    """(T+1,) ||dL/dh_t|| over the batch, t = 0..T, for an RNNRegressor's mse loss on (xs, targets).

    xs (B, T, n_in), targets (B,). Computed in float64 by rnn_bptt from the model's
    current weights: the gradient reaching each time step through all later ones,
    which grows towards step 0 when the Jacobians J_t are larger than 1 and falls
    when they are smaller. With model.truncate = k the gradient stops at step T - k:
    the steps before it get exactly 0.
    """
    if not isinstance(model, RNNRegressor):
        raise ValueError(f"model must be an RNNRegressor, got {type(model).__name__}")
    params = rnn_params_of(model)
    xs = np.asarray(xs.detach().numpy() if isinstance(xs, torch.Tensor) else xs, dtype=np.float64)
    targets = targets.detach().numpy() if isinstance(targets, torch.Tensor) else targets
    cache = rnn_forward(params, xs, model.ACTIVATION)
    norms = rnn_bptt(params, cache, output_loss(cache.out, targets, "mse").dout).norms()
    if model.truncate is not None:
        norms[:max(cache.T - model.truncate, 0)] = 0.0
    return norms


def input_gradient_norms(params, cache, grads) -> np.ndarray:
    """(T,) Frobenius norms over the batch of dL/dx_t, t = 1..T: how much each input still counts.

    dL/dx_t = (dL/dh_t * f'(z_t)) @ W_x, from a forward pass (cache) and its BPTT (grads).
    """
    params = _check_params(params)
    act = get_activation(cache.activation)
    with np.errstate(all="ignore"):
        dx = (grads.dh[:, 1:] * act.df(cache.zs)) @ params.W_x  # (B, T, D)
    return norm(dx, axis=(0, 2))
