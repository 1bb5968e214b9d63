"""LSTM and GRU written by hand in numpy (float64) from their equations, with
torch's gate order and conventions, so the same weights load into torch.nn.LSTM
and torch.nn.GRU and the two can be checked against each other.

Weights are stored as torch stores them: W_ih (G*H, D), W_hh (G*H, H),
b_ih (G*H,), b_hh (G*H,), the G gates' blocks stacked in torch's order.
Sequences are batch-first, xs (B, T, D), as for helpers.rnn, and so is every
per-step array of a cache or of the gradients. sigma is the
logistic sigmoid; products marked * are elementwise.

LSTM (Hochreiter & Schmidhuber 1997; the forget gate from Gers, Schmidhuber &
Cummins 2000), gates i, f, g, o:

    [a_i, a_f, a_g, a_o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    i = sigma(a_i)  f = sigma(a_f)  g = tanh(a_g)  o = sigma(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

GRU (Cho et al. 2014, in torch's form), gates r, z, n:

    r = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}

Why the gradient survives: along the LSTM's cell path c_{t-1} -> c_t the
Jacobian (holding the gates fixed) is diag(f_t), with no weight matrix and no
squashing derivative, so d c_T / d c_k = diag(f_{k+1} * ... * f_T)
(`cell_path_product`): with forget gates near 1 the gradient is carried
unchanged. The GRU's z * h_{t-1} term is the same kind of path, gated by z.

The backward passes take dL/dh_T, the gradient of a loss on the last hidden
state, and return dL/dh_t for every t (and dL/dc_t for the LSTM): the total
gradient, through every later step. `readout_loss` gives dL/dh_T for the loss
convention of helpers.rnn (a readout W_y h_T + c with softmax cross-entropy or
half mean squared error), so RNN, LSTM and GRU per-step norms are comparable
(`per_timestep_grad_norms`). Nothing warns about overflow: inf and NaN in the
results are what an exploding network is.
"""
import math
from dataclasses import dataclass

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from helpers.activations import sigmoid
from helpers.gradcheck import norm
from helpers.rnn import _check_loss, init_rnn, output_loss, rnn_bptt, rnn_forward
from helpers.validation import as_float_array, check_choice, check_int, check_number, check_rng


GATED_KINDS = ("rnn", "lstm", "gru")
LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")
CELL_PATH_REDUCTIONS = ("mean", "max", None)


@dataclass(eq=False)
class _GatedParams:
    """W_ih (G*H, D), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,), float64; G gates."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    N_GATES: ClassVar[int] = 0
    GATES: ClassVar[tuple] = ()

    def __post_init__(self):
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{name} must be a numpy array, got {type(value).__name__}")
            setattr(self, name, value.astype(np.float64, copy=False))
        G = self.N_GATES
        H = self.W_hh.shape[1] if self.W_hh.ndim == 2 else -1
        D = self.W_ih.shape[1] if self.W_ih.ndim == 2 else -1
        expected = {"W_ih": (G * H, D), "W_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
        if any(getattr(self, n).shape != shape for n, shape in expected.items()) or min(H, D) < 1:
            gates = ",".join(self.GATES)
            raise ValueError(
                f"shapes must be W_ih ({G}H, D), W_hh ({G}H, H), b_ih ({G}H,), b_hh ({G}H,) "
                f"(gates {gates} stacked, H, D >= 1); got W_ih {self.W_ih.shape}, W_hh {self.W_hh.shape}, "
                f"b_ih {self.b_ih.shape}, b_hh {self.b_hh.shape}"
            )

    @property
    def hidden(self) -> int:
        return int(self.W_hh.shape[1])

    @property
    def n_in(self) -> int:
        return int(self.W_ih.shape[1])

    def block(self, name: str, gate: str) -> np.ndarray:
        """The (H, ...) rows of W_ih, W_hh, b_ih or b_hh that belong to one gate (a view)."""
        if gate not in self.GATES:
            raise ValueError(f"gate must be one of {self.GATES}, got {gate!r}")
        k, H = self.GATES.index(gate), self.hidden
        return getattr(self, name)[k * H:(k + 1) * H]


@dataclass(eq=False)
class LSTMParams(_GatedParams):
    """LSTM weights in torch's layout, gates i, f, g, o: W_ih (4H, D), W_hh (4H, H), b_ih, b_hh (4H,)."""

    N_GATES: ClassVar[int] = 4
    GATES: ClassVar[tuple] = LSTM_GATES


@dataclass(eq=False)
class GRUParams(_GatedParams):
    """GRU weights in torch's layout, gates r, z, n: W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,)."""

    N_GATES: ClassVar[int] = 3
    GATES: ClassVar[tuple] = GRU_GATES


def _init_gated(cls, hidden, n_in, rng):
    hidden = check_int(hidden, "hidden", 1)
    n_in = check_int(n_in, "n_in", 1)
    check_rng(rng)
    # torch's default for nn.LSTM / nn.GRU weights: U(-1/sqrt(H), 1/sqrt(H)).
    k = 1.0 / math.sqrt(hidden)
    G = cls.N_GATES
    W_ih = rng.uniform(-k, k, (G * hidden, n_in))
    W_hh = rng.uniform(-k, k, (G * hidden, hidden))
    return cls(W_ih=W_ih, W_hh=W_hh, b_ih=np.zeros(G * hidden), b_hh=np.zeros(G * hidden))


def init_lstm(hidden, n_in, rng, forget_bias=0.0) -> LSTMParams:
    """Random LSTMParams: weights U(-1/sqrt(H), 1/sqrt(H)) like torch's default
    (W_ih drawn first, then W_hh), biases 0 except the forget gate's b_ih = forget_bias.

    A positive forget_bias (1 is the usual advice: Gers et al. 2000; Jozefowicz,
    Zaremba & Sutskever 2015) starts f = sigma(forget_bias + ...) near 1, so the
    cell path carries its gradient over many steps from the first update on.
    """
    params = _init_gated(LSTMParams, hidden, n_in, rng)
    params.block("b_ih", "f")[:] = check_number(forget_bias, "forget_bias")
    return params


def init_gru(hidden, n_in, rng, update_bias=0.0) -> GRUParams:
    """Random GRUParams: weights U(-1/sqrt(H), 1/sqrt(H)) like torch's default
    (W_ih drawn first, then W_hh), biases 0 except the update gate's b_ih = update_bias.

    A positive update_bias starts z near 1, so h_t ~ h_{t-1}: the GRU's version
    of a forget bias.
    """
    params = _init_gated(GRUParams, hidden, n_in, rng)
    params.block("b_ih", "z")[:] = check_number(update_bias, "update_bias")
    return params


def _check_params(params, cls):
    if not isinstance(params, cls):
        maker = "init_lstm" if cls is LSTMParams else "init_gru"
        raise ValueError(f"params must be a {cls.__name__} (e.g. from {maker}), got {type(params).__name__}")
    return params


def _check_xs(params, xs) -> np.ndarray:
    xs = as_float_array(xs, "xs", f"an array of shape (batch, T, {params.n_in}) with batch, T >= 1")
    if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[1] < 1 or xs.shape[2] != params.n_in:
        raise ValueError(f"xs must have shape (batch, T, {params.n_in}) with batch, T >= 1, got {xs.shape}")
    return xs


def _initial_state(value, name: str, B: int, H: int) -> np.ndarray:
    if value is None:
        return np.zeros((B, H))
    value = as_float_array(value, name, f"None, shape ({H},) or ({B}, {H})")
    if value.shape == (H,):
        value = np.broadcast_to(value, (B, H))
    if value.shape != (B, H):
        raise ValueError(f"{name} must be None, shape ({H},) or ({B}, {H}), got {value.shape}")
    return value


class _GateBlocks:
    """Shared by the caches: `gates` (B, T, G*H) holds G gate blocks side by side."""

    @property
    def T(self) -> int:
        return int(self.gates.shape[1])

    def _gate(self, k: int) -> np.ndarray:
        H = self.hs.shape[2]
        return self.gates[:, :, k * H:(k + 1) * H]


@dataclass(eq=False)
class LSTMCache(_GateBlocks):
    """What lstm_forward computed, kept for backpropagation.

    hs (B, T+1, H) hidden states h_0..h_T; cs (B, T+1, H) cell states c_0..c_T
    gates (B, T, 4H) gate activations of steps 1..T, blocks i, f, g, o
    (the properties i, f, g, o are (B, T, H) views of them); xs (B, T, D) inputs.
    """

    hs: np.ndarray
    cs: np.ndarray
    gates: np.ndarray
    xs: np.ndarray

    @property
    def i(self) -> np.ndarray:
        return self._gate(0)

    @property
    def f(self) -> np.ndarray:
        return self._gate(1)

    @property
    def g(self) -> np.ndarray:
        return self._gate(2)

    @property
    def o(self) -> np.ndarray:
        return self._gate(3)


@dataclass(eq=False)
class GRUCache(_GateBlocks):
    """What gru_forward computed, kept for backpropagation.

    hs (B, T+1, H) hidden states h_0..h_T; gates (B, T, 3H) activations of
    steps 1..T, blocks r, z, n (properties r, z, n: (B, T, H) views);
    hn (B, T, H) W_hn h_{t-1} + b_hn (r multiplies it, so its gradient needs it);
    xs (B, T, D) inputs.
    """

    hs: np.ndarray
    gates: np.ndarray
    hn: np.ndarray
    xs: np.ndarray

    @property
    def r(self) -> np.ndarray:
        return self._gate(0)

    @property
    def z(self) -> np.ndarray:
        return self._gate(1)

    @property
    def n(self) -> np.ndarray:
        return self._gate(2)


def lstm_forward(params, xs, h0=None, c0=None) -> LSTMCache:
    """Run the LSTM over xs (B, T, D) from h0, c0 (None: zeros, (H,) or (B, H)); see LSTMCache."""
    params = _check_params(params, LSTMParams)
    xs = _check_xs(params, xs)
    B, T, H = xs.shape[0], xs.shape[1], params.hidden
    # Time-major inside (each step reads and writes one block); the cache holds batch-first views.
    hs = np.empty((T + 1, B, H))
    cs = np.empty((T + 1, B, H))
    hs[0] = _initial_state(h0, "h0", B, H)
    cs[0] = _initial_state(c0, "c0", B, H)
    w_hh_t = params.W_hh.T
    with np.errstate(all="ignore"):
        # The input part of every step's gate pre-activations needs no earlier
        # state: one matmul for all steps, to which the loop adds W_hh h_{t-1}.
        pre = xs.swapaxes(0, 1) @ params.W_ih.T
        pre += params.b_ih + params.b_hh
        gates = np.empty((T, B, 4 * H))
        for t in range(T):
            a = pre[t]
            a += hs[t] @ w_hh_t
            act = gates[t]
            act[:] = sigmoid(a)  # i, f, o; the g block is overwritten next
            act[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            c = np.multiply(f, cs[t], out=cs[t + 1])
            c += i * g
            np.multiply(o, np.tanh(c), out=hs[t + 1])
    return LSTMCache(hs=hs.swapaxes(0, 1), cs=cs.swapaxes(0, 1), gates=gates.swapaxes(0, 1), xs=xs)


def gru_forward(params, xs, h0=None) -> GRUCache:
    """Run the GRU over xs (B, T, D) from h0 (None: zeros, (H,) or (B, H)); see GRUCache."""
    params = _check_params(params, GRUParams)
    xs = _check_xs(params, xs)
    B, T, H = xs.shape[0], xs.shape[1], params.hidden  # time-major inside, as lstm_forward
    hs = np.empty((T + 1, B, H))
    hs[0] = _initial_state(h0, "h0", B, H)
    w_hh_t = params.W_hh.T
    with np.errstate(all="ignore"):
        pre = xs.swapaxes(0, 1) @ params.W_ih.T  # the input parts W_i* x_t + b_i* of all steps at once
        pre += params.b_ih
        gates = np.empty((T, B, 3 * H))
        hn = np.empty((T, B, H))
        for t in range(T):
            rec = hs[t] @ w_hh_t
            rec += params.b_hh  # W_h* h_{t-1} + b_h*, (B, 3H)
            act = gates[t]
            act[:, :2 * H] = sigmoid(pre[t, :, :2 * H] + rec[:, :2 * H])
            r, z = act[:, :H], act[:, H:2 * H]
            hn[t] = rec[:, 2 * H:]
            # torch's GRU puts r inside, on W_hn h + b_hn (not on h before W_hn).
            n = np.tanh(pre[t, :, 2 * H:] + r * hn[t], out=act[:, 2 * H:])
            # (1 - z) * n + z * h_{t-1}, written as n + z * (h_{t-1} - n)
            np.add(n, z * (hs[t] - n), out=hs[t + 1])
    return GRUCache(hs=hs.swapaxes(0, 1), gates=gates.swapaxes(0, 1), hn=hn.swapaxes(0, 1), xs=xs)


@dataclass(eq=False)
class LSTMGrads:
    """Gradients of a loss on h_T through the LSTM.

    dh (B, T+1, H) dL/dh_t, t = 0..T; dc (B, T+1, H) dL/dc_t (both total: through
    every later step); dW_ih (4H, D), dW_hh (4H, H), db_ih (4H,), db_hh (4H,).
    """

    dh: np.ndarray
    dc: np.ndarray
    dW_ih: np.ndarray
    dW_hh: np.ndarray
    db_ih: np.ndarray
    db_hh: np.ndarray

    def norms(self) -> np.ndarray:
        """(T+1,) Frobenius norms of dL/dh_t over the batch, t = 0..T."""
        return norm(self.dh, axis=(0, 2))

    def cell_norms(self) -> np.ndarray:
        """(T+1,) Frobenius norms of dL/dc_t over the batch, t = 0..T."""
        return norm(self.dc, axis=(0, 2))


@dataclass(eq=False)
class GRUGrads:
    """Gradients of a loss on h_T through the GRU.

    dh (B, T+1, H) dL/dh_t, t = 0..T (total); dW_ih (3H, D), dW_hh (3H, H), db_ih, db_hh (3H,).
    """

    dh: np.ndarray
    dW_ih: np.ndarray
    dW_hh: np.ndarray
    db_ih: np.ndarray
    db_hh: np.ndarray

    def norms(self) -> np.ndarray:
        """(T+1,) Frobenius norms of dL/dh_t over the batch, t = 0..T."""
        return norm(self.dh, axis=(0, 2))


def _check_cache(cache, cls, params):
    if not isinstance(cache, cls):
        maker = "lstm_forward" if cls is LSTMCache else "gru_forward"
        raise ValueError(f"cache must be a {cls.__name__} from {maker}, got {type(cache).__name__}")
    if cache.hs.shape[2] != params.hidden or cache.xs.shape[2] != params.n_in:
        raise ValueError("cache must come from a forward pass with these params; the hidden or input sizes differ")
    return cache


def _check_dh_last(dh_last, B: int, H: int) -> np.ndarray:
    dh_last = np.asarray(dh_last, dtype=np.float64)
    if dh_last.shape == (H,):
        dh_last = np.broadcast_to(dh_last, (B, H))
    if dh_last.shape != (B, H):
        raise ValueError(f"dh_last (dL/dh_T) must have shape ({H},) or ({B}, {H}), got {dh_last.shape}")
    return dh_last


def _weight_grads(d_pre: np.ndarray, xs: np.ndarray, h_prev: np.ndarray):
    """(dW_ih, dW_hh, db) from per-step pre-activation gradients d_pre (T, B, G*H).

    The weights are shared by all steps: each step's contribution is summed,
    all steps and batch rows in one matmul each.
    """
    T, B, GH = d_pre.shape
    flat = d_pre.reshape(T * B, GH)
    return (flat.T @ xs.reshape(T * B, xs.shape[2]),
            flat.T @ h_prev.reshape(T * B, h_prev.shape[2]),
            flat.sum(axis=0))


def lstm_backward(params, cache, dh_last) -> LSTMGrads:
    """Backpropagation through time, by hand, from dh_last = dL/dh_T for a loss on the last hidden state.

    Like every backward pass of the course it starts from the gradient with respect
    to what its forward pass returns last: dh_last (B, H) or (H,), e.g. w for
    L = sum(w * h_T), or readout_loss(...).dh_last. The loss does not read c_T
    directly, so dL/dc_T comes through h_T = o * tanh(c_T) alone.
    """
    params = _check_params(params, LSTMParams)
    cache = _check_cache(cache, LSTMCache, params)
    T, B, H = cache.T, cache.hs.shape[0], params.hidden
    # Time-major views of the cache (its storage is time-major: no copies).
    hs, cs, gates, xs = (a.swapaxes(0, 1) for a in (cache.hs, cache.cs, cache.gates, cache.xs))
    dh = np.empty((T + 1, B, H))
    dc = np.empty((T + 1, B, H))
    dh[T] = _check_dh_last(dh_last, B, H)
    d_pre = np.empty((T, B, 4 * H))  # dL/d(gate pre-activations) of every step
    with np.errstate(all="ignore"):
        carry = np.zeros((B, H))  # dL/dc_t arriving from c_{t+1} = f_{t+1} * c_t + ...
        for t in range(T, 0, -1):
            act = gates[t - 1]
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            tanh_c = np.tanh(cs[t])
            # c_t reaches the loss through h_t = o * tanh(c_t) and through c_{t+1}.
            dc[t] = carry + dh[t] * o * (1.0 - tanh_c * tanh_c)
            da = d_pre[t - 1]
            # sigma' = s (1 - s) and tanh' = 1 - g^2, from the stored activations.
            da[:, :H] = dc[t] * g * i * (1.0 - i)
            da[:, H:2 * H] = dc[t] * cs[t - 1] * f * (1.0 - f)
            da[:, 2 * H:3 * H] = dc[t] * i * (1.0 - g * g)
            da[:, 3 * H:] = dh[t] * tanh_c * o * (1.0 - o)
            carry = dc[t] * f  # the cell path: no weight matrix, no squashing derivative
            np.matmul(da, params.W_hh, out=dh[t - 1])
        dc[0] = carry  # c_0 reaches the loss only through c_1
        dW_ih, dW_hh, db = _weight_grads(d_pre, xs, hs[:-1])
    # b_ih and b_hh enter the pre-activations the same way: equal gradients.
    return LSTMGrads(dh=dh.swapaxes(0, 1), dc=dc.swapaxes(0, 1), dW_ih=dW_ih, dW_hh=dW_hh, db_ih=db,
                     db_hh=db.copy())


def gru_backward(params, cache, dh_last) -> GRUGrads:
    """Backpropagation through time, by hand, for a loss on the last hidden state.

    dh_last: dL/dh_T, (B, H) or (H,); see lstm_backward.
    """
    params = _check_params(params, GRUParams)
    cache = _check_cache(cache, GRUCache, params)
    T, B, H = cache.T, cache.hs.shape[0], params.hidden
    hs, gates, hn, xs = (a.swapaxes(0, 1) for a in (cache.hs, cache.gates, cache.hn, cache.xs))  # time-major views
    dh = np.empty((T + 1, B, H))
    dh[T] = _check_dh_last(dh_last, B, H)
    d_in = np.empty((T, B, 3 * H))  # dL/d(W_i* x_t + b_i*)
    d_rec = np.empty((T, B, 3 * H))  # dL/d(W_h* h_{t-1} + b_h*)
    with np.errstate(all="ignore"):
        for t in range(T, 0, -1):
            act = gates[t - 1]
            r, z, n = act[:, :H], act[:, H:2 * H], act[:, 2 * H:]
            h_prev, grad = hs[t - 1], dh[t]
            # h_t = (1 - z) * n + z * h_{t-1}
            da_n = grad * (1.0 - z) * (1.0 - n * n)  # through n = tanh(a_n)
            dz = grad * (h_prev - n)
            dr = da_n * hn[t - 1]  # a_n = W_in x + b_in + r * hn
            di, drec = d_in[t - 1], d_rec[t - 1]
            di[:, :H] = dr * r * (1.0 - r)
            di[:, H:2 * H] = dz * z * (1.0 - z)
            di[:, 2 * H:] = da_n
            drec[:, :2 * H] = di[:, :2 * H]  # r and z add both parts unweighted
            drec[:, 2 * H:] = da_n * r
            # h_{t-1} reaches h_t directly (z * h_{t-1}) and through W_hh.
            np.matmul(drec, params.W_hh, out=dh[t - 1])
            dh[t - 1] += grad * z
        T_B = T * B
        flat_in, flat_rec = d_in.reshape(T_B, 3 * H), d_rec.reshape(T_B, 3 * H)
        dW_ih = flat_in.T @ xs.reshape(T_B, params.n_in)
        dW_hh = flat_rec.T @ hs[:-1].reshape(T_B, H)
        db_ih, db_hh = flat_in.sum(axis=0), flat_rec.sum(axis=0)
    return GRUGrads(dh=dh.swapaxes(0, 1), dW_ih=dW_ih, dW_hh=dW_hh, db_ih=db_ih, db_hh=db_hh)


@dataclass(eq=False)
class ReadoutLoss:
    """The loss of a linear readout out = h_T @ W_y.T + c and its gradients.

    value float; dh_last (B, H) = dL/dh_T, where lstm_backward and gru_backward start;
    dW_y (O, H); dc (O,).
    """

    value: float
    dh_last: np.ndarray
    dW_y: np.ndarray
    dc: np.ndarray


def readout_loss(h_last, W_y, c, targets, loss) -> ReadoutLoss:
    """helpers.rnn.output_loss of the readout h_T @ W_y.T + c, taken back to h_T and the readout's weights."""
    h_last = as_float_array(h_last, "h_last", "an array of shape (batch, hidden)")
    W_y = as_float_array(W_y, "W_y", "an array of shape (n_out, hidden)")
    c = as_float_array(c, "c", "an array of shape (n_out,)")
    if h_last.ndim != 2 or W_y.ndim != 2 or W_y.shape[1] != h_last.shape[1] or c.shape != (W_y.shape[0],):
        raise ValueError(f"shapes must be h_last (B, H), W_y (O, H), c (O,); got h_last {h_last.shape}, "
                         f"W_y {W_y.shape}, c {c.shape}")
    with np.errstate(all="ignore"):
        result = output_loss(h_last @ W_y.T + c, targets, loss)
        dout = result.dout
        return ReadoutLoss(value=result.value, dh_last=dout @ W_y, dW_y=dout.T @ h_last, dc=dout.sum(axis=0))


def _to_torch_gated(params, module_class):
    module = module_class(params.n_in, params.hidden, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            target = getattr(module, name.replace("W_", "weight_").replace("b_", "bias_") + "_l0")
            target.copy_(torch.from_numpy(np.ascontiguousarray(getattr(params, name))))
    return module


def to_torch_lstm(params) -> nn.LSTM:
    """nn.LSTM(n_in, hidden, batch_first=True) in float64, holding copies of params' weights."""
    return _to_torch_gated(_check_params(params, LSTMParams), nn.LSTM)


def lstm_params_of(module: nn.LSTM) -> LSTMParams:
    """The LSTMParams of a one-layer torch nn.LSTM, as float64 numpy copies: to_torch_lstm's inverse."""
    if not isinstance(module, nn.LSTM) or module.num_layers != 1:
        raise ValueError(f"module should be a one-layer torch.nn.LSTM, not {module!r}")
    return LSTMParams(*(getattr(module, name).detach().double().numpy().copy()
                        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")))


def to_torch_gru(params) -> nn.GRU:
    """nn.GRU(n_in, hidden, batch_first=True) in float64, holding copies of params' weights."""
    return _to_torch_gated(_check_params(params, GRUParams), nn.GRU)


def per_timestep_grad_norms(kind, T, hidden=32, *, rng, n_in=4, batch=16, n_out=2, loss="ce",
                            radius=1.0, forget_bias=0.0) -> np.ndarray:
    """(T+1,) ||dL/dh_t|| (Frobenius over the batch), t = 0..T, for one kind of recurrent net.

    kind: "rnn" (tanh, helpers.rnn, recurrent matrix scaled_orthogonal with
    every singular value `radius`), "lstm" (init_lstm with `forget_bias`) or
    "gru" (init_gru). The inputs xs ~ N(0, 1) (batch, T, n_in), the targets and
    the readout W_y ~ N(0, 1/hidden) are drawn first from `rng`, then the cell's
    weights: give each kind a generator in the same state (np.random.default_rng(0)
    for each) and every kind sees the same sequence, targets and readout, so only
    the cell differs. The loss is helpers.rnn's (`loss` "ce" or "mse") on W_y h_T,
    as rnn_bptt computes it.
    """
    check_choice(kind, "kind", GATED_KINDS)
    T = check_int(T, "T", 1)
    hidden = check_int(hidden, "hidden", 1)
    n_in = check_int(n_in, "n_in", 1)
    batch = check_int(batch, "batch", 1)
    loss = _check_loss(loss)
    n_out = check_int(n_out, "n_out", 2 if loss == "ce" else 1)  # one class would make "ce" trivially 0
    check_rng(rng)
    xs = rng.standard_normal((T, batch, n_in)).swapaxes(0, 1)  # drawn step by step, used batch-first
    targets = rng.integers(0, n_out, batch) if loss == "ce" else rng.standard_normal((batch, n_out))
    W_y = rng.standard_normal((n_out, hidden)) / math.sqrt(hidden)
    c = np.zeros(n_out)
    if kind == "rnn":
        params = init_rnn(hidden, n_in, n_out, rng, recurrent="orthogonal", radius=radius)
        params.W_y = W_y  # the shared readout, not init_rnn's own draw
        cache = rnn_forward(params, xs, "tanh")
        return rnn_bptt(params, cache, output_loss(cache.out, targets, loss).dout).norms()
    if kind == "lstm":
        params = init_lstm(hidden, n_in, rng, forget_bias=forget_bias)
        forward, backward = lstm_forward, lstm_backward
    else:
        params = init_gru(hidden, n_in, rng)
        forward, backward = gru_forward, gru_backward
    cache = forward(params, xs)
    return backward(params, cache, readout_loss(cache.hs[:, -1], W_y, c, targets, loss).dh_last).norms()


def cell_path_product(forget_gates, reduce="mean") -> np.ndarray:
    """Products of forget gates along the LSTM's cell path: d c_T / d c_k with the gates held fixed.

    forget_gates: (B, T, H), e.g. LSTMCache.f ([:, t-1] is f_t). Entry k is
    prod_{t=k+1}^{T} f_t, the diagonal of d c_T / d c_k along the direct path
    c_{t-1} -> c_t = f_t * c_{t-1} + ... (entry T is 1). It is the whole
    Jacobian when the gates do not depend on the state (W_hh = 0); otherwise
    the gates add further paths through h.
    reduce: "mean" (default) or "max" over batch and units gives (T+1,);
    None gives the full (B, T+1, H).
    """
    f = np.asarray(forget_gates, dtype=np.float64)
    if f.ndim != 3 or min(f.shape) < 1:
        raise ValueError(f"forget_gates must have shape (B, T, H) with B, T, H >= 1, got {f.shape}")
    if reduce not in CELL_PATH_REDUCTIONS:
        raise ValueError(f"reduce must be one of {CELL_PATH_REDUCTIONS}, got {reduce!r}")
    with np.errstate(all="ignore"):
        B, T, H = f.shape
        products = np.empty((B, T + 1, H))
        products[:, -1] = 1.0
        # Running product from the end: products[:, k] = f_{k+1} * products[:, k+1].
        np.cumprod(f[:, ::-1], axis=1, out=products[:, -2::-1])
        if reduce is None:
            return products
        return products.mean(axis=(0, 2)) if reduce == "mean" else products.max(axis=(0, 2))
