"""Homework for instructors: a student release, notebooks with the solutions, and a grader.

    python -m helpers.grading release DEST      # the course as students get it, without solutions
    python -m helpers.grading solutions DEST    # the notebooks with the reference solutions filled in
    python -m helpers.grading grade FOLDER [--out grades.csv] [--timeout 300]

An exercise is a code cell with its id in `metadata["exercise"]` ("01.1": notebook 01)
followed by a check cell `check("01.1")`. The reference solutions are blocks of
solutions/solutions.py, each a line `# %% 01.1` and then the solved cell.

Each submission is graded in a process of its own, with a time limit and no network:
the exercise cells of the submission are put into the course's own copy of its
notebook, and every cell runs in order, carrying on past cells that raise.
"""
from __future__ import annotations

import argparse
import ast
import copy
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import nbformat

from helpers.exercises import CORRECT, NOT_ATTEMPTED, WRONG, results

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = Path("solutions") / "solutions.py"
RELEASED = ("README.md", "requirements.txt", "pyproject.toml", "course.py", "helpers", "data", "docs", "notebooks")
NOT_RELEASED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
EXERCISE_ID = re.compile(r"\d\d\.\d+")
BLOCK_START = "# %% "
# Shorter lines ("return s", "x = 0") are everyday code, not a sign of a leaked solution.
MIN_SOLUTION_LINE = 8
COMMENT = re.compile(r"(^|\s)#.*")  # crude ("#" in a string), but the same for solutions and files
RESULT_PREFIX = "GRADING-RESULT "
FIXED_COLUMNS = ("submission", "status", "score", "max_score")
STATUSES = (CORRECT, WRONG, NOT_ATTEMPTED)
NETWORK_DISABLED = "network access is disabled while grading"


# --- notebooks and solutions ------------------------------------------------------------

def load_solutions(path) -> dict[str, str]:
    """The reference solutions by exercise id, from blocks `# %% <id>` + the solved cell's source."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no solutions file at {path}")
    blocks: dict[str, list[str]] = {}
    current = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(BLOCK_START):
            current = line[len(BLOCK_START):].strip()
            if not EXERCISE_ID.fullmatch(current):
                raise ValueError(f"{path}:{number}: {line!r} does not name an exercise id such as 01.1")
            if current in blocks:
                raise ValueError(f"{path}:{number}: exercise {current} has a second solution block")
            blocks[current] = []
        elif current is not None:  # lines before the first block are the file's docstring
            blocks[current].append(line)
    if not blocks:
        raise ValueError(f"{path} holds no solution blocks (a line '# %% 01.1', then the solved cell)")
    solutions = {exercise_id: "\n".join(lines).strip("\n") for exercise_id, lines in blocks.items()}
    empty = [exercise_id for exercise_id, source in solutions.items() if not source.strip()]
    if empty:
        raise ValueError(f"{path}: empty solution block for {', '.join(empty)}")
    return solutions


def exercise_cells(nb) -> dict:
    """The exercise cells of a notebook by exercise id, in notebook order."""
    cells = {}
    for cell in nb.cells:
        exercise_id = cell.get("metadata", {}).get("exercise")
        if cell.cell_type != "code" or exercise_id is None:
            continue
        if exercise_id in cells:
            raise ValueError(f"exercise {exercise_id} has more than one exercise cell")
        cells[exercise_id] = cell
    return cells


def fill(nb, sources: dict[str, str]):
    """A copy of `nb` whose exercise cells hold `sources` (by id); ids not in the notebook are ignored."""
    filled = copy.deepcopy(nb)
    for exercise_id, cell in exercise_cells(filled).items():
        if exercise_id in sources:
            cell.source = sources[exercise_id]
    return filled


def clear_exercise_outputs(nb) -> int:
    """Clear the outputs of the exercise and check cells of `nb` in place; return how many cells."""
    cells = [cell for cell in nb.cells
             if cell.cell_type == "code" and ("exercise" in cell.metadata or "check" in cell.metadata.get("tags", []))]
    for cell in cells:
        cell.outputs, cell.execution_count = [], None
    return len(cells)


def course_notebooks(root) -> dict[str, Path]:
    """The course notebooks of `root` by number ("01" -> notebooks/01_chain_rule.ipynb)."""
    return {path.name[:2]: path for path in sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def id_order(exercise_id: str) -> tuple:
    """Sort key that puts 01.10 after 01.9."""
    return tuple(int(part) for part in exercise_id.split("."))


# --- finding solution code ---------------------------------------------------------------

def solution_lines(solution: str) -> set[str]:
    """The lines of a solution that give it away, as `code_of` them.

    A starter cell keeps the solution's imports, `def` lines and docstrings and puts
    `...` for the rest, so those lines are left out, as are comments and short lines.
    """
    try:
        tree = ast.parse(solution)
    except SyntaxError as err:
        raise ValueError(f"a solution does not parse (line {err.lineno}: {err.msg}):\n{solution}") from None
    shared = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            shared.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
            shared.update(range(first, node.body[0].lineno))
            if ast.get_docstring(node) is not None:
                shared.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    lines = (code_of(line) for number, line in enumerate(solution.splitlines(), 1) if number not in shared)
    return {line for line in lines if len(line) >= MIN_SOLUTION_LINE}


def solutions_in(lines: set[str], distinctive: dict[str, set[str]], every_line: bool) -> list[str]:
    """What `lines` (`code_lines`) hold of the solutions, given each one's `solution_lines`.

    With `every_line`, only whole solutions count: the course's own helpers may well
    share a line with a solution (the same QR step), a leaked solution brings all of them.
    """
    found = []
    for exercise_id, wanted in distinctive.items():
        shared = wanted & lines
        if shared and (shared == wanted or not every_line):
            found.append(f"{'the solution' if shared == wanted else 'a line'} of {exercise_id}: "
                         + "; ".join(sorted(shared)))
    return found


def code_of(line: str) -> str:
    """A line without indentation and comment, so a copy with other comments still matches."""
    return COMMENT.sub("", line).strip()


def code_lines(text: str) -> set[str]:
    return {code_of(line) for line in text.splitlines()}


def _strings(value) -> Iterator[str]:
    """Every string inside parsed JSON."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def file_lines(path: Path) -> set[str]:
    """The `code_lines` of a text file; of a notebook, of every source and output in it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:  # an image or other binary file cannot hold a line of code
        return set()
    if path.suffix == ".ipynb":
        text = "\n".join(_strings(json.loads(text)))
    return code_lines(text)


# --- release and solution notebooks ------------------------------------------------------

def _empty_folder(dest) -> Path:
    """`dest`, created; refuse a file or a folder that holds anything."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} exists and is not an empty folder; choose a new one")
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def release(dest, root=PROJECT_ROOT) -> str:
    """Write the course as students get it to `dest`: no solutions, tests or benchmarks.

    Outputs of exercise and check cells are cleared. Refuses when an exercise cell of
    the course still holds solution code, and checks every released file for it after.
    """
    root = Path(root)
    distinctive = {exercise_id: solution_lines(solution)
                   for exercise_id, solution in load_solutions(root / SOLUTIONS).items()}
    held = [f"{path.relative_to(root).as_posix()}, exercise cell {exercise_id}: {found}"
            for path in course_notebooks(root).values()
            for exercise_id, cell in exercise_cells(nbformat.read(path, as_version=4)).items()
            for found in solutions_in(code_lines(cell.source), distinctive, every_line=False)]
    if held:
        raise ValueError("exercise cells hold solution code; put the starter code back first:\n  "
                         + "\n  ".join(held))
    dest = _empty_folder(dest)
    for name in RELEASED:
        if (root / name).is_dir():
            shutil.copytree(root / name, dest / name, ignore=NOT_RELEASED)
        elif (root / name).is_file():
            shutil.copy2(root / name, dest / name)
    cleared = 0
    for path in course_notebooks(dest).values():
        nb = nbformat.read(path, as_version=4)
        cleared += clear_exercise_outputs(nb)
        nbformat.write(nb, path)
    files = sorted(path for path in dest.rglob("*") if path.is_file())
    leaks = [f"{path.relative_to(dest).as_posix()}: {found}" for path in files
             for found in solutions_in(file_lines(path), distinctive, every_line=True)]
    if leaks:
        shutil.rmtree(dest)
        dest.mkdir()
        raise ValueError(f"released files held solution lines, so {dest} was emptied again:\n  " + "\n  ".join(leaks))
    return (f"Released {len(files)} files to {dest} ({len(course_notebooks(dest))} notebooks, outputs of "
            f"{cleared} exercise and check cells cleared); none of the {len(distinctive)} solutions in them.")


def solutions_notebooks(dest, root=PROJECT_ROOT) -> str:
    """Write the course notebooks with the reference solutions filled in to `dest`/notebooks (not run)."""
    root = Path(root)
    solutions = load_solutions(root / SOLUTIONS)
    folder = _empty_folder(dest) / "notebooks"
    folder.mkdir()
    filled = []
    for path in course_notebooks(root).values():
        nb = nbformat.read(path, as_version=4)
        filled += [exercise_id for exercise_id in exercise_cells(nb) if exercise_id in solutions]
        nb = fill(nb, solutions)
        clear_exercise_outputs(nb)
        nbformat.write(nb, folder / path.name)
    unused = sorted(set(solutions) - set(filled), key=id_order)
    return (f"Wrote {len(course_notebooks(root))} notebooks with {len(filled)} solutions to {folder}"
            + (f"; solutions with no exercise cell: {', '.join(unused)}" if unused else ""))


# --- grading: the parent ----------------------------------------------------------------

def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line of printable characters, at most `limit` long: safe in a CSV cell and a log."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def prepare(path: Path, pristine: dict[str, Path]) -> tuple:
    """(the course notebook with the submission's answers, its exercise ids), or (None, [], reason)."""
    try:
        submitted = nbformat.read(path, as_version=4)
        # Extra keys are tolerated, as Jupyter does: cell ids in a 4.4 notebook, for one.
        nbformat.validate(submitted, relax_add_props=True)
        answers = {exercise_id: cell.source for exercise_id, cell in exercise_cells(submitted).items()}
        numbers = sorted({str(exercise_id)[:2] for exercise_id in answers})
    except Exception as err:  # whatever is wrong with a student's file makes it invalid, not the run
        return None, [], one_line(f"not a valid notebook: {type(err).__name__}: {err}")
    if not numbers:
        return None, [], "no exercise cells (cells with an exercise id in their metadata)"
    if len(numbers) > 1 or numbers[0] not in pristine:
        return None, [], one_line(f"exercises {', '.join(map(str, answers))} do not belong to one course notebook")
    course = nbformat.read(pristine[numbers[0]], as_version=4)
    return fill(course, answers), list(exercise_cells(course)), ""


def _child_env() -> dict:
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path, PYTHONIOENCODING="utf-8")


def _kill_group(process: subprocess.Popen) -> None:
    """Stop the child and anything it started (the student's code may have started processes)."""
    if os.name == "nt":
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True)
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # the group has already gone
            pass
    process.wait()


def _tail(file, size: int = 65536) -> str:
    """The last `size` bytes of an open file, as text: a student may print without limit."""
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - size))
    return file.read().decode("utf-8", errors="replace")


def run_submission(nb, timeout: float, root) -> tuple[str, dict, str]:
    """Run a prepared notebook in a new process: (status, {id: verdict}, detail)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "submission.ipynb"
        nbformat.write(nb, path)
        with open(Path(tmp) / "stdout", "w+b") as out, open(Path(tmp) / "stderr", "w+b") as err:
            group = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"
                     else {"start_new_session": True})
            process = subprocess.Popen([sys.executable, "-m", "helpers.grading", "run-one", str(path)],
                                       cwd=Path(root) / "notebooks", env=_child_env(), stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=err, **group)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
            _kill_group(process)
            stdout, stderr = _tail(out), _tail(err)
    if code is None:
        return "timeout", {}, f"still running after {timeout:g} s, stopped"
    result = _last_result(stdout)
    if code != 0 or result is None:
        last = " | ".join(stderr.strip().splitlines()[-3:])
        return "crashed", {}, one_line(f"exit code {code}" + (f": {last}" if last else ""))
    return "graded", result["verdicts"], one_line("; ".join(map(str, result["errors"])))


def _last_result(stdout: str) -> dict | None:
    """The child's result line: the last one, as a student may print anything before it."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                result = json.loads(line[len(RESULT_PREFIX):])
                return result if isinstance(result.get("verdicts"), dict) else None
            except (ValueError, AttributeError):
                return None
    return None


def grade(submissions_dir, out_csv, timeout: float = 300.0, root=PROJECT_ROOT,
          log: Callable[[str], None] | None = None) -> list[dict]:
    """Grade every *.ipynb in `submissions_dir` into `out_csv`, a row written as each finishes.

    Columns: submission, status (graded, timeout, crashed, invalid), score, max_score,
    one per exercise id ('correct', 'wrong', 'not attempted'; empty when the run did
    not finish or the exercise was not checked), detail.
    """
    folder = Path(submissions_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no *.ipynb files in {folder}")
    pristine = course_notebooks(root)
    prepared = [prepare(path, pristine) for path in paths]  # first, so the header knows every exercise
    ids = sorted({exercise_id for _, notebook_ids, _ in prepared for exercise_id in notebook_ids}, key=id_order)
    rows = []
    with open(out_csv, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, [*FIXED_COLUMNS, *ids, "detail"])
        writer.writeheader()
        for path, (nb, notebook_ids, reason) in zip(paths, prepared):
            start = time.perf_counter()
            status, verdicts, detail = run_submission(nb, timeout, root) if nb else ("invalid", {}, reason)
            # Only this notebook's verdicts count: a student's cell may check other exercises.
            verdicts = {i: verdicts[i] for i in notebook_ids if verdicts.get(i) in STATUSES}
            unchecked = [i for i in notebook_ids if i not in verdicts] if status == "graded" else []
            if unchecked:
                detail = one_line(f"not checked: {', '.join(unchecked)}; {detail}")
            score = sum(verdict == CORRECT for verdict in verdicts.values())
            row = {"submission": path.name, "status": status, "score": score,
                   "max_score": len(notebook_ids) or "", **verdicts, "detail": detail}
            writer.writerow({column: row.get(column, "") for column in writer.fieldnames})
            file.flush()  # a later crash of the grader loses nothing already graded
            rows.append(row)
            if log:
                log(f"{path.name}: {status} {score}/{row['max_score'] or '-'} in "
                    f"{time.perf_counter() - start:.1f} s{'  ' + detail if detail else ''}")
    return rows


# --- grading: the child -----------------------------------------------------------------

def disable_network() -> None:
    """Make internet and local TCP connections fail in this process; Unix sockets still work."""
    def refuse(*args, **kwargs):
        raise OSError(NETWORK_DISABLED)

    class LocalOnlySocket(socket.socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            # A given fileno wraps a socket that exists already (accept, socketpair).
            if fileno is None and family != getattr(socket, "AF_UNIX", None):
                refuse()
            super().__init__(family, type, proto, fileno)

    socket.socket = LocalOnlySocket
    socket.create_connection = socket.getaddrinfo = refuse


def run_one(path) -> int:
    """Run every cell of the notebook at `path` here, then print the verdicts as a JSON line."""
    # Imported here: only the child needs IPython, and helpers.widgets brings in matplotlib.
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from helpers.widgets import set_live_mode

    nb = nbformat.read(path, as_version=4)
    set_live_mode("agg")
    disable_network()
    config = Config()
    config.HistoryManager.enabled = False  # no history database in the instructor's IPython folder
    shell = InteractiveShell.instance(config=config)
    errors = []
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code":
            continue
        outcome = shell.run_cell(cell.source)
        error = outcome.error_before_exec or outcome.error_in_exec
        if error is not None:  # like a student's buggy cell: note it and go on
            errors.append(one_line(f"cell {number} raised {type(error).__name__}: {error}", 120))
    verdicts = {exercise_id: verdict.status for exercise_id, verdict in results().items()}
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps({"verdicts": verdicts, "errors": errors}), file=sys.__stdout__, flush=True)
    return 0


# --- command line -----------------------------------------------------------------------

def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grading", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="write the student release to DEST").add_argument("dest")
    commands.add_parser("solutions", help="write the notebooks with solutions to DEST").add_argument("dest")
    grading = commands.add_parser("grade", help="grade every *.ipynb in FOLDER into a CSV file")
    grading.add_argument("folder")
    grading.add_argument("--out", default="grades.csv", help="the CSV file to write (default: grades.csv)")
    grading.add_argument("--timeout", type=float, default=300.0, help="seconds per submission (default: 300)")
    commands.add_parser("run-one", help="(internal) run one prepared notebook").add_argument("notebook")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            print(release(args.dest))
        elif args.command == "solutions":
            print(solutions_notebooks(args.dest))
        elif args.command == "grade":
            rows = grade(args.folder, args.out, args.timeout, log=lambda line: print(line, flush=True))
            print(f"Wrote {len(rows)} rows to {args.out}")
        else:
            # Exit at once: threads or exit handlers a student left behind must not hold the process.
            os._exit(run_one(args.notebook))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
