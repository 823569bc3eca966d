"""`python -m octo_assets.readings.archive --seen-before DAY`, as an operator runs it (its main, in
this process): a wrong setting is one sentence; when nothing moves it says why (a day after
today, files first seen today, files not read yet, none there, names taken); what moves, how
many. What the moves do to the landing state: engine/test_landing_history.py."""

import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from octo_assets.automation.landing_sensor import landing_changes
from octo_assets.lake import Lake
from octo_assets.readings import archive, landing
from octo_assets.storage import Storage

LONDON = ZoneInfo("Europe/London")
TODAY = datetime.now(LONDON).date()
DAY = date(2021, 1, 1)


def rows(meterpoint: str) -> list:
    return [[f"{DAY} 00:30:00", 0.5, meterpoint], [f"{DAY} 01:00:00", 0.25, meterpoint]]


def command(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The command's exit code, what it printed, and the sentence it stopped with."""
    monkeypatch.setattr(sys, "argv", ["python -m octo_assets.readings.archive", *args])
    code, sentence = 0, ""
    try:
        archive.main()
    except SystemExit as stopped:
        code, sentence = 1, str(stopped.code)
    return code, capsys.readouterr().out, sentence


@pytest.fixture
def landed(workspace, monkeypatch):
    """Two readings files at the top of the landing area, read by a landing-sensor tick as of
    `seen` (a London wall-clock time: their first sight); the command's settings point at them."""

    def land(seen: datetime) -> None:
        workspace.write_readings("m1.json", rows("m1"))
        workspace.write_readings("m2.json", rows("m2"))
        instant = int(seen.replace(tzinfo=LONDON).timestamp() * 1e9)
        with monkeypatch.context() as clock:
            clock.setattr(landing, "now_ns", lambda: instant)
            landing_changes(Storage(workspace.readings_url), Lake(Storage(workspace.lake_url)), None, budget_s=60)

    monkeypatch.setenv("OCTO_READINGS_DIR", str(workspace.readings))
    monkeypatch.setenv("OCTO_LAKE_DIR", str(workspace.lake))
    return land


def at_six(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6, 0)


# -- a wrong setting: one sentence ----------------------------------------------------------------


def test_without_a_landing_area_the_command_is_one_sentence_naming_the_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no data/readings here
    monkeypatch.delenv("OCTO_READINGS_DIR", raising=False)
    monkeypatch.setenv("OCTO_LAKE_DIR", str(tmp_path / "lake"))
    code, out, sentence = command(monkeypatch, capsys, "--seen-before", "2021-02-01")
    assert (code, out) == (1, "")
    assert sentence == (
        "OCTO_READINGS_DIR: data/readings is not a folder; point OCTO_READINGS_DIR at the folder "
        "(or s3://bucket/prefix) the readings files land in."
    )


def test_a_wrong_number_setting_is_one_sentence_too(landed, monkeypatch, capsys):
    monkeypatch.setenv("OCTO_RETENTION_DAYS", "²")
    code, out, sentence = command(monkeypatch, capsys, "--seen-before", "2021-02-01")
    assert (code, out) == (1, "")
    assert sentence.startswith("OCTO_RETENTION_DAYS: '²' is not a whole number of days")


# -- nothing moved: why ---------------------------------------------------------------------------


def test_a_day_after_today_moves_nothing_first_seen_today_and_says_so(landed, workspace, monkeypatch, capsys):
    landed(datetime.now(LONDON).replace(tzinfo=None))
    code, out, _ = command(monkeypatch, capsys, "--seen-before", "2099-01-01")
    tomorrow = TODAY + timedelta(days=1)
    assert (code, out) == (
        0,
        f"moved 0 file(s) into dated folders of {workspace.readings}: --seen-before 2099-01-01 is after today; "
        f"its 2 readings file(s) at the top level were first seen today ({TODAY}), and a day's deliveries are "
        f"filed once the day is over (from tomorrow, with --seen-before {tomorrow}).\n",
    )
    assert sorted(p.name for p in workspace.readings.iterdir()) == ["m1.json", "m2.json"]


def test_a_day_after_today_files_what_was_first_seen_before_today(landed, workspace, monkeypatch, capsys):
    three_days_ago = TODAY - timedelta(days=3)
    landed(at_six(three_days_ago))
    code, out, _ = command(monkeypatch, capsys, "--seen-before", "2099-01-01")
    assert (code, out) == (
        0,
        f"moved 2 file(s) into dated folders of {workspace.readings} (first seen before today, {TODAY}: "
        "--seen-before 2099-01-01 is after today; today's are filed from tomorrow on)\n",
    )
    assert sorted(p.name for p in (workspace.readings / str(three_days_ago)).iterdir()) == ["m1.json", "m2.json"]


def test_a_day_before_every_first_sight_says_which_day_files_them(landed, workspace, monkeypatch, capsys):
    three_days_ago = TODAY - timedelta(days=3)
    landed(at_six(three_days_ago))
    code, out, _ = command(monkeypatch, capsys, "--seen-before", "2021-02-01")
    assert out == (
        f"moved 0 file(s) into dated folders of {workspace.readings}: its 2 readings file(s) at the top level were "
        f"all first seen on or after 2021-02-01 (the earliest on {three_days_ago}: "
        f"--seen-before {three_days_ago + timedelta(days=1)} files those).\n"
    )


def top_level(*files: tuple[str, str | None, list | None, date]) -> pl.DataFrame:
    """FILE_SCHEMA rows: (name, sha, days, first seen)."""
    return pl.DataFrame(
        [
            {
                "path": name,
                "size": 1,
                "mtime_ns": 1,
                "token": "t",
                "sha": sha,
                "first_seen_ns": int(datetime(*seen.timetuple()[:3], 6, tzinfo=LONDON).timestamp() * 1e9),
                "days": days,
                "rows": 1,
            }
            for name, sha, days, seen in files
        ],
        schema=landing.FILE_SCHEMA,
    )


@pytest.mark.parametrize(
    "files, says",
    [
        ([], "its top level holds no readings file"),
        (
            [("notes.txt", "s", None, DAY)],
            "its top level holds no readings file (1 other file(s), which are not the pipeline's to move)",
        ),
        (
            [("a.json", None, None, DAY), ("b.json", "s", None, DAY)],
            "none of the 2 readings file(s) at its top level has been read yet (make run reads them); "
            "a file is filed once its days are known",
        ),
        (
            [("a.json", "s", None, DAY)],
            "none of the 1 readings file(s) at its top level holds a readable day",
        ),
        (
            [("a.json", "s", [DAY], date(2021, 1, 2))],  # could move: 2021-01-02/a.json is there already
            "each readings file at its top level first seen before 2021-02-01 has a file of its name in its "
            "dated folder already: rename one of the two",
        ),
        (
            [("a.json", "s", [DAY], date(2021, 3, 4)), ("b.json", "s", [DAY], date(2021, 3, 9))],
            "its 2 readings file(s) at the top level were all first seen on or after 2021-02-01 "
            "(the earliest on 2021-03-04: --seen-before 2021-03-05 files those)",
        ),
    ],
)
def test_why_nothing_was_filed(files, says):
    assert archive.nothing_filed(top_level(*files), date(2021, 2, 1), TODAY) == says
