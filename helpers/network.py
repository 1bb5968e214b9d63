"""A fully connected binary classifier, with hand-written backprop in numpy
and the same network in torch, so the two can be checked against each other.

    h_0 = x                         (batch, n_in)
    h_l = f(W_l h_{l-1} + b_l)      (batch, width),  l = 1..depth
    s   = W_{depth+1} h_depth + b   (batch, n_out)   logits, no activation
    L   = mean binary cross-entropy of sigmoid(s) against labels y in {0, 1}

Two switches change the hidden layers (the output layer never changes):

    batch_norm: h_l = f(BN(W_l h_{l-1}))   BN(z) = (z - mean) / sqrt(var + BN_EPS)
        with the mean and (biased) variance of each unit over the batch, as
        torch's BatchNorm1d computes them in training mode, and no learnable
        scale or shift (gamma = 1, beta = 0). BN subtracts the batch mean, so a
        bias before it has no effect: b_l is ignored and its gradient is 0.
        Scaling W_l by any c > 0 leaves BN(W_l h) unchanged (up to BN_EPS).
    residual:   h_l = h_{l-1} + f(...)      for l = 2..depth (width -> width);
        the first hidden layer maps n_in -> width without a skip. The Jacobian
        of a block is I + diag(f') W_l, so the gradient has a path around every
        layer's f' and W_l.

Weights are stored as (fan_out, fan_in) like torch.nn.Linear, so a batch
goes through a layer as h @ W.T + b. Everything is float64, and nothing warns
about overflow: inf and NaN in the results are what an exploding network is.
"""
import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.activations import ACTIVATION_NAMES, LEAKY_SLOPE, get_activation, sigmoid
from helpers.gradcheck import _norm_of_all
from helpers.init import he_std, xavier_std
from helpers.validation import check_int, check_number, check_rng


INIT_SCHEMES = ("normal", "xavier", "he")
MAX_DEPTH = 200
BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default, so the two paths agree

_TORCH_MODULES = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(negative_slope=LEAKY_SLOPE),
    "linear": nn.Identity,
}


@dataclass(frozen=True)
class NetConfig:
    """Architecture and initialisation of the network; checked on creation.

    depth: number of hidden layers (1..200); width: units per hidden layer;
    init: how the weight standard deviation depends on the layer's fans,
    scaled by weight_scale (see weight_std); batch_norm, residual: the
    switches described at the top of this module (both off by default).
    """

    depth: int = 10
    width: int = 32
    activation: str = "sigmoid"
    init: str = "normal"
    weight_scale: float = 1.0
    n_in: int = 4
    n_out: int = 1
    batch_norm: bool = False
    residual: bool = False

    def __post_init__(self):
        # A frozen dataclass can only normalise its fields via object.__setattr__.
        set_field = object.__setattr__
        set_field(self, "depth", check_int(self.depth, "depth", 1, MAX_DEPTH))
        set_field(self, "width", check_int(self.width, "width", 1))
        set_field(self, "n_in", check_int(self.n_in, "n_in", 1))
        set_field(self, "n_out", check_int(self.n_out, "n_out", 1))
        name = get_activation(self.activation).name
        if name not in _TORCH_MODULES:  # a home-made Activation object
            raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATION_NAMES)}")
        set_field(self, "activation", name)
        init = self.init.strip().lower() if isinstance(self.init, str) else self.init
        if init not in INIT_SCHEMES:
            raise ValueError(f"unknown init {self.init!r}; choose one of: {', '.join(INIT_SCHEMES)}")
        set_field(self, "init", init)
        set_field(self, "weight_scale", check_number(self.weight_scale, "weight_scale", 0.0))
        for switch in ("batch_norm", "residual"):
            value = getattr(self, switch)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{switch} must be True or False, got {value!r}")
            set_field(self, switch, bool(value))

    def layer_sizes(self) -> list:
        """[n_in, width, ..., width, n_out]: depth + 2 sizes, depth + 1 layers."""
        return [self.n_in] + [self.width] * self.depth + [self.n_out]

    def weight_std(self, fan_out: int, fan_in: int) -> float:
        """Standard deviation of the weights of a layer with these fans.

        normal: weight_scale; xavier: weight_scale * sqrt(2 / (fan_in + fan_out))
        (keeps forward and backward variance for slope-1 units);
        he: weight_scale * sqrt(2 / fan_in) (makes up for relu zeroing half).
        These are helpers.init's naive_normal, xavier_normal and he_normal with
        gain = weight_scale: init_params draws exactly what they would.
        """
        if self.init == "xavier":
            return xavier_std(fan_out, fan_in, self.weight_scale)
        if self.init == "he":
            return he_std(fan_out, fan_in, self.weight_scale)
        return self.weight_scale


def init_params(config: NetConfig, rng) -> list:
    """Random parameters: depth + 1 pairs (W (fan_out, fan_in), b (fan_out,)).

    Weights are Gaussian with config.weight_std, biases zero, all float64.
    rng must be a np.random.Generator, so the caller decides reproducibility.
    """
    if not isinstance(config, NetConfig):
        raise ValueError(f"config must be a NetConfig, got {type(config).__name__}")
    check_rng(rng)
    sizes = config.layer_sizes()
    return [(rng.standard_normal((fan_out, fan_in)) * config.weight_std(fan_out, fan_in), np.zeros(fan_out))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]


@dataclass
class LayerGradients:
    """Loss and per-layer gradients of one forward + backward pass.

    loss         float, mean binary cross-entropy
    weight_grads depth+1 arrays dL/dW_l, each (fan_out, fan_in)
    bias_grads   depth+1 arrays dL/db_l, each (fan_out,)
    act_grads    depth arrays dL/dh_l, l = 1..depth, each (batch, width)
    zs           depth arrays of the activation's inputs, (batch, width):
                 W_l h_{l-1} + b_l, or BN(W_l h_{l-1}) with batch_norm
    weight_norms (depth+1,) Frobenius norms of weight_grads
    act_norms    (depth,) Frobenius norms of act_grads (computed when first asked for:
                 a training loop needs only the weight norms)
    """

    loss: float
    weight_grads: list
    bias_grads: list
    act_grads: list
    zs: list
    weight_norms: np.ndarray

    @functools.cached_property
    def act_norms(self) -> np.ndarray:
        return _frobenius_norms(self.act_grads)


def _frobenius_norms(arrays) -> np.ndarray:
    """(len(arrays),) Frobenius norms of float64 arrays, as helpers.gradcheck.norm gives them."""
    # norm's own kernel under one errstate: norm itself would check its arguments and
    # enter an errstate for each array, 8% of a depth-50 backward pass.
    with np.errstate(all="ignore"):
        return np.array([_norm_of_all(a) for a in arrays])


def _check_params(params) -> None:
    if not isinstance(params, (list, tuple)) or len(params) < 2:
        raise ValueError("params must be a list of at least 2 (W, b) pairs: hidden layers, then the output layer")
    fan_in = None
    for l, (w, b) in enumerate(params, start=1):
        if not (isinstance(w, np.ndarray) and isinstance(b, np.ndarray)):
            raise ValueError(f"layer {l}: W and b must be numpy arrays, got {type(w).__name__} and {type(b).__name__}")
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"layer {l}: W must be (fan_out, fan_in) and b (fan_out,), got {w.shape} and {b.shape}")
        if fan_in is not None and w.shape[1] != fan_in:
            raise ValueError(f"layer {l}: W has fan_in {w.shape[1]} but the layer before outputs {fan_in}")
        fan_in = w.shape[0]


def _check_data(x, y, n_in: int, n_out: int):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {x.shape}")
    y = np.asarray(y, dtype=np.float64)
    given = y.shape
    if y.ndim == 1 and n_out == 1:
        y = y[:, None]
    if y.shape != (x.shape[0], n_out):
        allowed = f"({x.shape[0]},) or " if n_out == 1 else ""
        raise ValueError(f"y must have shape {allowed}({x.shape[0]}, {n_out}), got {given}")
    if not np.all((y >= 0) & (y <= 1)):
        raise ValueError("y must hold labels in [0, 1] (0 or 1 for hard labels); found values outside")
    return x, y


def _bce_with_logits(s: np.ndarray, y: np.ndarray) -> float:
    # -[y log p + (1-y) log(1-p)] with p = sigmoid(s), rewritten as
    # max(s, 0) - s*y + log(1 + exp(-|s|)) so exp never overflows.
    return float(np.mean(np.maximum(s, 0) - s * y + np.log1p(np.exp(-np.abs(s)))))


def _check_switches(params, batch_norm, residual, batch=None) -> None:
    """The switches are bools, residual fits params' shapes, BN has >= 2 rows (if batch is given)."""
    for switch, value in (("batch_norm", batch_norm), ("residual", residual)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{switch} must be True or False, got {value!r}")
    if batch_norm and batch is not None and batch < 2:
        raise ValueError(f"batch_norm needs a batch of at least 2 rows (it normalises over the batch), got {batch}")
    if residual:
        for l, (w, _) in enumerate(params[1:-1], start=2):
            if w.shape[0] != w.shape[1]:
                raise ValueError(f"residual=True needs every hidden layer after the first to map width -> width "
                                 f"(a skip adds h_(l-1) to h_l); layer {l} maps {w.shape[1]} -> {w.shape[0]}")


def _bn_forward(z: np.ndarray):
    """(BN(z), 1 / sqrt(var + BN_EPS) (width,)) over the batch axis 0; z (batch, width)."""
    # add.reduce / n is bit for bit np.mean without its Python-level wrapper,
    # which costs more than the arithmetic at these sizes (every slider move).
    n = z.shape[0]
    centred = z - np.add.reduce(z, axis=0) / n
    var = np.add.reduce(np.square(centred), axis=0) / n  # biased, as torch normalises in training mode
    inv_std = 1.0 / np.sqrt(var + BN_EPS)
    centred *= inv_std
    return centred, inv_std


def _bn_backward(g: np.ndarray, z_hat: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """dL/dz from g = dL/dBN(z); every row's z moves the batch mean and variance.

    With z_hat = (z - mu) * r, r = (var + eps)^(-1/2), differentiating through
    mu and var as well gives r * (g - mean(g) - z_hat * mean(g * z_hat)): the
    gradient loses its batch mean and its component along z_hat. Exact for eps > 0.
    """
    n = g.shape[0]  # add.reduce / n is np.mean, faster (see _bn_forward)
    return inv_std * (g - np.add.reduce(g, axis=0) / n - z_hat * (np.add.reduce(g * z_hat, axis=0) / n))


@dataclass
class Forward:
    """What the hidden layers compute on one batch, kept for backprop and for plotting.

    hs       depth + 1 arrays: h_0 = x (batch, n_in), then each hidden layer's output
             h_l (batch, width), l = 1..depth (with residual, h_{l-1} + f(z_l))
    zs       depth arrays of the activation's inputs z_l, (batch, width):
             W_l h_{l-1} + b_l, or BN(W_l h_{l-1}) with batch_norm
    slopes   depth arrays f'(z_l), (batch, width)
    inv_stds BN's 1 / sqrt(var + BN_EPS) per layer, (width,) each; empty without batch_norm
    """

    hs: list
    zs: list
    slopes: list
    inv_stds: list


def _forward(hidden, x: np.ndarray, act, batch_norm: bool, residual: bool) -> Forward:
    """The hidden layers' forward pass, arguments already checked (hidden: the (W, b) pairs
    of the hidden layers, x float64 (batch, n_in), act an Activation)."""
    with np.errstate(all="ignore"):
        hs, zs, slopes, inv_stds = [x], [], [], []
        for l, (w, b) in enumerate(hidden):
            z = hs[-1] @ w.T
            if batch_norm:
                z, inv_std = _bn_forward(z)
                inv_stds.append(inv_std)
            else:
                z += b
            zs.append(z)
            h, slope = act.f_and_df(z)
            slopes.append(slope)
            if residual and l > 0:
                h += hs[-1]
            hs.append(h)
    return Forward(hs=hs, zs=zs, slopes=slopes, inv_stds=inv_stds)


def forward_layers(params, x, activation, batch_norm=False, residual=False) -> Forward:
    """The forward pass of numpy_layer_gradients through the hidden layers, alone: the same
    arrays its backprop uses (float64, nothing warns about overflow).

    params: depth + 1 pairs (W, b) as from init_params (the output layer is not applied);
    x (batch, n_in); activation: name or Activation; batch_norm, residual: the switches
    described at the top of this module.
    """
    _check_params(params)
    act = get_activation(activation)
    x = np.asarray(x, dtype=np.float64)
    n_in = params[0][0].shape[1]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {x.shape}")
    _check_switches(params, batch_norm, residual, batch=x.shape[0])
    return _forward(params[:-1], x, act, batch_norm, residual)


def numpy_layer_gradients(params, x, y, activation, batch_norm=False, residual=False) -> LayerGradients:
    """Forward pass and hand-written backprop through the network, in float64.

    params: depth + 1 pairs (W, b) as from init_params; x (batch, n_in);
    y (batch,) or (batch, n_out) labels; activation: name or Activation;
    batch_norm, residual: the switches described at the top of this module
    (batch_norm needs batch >= 2; residual needs square hidden layers after the first).
    """
    _check_params(params)
    act = get_activation(activation)
    x, y = _check_data(x, y, params[0][0].shape[1], params[-1][0].shape[0])
    _check_switches(params, batch_norm, residual, batch=x.shape[0])
    hidden = params[:-1]
    w_out, b_out = params[-1]
    # Forward, keeping each layer's input h_{l-1} and activation input z_l
    # (and BN's 1/std): backprop needs them.
    forward = _forward(hidden, x, act, batch_norm, residual)
    hs, zs, slopes, inv_stds = forward.hs, forward.zs, forward.slopes, forward.inv_stds
    with np.errstate(all="ignore"):
        logits = hs[-1] @ w_out.T + b_out
        loss = _bce_with_logits(logits, y)

        # dL/ds = (sigmoid(s) - y) / N for the mean over all N = batch * n_out
        # terms; the cross-entropy cancels the sigmoid's derivative.
        delta = (sigmoid(logits) - y) / y.size
        weight_grads = [delta.T @ hs[-1]]
        bias_grads = [delta.sum(axis=0)]
        dh = delta @ w_out
        act_grads = []
        for l in range(len(hidden) - 1, -1, -1):
            act_grads.append(dh)
            dz = dh * slopes[l]  # through the activation, elementwise
            if batch_norm:
                dz = _bn_backward(dz, zs[l], inv_stds[l])
                bias_grads.append(np.zeros_like(hidden[l][1]))  # BN cancels the bias exactly
            else:
                bias_grads.append(dz.sum(axis=0))
            weight_grads.append(dz.T @ hs[l])
            if l > 0:  # dL/dx is not needed
                through_layer = dz @ hidden[l][0]
                if residual:  # h_l = h_{l-1} + branch: the skip passes dh on unchanged
                    through_layer += dh
                dh = through_layer
        weight_grads.reverse()
        bias_grads.reverse()
        act_grads.reverse()
    return LayerGradients(
        loss=loss,
        weight_grads=weight_grads,
        bias_grads=bias_grads,
        act_grads=act_grads,
        zs=zs,
        weight_norms=_frobenius_norms(weight_grads),
    )


def layer_gradients(config: NetConfig, x, y, rng) -> LayerGradients:
    """numpy_layer_gradients of a network built as init_params(config, rng) builds it."""
    return numpy_layer_gradients(init_params(config, rng), x, y, config.activation,
                                 batch_norm=config.batch_norm, residual=config.residual)


class ResidualBlock(nn.Module):
    """x -> x + branch(x): a hidden layer with a skip connection around it.

    branch is nn.Sequential(Linear, [BatchNorm1d,] activation), width -> width.
    """

    def __init__(self, branch: nn.Module):
        super().__init__()
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def _torch_batch_norm(width: int) -> nn.BatchNorm1d:
    # No learnable scale or shift, and always the batch's own statistics (no
    # running averages), in train and eval mode alike: the numpy BN exactly.
    return nn.BatchNorm1d(width, eps=BN_EPS, affine=False, track_running_stats=False, dtype=torch.float64)


def to_torch(params, activation, batch_norm=False, residual=False) -> nn.Sequential:
    """nn.Sequential of float64 nn.Linear layers (with activation modules
    between them, none after the last) holding copies of params' weights.

    With batch_norm each hidden Linear has no bias (BN would cancel it) and is
    followed by a BatchNorm1d without affine parameters; with residual every
    hidden layer after the first is a ResidualBlock. With both switches off the
    model is Linear, activation, ..., Linear, as it always was.
    """
    _check_params(params)
    _check_switches(params, batch_norm, residual)
    make_activation = _TORCH_MODULES[get_activation(activation).name]
    layers = []
    for l, (w, b) in enumerate(params):
        last = l == len(params) - 1
        with_bias = last or not batch_norm
        linear = nn.Linear(w.shape[1], w.shape[0], bias=with_bias, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(w, dtype=torch.float64))
            if with_bias:
                linear.bias.copy_(torch.as_tensor(b, dtype=torch.float64))
        if last:
            layers.append(linear)
            break
        layer = [linear] + ([_torch_batch_norm(w.shape[0])] if batch_norm else []) + [make_activation()]
        if residual and l > 0:
            layers.append(ResidualBlock(nn.Sequential(*layer)))
        else:
            layers.extend(layer)
    return nn.Sequential(*layers)


_ACTIVATION_MODULES = (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.Identity)


def torch_layer_gradients(model: nn.Sequential, x, y) -> LayerGradients:
    """The LayerGradients of numpy_layer_gradients, from one autograd backward pass of `model`.

    model: nn.Sequential of Linear layers with activation modules between them,
    as to_torch builds it (BatchNorm1d and ResidualBlock included). zs are the
    activation modules' inputs, act_grads the gradients at each hidden layer's
    output (an activation module's or a ResidualBlock's). The weight gradients
    also stay in each Linear's .weight.grad (previous ones are cleared first, so
    calling twice does not accumulate); a Linear without bias gets zeros.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model must contain nn.Linear layers, found none")
    x, y = _check_data(x, y, linears[0].in_features, linears[-1].out_features)
    zs, hidden = [], []

    def keep_input(module, inputs):
        zs.append(inputs[0].detach().numpy().copy())

    def keep_output(module, inputs, output):
        output.retain_grad()
        hidden.append(output)

    handles = []
    for child in model.children():
        if isinstance(child, ResidualBlock):
            activation = [m for m in child.branch if isinstance(m, _ACTIVATION_MODULES)][-1]
            handles += [activation.register_forward_pre_hook(keep_input), child.register_forward_hook(keep_output)]
        elif isinstance(child, _ACTIVATION_MODULES):
            handles += [child.register_forward_pre_hook(keep_input), child.register_forward_hook(keep_output)]
    model.zero_grad(set_to_none=True)
    try:
        logits = model(torch.from_numpy(x))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y))
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    weight_grads = [m.weight.grad.numpy().copy() for m in linears]
    bias_grads = [np.zeros(m.out_features) if m.bias is None else m.bias.grad.numpy().copy() for m in linears]
    return LayerGradients(loss=float(loss.detach()), weight_grads=weight_grads, bias_grads=bias_grads,
                          act_grads=[h.grad.numpy().copy() for h in hidden], zs=zs,
                          weight_norms=_frobenius_norms(weight_grads))


def predicted_act_norms(params, grads: LayerGradients, activation) -> np.ndarray:
    """(depth,) mean-field prediction of grads.act_norms, anchored at the top.

    For the plain network: it knows nothing of batch_norm or residual.

    One step of backprop between hidden layers is

        dh_l = W^T d,   d = dh_{l+1} * f'(z_{l+1}),   W = W_{l+1} of shape (n_{l+1}, n_l).

    Treat W's entries as independent, mean 0, variance sigma^2, and
    independent of d. Entry i of W^T d is sum_j W_ji d_j, so its expected
    square is sigma^2 ||d||^2 = n_{l+1} sigma^2 * (mean square of d): per
    unit the variance grows by fan_out * sigma^2 (the usual backward rule).
    There are n_l such entries, so for the whole vector (the Frobenius norm
    that act_norms measures)

        E||dh_l||^2 = n_l * sigma^2 * ||d||^2,   ||d||^2 ~ mean(f'(z_{l+1})^2) * ||dh_{l+1}||^2,

    the last step assuming f' and dh_{l+1} are uncorrelated. The two
    factors n_l and n_{l+1} coincide here (all hidden layers are width wide);
    n_l is the right one if they differ. Estimating sigma^2 by mean(W^2):

        pred[-1] = act_norms[-1]
        pred_l   = pred_{l+1} * sqrt(n_l * mean(W_{l+1}^2) * mean(f'(z_{l+1})^2))
    """
    _check_params(params)
    act = get_activation(activation)
    depth = len(params) - 1
    if len(grads.zs) != depth or len(grads.act_norms) != depth:
        raise ValueError(
            f"grads must come from the same network: params has {depth} hidden layers, "
            f"grads has {len(grads.zs)}"
        )
    with np.errstate(all="ignore"):
        # gains[i]: predicted ||dh||^2 ratio from hidden layer i+2 back to i+1,
        # i.e. through W_{i+2} = params[i+1][0] and z_{i+2} = grads.zs[i+1].
        gains = np.array([
            w.shape[1] * np.mean(w**2) * np.mean(act.df(z) ** 2)
            for (w, _), z in zip(params[1:-1], grads.zs[1:])
        ])
        steps = np.sqrt(gains)
        pred = np.empty(depth)
        pred[-1] = grads.act_norms[-1]
        # pred[i] = pred[-1] * steps[i] * ... * steps[depth-2]
        pred[:-1] = pred[-1] * np.cumprod(steps[::-1])[::-1]
    return pred
