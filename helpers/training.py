"""A short training loop for any torch nn.Module that records per-layer diagnostics.

At every step `train` records the loss, the norm of each Linear layer's weight
gradient (before clipping and before the update), how much each of those weights
moved relative to its size, and the first step at which anything became inf/NaN.
A blow-up is data, not an error: the loop keeps going (recording NaN) unless told
to stop, and it emits no warnings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.gradcheck import norm
from helpers.progress import progress_bar
from helpers.validation import check_choice, check_int, check_number, check_optional_number

# "ce": cross-entropy over the last axis of the output, for class targets (integers 0..C-1).
LOSSES = ("bce", "mse", "ce")
OPTIMIZERS = ("sgd", "adam")
# Runs with fewer steps finish in well under a second: a bar would only add an
# output line. A step count (not a timer) decides, so stored notebooks stay the same.
PROGRESS_MIN_STEPS = 1000


@dataclass
class TrainLog:
    """What happened during `train`, one row per step actually run.

    loss:              (steps,) float64, inf/NaN kept as they were.
    grad_norms:        (steps, n_layers) Frobenius norm of each weight matrix's gradient,
                       before clipping and before the update.
    rel_weight_change: (steps, n_layers) ||W_after - W_before|| / ||W_before|| (0/0 -> NaN).
    layer_names:       the weight matrices' names (see weight_matrices), in column order.
    total_grad_norm:   (steps,) the norm of all parameters' gradients together (biases
                       too), before clipping: what clip_norm compares with its threshold.
    max_grad_entry:    (steps,) the largest |entry| of any parameter's gradient, before
                       clipping: what clip_value compares with its threshold.
    first_nonfinite_step / first_nonfinite_what: first step at which the loss, a
                       gradient ("gradient of 3.weight") or a parameter after the update
                       ("3.weight") held inf/NaN, checked in that order; None if never.
    accuracy:          (steps,) fraction of the step's batch with (logit > 0) == label,
                       for BCE on 0/1 labels; None otherwise.
    """

    loss: np.ndarray
    grad_norms: np.ndarray
    rel_weight_change: np.ndarray
    layer_names: list
    total_grad_norm: np.ndarray
    max_grad_entry: np.ndarray
    first_nonfinite_step: int | None = None
    first_nonfinite_what: str | None = None
    accuracy: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        return int(self.loss.shape[0])

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    @property
    def final_accuracy(self) -> float | None:
        return None if self.accuracy is None else float(self.accuracy[-1])

    @property
    def diverged(self) -> bool:
        """True if anything became inf/NaN during the run."""
        return self.first_nonfinite_step is not None

    def summary(self) -> str:
        """One line for a notebook, e.g. '300 steps, loss 0.693 -> 0.45, accuracy 0.79'."""
        text = f"{self.n_steps} steps, loss {self.loss[0]:.3g} -> {self.final_loss:.3g}"
        if self.accuracy is not None:
            text += f", accuracy {self.final_accuracy:.2f}"
        if self.diverged:
            text += f"; non-finite from step {self.first_nonfinite_step} ({self.first_nonfinite_what})"
        return text


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(name, layer) for every nn.Linear in `model`, in the order model.named_modules() gives.

    That is registration order, which is forward order for nn.Sequential and for
    modules that create their layers in the order they use them.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch nn.Module, got {type(model).__name__}")
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def weight_matrices(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) for every weight matrix of every layer, in registration order.

    The Linear layers' weights, named like their layer ("0", "encoder.0"), and the
    matrices inside recurrent layers (nn.RNN/LSTM/GRU), named by parameter
    ("rnn.weight_hh_l0"): the recurrent matrix is where BPTT's products happen.
    """
    linear = {f"{name}.weight" if name else "weight": name for name, _ in linear_layers(model)}
    recurrent = (nn.RNNBase,)
    found = []
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, nn.Linear):
            found.append((linear[f"{prefix}weight"], module.weight))
        elif isinstance(module, recurrent):
            found += [(f"{prefix}{n}", p) for n, p in module.named_parameters(recurse=False)
                      if n.startswith("weight")]
    return found


def _check_options(steps, lr, loss, optimizer, clip_norm, clip_value, weight_decay) -> None:
    check_int(steps, "steps", 1)
    check_number(lr, "lr", 0.0, strict=True)
    check_choice(loss, "loss", LOSSES)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    check_optional_number(clip_norm, "clip_norm", 0.0, strict=True)
    check_optional_number(clip_value, "clip_value", 0.0, strict=True)
    check_number(weight_decay, "weight_decay", 0.0)


def _model_dtype(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype, p.device
    raise ValueError("model has no floating-point parameters to train")


def _as_tensor(values, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`values` (numpy, torch or nested lists) as a detached tensor of the model's dtype."""
    if isinstance(values, torch.Tensor):
        return values.detach().to(dtype=dtype, device=device)
    # np.array copies, so torch never sees a read-only buffer (which would warn).
    array = np.array(values, dtype=np.float64)
    return torch.from_numpy(array).to(dtype=dtype, device=device)


def _prepare_data(X, y, model, loss: str):
    """X (n, ...) and y (n,) as tensors of the model's dtype, checked for the loss."""
    dtype, device = _model_dtype(model)
    X_t = _as_tensor(X, dtype, device)
    y_t = _as_tensor(y, dtype, device)
    if X_t.ndim == 0 or y_t.ndim == 0:
        raise ValueError("X and y must have a leading row dimension, got a scalar")
    if y_t.ndim == 2 and y_t.shape[1] == 1:
        y_t = y_t[:, 0]  # a column of targets is the same as a vector of them
    if y_t.shape[0] != X_t.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {tuple(X_t.shape)} and {tuple(y_t.shape)}")
    if loss == "bce" and not ((y_t >= 0) & (y_t <= 1)).all():
        raise ValueError("with loss='bce' every target must lie in [0, 1]")
    if loss == "ce" and not ((y_t >= 0) & (y_t == y_t.round())).all():
        raise ValueError("with loss='ce' every target must be a class number 0, 1, 2, ...")
    return X_t, y_t


def _batches(n: int, batch_size, generator: torch.Generator):
    """Yield row indices for each step: None (all rows) or a (batch_size,) index tensor.

    Mini-batches walk through a fresh random permutation per epoch; a tail shorter
    than batch_size is skipped so every step sees the same number of rows.
    """
    if batch_size is None:
        while True:
            yield None
    order, start = torch.randperm(n, generator=generator), 0
    while True:
        if start + batch_size > n:
            order, start = torch.randperm(n, generator=generator), 0
        yield order[start:start + batch_size]
        start += batch_size


class _Optimizer:
    """SGD or Adam with torch.optim's update rules, written out on plain tensors.

    torch.optim's first optimizer in a process imports torch._dynamo, which costs
    seconds; these dozen lines cost nothing and show exactly what a step does.
    Both add weight_decay * W to the gradient (classic L2 regularisation), as
    torch.optim.SGD and torch.optim.Adam do. Parameters without a gradient are skipped.
    """

    BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
    EPS = 1e-8

    def __init__(self, kind: str, params: list, lr: float, weight_decay: float):
        self.kind, self.params, self.lr, self.weight_decay = kind, params, lr, weight_decay
        self.moments = {}  # id(param) -> (step count, first moment, second moment)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            grad = p.grad if self.weight_decay == 0 else p.grad.add(p, alpha=self.weight_decay)
            if self.kind == "sgd":
                p.add_(grad, alpha=-self.lr)
            else:
                self._adam(p, grad)

    def _adam(self, p: torch.Tensor, grad: torch.Tensor) -> None:
        beta1, beta2 = self.BETAS
        t, m, v = self.moments.get(id(p), (0, torch.zeros_like(p), torch.zeros_like(p)))
        t += 1
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        self.moments[id(p)] = (t, m, v)
        # Bias correction undoes the moments' start at zero during the first steps.
        denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(self.EPS)
        p.addcdiv_(m, denom, value=-self.lr / (1 - beta1 ** t))


def _loss_value(kind: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss over the batch; output and target have the same shape."""
    if kind == "bce":
        # The with-logits form stays finite for huge logits where sigmoid+log would not.
        return nn.functional.binary_cross_entropy_with_logits(output, target)
    if kind == "ce":  # output (..., C) logits, target (...) class numbers
        return nn.functional.cross_entropy(output.flatten(0, -2), target.flatten().long())
    return nn.functional.mse_loss(output, target)


def _match_output(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Model output reshaped like target: an (n, 1) output becomes (n,). With loss "ce"
    the output holds class logits, target.shape + (C,), and is left as it is."""
    if loss == "ce":
        if output.shape[:-1] != target.shape or output.ndim != target.ndim + 1:
            raise ValueError(f"with loss='ce' the model output must be the target's shape plus a class axis, "
                             f"got output {tuple(output.shape)} for target {tuple(target.shape)}")
        return output
    if output.ndim == 2 and output.shape[1] == 1 and target.ndim == 1:
        output = output[:, 0]
    if output.shape != target.shape:
        raise ValueError(f"model output shape {tuple(output.shape)} does not match target shape {tuple(target.shape)}")
    return output


def _first_nonfinite(named_tensors) -> str | None:
    """Name of the first tensor in (name, tensor) pairs holding inf/NaN, or None."""
    pairs = [(name, t) for name, t in named_tensors if t is not None]
    if not pairs:
        return None
    # One check over everything at once is the cheap common case; only a failure
    # pays for finding out which tensor it was.
    if torch.isfinite(torch.cat([t.reshape(-1) for _, t in pairs])).all():
        return None
    return next(name for name, t in pairs if not torch.isfinite(t).all())


def _norms(tensors) -> np.ndarray:
    """(len(tensors),) Frobenius norms, float64, by helpers.gradcheck.norm.

    Squares in float64 cannot overflow for float32 tensors, but can for float64
    ones (entries beyond 1e154); norm rescales, so it is inf only where an entry is.
    """
    return np.array([norm(t) for t in tensors], dtype=np.float64)


class _Recorder:
    """Preallocated per-step arrays that `train` fills and trims to the steps run."""

    def __init__(self, steps: int, n_layers: int, with_accuracy: bool):
        self.loss = np.full(steps, np.nan)
        self.grad_norms = np.full((steps, n_layers), np.nan)
        self.total_grad_norm = np.full(steps, np.nan)
        self.max_grad_entry = np.full(steps, np.nan)
        self.rel_change = np.full((steps, n_layers), np.nan)
        self.accuracy = np.full(steps, np.nan) if with_accuracy else None
        self.first_step = None
        self.first_what = None

    def flag(self, step: int, what: str | None) -> None:
        if what is not None and self.first_step is None:
            self.first_step, self.first_what = step, what

    def log(self, n_run: int, layer_names: list) -> TrainLog:
        return TrainLog(
            loss=self.loss[:n_run].copy(),
            grad_norms=self.grad_norms[:n_run].copy(),
            rel_weight_change=self.rel_change[:n_run].copy(),
            layer_names=list(layer_names),
            total_grad_norm=self.total_grad_norm[:n_run].copy(),
            max_grad_entry=self.max_grad_entry[:n_run].copy(),
            first_nonfinite_step=self.first_step,
            first_nonfinite_what=self.first_what,
            accuracy=None if self.accuracy is None else self.accuracy[:n_run].copy(),
        )


def _clipper(clip_norm, clip_value):
    """The gradient clipping to apply before each update: a function of the parameters, or None."""
    if clip_norm is not None and clip_value is not None:
        raise ValueError("choose one of clip_norm and clip_value, not both")
    if clip_norm is not None:
        # Pascanu et al. (2013), Algorithm 1: all gradients together rescaled to norm <= clip_norm.
        return lambda ps: nn.utils.clip_grad_norm_(ps, clip_norm)
    if clip_value is not None:
        # Each entry cut to [-clip_value, clip_value]: bounded, but the direction changes.
        return lambda ps: nn.utils.clip_grad_value_(ps, clip_value)
    return None


def _step(model, xb, yb, opt: _Optimizer, loss_kind, weights, params, clip, rec: _Recorder, step: int) -> None:
    """One forward/backward/update, writing row `step` of the recorder."""
    opt.zero_grad()  # grad None, so parameters unused in this pass are not stepped
    output = _match_output(model(xb), yb, loss_kind)
    loss = _loss_value(loss_kind, output, yb)
    loss.backward()
    with torch.no_grad():
        # A layer unused in this forward pass has no gradient: record 0, it did not move.
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
        before = [w.detach().clone() for w in weights]
        rec.loss[step] = loss.item()
        rec.grad_norms[step] = _norms(grads)
        present = [p.grad for _, p in params if p.grad is not None]
        rec.total_grad_norm[step] = norm(_norms(present))
        # np.max, not max(): a NaN entry makes the step's largest entry NaN, as it makes the norm.
        rec.max_grad_entry[step] = np.max([float(g.abs().max()) for g in present], initial=0.0)
        if rec.accuracy is not None:
            # NaN logits predict nothing, so the accuracy of such a step is NaN too.
            correct = ((output > 0) == (yb > 0.5)).double().mean()
            rec.accuracy[step] = torch.where(output.isnan().any(), torch.nan, correct).item()
        if rec.first_step is None:
            rec.flag(step, "loss" if not torch.isfinite(loss) else None)
            rec.flag(step, _first_nonfinite((f"gradient of {n}", p.grad) for n, p in params))
        if clip is not None:
            clip([p for _, p in params])
        opt.step()
        # Differences in float64 are exact for float32 weights.
        with np.errstate(all="ignore"):  # 0 / 0 is NaN: a zero weight has no relative change
            rec.rel_change[step] = _norms([w.double() - b.double() for w, b in zip(weights, before)]) / _norms(before)
        if rec.first_step is None:
            rec.flag(step, _first_nonfinite(params))


def train(model: nn.Module, X, y, *, steps: int, lr: float, loss: str = "bce", optimizer: str = "sgd",
          batch_size: int | None = None, clip_norm: float | None = None, clip_value: float | None = None,
          weight_decay: float = 0.0,
          stop_on_nonfinite: bool = False, progress: bool = True,
          generator: torch.Generator | None = None) -> TrainLog:
    """Train `model` in place on (X, y) for `steps` steps and return what happened.

    X: (n, ...) and y: (n,) or (n, 1), numpy or torch, cast to the model's dtype.
    The model's output must be (n,) or (n, 1) to match y; with loss="bce" it is a logit.
    batch_size=None uses all rows every step (nothing random: no generator needed);
    an int draws mini-batches in an order `generator` (a torch.Generator) decides.
    clip_norm rescales the gradient of all parameters together to norm <= clip_norm;
    clip_value instead cuts every gradient entry to [-clip_value, clip_value].
    A progress bar (label "training") appears in a notebook when steps >= PROGRESS_MIN_STEPS.
    """
    _check_options(steps, lr, loss, optimizer, clip_norm, clip_value, weight_decay)
    clip = _clipper(clip_norm, clip_value)
    layers = weight_matrices(model)
    X_t, y_t = _prepare_data(X, y, model, loss)
    n = X_t.shape[0]
    if batch_size is not None:
        try:
            check_int(batch_size, "batch_size", 1, n)
        except ValueError:
            raise ValueError(f"batch_size must be None or an integer in 1..{n} (the number of rows), "
                             f"got {batch_size!r}") from None
    if batch_size is not None and not isinstance(generator, torch.Generator):
        raise ValueError("with batch_size, generator must be a torch.Generator (it orders the mini-batches: "
                         f"e.g. torch.Generator().manual_seed(0)), got {type(generator).__name__}")
    if batch_size is None and generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")

    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    weights = [weight for _, weight in layers]
    opt = _Optimizer(optimizer, [p for _, p in params], float(lr), float(weight_decay))
    binary = loss == "bce" and bool(((y_t == 0) | (y_t == 1)).all())
    rec = _Recorder(steps, len(layers), with_accuracy=binary)
    batches = _batches(n, batch_size, generator)
    bar = progress_bar(steps, "training") if progress and steps >= PROGRESS_MIN_STEPS else None

    model.train()
    n_run = 0
    # The course's networks are tiny: threads cost more in hand-offs than they save,
    # and on a busy 2-core laptop they make a 1 s run take 10 s. One thread is also the
    # same arithmetic on every machine, so stored notebook numbers reproduce.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for step in range(steps):
            idx = next(batches)
            xb, yb = (X_t, y_t) if idx is None else (X_t[idx], y_t[idx])
            _step(model, xb, yb, opt, loss, weights, params, clip, rec, step)
            n_run = step + 1
            if bar is not None:
                bar.update()
            if stop_on_nonfinite and rec.first_step is not None:
                break
    finally:
        torch.set_num_threads(threads)
        if bar is not None:
            bar.close()
    return rec.log(n_run, [name for name, _ in layers])


def gradient_norms(model: nn.Module, X, y, loss: str) -> np.ndarray:
    """(n_layers,) norm of each weight matrix's gradient, in weight_matrices(model) order.

    One forward and backward pass on all of (X, y), as the first step of `train`
    would take it; the model's weights and any gradients it held are left as they were.
    """
    _check_options(1, 1.0, loss, "sgd", None, None, 0.0)
    X_t, y_t = _prepare_data(X, y, model, loss)
    weights = [w for _, w in weight_matrices(model)]
    saved = [p.grad for p in model.parameters()]
    try:
        for p in model.parameters():
            p.grad = None
        _loss_value(loss, _match_output(model(X_t), y_t, loss), y_t).backward()
        return _norms([w.grad if w.grad is not None else torch.zeros_like(w) for w in weights])
    finally:
        for p, g in zip(model.parameters(), saved):
            p.grad = g


def binary_accuracy(model: nn.Module, X, y) -> float:
    """Fraction of rows where (logit > 0) matches the 0/1 label: held-out evaluation.

    X: (n, ...), y: (n,) numpy or torch; the model's output (n,) or (n, 1) is a logit.
    """
    dtype, device = _model_dtype(model)
    X_t = _as_tensor(X, dtype, device)
    y_t = _as_tensor(y, dtype, device).reshape(-1)
    model.eval()
    with torch.no_grad():
        predicted = (model(X_t).reshape(-1) > 0).to(dtype)
    model.train()
    return float((predicted == y_t).to(torch.float64).mean())
