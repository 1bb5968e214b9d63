"""The exercise registry, `check`, and the verdicts it shows."""
from __future__ import annotations

import contextlib
import dis
import html
import importlib
import inspect
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

NOT_ATTEMPTED, WRONG, CORRECT = "not attempted", "wrong", "correct"
NOTEBOOK_MODULES = ("nb00", "nb01", "nb02", "nb03", "nb04", "nb05", "nb06", "nb07", "nb08")
_COLORS = {NOT_ATTEMPTED: "#999999", WRONG: "#D55E00", CORRECT: "#009E73"}


RETURNS_NONE = ("never", "sometimes", "always")


@dataclass(frozen=True)
class Exercise:
    """One exercise: `answer` is the name the student's cell defines.

    `test(answer) -> str | None` returns None when the answer is right, else a hint
    that helps without giving the answer away. It may raise: that is a verdict too.
    `returns_none` says when an answer that is a function may return None: "never"
    (it computes a result), "sometimes" (None is one of its results, e.g. "no such
    step") or "always" (it changes its argument in place).
    `hidden(answer, rng) -> str | None` (code exercises only) is what the grader adds:
    the answer on inputs drawn from `rng`, which the notebook never shows, so that an
    answer written for the check's own inputs fails. Its hint says what was off, never
    the reference value.
    `guard()` is a context manager the grader runs around every call of the answer, in
    the student's process; it yields a list that is not empty when the answer did what
    the exercise forbids (see nb05's clipping).
    """
    id: str
    title: str
    answer: str
    test: Callable[[object], str | None]
    returns_none: str = "never"
    hidden: Callable[[object, np.random.Generator], str | None] | None = None
    guard: Callable[[], contextlib.AbstractContextManager] | None = None

    def __post_init__(self):
        if self.returns_none not in RETURNS_NONE:
            raise ValueError(f"returns_none must be one of {', '.join(RETURNS_NONE)}, got {self.returns_none!r}")


class UsedCourseHelper(BaseException):
    """Raised while an answer is checked when it calls what its exercise's `guard` forbids.

    A BaseException, so the student's `except Exception` lets it by.
    """


@dataclass(frozen=True)
class Verdict:
    id: str
    title: str
    status: str
    message: str
    hidden: str = ""  # what the grader's hidden cases found: "" (not run), "passed", or a hint

    @property
    def text(self) -> str:
        head = {NOT_ATTEMPTED: "not attempted yet", WRONG: "not yet", CORRECT: "correct"}[self.status]
        return f"Exercise {self.id} ({self.title}): {head}. {self.message}".strip()

    def _repr_mimebundle_(self, **kwargs):
        color = _COLORS[self.status]
        box = (f"<div style='border-left:4px solid {color};padding:4px 10px;margin:4px 0'>"
               f"<b style='color:{color}'>{html.escape(self.text)}</b></div>")
        return {"text/plain": self.text, "text/html": box}


def exercises() -> dict[str, Exercise]:
    """Every exercise of the course by id ("01.1", ...), in order."""
    found = {}
    for name in NOTEBOOK_MODULES:
        module = importlib.import_module(f"helpers.exercises.{name}")
        found.update((ex.id, ex) for ex in module.EXERCISES)
    return found


def is_stub(value) -> bool:
    """True for the placeholders exercise cells start with: `...`, None, or a function whose body does nothing.

    A body of only a docstring and `...` compiles to "return None"; anything a student
    writes adds instructions (a function that computes but forgets `return` is not a stub).
    """
    if value is ... or value is None:
        return True
    code = getattr(value, "__code__", None)
    if code is None:
        return False
    return all(ins.opname in ("RESUME", "NOP", "RETURN_VALUE")
               or (ins.opname in ("LOAD_CONST", "RETURN_CONST") and ins.argval is None)
               for ins in dis.get_instructions(code))


def returns_no_value(fn) -> bool:
    """True for a function none of whose `return`s gives a value: it computes, then returns None.

    A `return` gives None only when it returns the constant None, or when the
    RETURN_VALUE is reached from nowhere but the LOAD_CONST None just before it (a
    RETURN_VALUE that is a jump target may return a value from another branch).
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    previous = None
    for ins in dis.get_instructions(code):
        if ins.opname == "RETURN_CONST" and ins.argval is not None:
            return False
        if ins.opname == "RETURN_VALUE" and (ins.is_jump_target or previous is None
                                             or previous.opname != "LOAD_CONST" or previous.argval is not None):
            return False
        previous = ins
    return True


class ReturnedNone(Exception):
    """Raised by `_never_none` when the student's function returns None where a result is due."""


def _never_none(fn):
    """`fn`, but a call that returns None raises ReturnedNone (for exercises whose answer always has a result)."""
    def checked(*args, **kwargs):
        result = fn(*args, **kwargs)
        if result is None:
            raise ReturnedNone
        return result
    return checked


RETURNED_NONE = "Your function returned None: add a `return` with its result."
RETURNED_NONE_SOMETIMES = ("Your function returned None for one of the check's inputs: "
                           "does every path through it end in a `return` with its result?")


@dataclass(frozen=True)
class Answer:
    """What a notebook's namespace holds under an exercise's answer name.

    `value` is the object itself (or, in the grader, a stand-in that calls it where it
    runs); `stub` and `no_value` are `is_stub` and `returns_no_value` of it, worked out
    where the object lives, since a stand-in has no code of its own to inspect.
    """
    present: bool
    value: object = ...
    stub: bool = True
    no_value: bool = False


def answer_of(exercise: Exercise, namespace: dict) -> Answer:
    """The `Answer` that `namespace` holds for `exercise`."""
    if exercise.answer not in namespace:
        return Answer(False)
    value = namespace[exercise.answer]
    return Answer(True, value, is_stub(value), callable(value) and returns_no_value(value))


def evaluate(exercise: Exercise, namespace: dict) -> Verdict:
    """The verdict on the answer `namespace` holds for `exercise`; never raises."""
    return judge(exercise, answer_of(exercise, namespace))


def judge(exercise: Exercise, answer: Answer, rng: np.random.Generator | None = None) -> Verdict:
    """The verdict on `answer`; with `rng`, also on the exercise's hidden cases. Never raises."""
    def verdict(status, message, hidden=""):
        return Verdict(exercise.id, exercise.title, status, message, hidden)

    if not answer.present:
        return verdict(NOT_ATTEMPTED, f"Run the cell that defines `{exercise.answer}` first.")
    if answer.stub:
        return verdict(NOT_ATTEMPTED, f"Replace the `...` in `{exercise.answer}` with your answer and run the cell.")
    value = answer.value
    if callable(value) and exercise.returns_none != "always" and answer.no_value:
        return verdict(WRONG, RETURNED_NONE)  # a forgotten `return`, before it shows up as a shape or type error
    if callable(value) and exercise.returns_none == "never":
        value = _never_none(value)
    hint = _hint(exercise.test, value)
    if hint:
        return verdict(WRONG, hint)
    if rng is None or exercise.hidden is None:
        return verdict(CORRECT, "")
    hidden = _hint(lambda answer: exercise.hidden(answer, rng), value)
    if hidden:
        return verdict(WRONG, "Right on the check's own inputs, but not on the grader's other inputs.", hidden)
    return verdict(CORRECT, "", "passed")


def _hint(test, value) -> str | None:
    """`test(value)`, with what the student's code raised turned into a hint."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the student's overflow is a verdict, not a warning
            return test(value)
    except ReturnedNone:
        return RETURNED_NONE_SOMETIMES
    except Exception as err:  # the student's code raised: say what, keep the notebook running
        return f"Checking it raised {type(err).__name__}: {err}"


def _caller_namespace() -> dict:
    """The notebook's namespace in IPython, else the globals of whoever called `check`."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return shell.user_ns
    return inspect.currentframe().f_back.f_back.f_globals


def check(exercise_id: str, namespace: dict | None = None) -> Verdict:
    """Check exercise `exercise_id` ("03.2") against the notebook's answer and show the verdict."""
    known = exercises()
    if exercise_id not in known:
        raise ValueError(f"unknown exercise {exercise_id!r}; exercises are: {', '.join(known)}")
    return evaluate(known[exercise_id], _caller_namespace() if namespace is None else namespace)


# --- building blocks for the exercises' tests; each returns a hint, or None when right ---

def number(value, what: str) -> float:
    """`value` as a float, or a ValueError saying a single number is wanted."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} should be a single number, not {type(value).__name__}") from None


def same_array(got, expected, rtol: float = 1e-6, what: str = "your result") -> str | None:
    """None if `got` has `expected`'s shape and values; else what is off (shape, or where it differs)."""
    expected = np.asarray(expected, dtype=float)
    got = np.asarray(got, dtype=float)
    if got.shape != expected.shape:
        return f"{what} has shape {got.shape}; it should have shape {expected.shape}."
    if not np.isfinite(got).all():
        return f"{what} contains inf or NaN where every value should be finite."
    if not np.allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max(initial=1e-12)):
        return f"{what} has the right shape but not the right values."
    return None


def within_factor(value, truth: float, factor: float, what: str) -> str | None:
    """None if `value` is within `factor`x of `truth`; else which way it is off (not by how much)."""
    value = number(value, what)
    if not value > 0:
        return f"{what} should be a positive number."
    if value > truth * factor:
        return f"{what} is too large by more than a factor of {factor:g}."
    if value < truth / factor:
        return f"{what} is too small by more than a factor of {factor:g}."
    return None


# Large |z| included: a formula that overflows there is a wrong answer.
Z_POINTS = np.concatenate([np.linspace(-12, 12, 49), [-800.0, -40.0, 40.0, 800.0]])


def derivative_hint(fn, reference, name: str, slips: dict | None = None) -> str | None:
    """Test `fn` against `reference` elementwise, at 0 first, then everywhere (incl. large |z|).

    `slips` maps a hint to a likely wrong formula (a function of z): an answer that
    agrees with that formula on moderate z gets its hint.
    """
    if slips:
        z = np.linspace(-5, 5, 21)  # moderate z, where every slip is finite and they all differ
        got = np.asarray(fn(z.copy()), dtype=float)  # a copy: an answer may change its input
        for hint, slip in slips.items():
            if got.shape == z.shape and np.allclose(got, slip(z), rtol=1e-6, atol=1e-12):
                return hint
    at_zero = float(np.asarray(fn(np.array([0.0])), dtype=float).ravel()[0])
    if not np.isclose(at_zero, float(reference(np.array([0.0]))[0]), rtol=1e-6):
        return (f"At z = 0 your {name} gives {at_zero:.4g}. Work out the slope at that one point by hand "
                "and compare.")
    z = Z_POINTS.reshape(-1, 1) * np.ones((1, 2))  # (53, 2): any shape must work
    got = np.asarray(fn(z.copy()), dtype=float)  # a copy: an answer may change its input
    if got.shape != z.shape:
        return f"For an input of shape {z.shape} your function returns shape {got.shape}: work elementwise."
    if not np.isfinite(got).all():
        return "Right near 0, but it gives inf or NaN for very large |z| (try z = -800)."
    if not np.allclose(got, reference(z), rtol=1e-6, atol=1e-12):
        return "Right at 0 but not everywhere: check a point far from 0, where the curve is flat."
    return None


def grader_case_hint(got, expected, case: str, rtol: float = 1e-6) -> str | None:
    """`same_array` on one of the grader's hidden cases: None if right, else what is off for `case` (no values)."""
    hint = same_array(got, expected, rtol)
    return None if hint is None else f"For {case} drawn by the grader, {hint}"
