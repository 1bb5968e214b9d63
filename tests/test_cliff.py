"""The one-unit cliff: derivatives against autograd and finite differences, and what clipping does."""
import numpy as np
import pytest
import torch

from helpers.cliff import TANH_CLIFF, Cliff, cliff_loss, descend, final_state
from helpers.gradcheck import rel_error


def torch_loss_and_grad(w: float):
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(TANH_CLIFF.h0, dtype=torch.float64)
    for _ in range(TANH_CLIFF.T):
        h = torch.tanh(w_t * h + TANH_CLIFF.bias)
    loss = (h - TANH_CLIFF.target) ** 2
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


def test_the_unit_is_an_argument():
    shorter = Cliff(T=5, bias=-0.5, h0=0.6, target=0.8)
    w = np.linspace(1.0, 3.0, 7)
    assert not np.allclose(cliff_loss(w, shorter)[0], cliff_loss(w)[0])
    h, dh = final_state(w, shorter)
    fd = (final_state(w + 1e-6, shorter)[0] - final_state(w - 1e-6, shorter)[0]) / 2e-6
    assert rel_error(dh, fd) < 1e-6
    path, loss = descend(2.0, 0.1, 3, cliff=shorter)
    assert loss[0] == pytest.approx(cliff_loss(np.array(2.0), shorter)[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
    (dict(lr=np.nan), r"lr must be a finite number > 0, got nan"),
    (dict(lr="0.1"), r"lr must be a finite number > 0, got '0.1'"),
    (dict(lr=0.1, clip=-1.0), r"clip must be None or a finite number > 0, got -1.0"),
    (dict(lr=0.1, clip="off"), r"clip must be None or a finite number > 0, got 'off'"),
    (dict(lr=0.1, steps=2.5), r"steps must be an integer >= 0, got 2.5"),
    (dict(lr=0.1, w0=np.nan), r"w0 must be a finite number, got nan"),
    (dict(lr=0.1, cliff=(10, -0.5, 0.6, 0.8)), r"cliff must be a Cliff"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, message):
    kwargs.setdefault("steps", 3)
    kwargs.setdefault("w0", 2.0)
    with pytest.raises(ValueError, match=message):
        descend(**kwargs)


def test_a_cliff_checks_its_settings():
    with pytest.raises(ValueError, match=r"T must be an integer >= 1, got 0"):
        Cliff(T=0, bias=0.0, h0=0.0, target=0.0)
    with pytest.raises(ValueError, match=r"target must be a finite number, got 'x'"):
        Cliff(T=3, bias=0.0, h0=0.0, target="x")
