"""Grade one submission: run its cells in a sandbox, judge its answers here, from data.

The student's process (`helpers.submission`, in a `helpers.sandbox`) runs the cells
`helpers.program` chose and, when asked, says what an answer name holds or calls the
student's function on arguments sent from here. Every verdict is computed in this
process by the exercise's own test, on those data: the test calls a stand-in that
forwards each call to the student's process and returns what came back, so nothing
the student's code does can reach this process's code or state. Each exercise has a
time limit; when it runs out, or the student's process dies, that exercise is
"timeout" or "crashed", a fresh sandbox re-runs what came before, and grading goes on.
"""
from __future__ import annotations

import builtins
import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers import wire
from helpers.exercises import WRONG, Answer, UsedCourseHelper, Verdict, exercises, judge
from helpers.exercises.core import is_stub
from helpers.program import CHECK, Step
from helpers.sandbox import Limits, Sandbox

TIMEOUT, CRASHED = "timeout", "crashed"
START_SECONDS = 120.0  # for the student's process to start (Python, torch and the course's helpers)
COURSE_SECONDS = 300.0  # for all the course's own cells together


class ChildFailed(BaseException):
    """The student's process did not answer in time (TIMEOUT) or died (CRASHED).

    A BaseException: an exercise's test must not turn it into a hint.
    """

    def __init__(self, status: str, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Child:
    """The student's process in its sandbox, and the channel to it."""

    def __init__(self, kind: str | None, release: Path, limits: Limits, slot: int):
        self.sandbox = Sandbox(kind, release, limits, slot)
        self.process = None

    def start(self) -> None:
        self.process = self.sandbox.start([sys.executable, "-m", "helpers.submission"])
        self._expect(self._receive(time.monotonic() + START_SECONDS), "ready")

    def stop(self) -> None:
        self.sandbox.stop()
        self.process = None

    def request(self, message: dict, deadline: float) -> dict:
        """The reply to `message`, by `deadline`; raises ChildFailed."""
        try:
            wire.send(self.process.stdin.fileno(), message, deadline)
        except wire.TimedOut:
            raise ChildFailed(TIMEOUT, "the student's process stopped reading") from None
        except (OSError, ValueError):
            raise ChildFailed(CRASHED, self._why_dead()) from None
        reply = self._receive(deadline)
        if not isinstance(reply, dict):
            raise ChildFailed(CRASHED, "the student's process sent something that is not a reply")
        return reply

    def _receive(self, deadline: float):
        try:
            return wire.receive(self.process.stdout.fileno(), deadline)
        except wire.TimedOut:
            raise ChildFailed(TIMEOUT, "no answer in time") from None
        except (wire.Closed, OSError):
            raise ChildFailed(CRASHED, self._why_dead()) from None
        except wire.WireError as err:
            raise ChildFailed(CRASHED, f"the student's process sent malformed data ({err})") from None

    def _expect(self, reply, key: str) -> None:
        if not (isinstance(reply, dict) and reply.get(key) is True):
            raise ChildFailed(CRASHED, "the student's process did not start")

    def _why_dead(self) -> str:
        try:
            code = self.process.wait(5)
        except Exception:
            code = None
        tail = " | ".join(self.sandbox.stderr_tail().strip().splitlines()[-2:])
        return f"the student's process ended (exit code {code})" + (f": {tail}" if tail else "")


# --- the stand-in for a student's function ------------------------------------------------

def _exception(name, message) -> Exception:
    """An exception like the one the student's function raised, from its type name and message."""
    name = name if isinstance(name, str) and name.isidentifier() and len(name) < 80 else "Exception"
    message = message if isinstance(message, str) else ""
    known = getattr(builtins, name, None)
    if isinstance(known, type) and issubclass(known, Exception):
        try:
            return known(message)
        except TypeError:  # e.g. UnicodeDecodeError wants five arguments
            pass
    return type(name, (Exception,), {})(message)


def _update(arg, after) -> None:
    """Make `arg` (an argument this process passed) what the student's function left it as."""
    import torch
    if isinstance(arg, np.ndarray) and isinstance(after, np.ndarray) and after.shape == arg.shape:
        arg[...] = after
    elif isinstance(arg, np.random.Generator) and isinstance(after, np.random.Generator):
        arg.bit_generator.state = after.bit_generator.state
    elif isinstance(arg, list) and isinstance(after, list):
        if len(arg) == len(after):
            for index, (item, new) in enumerate(zip(arg, after)):
                if isinstance(item, (np.ndarray, list, dict, torch.Tensor, torch.nn.Module)):
                    _update(item, new)
                else:
                    arg[index] = new
        else:
            arg[:] = after
    elif isinstance(arg, dict) and isinstance(after, dict):
        arg.clear()
        arg.update(after)
    elif isinstance(arg, torch.Tensor) and isinstance(after, torch.Tensor) and after.shape == arg.shape:
        with torch.no_grad():
            arg.copy_(after)
    elif isinstance(arg, torch.nn.Module) and type(after) is type(arg):
        arg.__dict__.update(after.__dict__)


def _set_random_states(reply: dict) -> None:
    """Take over the random states the call left (as if it had run here), when they are valid."""
    import torch
    with contextlib.suppress(Exception):
        state = reply.get("torch_rng")
        if isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.shape == torch.get_rng_state().shape:
            torch.set_rng_state(state)
    with contextlib.suppress(Exception):
        np.random.set_state(reply.get("numpy_rng"))


def stand_in(child: Child, exercise_id: str, name: str, deadline: float):
    """A function that calls the student's `name` in `child` and returns (a copy of) what it returned."""
    import torch
    guarded = exercises()[exercise_id].guard is not None  # a report from the sandbox means nothing otherwise

    def function(*args):
        reply = child.request({"op": "call", "name": name, "args": list(args), "exercise": exercise_id,
                               "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()}, deadline)
        _set_random_states(reply)
        after = reply.get("args")
        if isinstance(after, list) and len(after) == len(args):
            for arg, new in zip(args, after):
                _update(arg, new)
        if reply.get("used_helper") is True and guarded:
            raise UsedCourseHelper
        if "raised" in reply:
            raised = reply["raised"]
            raise _exception(*(raised if isinstance(raised, list) and len(raised) == 2 else ("Exception", "")))
        if "unsendable" in reply:
            raise TypeError(f"your function returned {reply['unsendable']}, which the grader cannot read")
        same = reply.get("same_as_arg")
        if type(same) is int and 0 <= same < len(args):
            return args[same]
        return reply.get("result")

    function.__name__ = function.__qualname__ = name
    return function


def answer(child: Child, exercise, deadline: float) -> Answer | str:
    """The student's answer to `exercise` as an Answer, or a hint when it cannot be read."""
    facts = child.request({"op": "inspect", "name": exercise.answer}, deadline)
    if facts.get("present") is not True:
        return Answer(False)
    if facts.get("callable") is True:
        return Answer(True, stand_in(child, exercise.id, exercise.answer, deadline),
                      facts.get("stub") is True, facts.get("no_value") is True)
    if "unsendable" in facts:
        return (f"`{exercise.answer}` holds {str(facts['unsendable'])[:200]}, which the grader cannot read: "
                "give a number, a string, a list, a dict or an array.")
    value = facts.get("value")
    return Answer(True, value, is_stub(value), False)


# --- one submission -----------------------------------------------------------------------

@dataclass
class Outcome:
    """What grading one submission found: a Verdict or TIMEOUT/CRASHED per exercise, and notes."""
    verdicts: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)  # exercise id -> (TIMEOUT or CRASHED, detail)
    errors: list = field(default_factory=list)  # cells that raised
    notes: list = field(default_factory=list)


def run(steps: list[Step], kind: str | None, release: Path, timeout: float, seed: int, slot: int = 0,
        limits: Limits = Limits(), max_restarts: int = 12) -> Outcome:
    """Run `steps` in sandboxes (a fresh one after each failure); judge each CHECK here."""
    import torch
    outcome = Outcome()
    registry = exercises()
    done: list[Step] = []  # the cells that ran without killing the process, to re-run after a restart
    child, restarts = None, 0
    deadlines: dict[str, float] = {}
    course_deadline = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic whatever --jobs, and one core per job
    try:
        for step in steps:
            if step.exercise in outcome.failed:
                continue
            if child is None:
                restarts += 1
                try:
                    if restarts > max_restarts:
                        raise ChildFailed(CRASHED, f"the sandbox was restarted {max_restarts} times")
                    child, course_deadline = _fresh(kind, release, limits, slot, done), None
                except ChildFailed as failure:
                    if step.exercise is None:
                        outcome.notes.append(one_line(f"a course cell was not run: {failure.detail}"))
                    else:
                        outcome.failed[step.exercise] = (failure.status, one_line(failure.detail, 160))
                    continue
            if step.exercise is not None and step.exercise not in deadlines:
                deadlines[step.exercise] = time.monotonic() + timeout
            if course_deadline is None:
                course_deadline = time.monotonic() + COURSE_SECONDS
            deadline = deadlines.get(step.exercise, course_deadline)
            try:
                if step.kind == CHECK:
                    exercise = registry[step.exercise]
                    outcome.verdicts[step.exercise] = _judge(child, exercise, deadline, seed)
                else:
                    reply = child.request({"op": "run", "source": step.source}, deadline)
                    if isinstance(reply.get("error"), str):
                        outcome.errors.append(one_line(f"{step.exercise or 'course cell'}: {reply['error']}", 160))
                    done.append(step)
            except ChildFailed as failure:
                child.stop()
                child = None
                if step.exercise is None:
                    outcome.notes.append(one_line(f"a course cell {failure.status}: {failure.detail}"))
                    continue
                outcome.failed[step.exercise] = (failure.status, one_line(failure.detail, 160))
                done = [s for s in done if s.exercise != step.exercise]
    finally:
        if child is not None:
            child.stop()
        torch.set_num_threads(threads)
    return outcome


def _fresh(kind, release, limits, slot, done: list[Step]) -> Child:
    """A new student's process with `done` run in it again."""
    child = Child(kind, release, limits, slot)
    try:
        child.start()
        deadline = time.monotonic() + COURSE_SECONDS + 60 * len(done)
        for step in done:
            child.request({"op": "run", "source": step.source}, deadline)
    except ChildFailed:
        child.stop()
        raise
    return child


def _judge(child: Child, exercise, deadline: float, seed: int) -> Verdict:
    got = answer(child, exercise, deadline)
    if isinstance(got, str):
        return Verdict(exercise.id, exercise.title, WRONG, got)
    # The hidden cases' inputs: the grader's seed, the exercise, nothing the student can choose.
    rng = np.random.default_rng([seed, *map(int, exercise.id.split("."))])
    try:
        return judge(exercise, got, rng)
    except UsedCourseHelper:  # a test that does not expect it: the answer did what its exercise forbids
        return Verdict(exercise.id, exercise.title, WRONG, "Your answer calls what this exercise asks you to write.")


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line of printable characters, at most `limit` long: safe in a CSV cell and a log."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


