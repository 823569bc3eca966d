"""Days are Europe/London days, from the first day of the case study; how many go in one run."""

import dagster as dg

from octo_assets import settings
from octo_assets.domain import FIRST_DAY, LOCAL_TZ

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=LOCAL_TZ)


def days_per_run() -> int | None:
    """OCTO_DAYS_PER_RUN: the most days one backfill run builds; unset (0) = a whole range in one run."""
    days = settings.whole_number(settings.DAYS_PER_RUN, 0, 1, "days", "or unset it to build a whole range in one run")
    return days or None


def backfill_policy() -> dg.BackfillPolicy:
    """How a backfill of the daily assets maps days to runs. One run for a whole range suits one
    machine: a file that holds several days is read once. A cluster spreads the days over runs
    (pods) of OCTO_DAYS_PER_RUN days each."""
    days = days_per_run()
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=days) if days else dg.BackfillPolicy.single_run()
