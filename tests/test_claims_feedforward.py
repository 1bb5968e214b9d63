r"""Claims of the feed-forward notebooks' newer sections, each set up as the sentence says and checked.

01: the lecture's own numbers (0.03 x 0.05, learning rate 0.001) and what zero or equal starting
weights do to the slides' network (every input to both hidden units); 02: dead ReLU units and
leaky ReLU. The conventions are those of tests/test_claims.py (see its module docstring): a
docstring starts "NN:" and quotes its notebook's sentence exactly in double quotes, and
tests/test_claims.py's last tests check that every quote here is still in its notebook.

Vague words get a number here, said in the docstring. The networks are built again here from
the helpers as the prose describes them, not copied from the notebooks' cells.
"""
from functools import lru_cache

import numpy as np
import pytest
import torch
from torch import nn

from helpers.activations import LEAKY_SLOPE, inactive, leaky_relu_prime
from helpers.data import buy_probability, load_insurance, standardize
from helpers.network import NetConfig, init_params, to_torch
from helpers.training import binary_accuracy, train
from tests.test_claims import within_factor

STEPS = 300


@lru_cache(maxsize=1)
def insurance():
    r"""(X (1000, 4) standardized, y (1000,) of 0/1, X and y as float64 tensors): all of the course's data."""
    data = load_insurance()
    X, _, _ = standardize(data.X)
    return X, data.y, torch.tensor(X), torch.tensor(data.y)


# --- 01: the lecture's numbers -------------------------------------------------------------

LECTURE_D1, LECTURE_D2, LECTURE_LR = 0.03, 0.05, 0.001


def test_01_the_lecture_gradient_is_0_0015_and_the_weight_moves_by_1_5e_minus_6():
    r"""01: "Say the path from the loss to a weight has two local derivatives, 0.03 and 0.05, and the learning rate
    is 0.001"; "The gradient is the product of the two, and the step is the learning rate times the gradient"
    (the lecture's slide: Gradient = 0.03 * 0.05 = 0.0015); the notebook prints «gradient = {d1} x {d2} =» and «the
    weight moves by»."""
    gradient = LECTURE_D1 * LECTURE_D2
    assert f"{gradient:.4f}" == "0.0015" and gradient == pytest.approx(0.0015, rel=1e-12)
    # the step of w <- w - lr * dL/dw, done on a weight as gradient descent does it
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    (LECTURE_D1 * LECTURE_D2 * w).backward()  # a loss whose dL/dw is the product of the two factors
    w_new = w.detach() - LECTURE_LR * w.grad
    assert float(w.detach() - w_new) == pytest.approx(1.5e-6, rel=1e-9)
    assert f"{LECTURE_LR * gradient:.1e}" == "1.5e-06"


def test_01_the_weight_hardly_moves_and_needs_tens_of_thousands_of_steps_to_move_by_0_1():
    r"""01: "The weight moves by about a millionth of a unit: it hardly moves"; "At this pace it takes tens of
    thousands of steps to change it by 0.1" (about a millionth = within a factor 2 of 1e-6; tens of thousands =
    from 10^4 up to, not including, 10^5); «steps needed to move it by 0.1»: 66,667."""
    move = LECTURE_LR * LECTURE_D1 * LECTURE_D2
    assert within_factor(move, 1e-6)
    assert 1e4 <= 0.1 / move < 1e5 and f"{0.1 / move:,.0f}" == "66,667"


def test_01_every_further_local_derivative_below_one_shrinks_the_step_again():
    r"""01: "every further local derivative below 1 on the path shrinks the step again"."""
    move = LECTURE_LR * LECTURE_D1 * LECTURE_D2
    for d3 in (0.99, 0.25, 0.05, 1e-3):
        assert abs(LECTURE_LR * LECTURE_D1 * LECTURE_D2 * d3) < abs(move)


# --- 01: zero and equal starting weights ----------------------------------------------------

def starting_weights(start: str):
    r"""(weights into the two hidden units (2, 4), weights out of them (1, 2)) for one of the three starts."""
    if start == "all zero":
        return np.zeros((2, 4)), np.zeros((1, 2))
    if start == "all 0.5":
        return np.full((2, 4), 0.5), np.full((1, 2), 0.5)
    rng = np.random.default_rng(1)
    return rng.normal(0.0, 0.5, (2, 4)), rng.normal(0.0, 0.5, (1, 2))


def slides_network(w_in, w_out) -> nn.Sequential:
    r"""4 inputs -> len(w_in) sigmoid units -> sigmoid output, float64, every bias 0: the slides' network."""
    width = w_in.shape[0]
    return nn.Sequential(*to_torch([(w_in, np.zeros(width)), (w_out, np.zeros(1))], "sigmoid"), nn.Sigmoid())


def squared_loss(model) -> torch.Tensor:
    r"""(y_hat - y)^2 averaged over all 1000 people, the loss of notebook 01."""
    _, _, X_t, y_t = insurance()
    return ((model(X_t)[:, 0] - y_t) ** 2).mean()


def first_layer_gradient(model) -> np.ndarray:
    r"""(width, 4) gradient of the squared loss with respect to the weights into the hidden units, by autograd."""
    model.zero_grad()
    squared_loss(model).backward()
    return model[0].weight.grad.numpy().copy()


def unit_parameters(model) -> np.ndarray:
    r"""(width, 5): each hidden unit's four incoming weights and its bias."""
    return torch.cat([model[0].weight, model[0].bias[:, None]], dim=1).detach().numpy()


@lru_cache(maxsize=None)
def trained(start: str):
    r"""(model, TrainLog) of the slides' network after 300 steps of gradient descent at learning rate 1."""
    X, y, _, _ = insurance()
    model = slides_network(*starting_weights(start))
    log = train(model, X, y, steps=STEPS, lr=1.0, loss="mse")
    return model, log


def accuracy(model) -> float:
    _, y, X_t, _ = insurance()
    with torch.no_grad():
        return float(np.mean((model(X_t)[:, 0].numpy() > 0.5) == (y == 1)))


def test_01_the_slides_network_has_eight_weights_in_and_two_out():
    r"""01: "Take the slides' network, where all four inputs feed both hidden units (eight weights in, two out)"."""
    model = slides_network(*starting_weights("random"))
    assert model[0].weight.shape == (2, 4) and model[2].weight.shape == (1, 2)
    assert (model[0].weight != 0).all()  # every input reaches both units


@pytest.mark.parametrize("start", ["all zero", "all 0.5"])
def test_01_equal_units_compute_the_same_output_get_the_same_gradient_and_stay_the_same(start):
    r"""01: "Zero, like any value shared by all the weights, is a trap"; "Then they compute the same output for every
    person, the chain rule hands them the same gradient, and after the step their weights are still the same";
    "The symmetry never breaks: the two units act as one" (the same = bit for bit, at every one of 300 steps)."""
    _, _, X_t, _ = insurance()
    model = slides_network(*starting_weights(start))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as helpers.training.train runs
    try:
        for _ in range(STEPS):
            with torch.no_grad():
                hidden = model[1](model[0](X_t)).numpy()  # (1000, 2) the two units' outputs
            assert np.array_equal(hidden[:, 0], hidden[:, 1])
            grad = first_layer_gradient(model)
            assert np.array_equal(grad[0], grad[1]) and model[2].weight.grad[0, 0] == model[2].weight.grad[0, 1]
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-1.0)  # the step helpers.training.train takes
            params = unit_parameters(model)
            assert np.array_equal(params[0], params[1])
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(params, unit_parameters(trained(start)[0]))  # the notebook's run, in one go


def test_01_at_zero_the_first_layers_gradient_passes_through_the_output_weights_and_is_exactly_0():
    r"""01: "With every weight at 0 it is starker: the first layer's gradient passes through the output weights (the
    factor $w_5$ of $\partial L/\partial w_1$ above), so at the first step it is exactly 0"."""
    w_in, w_out = starting_weights("all zero")
    assert not first_layer_gradient(slides_network(w_in, w_out)).any()
    # the same network with output weights that are not 0: the gradient into the first layer is not 0
    for out in (0.1, -0.3):
        grad = first_layer_gradient(slides_network(w_in, np.full((1, 2), out)))
        assert (grad != 0).all(), out
    # and it is proportional to the output weight on its path, as dL/dw1 carries the factor w5
    small = first_layer_gradient(slides_network(w_in, np.full((1, 2), 1e-3)))
    np.testing.assert_allclose(first_layer_gradient(slides_network(w_in, np.full((1, 2), 2e-3))), 2 * small,
                               rtol=1e-2)


def test_01_the_three_starts_are_zero_one_half_and_small_random_with_zero_biases():
    r"""01: "Below, autograd computes the gradient of the same loss as above, $(\hat y - y)^2$, averaged over all
    1000 people, for three starts: every weight 0, every weight 0.5, and small random weights. Every bias starts at
    0" (small = standard deviation 0.5, as 01's first weights)."""
    _, y, _, _ = insurance()
    assert y.shape == (1000,)
    for start in ("all zero", "all 0.5", "random"):
        model = slides_network(*starting_weights(start))
        assert not model[0].bias.any() and not model[2].bias.any()
    w_in, w_out = starting_weights("random")
    assert np.abs(np.concatenate([w_in.ravel(), w_out.ravel()])).max() < 1.5
    assert np.unique(w_in).size == 8  # no two weights alike


def test_01_started_equal_the_units_end_exactly_equal_and_started_at_random_clearly_different():
    r"""01: "Started equal, the two hidden units end exactly equal, weights and bias, after 300 steps of gradient
    descent; started at random, they end clearly different" (clearly = some weight or bias differs by more than
    0.5); the notebook prints «'0 (identical)' if gap == 0»."""
    for start in ("all zero", "all 0.5"):
        params = unit_parameters(trained(start)[0])
        assert np.abs(params[0] - params[1]).max() == 0.0, start
    params = unit_parameters(trained("random")[0])
    assert np.abs(params[0] - params[1]).max() > 0.5


def test_01_from_zero_only_the_output_weights_move_at_first_then_the_hidden_units_in_lockstep():
    r"""01: "From all zeros the first layer gets no gradient at the first step, only the output weights move, and from
    the second step on the two hidden units move too, in lockstep"; «all zero, first-layer gradient»."""
    model, log = trained("all zero")
    assert log.grad_norms[0, 0] == 0.0 and log.rel_weight_change[0, 1] > 0  # step 1: only the output layer
    assert np.isnan(log.rel_weight_change[0, 0])  # 0 / 0: a zero weight matrix that did not move
    assert (log.grad_norms[1:, 0] > 0).all()  # from step 2 on the first layer has a gradient
    params = unit_parameters(model)
    assert np.array_equal(params[0], params[1]) and np.abs(params).min() > 0


def test_01_the_accuracy_hides_the_trap_because_one_unit_reaches_what_the_true_probabilities_reach():
    r"""01: "Here the accuracy does not give the trap away: the labels are coin flips, and even the probabilities they
    were drawn from predict only 77% of them, which one unit already reaches"; "So the symmetric network loses
    nothing you can see on this data set" (does not give away = the three starts' accuracies within 0.02 of each
    other and their losses within 0.005; reaches = the symmetric networks' accuracy at least the true
    probabilities' 0.774 minus 0.005)."""
    data = load_insurance()
    truth = float(np.mean((buy_probability(data.X) > 0.5) == (data.y == 1)))
    assert f"{truth:.2f}" == "0.77" and truth < 0.8
    accuracies = {start: accuracy(trained(start)[0]) for start in ("all zero", "all 0.5", "random")}
    assert max(accuracies.values()) - min(accuracies.values()) <= 0.02, accuracies
    assert min(accuracies["all zero"], accuracies["all 0.5"]) >= truth - 0.005, accuracies
    losses = [squared_loss(trained(start)[0]).item() for start in ("all zero", "all 0.5", "random")]
    assert max(losses) - min(losses) < 0.005, losses


def test_01_whatever_the_width_a_layer_started_equal_has_the_power_of_one_unit():
    r"""01: "yet whatever the width of its layer, it has the power of one unit"; "Weights must not start equal: units
    that start the same receive the same gradient and stay the same, so the layer acts as one unit" (checked for a
    layer of 16 units: after 300 steps all 16 are the same unit, and the network's output equals that of one unit
    with 16 times its output weight)."""
    X, y, X_t, _ = insurance()
    model = slides_network(np.full((16, 4), 0.5), np.full((1, 16), 0.5))
    train(model, X, y, steps=STEPS, lr=1.0, loss="mse")
    params = unit_parameters(model)
    assert (params == params[0]).all()
    w_out = model[2].weight.detach().numpy()
    assert (w_out == w_out[0, 0]).all()
    one = slides_network(params[:1, :4], 16 * w_out[:, :1])
    with torch.no_grad():
        one[0].bias.copy_(model[0].bias[:1])
        one[2].bias.copy_(model[2].bias)
        np.testing.assert_allclose(one(X_t).numpy(), model(X_t).numpy(), rtol=1e-12)


def test_01_random_starting_weights_break_the_symmetry():
    r"""01: "Random starting weights break the symmetry"; "Small random starting weights break the symmetry"
    (the two units get different gradients at the first step, and end different)."""
    grad = first_layer_gradient(slides_network(*starting_weights("random")))
    assert not np.array_equal(grad[0], grad[1])
    params = unit_parameters(trained("random")[0])
    assert not np.array_equal(params[0], params[1])


# --- 02: dead ReLU units ------------------------------------------------------------------

WIDTH = 16
CHECKPOINTS = (0, 1, 3, 10, 30, 100, 300)
RUNS = {  # as the notebook's table: activation, hidden bias at the start, learning rate
    "relu, lr 1": ("relu", 0.0, 1.0),
    "relu, lr 10": ("relu", 0.0, 10.0),
    "relu, bias -3, lr 1": ("relu", -3.0, 1.0),
    "leaky_relu, lr 10": ("leaky_relu", 0.0, 10.0),
    "leaky_relu, bias -3, lr 1": ("leaky_relu", -3.0, 1.0),
}


def hidden_layer_net(activation: str, bias: float) -> nn.Sequential:
    r"""4 -> 16 units -> 1 logit, He-initialised from seed 0, every hidden bias `bias`."""
    (w_in, _), last = init_params(NetConfig(depth=1, width=WIDTH, activation=activation, init="he"),
                                  np.random.default_rng(0))
    return to_torch([(w_in, np.full(WIDTH, bias)), last], activation)


def pre_activations(model) -> np.ndarray:
    r"""(1000, 16) the hidden units' pre-activations for every person."""
    _, _, X_t, _ = insurance()
    with torch.no_grad():
        return model[0](X_t).numpy()


def negative_for_everyone(model) -> np.ndarray:
    r"""(16,) True where a unit's pre-activation is <= 0 for all 1000 people."""
    return (pre_activations(model) <= 0).all(axis=0)


def unit_gradients(model) -> np.ndarray:
    r"""(16,) norm of the BCE loss's gradient with respect to each hidden unit's weights and bias, by autograd."""
    _, _, X_t, y_t = insurance()
    model.zero_grad()
    nn.functional.binary_cross_entropy_with_logits(model(X_t)[:, 0], y_t).backward()
    grads = torch.cat([model[0].weight.grad, model[0].bias.grad[:, None]], dim=1)
    model.zero_grad()
    return grads.norm(dim=1).numpy()


class History:
    r"""One run of the table, step by step: at steps 0..300 (index = steps done) the units <= 0 for everyone, every
    unit's gradient, every unit's weights and bias, and the loss.

    One forward and backward pass per step gives the gradients and the update, p <- p - lr * grad, the update that
    helpers.training.train makes; on one thread, as train runs. __init__ checks that it ends where train ends.
    """

    def __init__(self, activation: str, bias: float, lr: float):
        X, y, X_t, y_t = insurance()
        model = hidden_layer_net(activation, bias)
        self.stuck, self.grads, self.params, self.loss = [], [], [], []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for step in range(STEPS + 1):
                model.zero_grad()
                z = model[0](X_t)  # (1000, 16)
                loss = nn.functional.binary_cross_entropy_with_logits(model[2](model[1](z))[:, 0], y_t)
                loss.backward()
                self.stuck.append((z <= 0).all(dim=0).numpy())
                self.grads.append(torch.cat([model[0].weight.grad, model[0].bias.grad[:, None]], 1).norm(dim=1).numpy())
                self.params.append(unit_parameters(model).copy())
                self.loss.append(loss.item())
                if step < STEPS:
                    with torch.no_grad():
                        for p in model.parameters():
                            p.add_(p.grad, alpha=-lr)
        finally:
            torch.set_num_threads(threads)
        model.zero_grad()
        self.model = model
        self.counts = np.array([int(s.sum()) for s in self.stuck])
        reference = hidden_layer_net(activation, bias)
        train(reference, X, y, steps=STEPS, lr=lr)
        for a, b in zip(model.parameters(), reference.parameters()):
            assert torch.equal(a, b), "the step-by-step run left the path of helpers.training.train"


@lru_cache(maxsize=None)
def history(name: str) -> History:
    return History(*RUNS[name])


def test_02_the_network_is_one_hidden_layer_of_16_he_initialised_units_trained_300_steps_on_all_1000_people():
    r"""02: "Below, a network with one hidden layer of 16 units (He initialisation, the hidden biases at 0 unless said
    otherwise) learns the insurance data by gradient descent on all 1000 people, for 300 steps"."""
    model = hidden_layer_net("relu", 0.0)
    w = model[0].weight.detach().numpy()
    assert w.shape == (WIDTH, 4) and not model[0].bias.any()
    assert abs(w.std() / np.sqrt(2 / 4) - 1) < 0.25  # He: standard deviation sqrt(2 / fan_in)
    assert history("relu, lr 1").counts.shape == (STEPS + 1,)


def test_02_training_in_chunks_is_the_same_as_training_in_one_go():
    r"""The notebook trains each run in chunks to count units between them; plain full-batch gradient descent has no
    state, so the chunks add up to the same run bit for bit."""
    X, y, _, _ = insurance()
    chunked, whole = hidden_layer_net("relu", 0.0), hidden_layer_net("relu", 0.0)
    for done, until in zip(CHECKPOINTS, CHECKPOINTS[1:]):
        train(chunked, X, y, steps=until - done, lr=10.0)
    train(whole, X, y, steps=STEPS, lr=10.0)
    for a, b in zip(chunked.parameters(), whole.parameters()):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(history("relu, lr 10").params[-1], history("relu, lr 10").params[STEPS])


def test_02_at_the_start_about_half_the_layer_is_inactive_per_input_but_not_the_same_half():
    r"""02: "At the start about half of a ReLU layer is inactive for a given input, but not the same half for every
    input, so each unit still learns from part of the data" (about half = on average over the people within 10% of
    one half; part of the data = every unit active for at least a quarter of the people)."""
    z = pre_activations(hidden_layer_net("relu", 0.0))
    off = inactive(z, "relu")
    per_input, per_unit = off.mean(axis=1), off.mean(axis=0)
    assert abs(per_input.mean() - 0.5) <= 0.05
    assert len({tuple(row) for row in off}) > 100  # many different halves
    assert per_unit.max() <= 0.75


def test_02_a_dead_unit_outputs_0_has_slope_0_and_gradient_exactly_0_and_never_moves_again():
    r"""02: "A unit that is inactive for **every** input of the data set is *dead*: it outputs 0 for everyone and its
    slope is 0 for everyone, so the gradient of the loss with respect to its weights and its bias is exactly 0, and
    gradient descent never moves them again"; "because a dead unit's gradient is exactly 0, so nothing moves it
    again"; "A ReLU unit that is inactive for every input is dead: its gradient is exactly 0, so it never recovers"."""
    for name in ("relu, lr 10", "relu, bias -3, lr 1"):
        run = history(name)
        z = pre_activations(run.model)
        dead = run.stuck[-1]
        assert dead.any()
        assert (np.maximum(z[:, dead], 0) == 0).all() and (inactive(z[:, dead], "relu")).all()
        for step in range(STEPS + 1):
            assert (run.grads[step][run.stuck[step]] == 0).all(), (name, step)
            if step:
                was_dead = run.stuck[step - 1]
                np.testing.assert_array_equal(run.params[step][was_dead], run.params[step - 1][was_dead])


def test_02_in_the_first_layer_nothing_brings_a_dead_unit_back():
    r"""02: "In the first hidden layer a unit's inputs are the data, which never change, so nothing can bring it
    back"; "their count only ever grows" (at every one of the 300 steps, in both ReLU runs that have dead units)."""
    for name in ("relu, lr 10", "relu, bias -3, lr 1"):
        run = history(name)
        assert (np.diff(run.counts) >= 0).all(), name
        for step in range(1, STEPS + 1):
            assert not (run.stuck[step - 1] & ~run.stuck[step]).any(), (name, step)


def test_02_a_large_learning_rate_and_a_very_negative_bias_both_kill_units():
    r"""02: "Two things commonly kill units: a learning rate so large that a step throws a unit to where it is inactive
    for everyone, and a start with a very negative bias"; "Too large a learning rate or a very negative bias kills
    units"; "At learning rate 10 the steps overshoot" (overshoot = the loss rises from one step to the next, which at
    learning rate 1 it never does)."""
    modest, large, bad_start = history("relu, lr 1"), history("relu, lr 10"), history("relu, bias -3, lr 1")
    assert large.counts[0] == 0 and large.counts[-1] > 0
    assert (np.diff(large.loss) > 0).any() and not (np.diff(modest.loss) > 0).any()
    assert bad_start.counts[0] > 0 and history("relu, lr 1").counts[0] == 0


def test_02_the_table_the_prose_reads():
    r"""02: "With learning rate 1 no unit dies"; "after 300 steps 8 of the 16 ReLU units are dead"; "That network ends
    with a loss of 0.61, against 0.44 at learning rate 1"; "with every hidden bias at $-3$, 7 units are dead before the
    first step and stay dead (an eighth dies later)"; "their count falls from 5 to 2 at learning rate 10 and from 7 to
    6 after the bad start"."""
    counts = {name: [int(history(name).counts[s]) for s in CHECKPOINTS] for name in RUNS}
    assert counts["relu, lr 1"] == [0] * 7
    assert counts["relu, lr 10"][-1] == 8
    assert f"{history('relu, lr 10').loss[-1]:.2f}" == "0.61" and f"{history('relu, lr 1').loss[-1]:.2f}" == "0.44"
    bad = history("relu, bias -3, lr 1")
    assert bad.counts[0] == 7 and bad.counts[-1] == 8 and (bad.stuck[-1] >= bad.stuck[0]).all()
    assert max(counts["leaky_relu, lr 10"]) == 5 and counts["leaky_relu, lr 10"][-1] == 2
    assert counts["leaky_relu, bias -3, lr 1"][0] == 7 and counts["leaky_relu, bias -3, lr 1"][-1] == 6
    # the accuracies the table prints, from the course's held-out evaluation helper on the same rows
    X, y, _, _ = insurance()
    assert f"{binary_accuracy(history('relu, lr 10').model, X, y):.2f}" == "0.71"


def test_02_leaky_relu_has_slope_0_01_and_its_units_always_receive_some_gradient():
    r"""02: "Leaky ReLU has a slope of 0.01 instead of 0 on its negative side, so its units always receive some
    gradient"; "Leaky ReLU in the same two runs also has units on their negative side for everyone, but these still
    receive a gradient that is never 0, and some of them come back"; "leaky ReLU keeps a gradient on its negative
    side, so its units can come back" (always, never = at every one of the 300 steps)."""
    assert LEAKY_SLOPE == 0.01 and leaky_relu_prime(-5.0) == 0.01 and leaky_relu_prime(5.0) == 1.0
    for name in ("leaky_relu, lr 10", "leaky_relu, bias -3, lr 1"):
        run = history(name)
        assert run.counts.max() > 0, name
        for step in range(STEPS + 1):
            assert (run.grads[step] > 0).all(), (name, step)
        came_back = np.zeros(WIDTH, dtype=bool)
        for step in range(1, STEPS + 1):
            came_back |= run.stuck[step - 1] & ~run.stuck[step]
        assert came_back.any(), name
