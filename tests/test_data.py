"""The insurance data: committed file, generator, loader and standardize."""
import numpy as np
import pytest
import torch

from helpers.data import (
    DEFAULT_CSV,
    FEATURE_NAMES,
    buy_probability,
    hidden_units,
    load_insurance,
    main,
    make_insurance,
    standardize,
    write_insurance_csv,
)

HEADER = "age,education_years,income_k,savings_k,bought_insurance"


@pytest.fixture(scope="module")
def data():
    return load_insurance()


def test_regenerating_reproduces_committed_csv_byte_for_byte(tmp_path):
    written = write_insurance_csv(tmp_path / "insurance.csv", n_rows=1000, seed=0)
    assert written.read_bytes() == DEFAULT_CSV.read_bytes()


def test_command_line_writes_the_same_bytes(tmp_path, capsys):
    out = tmp_path / "again.csv"
    assert main(["--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_CSV.read_bytes()
    assert "1000 rows" in capsys.readouterr().out


def test_committed_file_layout():
    text = DEFAULT_CSV.read_bytes().decode("ascii")
    lines = text.split("\n")
    assert lines[0] == HEADER
    assert lines[-1] == ""  # ends with exactly one newline
    assert len(lines) == 1 + 1000 + 1
    assert "\r" not in text
    # Fixed decimals: whole numbers, whole numbers, one decimal, one decimal, 0/1.
    for line in lines[1:-1]:
        age, edu, income, savings, label = line.split(",")
        assert age.isdigit() and edu.isdigit()
        assert income.split(".")[1].isdigit() and len(income.split(".")[1]) == 1
        assert len(savings.split(".")[1]) == 1
        assert label in ("0", "1")


def test_loaded_file_equals_generator_output(data):
    fresh = make_insurance(1000, 0)
    assert data.X.dtype == np.float64 and data.y.dtype == np.float64
    assert data.X.shape == (1000, 4) and data.y.shape == (1000,)
    assert data.feature_names == FEATURE_NAMES
    np.testing.assert_array_equal(data.X, fresh.X)
    np.testing.assert_array_equal(data.y, fresh.y)


def test_ranges_and_units(data):
    age, edu, income, savings = (data.column(name) for name in FEATURE_NAMES)
    assert age.min() >= 18 and age.max() <= 75 and np.all(age == np.round(age))
    assert edu.min() >= 8 and edu.max() <= 22 and np.all(edu == np.round(edu))
    assert income.min() >= 15 and income.max() <= 300
    assert savings.min() >= 0
    # Units: incomes in thousands per year, so a median between 30k and 70k.
    assert 30 < np.median(income) < 70
    # The whole age range is used, not a narrow band.
    assert age.min() <= 20 and age.max() >= 73
    # Savings grow with both income and age, as the story says.
    assert np.corrcoef(savings, income)[0, 1] > 0.2
    assert np.corrcoef(savings, age)[0, 1] > 0.2


def test_class_balance(data):
    assert 0.35 <= data.y.mean() <= 0.65
    for seed in (1, 2, 3):
        assert 0.35 <= make_insurance(1000, seed).y.mean() <= 0.65
    assert set(np.unique(data.y)) == {0.0, 1.0}


def test_same_seed_same_data_different_seed_different_data():
    a, b, c = make_insurance(200, 7), make_insurance(200, 7), make_insurance(200, 8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert not np.array_equal(a.y, c.y)


def test_row_count():
    assert make_insurance(1, 0).n_rows == 1
    assert make_insurance(37, 5).X.shape == (37, 4)


def _fit_logistic_regression(X: torch.Tensor, y: torch.Tensor, iterations: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Newton's method on the mean BCE; X (n, d) float64 standardised, y (n,) of 0/1.

    Returns (w (d,), b ()). Newton converges in a handful of iterations here, far
    fewer steps than gradient descent would need.
    """
    A = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)  # last column: bias
    theta = torch.zeros(A.shape[1], dtype=X.dtype)
    for _ in range(iterations):
        p = torch.sigmoid(A @ theta)
        gradient = A.T @ (p - y)
        hessian = A.T @ (A * (p * (1 - p))[:, None])
        theta = theta - torch.linalg.solve(hessian, gradient)
    return theta[:-1], theta[-1]


def test_labels_depend_on_the_features(data):
    Xtr, mean, std = standardize(data.X[:700])
    Xte, _, _ = standardize(data.X[700:], mean, std)
    w, b = _fit_logistic_regression(torch.from_numpy(Xtr), torch.from_numpy(data.y[:700]))
    predicted = ((torch.from_numpy(Xte) @ w + b) > 0).double().numpy()
    accuracy = np.mean(predicted == data.y[700:])
    majority = max(data.y[700:].mean(), 1 - data.y[700:].mean())
    assert accuracy > majority + 0.15
    assert accuracy < 0.95  # noisy labels: the task is not trivial
    # Every feature pushes towards buying (older, educated, richer people buy more).
    assert np.all(w.numpy() > 0)


def test_hidden_units_follow_the_story():
    base = np.array([[45.0, 14.0, 50.0, 60.0]])
    older, richer = base.copy(), base.copy()
    older[0, 0] = 65.0
    richer[0, 2] = 120.0
    aw0, af0 = hidden_units(base)
    aw1, af1 = hidden_units(older)
    aw2, af2 = hidden_units(richer)
    # Awareness depends on age (and education) only, affordability on money only.
    assert aw1[0] > aw0[0] and af1[0] == af0[0]
    assert af2[0] > af0[0] and aw2[0] == aw0[0]
    assert buy_probability(older)[0] > buy_probability(base)[0]


def test_labels_agree_with_the_true_probability(data):
    p = buy_probability(data.X)
    assert np.all((p > 0) & (p < 1))
    # Log-likelihood of the labels under the story beats a constant probability.
    ll_story = np.mean(data.y * np.log(p) + (1 - data.y) * np.log(1 - p))
    q = data.y.mean()
    ll_constant = q * np.log(q) + (1 - q) * np.log(1 - q)
    assert ll_story > ll_constant + 0.1


def test_standardize():
    X = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]])
    Xs, mean, std = standardize(X)
    np.testing.assert_allclose(Xs.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Xs.std(axis=0), 1.0)
    np.testing.assert_allclose(mean, [3.0, 20.0])
    again, _, _ = standardize(X[:1], mean, std)
    np.testing.assert_allclose(again, Xs[:1])


@pytest.mark.parametrize("n_rows", [0, -3, 2.5, True, "10", None])
def test_bad_n_rows(n_rows):
    with pytest.raises(ValueError, match="n_rows"):
        make_insurance(n_rows, 0)


@pytest.mark.parametrize("seed", [-1, 1.5, False, "0"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        make_insurance(10, seed)


def test_bad_standardize_arguments():
    with pytest.raises(ValueError, match="2-D"):
        standardize(np.arange(3.0))
    with pytest.raises(ValueError, match="std"):
        standardize(np.ones((4, 2)))  # constant columns cannot be scaled
    with pytest.raises(ValueError, match="both"):
        standardize(np.ones((4, 2)), mean=np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        standardize(np.ones((4, 2)), mean=np.zeros(3), std=np.ones(3))


def test_bad_story_input_and_column_name(data):
    with pytest.raises(ValueError, match="shape"):
        buy_probability(np.ones((3, 5)))
    with pytest.raises(ValueError, match="unknown column"):
        data.column("salary")


def test_missing_file_says_how_to_regenerate(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.data"):
        load_insurance(tmp_path / "nope.csv")


@pytest.mark.parametrize("text, message", [
    ("age,income\n1,2\n", "header"),
    (HEADER + "\n", "no data rows"),
    (HEADER + "\n40,12,50.0,10.0\n", "fields"),
    (HEADER + "\n40,12,fifty,10.0,1\n", "numbers"),
    (HEADER + "\n40,12,50.0,10.0,2\n", "only 0 and 1"),
])
def test_malformed_file_is_rejected(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_insurance(path)
