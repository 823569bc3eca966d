"""The readings asset: each Europe/London day of the landing area, replaced in the Delta table
`readings` in one commit.

A thin step over readings.ingest: each day is staged and measured there, then audited here
(the blocking checks), and only then published, together with its quarantine, conflicts and
file-by-file accounting. A day that fails its audit, or that no landing file holds, is not
published: the last good version stays what analysts and the analytics read, and the failed one
is kept under `_rejected/` in the lake for inspection.
"""

from datetime import date

import dagster as dg
import polars as pl

from octo_assets import charts, descriptions, keys
from octo_assets.checks import finish_days
from octo_assets.keys import READINGS
from octo_assets.lake import CONFLICTS_TABLE, DAY_KEY, FILES_TABLE, QUARANTINE_TABLE, READINGS_TABLE, Lake, Published
from octo_assets.metadata import column_lineage, column_schema, markdown_table, version_metadata
from octo_assets.partitions import backfill_policy, daily_partitions
from octo_assets.readings import steps
from octo_assets.readings.checks import READINGS_CHECKS, evaluate
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.ingest import LAKE_SCHEMA, PRESTAGED, DayBuild, LandingFilesGone
from octo_assets.resources import LakeStorage, LandingFolder, ReadingsWorkers
from octo_assets.staging import StagingFull, staging_area

LANDING = dg.AssetSpec(
    keys.LANDING,
    description="Smart-meter JSON files (pandas split layout) landing before 08:00 each day (external).",
    group_name="readings",
    metadata={
        "dagster/column_schema": column_schema(
            {"interval_start": "string", "consumption_delta": "number", "meterpoint_id": "string"},
            descriptions.LANDING,
        )
    },
)
SUPERSEDED = "not replaced: a run that saw newer deliveries already published this day; its partition stands"
COLUMN_DESCRIPTIONS = descriptions.READINGS
# the columns as analysts query them: the Parquet files', and the day the table is partitioned by
# (a Delta partition column, in the path: lake.readings and every Delta reader show it)
TABLE_SCHEMA = {name: LAKE_SCHEMA.get(name, pl.Date) for name in COLUMN_DESCRIPTIONS}
READINGS_LINEAGE = column_lineage(
    {
        "meterpoint_id": [(LANDING.key, "meterpoint_id")],
        "interval_start_utc": [(LANDING.key, "interval_start")],
        "interval_start_local": [(LANDING.key, "interval_start")],
        "reading_date": [(LANDING.key, "interval_start")],
        "consumption_kwh": [(LANDING.key, "consumption_delta")],
        "source_file": [(LANDING.key, "interval_start")],
    }
)


class ReadingsConfig(dg.Config):
    """What an operator may ask of a readings run (run config `ops: {lake__readings: {config: ...}}`)."""

    force: bool = False  # rebuild days even if landing files they were built from are gone
    allow_empty_days: bool = False  # publish a day that no landing file holds, as an empty partition
    prestaged: str | None = None  # internal to `make run`: the exchange of the files it parsed before the run


def publish_day(lake: Lake, build: DayBuild, force: bool, run_id: str) -> Published:
    """Publish a day's four tables, each in one commit; the readings' version is None when a newer
    run already published the day (lake.Lake.publish compares the deliveries each was built from).

    The quarantine, conflicts and accounting go first: a crash in between leaves the old readings
    beside fresher side tables, never readings whose rejects are missing.
    """
    key = build.day.isoformat()
    for table, data in (
        (QUARANTINE_TABLE, build.quarantine),
        (CONFLICTS_TABLE, build.conflicts),
        (FILES_TABLE, build.accounting),
        # a day with no readings (allow_empty_days) has no file: an empty frame has the columns
        (READINGS_TABLE, build.readings or pl.DataFrame(schema=LAKE_SCHEMA)),
    ):
        published = lake.publish(table, DAY_KEY, key, data, run_id, build.watermark_ns, force)
    return published


def reject_day(lake: Lake, build: DayBuild, run_id: str) -> str:
    """Keep a day that failed its audit where an operator can inspect it; returns its folder's URI.
    Its files, placed in the table's day folder and never committed, are moved there."""
    folder = lake.rejected_path(READINGS_TABLE, DAY_KEY, build.day.isoformat(), run_id).removesuffix(".parquet")
    for number, part in enumerate(build.readings):
        lake.storage.move(f"{READINGS_TABLE}/{part.rel}", f"{folder}/part-{number:04d}.parquet")
    return lake.uri(folder)


def day_metadata(build: DayBuild, published: Published) -> dict:
    return {
        "dagster/column_schema": column_schema(TABLE_SCHEMA, COLUMN_DESCRIPTIONS),
        "dagster/column_lineage": READINGS_LINEAGE,
        "dagster/row_count": build.loaded,
        "preview": dg.MetadataValue.md(markdown_table(build.preview)),
        "completeness": dg.MetadataValue.md(
            charts.image_markdown(charts.completeness_png(build.half_hours, build.day), f"completeness of {build.day}")
        ),
        "rows_read": build.rows_read,
        "rows_loaded": build.loaded,
        "duplicates": build.duplicates,
        "rows_quarantined": build.quarantined,
        "files_read": build.files,
        "files_rejected": len(build.rejected_files),
        "conflicting_deliveries": build.conflicts.height,
        "meterpoints": build.meterpoints,
        "consumption_kwh": float(build.kwh),
        **version_metadata(published),
    }


EXCHANGE_IO = "readings_exchange_io"  # resources.ExchangeIOManager: step outputs through the lake's storage
HEAVY = {"octo/step": "heavy"}  # parse and assemble: the steps that read and write rows (deploy: their resources)


def _failing_as_one_sentence(work):
    """Our own errors end a step with their sentence, not a stack."""
    try:
        return work()
    except (LandingFilesGone, StagingFull) as exc:
        raise dg.Failure(description=str(exc)) from None


@dg.op(
    ins={"landing": dg.In(dg.Nothing)},
    out={"plan": dg.Out(io_manager_key=EXCHANGE_IO), "shards": dg.DynamicOut(io_manager_key=EXCHANGE_IO)},
)
def readings_plan(
    context: dg.OpExecutionContext,
    config: ReadingsConfig,
    landing: LandingFolder,
    lake: LakeStorage,
    workers: ReadingsWorkers,
):
    """The run's landing files and its steps: one parse step per range of files (readings.steps)."""
    store = lake.lake()
    exchange = Exchange(store.storage.url, context.run_id)
    prestaged = Exchange(store.storage.url, config.prestaged).read_object(PRESTAGED) if config.prestaged else None
    days = [date.fromisoformat(key) for key in context.partition_keys]
    made = _failing_as_one_sentence(
        lambda: steps.plan(
            landing.storage(),
            store,
            days,
            exchange,
            workers.limits().memory_bytes,
            workers.steps,
            prestaged,
            landing.open_days,
            config.force,
        )
    )
    context.log.info(f"plan: {made.describe()}")
    yield dg.Output(made, output_name="plan")
    # at least one parse step, even with nothing left to parse: what follows a fan-out of none is skipped
    for shard in made.shards or [steps.Shard(steps.after(prestaged), made.files, 0)]:
        yield dg.DynamicOutput(shard, mapping_key=f"files_{shard.first}", output_name="shards")


@dg.op(out=dg.Out(io_manager_key=EXCHANGE_IO), tags=HEAVY)
def readings_parse(context: dg.OpExecutionContext, plan: steps.Plan, shard: steps.Shard) -> list[steps.Parsed]:
    """Read, hash and parse one range of the run's landing files (a descriptor per batch)."""
    parsed = _failing_as_one_sentence(lambda: steps.parse_shard(plan, shard))
    if shard.count:  # make run's progress bar reads these lines
        context.log.info(f"read {shard.count:,} of {shard.count:,} landing files (from position {shard.first:,})")
    return parsed


@dg.op(out={"split": dg.Out(io_manager_key=EXCHANGE_IO), "ranges": dg.DynamicOut(io_manager_key=EXCHANGE_IO)})
def readings_split(context: dg.OpExecutionContext, plan: steps.Plan, parsed: list[list[steps.Parsed]]):
    """Record what parsing learnt, and cut each day into ranges of meterpoints to assemble."""

    def work():
        with staging_area() as scratch:
            return steps.split(plan, [batch for step in parsed for batch in step], str(scratch))

    done = _failing_as_one_sentence(work)
    yield dg.Output(done, output_name="split")
    for number, tasks in enumerate(done.tasks):
        yield dg.DynamicOutput(tasks, mapping_key=f"range_{number}", output_name="ranges")


@dg.op(out=dg.Out(io_manager_key=EXCHANGE_IO), tags=HEAVY)
def readings_assemble(context: dg.OpExecutionContext, plan: steps.Plan, tasks: list) -> list[steps.Part]:
    """De-duplicate and measure one range of meterpoints of every day; its files go into the
    readings table's day folders, committed by readings_publish."""

    def said(task) -> None:  # make run's progress bar reads these lines
        context.log.info(f"{task.day}: assembled part {task.group + 1} of {task.parts}")

    def work():
        with staging_area() as scratch:
            return steps.assemble_range(plan, tasks, str(scratch), said)

    return _failing_as_one_sentence(work)


class PrepassConfig(dg.Config):
    """The pre-pass's exchange (make run writes its plan there: readings.prepass)."""

    exchange: str


PREPASS_PLAN = "prepass-plan.pickle"
PREPASS_PARSED = "prepass-parsed.pickle"


@dg.op(out={"plan": dg.Out(io_manager_key=EXCHANGE_IO), "shards": dg.DynamicOut(io_manager_key=EXCHANGE_IO)})
def prepass_plan(config: PrepassConfig, lake: LakeStorage):
    """The plan make run made of its new landing files, and its parse steps."""
    plan: steps.Plan = Exchange(lake.lake().storage.url, config.exchange).read_object(PREPASS_PLAN)
    yield dg.Output(plan, output_name="plan")
    for shard in plan.shards or [steps.Shard(1, 0, 0)]:  # a fan-out of none would skip what follows
        yield dg.DynamicOutput(shard, mapping_key=f"files_{shard.first}", output_name="shards")


@dg.op
def prepass_parsed(plan: steps.Plan, parsed: list[list[steps.Parsed]]) -> None:
    """What the parse steps left, for make run to read."""
    plan.exchange.write_object(PREPASS_PARSED, [batch for step in parsed for batch in step])


@dg.job(
    name="readings_prepass_job",
    description="make run's pre-pass: its new landing files parsed by the readings' own parse steps, to learn "
    "their days before the runs that build them (which take what was parsed over).",
)
def readings_prepass_job():
    plan, shards = prepass_plan()
    prepass_parsed(plan, shards.map(lambda shard: readings_parse(plan, shard)).collect())


def _check_outs() -> dict[str, dg.Out]:
    return {f"{READINGS.to_python_identifier()}_{spec.name}": dg.Out(is_required=False) for spec in READINGS_CHECKS}


@dg.op(out={"result": dg.Out(is_required=False), **_check_outs()})
def readings_publish(
    context: dg.AssetExecutionContext,
    config: ReadingsConfig,
    lake: LakeStorage,
    plan: steps.Plan,
    split: steps.Split,
    parts: list[list[steps.Part]],
):
    """Audit each day (the blocking checks) and publish it in one commit per table."""
    store = lake.lake()
    builds = steps.gather(plan, split, [part for step in parts for part in step])
    failures, published, checked = [], {}, []
    for build in builds:
        evaluations = evaluate(build)
        checked += evaluations
        failure, metadata = _audit_and_publish(context, store, build, config, evaluations)
        if failure:
            failures.append(failure)
        else:
            published[build.day.isoformat()] = metadata
    # the run's exchange is done with (a re-execution's too): a failed step above leaves it, for a re-execution
    for run in {plan.exchange.run, context.run.run_id}:
        Exchange(store.storage.url, run).clear()
    yield from finish_days(context, published, failures, checked)


@dg.graph_multi_asset(
    name="lake__readings",
    outs={
        "result": dg.AssetOut(
            key=READINGS,
            metadata={"dagster/column_schema": column_schema(TABLE_SCHEMA, COLUMN_DESCRIPTIONS)},
            description="Half-hourly readings of one Europe/London day, de-duplicated (newest delivery wins), "
            "instants in UTC. Rows that cannot be loaded go to readings_quarantine with the reason.",
            is_required=False,  # a run whose day fails is recorded for the good days only
        )
    },
    ins={"landing": dg.AssetIn(key=LANDING.key, dagster_type=dg.Nothing)},
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    group_name="readings",
    check_specs=READINGS_CHECKS,
    config=dg.ConfigMapping(
        config_schema=ReadingsConfig.to_config_schema(),
        config_fn=lambda config: {op.name: {"config": config} for op in (readings_plan, readings_publish)},
    ),
)
def readings(landing):
    """plan ──> parse × S ──> split ──> assemble × G ──> publish (readings.steps)."""
    plan, shards = readings_plan(landing)
    parsed = shards.map(lambda shard: readings_parse(plan, shard)).collect()
    split, ranges = readings_split(plan, parsed)
    parts = ranges.map(lambda tasks: readings_assemble(plan, tasks)).collect()
    published = readings_publish(plan, split, parts)
    return {name: getattr(published, name) for name in readings_publish.outs}


def _audit_and_publish(
    context, store: Lake, build: DayBuild, config: ReadingsConfig, evaluations: list
) -> tuple[str | None, dict]:
    """Publish one day if its audit passed, else keep it aside: (why it was not published, or None;
    its metadata)."""
    key = build.day.isoformat()
    failed = [e.check_name for e in evaluations if e.blocking and not e.passed]
    if build.empty and not config.allow_empty_days:
        return (
            f"{key}: no landing file holds a reading of this day, so nothing was published. If the day "
            "really had no readings, run it again with run config "
            "`ops: {lake__readings: {config: {allow_empty_days: true}}}`."
        ), {}
    if failed:
        where = reject_day(store, build, context.run.run_id)
        why = f"{key}: not published, blocking check(s) failed: {', '.join(failed)}; the failed version is at {where}"
        return why, {}
    published = publish_day(store, build, config.force, context.run.run_id)
    metadata = day_metadata(build, published)
    if not published.replaced:
        context.log.warning(f"{key}: {SUPERSEDED}")
        metadata = {"superseded": SUPERSEDED, "path": metadata["path"]}
    return None, metadata
