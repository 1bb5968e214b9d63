"""The course's running example: who buys insurance?

Four inputs describe a person: age, years of education, income and savings.
The story behind the labels is a tiny two-layer network with two hidden units
that the lecture names:

- awareness     = sigmoid(linear function of age and education)
- affordability = sigmoid(linear function of log income and log savings)
- P(buy)        = sigmoid(a * awareness + b * affordability + c)

and the label is a coin flip with that probability. `make_insurance` draws such
people from a seeded numpy Generator; `write_insurance_csv` stores them with fixed
decimals so the committed file `data/insurance.csv` is byte-identical whenever it is
regenerated with

    python -m helpers.data
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.validation import check_int

FEATURE_NAMES = ("age", "education_years", "income_k", "savings_k")
LABEL_NAME = "bought_insurance"
# Decimals written for each feature column; the label is written as 0 or 1.
DECIMALS = (0, 0, 1, 1)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_CSV = DATA_DIR / "insurance.csv"
DEFAULT_ROWS = 1000
DEFAULT_SEED = 0

AGE_RANGE = (18, 75)
EDUCATION_RANGE = (8, 22)
INCOME_RANGE = (15.0, 300.0)

# Weights of the generative story (on raw units, so the README can quote them).
AWARENESS_AGE = (42.0, 12.0)         # centre and scale in years
AWARENESS_EDU = (13.5, 2.6)          # centre and scale in years of education
AWARENESS_W = (1.1, 0.9)             # weights of the two scaled inputs
AFFORD_INCOME = (50.0, 0.45)         # centre (k/yr) and scale of log income
AFFORD_SAVINGS = (60.0, 1.1)         # centre (k) and scale of log(1 + savings)
AFFORD_W = (1.0, 0.8)
BUY_W = (4.0, 4.0, -4.2)             # a, b, c in P(buy) = sigmoid(a*aw + b*af + c)


@dataclass(frozen=True, eq=False)
class InsuranceData:
    """Features and labels of the insurance data set.

    X: (n, 4) float64 in the raw units of `feature_names`.
    y: (n,) float64 of 0.0 / 1.0 (1 = bought insurance).
    Frozen: the fields cannot be reassigned. The arrays stay writable (torch warns
    when handed read-only ones), so copy them before changing anything in place.
    eq=False because comparing numpy arrays with == has no single truth value.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple = FEATURE_NAMES

    def __post_init__(self):
        if self.X.ndim != 2 or self.X.shape[1] != len(self.feature_names):
            raise ValueError(f"X must have shape (n, {len(self.feature_names)}), got {self.X.shape}")
        if self.y.shape != (self.X.shape[0],):
            raise ValueError(f"y must have shape ({self.X.shape[0]},), got {self.y.shape}")

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def column(self, name: str) -> np.ndarray:
        """One feature column, shape (n,), by name."""
        if name not in self.feature_names:
            raise ValueError(f"unknown column {name!r}; allowed: {', '.join(self.feature_names)}")
        return self.X[:, self.feature_names.index(name)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a large positive number would overflow (with a warning) in the naive form.
    return np.exp(-np.logaddexp(0.0, -z))


def _check_n_rows(n_rows) -> int:
    return check_int(n_rows, "n_rows", 1)


def _check_seed(seed) -> int:
    return check_int(seed, "seed", 0)


def _round(values: np.ndarray, decimals: int) -> np.ndarray:
    """Round to the decimals the CSV stores, so generated and loaded data agree exactly."""
    scale = 10.0 ** decimals
    # rint(x*scale) is an integer and dividing by a power of ten is correctly rounded,
    # so the result is the same double that parsing the written text gives back.
    return np.rint(values * scale) / scale


def _draw_people(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n people's features, shape (n, 4), already rounded like the CSV.

    Only `random` and `standard_normal` are used: their streams are the most stable
    across numpy versions.
    """
    lo, hi = AGE_RANGE
    age = np.floor(lo + (hi - lo + 1) * rng.random(n))  # whole years, uniform on lo..hi
    # Older cohorts stayed in school a little less long.
    edu = 13.8 - 0.03 * (age - 45.0) + 2.6 * rng.standard_normal(n)
    edu = np.clip(np.rint(edu), *EDUCATION_RANGE)
    # Log-normal income that rises with education and peaks around age 50.
    log_income = np.log(40.0) + 0.08 * (edu - 13.0) - 0.0008 * (age - 50.0) ** 2
    income = 12.0 + np.exp(log_income + 0.5 * rng.standard_normal(n))
    income = _round(np.clip(income, *INCOME_RANGE), 1)
    # Savings accumulate with income and working years; the -0.32 keeps the
    # log-normal factor's mean near 1 (exp(sigma^2 / 2) with sigma = 0.8).
    years_saving = age - 16.0
    savings = income * 0.06 * years_saving * np.exp(0.8 * rng.standard_normal(n) - 0.32)
    savings = _round(savings, 1)
    return np.stack([age, edu, income, savings], axis=1)


def _as_features(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"X must have shape (n, {len(FEATURE_NAMES)}) with columns {FEATURE_NAMES}, got {X.shape}")
    return X


def hidden_units(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The story's two hidden units for raw features X (n, 4): (awareness, affordability), each (n,) in (0, 1)."""
    X = _as_features(X)
    age, edu, income, savings = X.T
    z_aw = (AWARENESS_W[0] * (age - AWARENESS_AGE[0]) / AWARENESS_AGE[1]
            + AWARENESS_W[1] * (edu - AWARENESS_EDU[0]) / AWARENESS_EDU[1])
    # Money matters on a log scale: the first 10k of savings count more than the next.
    z_af = (AFFORD_W[0] * (np.log(income) - np.log(AFFORD_INCOME[0])) / AFFORD_INCOME[1]
            + AFFORD_W[1] * (np.log1p(savings) - np.log1p(AFFORD_SAVINGS[0])) / AFFORD_SAVINGS[1])
    return _sigmoid(z_aw), _sigmoid(z_af)


def buy_probability(X: np.ndarray) -> np.ndarray:
    """P(bought_insurance = 1) under the generative story, shape (n,), for raw features X (n, 4)."""
    awareness, affordability = hidden_units(X)
    a, b, c = BUY_W
    return _sigmoid(a * awareness + b * affordability + c)


def make_insurance(n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> InsuranceData:
    """Draw a fresh insurance data set of n_rows people from a Generator seeded with `seed`.

    Returns InsuranceData with X (n_rows, 4) and y (n_rows,), rounded exactly as
    `write_insurance_csv` stores them.
    """
    n = _check_n_rows(n_rows)
    rng = np.random.default_rng(_check_seed(seed))
    X = _draw_people(rng, n)
    # The coin flips come last so the features do not depend on how labels are drawn.
    y = (rng.random(n) < buy_probability(X)).astype(np.float64)
    return InsuranceData(X=X, y=y, feature_names=FEATURE_NAMES)


def to_csv_text(data: InsuranceData) -> str:
    """The CSV text (header + one line per row, '\\n' line ends) with fixed decimals per column."""
    lines = [",".join((*data.feature_names, LABEL_NAME))]
    for row, label in zip(data.X, data.y):
        fields = [f"{value:.{d}f}" for value, d in zip(row, DECIMALS)]
        fields.append(str(int(label)))
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def write_insurance_csv(path=DEFAULT_CSV, n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> Path:
    """Generate the data set and write it to `path`; returns the path written.

    Written as ASCII bytes so line ends are '\\n' on every OS (byte-identical files).
    """
    data = make_insurance(n_rows, seed)
    path = Path(path)
    path.write_bytes(to_csv_text(data).encode("ascii"))
    return path


def _parse_line(line: str, line_no: int, path: Path) -> list[float]:
    fields = line.split(",")
    if len(fields) != len(FEATURE_NAMES) + 1:
        raise ValueError(f"{path}, line {line_no}: expected {len(FEATURE_NAMES) + 1} comma-separated fields, got {len(fields)}")
    try:
        return [float(f) for f in fields]
    except ValueError:
        raise ValueError(f"{path}, line {line_no}: not all fields are numbers: {line!r}") from None


def load_insurance(path=None) -> InsuranceData:
    """Load the insurance CSV; by default the committed data/insurance.csv.

    Returns InsuranceData with X (n, 4) float64 and y (n,) float64 of 0/1.
    """
    path = DEFAULT_CSV if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"insurance data not found at {path}; regenerate it from the repository root "
            f"with `python -m helpers.data`")
    lines = path.read_text(encoding="ascii").splitlines()
    header = ",".join((*FEATURE_NAMES, LABEL_NAME))
    if not lines or lines[0] != header:
        raise ValueError(f"{path}: first line must be the header {header!r}")
    rows = [_parse_line(line, i + 2, path) for i, line in enumerate(lines[1:])]
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    table = np.array(rows, dtype=np.float64)
    y = table[:, -1]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{path}: column {LABEL_NAME} must hold only 0 and 1")
    return InsuranceData(X=table[:, :-1].copy(), y=y.copy(), feature_names=FEATURE_NAMES)


def standardize(X, mean=None, std=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale each column of X (n, d) to mean 0 and standard deviation 1.

    Returns (Xs (n, d), mean (d,), std (d,)). Pass the mean and std of the training
    rows to scale held-out rows the same way (both or neither).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a 2-D array with at least one row, got shape {X.shape}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if mean is None:
        mean, std = X.mean(axis=0), X.std(axis=0)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.shape != (X.shape[1],) or std.shape != (X.shape[1],):
        raise ValueError(f"mean and std must have shape ({X.shape[1]},), got {mean.shape} and {std.shape}")
    if not (np.isfinite(std).all() and (std > 0).all()):
        # A constant column cannot be scaled to unit spread; dividing would give inf/NaN.
        raise ValueError(f"every std must be finite and > 0, got {std}")
    return (X - mean) / std, mean, std


def insurance_batch(n_rows: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The first `n_rows` people of the insurance data, standardized over all of it: X (n_rows, 4), y (n_rows,)."""
    data = load_insurance()
    X, _, _ = standardize(data.X)
    return X[:n_rows], data.y[:n_rows]


def main(argv=None) -> int:
    """Command line: regenerate data/insurance.csv (or another path) from the generator."""
    parser = argparse.ArgumentParser(prog="python -m helpers.data", description="Regenerate the insurance CSV.")
    parser.add_argument("--out", type=Path, default=DEFAULT_CSV, help="where to write (default: data/insurance.csv)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"number of rows (default {DEFAULT_ROWS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    path = write_insurance_csv(args.out, args.rows, args.seed)
    print(f"wrote {path} ({args.rows} rows, seed {args.seed}, {path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
