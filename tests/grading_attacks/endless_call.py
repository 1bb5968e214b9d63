"""01.2's function never returns, so the check hangs while calling it.

Honest outcome: 01.2 timeout (the detail names it); 01.1 and 01.3 correct.
"""
# %% 01.2


def my_chain_gradient(w, z):
    while w is not None:
        pass
    return float(w[0])
