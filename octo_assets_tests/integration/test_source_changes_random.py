"""The days a source change moves, against the day-by-day brute force, on the random snapshot
pairs of the seeds the quick tier leaves out (a large input; engine/test_source_changes.py runs
the first). How the pairs are made and compared: support/random_snapshots.py."""

import pytest

from octo_assets_tests.support.random_snapshots import (
    QUICK_SEEDS,
    SEEDS,
    assert_the_pairs_move_what_the_brute_force_finds,
)


@pytest.mark.parametrize("seed", [seed for seed in SEEDS if seed not in QUICK_SEEDS])
def test_random_snapshot_pairs_move_exactly_the_days_the_brute_force_finds(seed):
    assert_the_pairs_move_what_the_brute_force_finds(seed)
