"""Shared test setup: notebooks must run with a real figure backend, never Agg."""
import os

# The kernel nbval starts inherits this environment; Agg would silence every figure.
os.environ.pop("MPLBACKEND", None)


# --- browser tests (tests/test_browser.py, tests/browser_harness.py) ---------------------
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: drives the notebooks in a real JupyterLab in headless Chromium "
        "(slow; needs /usr/bin/chromium; deselect with -m 'not browser')",
    )
