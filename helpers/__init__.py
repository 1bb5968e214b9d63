"""Helper package for the vanishing and exploding gradients course.

Data flows one way: slider -> compute -> plot update -> canvas.

- compute (numpy / torch, no plotting): activations, chain, network, init, gradcheck,
  rnn, recurrent, gated, clipping, cliff, health
- data: data (the insurance data set), tasks (long-range sequence tasks)
- training: short torch training loops with per-layer diagnostics; progress
- plots: drawing on a given Axes
- widgets, live: sliders, the live-figure pattern, and the course's live figures
- environment, execute: checking a machine, storing notebooks executed
"""
