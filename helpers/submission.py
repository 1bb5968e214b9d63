"""The student's side of grading: run cells, say what a name holds, call the student's functions.

    python -m helpers.submission    (started by the grader, inside the sandbox)

It reads requests from its standard input and answers on its standard output, one
`helpers.wire` frame each; before any student code runs, both are moved to other
file descriptors and the usual ones point at a log file, so what a student prints
never mixes with the answers. Nothing here decides a verdict: the grader does,
from the data this process sends. Requests:

    {"op": "run", "source": str}                       -> {"error": str | None}
    {"op": "inspect", "name": str}                     -> {"present", "stub", "no_value", "callable", "value"?}
    {"op": "call", "name", "args": list, "exercise", "torch_rng", "numpy_rng"}
        -> {"result" | "same_as_arg": int | "raised": [type name, message], "used_helper": bool, "args": list,
            "torch_rng", "numpy_rng"}    (the arguments and random states after the call)
"""
from __future__ import annotations

import os
import sys
import traceback

from helpers import wire

LOG = "/tmp/submission-output.txt"


def _private_channel() -> tuple[int, int]:
    """(request fd, answer fd): stdin and stdout moved aside; fds 0-2 now /dev/null and the log."""
    requests, answers = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    log = os.open(LOG if os.path.isdir("/tmp") else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    return requests, answers


def _message(err: BaseException) -> str:
    return str(err)[:2000]


class Student:
    """The notebook's namespace and the student's functions in it."""

    def __init__(self):
        # Imported here: only this process needs IPython, and helpers.widgets brings in matplotlib.
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        from helpers.widgets import set_live_mode

        set_live_mode("agg")
        config = Config()
        config.HistoryManager.enabled = False
        self.shell = InteractiveShell.instance(config=config)

    def run(self, source: str) -> dict:
        outcome = self.shell.run_cell(source)
        error = outcome.error_before_exec or outcome.error_in_exec
        return {"error": None if error is None else f"{type(error).__name__}: {_message(error)}"}

    def inspect(self, name: str) -> dict:
        from helpers.exercises.core import is_stub, returns_no_value
        namespace = self.shell.user_ns
        if name not in namespace:
            return {"present": False}
        value = namespace[name]
        facts = {"present": True, "stub": bool(is_stub(value)), "callable": callable(value)}
        facts["no_value"] = bool(facts["callable"] and returns_no_value(value))
        if not facts["callable"]:
            try:
                wire.encode(value)
                facts["value"] = value
            except wire.Unsendable as err:
                facts["unsendable"] = str(err)
        return facts

    def call(self, request: dict) -> dict:
        import numpy as np
        import torch

        from helpers.exercises import exercises
        fn = self.shell.user_ns.get(request["name"])
        args = request["args"]
        torch.set_rng_state(request["torch_rng"])
        np.random.set_state(request["numpy_rng"])
        guard = exercises()[request["exercise"]].guard
        reply = {"used_helper": False}
        try:
            if guard is None:
                result = fn(*args)
            else:
                with guard() as calls:
                    try:
                        result = fn(*args)
                    finally:
                        reply["used_helper"] = bool(calls)
            same = [i for i, arg in enumerate(args) if arg is result]
            if same:  # e.g. the model it was given, changed in place
                reply["same_as_arg"] = same[0]
            else:
                reply["result"] = result
        except BaseException as err:  # whatever the student's function raised is part of the answer
            reply["raised"] = [type(err).__name__, _message(err)]
        reply.update(args=args, torch_rng=torch.get_rng_state(), numpy_rng=np.random.get_state())
        return reply


def _answer(student: Student, request: dict) -> dict:
    op = request.get("op") if isinstance(request, dict) else None
    if op == "run":
        return student.run(request["source"])
    if op == "inspect":
        return student.inspect(request["name"])
    if op == "call":
        return student.call(request)
    return {"error": f"unknown request {op!r}"}


def _send(fd: int, reply: dict) -> None:
    try:
        wire.send(fd, reply)
    except wire.Unsendable as err:  # e.g. the function returned an object of its own class
        wire.send(fd, {"unsendable": str(err)})


def main() -> None:
    requests, answers = _private_channel()
    student = Student()
    wire.send(answers, {"ready": True})
    while True:
        try:
            request = wire.receive(requests)
        except wire.Closed:
            break
        try:
            reply = _answer(student, request)
        except Exception:
            reply = {"error": traceback.format_exc(limit=3)[-2000:]}
        _send(answers, reply)
    # Exit at once: threads or exit handlers a student left behind must not hold the process.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
