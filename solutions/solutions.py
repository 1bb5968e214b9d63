"""Reference solutions of every exercise, one block per exercise cell.

Each block starts with a line `# %% <id>` and holds the whole exercise cell as
solved. `python course.py solutions DEST` writes the notebooks with these filled
in; `python course.py release DEST` makes sure none of it reaches students.
This file is read, not imported: each block runs inside its own notebook.
"""

# %% 00.1
guess_factors_until_one_percent = 44  # 0.9 ** 44 = 0.0097, 0.9 ** 43 = 0.0108

# %% 01.1
import numpy as np

from helpers.activations import sigmoid


def my_sigmoid_prime(z):
    """d sigmoid / dz at every entry of z (any shape)."""
    s = sigmoid(z)
    return s * (1.0 - s)

# %% 01.2
import numpy as np

from helpers.activations import sigmoid_prime


def my_chain_gradient(w, z):
    """d a_n / d a_0 for a_k = sigmoid(w_k a_{k-1}): w (n,) weights, z (n,) pre-activations -> float."""
    return float(np.prod(w * sigmoid_prime(z)))

# %% 01.3
guess_product_of_ten = 1e-6

# %% 02.1
import numpy as np


def my_tanh_prime(z):
    """d tanh / dz at every entry of z (any shape)."""
    return 1.0 - np.tanh(z) ** 2

# %% 02.2
import numpy as np

from helpers.activations import sigmoid_prime


def my_saturated_fraction(z):
    """Share of the entries of z (any shape) at which a sigmoid unit is saturated."""
    return float(np.mean(sigmoid_prime(z) < 0.1 * 0.25))  # the largest slope is sigmoid'(0) = 1/4

# %% 02.3
guess_saturated_percent = 75

# %% 03.1
import numpy as np


def my_backward_step(W, delta, a_prev):
    """dL/dz_prev (batch, n_in) from delta = dL/dz (batch, n_out), z = a_prev @ W.T + b, a_prev = sigmoid(z_prev).

    W (n_out, n_in), a_prev (batch, n_in).
    """
    return (delta @ W) * a_prev * (1.0 - a_prev)

# %% 03.2
guess_depth_20_ratio = 1e13

# %% 03.3
import numpy as np


def my_he_init(fan_out, fan_in, rng):
    """W (fan_out, fan_in) with entries N(0, 2 / fan_in), drawn from `rng`."""
    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)

# %% 04.1
import numpy as np


def my_bptt_step(W_h, dh, h):
    """dL/dh_{t-1} through h_t = tanh(h_{t-1} @ W_h.T + x_t @ W_x.T + b).

    W_h (H, H), dh = dL/dh_t (batch, H), h = h_t (batch, H) -> (batch, H).
    """
    return (dh * (1.0 - h ** 2)) @ W_h

# %% 04.2
guess_steps_to_a_millionth = 20

# %% 04.3
import numpy as np


def my_tanh_bound(W_h, n):
    """Upper bound on ||dh_T / dh_{T-n}|| for a tanh RNN with recurrent matrix W_h (H, H)."""
    return float(np.linalg.norm(W_h, ord=2) ** n)  # the largest singular value, to the n-th power

# %% 05.1
guess_growth_after_50 = 1e9

# %% 05.2
import numpy as np


def my_first_bad_step(losses):
    """Index of the first loss that is inf or NaN, or None if every loss is finite."""
    bad = np.flatnonzero(~np.isfinite(losses))
    return int(bad[0]) if bad.size else None

# %% 05.3
guess_longest_value_clipped_norm = 0.3 * 1185 ** 0.5  # every entry at 0.3: about 10.3

# %% 05.4
import numpy as np


def my_clip_by_norm(grads, threshold):
    """New arrays: `grads` rescaled together so their global norm is at most `threshold`."""
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    scale = threshold / norm if norm > threshold else 1.0  # never divides by a norm of 0
    return [g * scale for g in grads]

# %% 06.1
import numpy as np

from helpers.activations import sigmoid


def my_forget_gate(x, h, W_f, U_f, b_f):
    """f = sigmoid(x @ W_f.T + h @ U_f.T + b_f): x (B, n_in), h (B, H), W_f (H, n_in), U_f (H, H), b_f (H,) -> (B, H)."""
    return sigmoid(x @ W_f.T + h @ U_f.T + b_f)

# %% 06.2
import numpy as np


def my_cell_path(forget_gates):
    """d c_T / d c_0 along the cell path when W_hh = 0: forget_gates (B, T, H) -> (B, H)."""
    return np.prod(forget_gates, axis=1)

# %% 06.3
my_forget_bias = 4.0

# %% 06.4
import numpy as np


def my_lstm_step_backward(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates):
    """One LSTM step backward, rows are examples: returns (dx, dh_prev, dc_prev, dW_ih, dW_hh, db).

    dh (B, H): dL/dh, the gradient of this step's output h. dc (B, H): the part of dL/dc that comes from
    the next step. x (B, n_in), h_prev (B, H), c_prev (B, H): the step's inputs; W_ih (4H, n_in) and
    W_hh (4H, H), stored (out, in) as torch stores them. gates (B, 4H): the forward step's gate values
    i, f, g, o side by side, each (B, H). The forward went on with c = f * c_prev + i * g, h = o * tanh(c).
    Returns dx (B, n_in), dh_prev (B, H), dc_prev (B, H), dW_ih (4H, n_in), dW_hh (4H, H), db (4H,).
    """
    i, f, g, o = np.split(gates, 4, axis=1)  # each (B, H)
    tanh_c = np.tanh(f * c_prev + i * g)  # c recomputed, then squashed as h sees it
    dc_here = dc + dh * o * (1.0 - tanh_c ** 2)  # c reaches the loss through the next step and through h
    dz = np.hstack([dc_here * g * i * (1.0 - i),  # input gate: the sigmoid's slope is i (1 - i)
                    dc_here * c_prev * f * (1.0 - f),  # forget gate
                    dc_here * i * (1.0 - g ** 2),  # candidate: tanh's slope is 1 - g^2
                    dh * tanh_c * o * (1.0 - o)])  # output gate
    return dz @ W_ih, dz @ W_hh, dc_here * f, dz.T @ x, dz.T @ h_prev, dz.sum(axis=0)

# %% 07.1
import numpy as np


def my_orthogonal(n, rng):
    """An (n, n) orthogonal matrix drawn at random from `rng`."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # fixing the signs makes Q uniformly distributed

# %% 07.2
my_remedy = dict(batch_norm=True)

# %% 08.1
cause_setup_1 = "vanishing"

# %% 08.2
from torch import nn

from helpers.exercises.nb08 import DEEP_DEPTH, mlp


def fixed_deep_network():
    """A new network: 4 inputs, at least DEEP_DEPTH hidden layers, 1 output logit."""
    return mlp(DEEP_DEPTH, nn.Tanh)  # tanh's slope at 0 is 1 instead of the sigmoid's 1/4

# %% 08.3
cause_setup_2 = "learning rate too large"

# %% 08.4
fixed_rnn_settings = dict(lr=0.05)  # a shorter step; dict(clip_norm=1.0), a bounded one, passes too

# %% 08.5
cause_setup_3 = "exploding"

# %% 08.6
from torch import nn

from helpers.training import linear_layers


def fix_initialisation(model):
    """Re-initialise the weights and biases of `model`'s layers in place."""
    for _, layer in linear_layers(model):  # He: variance 2 / fan_in keeps a ReLU layer's signal the same size
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
