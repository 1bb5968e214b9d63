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
        if threshold < global_norm(grads) and all(np.allclose(a, b) for a, b in zip(got, per_array)):
            return "You clipped each array on its own; the threshold is for all of them together."
        for g_got, g_want in zip(got, clip_by_global_norm(grads, threshold).grads):
            hint = same_array(g_got, g_want, rtol=1e-8, what="A clipped gradient")
            if hint and threshold > global_norm(grads):
                return "When the norm is already below the threshold, the gradients must stay as they are."
            if hint:
                return hint + " Is the direction kept, and the norm exactly the threshold?"
    if any(not np.array_equal(a, b) for a, b in zip(grads, originals)):
        return "Your function changed the arrays it was given; return new ones."
    return None


def _first_bad_test(fn):
    cases = [([0.7, 0.6, np.nan, np.inf], 2), ([0.7, 0.5, 0.4], None), ([np.inf, 1.0], 0),
             ([1.0, 2.0, -np.inf], 2)]
    for losses, expected in cases:
        got = fn(np.array(losses))
        if expected is None and got is not None:
            return f"For losses that are all finite, return None (you returned {got!r})."
        if expected is not None and (got is None or number(got, "The step") != expected):
            return f"For losses {losses} the answer is not {got!r}. Do you catch NaN, inf and -inf alike?"
    return None


EXERCISES = [
    Exercise("05.1", "predict: a scaled rotation applied 50 times", "guess_growth_after_50",
             lambda guess: within_factor(guess, 1.5 ** 50, 10.0, "Your guess")),
    Exercise("05.2", "the first step that is not finite", "my_first_bad_step", _first_bad_test),
    Exercise("05.3", "clipping by the global norm", "my_clip_by_norm", _clip_test),
]
