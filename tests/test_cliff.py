"""The one-unit cliff: derivatives against autograd and finite differences, and what clipping does."""
import numpy as np
import pytest
import torch

from helpers.cliff import BIAS, H0, T_STEPS, TARGET, cliff_loss, descend, final_state
from helpers.gradcheck import rel_error


def torch_loss_and_grad(w: float):
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(H0, dtype=torch.float64)
    for _ in range(T_STEPS):
        h = torch.tanh(w_t * h + BIAS)
    loss = (h - TARGET) ** 2
    loss.backward()
    return loss.item(), w_t.grad.item()


@pytest.mark.parametrize("w", [0.5, 1.9, 1.96, 2.03, 3.0, 5.7])
def test_loss_and_gradient_match_autograd(w):
    loss, grad = cliff_loss(np.array(w))
    ref_loss, ref_grad = torch_loss_and_grad(w)
    assert rel_error(loss, ref_loss) < 1e-12
    assert rel_error(grad, ref_grad) < 1e-10


def test_gradient_matches_finite_differences_on_a_grid():
    w = np.linspace(1.0, 3.0, 41)
    h = 1e-6
    fd = (cliff_loss(w + h)[0] - cliff_loss(w - h)[0]) / (2 * h)
    assert rel_error(cliff_loss(w)[1], fd) < 1e-6


def test_there_is_a_wall_much_steeper_than_the_rest():
    w = np.linspace(1.0, 6.0, 50001)
    h, _ = final_state(w)
    _, grad = cliff_loss(w)
    assert h[0] < -0.8 and h[-1] > 0.9  # two different resting states
    steepest = np.abs(grad).max()
    typical = np.median(np.abs(grad))
    assert steepest > 100 * typical


def test_a_large_step_falls_off_the_cliff_and_clipping_keeps_it_near():
    free, free_loss = descend(2.6, lr=1.0, steps=30)
    clipped, clipped_loss = descend(2.6, lr=1.0, steps=30, clip=0.5)
    assert free.max() > 4.0  # thrown far to the right by one step
    assert np.abs(np.diff(clipped)).max() <= 0.5 + 1e-12  # each step at most lr * clip
    assert clipped.max() < 2.7 and clipped_loss[-1] < free_loss[-1]


@pytest.mark.parametrize("kwargs", [dict(lr=0.0), dict(lr=np.nan), dict(lr=0.1, clip=-1.0),
                                    dict(lr=0.1, steps=2.5)])
def test_bad_arguments_say_what_is_allowed(kwargs):
    kwargs.setdefault("steps", 3)
    with pytest.raises(ValueError, match="must be"):
        descend(2.0, **kwargs)
