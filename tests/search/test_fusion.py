from assistant._words import word_set
from assistant.search.fusion import add_rankings, fuse_convex, fuse_rrf, min_max
from assistant.search.highlights import pick_highlights
from assistant.search.selection import is_near_duplicate


def test_min_max() -> None:
    assert min_max({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}
    assert min_max({7: 0.3}) == {7: 1.0}
    assert min_max({}) == {}


def test_convex_fusion_weighs_both_rankings() -> None:
    dense = {1: 0.9, 2: 0.5, 3: 0.1}
    lexical = {3: 12.0, 2: 6.0}
    assert fuse_convex(dense, lexical, alpha=1.0)[0] == (1, 1.0)
    assert fuse_convex(dense, lexical, alpha=0.0)[0] == (3, 1.0)
    fused = dict(fuse_convex(dense, lexical, alpha=0.5))
    assert fused == {1: 0.5, 2: 0.5 * 0.5 + 0.5 * 0.0, 3: 0.5}
    # ties break by id so rankings are deterministic
    assert [i for i, _ in fuse_convex(dense, lexical, alpha=0.5)] == [1, 3, 2]


def test_rrf() -> None:
    fused = fuse_rrf([[1, 2, 3], [3, 1]], constant=60)
    assert [i for i, _ in fused] == [1, 3, 2]
    assert fused[0][1] == 1 / 61 + 1 / 62


def test_near_duplicates_by_containment() -> None:
    bullet = word_set(
        "During a so-called 2+2 dialogue in Tokyo, the U.S. agreed to reconstitute USFJ."
    )
    body = word_set(
        "During the so-called 2+2 dialogue in Tokyo, the U.S. agreed to reconstitute USFJ (JFHQ). "
        "The long awaited move grants autonomy."
    )
    other = word_set("Beijing will continue to challenge the status quo.")
    assert is_near_duplicate(bullet, body, 0.8)
    assert not is_near_duplicate(bullet, other, 0.8)
    assert not is_near_duplicate(frozenset(), body, 0.8)


def test_pick_highlights() -> None:
    assert pick_highlights([0.2, 0.9, 0.4]) == [1]
    assert pick_highlights([0.9, 0.2, 0.9]) == [0, 2]  # a tie keeps both
    assert pick_highlights([]) == []


def test_add_rankings_sums_weighted_scores_over_both() -> None:
    first = [(1, 1.0), (2, 0.5)]
    second = [(3, 1.0), (2, 0.75)]
    assert add_rankings(first, second, 1.0) == [(2, 1.25), (1, 1.0), (3, 1.0)]
    assert add_rankings(first, second, 0.0) == [(1, 1.0), (2, 0.5), (3, 0.0)]
    assert add_rankings([], second, 2.0) == [(3, 2.0), (2, 1.5)]
