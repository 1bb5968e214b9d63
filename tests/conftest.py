"""Shared test setup: notebooks must run with a real figure backend, never Agg."""
import os

import pytest

# The kernel nbval starts inherits this environment; Agg would silence every figure.
os.environ.pop("MPLBACKEND", None)


# --- browser tests (tests/test_browser.py, tests/browser_harness.py) ---------------------
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: drives the notebooks in a real JupyterLab in headless Chromium "
        "(slow; needs /usr/bin/chromium; deselect with -m 'not browser')",
    )


@pytest.fixture(scope="session")
def browser():
    """One Chromium for every browser test of the session: Playwright's sync API allows only
    one running instance per thread, so JupyterLab's tests and the classroom view's share it."""
    from tests import browser_harness as bh
    from tests.test_browser import _require_browser

    browser = bh.Browser(_require_browser()).start()
    yield browser
    browser.stop()
