"""Claims the notebooks make in prose, each set up as the sentence says and checked.

A test's name names the notebook; its docstring quotes the claim.
"""
import json
import subprocess
import sys

import numpy as np

from helpers.execute import CPU_SETTINGS, OTHER_CPU, kernel_env
from helpers.sequence import MACHINE_TOLERANCE, stored_point


def run_as(setting: dict, code: str):
    """The JSON that `code` prints, run in a fresh process as `setting` makes it compute."""
    out = subprocess.run([sys.executable, "-c", code], env=kernel_env(setting), check=True, capture_output=True,
                         text=True, timeout=600).stdout
    return json.loads(out)


# The three runs of notebooks 05 and 08 that turn to inf: plain SGD at learning rate 0.3
# (05's `free`, 08's setup 2) and the same with weight decay 0.1 (05's last weight-decay run).
BLOW_UPS = """
import json
from helpers.exercises.nb08 import train_rnn
print(json.dumps([train_rnn().first_nonfinite_step, train_rnn(weight_decay=0.1).first_nonfinite_step]))
"""


def test_05_the_blow_up_step_varies_by_a_few_steps_between_processors():
    """05: "That step is not the same on every computer ... the blow-up comes a few steps earlier or later";
    "it cannot stop a blow-up that happens within 30 steps"."""
    here, other = run_as({}, BLOW_UPS), run_as(OTHER_CPU, BLOW_UPS)
    assert all(step is not None and step < 30 for step in here + other)
    assert here != other, "the same steps under both arithmetics: the sentence would have no example here"
    assert max(abs(a - b) for a, b in zip(here, other)) <= 5


TANH_LAB = """
import json, numpy as np
from helpers.data import insurance_batch
from helpers.lab import DEFAULT_BATCH, DEFAULT_WIDTH, numpy_train
from helpers.network import NetConfig
config = NetConfig(depth=20, width=DEFAULT_WIDTH, activation="tanh", init="normal")
run = numpy_train(config, *insurance_batch(DEFAULT_BATCH), rng=np.random.default_rng(0))
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
print(json.dumps([float(run.loss[-1]), bool(__cpu_features__.get("AVX512_SKX")), "X86_V3" in __cpu_dispatch__]))
"""


def test_07_the_saturated_tanh_network_ends_near_0_6_and_its_second_digit_depends_on_the_processor():
    """07: "shown to one digit only: it differs in the second digit from one computer to another
    (on one x86 processor, 0.60 with numpy's AVX-512 arithmetic and 0.62 with its AVX2 arithmetic)"."""
    own, has_avx512, x86 = run_as({}, TANH_LAB)
    avx2 = run_as(CPU_SETTINGS["numpy-avx2"], TANH_LAB)[0]
    for loss in (own, avx2):
        assert f"{loss:.1g}" == "0.6"  # what the notebook prints, on either arithmetic
    if x86:
        assert round(avx2, 2) == 0.62
    if has_avx512:
        assert round(own, 2) == 0.60 and abs(own - avx2) > 0.005


KNIFE_EDGE = ("adding", "rnn", 25, 2)  # learns for one arithmetic and not for the other


def test_06_a_run_balanced_between_learning_and_not_can_tip_either_way():
    """06: "a run balanced between learning and not within the budget can tip either way";
    data/README.md names this point among them."""
    code = f"import json; from helpers.sequence import run_point; print(json.dumps(run_point(*{KNIFE_EDGE!r})['metric']))"
    other = run_as(OTHER_CPU, code)
    stored = stored_point(*KNIFE_EDGE)["metric"]
    assert abs(other - stored) > MACHINE_TOLERANCE["adding"]
    assert min(other, stored) < 0.167 < max(other, stored) or abs(other - stored) > 0.03


def test_03_deep_sigmoid_networks_plateau_at_ln2_and_their_first_layers_barely_move():
    """03: the deep sigmoid networks "sit near ln 2 ~ 0.69" at learning rate 0.1, and "the first layers'
    move many thousands of times less" than the last in the 10-layer network."""
    from helpers.data import load_insurance, standardize
    from helpers.network import NetConfig, init_params, to_torch
    from helpers.training import train

    data = load_insurance()
    X, _, _ = standardize(data.X)
    for depth in (4, 10):
        config = NetConfig(depth=depth, width=16, activation="sigmoid", init="xavier", n_in=4)  # as 03 trains them
        model = to_torch(init_params(config, np.random.default_rng(0)), "sigmoid")
        log = train(model, X, data.y, steps=500, lr=0.1, progress=False)
        assert abs(log.final_loss - np.log(2)) < 0.01
        change = log.rel_weight_change.mean(axis=0)
        if depth == 10:
            assert change[-1] / change[0] > 1000
