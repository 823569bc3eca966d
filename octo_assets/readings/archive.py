"""File a flat landing area's deliveries into dated folders: the way out of listing them all.

The files at the top of the landing area are listed by every run and sensor tick (readings.landing),
so a flat landing area costs more every day. Where the landing area is ours to reorganise, this
moves each file first seen before a given day into the folder of the day it was first seen
(`2021-01-04/<name>`), where only a run of one of its days lists it again. Nothing is rebuilt and
the order of deliveries is kept: the landing state is told first that the file will appear there
with its content hash and first sight (a moved file is read once more, and the same content keeps
its first sight), then the file is moved. A move interrupted halfway loses nothing: the file is
wherever it was left, and is read as what it is.

    python -m octo_assets.readings.archive --seen-before 2021-02-01
"""

import argparse
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.domain import LOCAL_TZ
from octo_assets.lake import Lake
from octo_assets.readings import landing
from octo_assets.readings.parse import readings_file
from octo_assets.storage import Storage


def destinations(top_level: pl.DataFrame, seen_before: date, taken: set[str]) -> pl.DataFrame:
    """Pure: the top-level files (FILE_SCHEMA rows) to move, read and first seen before
    `seen_before`, with `destination`: `<first-seen day>/<name>`; never onto a path in `taken`.
    Only readings files move: a file the pipeline does not read (`README`, `notes.txt`) is
    someone's, and stays where they put it (it was reported once, when it was first seen)."""
    seen_day = pl.from_epoch("first_seen_ns", time_unit="ns").dt.convert_time_zone(LOCAL_TZ).dt.date()
    readings = readings_file(pl.col("path"))
    return (
        top_level.filter(pl.col("days").is_not_null(), seen_day < seen_before, readings)
        .with_columns(destination=pl.format("{}/{}", seen_day.cast(pl.String), "path"))
        .filter(~pl.col("destination").is_in(list(taken)))
        .sort("path")
    )


def archive(landing_area: Storage, lake: Lake, seen_before: date) -> int:
    """Move the top-level files first seen before `seen_before` into dated folders; how many."""
    seen = landing.record(lake, landing.survey(landing_area, lake, landing.now_ns()))
    top_level = seen.current.filter(~pl.col("path").str.contains("/")).select(list(landing.FILE_SCHEMA))
    planned = destinations(top_level, seen_before, set())
    folders = planned["destination"].str.split("/").list.first().unique().to_list()
    taken = {path for folder in folders for path in landing_area.list_columns(folder)["path"]}
    moves = destinations(top_level, seen_before, taken).with_columns(
        _folder=pl.col("destination").str.split("/").list.first()
    )
    # first the state is told where each file is going (a move interrupted halfway then finds the
    # file either way), then each file moves, then the state records it where it is, as it was
    _record(lake, moves, landing.listing_frame({"path": [], "size": [], "mtime_ns": [], "token": []}))
    for source, target in moves.select("path", "destination").iter_rows():
        landing_area.move(source, target)
    for (folder,), group in moves.group_by("_folder"):
        _record(lake, group, landing.listing_frame(landing_area.list_columns(folder)))
    return moves.height


def _record(lake: Lake, moves: pl.DataFrame, listed: pl.DataFrame) -> None:
    """Each moved file's row in its new folder: its content hash, days, rows and first sight, and
    its version there if `listed` has it (else none: read once when listed, it keeps its first
    sight, being the same content)."""
    for (folder,), group in moves.group_by("_folder"):
        rows = group.select(path="destination", sha="sha", first_seen_ns="first_seen_ns", days="days", rows="rows")
        rows = rows.join(listed, on="path", how="left")
        landing.upsert_files(lake, folder, rows.select(list(landing.FILE_SCHEMA)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Move a flat landing area's files into dated folders.")
    parser.add_argument("--seen-before", required=True, metavar="YYYY-MM-DD", help="files first seen before this day")
    args = parser.parse_args()
    from octo_assets.resources import resources_from_env

    resources = resources_from_env()
    try:
        seen_before = date.fromisoformat(args.seen_before)
    except ValueError:
        raise SystemExit(f"--seen-before {args.seen_before}: not a day; write it YYYY-MM-DD.") from None
    today = datetime.now(ZoneInfo(LOCAL_TZ)).date()
    moved = archive(resources["landing"].storage(), resources["lake"].lake(), min(seen_before, today))
    print(f"moved {moved} file(s) into dated folders of {resources['landing'].path}")


if __name__ == "__main__":
    main()
