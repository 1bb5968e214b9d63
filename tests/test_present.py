"""The classroom view (python course.py present NN) of every notebook with live figures,
served by Voila exactly as helpers.present serves it, in headless Chromium at 1280 x 720.

For each notebooks/*.ipynb whose stored outputs show a live figure (found at run time):

- the view opens: every cell ran, every widget and figure is drawn, and nothing is
  broken (no error output, no "Error displaying widget", no "There was an error when
  executing cell", no traceback from the kernel, no uncaught JavaScript exception, no
  cell error in Voila's log), with as many live figures as the notebook stores;
- no code is on the page (no input area, no prompt, no line of any code cell's source);
- no exercise or check cell shows anything, and each exercise prompt stays collapsed;
- every control of every live figure moves its figure, as in tests/test_browser.py;
- every figure is shown at its own size or larger (never shrunk by the browser), at
  least 90% of the page's width, without the page scrolling sideways, and its smallest
  text is at least 16 screen pixels.

And notebook 03 with --dark: a dark page, and figures with a dark background of their own.

Run:   python -m pytest tests/test_present.py
Slow: Voila runs each notebook before it shows it (notebook 03: about 15 s). Needs
Chromium, as tests/test_browser.py: skipped without it, except with CI=true (fails).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers.plots import PROJECTOR_WIDTH
from helpers.present import present_env
from tests import browser_harness as bh
from tests.test_browser import ALLOW_UNCHANGED_TAG, _exercise_figure, _stored_live_figures

pytestmark = pytest.mark.browser

LIVE_NOTEBOOKS = [p for p in bh.discover_notebooks() if _stored_live_figures(p)]
DARK_NOTEBOOK = next((p for p in LIVE_NOTEBOOKS if p.name.startswith("03_")), None)
HIDDEN_TAGS = ("exercise", "check")
MIN_CODE_LINE = 20      # shorter code lines ("x = 1") could be words of the narrative too
MIN_FIGURE_SHARE = 0.9  # of the page's content width
MIN_TEXT_PX = 16        # the smallest figure text a projected room can read
DARK_LUMINANCE = 0.2


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8")).get("cells", [])


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: dict) -> set:
    return set(cell.get("metadata", {}).get("tags", []))


def _output_text(cell: dict) -> str:
    """The text a code cell's stored outputs show (streams and text/plain)."""
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def present_browser(browser):
    """The session's Chromium (tests/conftest.py); each classroom page sets its own 1280 x 720."""
    return browser


def _open_view(browser: bh.Browser, path: Path, dark: bool = False):
    """A Voila server for `path` and the view opened in it; an error opening is kept on
    the page (reported by the tests, with the server's log), not raised here."""
    server = bh.PresentServer(path, dark=dark).start()
    page = bh.PresentPage(browser, server)
    page.open_error = None
    try:
        page.open()
    except Exception as err:  # noqa: BLE001 - reported by _check_open
        page.open_error = err
    return server, page


@pytest.fixture(scope="module", params=LIVE_NOTEBOOKS, ids=[p.stem for p in LIVE_NOTEBOOKS])
def view(request, present_browser):
    """The notebook in the classroom view, light (one Voila server per notebook)."""
    server, page = _open_view(present_browser, request.param)
    yield page
    page.close()
    server.stop()


@pytest.fixture(scope="module")
def dark_view(present_browser):
    if DARK_NOTEBOOK is None:
        pytest.skip("no notebook 03 with live figures")
    server, page = _open_view(present_browser, DARK_NOTEBOOK, dark=True)
    yield page
    page.close()
    server.stop()


def _report(page: bh.PresentPage, what: str, lines: list, log: bool = False) -> str:
    text = f"{page.notebook.name} (present): {what}\n" + "\n".join(f"  - {x}" for x in lines)
    if log:
        text += "\n--- Voila log (tail) ---\n" + page.server.log_tail(25)
    return text


def _check_open(page: bh.PresentPage) -> None:
    if page.open_error is not None:
        problems = page.take_problems() if page.page and not page.page.is_closed() else []
        pytest.fail(_report(page, "the view did not open", [repr(page.open_error), *map(str, problems)],
                            log=True), pytrace=False)


# --------------------------------------------------------------------------- opening
def test_view_opens_clean(view):
    """Every cell ran, every widget drew, nothing broken on the page, in the kernel or in Voila."""
    _check_open(view)
    problems = view.take_problems(settle_s=0.3)
    assert not problems, _report(view, "errors in the view", problems, log=True)
    text = view.outputs_text()  # outputs only: the narrative may name these messages
    shown = [t for t in bh.DOM_FAILURE_TEXTS if t in text]
    assert not shown, _report(view, "failure text in the outputs", shown, log=True)
    assert len(view.live_figures()) == _stored_live_figures(view.notebook), \
        _report(view, "live figures shown differ from the stored notebook's", view.live_figures())


def test_no_code_on_page(view):
    """No input area, prompt or editor, and no line of any code cell's source in the page's text."""
    _check_open(view)
    for selector in (".jp-CodeCell .jp-InputArea", ".jp-InputPrompt", ".jp-InputArea-editor", ".CodeMirror",
                     ".cm-editor"):
        assert view.visible_count(selector) == 0, _report(view, f"code input shown: {selector}", [])
    text = view.page.inner_text("body")
    assert "import numpy" not in text
    code = [cell for cell in _cells(view.notebook) if cell.get("cell_type") == "code"]
    printed = "\n".join(_output_text(cell) for cell in code)  # a cell may print a line of code on purpose
    lines = {line.strip() for cell in code for line in _source(cell).splitlines()
             if len(line.strip()) >= MIN_CODE_LINE and line.strip() not in printed}
    shown = sorted(line for line in lines if line in text)
    assert not shown, _report(view, "code on the page", shown)


def test_exercise_and_check_cells_hidden(view):
    """Exercise and check cells show nothing: no code, no output (they still run)."""
    _check_open(view)
    text = view.page.inner_text("body")
    for i, cell in enumerate(_cells(view.notebook)):
        if cell.get("cell_type") != "code" or not _tags(cell) & set(HIDDEN_TAGS):
            continue
        where = f"cell {i + 1} ({', '.join(sorted(_tags(cell)))})"
        assert view.cell_text(i) == "", _report(view, f"{where} shows", [view.cell_text(i)])
        leaked = [ln.strip() for ln in _output_text(cell).splitlines()
                  if len(ln.strip()) >= MIN_CODE_LINE and ln.strip() in text]
        assert not leaked, _report(view, f"the output of {where} is on the page", leaked)


def test_exercise_prompts_collapsed(view):
    """Each "### Exercise" prompt is inside a closed <details class="exercise-prompt">."""
    _check_open(view)
    for i, cell in enumerate(_cells(view.notebook)):
        if cell.get("cell_type") == "markdown" and _source(cell).startswith("### Exercise"):
            prompt = view.page.locator(f'[cell-index="{i + 1}"] details.exercise-prompt')
            assert prompt.count() > 0, _report(view, f"the exercise prompt of cell {i + 1} is not collapsible", [])
            assert not prompt.first.evaluate("d => d.open"), _report(view, f"the prompt of cell {i + 1} is open", [])


# --------------------------------------------------------------------------- controls
def test_controls_change_figure(view):
    """Every control of every live figure moves its figure: at its ends and between."""
    _check_open(view)
    view.take_problems()  # reported by test_view_opens_clean
    cells = _cells(view.notebook)
    failures, n_moves = [], 0
    for fig in view.live_figures():
        allow = fig.notebook_cell is not None and ALLOW_UNCHANGED_TAG in _tags(cells[fig.notebook_cell])
        fig_failures, moves = _exercise_figure(fig, allow_unchanged=allow)
        failures += fig_failures
        n_moves += moves
    assert n_moves > 0, f"{view.notebook.name}: live figures found but no control could be moved"
    assert not failures, _report(view, f"{len(failures)} control(s) failed", failures)


# --------------------------------------------------------------------------- size
def test_figures_fill_the_screen(view):
    """Each figure at one figure pixel per screen pixel or more, at least 90% of the page's
    width, and the page does not scroll sideways."""
    _check_open(view)
    for fig in view.live_figures():
        g = fig.geometry()
        assert g is not None, f"{fig!r}: no ipympl canvas"
        where = f"{view.notebook.name} {fig!r}: {g}"
        assert g["displayed"] / g["intrinsic"] >= 0.99, f"{where}: the browser shrinks the figure"
        assert g["displayed"] >= MIN_FIGURE_SHARE * g["content"], f"{where}: narrower than 90% of the page"
        assert g["scrollWidth"] <= g["innerWidth"], f"{where}: the page scrolls sideways"
    # The notebook's own plots (plt.show()): drawn 1200 px wide at projector scale, shown pixel for pixel.
    for image in view.page.evaluate(_JS_PLOTS):
        assert image["natural"] == PROJECTOR_WIDTH * 100 and image["displayed"] == image["natural"], \
            f"{view.notebook.name}: a plot is not shown at projector width, pixel for pixel: {image}"


_JS_PLOTS = """() => [...document.querySelectorAll('.jp-OutputArea-output img')].map(
    img => ({natural: img.naturalWidth, displayed: img.getBoundingClientRect().width}))"""


# Run in a fresh Python: the notebook's code cells in order, up to the last live figure
# (as Voila runs them; exercise and check cells included), with the figures drawn on Agg
# at projector scale; print, per live figure cell, its smallest text in figure pixels.
_TEXT_PX_SCRIPT = r"""
import ast, json, sys
from matplotlib.figure import Figure
from helpers.plots import smallest_text_px
from helpers.widgets import set_live_mode
set_live_mode("agg")
sources, targets, out = json.load(open(sys.argv[1])), set(json.loads(sys.argv[2])), sys.argv[3]

namespace, found = {"__name__": "__main__"}, {}
for index, source in sources:
    body = ast.parse(source).body
    last = body.pop() if body and isinstance(body[-1], ast.Expr) else None
    exec(compile(ast.Module(body, []), f"<cell {index}>", "exec"), namespace)
    value = eval(compile(ast.Expression(last.value), f"<cell {index}>", "eval"), namespace) if last else None
    if index in targets:
        fig = value if isinstance(value, Figure) else getattr(value, "fig", None)
        found[index] = smallest_text_px(fig) if fig is not None else None
json.dump(found, open(out, "w"))
"""


def projector_text_px(notebook: Path, cells: list[int]) -> dict[int, float]:
    """The smallest text, in figure pixels, of the live figure each of `cells` (0-based
    notebook cells) shows at projector scale (helpers.plots.smallest_text_px). Built in a
    subprocess, so that this process's matplotlib state is untouched."""
    code = [(i, _source(c)) for i, c in enumerate(_cells(notebook)) if c.get("cell_type") == "code"]
    code = [(i, src) for i, src in code if i <= max(cells)]
    env = present_env(dark=False, base=os.environ)  # COURSE_FIGURE_SCALE=projector, light
    env.update(MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(filter(None, [str(bh.REPO_ROOT), env.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory() as tmp:
        sources, out = Path(tmp) / "cells.json", Path(tmp) / "text_px.json"
        sources.write_text(json.dumps(code))
        run = subprocess.run([sys.executable, "-c", _TEXT_PX_SCRIPT, str(sources), json.dumps(cells), str(out)],
                             cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{notebook.name}: building the figures failed:\n{run.stderr[-3000:]}"
        return {int(k): v for k, v in json.loads(out.read_text()).items()}


def test_figure_text_size(view):
    """The smallest text of each figure, as the projector shows it, is at least 16 px."""
    _check_open(view)
    figures = view.live_figures()
    scales = bh.displayed_scale(view)  # displayed width / the canvas's own width, per figure
    text_px = projector_text_px(view.notebook, [fig.notebook_cell for fig in figures])
    assert set(scales) == {fig.number for fig in figures}, f"{view.notebook.name}: a live figure without a canvas"
    small = []
    for fig in figures:
        # ---- THE TEXT-SIZE CHECK: smallest text of the figure at projector scale (figure
        # pixels, from Python) x the scale the browser shows the figure at (measured) ----
        shown_px = text_px[fig.notebook_cell] * scales[fig.number]
        if not shown_px >= MIN_TEXT_PX:
            small.append(f"{fig!r} (notebook cell {fig.notebook_cell + 1}): smallest text "
                         f"{text_px[fig.notebook_cell]:.1f} px x scale {scales[fig.number]:.3f} = {shown_px:.1f} px")
    assert not small, _report(view, f"figure text below {MIN_TEXT_PX} px", small)


# --------------------------------------------------------------------------- dark
def test_dark_view(dark_view):
    """--dark: a dark page, and each figure's own pixels dark and opaque in its corner."""
    _check_open(dark_view)
    problems = dark_view.take_problems(settle_s=0.3)
    assert not problems, _report(dark_view, "errors in the dark view", problems, log=True)
    background = dark_view.body_background()
    assert background["luminance"] < DARK_LUMINANCE, f"page background not dark: {background}"
    figures = dark_view.live_figures()
    assert figures, f"{dark_view.notebook.name}: no live figure in the dark view"
    for fig in figures:
        corner = dark_view.canvas_corner(fig)
        assert corner is not None, f"{fig!r}: no ipympl canvas"
        assert corner["alpha"] == 1 and corner["luminance"] < DARK_LUMINANCE, \
            f"{fig!r}: the figure's corner pixel is not opaque and dark: {corner}"


# --------------------------------------------------------------------------- offline
def test_the_view_fetches_nothing_from_the_network(present_browser):
    """Every request the page makes while it loads and draws goes to the local Voila server."""
    path = LIVE_NOTEBOOKS[0]
    requests = []

    def record(request):
        requests.append(request.url)

    present_browser.context.on("request", record)
    server, page = _open_view(present_browser, path)
    try:
        _check_open(page)
        local = (f"http://127.0.0.1:{server.port}/", "data:", "blob:")
        elsewhere = sorted({url for url in requests if not url.startswith(local)})
        assert requests and not elsewhere, _report(page, "requests to other hosts", elsewhere)
    finally:
        present_browser.context.remove_listener("request", record)
        page.close()
        server.stop()
