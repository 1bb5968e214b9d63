"""The grader's hidden cases of every code exercise (`Exercise.hidden`, run by `judge` with an rng).

Right answers pass them whatever the grader's seed; an answer written for the check's own
inputs (it remembers the right outputs for them) passes the check but fails the hidden
cases, with a hint that gives no reference value away; wrong answers stay wrong as before.
"""
import ast
import copy
import dataclasses
import functools
import re

import numpy as np
import pytest
import torch

from helpers.exercises import CORRECT, WRONG, answer_of, exercises, judge

CODE_EXERCISES = ["01.1", "01.2", "02.1", "02.2", "03.1", "03.3", "04.1", "04.3", "05.2", "05.4", "06.1", "06.2",
                  "06.4", "07.1", "08.2", "08.6"]
SEEDS = range(20)


# --- the answers, run as the notebook runs them ------------------------------------------

@functools.cache
def solutions() -> dict:
    from helpers.grading import PROJECT_ROOT, load_solutions
    return load_solutions(PROJECT_ROOT / "solutions" / "solutions.py")


@functools.cache
def notebook_imports(exercise_id: str) -> str:
    """The import statements of the notebook's code cells down to the exercise cell of `exercise_id` (its
    starter's imports too: an answer is written in that cell)."""
    import nbformat

    from helpers.grading import PROJECT_ROOT, course_notebooks
    nb = nbformat.read(course_notebooks(PROJECT_ROOT)[exercise_id[:2]], as_version=4)
    imports = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            tree = ast.parse(source)
            imports += [ast.get_source_segment(source, node) for node in tree.body
                        if isinstance(node, (ast.Import, ast.ImportFrom))]
        if cell.get("metadata", {}).get("exercise") == exercise_id:
            return "\n".join(imports)
    raise AssertionError(f"no exercise cell {exercise_id} in its notebook")


def namespace(exercise_id: str, source: str) -> dict:
    """The names after running `source` as the exercise cell, below the notebook's own imports."""
    names = {}
    exec(notebook_imports(exercise_id), names)
    exec(source, names)
    return names


def reference(exercise_id: str):
    """The reference solution's answer (a function)."""
    return namespace(exercise_id, solutions()[exercise_id])[exercises()[exercise_id].answer]


def test_every_code_exercise_and_no_other_has_hidden_cases():
    with_hidden = [exercise_id for exercise_id, exercise in exercises().items() if exercise.hidden is not None]
    assert with_hidden == CODE_EXERCISES
    assert [i for i in exercises() if f"def {exercises()[i].answer}(" in solutions()[i]] == CODE_EXERCISES


# --- 1. right answers pass, whatever the seed ----------------------------------------------

# Other right answers than the reference solution, as students write them.
ALSO_RIGHT = {
    "01.1": ["def my_sigmoid_prime(z):\n    s = 1 / (1 + np.exp(-z))\n    return s * (1 - s)",
             "def my_sigmoid_prime(z):\n    return sigmoid(z) * sigmoid(-z)",
             "def my_sigmoid_prime(z):\n    e = np.exp(-np.abs(z))\n    return e / (1 + e) ** 2",
             "def my_sigmoid_prime(z):\n    s = 0.5 * (1.0 + np.tanh(z / 2.0))\n    return s * (1.0 - s)",
             "def my_sigmoid_prime(z):\n    s = torch.sigmoid(torch.as_tensor(z))\n    return (s * (1 - s)).numpy()"],
    "01.2": ["def my_chain_gradient(w, z):\n    s = sigmoid(z)\n    return float(np.prod(w * s * (1 - s)))",
             "def my_chain_gradient(w, z):\n    total = 1.0\n    for wk, zk in zip(w, z):\n"
             "        total *= wk * sigmoid_prime(zk)\n    return total"],
    "02.1": ["def my_tanh_prime(z):\n    return 1 / np.cosh(z) ** 2",
             "def my_tanh_prime(z):\n    t = np.tanh(z)\n    return (1 - t) * (1 + t)"],
    "02.2": ["def my_saturated_fraction(z):\n    s = (1 + np.sqrt(0.9)) / 2\n"
             "    return float(np.mean(np.abs(z) > np.log(s / (1 - s))))",
             "def my_saturated_fraction(z):\n    s = 1 / (1 + np.exp(-np.asarray(z)))\n"
             "    return np.count_nonzero(s * (1 - s) < 0.025) / np.size(z)"],
    "03.1": ["def my_backward_step(W, delta, a_prev):\n"
             "    return np.einsum('bo,oi->bi', delta, W) * (a_prev - a_prev ** 2)"],
    "03.3": ["def my_he_init(fan_out, fan_in, rng):\n"
             "    return rng.normal(0.0, np.sqrt(2 / fan_in), size=(fan_out, fan_in))",
             "def my_he_init(fan_out, fan_in, rng):\n"
             "    return rng.standard_normal((fan_in, fan_out)).T * np.sqrt(2 / fan_in)",
             "from helpers.init import he_normal as my_he_init"],
    "04.1": ["def my_bptt_step(W_h, dh, h):\n    return np.einsum('bi,ij->bj', dh * (1 - h * h), W_h)"],
    "04.3": ["def my_tanh_bound(W_h, n):\n    return np.linalg.svd(W_h, compute_uv=False)[0] ** n",
             "def my_tanh_bound(W_h, n):\n    return np.sqrt(np.linalg.eigvalsh(W_h.T @ W_h)[-1]) ** n",
             "def my_tanh_bound(W_h, n):\n    bound = 1.0\n    for _ in range(n):\n"
             "        bound *= np.linalg.norm(W_h, 2)\n    return bound"],
    "05.2": ["import math\n\n\ndef my_first_bad_step(losses):\n    for step, loss in enumerate(losses):\n"
             "        if not math.isfinite(loss):\n            return step\n    return None",
             "def my_first_bad_step(losses):\n    bad = np.isnan(losses) | np.isinf(losses)\n"
             "    return int(np.argmax(bad)) if bad.any() else None"],
    # torch's rule (it divides by norm + 1e-6), torch itself in float64 and float32, and other ways to the rule.
    "05.4": ["def my_clip_by_norm(grads, threshold):\n    total = np.sqrt(sum(np.sum(g ** 2) for g in grads))\n"
             "    clip_coef = min(threshold / (total + 1e-6), 1.0)\n    return [g * clip_coef for g in grads]",
             "def my_clip_by_norm(grads, threshold):\n"
             "    params = [torch.zeros(np.shape(g), dtype=torch.float64) for g in grads]\n"
             "    for p, g in zip(params, grads):\n        p.grad = torch.tensor(g)\n"
             "    torch.nn.utils.clip_grad_norm_(params, threshold)\n    return [p.grad.numpy() for p in params]",
             "def my_clip_by_norm(grads, threshold):\n"
             "    params = [torch.zeros(np.shape(g)) for g in grads]\n"
             "    for p, g in zip(params, grads):\n        p.grad = torch.tensor(g, dtype=torch.float32)\n"
             "    torch.nn.utils.clip_grad_norm_(params, threshold)\n    return [p.grad for p in params]",
             "def my_clip_by_norm(grads, threshold):\n"
             "    norm = np.linalg.norm([np.linalg.norm(g) for g in grads])\n"
             "    if norm <= threshold:\n        return [g.copy() for g in grads]\n"
             "    return tuple(g * (threshold / norm) for g in grads)",
             "from helpers.clipping import global_norm\n\n\ndef my_clip_by_norm(grads, threshold):\n"
             "    return [g / max(1.0, global_norm(grads) / threshold) for g in grads]"],
    "06.1": ["def my_forget_gate(x, h, W_f, U_f, b_f):\n    return 1 / (1 + np.exp(-(x @ W_f.T + h @ U_f.T + b_f)))",
             "def my_forget_gate(x, h, W_f, U_f, b_f):\n    z = x @ W_f.T + h @ U_f.T + b_f\n"
             "    return 0.5 * (1 + np.tanh(z / 2))",
             "def my_forget_gate(x, h, W_f, U_f, b_f):\n"
             "    z = torch.as_tensor(x @ W_f.T) + torch.as_tensor(h @ U_f.T) + torch.as_tensor(b_f)\n"
             "    return torch.sigmoid(z)"],
    "06.2": ["def my_cell_path(forget_gates):\n    return np.cumprod(forget_gates, axis=1)[:, -1]",
             "def my_cell_path(forget_gates):\n    return np.exp(np.log(forget_gates).sum(axis=1))",
             "def my_cell_path(forget_gates):\n    out = np.ones((forget_gates.shape[0], forget_gates.shape[2]))\n"
             "    for t in range(forget_gates.shape[1]):\n        out = out * forget_gates[:, t]\n    return out"],
    # Slices by hand with einsum and a list; torch tensors in and out; the weights' gradients summed example by example.
    "06.4": ["def my_lstm_step_backward(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates):\n"
             "    H = h_prev.shape[1]\n    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))\n"
             "    tc = np.tanh(f * c_prev + i * g)\n    total = dc + dh * o * (1 - tc * tc)\n"
             "    dz = np.concatenate([total * g * i * (1 - i), total * c_prev * f * (1 - f),\n"
             "                         total * i * (1 - g * g), dh * tc * o * (1 - o)], axis=1)\n"
             "    return [np.einsum('bk,ki->bi', dz, W_ih), np.einsum('bk,kh->bh', dz, W_hh), total * f,\n"
             "            np.einsum('bk,bi->ki', dz, x), np.einsum('bk,bh->kh', dz, h_prev), dz.sum(axis=0)]",
             "def my_lstm_step_backward(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates):\n"
             "    dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates = (torch.as_tensor(a) for a in\n"
             "                                                   (dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates))\n"
             "    i, f, g, o = gates.chunk(4, dim=1)\n    tc = torch.tanh(f * c_prev + i * g)\n"
             "    total = dc + dh * o * (1 - tc ** 2)\n"
             "    dz = torch.cat([total * g * i * (1 - i), total * c_prev * f * (1 - f),\n"
             "                    total * i * (1 - g ** 2), dh * tc * o * (1 - o)], dim=1)\n"
             "    return dz @ W_ih, dz @ W_hh, total * f, dz.T @ x, dz.T @ h_prev, dz.sum(dim=0)",
             "def my_lstm_step_backward(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates):\n"
             "    i, f, g, o = np.hsplit(gates, 4)\n    c = f * c_prev + i * g\n"
             "    dc_total = dc + dh * o * (1 - np.tanh(c) ** 2)\n"
             "    da = np.hstack([dc_total * g * i * (1 - i), dc_total * c_prev * f * (1 - f),\n"
             "                    dc_total * i * (1 - g ** 2), dh * np.tanh(c) * o * (1 - o)])\n"
             "    dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)\n"
             "    for n in range(len(x)):\n        dW_ih += np.outer(da[n], x[n])\n"
             "        dW_hh += np.outer(da[n], h_prev[n])\n"
             "    return da @ W_ih, da @ W_hh, dc_total * f, dW_ih, dW_hh, np.sum(da, axis=0)"],
    "07.1": ["def my_orthogonal(n, rng):\n    return np.linalg.qr(rng.standard_normal((n, n)))[0]",
             "def my_orthogonal(n, rng):\n    u, _, vt = np.linalg.svd(rng.standard_normal((n, n)))\n"
             "    return u @ vt"],
    # Networks drawn from torch's global generator: the hidden cases seed it with another seed.
    "08.2": ["def fixed_deep_network():\n    model = mlp(DEEP_DEPTH, nn.ReLU)\n"
             "    for layer in model:\n        if isinstance(layer, nn.Linear):\n"
             "            nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')\n"
             "            nn.init.zeros_(layer.bias)\n    return model",
             "def fixed_deep_network():\n    layers, n_in = [], 4\n    for _ in range(DEEP_DEPTH):\n"
             "        layers += [nn.Linear(n_in, 32), nn.BatchNorm1d(32), nn.Sigmoid()]\n        n_in = 32\n"
             "    return nn.Sequential(*layers, nn.Linear(n_in, 1))",
             "def fixed_deep_network():\n    layers, n_in = [], 4\n    for _ in range(DEEP_DEPTH):\n"
             "        layers += [nn.Linear(n_in, 32), nn.Tanh()]\n        n_in = 32\n"
             "    return nn.Sequential(*layers, nn.Linear(n_in, 1))"],
    "08.6": ["def fix_initialisation(model):\n    for _, layer in linear_layers(model):\n"
             "        nn.init.kaiming_uniform_(layer.weight, nonlinearity='relu')\n        nn.init.zeros_(layer.bias)",
             "import math\n\n\ndef fix_initialisation(model):\n    with torch.no_grad():\n"
             "        for _, layer in linear_layers(model):\n"
             "            layer.weight.normal_(0.0, math.sqrt(2.0 / layer.in_features))\n"
             "            layer.bias.zero_()\n"
             "    return model"],
}


def test_every_code_exercise_has_other_right_answers():
    assert set(ALSO_RIGHT) == set(CODE_EXERCISES)


@pytest.mark.parametrize("exercise_id", CODE_EXERCISES)
def test_the_reference_solution_passes_the_hidden_cases_for_every_seed(exercise_id):
    exercise = exercises()[exercise_id]
    answer = answer_of(exercise, namespace(exercise_id, solutions()[exercise_id]))
    for seed in SEEDS:
        verdict = judge(exercise, answer, np.random.default_rng(seed))
        assert (verdict.status, verdict.hidden) == (CORRECT, "passed"), (seed, verdict.text, verdict.hidden)


@pytest.mark.parametrize("exercise_id, source", [(i, s) for i in CODE_EXERCISES for s in ALSO_RIGHT[i]])
def test_other_right_answers_pass_the_check_and_the_hidden_cases_for_every_seed(exercise_id, source):
    exercise = exercises()[exercise_id]
    answer = answer_of(exercise, namespace(exercise_id, source))
    assert judge(exercise, answer).status == CORRECT, source  # the check itself, once
    hidden_only = dataclasses.replace(exercise, test=lambda value: None)
    for seed in SEEDS:
        verdict = judge(hidden_only, answer, np.random.default_rng(seed))
        assert verdict.hidden == "passed", (seed, source, verdict.hidden)


# --- 2. an answer written for the check's own inputs fails them --------------------------

def fingerprint(value):
    """A key, equal for equal arguments: arrays by their bytes, a Generator by its state, a model by its weights."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__,) + tuple(fingerprint(v) for v in value)
    if isinstance(value, torch.nn.Module):
        return ("model",) + tuple(fingerprint(p.detach().numpy()) for p in value.parameters())
    if isinstance(value, np.random.Generator):
        return ("rng", repr(value.bit_generator.state))
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return ("value", repr(value))


def remembering(exercise_id: str, otherwise):
    """An answer that gives the reference's outputs for the check's own inputs, which it saw once, and
    `otherwise(*args)` for any other input."""
    exercise, right = exercises()[exercise_id], reference(exercise_id)
    seen = {}

    def recording(*args):
        key = fingerprint(args)  # before the call, which may use up an rng
        seen[key] = right(*args)
        return copy.deepcopy(seen[key])

    assert exercise.test(recording) is None

    def answer(*args):
        key = fingerprint(args)
        return copy.deepcopy(seen[key]) if key in seen else otherwise(*args)
    return answer


def remembering_in_place(exercise_id: str):
    """For 08.6: the weights the reference gives the check's own network, and nothing done to any other."""
    exercise, right = exercises()[exercise_id], reference(exercise_id)
    seen = {}

    def recording(model):
        key = fingerprint(model)
        right(model)
        seen[key] = copy.deepcopy(model.state_dict())

    assert exercise.test(recording) is None

    def answer(model):
        key = fingerprint(model)
        if key in seen:
            model.load_state_dict(seen[key])
    return answer


def the_same_network():
    """For 08.2: the reference's network, built once; every call returns that one object."""
    model = reference("08.2")()
    return lambda: model


def broken_after_the_first_call():
    """For 08.2: the reference's network on the first call (the check's), the broken one afterwards."""
    from helpers.exercises.nb08 import broken_deep_network
    right, calls = reference("08.2"), []

    def answer():
        calls.append(1)
        return right() if len(calls) == 1 else broken_deep_network()
    return answer


# What each cheat answers for an input it has not seen: nothing computed, a wrong formula or a hard-coded size.
OTHERWISE = {
    "01.1": lambda z: np.zeros_like(z, dtype=float),
    "01.2": lambda w, z: 0.0,
    "02.1": lambda z: 1 - np.asarray(z) ** 2,
    "02.2": lambda z: 0.5,
    "03.1": lambda W, delta, a_prev: delta @ W,
    "03.3": lambda fan_out, fan_in, rng: rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / 400),
    "04.1": lambda W_h, dh, h: dh @ W_h,
    "04.3": lambda W_h, n: 1.0,
    "05.2": lambda losses: None,
    "05.4": lambda grads, threshold: [np.copy(g) for g in grads],
    "06.1": lambda x, h, W_f, U_f, b_f: np.full((len(x), len(b_f)), 0.5),
    "06.2": lambda forget_gates: forget_gates[:, -1],
    "06.4": lambda dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates: (np.zeros_like(x), np.zeros_like(dh), dc * 0.5,
                                                                 np.zeros_like(W_ih), np.zeros_like(W_hh),
                                                                 np.zeros(len(W_ih))),
    "07.1": lambda n, rng: np.eye(n),
}


def cheats(exercise_id: str) -> list:
    """Ways to make a fresh cheating answer for `exercise_id`."""
    if exercise_id == "08.2":
        return [the_same_network, broken_after_the_first_call]
    if exercise_id == "08.6":
        return [lambda: remembering_in_place("08.6")]
    return [lambda: remembering(exercise_id, OTHERWISE[exercise_id])]


def reference_outputs(exercise_id: str, seed: int) -> list:
    """What the reference answers on the hidden cases the grader draws with `seed`."""
    outputs, right = [], reference(exercise_id)

    def recording(*args):
        outputs.append(copy.deepcopy(right(*args)))
        return outputs[-1]

    assert exercises()[exercise_id].hidden(recording, np.random.default_rng(seed)) is None
    return outputs


def scalars(value) -> list:
    """Every number in an answer's output (arrays, lists of them, numbers), ints kept as ints."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [number for item in value for number in scalars(item)]
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [float(x) for x in np.ravel(np.asarray(value, dtype=float))]


def revealed(hint: str, outputs: list) -> list:
    """The numbers in `hint` that may be reference values: any number with a fraction or exponent, and any
    whole number that is one of the reference's whole-number outputs (05.2's step). Sizes and shapes are whole."""
    text = re.sub(r"\b(?:float|int)(?:16|32|64)\b", "", hint)
    numbers = re.findall(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)
    whole = {x for x in outputs if isinstance(x, int)}
    return [n for n in numbers if not n.isdigit() or int(n) in whole]


def test_revealed_finds_values_but_not_sizes():
    assert revealed("For a (7, 3) input drawn by the grader your values differ.", [0.25, 0.1]) == []
    assert revealed("For a float32 history the answer is 12.", [12]) == ["12"]
    assert revealed("Your value should be 0.2500.", [0.25]) == ["0.2500"]
    assert revealed("It should be 4e-06.", [4e-06]) == ["4e-06"]


@pytest.mark.parametrize("exercise_id", CODE_EXERCISES)
def test_an_answer_written_for_the_checks_own_inputs_fails_the_hidden_cases(exercise_id):
    exercise = exercises()[exercise_id]
    for make in cheats(exercise_id):
        # A fresh cheat for each verdict: the check trains 08.2's network in place.
        assert judge(exercise, answer_of(exercise, {exercise.answer: make()})).status == CORRECT, make
        for seed in range(5):
            verdict = judge(exercise, answer_of(exercise, {exercise.answer: make()}), np.random.default_rng(seed))
            assert verdict.status == WRONG, (make, seed, verdict.text)
            assert verdict.hidden not in ("", "passed") and len(verdict.hidden) > 20, verdict.hidden
            assert "raised" not in verdict.hidden, verdict.hidden
            if exercise_id not in ("08.2", "08.6"):  # there the reference's outputs are networks, not numbers
                outputs = [x for output in reference_outputs(exercise_id, seed) for x in scalars(output)]
                assert revealed(verdict.hidden, outputs) == [], verdict.hidden


@pytest.mark.parametrize("exercise_id", CODE_EXERCISES)
def test_the_hidden_cases_depend_on_the_seed_alone(exercise_id):
    exercise = exercises()[exercise_id]
    make = cheats(exercise_id)[0]
    hints = [exercise.hidden(make(), np.random.default_rng(7)) for _ in range(2)]
    assert hints[0] == hints[1] and hints[0]


def test_the_hidden_cases_leave_torchs_global_generator_as_they_found_it():
    for exercise_id in ("08.2", "08.6"):
        state = torch.random.get_rng_state()
        assert exercises()[exercise_id].hidden(reference(exercise_id), np.random.default_rng(3)) is None
        assert torch.equal(torch.random.get_rng_state(), state)


def test_an_answer_that_clips_with_the_courses_helper_on_other_inputs_is_refused():
    from helpers import clipping
    from helpers.exercises.nb05 import USED_COURSE_HELPER
    fn = clipping.clip_by_global_norm
    before = (fn.__code__, fn.__defaults__, fn.__kwdefaults__)
    exercise = exercises()["05.4"]
    for otherwise in (lambda grads, threshold: clipping.clip_by_global_norm(grads, threshold).grads,
                      lambda grads, threshold: _caught(clipping.clip_by_global_norm, grads, threshold)):
        answer = answer_of(exercise, {exercise.answer: remembering("05.4", otherwise)})
        verdict = judge(exercise, answer, np.random.default_rng(0))
        assert verdict.status == WRONG and verdict.hidden == USED_COURSE_HELPER, verdict
        assert (fn.__code__, fn.__defaults__, fn.__kwdefaults__) == before
    result = clipping.clip_by_global_norm([np.array([3.0, 4.0])], 1.0)
    assert np.allclose(result.grads[0], [0.6, 0.8])  # the helper works again


def _caught(clip, grads, threshold):
    """Calls the course's clipping, catches whatever it raises, and clips by hand."""
    try:
        return clip(grads, threshold).grads
    except BaseException:
        norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
        return [g * min(1.0, threshold / norm) for g in grads]


def lstm_step_hidden_calls(seed: int) -> list:
    """The arguments of each call 06.4's hidden cases make with `seed`, answered by the reference."""
    from helpers.exercises.nb06 import _step_hidden
    calls = []

    def recording(*args):
        calls.append(args)
        return reference("06.4")(*args)

    assert _step_hidden(recording, np.random.default_rng(seed)) is None
    return calls


def test_the_lstm_step_hidden_cases_are_a_batch_of_1_with_h_1_other_sizes_and_saturated_gates():
    drawn = set()
    for seed in SEEDS:
        calls = lstm_step_hidden_calls(seed)
        sizes = [(x.shape[0], x.shape[1], h_prev.shape[1]) for _, _, x, h_prev, *_ in calls]  # (B, n_in, H)
        assert len(calls) == 3 and sizes[0][0] == sizes[0][2] == 1 and sizes[1][0] > 1
        assert all(n_in != H for _, n_in, H in sizes[:2])
        gates = np.abs(calls[2][-1])
        distance = np.minimum(gates, 1 - gates)  # to 0 or to +-1, where the gates' slopes vanish
        assert (distance < 1e-3).mean() > 0.5 and (distance < 1e-6).any(), seed
        drawn.add(tuple(sizes))
    assert len(drawn) > len(SEEDS) // 2  # the sizes follow the seed


# --- 3. wrong answers stay wrong, with the check's own hint -------------------------------

WRONG_ANSWERS = {
    "01.1": "def my_sigmoid_prime(z):\n    return sigmoid(z)",
    "01.2": "def my_chain_gradient(w, z):\n    return float(np.sum(w * sigmoid_prime(z)))",
    "02.1": "def my_tanh_prime(z):\n    return 1 - z ** 2",
    "02.2": "def my_saturated_fraction(z):\n    return float(np.mean(sigmoid_prime(z) < 0.1))",
    "03.1": "def my_backward_step(W, delta, a_prev):\n    return delta @ W",
    "03.3": "def my_he_init(fan_out, fan_in, rng):\n"
            "    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(1 / fan_in)",
    "04.1": "def my_bptt_step(W_h, dh, h):\n    return (dh * (1 - h ** 2)) @ W_h.T",
    "04.3": "def my_tanh_bound(W_h, n):\n    return np.linalg.norm(W_h) ** n",
    "05.2": "def my_first_bad_step(losses):\n    bad = np.flatnonzero(np.isnan(losses))\n"
            "    return int(bad[0]) if bad.size else None",
    "05.4": "def my_clip_by_norm(grads, threshold):\n"
            "    return [g * min(1, threshold / np.linalg.norm(g)) for g in grads]",
    "06.1": "def my_forget_gate(x, h, W_f, U_f, b_f):\n    return np.tanh(x @ W_f.T + h @ U_f.T + b_f)",
    "06.2": "def my_cell_path(forget_gates):\n    return forget_gates.sum(axis=1)",
    "06.4": "def my_lstm_step_backward(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates):\n"
            "    i, f, g, o = np.split(gates, 4, axis=1)\n    dz = np.hstack([dc * g * i, dc * c_prev * f, dc * i, dh * o])\n"
            "    return dz @ W_ih, dz @ W_hh, dc * f, dz.T @ x, dz.T @ h_prev, dz.sum(axis=0)",
    "07.1": "def my_orthogonal(n, rng):\n    return rng.standard_normal((n, n)) / np.sqrt(n)",
    "08.2": "def fixed_deep_network():\n    return mlp(DEEP_DEPTH, nn.ReLU)",
    "08.6": "def fix_initialisation(model):\n    for _, layer in linear_layers(model):\n"
            "        nn.init.normal_(layer.weight, std=0.01)",
}


@pytest.mark.parametrize("exercise_id", CODE_EXERCISES)
def test_a_wrong_answer_gets_the_checks_verdict_and_no_hidden_cases(exercise_id):
    exercise = exercises()[exercise_id]
    answer = answer_of(exercise, namespace(exercise_id, WRONG_ANSWERS[exercise_id]))
    public = judge(exercise, answer)
    assert public.status == WRONG and len(public.message) > 20, public.text
    assert "raised" not in public.message, public.message
    for seed in (0, 1):
        assert judge(exercise, answer, np.random.default_rng(seed)) == public  # hidden "" : not run


def test_the_broken_relu_network_is_redrawn_by_its_seed_and_the_checks_one_is_seed_0():
    from helpers.exercises.nb08 import broken_relu_network
    weights = [[p.detach() for p in broken_relu_network(seed).parameters()] for seed in (0, 0, 1)]
    default = [p.detach() for p in broken_relu_network().parameters()]
    assert all(torch.equal(a, b) for a, b in zip(weights[0], default))
    assert all(torch.equal(a, b) for a, b in zip(weights[0], weights[1]))
    assert not torch.equal(weights[0][0], weights[2][0])
    assert [p.shape for p in weights[0]] == [p.shape for p in weights[2]]
