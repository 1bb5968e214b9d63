"""The stored notebooks print the same text on other processors.

The nbval items of this suite compare every notebook as this machine computes it. Here
nbval runs them again in kernels started with `helpers.execute.OTHER_CPU`: torch without
vector kernels, MKL's kernels for AVX2 and numpy without its AVX-512 loops, so a number
stored with more digits than the computation can promise fails here, on any machine.
"""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.execute import OTHER_CPU, differences, execute, kernel_env, text_outputs

ROOT = Path(__file__).resolve().parent.parent

# Results that each depend on one of the libraries' kernels (torch's own, MKL, numpy's).
ARITHMETIC = """
import hashlib, json, numpy as np, torch
x = np.linspace(-20, 20, 100001)
t = torch.from_numpy(x)
a = torch.randn(100, 64, generator=torch.Generator().manual_seed(0))
print(json.dumps({"numpy exp": hashlib.md5(np.exp(x).tobytes()).hexdigest(),
                  "torch tanh": hashlib.md5(torch.tanh(t).numpy().tobytes()).hexdigest(),
                  "torch matmul": hashlib.md5((a @ a.T).numpy().tobytes()).hexdigest()}))
"""


def arithmetic(setting: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", ARITHMETIC], env=kernel_env(setting), check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def test_the_other_cpu_setting_really_computes_differently():
    """Otherwise the second pass below would only repeat the first."""
    own, other = arithmetic({}), arithmetic(OTHER_CPU)
    assert [k for k in own if own[k] != other[k]], "OTHER_CPU changed no library's arithmetic here"


def test_notebooks_match_their_stored_outputs_on_another_cpu():
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header",
                             "notebooks"], cwd=ROOT, env=kernel_env(OTHER_CPU), capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, "notebooks differ under OTHER_CPU:\n" + result.stdout[-20000:]


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def with_output(nb, index, text):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells[index].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return nb


def test_differences_name_the_cell_and_the_lines_that_differ():
    nb = notebook("a = 1", "print(a)")
    stored, fresh = with_output(nb, 1, "loss 0.359\n"), with_output(nb, 1, "loss 0.368\n")
    [found] = differences(stored, fresh)
    assert found.startswith("code cell 1:") and "-[stream stdout] loss 0.359" in found and "+[stream stdout] loss 0.368" in found
    assert differences(stored, with_output(nb, 1, "loss 0.359\n")) == []


def test_compared_text_is_sanitized_as_nbval_sanitizes_it():
    nb = notebook("print(err)")
    a = with_output(nb, 0, "x: relative error 1.1e-16 (expected below 1e-12): OK\n")
    b = with_output(nb, 0, "x: relative error 8.3e-17 (expected below 1e-12): OK\n")
    assert differences(a, b) == []
    assert text_outputs(a) == [(0, "[stream stdout] x: relative error ERR (expected below 1e-12): OK\n")]


def test_a_print_split_over_two_stream_messages_compares_as_one():
    nb = with_output(notebook("print(a)"), 0, "line 1\n")
    split = nbformat.from_dict(json.loads(json.dumps(nb)))
    split.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in ("line", " 1\n")]
    assert differences(nb, split) == []


def test_execute_saves_a_portable_notebook_and_refuses_one_that_is_not(tmp_path):
    portable, fragile = tmp_path / "portable.ipynb", tmp_path / "fragile.ipynb"
    nbformat.write(notebook("import numpy as np", "print(f'{np.exp(1.0):.6f}')"), portable)
    # numpy's exp, torch's tanh and a matmul to the last bit: OTHER_CPU changes at least one
    # of them (the test above), whichever setting this machine runs with.
    nbformat.write(notebook(ARITHMETIC), fragile)
    before = fragile.read_bytes()
    assert execute(portable) == []
    assert nbformat.read(portable, 4).cells[1].outputs[0].text == "2.718282\n"
    found = execute(fragile)
    assert len(found) == 1 and found[0].startswith("code cell 0:")
    assert fragile.read_bytes() == before, "a notebook whose text differs on another CPU must not be saved"


@pytest.mark.parametrize("args", [["--check", "--settings", "own,nonsense"]])
def test_unknown_settings_are_refused_with_the_allowed_names(args, capsys):
    from helpers.execute import main
    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err
    assert "nonsense" in err and "torch-default" in err
