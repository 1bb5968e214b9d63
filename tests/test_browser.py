"""Every course notebook, as a class would use it: in a real JupyterLab, in a real browser.

For each notebooks/*.ipynb (found at run time, so a new notebook is covered without
editing this file), in headless Chromium driven by Playwright:

- open it in JupyterLab, Run -> Run All Cells, wait until the kernel is idle and every
  widget and figure has rendered; no error output, no stderr, no "Error displaying
  widget", no traceback from the kernel (even one JupyterLab would only put in its log
  console), no uncaught JavaScript exception;
- every control of every live figure (slider, dropdown, checkbox, toggle/radio buttons)
  moved by keyboard or click: sliders to their maximum, minimum and a few steps between
  (one step, a page, one step back, the key held to the middle). The figure in the
  same cell must visibly change (its canvas / image pixels differ), and nothing may go
  wrong in the kernel or the page;
- notebook 00 in the Notebook 7 interface too: Run All and one slider.

A live figure whose controls may legitimately leave the picture unchanged for some
values (say a clipping threshold above every gradient norm) can opt out of the
"must change" rule -- never out of the error checks -- with the cell tag
`browser-allow-unchanged`; its unchanged moves are then printed, not failed.

Run:   python -m pytest -m browser tests/test_browser.py
Needs Chromium at /usr/bin/chromium (Debian package `chromium`) or `chromium` on PATH.
Without it these tests are skipped, except with CI=true, where they fail.
"""
from __future__ import annotations

import json
import os

import pytest

from tests import browser_harness as bh

pytestmark = pytest.mark.browser

NOTEBOOKS = bh.discover_notebooks()
ALLOW_UNCHANGED_TAG = "browser-allow-unchanged"


def _stored_live_figures(path) -> int:
    """How many live figures the stored notebook shows (their text says so), for comparison."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    texts = ["".join(o.get("data", {}).get("text/plain", "")) for c in cells for o in c.get("outputs", [])]
    return sum(text.startswith("Live figure controlled by") for text in texts)


def _code_cell_tags(path) -> list[set]:
    """Tags of each code cell, in the order JupyterLab renders the code cells."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return [set(c.get("metadata", {}).get("tags", [])) for c in cells if c.get("cell_type") == "code"]


def _require_browser() -> str:
    missing = None
    executable = bh.find_chromium()
    if not executable:
        override = os.environ.get("BROWSER_HARNESS_CHROMIUM")
        missing = (f"BROWSER_HARNESS_CHROMIUM={override} is not an executable" if override else
                   "no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium)")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright Python package is not installed"
    if missing:
        if bh.running_in_ci():
            pytest.fail(f"browser tests cannot run: {missing}; with CI=true that is a failure", pytrace=False)
        pytest.skip(f"browser tests skipped: {missing}")
    return executable


@pytest.fixture(scope="session")
def lab_server():
    _require_browser()
    server = bh.LabServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def ran_notebook(request, lab_server, browser):
    """The notebook opened in JupyterLab after Run All (one page per notebook)."""
    page = bh.NotebookPage(browser, lab_server, request.param, ui="lab")
    page.run_error = None
    try:
        page.open()
        page.run_all()
    except Exception as err:  # reported by test_run_all_clean, with the server log
        page.run_error = err
    yield page
    page.close()


def _fail_report(nb, what: str, lines: list, server: bh.LabServer | None = None) -> str:
    text = f"{nb.notebook.name} ({nb.ui}): {what}\n" + "\n".join(f"  - {x}" for x in lines)
    if server is not None:
        text += "\n--- JupyterLab log (tail) ---\n" + server.log_tail(25)
    return text


def _check_run(nb, server) -> None:
    if nb.run_error is not None:
        prompts = nb.prompts() if nb.page and not nb.page.is_closed() else []
        pytest.fail(_fail_report(nb, "Run All did not complete",
                                 [repr(nb.run_error), f"input prompts: {prompts}",
                                  *map(str, nb.take_problems())], server), pytrace=False)


def test_run_all_clean(ran_notebook, lab_server):
    nb = ran_notebook
    _check_run(nb, lab_server)
    problems = nb.take_problems(settle_s=0.3)
    assert not problems, _fail_report(nb, "errors after Run All", problems)
    prompts = [p.strip() for p in nb.prompts()]
    not_run = [i + 1 for i, p in enumerate(prompts) if not any(ch.isdigit() for ch in p)]
    assert not not_run, _fail_report(nb, f"code cells not executed by Run All: {not_run}", prompts)
    assert "Error displaying widget" not in nb.outputs_text()


def _exercise_figure(fig: bh.LiveFigure, allow_unchanged: bool = False) -> tuple[list[str], int]:
    """Move every control of `fig`; return (failures, number of moves)."""
    failures, n_moves = [], 0
    fig.scroll_into_view()
    for control in fig.controls():
        start = control.value()
        where = f"figure {fig.number} (code cell {fig.cell_index + 1}), {control.label}"
        for move in control.exercise():
            n_moves += 1
            if move.problems:
                failures.append(f"{where}: {move}: " + "; ".join(map(str, move.problems)))
                break
            if not move.ok:
                if allow_unchanged:
                    print(f"allowed by the {ALLOW_UNCHANGED_TAG} tag: {where}: {move}: figure unchanged")
                    continue
                failures.append(f"{where}: {move}: the figure did not visibly change")
                break
        control.restore(start)
    return failures, n_moves


def test_controls_change_figure(ran_notebook, lab_server):
    nb = ran_notebook
    _check_run(nb, lab_server)
    nb.take_problems()  # reported by test_run_all_clean
    figures = nb.live_figures()
    # Every live figure the notebook stores must render with its controls in the browser
    # (a notebook with none, like the capstone, passes on that count alone).
    assert len(figures) == _stored_live_figures(nb.notebook), f"{nb.notebook.name}: live figures rendered"
    tags = _code_cell_tags(nb.notebook)
    failures, n_moves = [], 0
    for fig in figures:
        allow = fig.cell_index < len(tags) and ALLOW_UNCHANGED_TAG in tags[fig.cell_index]
        fig_failures, moves = _exercise_figure(fig, allow_unchanged=allow)
        failures += fig_failures
        n_moves += moves
    assert n_moves > 0 or not figures, f"{nb.notebook.name}: live figures found but no control could be moved"
    assert not failures, _fail_report(nb, f"{len(failures)} control(s) failed", failures)


def test_classic_notebook_ui(lab_server, browser):
    """Notebook 00 in the Notebook 7 interface (/notebooks/...): Run All, clean, one slider."""
    if not NOTEBOOKS:
        pytest.skip("no notebooks/*.ipynb yet")
    first = next((p for p in NOTEBOOKS if p.name.startswith("00")), NOTEBOOKS[0])
    candidates = [first] + [p for p in NOTEBOOKS if p != first]
    tried = []
    for i, path in enumerate(candidates):
        nb = bh.NotebookPage(browser, lab_server, path, ui="classic")
        try:
            nb.run_error = None
            try:
                nb.open()
                nb.run_all()
            except Exception as err:
                nb.run_error = err
            if i == 0:  # notebook 00 itself must run cleanly here
                _check_run(nb, lab_server)
                problems = nb.take_problems(settle_s=0.3)
                assert not problems, _fail_report(nb, "errors after Run All", problems)
            elif nb.run_error is not None:
                continue
            figures = [f for f in nb.live_figures() if f.sliders()]
            tried.append(path.name)
            if not figures:
                continue  # no slider in this notebook: take the next one for the slider part
            fig = figures[0]
            fig.scroll_into_view()
            slider = fig.sliders()[0]
            nb.take_problems()
            moves = []
            for move in slider.exercise():
                moves.append(move)
                assert not move.problems, _fail_report(nb, f"{slider.label}: {move}", move.problems)
                assert move.ok, _fail_report(nb, f"{slider.label}: the figure did not change", [move])
                if len(moves) == 3:  # End, Home, one step: enough here; Lab covers the rest
                    break
            assert any(m.value_moved for m in moves), f"{slider.label}: the keys did not move the slider"
            return
        finally:
            nb.close()
    pytest.skip(f"no slider in any notebook ({', '.join(tried)}); Run All of {first.name} checked")


# Each figure's top-left pixel: every live figure's canvas (not ipympl's transparent
# rubber-band canvas over it) and every plotted image.
_CORNER_PIXELS_JS = """() => [...document.querySelectorAll(
      '.jupyter-matplotlib-canvas-div canvas:first-of-type, .jp-OutputArea-output img')].map(el => {
    const c = document.createElement('canvas');
    c.width = 4; c.height = 4;
    const g = c.getContext('2d');
    g.drawImage(el, 0, 0, 4, 4, 0, 0, 4, 4);
    return Array.from(g.getImageData(1, 1, 1, 1).data);
})"""


def _set_lab_theme(server: bh.LabServer, theme: str) -> None:
    """Choose JupyterLab's theme for the pages opened from now on (its user setting)."""
    import urllib.request

    body = json.dumps({"raw": json.dumps({"theme": theme})}).encode()
    request = urllib.request.Request(
        f"{server.base_url}/lab/api/settings/@jupyterlab/apputils-extension:themes", data=body, method="PUT",
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_figures_keep_their_own_background_under_jupyterlabs_dark_theme(lab_server, browser):
    """Under JupyterLab Dark no figure is transparent (dark text on a dark page): each has its own white."""
    path = next(p for p in NOTEBOOKS if p.name.startswith("03"))
    _set_lab_theme(lab_server, "JupyterLab Dark")
    nb = bh.NotebookPage(browser, lab_server, path, ui="lab")
    try:
        nb.open()
        nb.run_all()
        assert nb.page.evaluate("document.body.dataset.jpThemeLight") == "false"
        corners = nb.page.evaluate(_CORNER_PIXELS_JS)
        assert len(corners) >= 3, corners  # the live figure and the notebook's two plots
        assert all(alpha == 255 and min(rgb) >= 250 for *rgb, alpha in corners), corners
    finally:
        nb.close()
        _set_lab_theme(lab_server, "JupyterLab Light")
