"""Helper package for the vanishing and exploding gradients course.

Data flows one way: slider -> compute -> plot update -> canvas.

- compute (numpy / torch, no plotting): activations, chain, network, init, gradcheck,
  rnn, recurrent, gated, clipping, cliff, health
- data: data (the insurance data set), tasks (long-range sequence tasks)
- training: short torch training loops with per-layer diagnostics; progress
- plots: drawing on a given Axes, and the figure style (notebook or projector scale, light or dark)
- widgets, live: sliders, the live-figure pattern, and the course's live figures
- environment, execute: checking a machine, storing notebooks executed
- present: a notebook as a classroom view in Voila (python course.py present NN)

Conventions, the same in every module (tests/test_conventions.py pins each):

- Weights are (fan_out, fan_in), as torch.nn.Linear stores them: a batch goes through a
  layer as x @ W.T + b, and every function that takes fans takes (fan_out, fan_in).
- The batch comes first: data are (batch, features), sequences (batch, T, features) as
  the tasks make them and torch's batch_first layers read them, and every per-step
  array a recurrent forward or backward pass returns is (batch, steps, ...).
- Randomness is an argument: `rng`, a np.random.Generator, for numpy draws (weights,
  data); `generator`, a torch.Generator, for the order of torch's mini-batches. No
  result depends on a global random state. (An integer `seed` only names something
  stored: a point of the sweep, the insurance data set.)
- Losses: "mse" is the mean squared error, as torch's mse_loss; "ce" softmax
  cross-entropy on class indices; "bce" binary cross-entropy on a logit; each the
  mean over the batch.
- Nothing picks an activation for you: a function that needs one takes it by name.
- A result with several parts is a small dataclass with named fields, the same one for
  the same kind of function (Clipped, LayerGradients, TrainLog, ...).
- A bad argument, a wrong type included, raises ValueError saying what was given and
  what is allowed (helpers.validation). Overflow, underflow and NaN in results are not
  errors: they are what the course shows, and nothing warns about them.
"""
import numpy  # noqa: F401  (loads OpenBLAS now: threadpoolctl limits only libraries already loaded)
from threadpoolctl import threadpool_limits

# numpy's OpenBLAS splits even a (21, 32) @ (32, 32) product over every core. On a 2-core
# machine that also runs torch's threads, a kernel, a server and a browser, those threads
# wait for each other: a backward pass through 100 steps of a 32-unit RNN (notebook 04's
# live figure) took 4 to 115 ms with two threads, 1.1 to 1.5 ms with one. Every array the
# course computes with numpy is that small.
threadpool_limits(limits=1, user_api="blas")

