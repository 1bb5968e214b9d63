"""Which cells a submission runs, in which order, and for which exercise.

The course's own cells come from the course's copy of the notebook, never from the
submission; from the submission come its exercise cells and the cells the student
added (any code cell that is neither an exercise cell, a check cell nor a copy of a
course cell). Each added cell keeps its place after the course cell it followed and
belongs to the exercise whose check comes next. Of the course's cells only those
run that define a name the student's code uses (or that those cells use in turn), so
a submission does not re-run the notebook's training and figures; a student cell
that reaches names dynamically (`eval`, `globals()`, magics) makes every course cell run.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

COURSE, STUDENT, CHECK = "course", "student", "check"
DYNAMIC = {"eval", "exec", "globals", "locals", "vars", "get_ipython", "__import__", "importlib", "__builtins__"}
CHECK_CALL = re.compile(r"""\s*check\(\s*["'](\d\d\.\d+)["']\s*\)\s*""")


@dataclass(frozen=True)
class Step:
    """One thing to do: run a cell (course's or student's) or judge an exercise (CHECK).

    `exercise` is the exercise a student's cell or a check belongs to (None for course cells).
    """
    kind: str
    source: str = ""
    exercise: str | None = None


def _check_id(cell) -> str | None:
    match = CHECK_CALL.fullmatch(cell.source)
    if match and "check" in cell.get("metadata", {}).get("tags", []):
        return match.group(1)
    return None


def _plain(source: str) -> str:
    """A cell's Python, with IPython's magics turned into the calls they stand for."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def names(source: str) -> tuple[set, set, bool]:
    """(names a cell binds, names it reads from the notebook's namespace, whether it reaches names dynamically).

    A name a function or comprehension binds for itself (a parameter, a local) is not read
    from the namespace; over-counting is harmless (a course cell runs that need not).
    """
    try:
        tree = ast.parse(_plain(source))
    except (SyntaxError, ValueError):
        return set(), set(), True  # whatever it is, run everything rather than guess
    bound, read = set(), set()
    for node in tree.body:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)) and any(a.name == "*" for a in sub.names):
                return bound, read, True
        bound |= _bound_at_top(node)
    read = _free(tree, frozenset())
    dynamic = bool((read | bound) & DYNAMIC)  # magics and shell escapes became get_ipython() calls
    return bound, read - set(dir(builtins)), dynamic


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
          ast.GeneratorExp)


def _bound_at_top(node) -> set:
    """The names a top-level statement binds in the namespace (not inside functions it defines)."""
    bound = set()
    stack = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(sub.name)
            continue
        if isinstance(sub, SCOPES):
            continue
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            bound.add(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in sub.names}
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            bound |= set(sub.names)
        stack.extend(ast.iter_child_nodes(sub))
    return bound


def _local(scope) -> set:
    """The names a function or comprehension binds for itself."""
    local = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = scope.args
        local |= {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
        local |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        body = scope.body if isinstance(scope.body, list) else [scope.body]
    else:
        body = scope.generators
    declared_global = set()
    for node in body:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Global):
                declared_global |= set(sub.names)
        local |= _bound_at_top(node) if isinstance(node, ast.stmt) else set()
    if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        local |= {n.id for g in scope.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    return local - declared_global


def _free(node, local: frozenset) -> set:
    """The names `node` reads that are not bound by an enclosing function or comprehension."""
    if isinstance(node, SCOPES):
        inner = local | _local(node)
        free = set()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # defaults and decorators: outer scope
            for outer in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if outer is not None:
                    free |= _free(outer, local)
            for statement in node.body:
                free |= _free(statement, frozenset(inner))
            return free
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.arguments):
                free |= _free(child, frozenset(inner))
        return free
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) and node.id not in local else set()
    if isinstance(node, ast.Attribute) and node.attr in DYNAMIC:
        return {node.attr} | _free(node.value, local)
    free = set()
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id not in local:
        free.add(node.target.id)  # `c += 1` reads c first
    for child in ast.iter_child_nodes(node):
        free |= _free(child, local)
    return free


def program(course_nb, submitted_nb) -> tuple[list[Step], list[str]]:
    """(the steps that grade `submitted_nb` against `course_nb`, notes for the TA)."""
    course_sources = {cell.source.strip() for cell in course_nb.cells if cell.cell_type == "code"}
    anchors: dict[int, list[str]] = {}  # course cell index -> the student's cells after it
    position = -1
    course_index = {("exercise", c.metadata["exercise"]): i for i, c in enumerate(course_nb.cells)
                    if c.cell_type == "code" and "exercise" in c.get("metadata", {})}
    course_index.update({("check", _check_id(c)): i for i, c in enumerate(course_nb.cells)
                         if c.cell_type == "code" and _check_id(c)})
    by_source = {c.source.strip(): i for i, c in enumerate(course_nb.cells) if c.cell_type == "code"}
    answers = {}
    for cell in submitted_nb.cells:
        if cell.cell_type != "code":
            continue
        exercise_id = cell.get("metadata", {}).get("exercise")
        if exercise_id is not None and ("exercise", exercise_id) in course_index:
            answers[exercise_id] = cell.source
            position = course_index[("exercise", exercise_id)]
        elif _check_id(cell) and ("check", _check_id(cell)) in course_index:
            position = course_index[("check", _check_id(cell))]
        elif cell.source.strip() in course_sources:
            position = by_source[cell.source.strip()]
        elif cell.source.strip():
            anchors.setdefault(position, []).append(cell.source)
    steps: list[Step] = []
    pending: list[Step] = []  # the student's cells whose exercise is not known until the next check
    for index in range(-1, len(course_nb.cells)):
        if index >= 0:
            cell = course_nb.cells[index]
            if cell.cell_type == "code":
                exercise_id, check_id = cell.get("metadata", {}).get("exercise"), _check_id(cell)
                if exercise_id is not None:
                    pending.append(Step(STUDENT, answers.get(exercise_id, cell.source)))
                elif check_id is not None:
                    steps += [Step(STUDENT, s.source, check_id) for s in pending] + [Step(CHECK, "", check_id)]
                    pending = []
                else:
                    steps.append(Step(COURSE, cell.source))
        pending += [Step(STUDENT, source) for source in anchors.get(index, [])]
    notes = [f"{len(pending)} cell(s) after the last check were not run"] if pending else []
    return _needed_only(steps), notes


def _needed_only(steps: list[Step]) -> list[Step]:
    """`steps` without the course cells that nothing the student wrote needs."""
    wanted, dynamic = set(), False
    for step in steps:
        if step.kind == STUDENT:
            _, read, reaches = names(step.source)
            wanted |= read
            dynamic |= reaches
    if dynamic:
        return steps
    keep = set()
    for index in reversed(range(len(steps))):
        step = steps[index]
        if step.kind == COURSE:
            bound, read, _ = names(step.source)
            if bound & wanted:
                keep.add(index)
                wanted |= read
    return [step for index, step in enumerate(steps) if step.kind != COURSE or index in keep]
