"""A readings run as steps that share nothing but the object store: the engine's side (no Dagster).

    plan ──> parse × S ──> split ──> assemble × G ──> publish

- `plan`: the days' landing files (the landing state and a listing of their folders), in delivery
  order, written to the run's exchange (readings.exchange); S parse shards (ranges of that list)
  and G assembling ranges (of meterpoint hash buckets), S = G = `steps_for` the files to read;
- `parse_shard`: read, hash and parse one range of files (readings.stage); its rows go to the
  exchange, a file per slice of buckets, its quarantine and file facts too; returns a descriptor;
- `split`: record what parsing learnt in the landing state, refuse a day whose files are gone,
  rank the files by delivery, and cut each day into assembling tasks;
- `assemble_range`: de-duplicate and measure one range of buckets of every day (readings.assemble);
  each part becomes a Parquet file placed in the readings table's day folder, not yet committed;
- `gather`: each day's parts added up into a DayBuild, which the asset audits and publishes in
  one Delta commit (readings.assets).

A meterpoint's rows of a day all fall in one bucket, whichever file and step they came from, so
de-duplication and the checks are exactly those of one process. What passes as step outputs is
descriptors and counts (kilobytes); rows only ever go through the exchange.
"""

import math
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from octo_assets.lake import Lake, Placed
from octo_assets.readings import landing as index_of_landing
from octo_assets.readings.assemble import CONFLICTS_SCHEMA, SHOWN, AssembleTask, Finding, assemble_group
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.ingest import (
    ACCOUNTING_SCHEMA,
    BYTES_PER_ASSEMBLED_ROW,
    LAKE_SCHEMA,
    STAGING_COLUMNS,
    DayBuild,
    Prestaged,
    buckets_for,
    json_bytes,
    json_weight,
    refuse_if_files_gone,
)
from octo_assets.readings.parse import QUARANTINE_SCHEMA
from octo_assets.readings.stage import (
    FILE_FACTS_SCHEMA,
    SLICES,
    Parsed,
    StageTask,
    slice_of,
    stage_files,
)
from octo_assets.storage import Storage

FILES_PER_BATCH, BYTES_PER_BATCH = 8_000, 64 * 2**20  # what a parse step holds at once
BATCHES_PER_SHARD = 100_000  # a batch's number: its shard's times this, plus its own
FILES_PER_STEP = 200_000  # landing files a parse step reads (a 1M-meterpoint day: 5 steps); minutes of work
FILES_TO_READ = "files-to-read.parquet"  # the plan's list: path, size, first_seen_ns, mtime_ns
FILE_LIST = "files.arrow"  # path, delivery, sha by position: what assembling names and ranks files by
SURVEY = "survey.pickle"  # the landing state as the plan found it, recorded by `split`
_NO_QUARANTINE = pl.DataFrame(
    schema={"file": pl.UInt32, **{k: v for k, v in QUARANTINE_SCHEMA.items() if k != "source_file"}}
)


def steps_for(files: int, setting: int = 0) -> int:
    """How many parse (and assembling) steps a run of `files` landing files takes: `setting` if
    given (OCTO_READINGS_STEPS), else one per FILES_PER_STEP files, at least one."""
    return max(1, min(SLICES, setting or math.ceil(files / FILES_PER_STEP)))


@dataclass(frozen=True)
class Shard:
    """A parse step's share: rows [first, first + count) of the plan's files to read."""

    number: int
    first: int
    count: int


@dataclass(frozen=True)
class Plan:
    days: list[date] | None  # the days whose rows are kept (None: every day, make run's pre-pass)
    exchange: Exchange
    landing: str
    lake: str
    buckets: int
    groups: int  # assembling steps: ranges of the SLICES slices of buckets
    shards: list[Shard]  # parse steps
    prestaged: list[Parsed]  # parsed before the run (make run), first in the file list
    files: int  # files to read, prestaged included
    report_on: date | None  # the day a new file with no readable day is reported on
    force: bool
    memory_bytes: int

    def describe(self) -> str:
        days = f"{self.days[0]} .. {self.days[-1]}" if self.days else "every day" if self.days is None else "no day"
        return (
            f"{days}: {self.files:,} landing file(s), {len(self.shards)} parse step(s), "
            f"{self.groups} assembling step(s)"
        )


def plan(
    landing: Storage,
    lake: Lake,
    days: list[date],
    exchange: Exchange,
    memory_bytes: int,
    steps_setting: int = 0,
    prestaged: Prestaged | None = None,
    open_days: int = index_of_landing.OPEN_DAYS,
    force: bool = False,
) -> Plan:
    """The run's files and steps. With `prestaged` (make run's pre-pass: its survey, the files it
    parsed and what it learnt of them), nothing it listed or read is listed or read again."""
    wanted = sorted(set(days))
    seen = (
        prestaged.seen
        if prestaged
        else index_of_landing.survey(landing, lake, index_of_landing.now_ns(), set(wanted), open_days=open_days)
    )
    current = seen.current
    needed = index_of_landing.files_for_days(current, set(wanted))
    before = prestaged.files if prestaged else pl.DataFrame(schema={"path": pl.String})
    needed = index_of_landing.delivery_order(needed.join(before, on="path", how="anti"))
    to_read = pl.concat([before, needed.select("path")]).join(
        current.select(*STAGING_COLUMNS), on="path", how="left", maintain_order="left"
    )
    exchange.write_frame(FILES_TO_READ, to_read)
    exchange.write_object(SURVEY, seen.without_file_tables())
    buckets = prestaged.buckets if prestaged else buckets_for(json_bytes(to_read), memory_bytes)
    steps = steps_for(to_read.height, steps_setting)
    shards = _shards(exchange, to_read.slice(before.height), before.height, steps, after(prestaged))
    return Plan(
        days=wanted,
        exchange=exchange,
        landing=landing.url,
        lake=lake.storage.url,
        buckets=buckets,
        groups=steps,
        shards=shards,
        prestaged=prestaged.staged if prestaged else [],
        files=to_read.height,
        report_on=wanted[-1] if wanted else None,
        force=force,
        memory_bytes=memory_bytes,
    )


def plan_files(
    landing: Storage,
    lake: Lake,
    exchange: Exchange,
    files: pl.DataFrame,
    days: list[date] | None,
    buckets: int,
    memory_bytes: int,
    steps_setting: int = 0,
) -> Plan:
    """A plan that only parses `files` (path, size, first_seen_ns, mtime_ns, in delivery order),
    keeping the rows of `days` (None: every day): make run's pre-pass (readings.prepass)."""
    count = steps_for(files.height, steps_setting)
    return Plan(
        days=days,
        exchange=exchange,
        landing=landing.url,
        lake=lake.storage.url,
        buckets=buckets,
        groups=1,
        shards=_shards(exchange, files, 0, count, 1),
        prestaged=[],
        files=files.height,
        report_on=None,  # decided once the days are (prepass.report_unread_on)
        force=False,
        memory_bytes=memory_bytes,
    )


def _shards(exchange: Exchange, files: pl.DataFrame, first: int, count: int, number: int) -> list[Shard]:
    """`files` (the run's files from position `first` on) cut into `count` ranges, numbered from
    `number`; each range's list written for its parse step, which reads that alone."""
    size = math.ceil(files.height / count) if files.height else 0
    shards = [
        Shard(n, first + start, min(size, files.height - start))
        for n, start in enumerate(range(0, files.height, size or 1), start=number)
    ]
    for shard in shards:
        exchange.write_frame(shard_files(shard), files.slice(shard.first - first, shard.count))
    return shards


def shard_files(shard: Shard) -> str:
    """The exchange's name of a parse step's files: path, size, first_seen_ns, mtime_ns."""
    return f"parse-{shard.number:06d}/files.parquet"


def after(prestaged: Prestaged | None) -> int:
    """The first number free for a parse step: the pre-pass's numbers are taken."""
    return max((p.number // BATCHES_PER_SHARD for p in prestaged.staged), default=0) + 1 if prestaged else 1


def parse_shard(plan: Plan, shard: Shard) -> list[Parsed]:
    """Read, hash and parse one shard's files, a batch at a time (at most FILES_PER_BATCH files and
    BYTES_PER_BATCH of JSON: what a step holds does not grow with its share of the day); the rows
    of the run's days go to the exchange. A descriptor per batch."""
    if shard.count == 0:  # everything was parsed before the run (make run's pre-pass)
        return []
    files = plan.exchange.read_frame(shard_files(shard))
    weight = files.select(path="path", size=pl.col("size").fill_null(0))
    ends = batch_ends(weight)
    parsed, start = [], 0
    for number, end in enumerate(ends):
        batch = files.slice(start, end - start)
        task = StageTask(
            number=shard.number * BATCHES_PER_SHARD + number,
            landing=plan.landing,
            exchange=plan.exchange,
            paths=batch["path"].to_list(),
            first_file=shard.first + start,
            report_on=plan.report_on,
            days=plan.days,
            buckets=plan.buckets,
            first_seen_ns=batch["first_seen_ns"].to_list(),
        )
        parsed.append(Parsed.of(stage_files(task), shard.first + start, batch.height))
        start = end
    return parsed


def batch_ends(files: pl.DataFrame) -> list[int]:
    """Where each batch of `files` (path, size) ends: at most FILES_PER_BATCH files and, but for a
    single bigger file, BYTES_PER_BATCH of JSON."""
    if files.is_empty():
        return []
    ends, count, size = [], 0, 0
    for position, weight in enumerate(files.select(weight=json_weight())["weight"].to_list()):
        if count and (count >= FILES_PER_BATCH or size + weight > BYTES_PER_BATCH):
            ends.append(position)
            count, size = 0, 0
        count += 1
        size += weight
    return [*ends, files.height]


@dataclass(frozen=True)
class Day:
    """What `split` tells of a day before it is assembled."""

    day: date
    watermark_ns: int  # the newest delivery (first sight) the day is built from
    files: int  # landing files holding it
    quarantine: str  # parquet in the exchange: the day's quarantine rows, by file name


@dataclass(frozen=True)
class Split:
    days: list[Day]
    tasks: list[list[AssembleTask]]  # by assembling step


def split(plan: Plan, parsed: list[Parsed], scratch: str) -> Split:
    """Record what parsing learnt, refuse days whose files are gone (unless forced), rank the
    files by delivery and cut every day into assembling tasks, G ranges of buckets."""
    exchange, lake = plan.exchange, Lake(plan.lake)
    parsed = sorted([*plan.prestaged, *parsed], key=lambda p: p.first_file)
    to_read = exchange.read_frame(FILES_TO_READ)
    seen: index_of_landing.Survey = exchange.read_object(SURVEY)
    current = seen.current
    before = {p.number for p in plan.prestaged}
    fresh = [p for p in parsed if p.number not in before]
    if fresh:  # what the prestaged files told is recorded already (make run's pre-pass)
        facts = pl.concat(
            [pl.DataFrame(schema=FILE_FACTS_SCHEMA), *[p.exchange.read_frame(p.facts) for p in fresh if p.files]]
        )
        positions = to_read.select("path").with_row_index("file").with_columns(pl.col("file").cast(pl.UInt32))
        learnt = positions.join(facts, on="file", how="inner").drop("file")
        learnt = learnt.filter(pl.col("sha").is_not_null()).select("path", "sha", "days", "rows")
        current = index_of_landing.record(lake, seen, learnt).current
    if not plan.force:
        refuse_if_files_gone(lake, current, plan.days)
    merged = current.select(*STAGING_COLUMNS, "sha", "days").join(to_read.select("path"), on="path", how="semi")
    ranked = index_of_landing.delivery_order(merged).with_row_index("delivery").select("path", "delivery", "sha")
    order = to_read.select("path").join(ranked, on="path", how="left", maintain_order="left")
    order = order.with_columns(pl.col("delivery").cast(pl.UInt32))
    with exchange.writing(FILE_LIST) as path:
        order.write_ipc(path)
    quarantine = pl.concat([_NO_QUARANTINE, *[p.exchange.read_frame(p.quarantine) for p in parsed if p.files]])
    quarantine = quarantine.with_columns(source_file=order["path"].gather(quarantine["file"]))
    days, tasks = [], [[] for _ in range(plan.groups)]
    for day in plan.days:
        holding = merged.filter(pl.col("days").list.contains(day))
        rows = quarantine.filter(pl.col("reading_date") == day).select(list(QUARANTINE_SCHEMA))
        rows = rows.sort(["source_file", "row_number"], nulls_last=False)
        name = exchange.write_frame(f"quarantine/{day.isoformat()}.parquet", rows)
        days.append(Day(day, int(holding["first_seen_ns"].max() or 0), holding.height, name))
        for group, day_tasks in enumerate(_assemble_tasks(plan, parsed, day, scratch)):
            tasks[group].extend(day_tasks)
    return Split(days, tasks)


def _assemble_tasks(plan: Plan, parsed: list[Parsed], day: date, scratch: str) -> list[list[AssembleTask]]:
    """A day's buckets as G ranges (one per assembling step), each cut into parts of consecutive
    buckets whose rows fit the memory budget; parts are numbered across the day."""
    by_bucket: dict[int, list[tuple[Parsed, int]]] = {}
    rows: dict[int, int] = {}
    for shard in parsed:
        for batch_day, bucket, index, count in shard.batches:
            if batch_day == day:
                by_bucket.setdefault(bucket, []).append((shard, index))
                rows[bucket] = rows.get(bucket, 0) + count
    ranges: list[list[list[int]]] = [[] for _ in range(plan.groups)]
    size = 0
    for bucket in sorted(by_bucket):
        group = slice_of(bucket, plan.buckets) * plan.groups // SLICES
        parts = ranges[group]
        if not parts or (size + rows[bucket]) * BYTES_PER_ASSEMBLED_ROW > plan.memory_bytes:
            parts.append([])
            size = 0
        parts[-1].append(bucket)
        size += rows[bucket]
    tasks, number = [], 0
    for parts in ranges:
        group_tasks = []
        for buckets in parts:
            sources: dict[tuple[int, str], tuple[Exchange, str, list[int]]] = {}
            for bucket in buckets:
                for shard, index in by_bucket[bucket]:
                    name = shard.readings[slice_of(bucket, plan.buckets)]
                    sources.setdefault((shard.number, name), (shard.exchange, name, []))[2].append(index)
            ordered = [sources[key] for key in sorted(sources)]
            file_list = (plan.exchange, FILE_LIST)
            group_tasks.append(AssembleTask(day, number, ordered, scratch, file_list, plan.lake))
            number += 1
        tasks.append(group_tasks)
    return [[replace(task, parts=number) for task in group_tasks] for group_tasks in tasks]


@dataclass(frozen=True)
class Part:
    """What an assembling step made of one part of a day: a descriptor (its rows are in the
    readings table's day folder, its conflicts and per-file counts in the exchange)."""

    day: date
    number: int
    output: Placed | None
    preview: pl.DataFrame
    staged: int
    loaded: int
    duplicates: int
    kwh: Decimal
    meterpoints: int
    audit: dict[str, int]
    findings: dict[str, Finding]
    half_hours: pl.DataFrame
    conflicts: str  # parquet in the exchange (CONFLICTS_SCHEMA)
    accounting: str  # parquet in the exchange: file, loaded, duplicates


def assemble_range(plan: Plan, tasks: list[AssembleTask], scratch: str, done_with=lambda task: None) -> list[Part]:
    """Assemble one step's parts of every day (`scratch`: this step's own folder); `done_with` is
    told of each task as it ends."""
    parts = []
    for task in tasks:
        done = assemble_group(replace(task, folder=scratch))
        prefix = f"assembled/{task.day.isoformat()}-{task.group:04d}"
        parts.append(
            Part(
                day=done.day,
                number=done.group,
                output=done.output,
                preview=done.preview,
                staged=done.staged,
                loaded=done.loaded,
                duplicates=done.duplicates,
                kwh=done.kwh,
                meterpoints=done.meterpoints,
                audit=done.audit,
                findings=done.findings,
                half_hours=done.half_hours,
                conflicts=plan.exchange.write_frame(f"{prefix}-conflicts.parquet", done.conflicts),
                accounting=plan.exchange.write_frame(f"{prefix}-accounting.parquet", done.accounting),
            )
        )
        done_with(task)
    return parts


def gather(plan: Plan, done: Split, parts: list[Part]) -> list[DayBuild]:
    """Each day's parts added up: what the asset audits and publishes."""
    exchange = plan.exchange
    order = pl.from_arrow(exchange.arrow_file(FILE_LIST).read_all())
    builds = []
    for day in done.days:
        mine = sorted((p for p in parts if p.day == day.day), key=lambda p: p.number)
        build = DayBuild(
            day=day.day,
            readings=[p.output for p in mine if p.output is not None],
            watermark_ns=day.watermark_ns,
            files=day.files,
            quarantine=exchange.read_frame(day.quarantine).cast(QUARANTINE_SCHEMA),
            conflicts=pl.DataFrame(schema=CONFLICTS_SCHEMA),
            accounting=pl.DataFrame(schema=ACCOUNTING_SCHEMA),
        )
        _add_up(build, mine, exchange, order)
        builds.append(build)
    return builds


def _add_up(build: DayBuild, parts: list[Part], exchange: Exchange, order: pl.DataFrame) -> None:
    conflicts, accounting, half_hours, findings = [], [], [], {}
    for part in parts:
        if part.output is not None and build.preview.is_empty():
            build.preview = part.preview.cast(LAKE_SCHEMA)
        build.staged += part.staged
        build.loaded += part.loaded
        build.duplicates += part.duplicates
        build.kwh += part.kwh
        build.meterpoints += part.meterpoints
        for key, value in part.audit.items():
            build.audit[key] += value
        conflicts.append(exchange.read_frame(part.conflicts))
        accounting.append(exchange.read_frame(part.accounting))
        half_hours.append(part.half_hours)
        for name, found in part.findings.items():
            findings.setdefault(name, []).append(found)
    build.conflicts = pl.concat(
        [pl.DataFrame(schema=CONFLICTS_SCHEMA), *[c.cast(CONFLICTS_SCHEMA) for c in conflicts]], how="vertical_relaxed"
    ).sort("meterpoint_id", "interval_start_utc")
    if half_hours:
        build.half_hours = (
            pl.concat(half_hours).group_by("half_hours").agg(pl.col("meterpoints").sum()).sort("half_hours")
        )
    build.findings = {name: _combine(found) for name, found in findings.items()}
    build.accounting = _accounting(accounting, build.quarantine, order)


def _combine(found: list[Finding]) -> Finding:
    shown = pl.concat([f.shown for f in found], how="vertical_relaxed")
    totals: dict = {}
    for f in found:
        for key, value in f.totals.items():
            totals[key] = totals.get(key, 0) + value
    return Finding(sum(f.count for f in found), shown.sort(shown.columns[0]).head(SHOWN), totals)


def _accounting(parts: list[pl.DataFrame], quarantine: pl.DataFrame, order: pl.DataFrame) -> pl.DataFrame:
    """Per file: rows of the day loaded, dropped as duplicates, quarantined."""
    counted = (
        pl.concat(parts).group_by("file").agg(pl.col("loaded", "duplicates").sum())
        if parts
        else pl.DataFrame(schema={"file": pl.UInt32, "loaded": pl.UInt32, "duplicates": pl.UInt32})
    )
    named = counted.with_columns(source_file=order["path"].gather(counted["file"])).drop("file")
    rejected = quarantine.filter(pl.col("row_number").is_not_null()).group_by("source_file").len("rows_quarantined")
    # a file rejected whole is accounted too, with no rows, on the day it is reported on (its
    # reason is in the quarantine): the day was built from it
    whole = quarantine.filter(pl.col("row_number").is_null()).select("source_file").unique()
    return (
        named.join(rejected, on="source_file", how="full", coalesce=True)
        .join(whole, on="source_file", how="full", coalesce=True)
        .join(order.select(source_file="path", sha="sha"), on="source_file", how="left")
        .with_columns(
            rows_loaded=pl.col("loaded").fill_null(0),
            duplicates=pl.col("duplicates").fill_null(0),
            rows_quarantined=pl.col("rows_quarantined").fill_null(0),
        )
        .select(list(ACCOUNTING_SCHEMA))
        .cast({c: t for c, t in ACCOUNTING_SCHEMA.items()})
        .sort("source_file")
    )


def build_in_one_process(
    landing: Storage,
    lake: Lake,
    days: list[date],
    exchange: Exchange,
    scratch: Path,
    memory_bytes: int,
    steps_setting: int = 0,
    prestaged: Prestaged | None = None,
    open_days: int = index_of_landing.OPEN_DAYS,
    force: bool = False,
) -> list[DayBuild]:
    """Every step, one after the other, in this process: what the Dagster graph runs, for tests
    and tools that build without Dagster."""
    made = plan(landing, lake, days, exchange, memory_bytes, steps_setting, prestaged, open_days, force)
    parsed = [batch for shard in made.shards for batch in parse_shard(made, shard)]
    done = split(made, parsed, str(scratch))
    parts = [part for tasks in done.tasks for part in assemble_range(made, tasks, str(scratch))]
    return gather(made, done, parts)
