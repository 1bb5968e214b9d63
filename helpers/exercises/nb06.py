"""Exercises of notebook 06 (LSTM and GRU gates)."""
import numpy as np
import torch

from helpers.activations import sigmoid
from helpers.exercises.core import Exercise, grader_case_hint, number, same_array

SURVIVE_STEPS, SURVIVE_SHARE = 100, 0.1


def _forget_test(fn):
    rng = np.random.default_rng(7)
    B, n_in, H = 3, 4, 5
    x, h = rng.normal(size=(B, n_in)), rng.normal(size=(B, H))
    W, U, b = rng.normal(size=(H, n_in)), rng.normal(size=(H, H)), rng.normal(size=H)  # (fan_out, fan_in)
    try:
        got = np.asarray(fn(x, h, W, U, b), dtype=float)
    except ValueError as err:
        if "mismatch" not in str(err) and "not aligned" not in str(err):
            raise
        return ("The shapes do not fit: W_f is (H, n_in), stored (out, in) as torch stores weights, "
                "so a batch x (B, n_in) goes through it as x @ W_f.T.")
    if got.shape == (B, H) and np.allclose(got, np.tanh(x @ W.T + h @ U.T + b)):
        return "A gate must lie between 0 and 1: which activation does that?"
    if got.shape == (B, H) and np.allclose(got, sigmoid(x @ W.T + h @ U.T)):
        return "The bias is missing: the gate needs it to stay open when the inputs are 0."
    if got.shape == (B, H) and np.allclose(got, sigmoid(x @ W.T + h @ U + b)):
        return "U_f is (H, H) like W_f, (out, in): h goes through it as h @ U_f.T."
    return same_array(got, sigmoid(x @ W.T + h @ U.T + b), rtol=1e-8)


def _forget_hidden(fn, rng):
    """Other sizes (n_in != H, a batch of 1) and scales, with gates pushed far towards 0 and 1."""
    n_in, H = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    if n_in == H:
        n_in += 1
    for B in (1, int(rng.integers(2, 9))):
        scale = rng.uniform(0.5, 8)
        x, h = rng.normal(0, scale, (B, n_in)), rng.normal(0, scale, (B, H))
        W, U, b = rng.normal(size=(H, n_in)), rng.normal(size=(H, H)), rng.normal(0, 3, H)
        # |z| <= 12: a gate may be 6e-6 from 0 or 1, where every right formula is still exact to 1e-8 of the largest.
        shrink = min(1.0, 12 / np.abs(x @ W.T + h @ U.T + b).max())
        x, h, b = x * shrink, h * shrink, b * shrink
        got = fn(x.copy(), h.copy(), W.copy(), U.copy(), b.copy())
        hint = grader_case_hint(got, sigmoid(x @ W.T + h @ U.T + b), f"B = {B}, n_in = {n_in} and H = {H}", 1e-8)
        if hint:
            return hint
    return None


def _cell_test(fn):
    rng = np.random.default_rng(8)
    f = rng.uniform(0.5, 1.0, size=(2, 30, 3))  # (B, T, H)
    got = np.asarray(fn(f), dtype=float)
    if got.shape == (2, 3) and np.allclose(got, f.sum(axis=1)):
        return "You added the gates. How does the cell state carry from one step to the next?"
    if got.shape == (2, 3) and np.allclose(got, f.mean(axis=1)):
        return "That is the average gate; the gradient goes through every step one after another."
    if got.shape == (2, 3) and np.allclose(got, f[:, -1]):
        return "That is the last step's gate alone; the gradient from c_T to c_0 passes through every step."
    if got.shape == (30, 3):
        return "The steps are the second axis, (B, T, H): take the product over time, not over the batch."
    if got.shape == (2, 30):
        return "The steps are the second axis, (B, T, H): take the product over time, not over the units."
    if got.shape == f.shape:
        return "That is one value per step; return the product over all T steps, one value per example and unit."
    if got.shape == ():
        return "Return one value per example and unit, (B, H): multiply over the steps only."
    return same_array(got, np.prod(f, axis=1), rtol=1e-8)


def _cell_hidden(fn, rng):
    """Other (B, T, H): one step, a single example and unit, and long sequences of gates near 1."""
    B, H = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    cases = [rng.uniform(0.05, 1.0, (B, 1, H)), rng.uniform(0.05, 1.0, (1, int(rng.integers(2, 40)), 1)),
             rng.uniform(0.95, 1.0, (B, int(rng.integers(100, 300)), H))]
    for f in cases:
        hint = grader_case_hint(fn(f.copy()), np.prod(f, axis=1), f"forget gates of shape {f.shape}", 1e-8)
        if hint:
            return hint
    return None


def _bias_test(value):
    bias = number(value, "The bias")
    share = float(sigmoid(np.array(bias))) ** SURVIVE_STEPS
    if share < SURVIVE_SHARE:
        return f"With this bias only {share:.2g} of the gradient survives {SURVIVE_STEPS} steps."
    if bias > 10:
        return "Much larger than needed: a gate stuck at 1 can never forget anything."
    return None


# --- 06.4: one LSTM step, backward ---------------------------------------------------------

STEP_GRADIENTS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")
STEP_RTOL = 1e-8
SHAPES_DO_NOT_FIT = ("The shapes do not fit. Rows are examples: a gradient (B, 4H) with respect to z goes back "
                     "through W_ih (4H, n_in) to x (B, n_in) and through W_hh (4H, H) to h_prev (B, H), and each "
                     "weight's gradient has that weight's shape, (out, in).")
NOT_A_TUPLE = "Return the six gradients together, as one tuple: (dx, dh_prev, dc_prev, dW_ih, dW_hh, db)."
TANH_PATH = ("The cell state c reaches the loss in two ways: through the next step (that is dc) and through this "
             "step's own output h = o * tanh(c). Your {what} only the first: add the second to dc before you go on.")
FORGET = ("dc_prev is missing a factor: c_prev enters this step only through f * c_prev. What does that product do "
          "to the gradient on its way back?")
SQUASHED_TWICE = ("The argument gates already holds the gate values i, f, g, o, after the sigmoid and tanh, not "
                  "their pre-activations: use them as they are, without squashing them again.")
SIGMOID_SLOPE = ("The part of your gradients that belongs to the gate{s} {names} uses the wrong slope for the "
                 "sigmoid. {Those} gate{s} {are} the sigmoid's output s, and its slope is written with s, but it is "
                 "not s itself (exercise 01.1).")
TANH_SLOPE = ("The part of your gradients that belongs to g is off by tanh's slope. g is tanh's output, and its "
              "slope is written with g, but it is not 1 - g (exercise 02.1).")
TRANSPOSED = ("{name} has shape {got}, the shape of {weight} transposed. A weight's gradient has that weight's "
              "shape, (out, in) as torch stores it: {want}.")
NOT_SUMMED = ("db has one row per example. Every example of the batch goes through the same b, so the bias's "
              "gradient adds up their parts and has b's shape, {want}.")
MEAN = ("db is the mean over the batch. The loss adds up the examples' parts, so the bias's gradient is their "
        "sum, as for dW_ih and dW_hh.")
GATE_ORDER = ("The argument gates holds the four gates' blocks in the order torch.nn.LSTM stacks them, i, f, g, o, "
              "not i, f, o, g. Take the blocks apart in that order, and put the gradient at z together in that same "
              "order.")
OUTPUT_FACTOR = ("The part of your gradient at c that comes through this step's output h misses a factor. "
                 "h = o * tanh(c) is a product: on its way back from h to c the gradient goes through both of its "
                 "factors, not through tanh alone.")
NEW_CELL_STATE = ("Your gradients squash c_prev where h uses this step's new cell state: h is built from "
                  "c = f * c_prev + i * g, which is not among the arguments and must be computed again from the gates.")


def _step_case(rng, B: int, n_in: int, H: int, saturated: bool = False) -> tuple:
    """(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b) of one LSTM step, drawn from `rng`, float64.

    `saturated` pushes most gate pre-activations far from 0 with biases of size 7 to 13 (gates
    within 1e-3 of 0 or 1, some within 1e-6) and the cell state into tanh's flat ends; |z| stays at
    most 14, where every right formula is still exact to STEP_RTOL of the largest entry.
    """
    x, h_prev = rng.normal(size=(B, n_in)), rng.normal(0, 0.5, (B, H))
    W_ih, W_hh = rng.normal(0, 0.6, (4 * H, n_in)), rng.normal(0, 0.6, (4 * H, H))
    if saturated:
        b = rng.choice([-1.0, 1.0], 4 * H) * rng.uniform(7, 13, 4 * H)
    else:
        b = rng.normal(0, 0.5, 4 * H)
    c_prev = rng.normal(0, 5.0 if saturated else 1.0, (B, H))
    if saturated:
        shrink = min(1.0, 14 / np.abs(x @ W_ih.T + h_prev @ W_hh.T + b).max())
        x, h_prev, b = x * shrink, h_prev * shrink, b * shrink
    dh, dc = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    return dh, dc, x, h_prev, c_prev, W_ih, W_hh, b


def _step_reference(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b) -> tuple:
    """(gates (B, 4H), [dx, dh_prev, dc_prev, dW_ih, dW_hh, db]): the step's forward in torch (float64) and
    autograd's gradients of L = sum(dh * h) + sum(dc * c), the loss whose dL/dh is dh and whose part of dL/dc
    from beyond this step is dc."""
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, h_prev, c_prev, W_ih, W_hh, b)]
    x_, h_, c_, W_ih_, W_hh_, b_ = leaves
    z_i, z_f, z_g, z_o = (x_ @ W_ih_.T + h_ @ W_hh_.T + b_).chunk(4, dim=1)  # torch's gate order
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * c_ + i * g
    h = o * torch.tanh(c)
    grads = torch.autograd.grad((h, c), leaves, grad_outputs=(torch.tensor(dh, dtype=torch.float64),
                                                                torch.tensor(dc, dtype=torch.float64)))
    return torch.cat([i, f, g, o], dim=1).detach().numpy(), [grad.numpy() for grad in grads]


def _slipped(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates, slip: str | None) -> list:
    """The six gradients worked out by hand from the gate values (slip None), or as an answer with one `slip`
    gives them (for the hints):
    "tanh path" (dc used alone at c), "forget" (dc_prev without f), "slopes" (the sigmoid's slope
    written s, tanh's written 1 - g, in every gate), "gate order" (the blocks of gates and of the gradient at z
    taken as i, f, o, g), "output factor" (h's part at c without o), "old c" (tanh(c_prev) in place of tanh(c))."""
    order = "ifog" if slip == "gate order" else "ifgo"
    blocks = dict(zip(order, np.split(gates, 4, axis=1)))
    gate_i, gate_f, gate_g, gate_o = (blocks[name] for name in "ifgo")
    squashed_c = np.tanh(c_prev if slip == "old c" else gate_f * c_prev + gate_i * gate_g)
    through_h = dh * (1 if slip == "output factor" else gate_o) * (1 - squashed_c ** 2)
    at_c = dc if slip == "tanh path" else dc + through_h

    def slope(s):
        return s if slip == "slopes" else s * (1 - s)

    g_slope = 1 - gate_g if slip == "slopes" else 1 - gate_g ** 2
    at_z = {"i": at_c * gate_g * slope(gate_i), "f": at_c * c_prev * slope(gate_f), "g": at_c * gate_i * g_slope,
            "o": dh * squashed_c * slope(gate_o)}
    d_z = np.concatenate([at_z[name] for name in order], axis=1)
    return [d_z @ W_ih, d_z @ W_hh, at_c if slip == "forget" else at_c * gate_f, d_z.T @ x, d_z.T @ h_prev,
            d_z.sum(axis=0)]


def _squashed(gates):
    """`gates` put through the gates' squashing once more: the sigmoid for i, f, o and tanh for g."""
    H = gates.shape[1] // 4
    again = sigmoid(gates)
    again[:, 2 * H:3 * H] = np.tanh(gates[:, 2 * H:3 * H])
    return again


def _same(got, want) -> bool:
    return same_array(got, want, rtol=STEP_RTOL) is None


def _six(got) -> list | None:
    """The answer's six gradients as float arrays, or None when it did not return six of them."""
    if not isinstance(got, (tuple, list)) or len(got) != len(STEP_GRADIENTS):
        return None
    return [np.asarray(a, dtype=float) for a in got]


def _step_shape_hint(got: list, expected: list) -> str | None:
    weights = {"dW_ih": "W_ih", "dW_hh": "W_hh"}
    for name, a, want in zip(STEP_GRADIENTS, got, expected):
        if a.shape == want.shape:
            continue
        if name in weights and a.shape == want.shape[::-1]:
            return TRANSPOSED.format(name=name, got=a.shape, weight=weights[name], want=want.shape)
        if name == "db" and a.ndim == 2 and a.shape[1:] == want.shape:
            return NOT_SUMMED.format(want=want.shape)
        return (same_array(a, want, what=name) + " Return (dx, dh_prev, dc_prev, dW_ih, dW_hh, db) in this order, "
                "each with the shape of what it is the gradient of.")
    return None


def _dc_prev_hint(dc_prev, inputs: tuple) -> str | None:
    """The hint of the slip whose dc_prev the answer's wrong `dc_prev` is, or None."""
    if _same(dc_prev, inputs[1]):  # dc passed on as it came
        return FORGET
    hints = {"tanh path": TANH_PATH.format(what="dc_prev has"), "forget": FORGET, "gate order": GATE_ORDER,
             "output factor": OUTPUT_FACTOR, "old c": NEW_CELL_STATE}
    return next((hint for slip, hint in hints.items() if _same(dc_prev, _slipped(*inputs, slip)[2])), None)


def _gates_off_as(got: list, expected: list, slipped: list, H: int) -> list:
    """The gates whose rows of db (or, when db has another shape, of dW_ih or dW_hh) are wrong and are what
    `slipped` gives."""
    k = next((k for k in (5, 3, 4) if got[k].shape == expected[k].shape), None)  # db, dW_ih, dW_hh
    if k is None:
        return []
    rows = {name: slice(gate * H, (gate + 1) * H) for gate, name in enumerate("ifgo")}  # gate k's rows
    return [name for name, r in rows.items()
            if not _same(got[k][r], expected[k][r]) and _same(got[k][r], slipped[k][r])]


def _gate_slope_hint(got: list, expected: list, slipped: list, H: int) -> str | None:
    """SIGMOID_SLOPE and/or TANH_SLOPE for the gates whose rows are wrong and are what the "slopes" slip gives
    (see _gates_off_as); None when no gate's are."""
    off = _gates_off_as(got, expected, slipped, H)
    sigmoids = [name for name in off if name != "g"]
    hints = []
    if sigmoids:
        many = len(sigmoids) > 1
        hints.append(SIGMOID_SLOPE.format(s="s" if many else "", names=_listed(sigmoids),
                                          Those="Those" if many else "That", are="are" if many else "is"))
    if "g" in off:
        hints.append(TANH_SLOPE)
    return " ".join(hints) or None


def _step_test(fn):
    rng = np.random.default_rng(9)
    B, n_in, H = 3, 4, 5
    dh, dc, x, h_prev, c_prev, W_ih, W_hh, b = _step_case(rng, B, n_in, H)
    gates, expected = _step_reference(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b)
    inputs = (dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates)
    try:
        got = fn(*(a.copy() for a in inputs))  # copies: an answer may change its inputs
    except ValueError as err:
        if not any(word in str(err) for word in ("mismatch", "not aligned", "broadcast")):
            raise
        return SHAPES_DO_NOT_FIT
    got = _six(got)
    if got is None:
        return NOT_A_TUPLE
    if all(_same(a, want) for a, want in zip(got, expected)):
        return None
    hint = _step_shape_hint(got, expected)
    if hint:
        return hint
    if all(_same(a, want) for a, want in zip(got, _slipped(*inputs[:-1], _squashed(gates), None))):
        return SQUASHED_TWICE
    if not _same(got[2], expected[2]):
        hint = _dc_prev_hint(got[2], inputs)
        if hint:
            return hint
    if _same(got[5] * B, expected[5]):
        return MEAN
    hint = _gate_slope_hint(got, expected, _slipped(*inputs, "slopes"), H)
    if hint:
        return hint
    if "o" in _gates_off_as(got, expected, _slipped(*inputs, "old c"), H):  # tanh(c_prev) at o alone
        return NEW_CELL_STATE
    no_tanh_path = _slipped(*inputs, "tanh path")
    if not _same(got[5], expected[5]) and _same(got[5], no_tanh_path[5]):
        return TANH_PATH.format(what="gradients have")
    wrong = [name for name, a, want in zip(STEP_GRADIENTS, got, expected) if not _same(a, want)]
    right = [name for name in STEP_GRADIENTS if name not in wrong]
    first = STEP_GRADIENTS.index(wrong[0])
    hint = same_array(got[first], expected[first], rtol=STEP_RTOL, what=wrong[0])
    if len(wrong) > 1:
        hint += f" {_listed(wrong[1:])} {'is' if len(wrong) == 2 else 'are'} not right either."
    if right:
        hint += f" {_listed(right)} {'is' if len(right) == 1 else 'are'} right."
    return hint


def _listed(names: list) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _step_hidden(fn, rng):
    """A batch of 1 with H = 1, other sizes (n_in != H), and gates pushed towards 0 and 1, against autograd."""
    n_in = int(rng.integers(2, 8))
    H = int(rng.integers(2, 7))
    if H == n_in:
        H += 1
    cases = [(1, n_in, 1, False, "a batch of 1, n_in = {n_in} and H = 1"),
             (int(rng.integers(2, 9)), n_in, H, False, "B = {B}, n_in = {n_in} and H = {H}"),
             (int(rng.integers(1, 9)), int(rng.integers(1, 8)), int(rng.integers(1, 7)), True,
              "gates near 0 and 1 with B = {B}, n_in = {n_in} and H = {H}")]
    for B, n_in, H, saturated, case in cases:
        dh, dc, x, h_prev, c_prev, W_ih, W_hh, b = _step_case(rng, B, n_in, H, saturated)
        gates, expected = _step_reference(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b)
        case = case.format(B=B, n_in=n_in, H=H)
        got = _six(fn(*(a.copy() for a in (dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates))))
        if got is None:
            return f"For {case}, drawn by the grader, your function did not return the six gradients as one tuple."
        for name, a, want in zip(STEP_GRADIENTS, got, expected):
            hint = same_array(a, want, rtol=STEP_RTOL, what=name)
            if hint:
                return f"For {case}, drawn by the grader, {hint}"
    return None


EXERCISES = [
    Exercise("06.1", "the LSTM forget gate", "my_forget_gate", _forget_test, hidden=_forget_hidden),
    Exercise("06.2", "the gradient along the cell path", "my_cell_path", _cell_test, hidden=_cell_hidden),
    Exercise("06.3", "a forget bias that remembers 100 steps", "my_forget_bias", _bias_test),
    Exercise("06.4", "the backward pass of one LSTM step", "my_lstm_step_backward", _step_test, hidden=_step_hidden),
]
