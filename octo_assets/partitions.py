"""Days are Europe/London days, from the first day of the case study."""

import dagster as dg

LOCAL_TZ = "Europe/London"
FIRST_DAY = "2021-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=LOCAL_TZ)
