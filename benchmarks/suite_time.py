"""Wall time of the whole test suite, as the README's test command runs it.

    python -m benchmarks.suite_time [pytest args]   # e.g. -m "not browser" for the suite without a browser

Runs pytest in a fresh process (so imports and kernel starts are counted) and prints
the wall time in seconds with pytest's own closing line.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(args: list) -> int:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    closing = [line for line in run.stdout.splitlines() if line.strip()][-1:]
    print(f"suite wall time: {wall:.1f} s  ({closing[0] if closing else 'no output'})")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
