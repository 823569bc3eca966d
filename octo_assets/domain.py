"""Facts shared by the engine (Dagster-free: the readings workers never import Dagster) and the
assets, checks and automation built on it. One home each."""

# a day is a Europe/London day: the partitions, the readings' local times and the schedules
LOCAL_TZ = "Europe/London"
# the first day there can be readings for (the case study's)
FIRST_DAY = "2021-01-01"
# offending rows a check shows in the UI (and so all the engine keeps of them); all are counted
SHOWN = 20
