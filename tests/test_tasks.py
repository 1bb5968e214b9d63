"""The sequence tasks: the tense-agreement task built from the committed
vocabulary, the adding problem with its predict-1 baseline, the weather sentence
and the cuisine sentences."""
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.tasks import (
    ADDING_BASELINE_MSE,
    LABEL_WORDS,
    WEATHER_WORDS,
    TenseBatch,
    cuisine_vocab,
    decode,
    encode,
    make_cuisine_task,
    make_weather_task,
    make_adding_task,
    make_tense_task,
    one_hot,
    tense_label,
    tense_vocab,
    weather_vocab,
)

VOCAB_JSON = Path(__file__).resolve().parent.parent / "data" / "tense_vocab.json"


def committed_vocab():
    with open(VOCAB_JSON, encoding="utf-8") as handle:
        return json.load(handle)


def test_vocabulary_is_the_committed_file_in_order():
    spec = committed_vocab()
    words = spec["present"] + spec["past"] + spec["fillers"] + [spec["subject"]]
    vocab = tense_vocab()
    assert vocab.words == tuple(words) and vocab.size == len(words)
    assert [vocab.words[i] for i in vocab.present_ids] == spec["present"]
    assert [vocab.words[i] for i in vocab.past_ids] == spec["past"]
    assert [vocab.words[i] for i in vocab.filler_ids] == spec["fillers"]
    assert vocab.words[vocab.subject_id] == "I"


def test_fillers_hold_no_time_words_and_the_answer_is_never_an_input():
    spec = committed_vocab()
    markers = set(spec["present"]) | set(spec["past"])
    assert not markers & set(spec["fillers"])
    assert len(set(spec["present"]) | set(spec["past"]) | set(spec["fillers"])) == (
        len(spec["present"]) + len(spec["past"]) + len(spec["fillers"]))
    # A filler that names a time or a tense would leak the label.
    for word in ["need", "had", "today", "yesterday", "now", "last", "current", "was", "is"]:
        assert word not in spec["fillers"]
    assert set(LABEL_WORDS) == {"need", "had"} and not set(LABEL_WORDS) & set(tense_vocab().words)


@pytest.mark.parametrize("gap", [0, 1, 7, 60])
def test_layout_marker_then_exactly_gap_fillers_then_I(gap):
    batch = make_tense_task(50, gap, np.random.default_rng(gap))
    vocab = tense_vocab()
    assert isinstance(batch, TenseBatch)
    assert batch.tokens.shape == (50, gap + 2) and batch.gap == gap
    assert batch.labels.shape == (50,) and np.issubdtype(batch.labels.dtype, np.integer)
    markers = np.concatenate([vocab.present_ids, vocab.past_ids])
    assert np.all(np.isin(batch.tokens[:, 0], markers))
    assert np.all(np.isin(batch.tokens[:, 1:-1], vocab.filler_ids))
    assert np.all(batch.tokens[:, -1] == vocab.words.index("I"))


def test_label_is_the_tense_of_the_first_token_only():
    batch = make_tense_task(400, 5, np.random.default_rng(0))
    words = batch.vocab
    present = {"today", "now", "this_week", "this_month", "this_year", "these_days"}
    past = {"yesterday", "last_week", "last_month", "last_year", "a_year_ago", "back_then"}
    for tokens, label in zip(batch.tokens, batch.labels):
        first = words[tokens[0]]
        assert label == (0 if first in present else 1) and first in present | past
    # Every marker occurs with its own label only, and both classes use several markers.
    firsts = [words[t] for t in batch.tokens[:, 0]]
    assert len(set(firsts) & present) >= 3 and len(set(firsts) & past) >= 3
    # tense_label is the rule; flipping the first token to the other class flips it.
    assert tense_label(words.index("today")) == 0 and tense_label(words.index("last_month")) == 1
    with pytest.raises(ValueError, match="first_token must be the id of a time marker"):
        tense_label(words.index("bank"))


def test_changing_fillers_never_changes_the_label_distribution():
    # Fillers are drawn independently of the label: each filler's frequency is
    # the same in both classes (~20,000 draws per class; differences of 0.01
    # would be ~6 standard deviations).
    batch = make_tense_task(4000, 10, np.random.default_rng(1))
    fillers = tense_vocab().filler_ids
    freq = [np.bincount(batch.tokens[batch.labels == c, 1:-1].ravel(), minlength=fillers.max() + 1)[fillers]
            for c in (0, 1)]
    freq = [f / f.sum() for f in freq]
    assert np.max(np.abs(freq[0] - freq[1])) < 0.01
    np.testing.assert_allclose(freq[0], 1 / len(fillers), atol=0.01)  # uniform


def test_seeded_reproducibility():
    a = make_tense_task(30, 4, np.random.default_rng(7))
    b = make_tense_task(30, 4, np.random.default_rng(7))
    c = make_tense_task(30, 4, np.random.default_rng(8))
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.tokens, c.tokens)
    x1, y1 = make_adding_task(20, 9, np.random.default_rng(3))
    x2, y2 = make_adding_task(20, 9, np.random.default_rng(3))
    x3, _ = make_adding_task(20, 9, np.random.default_rng(4))
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)


@pytest.mark.parametrize("n, counts", [(1000, (500, 500)), (7, (4, 3)), (1, (1, 0))])
def test_classes_are_balanced(n, counts):
    labels = make_tense_task(n, 2, np.random.default_rng(0)).labels
    assert tuple(np.bincount(labels, minlength=2)) == counts
    if n == 1000:  # shuffled, not one class after the other
        assert 200 < labels[:500].sum() < 300


@pytest.mark.parametrize("gap", [-1, 2.5, "3", True, None])
def test_bad_gap_raises(gap):
    with pytest.raises(ValueError, match=r"gap must be an integer >= 0, got"):
        make_tense_task(10, gap, np.random.default_rng(0))


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        make_tense_task(0, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be a np.random.Generator"):
        make_tense_task(5, 3, 0)
    with pytest.raises(ValueError, match=r"T must be an integer >= 2, got 1"):
        make_adding_task(5, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"tokens must lie in 0..4"):
        one_hot(np.array([0, 5]), 5)
    with pytest.raises(ValueError, match="tokens must be an integer array"):
        one_hot(np.array([0.0, 1.0]), 5)


def test_one_hot_and_decode():
    batch = make_tense_task(6, 3, np.random.default_rng(2))
    x = one_hot(batch.tokens, batch.vocab_size)
    assert x.shape == (6, 5, batch.vocab_size) and x.dtype == np.float64
    assert np.all(x.sum(axis=-1) == 1) and np.array_equal(x.argmax(axis=-1), batch.tokens)
    assert np.array_equal(batch.one_hot(), x)
    sentence = ["last_month", ",", "due", "to", "my", "job", "I"]
    tokens = np.array([batch.vocab.index(w) for w in sentence])
    assert decode(tokens) == ["last_month , due to my job I"]
    assert decode(np.stack([tokens, tokens]), batch.vocab) == ["last_month , due to my job I"] * 2
    assert len(decode(batch.tokens)) == 6


@pytest.mark.parametrize("T", [2, 9, 50])
def test_adding_markers_one_per_half_and_target_is_their_sum(T):
    x, y = make_adding_task(300, T, np.random.default_rng(T))
    assert x.shape == (300, T, 2) and y.shape == (300,)
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = T // 2
    assert np.all(markers[:, :half].sum(axis=1) == 1) and np.all(markers[:, half:].sum(axis=1) == 1)
    np.testing.assert_allclose(y, (values * markers).sum(axis=1), rtol=1e-15)
    if T == 50:  # the marked positions cover each half
        first, second = markers[:, :half].argmax(axis=1), markers[:, half:].argmax(axis=1) + half
        assert first.min() == 0 and first.max() == half - 1
        assert second.min() == half and second.max() == T - 1


def test_predicting_one_scores_the_baseline():
    _, y = make_adding_task(200_000, 10, np.random.default_rng(0))
    # Var(U1 + U2) = 2/12; the standard error of this mean is ~4e-4.
    assert ADDING_BASELINE_MSE == pytest.approx(2 / 12)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(2 / 12, abs=0.002)
    assert np.mean(y) == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("gap", [0, 1, 7])
def test_weather_layout_cue_then_fillers_then_ending(gap):
    vocab = weather_vocab()
    batch = make_weather_task(40, gap, np.random.default_rng(gap))
    assert batch.tokens.shape == (40, gap + 10) and batch.gap == gap
    for sentence, label in zip(decode(batch.tokens, batch.vocab), batch.labels):
        words = sentence.split()
        assert words[0] == "the" and (words[1], words[2]) in (("clouds", "are"), ("sky", "is"))
        assert words[3] in (json.loads(VOCAB_JSON.with_name("weather_vocab.json").read_text())[
            "rain" if label == 1 else "clear"])
        assert all(vocab.words.index(w) in vocab.filler_ids for w in words[4:4 + gap])
        assert " ".join(words[4 + gap:]) == ", it looks like it will"
    assert WEATHER_WORDS == ("clear", "rain") and not set(WEATHER_WORDS) & set(vocab.words)
    assert np.bincount(batch.labels).tolist() == [20, 20]


def test_weather_label_depends_on_the_adjective_alone():
    vocab = weather_vocab()
    batch = make_weather_task(400, 5, np.random.default_rng(3))
    rainy = np.isin(batch.tokens[:, 3], vocab.rain_ids)
    assert np.array_equal(rainy, batch.labels == 1)
    # Both nouns go with both labels, so the noun says nothing about the answer.
    for noun in vocab.noun_ids:
        assert set(batch.labels[batch.tokens[:, 1] == noun]) == {0, 1}
    with pytest.raises(ValueError, match="gap"):
        make_weather_task(4, -1, np.random.default_rng(0))


def test_cuisine_sentences_follow_the_template_and_the_dish_decides():
    vocab = cuisine_vocab()
    batch = make_cuisine_task(300, 4, np.random.default_rng(0))
    assert batch.tokens.shape == (300, len(vocab.template) - 2 + 8)
    assert (batch.labels[:, 0] != batch.labels[:, 1]).all()
    words = [s.split() for s in decode(batch.tokens, batch.vocab)]
    for sentence, (c1, c2) in zip(words, batch.labels):
        b1, b2 = batch.blanks
        assert sentence[b1] == sentence[b2] == "is"
        assert (sentence[b1 + 1], sentence[b2 + 1]) == (vocab.cuisines[c1], vocab.cuisines[c2])
        assert sentence[2] in vocab.dishes[c1] and sentence[b1 + 8] in vocab.dishes[c2]
        assert sentence[0] != sentence[b1 + 5]  # two different people
        assert all(w in vocab.fillers for w in sentence[3:7])
    assert set(batch.labels[:, 0]) == set(range(len(vocab.cuisines)))
    assert np.array_equal(make_cuisine_task(5, 2, np.random.default_rng(1)).tokens,
                          make_cuisine_task(5, 2, np.random.default_rng(1)).tokens)


def test_encode_is_decode_inverse_and_names_unknown_words():
    vocab = cuisine_vocab().words
    text = "Rana likes biriyani , so his favourite cuisine is Bangladeshi"
    assert decode(encode(text, vocab), vocab) == [text]
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['kebab'\]"):
        encode("Rana likes kebab", vocab)
