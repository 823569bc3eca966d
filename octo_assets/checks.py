"""One shape for every check: a SQL query that returns the offending rows.

No rows: the check passes. Otherwise its metadata counts them and shows the first ones,
so the UI names the meterpoints, files or agreements at fault, not just a red light.
"""

import dagster as dg
import duckdb
import polars as pl

# not exported by dagster: what AssetCheckResult sets itself, for evaluations logged in a step
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from octo_assets.domain import SHOWN
from octo_assets.metadata import markdown_table
from octo_assets.partitions import daily_partitions
from octo_assets.relations import bind


def offenders(sql: str, relations: dict[str, str | None], parameters: dict | None = None) -> pl.DataFrame:
    with duckdb.connect() as connection:
        bind(connection, relations)
        return connection.sql(sql, params=parameters or {}).pl()


def offenders_in(sql: str, frames: dict[str, pl.DataFrame], parameters: dict | None = None) -> pl.DataFrame:
    """`offenders` over frames in memory (each bound to its relation name): checks before publishing."""
    with duckdb.connect() as connection:
        for name, frame in frames.items():
            connection.register(name, frame.to_arrow())
        return connection.sql(sql, params=parameters or {}).pl()


def check_result(
    found: pl.DataFrame,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=found.height == 0,
        severity=severity,
        metadata={
            "offending_rows": found.height,
            "offenders": dg.MetadataValue.md(markdown_table(found, SHOWN) if found.height else "none"),
            **metadata,
        },
    )


def per_day(days: list[str], find) -> pl.DataFrame:
    """Offenders of each day of the run, with the day in front; `find(day)` returns a frame."""
    frames = [find(day).select(pl.lit(day).alias("day"), pl.all()) for day in days]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def daily_check_spec(asset: dg.AssetKey, name: str, description: str, blocking: bool, deps=()) -> dg.AssetCheckSpec:
    """A check on a daily asset, partitioned like it: the UI keeps each day's result."""
    return dg.AssetCheckSpec(
        name,
        asset=asset,
        description=description,
        blocking=blocking,
        partitions_def=daily_partitions,
        additional_deps=list(deps),
    )


def check_evaluation(
    asset: dg.AssetKey,
    name: str,
    count: int,
    shown: pl.DataFrame,
    severity: dg.AssetCheckSeverity,
    partition: str | None,
    blocking: bool,
    **metadata,
) -> dg.AssetCheckEvaluation:
    """One day's result of a check evaluated inside its asset's step: `count` offending rows, the
    first of them `shown`. Logged with the day, so the UI shows each day's own result."""
    return dg.AssetCheckEvaluation(
        asset_key=asset,
        check_name=name,
        passed=count == 0,
        severity=severity,
        blocking=blocking,
        partition=partition,
        metadata={
            "offending_rows": int(count),
            "offenders": dg.MetadataValue.md(markdown_table(shown, SHOWN) if count else "none"),
            **metadata,
        },
    )


def selected(context, evaluations: list[dg.AssetCheckEvaluation]) -> list[dg.AssetCheckEvaluation]:
    """The results of the checks the run selected: the step yields them, each with its day."""
    keys = context.selected_asset_check_keys
    return [e for e in evaluations if dg.AssetCheckKey(e.asset_key, e.check_name) in keys]


def targeted(context, evaluations: list[dg.AssetCheckEvaluation]):
    """The results of the checks the run selected, each pointing at the materialisation it judged:
    the latest of its asset (and day), which the step records before it yields them. The UI counts
    a day's check result only against the day's current materialisation (else "Missing"). A day
    kept aside by a failed check points at the version still served, which is what it warns of."""
    latest: dict[tuple, AssetCheckEvaluationTargetMaterializationData | None] = {}
    for evaluation in selected(context, evaluations):
        key = (evaluation.asset_key, evaluation.partition)
        if key not in latest:
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=evaluation.asset_key,
                    asset_partitions=[evaluation.partition] if evaluation.partition else None,
                ),
                limit=1,
            ).records
            latest[key] = (
                AssetCheckEvaluationTargetMaterializationData(
                    run_id=records[0].run_id, storage_id=records[0].storage_id, timestamp=records[0].timestamp
                )
                if records
                else None
            )
        yield dg.AssetCheckEvaluation(
            asset_key=evaluation.asset_key,
            check_name=evaluation.check_name,
            passed=evaluation.passed,
            metadata=evaluation.metadata,
            target_materialization_data=latest[key],
            severity=evaluation.severity,
            description=evaluation.description,
            blocking=evaluation.blocking,
            partition=evaluation.partition,
        )


def check_outputs(context):
    """The outputs Dagster expects of a step whose check results were logged day by day."""
    op_context = getattr(context, "op_execution_context", context)
    for name, spec in op_context.assets_def.check_specs_by_output_name.items():
        if spec.key in context.selected_asset_check_keys:
            yield dg.Output(None, output_name=name)


def finish_days(context, published: dict[str, dict], failures: list[str], evaluations: list[dg.AssetCheckEvaluation]):
    """End a step that built several days and checked each before publishing it: all published,
    the run materialises them; else only the published days are recorded, and the step fails
    with every day's reason (downstream waits for a re-run). The days' check results follow the
    materialisations, so that each points at the one it judged."""
    if failures:
        for day, metadata in published.items():
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=day, metadata=metadata)
        # a failed blocking check of a day kept aside says so, as a source snapshot's does
        kept_aside = [
            e.with_metadata({**e.metadata, "published": False})
            if e.blocking and not e.passed and e.partition not in published
            else e
            for e in evaluations
        ]
        yield from targeted(context, kept_aside)
        raise dg.Failure(description="\n".join(failures))
    for day, metadata in published.items():
        context.add_asset_metadata(metadata, partition_key=day)
    yield dg.MaterializeResult()
    yield from targeted(context, evaluations)
    yield from check_outputs(context)
