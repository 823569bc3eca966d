"""The parser against an independent reference reader, on many generated files, both paths: the
first QUICK_BATCHES seeded batches here, the other BATCHES - QUICK_BATCHES in
integration/test_parse_reference_batches.py (a large input). How a batch is made and compared:
support/reference_batches.py.
"""

import pytest

from octo_assets_tests.support.reference_batches import (
    QUICK_BATCHES,
    assert_every_case_exercised,
    assert_same,
    batch,
    expected,
)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "orjson"])
@pytest.mark.parametrize("seed", range(QUICK_BATCHES))
def test_the_parser_reads_every_file_as_the_reference_does(seed, fast):
    assert_same(batch(seed), fast, expected(seed))


def test_the_first_batches_exercise_every_case():
    assert_every_case_exercised(range(QUICK_BATCHES))
