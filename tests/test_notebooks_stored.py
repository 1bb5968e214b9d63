"""What is stored in the notebooks is what readers without a kernel see and what nbval compares.

nbval silently skips cells stored without outputs or execution counts, so a stripped
notebook would "pass" while checking nothing: these tests make that impossible.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MARKERS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_CHECK_OUTPUT", "NBVAL_RAISES_EXCEPTION")
LECTURE = ["00_start_here", "01_chain_rule", "02_sigmoid_saturation", "03_deep_network_vanishing",
           "04_backprop_through_time", "05_exploding_gradients", "06_lstm_gru", "07_remedies", "08_capstone"]


def code_cells(nb: dict) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def text_of(output: dict) -> str:
    text = output.get("text") or output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_lecture_notebooks_exist_in_order():
    assert [p.stem for p in NOTEBOOKS][:len(LECTURE)] == LECTURE


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_as_a_clean_restart_and_run_all(path):
    cells = code_cells(load(path))
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), \
        "execution counts must be 1..n in order: re-run with `python course.py execute`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_really_compares_text(path):
    cells = code_cells(load(path))
    compared = [c for c in cells if any(text_of(o).strip() for o in c["outputs"])
                and not any(m in "".join(c["source"]) for m in ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP"))]
    assert len(compared) >= 3, "fewer than 3 cells with text that nbval compares"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_excluded_cells_say_why(path):
    for cell in code_cells(load(path)):
        for line in "".join(cell["source"]).splitlines():
            if any(m in line for m in MARKERS):
                assert re.search(r"NBVAL_\w+\s*[:-]\s*\S.{8,}", line), f"marker without a reason: {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_errors_addresses_paths_or_widget_state(path):
    nb = load(path)
    text = json.dumps(nb["cells"])
    assert '"output_type": "error"' not in text
    assert not re.search(r"\bat 0x[0-9a-fA-F]{6,}", text), "a memory address is stored"
    assert not re.search(r"/(root|home|tmp|work|Users)/", text), "a machine path is stored"
    assert "widgets" not in nb["metadata"], "widget state is stored: it bloats the file and goes stale"
    for cell in nb["cells"]:
        assert "execution" not in cell.get("metadata", {}), "cell timings are stored"
        for output in cell.get("outputs", []):
            assert output.get("name") != "stderr", f"stderr output stored: {text_of(output)[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_live_figure_carries_a_static_image(path):
    outputs = [o for c in code_cells(load(path)) for o in c["outputs"]]
    live = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
            and text_of(o).startswith("Live figure")]
    if path.stem in LECTURE[:8]:  # the lectures; the capstone is homework built on health reports
        assert live, "no live figure in this lecture"
    for output in live:
        assert output["data"].get("image/png"), "a live figure without its stored picture"


def test_every_exercise_sits_in_its_notebook_and_is_stored_not_attempted():
    from helpers.exercises import exercises

    found = {}
    for path in NOTEBOOKS:
        cells = load(path)["cells"]
        for k, cell in enumerate(cells):
            exercise_id = cell["metadata"].get("exercise")
            if exercise_id is None:
                continue
            assert exercise_id.startswith(path.stem[:2]) and "exercise" in cell["metadata"]["tags"]
            check_cell = cells[k + 1]
            assert "".join(check_cell["source"]) == f'check("{exercise_id}")', exercise_id
            (output,) = check_cell["outputs"]
            assert text_of(output).startswith(f"Exercise {exercise_id} (")
            assert "not attempted yet" in text_of(output), exercise_id
            found.setdefault(path.stem, []).append(exercise_id)
    assert [e for ids in found.values() for e in ids] == list(exercises())
    for stem in LECTURE[1:8]:
        assert 2 <= len(found[stem]) <= 4, stem
