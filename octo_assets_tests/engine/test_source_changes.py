"""The days a source change moves (octo_assets.source.changes), class by class with answers
reasoned by hand, and against a day-by-day brute force (expected.moved_days) on random pairs of
snapshots."""

from datetime import date

import pytest

from octo_assets.source.changes import snapshot_changes
from octo_assets_tests.support.random_snapshots import (
    FIRST,
    LAST,
    METERPOINTS,
    PRODUCTS,
    QUICK_SEEDS,
    assert_the_pairs_move_what_the_brute_force_finds,
    frames,
    moved,
    source,
)


def described(old: dict, new: dict) -> list[str]:
    return snapshot_changes(frames(old), frames(new), FIRST, LAST).sentences


BEFORE = source(
    [
        (17, "2020-01-01", None, "P1", "6e80fa8f56", "A1"),
        (18, "2020-06-01", "2021-01-20", "P2", "0123", "A2"),
        (19, "2021-01-20", None, "P1", "0123", "A2"),
        (20, "2020-06-01", None, "P3", "3674e80033", "A3"),
    ]
)


def test_a_back_dated_cut_and_switch_moves_the_product_days_from_the_cut_and_the_agreements_active_days():
    after = source(
        [
            (17, "2020-01-01", "2021-01-10", "P1", "6e80fa8f56", "A1"),  # cut late, back-dated
            (42, "2021-01-10", None, "P2", "6e80fa8f56", "A1"),  # continued on another product
            *BEFORE["agreement"][1:],
        ]
    )
    # readings from the 10th go under Flexible Octopus; the days before keep Octopus 12M Fixed.
    # Agreement 17's row shows its valid_to: every day it is active changes (1st..9th as cut,
    # 10th on as no longer active); 42 is active from the 11th
    assert moved(BEFORE, after) == {
        "daily_product_consumption": [("2021-01-10", "2021-01-31")],
        "active_agreements": [("2021-01-01", "2021-01-31")],
    }
    assert described(BEFORE, after) == [
        "agreement 17 (meterpoint 6e80fa8f56): valid_to none -> 2021-01-10",
        "agreement 42 added (meterpoint 6e80fa8f56, Flexible Octopus, from 2021-01-10)",
    ]


def test_a_cut_alone_moves_the_product_days_after_it_to_no_product():
    after = source([(17, "2020-01-01", "2021-01-25", "P1", "6e80fa8f56", "A1"), *BEFORE["agreement"][1:]])
    assert moved(BEFORE, after) == {
        "daily_product_consumption": [("2021-01-25", "2021-01-31")],
        "active_agreements": [("2021-01-01", "2021-01-31")],
    }


def test_a_product_renamed_moves_the_days_its_agreements_cover():
    renamed = [PRODUCTS[0], PRODUCTS[1], ("Octopus Go Faster", 0, 3, "P3")]
    assert moved(BEFORE, source(BEFORE["agreement"], renamed)) == {
        "daily_product_consumption": [("2021-01-01", "2021-01-31")],  # agreement 20, open since 2020
        "active_agreements": [("2021-01-01", "2021-01-31")],
    }
    p2 = [PRODUCTS[0], ("Flexible Octopus v2", 1, 2, "P2"), PRODUCTS[2]]
    # P2 is agreement 18's until the 20th: it owns readings to the 19th, is active to the 19th
    assert moved(BEFORE, source(BEFORE["agreement"], p2)) == {
        "daily_product_consumption": [("2021-01-01", "2021-01-19")],
        "active_agreements": [("2021-01-01", "2021-01-19")],
    }
    assert described(BEFORE, source(BEFORE["agreement"], p2)) == [
        "product P2 renamed 'Flexible Octopus' -> 'Flexible Octopus v2'"
    ]


def test_a_product_renamed_to_another_products_name_moves_its_days_and_an_unused_product_none():
    """Product-days group by display name: P3 renamed to P1's name moves its meterpoint's group."""
    same_name = [PRODUCTS[0], PRODUCTS[1], ("Octopus 12M Fixed", 0, 3, "P3")]
    assert moved(BEFORE, source(BEFORE["agreement"], same_name))["daily_product_consumption"] == [
        ("2021-01-01", "2021-01-31")
    ]
    unused = source(BEFORE["agreement"], [*PRODUCTS, ("Unused", 0, 4, "P4")])
    renamed_unused = source(BEFORE["agreement"], [*PRODUCTS, ("Unused, renamed", 1, 4, "P4")])
    assert moved(unused, renamed_unused) == {"daily_product_consumption": [], "active_agreements": []}
    assert described(unused, renamed_unused) == [
        "product P4 renamed 'Unused' -> 'Unused, renamed', is_variable false -> true"
    ]


def test_variability_changed_moves_the_active_days_only():
    variable = [PRODUCTS[0], PRODUCTS[1], ("Octopus Go", 1, 3, "P3")]
    assert moved(BEFORE, source(BEFORE["agreement"], variable)) == {
        "daily_product_consumption": [],  # grouped by display name only
        "active_agreements": [("2021-01-01", "2021-01-31")],
    }
    assert described(BEFORE, source(BEFORE["agreement"], variable)) == ["product P3 is_variable false -> true"]


def test_an_account_changed_moves_the_agreements_active_days_only():
    after = source(
        [*BEFORE["agreement"][:1], (18, "2020-06-01", "2021-01-20", "P2", "0123", "B2"), *BEFORE["agreement"][2:]]
    )
    assert moved(BEFORE, after) == {
        "daily_product_consumption": [],
        "active_agreements": [("2021-01-01", "2021-01-19")],  # active to the day before its valid_to
    }
    assert described(BEFORE, after) == ["agreement 18 (meterpoint 0123): account_id A2 -> B2"]


def test_rows_reordered_or_an_agreement_re_entered_identically_move_nothing():
    reordered = source(list(reversed(BEFORE["agreement"])), list(reversed(PRODUCTS)), list(reversed(METERPOINTS)))
    assert moved(BEFORE, reordered) == {"daily_product_consumption": [], "active_agreements": []}
    assert described(BEFORE, reordered) == []
    assert moved(BEFORE, BEFORE) == {"daily_product_consumption": [], "active_agreements": []}
    changes = snapshot_changes(frames(BEFORE), frames(reordered), FIRST, LAST)
    assert changes.description() == "Nothing changed." and changes.summary() == "nothing changed"


def test_an_agreement_entered_twice_moves_its_active_days():
    """The active-agreements table would list it twice (and its check fail): its answer moves."""
    twice = source([*BEFORE["agreement"], BEFORE["agreement"][3]])
    assert moved(BEFORE, twice) == {
        "daily_product_consumption": [],
        "active_agreements": [("2021-01-01", "2021-01-31")],
    }
    assert described(BEFORE, twice) == ["agreement 20: 1 rows -> 2 rows"]


def test_a_meterpoint_added_with_a_back_dated_agreement_moves_its_days_from_no_product():
    after = source(
        [*BEFORE["agreement"], (50, "2020-12-01", None, "P2", "09ab", "A9")],
        meterpoints=[*METERPOINTS, ("west", "09ab")],
    )
    assert moved(BEFORE, after) == {
        "daily_product_consumption": [("2021-01-01", "2021-01-31")],
        "active_agreements": [("2021-01-01", "2021-01-31")],
    }
    assert described(BEFORE, after) == [
        "agreement 50 added (meterpoint 09ab, Flexible Octopus, from 2020-12-01)",
        "meterpoint 09ab added (region west)",
    ]
    # starting inside the month: its readings from the 12th, active from the 13th
    later = source([*BEFORE["agreement"], (50, "2021-01-12", None, "P2", "09ab", "A9")])
    assert moved(BEFORE, later) == {
        "daily_product_consumption": [("2021-01-12", "2021-01-31")],
        "active_agreements": [("2021-01-13", "2021-01-31")],
    }


def test_a_meterpoint_row_alone_moves_nothing():
    after = source(BEFORE["agreement"], meterpoints=[*METERPOINTS, ("west", "09ab")])
    assert moved(BEFORE, after) == {"daily_product_consumption": [], "active_agreements": []}
    assert described(BEFORE, after) == ["meterpoint 09ab added (region west)"]


def test_an_agreement_deleted_moves_its_days_to_no_product():
    after = source([a for a in BEFORE["agreement"] if a[0] != 18])
    # 0123 had no other agreement before the 20th
    assert moved(BEFORE, after) == {
        "daily_product_consumption": [("2021-01-01", "2021-01-19")],
        "active_agreements": [("2021-01-01", "2021-01-19")],
    }
    assert described(BEFORE, after) == [
        "agreement 18 removed (meterpoint 0123, Flexible Octopus, from 2020-06-01 to 2021-01-20)"
    ]


def test_overlapping_agreements_move_only_where_the_winner_changes():
    """On an overlap, readings go under the agreement with the latest valid_from (then the
    highest id): an overlapped agreement's product moves nothing where it does not win."""
    old = source(
        [
            (1, "2020-01-01", None, "P1", "6e80fa8f56", "A1"),
            (2, "2021-01-05", "2021-01-15", "P2", "6e80fa8f56", "A1"),  # overlaps 1, wins 5th..14th
            (3, "2021-01-05", "2021-01-08", "P3", "6e80fa8f56", "A1"),  # same start, higher id: wins 5th..7th
        ]
    )
    # 1 moved to P3: only where 1 wins (not 5th..14th)
    new = source([(1, "2020-01-01", None, "P3", "6e80fa8f56", "A1"), *old["agreement"][1:]])
    assert moved(old, new)["daily_product_consumption"] == [("2021-01-01", "2021-01-04"), ("2021-01-15", "2021-01-31")]
    # 3 removed: 2 wins 5th..7th instead
    new = source(old["agreement"][:2])
    assert moved(old, new)["daily_product_consumption"] == [("2021-01-05", "2021-01-07")]
    # an agreement hidden under a later one everywhere: its product moves no product-day
    hidden = source([*old["agreement"], (0, "2019-06-01", None, "P2", "6e80fa8f56", "A1")])
    new = source([*old["agreement"], (0, "2019-06-01", None, "P3", "6e80fa8f56", "A1")])
    assert moved(hidden, new) == {"daily_product_consumption": [], "active_agreements": [("2021-01-01", "2021-01-31")]}


def test_zero_length_agreements_cover_no_day():
    old = source([(1, "2021-01-10", "2021-01-10", "P1", "6e80fa8f56", "A1")])
    new = source([(1, "2021-01-10", "2021-01-10", "P2", "6e80fa8f56", "A1")])
    # it covers no reading and is never active: its product moves nothing
    assert moved(old, new) == {"daily_product_consumption": [], "active_agreements": []}


def test_open_ended_changes_are_clipped_to_the_last_partition_and_days_before_the_first_are_not_named():
    old = source([(1, "2020-06-01", None, "P1", "6e80fa8f56", "A1")])
    new = source([(1, "2020-06-01", "2020-12-01", "P1", "6e80fa8f56", "A1")])  # cut before the first day
    assert moved(old, new, FIRST, date(2021, 1, 20)) == {
        "daily_product_consumption": [("2021-01-01", "2021-01-20")],
        "active_agreements": [("2021-01-01", "2021-01-20")],
    }
    # a change that ended before the first day moves nothing
    old = source([(1, "2020-06-01", "2020-12-01", "P1", "6e80fa8f56", "A1")])
    new = source([(1, "2020-06-01", "2020-12-01", "P2", "6e80fa8f56", "B1")])
    assert moved(old, new) == {"daily_product_consumption": [], "active_agreements": []}
    # starting after the last day: nothing yet
    new = source([*old["agreement"], (2, "2021-02-10", None, "P1", "6e80fa8f56", "A1")])
    assert moved(old, new) == {"daily_product_consumption": [], "active_agreements": []}


def test_the_description_is_a_few_sentences_and_counts_the_rest():
    old = source([])
    new = source([(n, "2020-06-01", None, "P1", f"mp{n:02d}", "A") for n in range(25)])
    changes = snapshot_changes(frames(old), frames(new), FIRST, LAST)
    assert len(changes.sentences) == 10
    assert changes.counts == {"products": 0, "agreements": 25, "meterpoints": 0}
    assert changes.description().splitlines()[-1] == "- … and 15 more (25 agreements)"
    assert changes.summary() == "agreement 0 added (meterpoint mp00, Octopus 12M Fixed, from 2020-06-01) (+24 more)"


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_random_snapshot_pairs_move_exactly_the_days_the_brute_force_finds(seed):
    assert_the_pairs_move_what_the_brute_force_finds(seed)
