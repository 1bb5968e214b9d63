"""Two sequence tasks whose answer depends on something seen long before the end.

Tense agreement (the lecture's autocomplete example). In

    "Today, due to my job situation and family condition, I ... need to take a loan"
    "Last month, due to my job situation and family condition, I ... had to take a loan"

the time phrase at the start fixes the verb at the end. `make_tense_task` builds
such sequences from the committed vocabulary data/tense_vocab.json:

    [time marker]  +  exactly `gap` filler tokens  +  "I"        (T = gap + 2 tokens)

and the label is 0 ("need", present) or 1 ("had", past), decided by the time
marker alone. Fillers are drawn uniformly and independently of the label, so they
carry no information about it; the words between are a word salad on purpose.
A network must carry one bit across `gap` steps; chance accuracy is 0.5.

The adding problem (Hochreiter & Schmidhuber 1997, in the form used by Le, Jaitly
& Hinton 2015 and Arjovsky, Shah & Bengio 2016): at each of T steps the input is
a value drawn from U[0, 1] and a marker in {0, 1}; exactly two markers are 1, one
in the first half of the sequence and one in the second; the target is the sum of
the two marked values.
"""
import functools
import json
from dataclasses import dataclass

from pathlib import Path

import numpy as np

from helpers.validation import check_int, check_rng


VOCAB_FILE = Path(__file__).resolve().parent.parent / "data" / "tense_vocab.json"
LABEL_WORDS = ("need", "had")  # label 0: present tense, label 1: past tense

ADDING_BASELINE_MSE = 1.0 / 6.0
"""Mean squared error of always predicting 1 on the adding problem: 1/6 ~ 0.167.

The target is the sum of two independent U[0, 1] values, whose mean is 1 and
whose variance is 2 * 1/12 = 1/6; no constant does better than the mean. This is
the plain mean of squared errors (torch's mse_loss, train(..., loss="mse")); the
numpy RNN's loss="mse" is half of it, so there the baseline is 1/12. Variant of
the task: Le, Jaitly & Hinton (2015), "A simple way to initialize recurrent
networks of rectified linear units"; Arjovsky, Shah & Bengio (2016), "Unitary
evolution recurrent neural networks" (one marker in each half of the sequence).
"""


@dataclass(frozen=True, eq=False)
class TenseVocab:
    """The tense task's words; token id = position in `words`.

    words = present markers, then past markers, then fillers, then the subject "I".
    present_ids, past_ids, filler_ids: (k,) int64 ids of each group; subject_id: int.
    """

    words: tuple
    present_ids: np.ndarray
    past_ids: np.ndarray
    filler_ids: np.ndarray
    subject_id: int

    @property
    def size(self) -> int:
        return len(self.words)


@functools.lru_cache(maxsize=1)
def tense_vocab() -> TenseVocab:
    """The vocabulary read from data/tense_vocab.json (read once, then cached)."""
    with open(VOCAB_FILE, encoding="utf-8") as handle:
        spec = json.load(handle)
    groups = [list(spec["present"]), list(spec["past"]), list(spec["fillers"]), [spec["subject"]]]
    words = tuple(w for group in groups for w in group)
    # The task is only fair if no word belongs to two groups (a filler that is
    # also a marker would leak the label) and every group has a word.
    if len(set(words)) != len(words) or not all(groups):
        raise ValueError(f"{VOCAB_FILE} must list non-empty groups of distinct words")
    starts = np.cumsum([0] + [len(g) for g in groups])
    ids = [np.arange(starts[i], starts[i + 1], dtype=np.int64) for i in range(4)]
    for a in ids:
        a.setflags(write=False)  # shared by every call: nobody may change them
    return TenseVocab(words=words, present_ids=ids[0], past_ids=ids[1], filler_ids=ids[2],
                      subject_id=int(ids[3][0]))


@dataclass(frozen=True, eq=False)
class TenseBatch:
    """Sequences of the tense task.

    tokens: (n, T) int64 token ids, T = gap + 2 (marker, gap fillers, "I").
    labels: (n,) int64, 0 = present ("need"), 1 = past ("had").
    vocab:  tuple of the V words; tokens index into it.
    """

    tokens: np.ndarray
    labels: np.ndarray
    vocab: tuple

    @property
    def gap(self) -> int:
        return int(self.tokens.shape[1]) - 2

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def one_hot(self) -> np.ndarray:
        """(n, T, V) float64 one-hot encoding of the tokens."""
        return one_hot(self.tokens, self.vocab_size)


def make_tense_task(n, gap, rng) -> TenseBatch:
    """n sequences of the tense task with exactly `gap` fillers (T = gap + 2).

    Labels are balanced exactly: n // 2 of one class and the rest of the other,
    in random order (so chance accuracy is 0.5 for even n). Each marker is drawn
    uniformly from its class's markers, each filler uniformly and independently
    from all fillers.
    """
    n = check_int(n, "n", 1)
    gap = check_int(gap, "gap", 0)
    check_rng(rng)
    vocab = tense_vocab()
    labels = rng.permutation(np.arange(n, dtype=np.int64) % 2)
    present = vocab.present_ids[rng.integers(len(vocab.present_ids), size=n)]
    past = vocab.past_ids[rng.integers(len(vocab.past_ids), size=n)]
    tokens = np.empty((n, gap + 2), dtype=np.int64)
    tokens[:, 0] = np.where(labels == 0, present, past)
    tokens[:, 1:-1] = vocab.filler_ids[rng.integers(len(vocab.filler_ids), size=(n, gap))]
    tokens[:, -1] = vocab.subject_id
    return TenseBatch(tokens=tokens, labels=labels, vocab=vocab.words)


def tense_label(first_token) -> int:
    """The label a time marker fixes: 0 for a present marker, 1 for a past one."""
    vocab = tense_vocab()
    if first_token in vocab.present_ids:
        return 0
    if first_token in vocab.past_ids:
        return 1
    markers = ", ".join(vocab.words[i] for i in np.concatenate([vocab.present_ids, vocab.past_ids]))
    raise ValueError(f"first_token must be the id of a time marker ({markers}), got {first_token!r}")


def one_hot(tokens, vocab_size) -> np.ndarray:
    """tokens (...) integer ids in 0..vocab_size-1 -> (..., vocab_size) float64 one-hot."""
    vocab_size = check_int(vocab_size, "vocab_size", 1)
    tokens = np.asarray(tokens)
    if not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be an integer array, got dtype {tokens.dtype}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"tokens must lie in 0..{vocab_size - 1}, got values "
                         f"from {tokens.min()} to {tokens.max()}")
    return np.eye(vocab_size)[tokens]


def decode(tokens, vocab=None) -> list:
    """Sentences for display: tokens (n, T) -> n strings, (T,) -> [one string].

    vocab: the words (e.g. TenseBatch.vocab); None uses the tense vocabulary.
    """
    words = tense_vocab().words if vocab is None else tuple(vocab)
    tokens = np.asarray(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None, :]
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be an integer array of shape (T,) or (n, T), got {tokens.dtype} {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= len(words)):
        raise ValueError(f"tokens must lie in 0..{len(words) - 1} (the vocabulary), got values "
                         f"from {tokens.min()} to {tokens.max()}")
    return [" ".join(words[i] for i in row) for row in tokens]


def make_adding_task(n, T, rng):
    """n sequences of the adding problem of length T >= 2: (x (n, T, 2), y (n,)), float64.

    x[..., 0]: values from U[0, 1); x[..., 1]: markers, exactly two 1s per row, one
    at a step in 0..T//2-1 and one in T//2..T-1; y: the sum of the two marked values.
    Always predicting 1 scores ADDING_BASELINE_MSE = 1/6.
    """
    n = check_int(n, "n", 1)
    T = check_int(T, "T", 2)
    check_rng(rng)
    values = rng.random((n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, T))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return np.stack([values, markers], axis=-1), y
