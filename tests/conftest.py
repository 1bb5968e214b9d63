"""Shared test setup: notebooks must run with a real figure backend, never Agg."""
import os

# The kernel nbval starts inherits this environment; Agg would silence every figure.
os.environ.pop("MPLBACKEND", None)
