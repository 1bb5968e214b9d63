"""The capstone (notebook 08): three broken training setups, and checks that a fix really works.

For each setup the student first names the cause, one of CAUSES, then repairs it.
Each repair check trains what the student built, the same way the notebook trains
the broken version, and asks for three things: a healthy gradient report at the
start, no inf/NaN, and a loss that really falls (and, for classifiers, held-out
accuracy).
"""
import functools
import math
import numbers

import numpy as np
import torch
from torch import nn

from helpers.data import DEFAULT_ROWS, insurance_batch
from helpers.exercises.core import Exercise
from helpers.exercises.nb05 import N_WEIGHTS
from helpers.health import DEFAULT_LR, gradient_health
from helpers.rnn import RNNRegressor
from helpers.tasks import ADDING_BASELINE_MSE, make_adding_task
from helpers.training import TrainLog, binary_accuracy, linear_layers, train

DEEP_DEPTH, RELU_DEPTH, WIDTH = 12, 10, 32
N_TRAIN = 800  # of the 1000 people; the rest measure accuracy
# Mini-batches in the order of torch.Generator().manual_seed(0), made afresh for every run.
CLASSIFIER_SETTINGS = dict(steps=300, lr=0.5, loss="bce", batch_size=100, progress=False)
RNN_SETTINGS = dict(steps=300, lr=0.3, loss="mse", batch_size=100, progress=False)
# Setup 2 diverges because its step is too long (see CAUSE_HINTS[2]): the repair may shorten it
# directly, with a smaller lr, or bound it by clipping. Measured (300 steps, as the check trains):
# lr 0.14 and above still reach inf/NaN; 0.015 to 0.13 end clearly below the baseline; 0.013 and
# below stay finite but are too slow to get there in 300 steps.
RNN_KEYS = ("lr", "radius", "clip_norm", "clip_value")
# Below this an unclipped run is stable but too slow: measured final losses 0.135 at lr 0.013 and 0.141
# at 0.01 (radius 1.5), 0.151 at 0.01 with radius 0.9, against the 0.133 needed.
SLOW_LR = 0.015
CLIP_KEYS = ("clip_norm", "clip_value")
MIN_ACCURACY = 0.7


def insurance_split():
    """Standardized insurance data: X_train (800, 4), y_train (800,), X_test (200, 4), y_test (200,)."""
    X, y = insurance_batch(DEFAULT_ROWS)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


def mlp(depth: int, activation: type[nn.Module]) -> nn.Sequential:
    """4 inputs -> `depth` hidden layers of WIDTH units with `activation` -> 1 logit (torch's default init).

    The same network every call: torch's initialisers draw from torch.Generator().manual_seed(0).
    """
    layers, n_in = [], 4
    for _ in range(depth):
        layers += [nn.Linear(n_in, WIDTH), activation()]
        n_in = WIDTH
    model = nn.Sequential(*layers, nn.Linear(n_in, 1))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, layer in linear_layers(model):  # nn.Linear.reset_parameters, from an explicit generator
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return model


def broken_deep_network() -> nn.Sequential:
    """Setup 1: twelve sigmoid layers with torch's default initialisation."""
    return mlp(DEEP_DEPTH, nn.Sigmoid)


def broken_relu_network(seed: int = 0) -> nn.Sequential:
    """Setup 3: ten ReLU layers whose weights were drawn from N(0, 1) (by torch.Generator().manual_seed(seed))."""
    model = mlp(RELU_DEPTH, nn.ReLU)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in linear_layers(model):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
            layer.bias.zero_()
    return model


def adding_data():
    """The adding problem of notebook 05: x (1000, 20, 2), y (1000,)."""
    return make_adding_task(1000, 20, np.random.default_rng(0))


def train_rnn(radius: float = 1.5, **settings) -> TrainLog:
    """Setup 2 as notebook 05 trains it; `settings` override lr or add clip_norm / clip_value.

    At lr 0.3 it diverges: the first steps move the weights by more than their own size, the
    tanh units saturate, and after a few steps the recurrent weights' gradient is exactly 0 while
    the readout's grows more than ten times per step until the loss overflows.
    """
    model = RNNRegressor(2, hidden=32, radius=radius, rng=np.random.default_rng(0))
    return train(model, *adding_data(), generator=torch.Generator().manual_seed(0), **{**RNN_SETTINGS, **settings})


def classifier_hint(model) -> str | None:
    """None if `model` has a healthy start, then trains without inf/NaN to MIN_ACCURACY held-out."""
    X, y, X_test, y_test = insurance_split()
    report = gradient_health(model, X, y)
    if report.verdict != "healthy":
        return f"The gradient health report still says {report.verdict}: {report.reason}."
    log = train(model, X, y, generator=torch.Generator().manual_seed(0), **CLASSIFIER_SETTINGS)
    if log.first_nonfinite_step is not None:
        return f"Training produced inf/NaN at step {log.first_nonfinite_step}."
    accuracy = binary_accuracy(model, X_test, y_test)
    if not log.loss[-20:].mean() < 0.9 * log.loss[0] or accuracy < MIN_ACCURACY:
        return f"Healthy at the start, but after training it gets {100 * accuracy:.0f}% of new people right."
    return None


def _seeded(test):
    """`test` run with torch's global generator seeded, and restored afterwards.

    A student's network draws its weights from torch's global generator; seeding it
    gives the same answer the same verdict on every run (at lr 0.5 about one He draw
    in twelve diverges, so an unseeded check would fail a right answer now and then),
    and restoring it leaves the notebook's own random numbers as they were.
    """
    @functools.wraps(test)
    def seeded(answer):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return test(answer)
    return seeded


@_seeded
def _deep_test(build):
    model = build()
    if not isinstance(model, nn.Module):
        return "Return the network (a torch module), built fresh on each call."
    if len(linear_layers(model)) < DEEP_DEPTH + 1:
        return f"Keep the network deep: at least {DEEP_DEPTH} hidden layers. Fix it without removing layers."
    return classifier_hint(model)


def _start_hint(model, case: str) -> str | None:
    """None if `model` gets a healthy gradient health report at the start, else what the report says."""
    X, y, _, _ = insurance_split()
    report = gradient_health(model, X, y)
    if report.verdict != "healthy":
        return f"{case}, the gradient health report at the start says {report.verdict}: {report.reason}."
    return None


def _deep_hidden(build, rng):
    """build() twice under another torch seed: two networks sharing no tensor, the second deep and healthy."""
    with torch.random.fork_rng():
        torch.manual_seed(int(rng.integers(2 ** 31)))
        first, second = build(), build()
        if not (isinstance(first, nn.Module) and isinstance(second, nn.Module)):
            return "Called again by the grader, your function did not return a torch module."
        storage = {id(first): set(), id(second): set()}
        for model in (first, second):
            storage[id(model)] |= {p.untyped_storage().data_ptr() for p in model.parameters() if p.numel()}
        if first is second or storage[id(first)] & storage[id(second)]:
            return ("Called twice by the grader, your function returned networks that share weights: build a new "
                    "network on each call.")
        if len(linear_layers(second)) < DEEP_DEPTH + 1:
            return (f"Called again by the grader, your function returned a network with fewer than {DEEP_DEPTH} "
                    "hidden layers.")
        return _start_hint(second, "For the network of a second call, with torch seeded by the grader")


def _lr_hint(lr) -> str | None:
    """None if `lr` is a learning rate plain SGD can use: a positive finite number."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or not lr > 0:
        return f"`lr` is the learning rate of plain SGD: give a positive number, not {lr!r}."
    return None


def _rnn_test(settings):
    if not isinstance(settings, dict) or not set(settings) <= set(RNN_KEYS):
        return f"Give a dict whose keys are some of: {', '.join(RNN_KEYS)}."
    if not settings:
        return "An empty dict trains the broken setup as it is: name a remedy."
    if "lr" in settings and _lr_hint(settings["lr"]):
        return _lr_hint(settings["lr"])
    if set(CLIP_KEYS) <= set(settings):
        return "Choose one of clip_norm and clip_value, not both."
    broken_lr = RNN_SETTINGS["lr"]
    lr = float(settings.get("lr", broken_lr))
    clipped = bool(set(settings) & set(CLIP_KEYS))
    log = train_rnn(**settings)
    if log.first_nonfinite_step is not None:
        hint = f"Still inf/NaN, first at step {log.first_nonfinite_step}"
        # Measured: unclipped, lr 0.14 and above diverge at radius 1.5, and lr 0.3 at every radius from 0.1 to 1.2.
        if not clipped and lr >= broken_lr and "radius" in settings:
            if float(settings["radius"]) < 1.5:
                return (f"{hint}: a smaller recurrent matrix is not enough at learning rate {lr:g}. It is the step "
                        "that is too large, not the matrix: what shortens or bounds each step?")
            return (f"{hint}: at learning rate {lr:g} the broken run's own matrix already diverges, and a larger one "
                    "does not help: what shortens or bounds each step?")
        if not clipped and lr >= broken_lr:
            return f"{hint}: lr {lr:g} is not smaller than the broken run's {broken_lr:g}."
        if not clipped and "radius" not in settings:
            return f"{hint}: at lr {lr:g} the steps are still too long."
        return f"{hint}."
    final = float(np.mean(log.loss[-20:]))
    if not final < 0.8 * ADDING_BASELINE_MSE:
        hint = f"No NaN any more, but the final loss {final:.3f} is not clearly below the baseline."
        if "clip_value" in settings:
            longest = lr * math.sqrt(N_WEIGHTS) * settings["clip_value"]
            hint += (f" A value-clipped step can still be sqrt({N_WEIGHTS}) = {math.sqrt(N_WEIGHTS):.0f} times the "
                     f"threshold long (exercise 05.3), here up to lr x sqrt({N_WEIGHTS}) x clip_value = {longest:.3g}: "
                     f"too long, or too short to get there in {RNN_SETTINGS['steps']} steps?")
        elif "clip_norm" in settings:
            hint += (f" A norm-clipped step is at most lr x clip_norm = {lr * settings['clip_norm']:.3g} long: too "
                     f"long, or too short to get there in {RNN_SETTINGS['steps']} steps?")
        elif lr < SLOW_LR:
            hint += (f" At lr {lr:g} the run is stable, but each step is {broken_lr / lr:.3g} times shorter than "
                     f"the broken run's: are {RNN_SETTINGS['steps']} steps that short enough to get there?")
        return hint
    return None


@_seeded
def _init_test(fix):
    model = broken_relu_network()
    shapes = [tuple(p.shape) for p in model.parameters()]
    try:
        result = fix(model)
    except RuntimeError as err:
        if "leaf Variable" not in str(err):
            raise
        return ("torch refuses to change a weight in place while it records gradients: do it inside "
                "`with torch.no_grad():`, or with torch.nn.init's functions, which do that for you.")
    if result is not None and result is not model:
        return "Change the weights of the model you are given, in place; do not build a new one."
    if [tuple(p.shape) for p in model.parameters()] != shapes:
        return "Keep the architecture: only the initial weights may change."
    return classifier_hint(model)


def _init_hidden(fix, rng):
    """fix on the broken ReLU network drawn with another seed, torch seeded from rng: in place, same shapes, healthy."""
    case = "For the broken ReLU network drawn with another seed by the grader"
    with torch.random.fork_rng():
        torch.manual_seed(int(rng.integers(2 ** 31)))
        model = broken_relu_network(int(rng.integers(1, 2 ** 31)))
        before = [p.detach().clone() for p in model.parameters()]
        result = fix(model)
        if result is not None and result is not model:
            return f"{case}, your function returned another model: change the one you are given, in place."
        if [tuple(p.shape) for p in model.parameters()] != [tuple(p.shape) for p in before]:
            return f"{case}, your function changed the architecture: only the initial weights may change."
        if all(torch.equal(old, new) for old, new in zip(before, model.parameters())):
            return f"{case}, your function left the weights as they were."
        return _start_hint(model, case)


# The causes a student can name; exactly one is right for each setup. Two are about the
# gradients (growing or shrinking through the layers or through time), two about the step
# taken with ordinary gradients, one about the units.
CAUSES = ("vanishing", "exploding", "learning rate too large", "learning rate too small", "dead units")
# For each setup, a hint for every wrong cause: it points at the evidence the notebook shows.
# tests/test_exercises.py measures what each hint says about the runs.
CAUSE_HINTS = {
    1: {"exploding": "Read the report's grad norm column from the last layer up to the first: does it grow or shrink?",
        "learning rate too large": ("The report's grad norm column says the first layer gets about 1e-10 times "
                                    "the gradient of the last one, and the training log ends without inf/NaN, its "
                                    "loss barely moved: no step is too long here. Which layers hardly move at all?"),
        "learning rate too small": ("Compare the first layer's grad norm with the last layer's: no one learning "
                                    "rate suits both when they are that far apart."),
        "dead units": ("The report's saturated column gives the share of units that pass (almost) nothing "
                       "back: read it, then read how the grad norm changes from layer to layer."),
        },
    2: {"vanishing": ("The run ends in inf/NaN: the loss and the readout's gradient grow until the numbers stop "
                      "being finite. A vanishing gradient makes training stall, not overflow."),
        "exploding": ("Exploding means a gradient that grows through time, back through the recurrent weights. "
                      "Read each weight matrix's gradient norm in the training log (`log.grad_norms`, columns "
                      "`log.layer_names`): after a few steps the recurrent weights' gradient is exactly 0 (the "
                      "tanh units are saturated) and only the readout's grows, more than ten times per step, until "
                      "the loss overflows. At the start the gradient reaching the first time step is only about "
                      "twice the one at the last, yet the very first step moves the readout by more than its own "
                      "size (`log.rel_weight_change`)."),
        "learning rate too small": ("The run ends in inf/NaN: a step that is too small makes training slow, "
                                    "not infinite."),
        "dead units": ("Units that pass nothing back make training stall, not overflow, and this run ends in "
                       "inf/NaN: which weight matrix's gradient grows (`log.grad_norms`, columns "
                       "`log.layer_names`)?"),
        },
    3: {"vanishing": ("Read the report's grad norm and update ratio columns: is the first layer's gradient "
                      "small, and how far would one small step move each layer?"),
        "learning rate too large": (f"The update ratio column is computed at lr {DEFAULT_LR:g}, already a small "
                                    "learning rate, and even that step would move every layer by several times "
                                    "its own size: it is the gradients themselves that are huge. Compare the grad "
                                    "norm column with the weight norm column."),
        "learning rate too small": (f"The update ratio column says how far one step with lr {DEFAULT_LR:g}, "
                                    "already a small one, would move each layer, as a share of its size."),
        "dead units": ("About half of a ReLU layer's units are off for any one input, with any initialisation: "
                       "that is ReLU. Look at the update ratio column instead."),
        },
}


def _cause_test(setup: int):
    """The test of "name the cause of setup `setup`": the answer is one of CAUSES."""
    def test(answer):
        if not isinstance(answer, str) or answer.strip().lower() not in CAUSES:
            return f"Give one of these strings: {', '.join(repr(cause) for cause in CAUSES)}."
        return CAUSE_HINTS[setup].get(answer.strip().lower())
    return test


EXERCISES = [
    Exercise("08.1", "name the cause of setup 1", "cause_setup_1", _cause_test(1)),
    Exercise("08.2", "repair the deep sigmoid network", "fixed_deep_network", _deep_test, hidden=_deep_hidden),
    Exercise("08.3", "name the cause of setup 2", "cause_setup_2", _cause_test(2)),
    Exercise("08.4", "repair the diverging RNN", "fixed_rnn_settings", _rnn_test),
    Exercise("08.5", "name the cause of setup 3", "cause_setup_3", _cause_test(3)),
    Exercise("08.6", "repair the initialisation", "fix_initialisation", _init_test, returns_none="always",
             hidden=_init_hidden),
]
