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

Files first seen today stay at the top level until the day is over (a day after today files
those first seen before today). When nothing moves, the command says why (`nothing_filed`); a
wrong setting is one sentence.
"""

import argparse
from datetime import date, datetime, timedelta
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


def nothing_filed(top_level: pl.DataFrame, seen_before: date, today: date) -> str:
    """Pure: why no top-level file (FILE_SCHEMA rows) is filed by `seen_before` (at most `today`),
    in words that end a sentence."""
    readings = top_level.filter(readings_file(pl.col("path")))
    if readings.is_empty():
        others = (
            f" ({top_level.height} other file(s), which are not the pipeline's to move)" if top_level.height else ""
        )
        return f"its top level holds no readings file{others}"
    read = readings.filter(pl.col("days").is_not_null())
    if read.is_empty():
        unread = readings.filter(pl.col("sha").is_null()).height
        if unread:
            return (
                f"none of the {readings.height} readings file(s) at its top level has been read yet "
                "(make run reads them); a file is filed once its days are known"
            )
        return f"none of the {readings.height} readings file(s) at its top level holds a readable day"
    seen_day = pl.from_epoch("first_seen_ns", time_unit="ns").dt.convert_time_zone(LOCAL_TZ).dt.date()
    earliest = read.select(seen_day.min()).item()
    if earliest < seen_before:  # some could move: a file of the same name was there before them
        return (
            f"each readings file at its top level first seen before {seen_before} has a file of its name "
            "in its dated folder already: rename one of the two"
        )
    if earliest >= today:
        return (
            f"its {read.height} readings file(s) at the top level were first seen today ({today}), and a day's "
            f"deliveries are filed once the day is over (from tomorrow, with --seen-before {today + timedelta(days=1)})"
        )
    return (
        f"its {read.height} readings file(s) at the top level were all first seen on or after {seen_before} "
        f"(the earliest on {earliest}: --seen-before {earliest + timedelta(days=1)} files those)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Move a flat landing area's files into dated folders.")
    parser.add_argument("--seen-before", required=True, metavar="YYYY-MM-DD", help="files first seen before this day")
    args = parser.parse_args()
    from octo_assets.resources import resources_from_env, setting_problems
    from octo_assets.settings import SettingError

    try:
        seen_before = date.fromisoformat(args.seen_before)
    except ValueError:
        raise SystemExit(f"--seen-before {args.seen_before}: not a day; write it YYYY-MM-DD.") from None
    try:
        resources = resources_from_env()
    except SettingError as exc:
        raise SystemExit(str(exc)) from None
    problems = setting_problems({name: resources[name] for name in ("landing", "lake")})
    if problems:
        raise SystemExit("\n".join(problems))
    landing_area, lake, where = resources["landing"].storage(), resources["lake"].lake(), resources["landing"].path
    today = datetime.now(ZoneInfo(LOCAL_TZ)).date()
    moved = archive(landing_area, lake, min(seen_before, today))
    later = f"--seen-before {seen_before} is after today; " if seen_before > today else ""
    if moved:
        note = f" (first seen before today, {today}: {later}today's are filed from tomorrow on)" if later else ""
        print(f"moved {moved} file(s) into dated folders of {where}{note}")
        return
    seen = landing.survey(landing_area, lake, landing.now_ns())
    top_level = seen.current.filter(~pl.col("path").str.contains("/")).select(list(landing.FILE_SCHEMA))
    why = nothing_filed(top_level, min(seen_before, today), today)
    print(f"moved 0 file(s) into dated folders of {where}: {later}{why}.")


if __name__ == "__main__":
    main()
