"""Helper package for the vanishing and exploding gradients course.

Modules (data flows one way: slider -> compute -> plot update -> canvas):

- activations, chain, network, gradcheck: numpy/torch compute, no plotting
- data: the insurance data set and its generator
- training: short torch training loops with per-layer diagnostics
- plots: drawing on a given Axes
- widgets: sliders and the live-figure pattern
"""
