"""The environment check must name each problem and how to fix it."""
from helpers import environment
from helpers.environment import Check, check_environment, report


def test_this_environment_passes_every_check(capsys):
    assert report() is True
    assert "Everything is ready." in capsys.readouterr().out


def test_widget_version_mismatch_is_reported_with_the_fix():
    check = environment._widget_pair({"ipywidgets": "8.1.9", "jupyterlab_widgets": "1.1.0"})
    assert not check.ok
    assert "Error displaying widget" in check.detail and "pip install -r requirements.txt" in check.detail


def test_missing_package_is_reported(monkeypatch):
    monkeypatch.setattr(environment, "_version", lambda name: None if name == "ipympl" else "1.0")
    (ipympl,) = [c for c in check_environment() if c.name == "ipympl"]
    assert not ipympl.ok and "missing" in ipympl.detail


def test_agg_backend_is_reported(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (figures,) = [c for c in check_environment() if c.name == "figures"]
    assert not figures.ok and "unset MPLBACKEND" in figures.detail


def test_report_counts_problems(capsys):
    assert report([Check("a", True, "fine"), Check("b", False, "broken")]) is False
    out = capsys.readouterr().out
    assert "FIX  b" in out and "1 problem(s)" in out
