"""A gradient health report for any torch model and batch.

One forward and backward pass on (X, y), then a row per parameterised layer
(every module with a 'weight' parameter, or weight_* ones like nn.RNN's
weight_ih_l0, in registration order). In an nn.Sequential the weight-matrix
layers are numbered 1..L in the order the forward pass runs them, as every
figure of the course numbers layers (a row without a matrix, e.g. an affine
batch norm, is 'after k', k the matrix layer before it); in any other model a
row is named after its module ('rnn', 'readout'). LayerHealth.module keeps the
module's name either way.

- grad norm:      ||dL/dW|| over the layer's weight parameters;
- weight norm:    ||W||;
- update ratio:   lr * ||dL/dW|| / ||W||, how much one plain SGD step would move
                  the weights relative to their size;
- saturated:      the fraction of sigmoid/tanh units after the layer whose derivative
                  is below 10% of its maximum (helpers.activations.saturated): they
                  barely learn. ReLU and leaky ReLU never saturate: 0%;
- inactive:       the fraction of ReLU units after the layer whose derivative is
                  exactly 0, z <= 0 (helpers.activations.inactive): they pass back
                  nothing, and about half of a healthy ReLU layer does. Never a
                  sigmoid, tanh or leaky ReLU unit: 0%;
                  both counted by forward hooks on nn.Sigmoid, nn.Tanh, nn.ReLU and
                  nn.LeakyReLU modules (credited to the weight layer that ran last
                  before them) and on nn.RNN / nn.LSTM / nn.GRU outputs, '-' where
                  no activation follows the layer;
- non-finite:     inf/NaN entries in the layer's gradients and in its parameters.

For a one-layer nn.RNN, the report also follows the gradient through time:
||dL/dh_t|| for every step t = 1..T of the sequence (LayerHealth.step_grad_norms),
from its hidden states and the gradients reaching them, and prints how many times
larger the gradient at step 1 is than at step T.

and a verdict, "vanishing", "exploding", "learning rate too large" or "healthy",
with its reason in one sentence. "Exploding" means gradients that grow towards the
first layer or the first step, or that are so large that even a small step
(DEFAULT_LR) would move a layer by more than EXPLODING_UPDATE_RATIO of its size;
"learning rate too large" means gradients of ordinary size with a step too long for
them: only the given lr makes the update ratio too large. The model is left as it was found: its gradients and buffers (e.g.
batch-norm running statistics) are put back, and its train/eval mode is not
touched. Activations applied as functions (torch.tanh inside forward) have no
module to hook, so their layer shows '-' for saturated and inactive. The
verdict reads gradient norms, update ratios and non-finite counts only, and names
layers as the table does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.activations import inactive, saturated
from helpers.gradcheck import norm
from helpers.training import _as_tensor, _loss_value, _match_output, _model_dtype
from helpers.validation import check_number

DEFAULT_LR = 1e-3  # a typical Adam / small-SGD learning rate, for the update ratio

# The first layer's gradient below 1/1000 of the last layer's: with one learning
# rate for all layers, the first layer then learns over 1000 times slower, which
# in practice means it does not learn. Deep sigmoid networks reach 1e-9 and beyond.
VANISHING_RATIO = 1e-3
# The mirror image: gradients growing 1000-fold towards the input. A step small
# enough for the last layer is then far too big for the first.
EXPLODING_RATIO = 1e3
# A healthy update moves a layer by about 1e-3 of its size per step (the usual
# rule of thumb); a step that moves it by more than a tenth of its size is so
# large that training jumps around or diverges.
EXPLODING_UPDATE_RATIO = 0.1
# A unit is saturated when its derivative is below this fraction of the largest
# its activation can have (the course's definition in helpers.activations).
SATURATION_TOL = 0.1

VERDICTS = ("vanishing", "exploding", "learning rate too large", "healthy")

_ACTIVATIONS = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu"}
_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)


@dataclass
class LayerHealth:
    """One row of the report; norms in float64, NaN where there is nothing to measure.

    name: what the table, the verdict and health_plot call the layer ('1'..'L' in an
    nn.Sequential, else the module's name); module: its name in model.named_modules().
    saturation, inactive: fractions (0..1) of the units after the layer.
    step_grad_norms: (T,) ||dL/dh_t|| over the batch, t = 1..T, for a one-layer nn.RNN; else None.
    """

    name: str
    module: str
    kind: str
    grad_norm: float
    weight_norm: float
    update_ratio: float
    saturation: float
    inactive: float
    nonfinite_grads: int
    nonfinite_weights: int
    is_matrix: bool
    step_grad_norms: np.ndarray | None = None

    @property
    def nonfinite(self) -> int:
        return self.nonfinite_grads + self.nonfinite_weights

    @property
    def step_ratio(self) -> float:
        """||dL/dh_1|| / ||dL/dh_T||: above 1 the gradient grows back through time; NaN without steps."""
        norms = self.step_grad_norms
        if norms is None or len(norms) < 2 or not norms[-1] > 0:
            return math.nan
        with np.errstate(all="ignore"):
            return float(norms[0] / norms[-1])


def _sci(value: float) -> str:
    """Two significant digits in e-notation: '3.1e-09', 'inf', 'nan'; stable across machines."""
    return f"{value:.1e}" if math.isfinite(value) else str(value)


def _percent(fraction: float) -> str:
    """'53%', or '-' where no activation after the layer was seen (NaN)."""
    return "-" if math.isnan(fraction) else f"{100 * fraction:.0f}%"


def _factor(value: float) -> str:
    """A ratio in plain words: '0.19', '12', '480', '3e-09'."""
    if not math.isfinite(value):
        return str(value)
    if 1e-2 <= value < 1e2:
        return f"{value:.2g}"
    return f"{value:.0f}" if 1e2 <= value < 1e3 else f"{value:.0e}"


@dataclass
class HealthReport:
    """Result of gradient_health: rows (list of LayerHealth, registration order),
    verdict (one of VERDICTS), reason (one sentence), loss (float), lr (float).

    Draw it with helpers.plots.health_plot(ax, report) (plots import compute, not the reverse).
    """

    rows: list
    verdict: str
    reason: str
    loss: float
    lr: float

    @property
    def names(self) -> list:
        return [row.name for row in self.rows]

    @property
    def grad_norms(self) -> np.ndarray:
        """(n_rows,) gradient norms, in row order."""
        return np.array([row.grad_norm for row in self.rows], dtype=np.float64)

    def table(self) -> str:
        """Fixed-width text table, one line per layer, then the verdict."""
        headers = ("layer", "type", "grad norm", "weight norm", "update ratio", "saturated", "inactive",
                   "non-finite g/w")
        lines = []
        for row in self.rows:
            lines.append((row.name, row.kind, _sci(row.grad_norm), _sci(row.weight_norm), _sci(row.update_ratio),
                          _percent(row.saturation), _percent(row.inactive),
                          f"{row.nonfinite_grads}/{row.nonfinite_weights}"))
        widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(headers)]

        def fmt(cells) -> str:
            # Names left-aligned, numbers right-aligned so their exponents line up.
            left = [cells[k].ljust(widths[k]) for k in (0, 1)]
            right = [cells[k].rjust(widths[k]) for k in range(2, len(cells))]
            return "  ".join(left + right).rstrip()

        out = [fmt(headers), fmt(["-" * w for w in widths])]
        out += [fmt(line) for line in lines]
        for row in self.rows:
            if row.step_grad_norms is not None:
                out.append(f"through time in {_called(row)}: the gradient at step 1 is {_factor(row.step_ratio)} "
                           f"times the one at step {len(row.step_grad_norms)}")
        out.append(f"loss {_sci(self.loss)}, lr {self.lr:g} for the update ratio")
        out.append(f"verdict: {self.verdict} ({self.reason})")
        return "\n".join(out)


def _weight_params(module: nn.Module) -> list:
    """The module's own parameters named 'weight' or 'weight_*' (nn.RNN's weight_ih_l0, ...)."""
    return [p for n, p in module.named_parameters(recurse=False) if n == "weight" or n.startswith("weight_")]


def _norm(tensors) -> float:
    """Frobenius norm of several tensors together (the norm of their norms), float64.

    helpers.gradcheck.norm rescales, so float64 entries beyond 1e154 do not overflow
    their squares: the result is inf only where an entry is.
    """
    return norm([norm(t) for t in tensors])


def _count_nonfinite(tensors) -> int:
    return int(sum(int((~torch.isfinite(t.detach())).sum()) for t in tensors if t is not None))


def _check_lr(lr) -> float:
    if lr is None:
        return DEFAULT_LR
    try:
        return check_number(lr, "lr", 0.0, strict=True)
    except ValueError:
        raise ValueError(f"lr must be None (meaning {DEFAULT_LR:g}) or a finite number > 0, got {lr!r}") from None


def _targets(y, dtype, device, keep_integers: bool) -> torch.Tensor:
    """y as a tensor: integer class labels stay int64 for a custom loss_fn, the rest the model's dtype."""
    if keep_integers:
        if isinstance(y, torch.Tensor):
            return y.detach().to(device=device)
        array = np.array(y)
        if np.issubdtype(array.dtype, np.integer):
            return torch.from_numpy(array.astype(np.int64)).to(device=device)
    return _as_tensor(y, dtype, device)


def _default_loss(output, y_t: torch.Tensor) -> torch.Tensor:
    """BCE with logits for one output per row and 0/1 targets, mean squared error otherwise."""
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"model returned a {type(output).__name__}, not a tensor: pass loss_fn to read its output")
    n = y_t.shape[0] if y_t.ndim else 0
    one_per_row = output.ndim >= 1 and output.shape[0] == n and output.numel() == n and y_t.numel() == n
    if one_per_row and bool(((y_t == 0) | (y_t == 1)).all()):
        return _loss_value("bce", output.reshape(n), y_t.reshape(n))
    if one_per_row:
        return _loss_value("mse", output.reshape(n), y_t.reshape(n))
    return _loss_value("mse", _match_output(output, y_t, "mse"), y_t)


def _is_matrix(module: nn.Module) -> bool:
    return any(p.ndim >= 2 for p in _weight_params(module))


class _SaturationProbe:
    """Forward hooks that count saturated and inactive units and credit them to the
    weight layer that ran last; they also record the order the layers ran in."""

    def __init__(self, rows: list, tol: float):
        self.tol = tol
        self.counts = {name: [0, 0, 0] for name, _ in rows}  # name -> [saturated, inactive, measured]
        self.current = None  # the matrix layer whose output the next activation sees
        self.call_order = []  # layers (rows) in the order the forward pass first ran them
        self.handles = []

    def attach(self, model: nn.Module, rows: list) -> None:
        names = {id(module): name for name, module in rows}
        for module in model.modules():
            if id(module) in names:
                self.handles.append(module.register_forward_hook(self._weight_hook(names[id(module)],
                                                                                   _is_matrix(module))))
            if isinstance(module, _RECURRENT):
                matrix = names.get(id(module)) if _is_matrix(module) else None
                self.handles.append(module.register_forward_hook(self._recurrent_hook(matrix)))
            elif type(module) in _ACTIVATIONS:
                self.handles.append(module.register_forward_hook(self._activation_hook))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _add(self, name, flat: np.ndarray, dead: np.ndarray) -> None:
        """Count `flat` (saturated) and `dead` (inactive) masks, both the shape of the units."""
        if name is not None and flat.size:
            self.counts[name][0] += int(flat.sum())
            self.counts[name][1] += int(dead.sum())
            self.counts[name][2] += int(flat.size)

    def _weight_hook(self, name, is_matrix: bool):
        def hook(module, inputs, output):
            if is_matrix:  # a batch norm between a Linear and its activation does not take the credit
                self.current = name
            if name not in self.call_order:
                self.call_order.append(name)
        return hook

    def _activation_hook(self, module, inputs, output):
        z = inputs[0].detach().double().cpu().numpy()  # the pre-activation
        name = _ACTIVATIONS[type(module)]
        if name == "leaky_relu" and module.negative_slope == 0:
            name = "relu"  # no leak: a relu, inactive for z <= 0
        self._add(self.current, saturated(z, name, self.tol), inactive(z, name))

    def _recurrent_hook(self, name):
        def hook(module, inputs, output):
            h = output[0] if isinstance(output, tuple) else output
            if not isinstance(h, torch.Tensor):  # a PackedSequence
                h = h.data
            h = h.detach().double().cpu().numpy()
            if isinstance(module, nn.RNN) and module.nonlinearity == "relu":
                dead = inactive(h, "relu")  # h = relu(z) is 0 exactly where z <= 0
                self._add(name, np.zeros_like(dead), dead)
            else:
                # h = tanh(z) for nn.RNN; for LSTM/GRU h is in (-1, 1) and read the
                # same way, as if it came out of a tanh (their gates are not seen).
                with np.errstate(all="ignore"):
                    flat = saturated(np.arctanh(h), "tanh", self.tol)
                self._add(name, flat, np.zeros_like(flat))
        return hook

    def fractions(self, name) -> tuple[float, float]:
        """(saturated, inactive) fractions of the units after layer `name`; NaN if none were seen."""
        flat, dead, total = self.counts[name]
        return (flat / total, dead / total) if total else (math.nan, math.nan)


class _StepProbe:
    """Follows the gradient through the time steps of every one-layer nn.RNN.

    A forward hook keeps the hidden states h_1..h_T and asks autograd for the
    gradients reaching the outputs (the state sequence and h_T); after the backward
    pass, norms() runs backpropagation through time on them with the module's own
    weights: dL/dh_{t-1} = direct_{t-1} + (dL/dh_t * f'(z_t)) W_hh. If the module runs
    more than once, the last run counts.
    """

    def __init__(self, rows: list):
        self.names = {id(module): name for name, module in rows
                      if isinstance(module, nn.RNN) and module.num_layers == 1 and not module.bidirectional}
        self.runs = {}  # name -> [module, hs (n, T, H), grad of the sequence, grad of h_T]
        self.handles = []

    def attach(self, model: nn.Module) -> None:
        for module in model.modules():
            if id(module) in self.names:
                self.handles.append(module.register_forward_hook(self._hook))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _hook(self, module, inputs, output):
        seq, h_n = output
        if not isinstance(seq, torch.Tensor) or not seq.requires_grad:  # a PackedSequence, or no autograd
            return
        hs = seq if module.batch_first else seq.transpose(0, 1)
        if hs.ndim != 3:  # an unbatched sequence (T, H)
            return
        run = [module, hs.detach().double().cpu().numpy(), None, None]
        self.runs[self.names[id(module)]] = run

        def keep(k: int):
            def store(grad):
                run[k] = grad.detach().double().cpu().numpy()
            return store
        seq.register_hook(keep(2))
        h_n.register_hook(keep(3))

    def norms(self, name) -> np.ndarray | None:
        """(T,) ||dL/dh_t||, t = 1..T, for the nn.RNN row `name`; None if it did not run."""
        if name not in self.runs:
            return None
        module, hs, seq_grad, last_grad = self.runs[name]
        n, T, H = hs.shape
        direct = np.zeros_like(hs) if seq_grad is None else seq_grad.copy()
        if not module.batch_first and seq_grad is not None:
            direct = direct.transpose(1, 0, 2)
        if last_grad is not None:
            direct[:, -1] += last_grad[0]
        W_hh = module.weight_hh_l0.detach().double().cpu().numpy()
        with np.errstate(all="ignore"):
            # f'(z_t) from h_t = f(z_t): 1 - h^2 for tanh, 1 where h > 0 for ReLU.
            df = (hs > 0).astype(np.float64) if module.nonlinearity == "relu" else 1.0 - hs * hs
            grads = np.empty_like(hs)
            grads[:, -1] = direct[:, -1]
            for t in range(T - 1, 0, -1):
                grads[:, t - 1] = direct[:, t - 1] + (grads[:, t] * df[:, t]) @ W_hh
        return norm(grads, axis=(0, 2))


def _labels(model: nn.Module, rows: list, call_order: list) -> list:
    """What the report calls each of `rows` ((name, module) pairs), in their order.

    nn.Sequential: its matrix layers '1'..'L' in the order they ran (layers that never
    ran after them, in registration order), as every figure of the course numbers
    layers; a row without a matrix is 'after k', k the matrix layer before it. Any
    other model: the module names, which say more than a number ('rnn', 'readout').
    """
    names = [name for name, _ in rows]
    if not isinstance(model, nn.Sequential):
        return names
    position = {name: k for k, name in enumerate(call_order)}
    labels, k = {}, 0
    for name, module in sorted(rows, key=lambda row: position.get(row[0], len(position))):  # stable
        if _is_matrix(module):
            k += 1
            labels[name] = str(k)
        else:
            labels[name] = f"after {k}" if k else "before 1"
    return [labels[name] for name in names]


def _called(row) -> str:
    """A layer in a sentence, as the table names it: "layer 3", "layer 'readout'"."""
    return f"layer {row.name}" if row.name.isdigit() else f"layer '{row.name}'"


def _through_time(row) -> str:
    """The gradient through time of a recurrent row, in words."""
    return (f"in {_called(row)} the gradient at step 1 is {_factor(row.step_ratio)} times the one at "
            f"step {len(row.step_grad_norms)}")


def _in_brackets(row) -> str:
    """A layer's table name in brackets: "(3)", "('readout')"."""
    return f"({row.name})" if row.name.isdigit() else f"('{row.name}')"


def _verdict(rows: list, loss: float, nonfinite_elsewhere: int, lr: float, call_order: list):
    """(verdict, reason) from the rows; the first rule that applies wins.

    "First" and "last" layer follow the forward pass (call_order, module names),
    which for a custom module may differ from registration order; layers the
    forward pass never ran keep their registration order after the others. Layers
    are named as the table names them (LayerHealth.name).
    """
    # Causes before consequences: an inf/NaN weight makes the loss and then the
    # gradients non-finite, and a non-finite loss makes the gradients so.
    for row in rows:
        if row.nonfinite_weights:
            return "exploding", f"{_called(row)} has {row.nonfinite_weights} inf/NaN weights: exploding"
    if not math.isfinite(loss):
        return "exploding", f"the loss itself is {loss}: exploding"
    for row in rows:
        if row.nonfinite_grads:
            return "exploding", (f"{_called(row)} has {row.nonfinite_grads} inf/NaN gradient "
                                 f"entries: exploding")
    if nonfinite_elsewhere:
        return "exploding", (f"{nonfinite_elsewhere} gradient or parameter entries outside the layers "
                             f"are inf/NaN: exploding")
    matrices = [row for row in rows if row.is_matrix] or rows
    position = {name: k for k, name in enumerate(call_order)}
    matrices = sorted(matrices, key=lambda row: position.get(row.module, len(position)))  # stable
    first, last = matrices[0], matrices[-1]
    ratio = math.nan
    if len(matrices) > 1 and last.grad_norm > 0:
        ratio = first.grad_norm / last.grad_norm
    compare = (f"the first layer {_in_brackets(first)} gets a gradient {_factor(ratio)} times "
               f"the last layer's {_in_brackets(last)}")
    if ratio > EXPLODING_RATIO:
        return "exploding", f"{compare}: exploding"
    recurrent = [row for row in rows if math.isfinite(row.step_ratio)]
    for row in recurrent:
        if row.step_ratio > EXPLODING_RATIO:
            return "exploding", f"{_through_time(row)}: exploding through time"
    biggest = max(rows, key=lambda row: row.update_ratio if math.isfinite(row.update_ratio) else -1.0)
    if biggest.update_ratio > EXPLODING_UPDATE_RATIO:
        step = (f"one SGD step with lr {lr:g} would move {_called(biggest)} by "
                f"{_factor(biggest.update_ratio)} times its own size")
        at_small_lr = biggest.update_ratio * DEFAULT_LR / lr
        if at_small_lr > EXPLODING_UPDATE_RATIO:
            # Even a small step is too long: the gradients themselves are huge.
            return "exploding", (f"{step}, and even with lr {DEFAULT_LR:g} by {_factor(at_small_lr)} times: "
                                 "exploding") if lr > DEFAULT_LR else f"{step}: exploding"
        # Ordinary gradients (nothing above grows by depth or time): the step is what is too long.
        largest_lr = lr * EXPLODING_UPDATE_RATIO / biggest.update_ratio
        return "learning rate too large", (f"{step}, though no gradient grows towards the first layer or step; "
                                           f"below lr {largest_lr:.2g} no step would move a layer by more than "
                                           f"{EXPLODING_UPDATE_RATIO:g} of its size: learning rate too large")
    if ratio < VANISHING_RATIO:
        return "vanishing", f"{compare}: vanishing"
    for row in recurrent:
        if row.step_ratio < VANISHING_RATIO:
            return "vanishing", f"{_through_time(row)}: vanishing through time"
    if len(matrices) > 1 and first.grad_norm == 0 and last.grad_norm == 0:
        return "vanishing", (f"the first {_in_brackets(first)} and the last layer {_in_brackets(last)} "
                             f"get a gradient of exactly 0: vanishing")
    if math.isnan(ratio):
        return "healthy", (f"every update is below {EXPLODING_UPDATE_RATIO:g} of its layer's size "
                           f"and nothing is inf/NaN: healthy")
    return "healthy", (f"{compare}, and every update is below {EXPLODING_UPDATE_RATIO:g} of its "
                       f"layer's size: healthy")


def gradient_health(model, X, y, loss_fn=None, lr=None) -> HealthReport:
    """One forward + backward pass of `model` on (X, y), summarised per layer.

    X: (n, ...) numpy or torch, cast to the model's dtype. loss_fn(output, y) ->
    scalar tensor; None: BCE with logits when the model gives one output per row
    ((n,) or (n, 1)) and every target is 0 or 1, mean squared error otherwise.
    With a loss_fn, integer numpy targets stay int64 (class labels for
    cross-entropy) and tensors pass as they are. lr: for the update ratio
    (None: DEFAULT_LR). See the module docstring for the rows and the verdict.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be None or a function (output, y) -> scalar tensor, got {loss_fn!r}")
    lr = _check_lr(lr)
    rows = [(name or "(model)", m) for name, m in model.named_modules() if _weight_params(m)]
    if not rows:
        raise ValueError("model has no module with a 'weight' parameter (nn.Linear, nn.Conv*, nn.RNN, ...) "
                         "to report on")
    dtype, device = _model_dtype(model)
    X_t = _as_tensor(X, dtype, device)
    y_t = _targets(y, dtype, device, keep_integers=loss_fn is not None)

    params = list(model.parameters())
    saved_grads = [p.grad for p in params]
    saved_buffers = [b.detach().clone() for b in model.buffers()]
    probe = _SaturationProbe(rows, SATURATION_TOL)
    steps = _StepProbe(rows)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: threads cost more than they save (see helpers.training)
    try:
        for p in params:
            p.grad = None
        probe.attach(model, rows)
        steps.attach(model)
        output = model(X_t)
        probe.detach()
        steps.detach()
        loss = _default_loss(output, y_t) if loss_fn is None else loss_fn(output, y_t)
        if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
            raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__}"
                             + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else ""))
        loss.backward()
        report_rows, in_rows = [], set()
        for (name, module), label in zip(rows, _labels(model, rows, probe.call_order)):
            weights = _weight_params(module)
            own = list(module.parameters(recurse=False))
            in_rows.update(id(p) for p in own)
            grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
            grad_norm, weight_norm = _norm(grads), _norm(weights)
            with np.errstate(all="ignore"):
                update = np.float64(lr * grad_norm) / np.float64(weight_norm) if weight_norm > 0 else math.nan
            flat, dead = probe.fractions(name)
            report_rows.append(LayerHealth(
                name=label, module=name, kind=type(module).__name__, grad_norm=grad_norm,
                weight_norm=weight_norm, update_ratio=float(update), saturation=flat, inactive=dead,
                nonfinite_grads=_count_nonfinite(p.grad for p in own),
                nonfinite_weights=_count_nonfinite(own), is_matrix=any(w.ndim >= 2 for w in weights),
                step_grad_norms=steps.norms(name),
            ))
        others = [p for p in params if id(p) not in in_rows]
        elsewhere = _count_nonfinite(p.grad for p in others) + _count_nonfinite(others)
        value = float(loss.detach())
    finally:
        probe.detach()
        steps.detach()
        torch.set_num_threads(threads)
        for p, g in zip(params, saved_grads):
            p.grad = g
        with torch.no_grad():
            for b, old in zip(model.buffers(), saved_buffers):
                b.copy_(old)
    verdict, reason = _verdict(report_rows, value, elsewhere, lr, probe.call_order)
    return HealthReport(rows=report_rows, verdict=verdict, reason=reason, loss=value, lr=lr)


def first_nonfinite_output(model, X) -> str | None:
    """Which module's output was the first to hold inf/NaN in one forward pass of `model` on X, in words.

    Forward hooks on every module, in the order they run; for a recurrent layer
    (output (n, T, H), batch first) also the first time step that holds one. None
    if every output is finite. The question anomaly mode does not answer: it checks
    the backward pass, so a NaN that the forward pass already produced is reported
    where the backward pass meets it (often the loss), not where it was made.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
    dtype, device = _model_dtype(model)
    X_t = _as_tensor(X, dtype, device)
    found = []

    def hook(name):
        def check(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            if found or not isinstance(out, torch.Tensor) or bool(torch.isfinite(out).all()):
                return
            where = f"'{name}' ({type(module).__name__})"
            if isinstance(module, _RECURRENT) and out.ndim == 3:
                steps = out if module.batch_first else out.transpose(0, 1)
                bad = (~torch.isfinite(steps)).flatten(2).any(dim=2).any(dim=0)  # (T,) any row, any unit
                where += f", first at time step {int(bad.nonzero()[0, 0]) + 1} of {steps.shape[1]}"
            found.append(where)
        return check

    handles = [m.register_forward_hook(hook(name or "(model)")) for name, m in model.named_modules()
               if not list(m.children()) or isinstance(m, _RECURRENT)]
    try:
        with torch.no_grad():
            model(X_t)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None
