"""`python course.py present NN`: which notebook, which command, which environment (no browser here;
tests/test_present.py opens the view in one)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.plots import SCALE_VARIABLE, THEME_VARIABLE
from helpers.present import TEMPLATE, TEMPLATES, find_notebook, present_env, voila_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["3", "03", "03_deep_network_vanishing", "03_deep_network_vanishing.ipynb",
                                  "notebooks/03_deep_network_vanishing.ipynb"])
def test_a_notebook_is_found_by_number_or_name(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert find_notebook(name) == ROOT / "notebooks" / "03_deep_network_vanishing.ipynb"


@pytest.mark.parametrize("name", ["99", "deep", "", "../README.md"])
def test_an_unknown_notebook_gets_the_list_of_known_ones(name):
    with pytest.raises(ValueError, match="00_start_here, 01_chain_rule"):
        find_notebook(name)


def test_the_command_serves_the_classroom_template_and_the_kernel_gets_projector_figures():
    notebook = find_notebook("05")
    command = voila_command(notebook, dark=True, extra=("--no-browser",))
    assert command[:3] == [sys.executable, "-m", "voila"] and str(notebook) in command
    assert f"--template={TEMPLATE}" in command and "--theme=dark" in command and command[-1] == "--no-browser"
    env = present_env(dark=True, base={"MPLBACKEND": "Agg", "JUPYTER_PATH": "/elsewhere"})
    assert "MPLBACKEND" not in env  # it would silence every figure
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(TEMPLATES), "/elsewhere"]
    assert (TEMPLATES / "voila" / "templates" / TEMPLATE / "index.html.j2").is_file()
    assert env[SCALE_VARIABLE] == "projector" and env[THEME_VARIABLE] == "dark"
    assert present_env(base={})[THEME_VARIABLE] == "light"


def test_a_kernel_started_with_that_environment_draws_projector_figures():
    code = ("from helpers.plots import figure_style, new_figure; fig, _ = new_figure();"
            "print(figure_style().scale, figure_style().theme, fig.get_size_inches()[0] * fig.dpi)")
    out = subprocess.run([sys.executable, "-c", code], env=present_env(dark=True), capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out == ["projector", "dark", "1200.0"]


def test_a_bad_style_in_the_environment_says_what_is_allowed():
    env = {**present_env(), SCALE_VARIABLE: "beamer"}
    run = subprocess.run([sys.executable, "-c", "import helpers.plots"], env=env, capture_output=True, text=True,
                         cwd=ROOT)
    assert run.returncode != 0 and "scale must be one of ('notebook', 'projector'), got 'beamer'" in run.stderr


def test_course_py_present_refuses_an_unknown_notebook_with_the_list():
    run = subprocess.run([sys.executable, "-m", "helpers.present", "99"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and "03_deep_network_vanishing" in run.stderr
