"""make run's pre-pass: the days its runs build are learnt by parsing the new landing files, once.

`make run` must name the days of its runs before they start, and only parsing a new file tells
its days. So the new files are parsed first, by the same parse steps a run takes
(readings.steps.parse_shard; make run runs them as a Dagster run of their own,
readings_prepass_job, in processes of their own when there are several), into an exchange of the
pre-pass's; the runs that follow take what was parsed over (readings.steps.plan, `prestaged`):
nothing is listed or read twice. Dagster-free: how the parse steps run is the caller's.
"""

from collections.abc import Callable
from datetime import date

import polars as pl

from octo_assets.lake import Lake
from octo_assets.readings import landing as index_of_landing
from octo_assets.readings import steps
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.ingest import (
    NOT_ENDED_SCHEMA,
    PRESTAGED,
    STAGING_COLUMNS,
    Landed,
    Prestaged,
    buckets_for,
    json_bytes,
    last_ended_day,
)
from octo_assets.readings.parse import QUARANTINE_SCHEMA
from octo_assets.readings.stage import DAY_ROWS_SCHEMA, FILE_FACTS_SCHEMA, Parsed
from octo_assets.settings import OPEN_DAYS, WorkerLimits
from octo_assets.storage import Storage

_NO_QUARANTINE = pl.DataFrame(
    schema={"file": pl.UInt32, **{k: v for k, v in QUARANTINE_SCHEMA.items() if k != "source_file"}}
)


def in_this_process(plan: steps.Plan) -> list[Parsed]:
    """The pre-pass's parse steps one after the other, here (tests, and tools without Dagster)."""
    return [batch for shard in plan.shards for batch in steps.parse_shard(plan, shard)]


def prestage(
    landing: Storage,
    lake: Lake,
    exchange: Exchange,
    limits: WorkerLimits,
    choose_days: Callable[[list[date], index_of_landing.Survey, pl.DataFrame], list[date]],
    wanted: list[date] | None = None,
    parse: Callable[[steps.Plan], list[Parsed]] = in_this_process,
    open_days: int = OPEN_DAYS,
    everything: bool = True,
    steps_setting: int = 0,
) -> Landed:
    """Parse every new file of the folders `wanted` needs (every folder when None), once, keeping
    the rows of `wanted` (all rows when None) in `exchange` for the runs that follow.

    `parse` runs the plan's parse steps and returns what each left (in `exchange`). `choose_days`
    turns the landed days, the survey and its files with what parsing told (path, sha, days) into
    the days the runs build; the last of them is where files with no readable day are reported
    (the run that read them says so). Without `everything` (and `wanted`), only the folders
    `landing.plan` chooses are listed, and the folders holding the chosen days once these are known.
    """
    seen = index_of_landing.survey(
        landing, lake, index_of_landing.now_ns(), set(wanted or []), wanted is None and everything, open_days
    )
    # only what parsing needs: at a million files each column of the survey is tens of MB
    unknown = index_of_landing.delivery_order(seen.current.filter(pl.col("days").is_null()).select(*STAGING_COLUMNS))
    buckets = buckets_for(json_bytes(seen.current), limits.memory_bytes)
    plan = steps.plan_files(landing, lake, exchange, unknown, wanted, buckets, limits.memory_bytes, steps_setting)
    parsed = sorted(parse(plan), key=lambda p: p.first_file)
    learnt = _learnt(unknown, parsed)
    landed = sorted(
        set(index_of_landing.landed_days(seen.folders.frame, seen.current))
        | set(learnt["days"].explode().drop_nulls().to_list())
    )
    known = index_of_landing.with_learnt(seen.current, learnt).select("path", "sha", "days")
    built = choose_days(landed, seen, known)
    del known
    report_on = built[-1] if built else None
    learnt = report_unread_on(parsed, learnt, report_on)
    seen = index_of_landing.record(lake, seen, learnt)
    unlisted = seen.unlisted()["days"].explode().drop_nulls()
    if wanted is None and not everything and unlisted.is_in(built).any():
        # a day to build is held by a folder not listed: list it, so that the run reads all its files
        seen = index_of_landing.survey(landing, lake, index_of_landing.now_ns(), set(built), open_days=open_days)
    exchange.write_object(PRESTAGED, Prestaged(seen.without_file_tables(), unknown.select("path"), parsed, buckets))
    unreadable = _rejected_whole(parsed, unknown.select("path"))
    held = index_of_landing.files_for_days(seen.current, set(built)).height
    return Landed(landed, unreadable, report_on, not_ended(parsed, seen.current), held)


def _quarantine(parsed: Parsed) -> pl.DataFrame:
    return parsed.exchange.read_frame(parsed.quarantine) if parsed.files else _NO_QUARANTINE


def report_unread_on(parsed: list[Parsed], learnt: pl.DataFrame, day: date | None) -> pl.DataFrame:
    """Files read with no readable day of their own, reported on `day`: their quarantine rows
    counted on it (rewritten in the exchange), and `day` recorded as their day (the landing state's
    rows, returned). With no day, they stay unread in the landing state (the next run that reads
    them reports them)."""
    no_day = pl.col("sha").is_not_null() & pl.col("days").is_null()
    if day is None:
        return learnt.filter(~no_day)
    undecided = pl.col("reading_date").is_null()
    for shard in parsed:
        rows = _quarantine(shard)
        if rows.select(undecided.any()).item():
            rows = rows.with_columns(reading_date=pl.when(undecided).then(pl.lit(day)).otherwise("reading_date"))
            shard.exchange.write_frame(shard.quarantine, rows)
    return learnt.with_columns(days=pl.when(no_day).then(pl.lit([day], pl.List(pl.Date))).otherwise("days"))


def _rejected_whole(parsed: list[Parsed], files: pl.DataFrame) -> pl.DataFrame:
    """source_file, reason of the files rejected whole (positions in `files`)."""
    rows = pl.concat([_NO_QUARANTINE, *[_quarantine(p).filter(pl.col("row_number").is_null()) for p in parsed]])
    return rows.select(source_file=files["path"].gather(rows["file"]), reason="reason").sort("source_file")


def _learnt(read: pl.DataFrame, parsed: list[Parsed]) -> pl.DataFrame:
    """path, sha, days, rows of the files of `read` (by position) that were read."""
    facts = pl.concat(
        [pl.DataFrame(schema=FILE_FACTS_SCHEMA), *[p.exchange.read_frame(p.facts) for p in parsed if p.files]]
    )
    positions = read.select("path").with_row_index("file").with_columns(pl.col("file").cast(pl.UInt32))
    learnt = positions.join(facts, on="file", how="inner").drop("file")
    return learnt.filter(pl.col("sha").is_not_null()).select("path", "sha", "days", "rows")


def not_ended(parsed: list[Parsed], current: pl.DataFrame, last_ended: date | None = None) -> pl.DataFrame:
    """NOT_ENDED_SCHEMA from what parsing read and the survey's files (`current`: path, days)."""
    last = last_ended or last_ended_day()
    holding = (
        current.select("days")
        .filter(pl.col("days").list.max() > last)
        .explode("days")
        .filter(pl.col("days") > last)
        .group_by(reading_date="days")
        .agg(files=pl.len())
    )
    read = pl.concat([pl.DataFrame(schema=DAY_ROWS_SCHEMA), *[p.day_rows for p in parsed]])
    read = read.filter(pl.col("reading_date") > last).group_by("reading_date").agg(rows_read=pl.col("rows").sum())
    return (
        holding.join(read, on="reading_date", how="full", coalesce=True)
        .with_columns(pl.col("files", "rows_read").fill_null(0))
        .select(list(NOT_ENDED_SCHEMA))
        .cast(NOT_ENDED_SCHEMA)
        .sort("reading_date")
    )
