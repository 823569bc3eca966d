"""`make run`: bring the lake and catalog up to date with the landing area and the source.

Each run is a Dagster run on the instance in $DAGSTER_HOME, so it shows in `make ui`. What is
built is decided before any run starts (octo_assets.run.up_to_date), while the new landing files
are parsed, once (readings.ingest.prestage; the runs' readings steps use what was staged, so no
file is read twice):

- a new source snapshot (`source_snapshot_job`), when the database's content differs from the
  latest one published;
- each stretch of days whose landing files changed, or never built (`build_all`: readings, their
  analytics, checks, the catalog);
- the analytics days the new snapshot moves (`source_correction_job`);
- the catalog alone, when it does not show the lake's latest versions.

With nothing new, nothing runs and nothing is committed. `--from/--to` rebuilds a range
regardless. Then a short summary read back through the catalog, as an analyst would.
"""

import argparse
import calendar
import os
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
from dagster._core.utils import make_new_run_id

import octo_assets.run.interrupt as interrupt
from octo_assets import connect, definitions, settings
from octo_assets.analytics.tables import TABLES as ANALYTICS_TABLES
from octo_assets.automation.jobs import BUILD_JOB, CORRECTION_JOB, SNAPSHOT_JOB, SOURCE_CHECK_KEYS
from octo_assets.domain import FIRST_DAY
from octo_assets.keys import ANALYTICS, CATALOG
from octo_assets.keys import SOURCE_TABLES as SOURCE_KEYS
from octo_assets.lake import analytics_table, lake_tables
from octo_assets.partitions import daily_partitions
from octo_assets.readings import steps
from octo_assets.readings.assets import PREPASS_PARSED, PREPASS_PLAN, readings_prepass_job
from octo_assets.readings.exchange import Exchange
from octo_assets.readings.prepass import prestage
from octo_assets.readings.stage import Parsed
from octo_assets.resources import setting_problems
from octo_assets.run import up_to_date
from octo_assets.run.progress import Display, RunWatcher
from octo_assets.source.assets import CHANGE_SUMMARY, DAYS_TO_REFRESH, content_hash
from octo_assets.source.snapshot import SourceError, read_source, schema_problem
from octo_assets.staging import staging_area


class RunError(Exception):
    """The run cannot start or failed; the message says what to do."""


SHOWN_REJECTED = 10  # files rejected whole named in the summary
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def contiguous(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) ranges: one run each."""
    ranges: list[tuple[str, str]] = []
    for day in days:
        if ranges and date.fromisoformat(ranges[-1][1]) + timedelta(days=1) == date.fromisoformat(day):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


@dataclass(frozen=True)
class Built:
    """What `run_pipeline` built: the days, why, and the checks that failed in its runs."""

    days: list[str]  # the readings days built
    failed_checks: list[tuple[str, str, str]]  # (check, severity, day or "")
    empty: list[str] = ()  # days published empty (--allow-empty): no landing file holds them
    reasons: dict[str, str] = field(default_factory=dict)  # day -> why it was built
    corrected: dict[str, list[str]] = field(default_factory=dict)  # analytics table -> days a snapshot moved
    kept: dict[str, str] = field(default_factory=dict)  # day -> why it was left although changed
    up_to_date: list[str] = ()  # landed days left alone: nothing they are built from changed
    snapshot: str = ""  # what became of the source snapshot
    catalog: str = ""  # why the catalog alone was rebuilt ("": it was not, or with a run)
    refreshed: dict[str, dict[str, str]] = field(default_factory=dict)  # analytics table -> day -> why rebuilt


def build(
    instance: dg.DagsterInstance,
    resources: dict,
    first: str | None,
    last: str | None,
    run_config: dict,
    display: Display,
    job_name: str = BUILD_JOB.name,
    selection: list[dg.AssetKey] | None = None,
    extra_checks: list[dg.AssetCheckKey] = (),
    in_processes: bool = False,
) -> dg.ExecuteInProcessResult | dg.JobExecutionResult:
    """One run of `job_name` (over first..last, if given), or a RunError saying why it failed.
    `selection`: only these assets, with the job's checks of them and `extra_checks`.

    `in_processes`: the run's steps each in a process of its own, through the deployment's
    executor (octo_assets.executors), with the resources the settings give (each step builds its
    own): a day of several parse and assembling steps spreads over the cores. Otherwise every
    step runs here, one after the other, with `resources`."""
    job = definitions.defs.resolve_job_def(job_name)
    checks = set()
    if selection is not None:
        checks = {key for key in job.asset_layer.asset_graph.asset_check_keys if key.asset_key in set(selection)}
        job = job.get_subset(asset_selection=set(selection), asset_check_selection=checks | set(extra_checks))
    run_id = make_new_run_id()
    days = len(daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))) if first else 0
    tags = {RANGE_START: first, RANGE_END: last} if first else {}
    # Dagster's console log would add a stack to every failure and interruption: the run's
    # warnings are shown by the watcher, a failure by the sentence below (its stack in the UI)
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if in_processes:
        tags = {**tags, MAKE_RUN: run_id}  # Dagster names the run: the watcher finds it by this tag
    watcher = RunWatcher(instance, None if in_processes else run_id, display, days, tags)
    watcher.start()
    try:
        if in_processes:
            reconstructable = dg.build_reconstructable_job(
                __name__, deployed_job.__name__, reconstructable_args=(job_name,)
            )
            if selection is not None:  # the same assets and checks as the run in this process would have
                reconstructable = reconstructable.get_subset(
                    asset_selection=set(selection), asset_check_selection=checks | set(extra_checks)
                )
            result = dg.execute_job(reconstructable, instance=instance, run_config=run_config, tags=tags)
        else:
            result = job.execute_in_process(
                instance=instance,
                resources=resources,
                run_id=run_id,
                tags=tags,
                run_config=run_config,
                raise_on_error=False,
            )
    finally:
        watcher.stop()
        interrupt.restore()  # Dagster replaced the SIGINT and SIGTERM handlers while the run executed
        signum = interrupt.received()
        if signum:  # the run stopped, or would have gone on: either way `make run` stops here
            raise interrupt.Interrupted(signum) from None
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure else None
        while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
            error = error.cause
        message = error.message.strip() if error else "see the run in the UI (make ui)"
        if error and error.cls_name == "Failure":  # our own sentence: no class name in front of it
            message = message.split(": ", 1)[-1]
        raise RunError(f"run {result.run_id} failed: {message}")
    return result


MAKE_RUN = "octo/make_run"  # tags a run make run started through Dagster's executor


def deployed_job(name: str = BUILD_JOB.name) -> dg.JobDefinition:
    """A job as the deployment defines it: what each step's process loads again."""
    return definitions.defs.resolve_job_def(name)


PREPASS_JOB = readings_prepass_job.name


def parse_new_files(instance: dg.DagsterInstance, resources: dict, display: Display):
    """How make run's pre-pass parses (readings.prepass): a run of readings_prepass_job, its parse
    steps each in a process of its own when there are several."""

    def parse(plan: steps.Plan) -> list[Parsed]:
        plan.exchange.write_object(PREPASS_PLAN, plan)
        display.close()
        config = {"ops": {"prepass_plan": {"config": {"exchange": plan.exchange.run}}}}
        in_processes = len(plan.shards) > 1
        result = build(instance, resources, None, None, config, display, PREPASS_JOB, in_processes=in_processes)
        parsed = plan.exchange.read_object(PREPASS_PARSED)
        Exchange(plan.exchange.lake, result.run_id).clear()  # its steps' outputs, read: the rows stay in plan's
        return parsed

    return parse


def failed_checks(result: dg.ExecuteInProcessResult | dg.JobExecutionResult) -> list[tuple[str, str, str]]:
    """The run's failed checks: (check, severity, day)."""
    return [
        (e.check_name, e.severity.value, e.partition or "")
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]


DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def parse_day(option: str, text: str) -> date:
    """The day of --from or --to, or one sentence telling a malformed day from one that does not exist."""
    found = DAY.fullmatch(text)
    if not found:
        raise RunError(f"{option} {text}: days are written YYYY-MM-DD, as in {option} 2021-01-01.")
    year, month, day = (int(n) for n in found.groups())
    if year < 1:
        raise RunError(f"{option} {text}: there is no year 0000; give a day from {FIRST_DAY} on.")
    if not 1 <= month <= 12:
        raise RunError(f"{option} {text}: there is no month {month:02d}; months run from 01 to 12.")
    if day == 0:
        raise RunError(f"{option} {text}: there is no day 00; the days of a month start at 01.")
    last = calendar.monthrange(year, month)[1]
    if day > last:
        name, end = f"{calendar.month_name[month]} {year}", f"{year:04d}-{month:02d}-{last}"
        raise RunError(f"{option} {text}: there is no such day, {name} has {last} days (the last is {end}).")
    return date(year, month, day)


@dataclass(frozen=True)
class Wanted:
    """The days of --from/--to that can be built, and a line for each part of the range left out."""

    days: list[str]
    dropped: list[str]


def wanted_days(first: str, last: str) -> Wanted:
    """The days of --from/--to, or one sentence saying what is wrong with them."""
    start, end = parse_day("--from", first), parse_day("--to", last)
    first, last = start.isoformat(), end.isoformat()
    newest = daily_partitions.get_last_partition_key()
    if start > end:
        raise RunError(f"--from {first} is after --to {last}: give the earlier day first.")
    if last < FIRST_DAY:
        raise RunError(f"--to {last} is before the first day there can be readings for, {FIRST_DAY}.")
    if first > newest:
        raise RunError(
            f"--from {first} has not ended yet in Europe/London: the last day that can be built is {newest}."
        )
    dropped = []
    if first < FIRST_DAY:
        before = date.fromisoformat(FIRST_DAY) - timedelta(days=1)
        dropped.append(
            f"--from {first}: there are no readings before {FIRST_DAY}, so {span(start, before)} is left out "
            f"(the range starts at {FIRST_DAY})"
        )
    if last > newest:
        after = date.fromisoformat(newest) + timedelta(days=1)
        dropped.append(
            f"--to {last}: the days after {newest} have not ended yet in Europe/London, so {span(after, end)} "
            f"is left out (the range ends at {newest})"
        )
    keys = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(max(first, FIRST_DAY), min(last, newest)))
    return Wanted(keys, dropped)


def span(first: date, last: date) -> str:
    """first .. last (n days), or the one day."""
    if first == last:
        return first.isoformat()
    return f"{first} .. {last} ({(last - first).days + 1} days)"


def run_pipeline(
    instance: dg.DagsterInstance,
    resources: dict,
    days: tuple[str, str] | None = None,
    allow_empty: bool = False,
    display: Display | None = None,
    force: bool = False,
) -> Built:
    """Bring the lake and catalog up to date (module docstring); with `days` (first, last), rebuild
    the landed days of that range regardless, after a new snapshot if the source changed.

    Days of `days` that no landing file holds are reported and left alone, unless `allow_empty`
    (then they are published empty); `force` rebuilds days whose landing files are gone.
    """
    display = display or Display()
    problems = setting_problems(resources)
    if not problems:  # the source's tables and columns too: nothing is listed or written without them
        problems = list(filter(None, [schema_problem(Path(resources["source_db"].path).expanduser())]))
    if problems:
        raise RunError("\n".join(problems))
    landing, lake = resources["landing"].storage(), resources["lake"].lake()
    found_lake = up_to_date.LakeAsFound(lake)  # what is to build is decided on the lake before any run
    valid = set(daily_partitions.get_partition_keys())
    wanted = None
    if days:
        asked = wanted_days(*days)
        for line in asked.dropped:
            display.line(line)
        wanted = asked.days
    decided: dict[str, up_to_date.Stale] = {}

    def to_build(landed: list[date], seen, known: pl.DataFrame) -> list[date]:
        """The days this run builds: those of the range (landed, or with allow_empty every one);
        without a range, the landed days whose inputs changed."""
        if wanted is not None:
            keys = [d.isoformat() for d in landed if d.isoformat() in valid]
            keys = wanted if allow_empty else [d for d in wanted if d in set(keys)]
            return [date.fromisoformat(key) for key in keys]
        stale = up_to_date.stale_readings(found_lake, seen, known, landed, valid)
        unread = known.filter(pl.col("sha").is_not_null() & pl.col("days").is_null()).height
        buildable = [d for d in landed if d.isoformat() in valid]
        if unread and buildable and buildable[-1] not in stale.build:
            stale.build[buildable[-1]] = f"{unread} new landing file(s) with no readable day are reported on it"
        decided["stale"] = stale
        return sorted(stale.build)

    # what the pre-pass parses waits in the lake's storage for the runs' steps (readings.exchange)
    exchange = Exchange(lake.storage.url, f"make-run-{uuid.uuid4()}")
    with staging_area(), cleared(exchange):
        display.start("listing the landing area")
        found = prestage(
            landing,
            lake,
            exchange,
            resources["workers"].limits(),
            to_build,
            [date.fromisoformat(d) for d in wanted] if wanted is not None else None,
            parse_new_files(instance, resources, display),
            resources["landing"].open_days,
            everything=False,
            steps_setting=resources["workers"].steps,
        )
        display.close()
        landed = [d.isoformat() for d in found.days]
        if found.not_ended.height:  # rows dated too early or too late are quarantined: these wait for their day
            shown = ", ".join(f"{d} ({f} file(s), {r} row(s) read now)" for d, f, r in found.not_ended.rows())
            display.line(
                f"not built yet, the day has not ended in Europe/London: {shown}; built by the first run after it ends"
            )
        if not [d for d in landed if d in valid] and not (wanted and allow_empty):
            raise RunError(no_readings(landing.url, found.unreadable))
        if wanted is not None:
            keys = [d.isoformat() for d in to_build(found.days, None, pl.DataFrame())]
            if not allow_empty:
                empty = [d for d in wanted if d not in set(keys)]
                if empty:
                    more = " ..." if len(empty) > 10 else ""
                    display.line(
                        f"no landing file holds {len(empty)} day(s) of the range, not built: {', '.join(empty[:10])}"
                        f"{more} (--allow-empty publishes them empty)"
                    )
            if not keys:
                raise RunError(no_readings(landing.url, found.unreadable))
            reasons = {day: "asked for (--from/--to)" for day in keys}
            kept = {}
        else:
            stale = decided["stale"]
            reasons = {day.isoformat(): why for day, why in stale.build.items()}
            keys = sorted(reasons)
            kept = {day.isoformat(): why for day, why in stale.kept.items()}
        snapshot, moved, failed = refresh_snapshot(instance, resources, found_lake, display)
        readings_config = {"prestaged": exchange.run, "allow_empty_days": allow_empty, "force": force}
        config = {"ops": {"lake__readings": {"config": readings_config}}}
        held = set(landed)
        empty = [d for d in keys if d not in held] if allow_empty else []
        every = definitions.defs.resolve_job_def(BUILD_JOB.name).asset_layer.selected_asset_keys
        without_source = [key for key in every if key not in SOURCE_KEYS.values()]  # published above, if changed
        # a day of several parse and assembling steps (readings.steps) spreads them over the cores
        in_processes = steps.steps_for(found.files, resources["workers"].steps) > 1
        for first, last in contiguous(keys):
            display.line(f"materialising {first} .. {last} from {landing.url}")
            result = build(
                instance, resources, first, last, config, display, selection=without_source, in_processes=in_processes
            )
            failed += failed_checks(result)
    corrected = {table: sorted(d for d in days_moved if d not in set(keys)) for table, days_moved in moved.items()}
    for table, first, last in correction_ranges(corrected):
        display.line(f"rebuilding {table} {first} .. {last}: the new snapshot moves these days")
        selection = [ANALYTICS[table], CATALOG]
        checks = SOURCE_CHECK_KEYS if table == "daily_product_consumption" else []
        result = build(instance, resources, first, last, {}, display, CORRECTION_JOB.name, selection, checks)
        failed += failed_checks(result)
    refreshed = up_to_date.analytics_to_rebuild(found_lake, ANALYTICS_TABLES, set(keys), corrected)
    for table, days in sorted(refreshed.items()):
        for first, last, why in up_to_date.spans({date.fromisoformat(d): w for d, w in days.items()}):
            display.line(f"rebuilding {table} {first} .. {last}: {why}")
            selection = [ANALYTICS[table], CATALOG]
            failed += failed_checks(build(instance, resources, str(first), str(last), {}, display, selection=selection))
    catalog = ""
    if not keys and not snapshot.startswith("published") and not any(corrected.values()) and not refreshed:
        storage, name = resources["warehouse"].location()
        catalog = up_to_date.catalog_behind(found_lake, storage.uri(name), lake_tables(tuple(ANALYTICS))) or ""
        if catalog:
            display.line(f"rebuilding the catalog: {catalog}")
            build(instance, resources, None, None, {}, display, SNAPSHOT_JOB.name, [CATALOG])
    left = sorted(d for d in landed if d in valid and d not in set(keys) and d not in kept)
    corrected = {table: days_moved for table, days_moved in corrected.items() if days_moved}
    return Built(keys, failed, empty, reasons, corrected, kept, left, snapshot, catalog, refreshed)


@contextmanager
def cleared(exchange: Exchange):
    """The pre-pass's exchange, removed when make run ends however it ends."""
    try:
        yield exchange
    finally:
        exchange.clear()


def refresh_snapshot(
    instance: dg.DagsterInstance, resources: dict, lake, display: Display
) -> tuple[str, dict[str, list[str]], list[tuple[str, str, str]]]:
    """Publish a snapshot of the source when its content differs from the latest published one
    (source_snapshot_job); returns what became of it, the built analytics days it moves, and the
    checks that failed in its run."""
    source = resources["source_db"]
    try:
        tables = read_source(Path(source.path).expanduser(), source.busy_timeout_s).tables
    except SourceError as exc:
        raise RunError(str(exc)) from None
    hashes = {table: content_hash(frame) for table, frame in tables.items()}
    del tables
    published = up_to_date.published_snapshot_hashes(lake)
    if hashes == published:
        return "unchanged since the latest snapshot: not published again", {}, []
    why = "its content differs from the latest snapshot" if any(published.values()) else "no snapshot yet"
    display.line(f"snapshotting {source.path}: {why}")
    result = build(instance, resources, None, None, {}, display, SNAPSHOT_JOB.name, list(SOURCE_KEYS.values()))
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == SOURCE_KEYS["agreement"])
    recorded = event.materialization.metadata.get(DAYS_TO_REFRESH)
    ranges = recorded.value if recorded is not None else {}
    change = event.materialization.metadata.get(CHANGE_SUMMARY)
    keys = {table.name: table.partition_key for table in ANALYTICS_TABLES}
    built = {table: lake.partition_values(analytics_table(table), keys[table]) for table in ranges}
    moved = {
        table: [day for day in built[table] if any(first <= day <= last for first, last in spans)]
        for table, spans in ranges.items()
    }
    said = f": {change.value}" if change is not None and change.value else ""
    why = "the first snapshot" if not any(published.values()) else f"the source changed{said}"
    return f"published ({why})", moved, failed_checks(result)


def correction_ranges(days: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(table, first, last) for each stretch of consecutive days of a table."""
    return [(table, first, last) for table, found in sorted(days.items()) for first, last in contiguous(found)]


def no_readings(landing: str, unreadable) -> str:
    """Why nothing can be built, naming the files that could not be read if there are some."""
    span = f"from {FIRST_DAY} to {daily_partitions.get_last_partition_key()}"
    if unreadable.height:
        named = "; ".join(f"{path}: {reason}" for path, reason in unreadable.head(5).iter_rows())
        more = f" (and {unreadable.height - 5} more)" if unreadable.height > 5 else ""
        return (
            f"No readings for any day {span} in {landing}: {unreadable.height} landing file(s) could not be read, "
            f"{named}{more}. Fix or replace them, then run again."
        )
    return (
        f"No readings for any day {span} in {landing}: put the landing files there, or point OCTO_READINGS_DIR at them."
    )


def dagster_home() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME; without it, the project's .dagster (as `make run` sets it).
    A RunError (one sentence naming both lakes) if it serves another lake than OCTO_LAKE_DIR's
    (octo_assets.home: the instance records its lake when its first run sets the lake up, after
    the settings were checked)."""
    from octo_assets.home import refusal

    if not os.environ.get("DAGSTER_HOME"):
        home = Path.cwd() / ".dagster"
        home.mkdir(exist_ok=True)
        shipped = Path(__file__).resolve().parents[2] / "config" / "dagster.yaml"
        if not (home / "dagster.yaml").exists() and shipped.is_file():
            shutil.copy(shipped, home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
    home = Path(os.environ["DAGSTER_HOME"])
    if not home.is_dir():
        raise RunError(f"DAGSTER_HOME: {home} is not a folder; create it (make run does), or unset DAGSTER_HOME.")
    instance = dg.DagsterInstance.get()
    refused = refusal(instance, definitions.defs.resources["lake"], claim=False)
    if refused:
        instance.dispose()
        raise RunError(refused)
    return instance


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Bring the lake and the catalog up to date: build the days whose landing files changed or "
        "were never built, and what a changed source moves; with --from/--to, rebuild that range regardless."
    )
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day to rebuild (with --to)")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day to rebuild (with --from)")
    parser.add_argument("--allow-empty", action="store_true", help="publish days of the range no file holds, empty")
    parser.add_argument(
        "--force", action="store_true", help="rebuild days of the range whose landing files are gone (drops their rows)"
    )
    args = parser.parse_args()
    if bool(args.first) != bool(args.last):
        parser.error("--from and --to go together")
    if (args.force or args.allow_empty) and not args.first:
        parser.error("--force and --allow-empty apply to a range: give --from and --to")
    started = time.monotonic()
    display = Display()
    try:
        instance = dagster_home()
        display.line(f"dagster home {instance.root_directory}: the runs show in `make ui`")
        days = (args.first, args.last) if args.first else None
        built = run_pipeline(instance, definitions.defs.resources, days, args.allow_empty, display, args.force)
    except (RunError, dg.DagsterInvalidInvocationError, ValueError) as exc:
        display.close()
        raise SystemExit(str(exc)) from None
    except KeyboardInterrupt:
        display.close()
        raise
    print_plan(built)
    touched = set(built.days) | {d for days in built.corrected.values() for d in days}
    touched |= {d for days in built.refreshed.values() for d in days}
    if touched:  # every day a table of which was built, read back through the catalog
        print_summary(settings.location(settings.WAREHOUSE), sorted(touched), built.failed_checks, built.empty)
    elif built.failed_checks:
        print_failed_checks(built.failed_checks)
    print(f"\ndone in {time.monotonic() - started:.2f} s")


def print_plan(built: Built) -> None:
    """What this run built and why, what it left alone, and what became of the source snapshot."""
    print("\nwhat changed")
    for first, last, why in up_to_date.spans({date.fromisoformat(d): w for d, w in built.reasons.items()}):
        print(f"  built {span(first, last)}: {why}")
    for table, days in sorted(built.corrected.items()):
        for first, last in contiguous(days):
            days = span(date.fromisoformat(first), date.fromisoformat(last))
            print(f"  {table} rebuilt {days}: the new snapshot moves it")
    for table, days in sorted(built.refreshed.items()):
        for first, last, why in up_to_date.spans({date.fromisoformat(d): w for d, w in days.items()}):
            print(f"  {table} rebuilt {span(first, last)}: {why}")
    for day, why in sorted(built.kept.items()):
        print(f"  not rebuilt {day}: {why}")
    if built.up_to_date:
        first, last = date.fromisoformat(built.up_to_date[0]), date.fromisoformat(built.up_to_date[-1])
        days = len(built.up_to_date)
        within = f"{first} .. {last}" if first != last else str(first)
        print(f"  up to date: {days} day(s) within {within}: no landing file of theirs changed")
    print(f"  source snapshot: {built.snapshot}")
    if built.catalog:
        print(f"  catalog rebuilt: {built.catalog}")
    published = built.snapshot.startswith("published")
    if not (built.days or built.corrected or built.catalog or built.refreshed or published):
        print("  nothing to build: every landed day is up to date, nothing was committed")


def print_summary(
    warehouse: str, keys: list[str], failed_checks: list[tuple[str, str, str]] = (), empty: list[str] = ()
) -> None:
    """The days just built, read back through the catalog as an analyst would (only their
    partitions are opened): the three tables' totals, which must reconcile."""
    first, last = keys[0], keys[-1]
    built = ", ".join(f"DATE '{day}'" for day in keys)
    days = f"IN ({built})"
    as_of = [first] + ([FIRST_DAY] if FIRST_DAY in keys and first != FIRST_DAY else [])
    queries = {
        **{
            f"active agreements on {day}": "SELECT count(*) FROM analytics.active_agreements "
            f"WHERE as_of_date = DATE '{day}'"
            for day in as_of
        },
        "half hours": f"SELECT count(*) FROM analytics.half_hourly_consumption WHERE reading_date {days}",
        "product-days": f"SELECT count(*) FROM analytics.daily_product_consumption WHERE reading_date {days}",
        "readings loaded": f"SELECT count(*) FROM lake.readings WHERE reading_date {days}",
        "rows quarantined": f"SELECT count(*) FROM lake.readings_quarantine WHERE reading_date {days} "
        "AND row_number IS NOT NULL",
        "files rejected whole": f"SELECT count(*) FROM lake.readings_quarantine WHERE reading_date {days} "
        "AND row_number IS NULL",
        "kWh (readings)": f"SELECT sum(consumption_kwh) FROM lake.readings WHERE reading_date {days}",
        "kWh (half-hourly)": f"SELECT sum(consumption_kwh) FROM analytics.half_hourly_consumption "
        f"WHERE reading_date {days}",
        "kWh (product-day)": "SELECT sum(consumption_kwh) FROM analytics.daily_product_consumption "
        f"WHERE reading_date {days}",
    }
    with connect(warehouse) as con:
        span = f"{first} .. {last}" + (f" ({len(keys)} days)" if len(keys) > 1 else "")
        print(f"\ncatalog {warehouse}, {span}")
        values = {label: con.execute(sql).fetchall()[0][0] for label, sql in queries.items()}
        for label, value in values.items():
            print(f"  {label:<34} {value}")
            if label == "files rejected whole" and value:
                rejected = con.execute(
                    "SELECT reading_date, source_file, reason FROM lake.readings_quarantine "
                    f"WHERE reading_date {days} AND row_number IS NULL ORDER BY source_file LIMIT {SHOWN_REJECTED}"
                ).fetchall()
                for day, source, reason in rejected:
                    print(f"    {source} ({day}): {reason}")
                if value > len(rejected):
                    print(f"    ... {value - len(rejected)} more: SELECT * FROM lake.readings_quarantine")
        kwh = {values[k] for k in values if k.startswith("kWh")}
        print(f"  {'kWh reconciled':<34} {'yes' if len(kwh) == 1 else 'NO: the three tables disagree'}")
        if empty:
            print(f"  {'published empty (no landing file)':<34} {', '.join(empty)}")
        print("\n  kWh per day and product (top 3 a day):")
        rows = con.execute(
            "SELECT reading_date, coalesce(product_display_name, '(no agreement)'), meterpoint_count, "
            "consumption_kwh FROM analytics.daily_product_consumption "
            f"WHERE reading_date {days} "
            "QUALIFY row_number() OVER (PARTITION BY reading_date ORDER BY consumption_kwh DESC) <= 3 "
            "ORDER BY reading_date, consumption_kwh DESC"
        ).fetchall()
        print_table(
            ["day", "product", "meterpoints", "kWh"], [(str(d), n, c, f"{k:.3f}") for d, n, c, k in rows], {2, 3}
        )
    print_failed_checks(failed_checks)


def print_table(header: list[str], rows: list[tuple], numbers: set[int]) -> None:
    """Columns as wide as their longest value; text left-aligned, the columns `numbers` right-aligned."""
    widths = [max([len(h)] + [len(str(row[i])) for row in rows]) for i, h in enumerate(header)]

    def line(cells) -> str:
        cells = [f"{c!s:>{w}}" if i in numbers else f"{c!s:<{w}}" for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(cells)

    for cells in [header, *rows]:
        print("    " + line(cells).rstrip())


def print_failed_checks(failed: list[tuple[str, str, str]]) -> None:
    """Each check that failed, with its severity and days (an ERROR one is a problem to look at;
    the case-study sample has two real WARN ones)."""
    if not failed:
        print("\n  every check passed")
        return
    days_by_check: dict[tuple[str, str], list[str]] = {}
    for name, severity, day in failed:
        days_by_check.setdefault((name, severity), []).append(day)
    print("\n  checks that failed (make ui: each one's offenders, day by day):")
    for (name, severity), days in sorted(days_by_check.items(), key=lambda item: (item[0][1] != "ERROR", item[0])):
        shown = ", ".join(sorted(d for d in days if d)[:5]) + (" ..." if len(days) > 5 else "")
        print(f"    {severity:<5} {name}" + (f" on {shown}" if shown else ""))
