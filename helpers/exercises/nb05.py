"""Exercises of notebook 05 (exploding gradients and NaN)."""
import contextlib

import numpy as np

from helpers import clipping
from helpers.clipping import global_norm
from helpers.exercises.core import Exercise, UsedCourseHelper, number, within_factor

# torch.nn.utils.clip_grad_norm_ scales by min(threshold / (norm + 1e-6), 1): at the norms of the check's cases
# (all 1 or more where a scale applies) that is threshold / norm to within 1e-6, so 1e-5 accepts both rules.
CLIP_RTOL = 1e-5


def _refusal(*args, _calls, _refuse, **kwargs):
    """The code the course's clipping functions run while an answer is checked: it notes the call and refuses.

    Its two keyword-only arguments come from the function's __kwdefaults__, set together with
    its __code__, so the code needs no name from the helper module's globals.
    """
    _calls.append(True)
    raise _refuse


@contextlib.contextmanager
def _course_clipping_refused():
    """While inside, calling the course's norm clipping (under any name it was imported as) raises
    UsedCourseHelper; the list yielded records every call, even one the answer catches.

    Every alias of a function is the same function object, so swapping that object's code reaches
    them all; the code, defaults and keyword defaults are put back on the way out, whatever happens.
    """
    calls = []
    saved = [(fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__) for fn in _course_clippers()]
    try:
        for fn, *_ in saved:
            fn.__code__ = _refusal.__code__
            fn.__defaults__ = None
            fn.__kwdefaults__ = {"_calls": calls, "_refuse": UsedCourseHelper}
        yield calls
    finally:
        for fn, code, defaults, kwdefaults in saved:
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults


def _course_clippers() -> list:
    """The course's functions that clip a list of arrays by their global norm (clip_by_value does not: it is allowed)."""
    return [clipping.clip_by_global_norm]


USED_COURSE_HELPER = ("Your function calls the course's own `clip_by_global_norm` (helpers.clipping): write the rule "
                      "yourself, with numpy (or torch): one norm of all the entries together, then one scale factor "
                      "for every array.")


def _clipped(grads, threshold) -> list:
    """The exact rule: every array times min(1, threshold / global norm); unchanged at norm 0."""
    total = global_norm(grads)
    scale = 1.0 if total <= threshold else threshold / total
    return [np.asarray(g, dtype=float) * scale for g in grads]


def _clip_cases() -> list:
    """(grads, threshold, what the case is about) in the order they are checked."""
    rng = np.random.default_rng(6)
    main = [rng.normal(0, 10, (3, 4)), rng.normal(0, 10, 4)]  # global norm about 42
    pythagoras = [np.array([3.0, 4.0]), np.array([[0.0, 12.0]])]  # global norm exactly 13: norms 5 and 12
    shapes = [rng.normal(0, 3, (2, 3, 4)), np.array(-7.0), rng.normal(0, 3, 1)]
    return [(main, 1.0, "main"), (main, 1e4, "below"), (pythagoras, 13.0, "at"), (pythagoras, 12.9, "just above"),
            (shapes, 2.0, "shapes"), ([np.zeros((2, 3)), np.zeros(3)], 1.0, "zero")]


def _clip_test(fn):
    for grads, threshold, case in _clip_cases():
        originals = [g.copy() for g in grads]
        with _course_clipping_refused() as calls:
            try:
                got = fn(grads, threshold)  # the arrays themselves: changing them is a mistake to catch
            except UsedCourseHelper:
                return USED_COURSE_HELPER
            except Exception as err:
                if calls:  # the refusal was caught inside the answer, which then failed otherwise
                    return USED_COURSE_HELPER
                if case == "zero" and isinstance(err, ZeroDivisionError):
                    return ("For gradients that are all 0 your function raised ZeroDivisionError: their norm is 0. "
                            "A norm of 0 is below any threshold: return the arrays unchanged, without dividing by it.")
                raise
        if calls:  # called, and the refusal caught inside the answer
            return USED_COURSE_HELPER
        if any(not np.array_equal(a, b) for a, b in zip(grads, originals)):
            return "Your function changed the arrays it was given; return new ones."
        if not isinstance(got, (list, tuple)) or len(got) != len(grads):
            return "Return a list with one array per gradient, in the same order."
        hint = _clip_case_hint(got, originals, threshold, case)
        if hint:
            return hint
    return None


def _clip_hidden(fn, rng):
    """1 to 5 arrays of 0 to 4 dimensions with norms from 1 to 1000: far above, just above, below the threshold."""
    cases = []
    for where, low, high in (("far above", 0.01, 0.9), ("just above", 0.99, 0.9999), ("below", 1.1, 50.0)):
        shapes = [tuple(int(k) for k in rng.integers(1, 5, int(rng.integers(0, 5))))
                  for _ in range(int(rng.integers(1, 6)))]
        grads = [rng.normal(0, 1, shape) for shape in shapes]
        if len(grads) > 1 and where == "far above":
            grads[int(rng.integers(len(grads)))][...] = 0.0  # a layer whose gradient is 0, next to the others
        norm = 10 ** rng.uniform(0, 3)  # at least 1: torch's clip_grad_norm_ (+1e-6) is within CLIP_RTOL of it
        grads = [g * (norm / global_norm(grads)) for g in grads]
        cases.append((grads, norm * rng.uniform(low, high), f"arrays of shapes {shapes} with a norm {where} the "
                                                            "threshold"))
    for grads, threshold, case in cases:
        originals = [g.copy() for g in grads]
        with _course_clipping_refused() as calls:
            try:
                got = fn(grads, threshold)
            except UsedCourseHelper:
                return USED_COURSE_HELPER
            except Exception:
                if calls:
                    return USED_COURSE_HELPER
                raise
        if calls:
            return USED_COURSE_HELPER
        if any(not np.array_equal(a, b) for a, b in zip(grads, originals)):
            return f"For {case}, drawn by the grader, your function changed the arrays it was given."
        if (not isinstance(got, (list, tuple)) or len(got) != len(grads)
                or not _all_close(got, _clipped(originals, threshold), CLIP_RTOL)):
            return f"For {case}, drawn by the grader, your clipped gradients are not right."
    return None


def _clip_case_hint(got, grads, threshold, case) -> str | None:
    """The hint for `got`, the answer for (grads, threshold) of the case `case`, or None when it is right."""
    want = _clipped(grads, threshold)
    if _all_close(got, want, CLIP_RTOL):
        return None
    if case == "main":  # the norm (about 42) is far above the threshold: each likely slip has its own result
        per_array = [g * min(1.0, threshold / np.linalg.norm(g)) for g in grads]
        if _all_close(got, per_array):
            return "You clipped each array on its own; the threshold is for all of them together."
        if _all_close(got, [np.clip(g, -threshold, threshold) for g in grads]):
            return ("You cut every entry to [-threshold, threshold]: that is clipping by value, which turns the "
                    "direction. Clipping by the norm scales all the arrays by one factor.")
        summed = sum(np.linalg.norm(g) for g in grads)
        if _all_close(got, [g * threshold / summed for g in grads]):
            return ("The global norm is the norm of all the entries together, not the sum of the arrays' "
                    "norms: the norm of the arrays' norms.")
    shape_hint = next(filter(None, (_shape_hint(g, w) for g, w in zip(got, want))), None)
    if shape_hint:
        return shape_hint
    if not all(np.isfinite(np.asarray(g, dtype=float)).all() for g in got):
        if case == "zero":
            return ("For gradients that are all 0 your function returns inf or NaN: does it divide by their norm, "
                    "0? A norm of 0 is below any threshold: return the arrays unchanged.")
        return "A clipped gradient contains inf or NaN where every value should be finite."
    if case == "below":
        return "When the norm is already below the threshold, the gradients must stay as they are."
    if case == "at":
        return ("When the norm is exactly the threshold (a norm of 13 and a threshold of 13), the gradients "
                "must stay as they are: the norm already is at most the threshold.")
    if case == "just above":
        return ("When the norm is just above the threshold (a norm of 13 and a threshold of 12.9), scale the "
                "gradients so that their norm is exactly the threshold.")
    if case == "shapes":
        return ("Right for 1-D and 2-D arrays, but not for a 3-D one next to a scalar-shaped (0-d) one: does "
                "your norm take every entry of every array, whatever its number of dimensions?")
    if case == "zero":
        return "For gradients that are all 0 (norm 0) the gradients must stay as they are."
    return ("A clipped gradient has the right shape but not the right values. Is the direction kept, and the norm "
            "exactly the threshold?")


def _shape_hint(got, want) -> str | None:
    """The hint when `got` has not `want`'s shape, else None."""
    got = np.asarray(got, dtype=float)
    if got.shape != want.shape:
        return (f"A clipped gradient has shape {got.shape}; it should have shape {want.shape}: keep every "
                "array's shape.")
    return None


def _all_close(got, wanted, rtol: float = 1e-5) -> bool:
    """True if the arrays `got` have the shapes and values of the arrays `wanted` (to rtol of the largest entry)."""
    got = [np.asarray(a, dtype=float) for a in got]
    largest = max((np.abs(b).max(initial=0.0) for b in wanted), default=0.0)
    return all(a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=rtol * largest) for a, b in zip(got, wanted))


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


def _first_bad_hidden(fn, rng):
    """Other lengths (1 to 80), a float32 history, the first NaN/inf/-inf anywhere, all finite with huge losses."""
    def history(n, dtype):
        losses = rng.lognormal(0, 2, n) * rng.choice([1.0, -1.0], n, p=[0.9, 0.1])
        losses[rng.random(n) < 0.1] = 1e300 if dtype == np.float64 else 3e38  # huge, but finite
        return losses.astype(dtype)

    bad = {"a NaN": np.nan, "an inf": np.inf, "a -inf": -np.inf}
    cases = []
    for dtype in (np.float64, np.float32):
        losses, kind = history(int(rng.integers(2, 81)), dtype), str(rng.choice(list(bad)))
        first = int(rng.integers(0, len(losses)))
        after = np.arange(first + 1, len(losses))
        losses[rng.choice(after, len(after) // 2, replace=False)] = rng.choice(list(bad.values()), len(after) // 2)
        losses[first] = bad[kind]
        cases.append((losses, first, f"a {np.dtype(dtype).name} loss history with {kind} in it"))
    cases += [(history(int(rng.integers(2, 81)), np.float64), None, "a loss history of finite losses, some huge"),
              (np.array([rng.choice(list(bad.values()))]), 0, "a loss history of one step"),
              (history(1, np.float64), None, "a loss history of one step")]
    for losses, expected, case in cases:
        got = fn(losses.copy())
        if (got is None) != (expected is None) or (got is not None and number(got, "The step") != expected):
            return (f"For {case}, drawn by the grader, your answer is not the index of the first loss that is not "
                    "finite (or None when every loss is finite).")
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


def _growth_test(guess):
    """1.5 ** 50, within a factor of 10; 1.5 * 50 is the slip of adding the factors up."""
    if np.isclose(number(guess, "Your guess"), 1.5 * 50, rtol=0.05):
        return "That is 1.5 times 50. The gradient is multiplied by 1.5 at each of the 50 steps: 1.5 x 1.5 x ... x 1.5."
    return within_factor(guess, 1.5 ** 50, 10.0, "Your guess")


EXERCISES = [
    Exercise("05.1", "predict: a scaled rotation applied 50 times", "guess_growth_after_50", _growth_test),
    Exercise("05.2", "the first step that is not finite", "my_first_bad_step", _first_bad_test,
             returns_none="sometimes", hidden=_first_bad_hidden),
    Exercise("05.3", "predict: the longest step clipping by value allows", "guess_longest_value_clipped_norm",
             _value_clipped_test),
    Exercise("05.4", "clipping by the global norm", "my_clip_by_norm", _clip_test, hidden=_clip_hidden,
             guard=_course_clipping_refused),
]
