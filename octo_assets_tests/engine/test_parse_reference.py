"""The parser against an independent reference reader, on many generated files, both paths: the
first QUICK_BATCHES seeded batches here, the other BATCHES - QUICK_BATCHES in
integration/test_parse_reference_batches.py (a large input). How a batch is made and compared:
support/reference_batches.py.

`reference_reader.py` reads each file with the standard library alone (its docstring lists the
rules and each place where it does what the product must do rather than what `json` does).
For every seeded batch, `parse_documents(batch, fast=...)` with fast=True and fast=False must
give exactly the reference's result:

- the same loaded rows, as a multiset of (source_file, row_number, meterpoint_id,
  interval_start_local, interval_start_utc, reading_date, consumption_kwh), kWh compared as
  exact decimals;
- the same quarantined rows, as (source_file, row_number, reading_date, reason class);
- the same files rejected whole, as (source_file, reason class).

Reason texts are compared by class only (`row_reason`, `file_reason`): which check failed,
not its wording.

The batches hold dozens of files each: the feed's exact compact layout (the fast path) and every
other layout the design allows (pretty-printed with spaces or tabs, CRLF, whitespace between any
tokens, "data" before "columns", other column orders, extra keys, \\u and \\/ escapes in any
string, other spellings of the same number), rows with every problem the quarantine names, whole
days across both 2021 clock changes (in order, shuffled, with the repeated hour sent once or
twice), files rejected whole (empty, not JSON, BOM, UTF-16, Latin-1, NaN, lone surrogates, not an
object, wrong columns, no data), and random byte damage: valid files with 1-6 bits flipped, bytes
replaced, inserted, deleted, digits changed, slices duplicated, or the end cut off, so that some
stay JSON with odd values and others break. `test_the_batches_exercise_every_case` holds the
mix to that.
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
