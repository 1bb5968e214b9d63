"""Exercises of notebook 04 (backpropagation through time)."""
import numpy as np
import torch

from helpers.exercises.core import Exercise, grader_case_hint, number, same_array


def _bptt_test(fn):
    """dL/dh_{t-1} = (dL/dh_t * (1 - h_t^2)) @ W_h for h_t = tanh(h_{t-1} @ W_h.T + ...), against autograd."""
    g = torch.Generator().manual_seed(4)
    batch, hidden = 3, 5
    h_prev = torch.randn(batch, hidden, generator=g, dtype=torch.float64, requires_grad=True)
    W_h = torch.randn(hidden, hidden, generator=g, dtype=torch.float64)
    x_part = torch.randn(batch, hidden, generator=g, dtype=torch.float64)
    h = torch.tanh(h_prev @ W_h.T + x_part)
    dh = torch.randn(batch, hidden, generator=g, dtype=torch.float64)
    (expected,) = torch.autograd.grad(h, h_prev, grad_outputs=dh)
    h_np, dh_np, W_np = h.detach().numpy(), dh.numpy(), W_h.numpy()
    got = np.asarray(fn(W_np, dh_np, h_np), dtype=float)
    if got.shape == expected.shape and np.allclose(got, dh_np @ W_np):
        return "The tanh is missing: the gradient passes through the activation before it reaches W_h."
    if got.shape == expected.shape and np.allclose(got, (dh_np * (1 - h_np ** 2)) @ W_np.T):
        return "Check which way W_h maps: h_t uses h_{t-1} @ W_h.T."
    if got.shape == expected.shape and np.allclose(got, (dh_np * (1 - np.tanh(h_np) ** 2)) @ W_np):
        return "h is already the tanh's output: write the slope with h itself, without a second tanh."
    return same_array(got, expected.numpy(), rtol=1e-8)


def _bptt_hidden(fn, rng):
    """Other hidden sizes and batches (a batch of 1), with some saturated units, against autograd."""
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    hidden = int(rng.integers(1, 10))
    for batch in (1, int(rng.integers(2, 10))):
        h_prev = torch.randn(batch, hidden, generator=g, dtype=torch.float64, requires_grad=True)
        W_h = float(rng.uniform(0.5, 3)) * torch.randn(hidden, hidden, generator=g, dtype=torch.float64)
        x_part = torch.randn(batch, hidden, generator=g, dtype=torch.float64)
        h = torch.tanh(h_prev @ W_h.T + x_part)
        dh = torch.randn(batch, hidden, generator=g, dtype=torch.float64)
        (expected,) = torch.autograd.grad(h, h_prev, grad_outputs=dh)
        got = fn(W_h.numpy().copy(), dh.numpy().copy(), h.detach().numpy().copy())
        hint = grader_case_hint(got, expected.numpy(), f"H = {hidden} and a batch of {batch}", 1e-8)
        if hint:
            return hint
    return None


def _steps_test(guess):
    value = number(guess, "Your answer")
    truth = int(np.ceil(np.log(1e-6) / np.log(0.5)))  # first T with 0.5^T < 1e-6
    if value != round(value):
        return "Give a whole number of steps."
    if value != truth:
        return f"{'Too many' if value > truth else 'Too few'}: after that many steps the gradient is " \
               f"{0.5 ** value:.2g}."
    return None


def _bound_test(fn):
    rng = np.random.default_rng(5)
    W = np.triu(rng.normal(0, 0.6, (6, 6)), 0) + np.diag(np.full(6, 0.3))  # not symmetric: |eig| < singular value
    singular = np.linalg.svd(W, compute_uv=False).max()
    radius = np.abs(np.linalg.eigvals(W)).max()
    frobenius = np.linalg.norm(W)
    for n in (1, 5, 20):
        got = number(fn(W, n), "The bound")
        if np.isclose(got, radius ** n, rtol=1e-6):
            return ("Eigenvalues are not enough when W_h is not symmetric: the bound needs the most any "
                    "vector can be stretched.")
        if np.isclose(got, frobenius ** n, rtol=1e-6):
            return ("np.linalg.norm of a matrix is the Frobenius norm, the root of the sum of all squared entries; "
                    "the bound needs the most W_h stretches any one vector.")
        if n > 1 and np.isclose(got, singular, rtol=1e-6):
            return f"Your bound is the same for n = 1 and n = {n}: every step back multiplies by W_h once more."
        if n > 1 and np.isclose(got, n * singular, rtol=1e-6):
            return "The n steps multiply their factors, one after the other; they do not add them up."
        if not np.isclose(got, singular ** n, rtol=1e-6):
            return f"For n = {n} steps your bound is {got:.3g}, not the bound the notebook states."
    return None


def _bound_hidden(fn, rng):
    """Other sizes (H from 2 to 9) and scales of a non-symmetric W_h, and other numbers of steps (1 to 30)."""
    H = int(rng.integers(2, 10))
    W = np.triu(rng.normal(0, rng.uniform(0.2, 1), (H, H))) + np.diag(rng.uniform(0.1, 0.5, H))
    singular = np.linalg.svd(W, compute_uv=False).max()
    for n in sorted(rng.choice(np.arange(1, 31), 3, replace=False)):
        got = number(fn(W.copy(), int(n)), "The bound")
        if not np.isclose(got, singular ** int(n), rtol=1e-6, atol=0):  # atol 0: the bound may be below 1e-8
            return f"For a ({H}, {H}) W_h drawn by the grader and n = {n} steps your bound is not the notebook's."
    return None


EXERCISES = [
    Exercise("04.1", "one step of backpropagation through time", "my_bptt_step", _bptt_test, hidden=_bptt_hidden),
    Exercise("04.2", "predict: when does 0.5^T fall below a millionth?", "guess_steps_to_a_millionth",
             _steps_test),
    Exercise("04.3", "the bound on the gradient over n steps", "my_tanh_bound", _bound_test, hidden=_bound_hidden),
]
