"""How fast the grader gets through a class: 30 submissions of one notebook, --jobs 1 and --jobs 2.

    python -m benchmarks.grading_throughput              # notebooks 01, 05 and 08
    python -m benchmarks.grading_throughput 08           # one notebook

A class is made from the reference solutions: a third of the submissions solved, a
third left blank, a third with every answer of the wrong kind (a function that returns
0, a guess of 1), so the grader meets right, missing and wrong answers as it would.
Each class is graded three times per --jobs setting (this machine's sandbox, a fixed
seed); the medians and their ratio go to benchmarks/results/grading_throughput.json.
Run it alone: the machine's two cores are what is measured.
"""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from helpers.exercises import exercises
from helpers.grading import course_notebooks, exercise_cells, fill, grade, load_solutions, sandboxes
from helpers.grading import PROJECT_ROOT, SOLUTIONS

OUT = Path(__file__).resolve().parent / "results" / "grading_throughput.json"
CLASS_SIZE, REPEATS = 30, 3


def wrong_answer(exercise_id: str, starter: str) -> str:
    """A cell that answers `exercise_id` wrongly: a function returning 0, or the guess 1."""
    name = exercises()[exercise_id].answer
    if f"def {name}(" in starter:
        return f"def {name}(*args, **kwargs):\n    return 0.0\n"
    return f"{name} = 1\n"


def make_class(number: str, folder: Path) -> None:
    """CLASS_SIZE submissions of notebook `number` in `folder`: solved, blank and wrong in turn."""
    course = nbformat.read(course_notebooks(PROJECT_ROOT)[number], as_version=4)
    solutions = load_solutions(PROJECT_ROOT / SOLUTIONS)
    cells = exercise_cells(course)
    wrong = {i: wrong_answer(i, cell.source) for i, cell in cells.items()}
    kinds = [fill(course, solutions), course, fill(course, wrong)]
    for k in range(CLASS_SIZE):
        nbformat.write(kinds[k % 3], folder / f"student_{k:02d}.ipynb")


def measure(number: str, jobs: int) -> float:
    """Seconds to grade one class of notebook `number` with `jobs` at once."""
    with tempfile.TemporaryDirectory() as tmp:
        make_class(number, Path(tmp))
        start = time.perf_counter()
        grade(tmp, Path(tmp) / "out" / "grades.csv", jobs=jobs, seed=0)
        return time.perf_counter() - start


def main(numbers: list[str]) -> None:
    report = {"class_size": CLASS_SIZE, "sandbox": sandboxes.available(), "notebooks": {}}
    for number in numbers:
        row = {}
        for jobs in (1, 2):
            times = [measure(number, jobs) for _ in range(REPEATS)]
            row[f"jobs_{jobs}"] = {"median_s": round(statistics.median(times), 1),
                                   "per_minute": round(60 * CLASS_SIZE / statistics.median(times), 1),
                                   "runs_s": [round(t, 1) for t in times]}
        row["ratio_jobs_1_to_2"] = round(row["jobs_1"]["median_s"] / row["jobs_2"]["median_s"], 2)
        report["notebooks"][number] = row
        print(f"notebook {number}: {CLASS_SIZE} submissions in {row['jobs_1']['median_s']} s with --jobs 1, "
              f"{row['jobs_2']['median_s']} s with --jobs 2 ({row['jobs_2']['per_minute']} per minute), "
              f"ratio {row['ratio_jobs_1_to_2']}", flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or ["01", "05", "08"])
