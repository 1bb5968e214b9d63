"""helpers.wire: values cross as data; anything else is refused, and malformed frames never run code."""
import json
import os
import struct

import numpy as np
import pytest
import torch
from torch import nn

from helpers import wire


def roundtrip(value):
    return wire.decode(wire.encode(value)[wire.HEADER.size:])


@pytest.mark.parametrize("value", [None, True, 0, -3, 2 ** 70, 1.5, float("inf"), "text", ..., [1, [2.0]], (1, "a"),
                                   {"a": 1, 2: [3]}, {(1, 2): None}])
def test_plain_values_cross_unchanged(value):
    got = roundtrip(value)
    assert got == value and type(got) is type(value)


def test_nan_crosses_as_nan():
    assert np.isnan(roundtrip(float("nan")))


@pytest.mark.parametrize("array", [np.arange(6.0).reshape(2, 3), np.array(-7.0), np.zeros((2, 0)),
                                   np.array([True, False]), np.arange(4, dtype=np.int32)])
def test_arrays_keep_shape_dtype_and_values(array):
    got = roundtrip(array)
    assert got.shape == array.shape and got.dtype == array.dtype and np.array_equal(got, array)


def test_numpy_scalars_tensors_and_generators_cross():
    scalar, tensor, generator = roundtrip([np.float64(2.5), torch.ones(3, requires_grad=True),
                                           np.random.default_rng(3)])
    assert scalar == 2.5 and scalar.shape == ()
    assert torch.equal(tensor, torch.ones(3)) and tensor.requires_grad
    assert generator.random() == np.random.default_rng(3).random()


def test_a_sequential_of_standard_layers_crosses_with_its_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.BatchNorm1d(3), nn.LeakyReLU(0.2), nn.Linear(3, 1))
    model.eval()
    copy = roundtrip(model)
    x = torch.randn(5, 4)
    assert copy is not model and not copy.training
    assert torch.equal(copy(x), model(x))
    assert copy[3].negative_slope == 0.2


class Custom(nn.Module):
    def forward(self, x):
        return x


class Tricky(float):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value, named", [(Custom(), "Custom"), (nn.Sequential(Custom()), "Custom"),
                                          (Tricky(1.0), "Tricky"), (object(), "object"), (print, "builtin"),
                                          (lambda: 0, "function"), (np.array([object()]), "dtype object")])
def test_code_and_objects_of_other_types_are_refused_by_name(value, named):
    with pytest.raises(wire.Unsendable, match=named):
        wire.encode(value)


def frame(header: dict, data: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">Q", len(head)) + head + data


@pytest.mark.parametrize("body", [
    b"", b"\x00" * 3, struct.pack(">Q", 10 ** 9) + b"{}",
    frame({"value": {"$": "array", "i": 0}, "arrays": [["object", [1]]]}, b"x" * 8),  # no pickled objects
    frame({"value": {"$": "array", "i": 0}, "arrays": [["float64", [1000]]]}, b"x" * 8),  # past the end
    frame({"value": {"$": "array", "i": 3}, "arrays": []}),
    frame({"value": {"$": "module", "type": "Custom", "settings": {"$": "dict", "items": []},
                     "state": [], "children": []}, "arrays": []}),
    frame({"value": {"$": "module", "type": "Linear", "settings": {"$": "dict", "items": [["in_features", 2]]},
                     "state": [], "children": []}, "arrays": []}),
    frame({"value": {"$": "generator", "state": {"$": "dict", "items": [["bit_generator", "MT19937"]]}},
           "arrays": []}),
    frame({"value": {"untagged": 1}, "arrays": []}),
    frame({"value": {"$": "float", "repr": "__import__('os')"}, "arrays": []}),
    frame({"value": 1, "arrays": []}) + b"trailing",
    b"\x00" * 8 + b"[" * 100000,
])
def test_malformed_frames_are_refused_with_a_wire_error(body):
    with pytest.raises(wire.WireError):
        wire.decode(body)


def test_frames_cross_a_pipe_and_a_silent_one_times_out():
    read, write = os.pipe()
    try:
        wire.send(write, {"x": np.arange(3.0)})
        assert np.array_equal(wire.receive(read, deadline=None)["x"], np.arange(3.0))
        import time
        with pytest.raises(wire.TimedOut):
            wire.receive(read, deadline=time.monotonic() + 0.2)
        os.close(write)
        write = None
        with pytest.raises(wire.Closed):
            wire.receive(read)
    finally:
        os.close(read)
        if write is not None:
            os.close(write)
