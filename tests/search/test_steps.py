"""The named steps of `search` alone: question checks, fixed fusion, abstention
signals, highlight choice; and the shared word tokenizers they use."""

import math

import numpy as np
import pytest

from assistant import QuestionError
from assistant._words import content_words, phrase_tokens, word_set
from assistant.indexing.lexical import LexicalIndex, content_terms
from assistant.search.fusion import fuse_fixed
from assistant.search.highlights import pick_highlights
from assistant.search.question import check_k
from assistant.search.signals import abstention_signals, term_weights, weighted_share


def test_check_k_takes_whole_numbers_only() -> None:
    assert check_k(3) == 3
    assert check_k(np.int64(7)) == 7
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(QuestionError):
            check_k(bad)


def test_fixed_fusion_scales_bm25_by_its_bound() -> None:
    dense = {0: 0.8, 1: 0.6}
    lexical = {2: 6.0}
    scores = np.array([3.0, 0.0, 6.0], dtype=np.float32)
    fused = fuse_fixed(dense, lexical, scores, 12.0, alpha=0.5)
    # passage 2 is no dense candidate: it gets the dense pool's lowest cosine, 0.6
    assert [i for i, _ in fused] == [2, 0, 1]
    assert [score for _, score in fused] == pytest.approx([0.55, 0.525, 0.3])
    # no known term (bound 0): BM25 is taken as it is
    assert dict(fuse_fixed(dense, lexical, scores, 0.0, alpha=0.5))[2] == pytest.approx(3.3)


def test_signals_weigh_terms_by_idf_and_count_the_top_three_excerpts() -> None:
    lexical = LexicalIndex(["Tokyo hosted the meeting", "Manila protested the blockade"])
    terms = content_terms("Did Tokyo host a summit?")
    assert terms == ["tokyo", "host", "summit"]
    weights = term_weights(terms, lexical)
    # each known term is in one of two passages; "summit" in none: the rarest possible
    assert weights == pytest.approx(
        {"tokyo": math.log(2), "host": math.log(2), "summit": math.log(6)}
    )
    known_share = 2 * math.log(2) / (2 * math.log(2) + math.log(6))
    assert weighted_share(weights, {"tokyo", "host"}) == pytest.approx(known_share)
    assert weighted_share({}, {"tokyo"}) == 0.0
    signals = abstention_signals(
        0.42,
        weights,
        lexical.known_terms(terms),
        ["Tokyo hosted", "the meeting", "Manila", "a summit"],  # the 4th does not count
    )
    assert signals.dense_top == 0.42
    assert signals.coverage == pytest.approx(known_share)
    assert signals.retrieved_coverage == pytest.approx(known_share)


def test_pick_highlights_keeps_the_best_sentence_and_its_ties() -> None:
    assert pick_highlights([0.2, 0.9, 0.4]) == [1]
    assert pick_highlights([0.9, 0.2, 0.9]) == [0, 2]
    assert pick_highlights([]) == []


def test_content_words_and_phrase_tokens() -> None:
    # content words: two characters or more, lower-cased ("I" holds none); a dotted
    # abbreviation and a plus-joined name stay whole instead of falling apart into
    # single characters
    assert content_words("A 2+2 in Tokyo, I said") == ["2+2", "in", "tokyo", "said"]
    assert content_words("U.S. and U.N. officials, the U.S-Japan pact, at 7 a.m.") == [
        "us", "and", "un", "officials", "the", "us", "japan", "pact", "at",
    ]  # fmt: skip
    # glued to a word, the abbreviation leaves the word whole; only digits join by "+"
    assert content_words("S.Korea, the U.S.Navy, Tokyo+Seoul, 2+2+2") == [
        "korea", "the", "us", "navy", "tokyo", "seoul", "2+2+2",
    ]  # fmt: skip
    assert word_set("Tokyo said; tokyo SAID") == frozenset({"tokyo", "said"})
    # phrase tokens: names kept whole, clause punctuation apart
    assert phrase_tokens("What did the U.S. say about China's J-Alert, then?") == [
        "What", "did", "the", "U.S.", "say", "about", "China's", "J-Alert", ",", "then", "?",
    ]  # fmt: skip
