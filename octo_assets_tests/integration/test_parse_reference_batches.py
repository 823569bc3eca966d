"""The parser against the independent reference reader on the seeded batches the quick tier does
not read (engine/test_parse_reference.py reads the first ones): a large input, and the mix of all
of them held to every case. How a batch is made and compared: support/reference_batches.py."""

import pytest

from octo_assets_tests.support.reference_batches import (
    BATCHES,
    QUICK_BATCHES,
    assert_every_case_exercised,
    assert_same,
    batch,
    expected,
)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "orjson"])
@pytest.mark.parametrize("seed", range(QUICK_BATCHES, BATCHES))
def test_the_parser_reads_every_file_as_the_reference_does(seed, fast):
    assert_same(batch(seed), fast, expected(seed))


def test_the_batches_exercise_every_case():
    assert_every_case_exercised(range(BATCHES))
