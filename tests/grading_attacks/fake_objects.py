"""Answers that only look right: 01.1 returns a numpy-array subclass of zeros whose ==,
comparisons and ufuncs say "equal"; 01.2 returns an object whose __eq__, __float__ and
__array__ lie; 01.3 is a float subclass equal to everything.

Honest outcome: 01.1, 01.2 and 01.3 wrong.
"""
# %% 01.1
import numpy as np


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.shape(self), dtype=bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(np.shape(inputs[0]), dtype=bool) if ufunc.__name__ in ("equal", "isclose") else True

    def __float__(self):
        return 0.25


def my_sigmoid_prime(z):
    return np.zeros(np.shape(z)).view(Agreeable)

# %% 01.2
import numpy as np


class Anything:
    def __eq__(self, other):
        return True

    __le__ = __ge__ = __lt__ = __gt__ = __eq__

    def __float__(self):
        return 0.0

    def __array__(self, *args, **kwargs):
        return np.array(0.0)

    def __abs__(self):
        return 0.0

    def __sub__(self, other):
        return 0.0

    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __sub__


def my_chain_gradient(w, z):
    return Anything()

# %% 01.3


class Guess(float):
    def __eq__(self, other):
        return True

    __le__ = __ge__ = __lt__ = __gt__ = __eq__
    __hash__ = float.__hash__


guess_product_of_ten = Guess(0.5)
