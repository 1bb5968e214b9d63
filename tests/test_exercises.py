"""Every exercise can be solved, its check accepts the reference solution and rejects plausible mistakes."""
from pathlib import Path

import numpy as np
import pytest

from helpers.exercises import CORRECT, NOT_ATTEMPTED, WRONG, check, evaluate, exercises, results
from helpers.grading import load_solutions

SOLUTIONS = load_solutions(Path(__file__).resolve().parents[1] / "solutions" / "solutions.py")

# Mistakes students make; each must be told "not yet".
WRONG_ANSWERS = {
    "01.1": ["def my_sigmoid_prime(z):\n    s = 1 / (1 + np.exp(-z))\n    return s * (1 + s)",
             "def my_sigmoid_prime(z):\n    return np.exp(-z) / (1 + np.exp(-z)) ** 2"],  # overflows at -800
    "01.2": ["def my_chain_gradient(w, z):\n    return np.sum(w * sigmoid_prime(z))",
             "def my_chain_gradient(w, z):\n    return np.prod(sigmoid_prime(z))"],
    "01.3": ["guess_product_of_ten = 2.5", "guess_product_of_ten = 0.25"],
    "02.1": ["def my_tanh_prime(z):\n    return 1 - np.tanh(z)", "def my_tanh_prime(z):\n    return 1 - z ** 2"],
    "02.2": ["def my_saturated_fraction(z):\n    return float(np.mean(sigmoid_prime(z) < 0.1))",
             "def my_saturated_fraction(z):\n    return float(np.mean(np.abs(z) > 4))"],
    "02.3": ["guess_saturated_percent = 20", "guess_saturated_percent = 0.75"],
    "03.1": ["def my_backward_step(W, delta, a_prev):\n    return delta @ W",
             "def my_backward_step(W, delta, a_prev):\n    return (delta @ W.T) * a_prev * (1 - a_prev)"],
    "03.2": ["guess_depth_20_ratio = 1e4", "guess_depth_20_ratio = 1e-13"],
    "03.3": ["def my_he_init(fan_out, fan_in, rng):\n    return rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)",
             "def my_he_init(fan_out, fan_in, rng):\n    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)",
             "def my_he_init(fan_out, fan_in, rng):\n    return np.random.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in)"],
    "04.1": ["def my_bptt_step(W_h, dh, h):\n    return dh @ W_h",
             "def my_bptt_step(W_h, dh, h):\n    return (dh * (1 - h ** 2)) @ W_h.T"],
    "04.2": ["guess_steps_to_a_millionth = 6", "guess_steps_to_a_millionth = 19.5"],
    "04.3": ["def my_tanh_bound(W_h, n):\n    return np.abs(np.linalg.eigvals(W_h)).max() ** n",
             "def my_tanh_bound(W_h, n):\n    return np.linalg.norm(W_h) ** n"],
    "05.3": ["def my_clip_by_norm(grads, threshold):\n"
             "    return [g * min(1, threshold / np.linalg.norm(g)) for g in grads]",
             "def my_clip_by_norm(grads, threshold):\n"
             "    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))\n    return [g * threshold / norm for g in grads]"],
    "05.2": ["def my_first_bad_step(losses):\n    bad = np.flatnonzero(np.isnan(losses))\n"
             "    return int(bad[0]) if bad.size else None",
             "def my_first_bad_step(losses):\n    bad = np.flatnonzero(~np.isfinite(losses))\n"
             "    return int(bad[0]) if bad.size else -1"],
    "05.1": ["guess_growth_after_50 = 75", "guess_growth_after_50 = 1e20"],
    "06.1": ["def my_forget_gate(x, h, W_f, U_f, b_f):\n    return np.tanh(x @ W_f.T + h @ U_f.T + b_f)",
             "def my_forget_gate(x, h, W_f, U_f, b_f):\n    return sigmoid(x @ W_f.T + h @ U_f.T)",
             "def my_forget_gate(x, h, W_f, U_f, b_f):\n    return sigmoid(x @ W_f + h @ U_f + b_f)"],
    "06.2": ["def my_cell_path(forget_gates):\n    return forget_gates.sum(axis=1)",
             "def my_cell_path(forget_gates):\n    return forget_gates[:, -1]"],
    "06.3": ["my_forget_bias = 1.0", "my_forget_bias = 50.0"],
    "07.1": ["def my_orthogonal(n, rng):\n    return rng.standard_normal((n, n)) / np.sqrt(n)",
             "def my_orthogonal(n, rng):\n    return np.eye(n)"],
    "07.2": ["my_remedy = dict(init='he')", "my_remedy = dict(weight_scale=10.0)", "my_remedy = dict(residual=True)"],
    "08.1": ["def fixed_deep_network():\n    return mlp(2, nn.Sigmoid)",
             "def fixed_deep_network():\n    return mlp(DEEP_DEPTH, nn.ReLU)"],
    "08.2": ["fixed_rnn_settings = dict(lr=0.01)", "fixed_rnn_settings = dict(clip_value=10.0)"],
    "08.3": ["def fix_initialisation(model):\n    for _, layer in linear_layers(model):\n"
             "        nn.init.normal_(layer.weight, std=0.01)",
             "def fix_initialisation(model):\n    return mlp(10, nn.ReLU)"],
}


def run(source: str) -> dict:
    """The namespace after running an exercise cell (solution or mistake) on its own."""
    namespace = {}
    exec(source, namespace)
    return namespace


def test_every_exercise_has_a_solution_and_mistakes():
    assert list(SOLUTIONS) == list(exercises())
    assert set(WRONG_ANSWERS) == set(exercises())


@pytest.mark.parametrize("exercise_id", list(exercises()))
def test_reference_solution_is_correct(exercise_id):
    verdict = evaluate(exercises()[exercise_id], run(SOLUTIONS[exercise_id]))
    assert verdict.status == CORRECT, verdict.text


@pytest.mark.parametrize("exercise_id", list(exercises()))
def test_plausible_mistakes_are_told_not_yet_with_a_hint(exercise_id):
    exercise = exercises()[exercise_id]
    # The mistakes share the solution's imports (everything before the answer's definition).
    imports = SOLUTIONS[exercise_id].split(f"def {exercise.answer}")[0] if "def " in SOLUTIONS[exercise_id] else ""
    setup = "import numpy as np\nfrom torch import nn\n" + imports
    for source in WRONG_ANSWERS[exercise_id]:
        verdict = evaluate(exercise, run(setup + "\n" + source))
        assert verdict.status == WRONG, source
        assert len(verdict.message) > 20, source  # a hint, not just "wrong"
        assert "Checking it raised" not in verdict.message or exercise_id == "08.3", verdict.message


@pytest.mark.parametrize("exercise_id", list(exercises()))
def test_starters_and_missing_answers_are_not_attempted(exercise_id):
    exercise = exercises()[exercise_id]
    assert evaluate(exercise, {}).status == NOT_ATTEMPTED
    assert evaluate(exercise, {exercise.answer: ...}).status == NOT_ATTEMPTED
    starter = run(f"def {exercise.answer}(*args):\n    '''Your code here.'''\n    ...\n")
    assert evaluate(exercise, starter).status == NOT_ATTEMPTED


def test_an_answer_that_raises_is_a_verdict_not_an_error():
    namespace = run("def my_sigmoid_prime(z):\n    return undefined_name * z")
    verdict = check("01.1", namespace)
    assert verdict.status == WRONG and "NameError" in verdict.message
    assert results()["01.1"] == verdict


def test_check_rejects_an_unknown_exercise_id_with_the_list_of_ids():
    with pytest.raises(ValueError, match="01.1"):
        check("99.9", {})


def test_verdict_shows_as_text_and_html():
    bundle = check("01.3", {"guess_product_of_ten": 1e-6})._repr_mimebundle_()
    assert bundle["text/plain"] == "Exercise 01.3 (predict: ten factors of 1/4): correct."
    assert "correct" in bundle["text/html"]
