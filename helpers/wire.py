"""Data, and only data, between the grader and a student's process.

A message is a frame: 8 bytes of length, then a JSON header, then the raw bytes of
the arrays the header lists (dtype and shape). JSON cannot carry code, arrays are
read with `np.frombuffer` from a short list of dtypes, and everything is checked on
arrival, so a message from a student's process is at worst wrong data, never code
run in the grader.

What crosses: None, bool, int, float, str, list, tuple, dict, Ellipsis, numpy arrays
and scalars, `np.random.Generator` (its state), torch tensors, and torch modules built
from `nn.Sequential` and the standard layers in MODULES (their settings and weights).
"""
from __future__ import annotations

import json
import math
import os
import select
import struct
import time

import numpy as np

MAX_FRAME = 256 << 20  # bytes: a long answer is a few MB; more is a student filling the pipe
MAX_DEPTH = 32
MAX_STRING = 100_000
DTYPES = ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "uint32", "uint64", "bool",
          "complex128")
HEADER = struct.Struct(">Q")


class WireError(ValueError):
    """A message that is not what the protocol allows (from a student's process: treat as a wrong answer)."""


class Unsendable(ValueError):
    """A value of a type that cannot cross as data; the message names the type and what can."""


# --- torch modules as data ---------------------------------------------------------------
# A module crosses as its type name, its constructor's settings (by attribute name) and its own
# parameters and buffers; only these types, so rebuilding one runs torch's code, never a student's.
MODULES = {
    "Sequential": (), "Identity": (), "Sigmoid": (), "Tanh": (), "ReLU": (), "Softsign": (), "SiLU": (),
    "Linear": ("in_features", "out_features"),
    "LeakyReLU": ("negative_slope",), "ELU": ("alpha",), "GELU": ("approximate",), "Softplus": ("beta", "threshold"),
    "Dropout": ("p",),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine"),
}


def _module_spec(module, arrays: list, depth: int) -> dict:
    name = type(module).__name__
    import torch.nn as nn
    if name not in MODULES or type(module) is not getattr(nn, name):
        raise Unsendable(f"a torch module of type {name}: build the network from nn.Sequential and these layers: "
                         + ", ".join(sorted(set(MODULES) - {'Sequential'})))
    settings = {key: getattr(module, key) for key in MODULES[name]}
    if name in ("Linear", "LayerNorm"):
        settings["bias"] = getattr(module, "bias", None) is not None
    own = {**module._parameters, **module._buffers}
    state = [[key, None if value is None else _encode(value, arrays, depth + 1)] for key, value in own.items()]
    children = [[key, _module_spec(child, arrays, depth + 1)] for key, child in module._modules.items()]
    return {"$": "module", "type": name, "settings": _encode(settings, arrays, depth + 1), "state": state, "children": children,
            "training": bool(module.training)}


def _build_module(spec: dict, arrays: list, depth: int):
    import torch
    from torch import nn
    name = spec.get("type")
    if name not in MODULES:
        raise WireError(f"module type {name!r} is not allowed")
    settings = _decode(spec.get("settings"), arrays, depth + 1)
    if not isinstance(settings, dict) or set(settings) - {*MODULES[name], "bias"}:
        raise WireError(f"bad settings for {name}")
    if isinstance(settings.get("normalized_shape"), list):
        settings["normalized_shape"] = tuple(settings["normalized_shape"])
    try:
        module = nn.Sequential() if name == "Sequential" else getattr(nn, name)(**settings)
    except (TypeError, ValueError, RuntimeError) as err:
        raise WireError(f"cannot build {name}({settings}): {err}") from None
    _expect(isinstance(spec.get("state"), list) and isinstance(spec.get("children"), list), "bad module")
    for key, child in spec["children"]:
        _expect(isinstance(key, str) and isinstance(child, dict), "bad module child")
        module.add_module(key, _build_module(child, arrays, depth + 1))
    own = {**module._parameters, **module._buffers}
    for key, value in spec["state"]:
        _expect(key in own, f"{name} has no parameter or buffer {key!r}")
        value = _decode(value, arrays, depth + 1)
        if value is None or own[key] is None:
            _expect(value is None and own[key] is None, f"{name}.{key} missing")
            continue
        _expect(isinstance(value, torch.Tensor) and value.shape == own[key].shape, f"{name}.{key} has another shape")
        with torch.no_grad():
            own[key].data = value.to(own[key].dtype)
        if key in module._parameters:
            module._parameters[key].requires_grad_(value.requires_grad)
    module.train(bool(spec.get("training", True)))
    return module


# --- values ------------------------------------------------------------------------------

def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise WireError(what)


def _array_ref(array: np.ndarray, arrays: list) -> int:
    if array.dtype.name not in DTYPES:
        raise Unsendable(f"a numpy array of dtype {array.dtype}; send one of {', '.join(DTYPES)}")
    arrays.append(np.array(array, order="C", copy=True))  # (np.ascontiguousarray makes 0-d arrays 1-d)
    return len(arrays) - 1


def _encode(value, arrays: list, depth: int = 0):
    """`value` as JSON-able data; arrays go to `arrays` and are referred to by index."""
    if depth > MAX_DEPTH:
        raise Unsendable(f"a value nested more than {MAX_DEPTH} deep")
    kind = type(value)
    if value is None or kind in (bool, str):
        if kind is str and len(value) > MAX_STRING:
            raise Unsendable(f"a string of {len(value)} characters")
        return value
    if kind is int:
        return value if abs(value) < 2 ** 63 else {"$": "bigint", "digits": str(value)}
    if kind is float:
        return value if math.isfinite(value) else {"$": "float", "repr": repr(value)}
    if value is ...:
        return {"$": "..."}
    if kind in (list, tuple):
        return {"$": kind.__name__, "items": [_encode(item, arrays, depth + 1) for item in value]}
    if kind is dict:
        return {"$": "dict", "items": [[_encode(k, arrays, depth + 1), _encode(v, arrays, depth + 1)]
                                       for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return {"$": "array", "i": _array_ref(value, arrays)}
    if isinstance(value, np.generic):
        return {"$": "scalar", "i": _array_ref(np.asarray(value), arrays)}
    if isinstance(value, np.random.Generator):
        return {"$": "generator", "state": _encode(value.bit_generator.state, arrays, depth + 1)}
    module = type(value).__module__.split(".")[0]
    if module == "torch":
        import torch
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu()
            if data.dtype == torch.bfloat16:
                data = data.float()
            return {"$": "tensor", "i": _array_ref(data.numpy(), arrays), "grad": bool(value.requires_grad)}
        if isinstance(value, torch.nn.Module):
            return _module_spec(value, arrays, depth)
    raise Unsendable(f"a value of type {kind.__name__}")


def _decode(data, arrays: list, depth: int = 0):
    """The value `_encode` made `data` from; raises WireError on anything else."""
    _expect(depth <= MAX_DEPTH, "nested too deep")
    if data is None or type(data) in (bool, int, float):
        return data
    if type(data) is str:
        _expect(len(data) <= MAX_STRING, "string too long")
        return data
    _expect(type(data) is dict and isinstance(data.get("$"), str), f"unexpected {type(data).__name__}")
    tag = data["$"]
    if tag == "...":
        return ...
    if tag == "bigint":
        digits = data.get("digits")
        _expect(isinstance(digits, str) and len(digits) < 5000, "bad integer")
        return int(digits)
    if tag == "float":
        _expect(data.get("repr") in ("inf", "-inf", "nan"), "bad float")
        return float(data["repr"])
    if tag in ("list", "tuple"):
        _expect(isinstance(data.get("items"), list), "bad list")
        items = [_decode(item, arrays, depth + 1) for item in data["items"]]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        _expect(isinstance(data.get("items"), list), "bad dict")
        out = {}
        for pair in data["items"]:
            _expect(isinstance(pair, list) and len(pair) == 2, "bad dict item")
            key = _decode(pair[0], arrays, depth + 1)
            _expect(isinstance(key, (str, int, float, bool, tuple)) or key is None, "bad dict key")
            out[key] = _decode(pair[1], arrays, depth + 1)
        return out
    if tag in ("array", "scalar", "tensor"):
        index = data.get("i")
        _expect(type(index) is int and 0 <= index < len(arrays), "bad array index")
        array = arrays[index]
        if tag == "scalar":
            return array[()]
        if tag == "array":
            return array
        import torch
        tensor = torch.from_numpy(array.copy())
        return tensor.requires_grad_(True) if data.get("grad") is True and tensor.is_floating_point() else tensor
    if tag == "generator":
        state = _decode(data.get("state"), arrays, depth + 1)
        _expect(isinstance(state, dict) and state.get("bit_generator") == "PCG64", "only PCG64 generators cross")
        generator = np.random.Generator(np.random.PCG64())
        try:
            generator.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as err:
            raise WireError(f"bad generator state: {err}") from None
        return generator
    if tag == "module":
        return _build_module(data, arrays, depth)
    raise WireError(f"unknown tag {tag!r}")


def encode(value) -> bytes:
    """`value` as one frame (length, JSON header, array bytes); raises Unsendable."""
    arrays: list = []
    header = {"value": _encode(value, arrays), "arrays": [[a.dtype.name, list(a.shape)] for a in arrays]}
    head = json.dumps(header, allow_nan=False).encode("utf-8")
    body = b"".join([HEADER.pack(len(head)), head, *(a.tobytes() for a in arrays)])
    if len(body) > MAX_FRAME:
        raise Unsendable(f"a value of {len(body)} bytes (at most {MAX_FRAME})")
    return HEADER.pack(len(body)) + body


def decode(body: bytes):
    """The value of a frame's body (without its length prefix); raises WireError on anything malformed."""
    try:
        _expect(len(body) >= HEADER.size, "short frame")
        (head_size,) = HEADER.unpack_from(body)
        _expect(head_size <= len(body) - HEADER.size, "bad header size")
        header = json.loads(body[HEADER.size:HEADER.size + head_size].decode("utf-8"))
        _expect(isinstance(header, dict) and isinstance(header.get("arrays"), list), "bad header")
        arrays, offset = [], HEADER.size + head_size
        for entry in header["arrays"]:
            _expect(isinstance(entry, list) and len(entry) == 2 and entry[0] in DTYPES, "bad array entry")
            shape = entry[1]
            _expect(isinstance(shape, list) and len(shape) <= 32
                    and all(type(n) is int and 0 <= n for n in shape), "bad shape")
            dtype = np.dtype(entry[0])
            size = math.prod(shape) * dtype.itemsize
            _expect(offset + size <= len(body), "array runs past the frame")
            arrays.append(np.frombuffer(body, dtype, math.prod(shape), offset).reshape(tuple(shape)).copy())
            offset += size
        _expect(offset == len(body), "bytes left over")
        return _decode(header.get("value"), arrays)
    except WireError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError, OverflowError, MemoryError) as err:
        raise WireError(f"malformed message: {type(err).__name__}") from None


# --- reading and writing frames ----------------------------------------------------------

def send(fd: int, value, deadline: float | None = None) -> None:
    """Write `value` as one frame to the file descriptor `fd`; by `deadline` or raise TimedOut.

    With a deadline `fd` is made non-blocking: a reader that stopped reading must not hold the writer.
    """
    data = memoryview(encode(value))
    if deadline is not None:
        os.set_blocking(fd, False)
    while data:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([], [fd], [], wait)[1]:
                raise TimedOut
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            continue


class Closed(EOFError):
    """The other end closed the channel (in the grader: the student's process ended)."""


class TimedOut(TimeoutError):
    """No whole frame arrived before the deadline."""


def receive(fd: int, deadline: float | None = None):
    """The next frame's value from `fd`; by `deadline` (time.monotonic()) or raise TimedOut."""
    (size,) = HEADER.unpack(_read(fd, HEADER.size, deadline))
    _expect(size <= MAX_FRAME, f"a frame of {size} bytes")
    return decode(_read(fd, size, deadline))


def _read(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimedOut
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise Closed
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
