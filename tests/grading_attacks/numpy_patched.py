"""01.2: numpy's comparisons (and math.isclose) made to say "equal" in the student's process.

Honest outcome: 01.2 wrong; 01.1 and 01.3 correct.
"""
# %% 01.2
import math

import numpy
import numpy as np
import numpy.testing

numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
numpy.array_equal = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
math.isclose = lambda *args, **kwargs: True


def my_chain_gradient(w, z):
    return 0.5
