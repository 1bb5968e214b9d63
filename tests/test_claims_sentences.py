r"""Claims about the lecture's sentences in notebook 06: the weather sentence ("The clouds are
dark, it looks like it will ... rain") as a stored sweep of the RNN and the LSTM, and the
cuisine sentences as an LSTM whose gates and cell state are read word by word.
Conventions as in tests/test_claims.py (whose last tests read these docstrings too): each
docstring starts "06:" and quotes its sentences exactly; "about x" is within 0.1 of x for
the shares and gate values here, which lie between 0 and 1.
"""
import functools

import numpy as np

from helpers.gated import lstm_forward, lstm_params_of
from helpers.sequence import CUISINE_HIDDEN, CuisineModel, class_share, load_sweep, train_cuisine
from helpers.tasks import WEATHER_CUE, WEATHER_ENDING, decode, encode, make_weather_task, weather_vocab

LECTURE = ("Rana likes biriyani very much at every family dinner , so his favourite cuisine is Bangladeshi . "
           "his friend John however loves pasta at home with family every weekend , so John 's favourite cuisine is Italian")


def about(value, target, tol=0.1) -> bool:
    return abs(value - target) <= tol


# --- the weather sentence ------------------------------------------------------------------

def test_06_only_the_fourth_word_decides_and_it_lies_g_plus_6_words_before_the_answer():
    r"""06: "Every sentence opens with the sky (*the clouds are dark*, *the sky is bright*: two nouns and eight
    adjectives), then some filler words, then *, it looks like it will*", "**rain** after a dark, grey, heavy or black
    sky, **clear** after a white, thin, bright or light one. Both nouns go with every adjective, so only the fourth word
    decides, and with $g$ fillers, $g + 6$ words stand between it and the answer"."""
    vocab = weather_vocab()
    assert len(vocab.noun_ids) == 2 and len(vocab.rain_ids) + len(vocab.clear_ids) == 8
    assert [vocab.words[i] for i in vocab.rain_ids] == ["dark", "grey", "heavy", "black"]
    assert [vocab.words[i] for i in vocab.clear_ids] == ["white", "thin", "bright", "light"]
    for g in (0, 3, 12):
        batch = make_weather_task(200, g, np.random.default_rng(g))
        # The adjective is word 4 (index 3); the answer follows the last word: T - 4 words between them.
        assert batch.tokens.shape[1] - 4 == g + 6 == g + WEATHER_ENDING and WEATHER_CUE == 4
        assert decode(batch.tokens[:1], batch.vocab)[0].endswith(", it looks like it will")
        assert np.array_equal(np.isin(batch.tokens[:, 3], vocab.rain_ids), batch.labels == 1)
        for column in (1, 2, *range(4, 4 + g)):  # nouns, verbs, fillers: the same words for both answers
            for word in np.unique(batch.tokens[:, column]):
                rows = batch.tokens[:, column] == word
                assert rows.sum() < 8 or set(batch.labels[rows]) == {0, 1}


def _solved(kind: str) -> dict:
    rows = [r for r in load_sweep() if (r["task"], r["kind"]) == ("weather", kind)]
    return {gap: sum(r["metric"] > 0.95 for r in rows if r["gap"] == gap) for gap in sorted({r["gap"] for r in rows})}


def test_06_the_rnn_loses_the_word_from_25_fillers_the_lstm_holds_it_to_30():
    r"""06: "With no fillers both cells answer every held-out sentence. The RNN already loses seeds at 10 fillers, where
    three of five solve the task ... and from 25 fillers on it is at chance with every seed but one (seed 4 at 30). The
    LSTM solves every length up to 30 fillers with every seed; beyond that the budget starts to tell: four seeds of five
    solve 40, three solve 50 and one solves 70", "on the lecture's weather sentence the RNN is at chance from 25 filler
    words on with every seed but one, while the LSTM solves 30 with every seed" (at chance: within 0.05 of 0.5)."""
    rows = load_sweep()
    metric = {(r["kind"], r["gap"], r["seed"]): r["metric"] for r in rows if r["task"] == "weather"}
    assert all(metric[kind, 0, seed] == 1.0 for kind in ("rnn", "lstm") for seed in range(5))
    rnn, lstm = _solved("rnn"), _solved("lstm")
    assert rnn[10] == 3
    beyond = [(gap, seed) for (kind, gap, seed), m in metric.items() if kind == "rnn" and gap >= 25 and abs(m - 0.5) > 0.05]
    assert beyond == [(30, 4)] and metric["rnn", 30, 4] > 0.95
    assert all(lstm[gap] == 5 for gap in lstm if gap <= 30)
    assert (lstm[40], lstm[50], lstm[70]) == (4, 3, 1)


# --- the cuisine sentences -----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def cuisine():
    r"""The notebook's run and what its figure and printout measure."""
    run = train_cuisine(seed=0)
    cache = lstm_forward(lstm_params_of(run.model.rnn), run.held_out.one_hot())
    shares = [class_share(cache.cs[:, 1:], run.held_out.labels[:, k]) for k in (0, 1)]
    holders = np.argsort(shares[0][run.held_out.blanks[0]])[-4:]
    return run, cache, [s.mean(axis=1) for s in shares], holders


def test_06_the_cuisine_sentences_and_the_lstm_that_names_both_cuisines():
    r"""06: "with six people, five cuisines of three dishes each, two different cuisines in every sentence and six
    filler words after each dish", "Only the dish just before decides each cuisine word. An LSTM of 16 units
    (forget-gate bias 1, so its forget gates start near $\sigma(1) \approx 0.73$) learns to name the cuisine at both
    blanks" (above 0.99 of the 1000 held-out sentences at each)."""
    run, _, _, _ = cuisine()
    vocab = run.held_out
    assert len(vocab.cuisines) == 5 and len(vocab.labels) == 1000 and CUISINE_HIDDEN == 16
    assert (vocab.labels[:, 0] != vocab.labels[:, 1]).all()
    assert run.model.rnn.hidden_size == 16 and run.accuracy.min() > 0.99
    start = CuisineModel(vocab.vocab_size, 5, vocab.blanks, rng=np.random.default_rng(0))  # the weights before training
    assert np.all(start.rnn.bias_ih_l0.detach().numpy()[16:32] == 1) and np.all(start.rnn.bias_hh_l0.detach().numpy() == 0)
    assert about(1 / (1 + np.exp(-1.0)), 0.73, 0.005)
    words = LECTURE.split()
    assert words[3:9] == ["very", "much", "at", "every", "family", "dinner"] and len(encode(LECTURE, vocab.vocab)) == 37


def test_06_written_at_the_dish_kept_by_writing_again_overwritten_at_the_second_dish():
    r"""06: "At the dish the first cuisine's share jumps from 0 to about 0.6: the LSTM writes the cuisine that the dish
    implies into its cell state. Across the fillers the share grows instead of fading, to about 0.8 at the last
    filler, and it keeps rising to above 0.9 at the first blank", "Over the first fillers the four units' gates
    average about 0.8, and multiplied over the twelve words from the dish to the blank they would keep less than a
    sixth of the dish's entry. None of those twelve words says anything about the cuisine", "the spread of their
    cell states over the sentences grows more than threefold from the dish to the first blank, and the first cuisine
    accounts for nearly all of it there. Over the second person's words the first cuisine's share falls, to about
    0.6 by *John*. At the second dish it drops to about 0.2 while the second cuisine's jumps to about 0.6, and at the
    second blank the first cuisine explains less than a tenth of the spread, close to the floor of 0.06, while the
    second explains more than nine tenths. The memory is almost entirely overwritten, and in the same four units: at
    the second blank the second cuisine explains more than 0.9 of each one's spread" ("nearly all": above 0.95 for
    each unit; "close to the floor": within 0.03 of it; "says nothing": the cuisine explains less than 0.03 of any word's
    presence at any of those twelve places, over the 1000 held-out sentences)."""
    run, cache, share, holders = cuisine()
    words = LECTURE.split()
    dish1, dish2 = words.index("biriyani"), words.index("pasta")
    first_blank, second_blank = run.held_out.blanks
    assert words[first_blank] == words[second_blank] == "is" and first_blank - dish1 == 12
    first, second = share
    last_filler = words.index(",") - 1
    assert first[dish1 - 1] < 0.01 and about(first[dish1], 0.6)
    assert about(first[last_filler], 0.8) and np.all(np.diff(first[dish1 + 1:first_blank + 1]) > -0.02)
    assert first[first_blank] > 0.9
    f = cache.f[:, :, holders]
    assert about(f[:, dish1 + 1:last_filler + 1].mean(), 0.8, 0.05)
    kept = np.median(np.prod(f[:, dish1 + 1:first_blank + 1], axis=1), axis=0)
    assert kept.max() < 1 / 6
    between = run.held_out.one_hot()[:, dish1 + 1:first_blank + 1]  # fillers, then ", so <pronoun> favourite cuisine"
    assert class_share(between, run.held_out.labels[:, 0]).max() < 0.03  # no word there tells the cuisine
    spread = cache.cs[:, 1:, holders].std(axis=0).mean(axis=1)
    assert spread[first_blank] > 3 * spread[dish1]
    assert class_share(cache.cs[:, 1:, holders], run.held_out.labels[:, 0])[first_blank].min() > 0.95
    assert first[words.index(".")] > 0.9 and about(first[words.index("John")], 0.6)
    assert about(first[dish2], 0.2) and about(second[dish2], 0.6) and second[dish2 - 1] < 0.1
    assert first[second_blank] < 0.1 and abs(first[second_blank] - floor()) < 0.03 and second[second_blank] > 0.9
    assert class_share(cache.cs[:, 1:, holders], run.held_out.labels[:, 1])[second_blank].min() > 0.9


def floor() -> float:
    r"""The first cuisine's share in cell states that hold the second cuisine alone (16 units, each a random
    function of it), over the notebook's held-out sentences."""
    run = cuisine()[0]
    second = run.held_out.labels[:, 1]
    states = np.random.default_rng(0).normal(size=(len(run.held_out.cuisines), 16))[second][:, None, :]
    return float(class_share(states, run.held_out.labels[:, 0]).mean())


def test_06_a_cell_holding_only_the_other_cuisine_gives_a_share_of_about_0_06():
    r"""06: "(Not quite 0 here: a sentence's two cuisines are never the same, so a cell state that holds only the other
    cuisine still gives this one a share of about 0.06. That is why the second cuisine's line sits a little above 0
    before its dish.)" (about: within 0.015; the line before the second dish lies between 0.02 and 0.1)."""
    assert about(floor(), 0.06, 0.015)
    run, _, share, _ = cuisine()
    dish2 = LECTURE.split().index("pasta")
    assert 0.02 < share[1][dish2 - 8:dish2].min() and share[1][dish2 - 8:dish2].max() < 0.1


def test_06_on_another_processor_the_rnns_counts_at_10_and_20_fillers_are_four_and_two():
    r"""06: "Runs this close to the edge tip either way: on another processor four seeds solve 10 fillers and two solve
    20" (the five seeds trained as helpers.execute.OTHER_CPU computes; here three and three)."""
    from helpers.execute import OTHER_CPU
    from tests.test_claims import run_as

    code = ("import json; from helpers.sequence import run_point; "
            "print(json.dumps([[run_point('weather', 'rnn', g, s)['metric'] for s in range(5)] for g in (10, 20)]))")
    at_10, at_20 = run_as(OTHER_CPU, code)
    assert sum(m > 0.95 for m in at_10) == 4 and sum(m > 0.95 for m in at_20) == 2
    assert (_solved("rnn")[10], _solved("rnn")[20]) == (3, 3)
