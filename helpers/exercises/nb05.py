"""Exercises of notebook 05 (exploding gradients and NaN)."""
import numpy as np

from helpers.clipping import clip_by_global_norm, global_norm
from helpers.exercises.core import Exercise, number, same_array, within_factor


def _clip_test(fn):
    rng = np.random.default_rng(6)
    grads = [rng.normal(0, 10, (3, 4)), rng.normal(0, 10, 4)]
    originals = [g.copy() for g in grads]
    for threshold in (1.0, 1e4):  # the second is above the norm: nothing may change
        got = fn([g.copy() for g in grads], threshold)
        if not isinstance(got, (list, tuple)) or len(got) != len(grads):
            return "Return a list with one array per gradient, in the same order."
        per_array = [g * min(1.0, threshold / np.linalg.norm(g)) for g in grads]
        if threshold < global_norm(grads) and _all_close(got, per_array):
            return "You clipped each array on its own; the threshold is for all of them together."
        if threshold < global_norm(grads) and _all_close(got, [np.clip(g, -threshold, threshold) for g in grads]):
            return ("You cut every entry to [-threshold, threshold]: that is clipping by value, which turns the "
                    "direction. Clipping by the norm scales all the arrays by one factor.")
        summed = sum(np.linalg.norm(g) for g in grads)
        if threshold < global_norm(grads) and _all_close(got, [g * threshold / summed for g in grads]):
            return ("The global norm is the norm of all the entries together, not the sum of the arrays' "
                    "norms: the norm of the arrays' norms.")
        for g_got, g_want in zip(got, clip_by_global_norm(grads, threshold).grads):
            hint = same_array(g_got, g_want, rtol=1e-8, what="A clipped gradient")
            if hint and threshold > global_norm(grads):
                return "When the norm is already below the threshold, the gradients must stay as they are."
            if hint:
                return hint + " Is the direction kept, and the norm exactly the threshold?"
    if any(not np.array_equal(a, b) for a, b in zip(grads, originals)):
        return "Your function changed the arrays it was given; return new ones."
    return None


def _all_close(got, wanted) -> bool:
    """True if the arrays `got` have the shapes and values of the arrays `wanted`."""
    got = [np.asarray(a, dtype=float) for a in got]
    return all(a.shape == b.shape and np.allclose(a, b) for a, b in zip(got, wanted))


def _as_step(got) -> float | None:
    """`got` as a float, or None when it is not a single number."""
    try:
        return float(got)
    except (TypeError, ValueError):
        return None


def _first_bad_test(fn):
    cases = [([0.7, 0.6, np.nan, np.inf], 2), ([0.7, 0.5, 0.4], None), ([np.inf, 1.0], 0),
             ([1.0, 2.0, -np.inf], 2)]
    answers = [fn(np.array(losses)) for losses, _ in cases]
    # (the answer as a number, the right step) for the cases that have a bad step
    steps = [(_as_step(got), expected) for got, (_, expected) in zip(answers, cases) if expected is not None]
    if all(step is not None and not np.isfinite(step) for step, _ in steps):
        return "Return the index of the first step that is not finite, not the loss at that step."
    if all(step == expected + 1 for step, expected in steps):
        return "Steps count from 0, as array indices do: the first loss is step 0."
    for (losses, expected), got in zip(cases, answers):
        if expected is None and got is not None:
            return f"For losses that are all finite, return None (you returned {got!r})."
        if expected is not None and (got is None or number(got, "The step") != expected):
            return f"For losses {losses} the answer is not {got!r}. Do you catch NaN, inf and -inf alike?"
    return None


# The 05 network (RNNRegressor(2, hidden=32)): W_ih (32, 2), W_hh (32, 32), two biases (32,),
# readout (1, 32) and its bias: 1185 numbers, each cut to [-0.3, 0.3] when clipping by value at 0.3.
N_WEIGHTS = 32 * 2 + 32 * 32 + 32 + 32 + 32 + 1
VALUE_THRESHOLD = 0.3


def _value_clipped_test(guess):
    """The longest value-clipped gradient: every entry at the threshold, norm threshold * sqrt(n)."""
    value = number(guess, "Your answer")
    truth = VALUE_THRESHOLD * np.sqrt(N_WEIGHTS)
    if np.isclose(value, VALUE_THRESHOLD * N_WEIGHTS, rtol=0.1):
        return "That adds up the entries' sizes; a norm is the square root of the sum of their squares."
    if np.isclose(value, VALUE_THRESHOLD, rtol=0.1):
        return "That bounds each entry; the gradient has 1185 of them, each as large as that at most."
    if abs(value - truth) > 0.02 * truth:  # exact arithmetic: 2% leaves room for rounding sqrt(1185) to 34
        return f"{'Too large' if value > truth else 'Too small'}: what is the norm when every entry is 0.3?"
    return None


EXERCISES = [
    Exercise("05.1", "predict: a scaled rotation applied 50 times", "guess_growth_after_50",
             lambda guess: within_factor(guess, 1.5 ** 50, 10.0, "Your guess")),
    Exercise("05.2", "the first step that is not finite", "my_first_bad_step", _first_bad_test,
             returns_none="sometimes"),
    Exercise("05.3", "clipping by the global norm", "my_clip_by_norm", _clip_test),
    Exercise("05.4", "predict: the longest step clipping by value allows", "guess_longest_value_clipped_norm",
             _value_clipped_test),
]
