"""helpers.program: which cells a submission runs, in which order, for which exercise."""
from pathlib import Path

import nbformat
import pytest

from helpers.program import CHECK, COURSE, STUDENT, names, program

ROOT = Path(__file__).resolve().parents[1]
COURSE_01 = nbformat.read(ROOT / "notebooks" / "01_chain_rule.ipynb", as_version=4)


def submission(insert: dict | None = None, answers: dict | None = None, edit: dict | None = None):
    """Notebook 01 as a student saved it: `answers` in exercise cells, new cells after cell index k
    (`insert` {k: [sources]}), course cells at index k replaced (`edit` {k: source})."""
    nb = nbformat.from_dict(nbformat.v4.upgrade(nbformat.reads(nbformat.writes(COURSE_01), as_version=4)))
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("exercise") in (answers or {}):
            cell.source = answers[cell.metadata["exercise"]]
    for k, source in (edit or {}).items():
        nb.cells[k].source = source
    for k in sorted(insert or {}, reverse=True):
        for source in reversed(insert[k]):
            nb.cells.insert(k + 1, nbformat.v4.new_code_cell(source))
    return nb


def index_of(exercise_id: str) -> int:
    return next(k for k, c in enumerate(COURSE_01.cells) if c.metadata.get("exercise") == exercise_id)


def test_the_course_cells_the_answers_do_not_need_are_left_out():
    steps, notes = program(COURSE_01, submission(answers={"01.3": "guess_product_of_ten = 1e-6"}))
    kinds = [(s.kind, s.exercise) for s in steps if s.kind != COURSE]
    assert kinds == [(STUDENT, "01.1"), (CHECK, "01.1"), (STUDENT, "01.2"), (CHECK, "01.2"),
                     (STUDENT, "01.3"), (CHECK, "01.3")]
    course = [s.source for s in steps if s.kind == COURSE]
    # the starter cells import what they need; the notebook's figures and training are not re-run
    assert len(course) < sum(c.cell_type == "code" for c in COURSE_01.cells) - 6 and not notes


def test_a_cell_the_student_added_runs_with_the_exercise_whose_check_follows_and_pulls_in_what_it_uses():
    helper = "def helper(z):\n    return person.sum() * z"
    steps, _ = program(COURSE_01, submission(insert={index_of("01.2") - 1: [helper]}))
    mine = next(k for k, s in enumerate(steps) if s.source == helper)
    assert steps[mine].kind == STUDENT and steps[mine].exercise == "01.2"
    defines_person = [k for k, s in enumerate(steps) if s.kind == COURSE and "person = " in s.source]
    assert defines_person and defines_person[0] < mine


def test_an_edited_course_cell_is_the_students_and_the_course_copy_still_comes_from_the_course():
    k = next(k for k, c in enumerate(COURSE_01.cells) if c.cell_type == "code" and c.source.startswith("import"))
    steps, _ = program(COURSE_01, submission(edit={k: COURSE_01.cells[k].source + "\nimport os"}))
    assert sum(s.source == COURSE_01.cells[k].source and s.kind == COURSE for s in steps) == 1
    assert sum(s.source.endswith("import os") and s.kind == STUDENT for s in steps) == 1


def test_cells_after_the_last_check_do_not_run_and_the_ta_is_told():
    steps, notes = program(COURSE_01, submission(insert={len(COURSE_01.cells) - 1: ["x = 1", "y = 2"]}))
    assert not [s for s in steps if s.source in ("x = 1", "y = 2")]
    assert notes == ["2 cell(s) after the last check were not run"]


def test_code_that_reaches_names_dynamically_makes_every_course_cell_run():
    steps, _ = program(COURSE_01, submission(insert={0: ["z = globals()['person']"]}))
    n_course = sum(c.cell_type == "code" and "exercise" not in c.metadata and "check" not in c.metadata.get("tags", [])
                   for c in COURSE_01.cells)
    assert sum(s.kind == COURSE for s in steps) == n_course


@pytest.mark.parametrize("source, bound, read, dynamic", [
    ("def f(x):\n    y = x + z\n    return [i * w for i in y]", {"f"}, {"z", "w"}, False),
    ("import numpy as np\nfrom a.b import c as d", {"np", "d"}, set(), False),
    ("a = b\nfor i in range(3):\n    c += i", {"a", "i", "c"}, {"b", "c"}, False),
    ("%time x = 1", set(), {"get_ipython"}, True),
    ("!ls", set(), {"get_ipython"}, True),
    ("eval('x')", set(), set(), True),
    ("from os import *", set(), set(), True),
    ("def (", set(), set(), True),
])
def test_names_bound_read_and_dynamic(source, bound, read, dynamic):
    got_bound, got_read, got_dynamic = names(source)
    assert got_dynamic == dynamic
    if not dynamic or source.startswith("%") or source.startswith("!") or source.startswith("eval"):
        assert bound <= got_bound and read <= got_read | {"get_ipython"}
    if source.startswith("def f"):
        assert got_read == read  # x, y and i are the function's own
