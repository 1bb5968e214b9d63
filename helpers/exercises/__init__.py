"""Exercises with instant feedback: "not attempted yet", "not yet" with a hint, or "correct".

In a notebook, an exercise is two cells. The first (tagged "exercise", with the
exercise id in its metadata) holds the student's code: a function with an empty
body or a name set to `...`. The second asks for feedback:

    check("01.1")

`check` finds the answer by name in the notebook's namespace, runs the exercise's
test on it and shows the verdict. It never raises: a missing name, a function
that raises or returns nonsense are all verdicts, so "Run All" always reaches the
end of the notebook. The grader (helpers.grading) judges with the same tests, on data.
"""
from __future__ import annotations

from helpers.exercises.core import (CORRECT, NOT_ATTEMPTED, WRONG, Answer, Exercise, UsedCourseHelper, Verdict,
                                    answer_of, check, evaluate, exercises, judge)

__all__ = ["CORRECT", "NOT_ATTEMPTED", "WRONG", "Answer", "Exercise", "UsedCourseHelper", "Verdict", "answer_of",
           "check", "evaluate", "exercises", "judge"]
