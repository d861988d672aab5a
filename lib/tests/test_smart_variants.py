from collections import Counter

import pytest
from conditions import can_still_match, failed_condition, is_exhausted, pick_step
from variants import VariantStats, assign_variant, pick_winner


@pytest.mark.parametrize(
    ("conditions", "facts", "failed"),
    [
        ([], set(), None),
        (["opened"], set(), "opened"),
        (["opened"], {"opened"}, None),
        (["not_opened"], {"opened"}, "not_opened"),
        (["not_replied"], set(), None),
        (["not_replied"], {"opened"}, None),
        (["clicked", "not_replied"], {"clicked", "opened"}, None),
        (["clicked", "not_replied"], {"clicked", "replied"}, "not_replied"),
        (["not_clicked"], {"clicked"}, "not_clicked"),
        (["replied"], {"opened"}, "replied"),
        (["contact"], set(), None),
    ],
)
def test_failed_condition(conditions, facts, failed):
    assert failed_condition(conditions, facts) == failed


def test_not_replied_holds_without_an_open():
    # Images blocked: no open was ever seen, the step still runs on its delay.
    assert failed_condition(["not_replied", "not_clicked"], set()) is None


def test_can_still_match():
    assert can_still_match(["opened"], set())
    assert not can_still_match(["not_opened"], {"opened"})
    assert can_still_match(["not_opened"], set())


def test_pick_step_first_matching_not_done():
    steps = [(1, [], True), (2, ["opened"], True), (3, ["not_opened"], True)]
    assert pick_step(steps, set(), set()) == 1
    assert pick_step(steps, {1}, set()) == 3
    assert pick_step(steps, {1}, {"opened"}) == 2
    assert pick_step(steps, {1, 2, 3}, {"opened"}) is None
    assert pick_step([(4, [], False)], set(), set()) is None


def test_is_exhausted():
    steps = [(1, [], True), (2, ["not_opened"], True), (3, ["clicked"], True)]
    assert not is_exhausted(steps, {1}, {"opened"})  # step 3 may still be clicked
    assert is_exhausted(steps, {1, 3}, {"opened"})  # step 2 can never match again
    assert is_exhausted(steps, {1, 2, 3}, set())


def test_assign_variant_is_reproducible_and_even():
    variants = [10, 11, 12]
    assert assign_variant(5, 7, variants) == assign_variant(5, 7, variants)
    counts = Counter(assign_variant(enrollment, 7, variants) for enrollment in range(9000))
    assert set(counts) == set(variants)
    assert all(2700 < count < 3300 for count in counts.values())
    assert assign_variant(5, 7, []) is None


def test_pick_winner_needs_the_sample_of_every_variant():
    stats = [VariantStats(1, 100, 10), VariantStats(2, 40, 20)]
    assert pick_winner(stats, 50) is None
    stats = [VariantStats(1, 100, 10), VariantStats(2, 60, 12)]
    assert pick_winner(stats, 50) == 2
    assert pick_winner([VariantStats(1, 100, 10)], 50) is None


def test_no_winner_without_replies_or_on_a_tie():
    assert pick_winner([VariantStats(1, 50, 0), VariantStats(2, 80, 0)], 50) is None
    assert pick_winner([VariantStats(1, 50, 5), VariantStats(2, 100, 10)], 50) is None
    assert pick_winner([VariantStats(1, 50, 5), VariantStats(2, 100, 11)], 50) == 2


def test_pick_winner_on_opportunities_won():
    # B has more replies, A more opportunities won: each metric names its own winner.
    stats = [VariantStats(1, 100, 5, won=4), VariantStats(2, 100, 12, won=1)]
    assert pick_winner(stats, 50) == 2
    assert pick_winner(stats, 50, metric="won") == 1
    # No opportunity won yet, or a tie: no winner, the test goes on.
    assert pick_winner([VariantStats(1, 100, 5), VariantStats(2, 100, 12)], 50, metric="won") is None
    assert pick_winner([VariantStats(1, 100, 5, won=2), VariantStats(2, 100, 12, won=2)], 50, metric="won") is None
    with pytest.raises(ValueError, match="unknown A/B metric"):
        pick_winner(stats, 50, metric="opens")
