"""Three sequence tasks whose answer depends on something seen long before the end.

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

The weather sentence (the lecture's language-model example, "The clouds are dark,
it looks like it will ... rain"). `make_weather_task` builds, from the committed
vocabulary data/weather_vocab.json,

    "the clouds are dark"  +  exactly `gap` filler tokens  +  ", it looks like it will"

(T = gap + 10 tokens) and the label is the last word: 1 ("rain") when the
adjective of the opening phrase is a rainy one, 0 ("clear") otherwise. Both nouns
go with both kinds of adjective, so only the adjective, the fourth word, decides.

The cuisine sentences (the LSTM lecture's example). `make_cuisine_task` fills the
template of data/cuisine_vocab.json,

    "Rana likes biriyani <fillers> , so his favourite cuisine is Bangladeshi .
     his friend John however loves pasta <fillers> , so John 's favourite cuisine is Italian"

with two different people, two dishes of two different cuisines and `gap` fillers
after each dish. The dish alone decides the cuisine word that follows it: the first
blank needs the first dish carried across the fillers, the second needs it replaced
by the second dish.

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
WEATHER_VOCAB_FILE = VOCAB_FILE.with_name("weather_vocab.json")
CUISINE_VOCAB_FILE = VOCAB_FILE.with_name("cuisine_vocab.json")
LABEL_WORDS = ("need", "had")  # label 0: present tense, label 1: past tense
WEATHER_WORDS = ("clear", "rain")  # label 0: a clear-sky adjective, label 1: a rainy one
WEATHER_CUE, WEATHER_ENDING = 4, 6  # tokens before the fillers ("the clouds are dark") and after them

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
class Vocab:
    """A task's words; token id = position in `words`."""

    words: tuple

    @property
    def size(self) -> int:
        return len(self.words)


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True, eq=False)
class TenseVocab(Vocab):
    """The tense task's words; token id = position in `words`.

    words = present markers, then past markers, then fillers, then the subject "I".
    present_ids, past_ids, filler_ids: (k,) int64 ids of each group; subject_id: int.
    """

    present_ids: np.ndarray
    past_ids: np.ndarray
    filler_ids: np.ndarray
    subject_id: int


@functools.lru_cache(maxsize=1)
def tense_vocab() -> TenseVocab:
    """The vocabulary read from data/tense_vocab.json (read once, then cached)."""
    spec = _read_json(VOCAB_FILE)
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
class SentenceBatch:
    """Sequences of words with their labels.

    tokens: (n, T) int64 token ids; labels: (n,) int64 in {0, 1} (the cuisine
    sentences: (n, 2) class numbers);
    vocab: tuple of the V words; tokens index into it.
    """

    tokens: np.ndarray
    labels: np.ndarray
    vocab: tuple

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def one_hot(self) -> np.ndarray:
        """(n, T, V) float64 one-hot encoding of the tokens."""
        return one_hot(self.tokens, self.vocab_size)


class TenseBatch(SentenceBatch):
    """Sequences of the tense task: T = gap + 2 (marker, gap fillers, "I");
    labels 0 = present ("need"), 1 = past ("had")."""

    @property
    def gap(self) -> int:
        return int(self.tokens.shape[1]) - 2


class WeatherBatch(SentenceBatch):
    """Sequences of the weather task: T = gap + 10 (4 cue words, gap fillers, 6 ending
    words); labels 0 = "clear", 1 = "rain"."""

    @property
    def gap(self) -> int:
        return int(self.tokens.shape[1]) - WEATHER_CUE - WEATHER_ENDING


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


@dataclass(frozen=True, eq=False)
class WeatherVocab(Vocab):
    """The weather task's words; token id = position in `words`.

    words = "the", the nouns, their verbs, the rainy adjectives, the clear ones, the
    fillers, then the ending's words. noun_ids (k,) and verb_ids (k,) pair up
    ("clouds" with "are"); rain_ids, clear_ids, filler_ids (k,); ending_ids (6,) the
    ending ", it looks like it will" in order; the_id: int.
    """

    the_id: int
    noun_ids: np.ndarray
    verb_ids: np.ndarray
    rain_ids: np.ndarray
    clear_ids: np.ndarray
    filler_ids: np.ndarray
    ending_ids: np.ndarray


@functools.lru_cache(maxsize=1)
def weather_vocab() -> WeatherVocab:
    """The vocabulary read from data/weather_vocab.json (read once, then cached)."""
    spec = _read_json(WEATHER_VOCAB_FILE)
    nouns, verbs = list(spec["nouns"]), list(spec["nouns"].values())
    ending = list(spec["ending"])
    groups = [["the"], nouns, sorted(set(verbs), key=verbs.index), list(spec["rain"]), list(spec["clear"]),
              list(spec["fillers"]), sorted(set(ending), key=ending.index)]
    words = tuple(w for group in groups for w in group)
    # Fair only if no word is in two groups (a filler that is also an adjective would leak
    # the label), every group has a word, and the ending is as long as WEATHER_ENDING.
    if len(set(words)) != len(words) or not all(groups) or len(ending) != WEATHER_ENDING:
        raise ValueError(f"{WEATHER_VOCAB_FILE} must list non-empty groups of distinct words "
                         f"and an ending of {WEATHER_ENDING} words")

    def ids(names):
        a = word_ids(names, words)
        a.setflags(write=False)  # shared by every call: nobody may change them
        return a

    return WeatherVocab(words=words, the_id=words.index("the"), noun_ids=ids(nouns), verb_ids=ids(verbs),
                        rain_ids=ids(spec["rain"]), clear_ids=ids(spec["clear"]),
                        filler_ids=ids(spec["fillers"]), ending_ids=ids(ending))


def make_weather_task(n, gap, rng) -> WeatherBatch:
    """n weather sentences with exactly `gap` fillers (T = gap + 10).

    Labels are balanced exactly (n // 2 of one class, in random order). The noun is
    drawn uniformly (its verb follows it), the adjective uniformly from the label's
    four, each filler uniformly and independently from all fillers; the ending is
    always ", it looks like it will".
    """
    n = check_int(n, "n", 1)
    gap = check_int(gap, "gap", 0)
    check_rng(rng)
    vocab = weather_vocab()
    labels = rng.permutation(np.arange(n, dtype=np.int64) % 2)
    noun = rng.integers(len(vocab.noun_ids), size=n)
    rainy = vocab.rain_ids[rng.integers(len(vocab.rain_ids), size=n)]
    clear = vocab.clear_ids[rng.integers(len(vocab.clear_ids), size=n)]
    tokens = np.empty((n, WEATHER_CUE + gap + WEATHER_ENDING), dtype=np.int64)
    tokens[:, 0] = vocab.the_id
    tokens[:, 1] = vocab.noun_ids[noun]
    tokens[:, 2] = vocab.verb_ids[noun]
    tokens[:, 3] = np.where(labels == 1, rainy, clear)
    tokens[:, WEATHER_CUE:WEATHER_CUE + gap] = vocab.filler_ids[rng.integers(len(vocab.filler_ids), size=(n, gap))]
    tokens[:, WEATHER_CUE + gap:] = vocab.ending_ids
    return WeatherBatch(tokens=tokens, labels=labels, vocab=vocab.words)


@dataclass(frozen=True, eq=False)
class CuisineVocab(Vocab):
    """The cuisine sentences' words; token id = position in `words`.

    cuisines: the C cuisine names, class c = cuisines[c]; dishes: C tuples of that
    cuisine's dishes; people: (name, pronoun) pairs; fillers; template: the sentence's
    slots ("{name1}", "{dish1}", "{fillers}", ...) and fixed words, from the JSON file.
    """

    cuisines: tuple
    dishes: tuple
    people: tuple
    fillers: tuple
    template: tuple

    def ids(self, words) -> np.ndarray:
        """(k,) int64 token ids of a list of words."""
        return word_ids(words, self.words)


@functools.lru_cache(maxsize=1)
def cuisine_vocab() -> CuisineVocab:
    """The vocabulary read from data/cuisine_vocab.json (read once, then cached)."""
    spec = _read_json(CUISINE_VOCAB_FILE)
    cuisines = tuple(spec["cuisines"])
    dishes = tuple(tuple(spec["cuisines"][c]) for c in cuisines)
    people = tuple(spec["people"].items())
    template = tuple(spec["template"])
    fixed = [w for w in template if not w.startswith("{")]
    pronouns = sorted({p for _, p in people})
    groups = [list(cuisines), [d for ds in dishes for d in ds], [n for n, _ in people], pronouns,
              list(spec["fillers"]), sorted(set(fixed), key=fixed.index)]
    words = tuple(w for group in groups for w in group)
    # Fair only if no word is in two groups (a filler that is also a dish would leak the
    # answer), and every cuisine has a dish and there are two people to tell apart.
    if len(set(words)) != len(words) or not all(dishes) or len(people) < 2 or len(cuisines) < 2:
        raise ValueError(f"{CUISINE_VOCAB_FILE} must list distinct words, a dish for every cuisine, "
                         f"and at least two people and two cuisines")
    return CuisineVocab(words=words, cuisines=cuisines, dishes=dishes, people=people,
                        fillers=tuple(spec["fillers"]), template=template)


@dataclass(frozen=True, eq=False)
class CuisineBatch(SentenceBatch):
    """Cuisine sentences: tokens (n, T), T = len(template) - 2 + 2 * gap; labels (n, 2)
    int64 cuisine classes of the two blanks (always different); vocab as SentenceBatch.

    blanks: (2,) int64 positions of the word "is" before each cuisine word: the
            steps at which a model predicts the next word.
    cuisines: tuple of the C class names.
    """

    blanks: np.ndarray
    cuisines: tuple


def _other(rng, n: int, k: int, first: np.ndarray) -> np.ndarray:
    """(n,) draws uniform over 0..k-1 but never equal to `first` (n,)."""
    draw = rng.integers(k - 1, size=n)
    return draw + (draw >= first)


def make_cuisine_task(n, gap, rng) -> CuisineBatch:
    """n cuisine sentences with exactly `gap` fillers after each dish.

    The two people are drawn uniformly and never the same; the first cuisine
    uniformly, the second uniformly from the others; each dish uniformly from its
    cuisine's; each filler uniformly and independently from all fillers.
    """
    n = check_int(n, "n", 1)
    gap = check_int(gap, "gap", 0)
    check_rng(rng)
    vocab = cuisine_vocab()
    names, pronouns = vocab.ids([n for n, _ in vocab.people]), vocab.ids([p for _, p in vocab.people])
    person1 = rng.integers(len(names), size=n)
    person2 = _other(rng, n, len(names), person1)
    cuisine1 = rng.integers(len(vocab.cuisines), size=n)
    cuisine2 = _other(rng, n, len(vocab.cuisines), cuisine1)
    dish_ids, cuisine_ids = [vocab.ids(d) for d in vocab.dishes], vocab.ids(vocab.cuisines)
    dish1, dish2 = ([dish_ids[c][rng.integers(len(dish_ids[c]))] for c in cuisine] for cuisine in (cuisine1, cuisine2))
    slots = {"{name1}": names[person1], "{pronoun1}": pronouns[person1], "{name2}": names[person2],
             "{dish1}": np.array(dish1), "{dish2}": np.array(dish2),
             "{cuisine1}": cuisine_ids[cuisine1], "{cuisine2}": cuisine_ids[cuisine2]}
    columns = []
    for word in vocab.template:
        if word == "{fillers}":
            columns.append(vocab.ids(vocab.fillers)[rng.integers(len(vocab.fillers), size=(n, gap))])
        else:
            columns.append((slots[word] if word in slots else np.full(n, vocab.ids([word])[0]))[:, None])
    tokens = np.concatenate(columns, axis=1).astype(np.int64)
    # The blanks: the step before each cuisine word.
    lengths = [gap if word == "{fillers}" else 1 for word in vocab.template]
    starts = np.cumsum([0] + lengths)
    blanks = np.array([starts[vocab.template.index(c)] - 1 for c in ("{cuisine1}", "{cuisine2}")], dtype=np.int64)
    return CuisineBatch(tokens=tokens, labels=np.stack([cuisine1, cuisine2], axis=1).astype(np.int64),
                        blanks=blanks, vocab=vocab.words, cuisines=vocab.cuisines)


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


def word_ids(words, vocab) -> np.ndarray:
    """(k,) int64 token ids of a list of words in `vocab` (the words; id = position)."""
    index = {w: i for i, w in enumerate(vocab)}
    unknown = [w for w in words if w not in index]
    if unknown:
        raise ValueError(f"words not in the vocabulary: {unknown}; it has: {', '.join(vocab)}")
    return np.array([index[w] for w in words], dtype=np.int64)


def encode(text, vocab) -> np.ndarray:
    """(T,) int64 token ids of a sentence written as words separated by spaces."""
    return word_ids(str(text).split(), tuple(vocab))


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
