"""The capstone (notebook 08): three broken training setups, and checks that a fix really works.

For each setup the student first names the cause, one of CAUSES, then repairs it.
Each repair check trains what the student built, the same way the notebook trains
the broken version, and asks for three things: a healthy gradient report at the
start, no inf/NaN, and a loss that really falls (and, for classifiers, held-out
accuracy).
"""
import functools
import math

import numpy as np
import torch
from torch import nn

from helpers.data import DEFAULT_ROWS, insurance_batch
from helpers.exercises.core import Exercise
from helpers.health import DEFAULT_LR, gradient_health
from helpers.rnn import RNNRegressor
from helpers.tasks import ADDING_BASELINE_MSE, make_adding_task
from helpers.training import TrainLog, binary_accuracy, linear_layers, train

DEEP_DEPTH, RELU_DEPTH, WIDTH = 12, 10, 32
N_TRAIN = 800  # of the 1000 people; the rest measure accuracy
# Mini-batches in the order of torch.Generator().manual_seed(0), made afresh for every run.
CLASSIFIER_SETTINGS = dict(steps=300, lr=0.5, loss="bce", batch_size=100, progress=False)
RNN_SETTINGS = dict(steps=300, lr=0.3, loss="mse", batch_size=100, progress=False)
# The repair keeps the broken run's learning rate: the question is what bounds the step at lr 0.3.
RNN_KEYS = ("radius", "clip_norm", "clip_value")
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


def broken_relu_network() -> nn.Sequential:
    """Setup 3: ten ReLU layers whose weights were drawn from N(0, 1)."""
    model = mlp(RELU_DEPTH, nn.ReLU)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, layer in linear_layers(model):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
            layer.bias.zero_()
    return model


def adding_data():
    """The adding problem of notebook 05: x (1000, 20, 2), y (1000,)."""
    return make_adding_task(1000, 20, np.random.default_rng(0))


def train_rnn(radius: float = 1.5, **settings) -> TrainLog:
    """Setup 2 as notebook 05 trains it; `settings` override lr or add clip_norm / clip_value."""
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


def _rnn_test(settings):
    if isinstance(settings, dict) and "lr" in settings:
        return (f"Keep the learning rate at {RNN_SETTINGS['lr']:g} and leave `lr` out: the point is a remedy that "
                "bounds the step without giving up the learning rate.")
    if not isinstance(settings, dict) or not set(settings) <= set(RNN_KEYS):
        return f"Give a dict whose keys are some of: {', '.join(RNN_KEYS)}."
    if not settings:
        return "An empty dict trains the broken setup as it is: name a remedy."
    log = train_rnn(**settings)
    if log.first_nonfinite_step is not None and not set(settings) & set(CLIP_KEYS) and "radius" in settings:
        return (f"Still inf/NaN, first at step {log.first_nonfinite_step}: a smaller recurrent matrix is not "
                f"enough at learning rate {RNN_SETTINGS['lr']:g}. What bounds the size of each step?")
    if log.first_nonfinite_step is not None:
        return f"Still inf/NaN, first at step {log.first_nonfinite_step}."
    final = float(np.mean(log.loss[-20:]))
    if not final < 0.8 * ADDING_BASELINE_MSE:
        hint = f"No NaN any more, but the final loss {final:.3f} is not clearly below the baseline."
        if "clip_value" in settings:
            hint += (" A value-clipped step can still be sqrt(1185) = 34 times the threshold long (exercise 05.4):"
                     " make the threshold much smaller, or clip by the norm.")
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


# The causes a student can name; exactly one is right for each setup.
CAUSES = ("vanishing", "exploding", "dead units", "learning rate too small")
# For each setup, a hint for every wrong cause: it points at the evidence the notebook shows.
CAUSE_HINTS = {
    1: {"exploding": "Read the report's grad norm column from the last layer up to the first: does it grow or shrink?",
        "dead units": ("The report's saturated column gives the share of units that pass (almost) nothing "
                       "back: read it, then read how the grad norm changes from layer to layer."),
        "learning rate too small": ("Compare the first layer's grad norm with the last layer's: no one learning "
                                    "rate suits both when they are that far apart."),
        },
    2: {"vanishing": "The training log says the gradient norm grows until the numbers stop being finite.",
        "dead units": "A tanh unit is never off, and the run ends in inf/NaN: what grows?",
        "learning rate too small": ("The run ends in inf/NaN: a step that is too small makes training slow, "
                                    "not infinite."),
        },
    3: {"vanishing": ("Read the report's grad norm and update ratio columns: is the first layer's gradient "
                      "small, and how far would one small step move each layer?"),
        "dead units": ("About half of a ReLU layer's units are off for any one input, with any initialisation: "
                       "that is ReLU. Look at the update ratio column instead."),
        "learning rate too small": (f"The update ratio column says how far one step with lr {DEFAULT_LR:g}, "
                                    "already a small one, would move each layer, as a share of its size."),
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
    Exercise("08.2", "repair the deep sigmoid network", "fixed_deep_network", _deep_test),
    Exercise("08.3", "name the cause of setup 2", "cause_setup_2", _cause_test(2)),
    Exercise("08.4", "repair the exploding RNN", "fixed_rnn_settings", _rnn_test),
    Exercise("08.5", "name the cause of setup 3", "cause_setup_3", _cause_test(3)),
    Exercise("08.6", "repair the initialisation", "fix_initialisation", _init_test, returns_none="always"),
]
