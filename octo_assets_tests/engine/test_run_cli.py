"""`make run`'s --from and --to: a day given wrong, or a range reaching past the days there can be
readings for, is said in one sentence (run.pipeline.wanted_days). That ARGS reach the command:
integration/test_commands.py."""

import signal
from datetime import date, timedelta

import pytest

from octo_assets.partitions import daily_partitions
from octo_assets.run.interrupt import Interrupted, exit_status
from octo_assets.run.pipeline import RunError, wanted_days


@pytest.mark.parametrize(
    "first, last, says",
    [
        ("1 January", "2021-01-02", "--from 1 January: days are written YYYY-MM-DD, as in --from 2021-01-01."),
        ("2021-01-01", "tomorrow", "--to tomorrow: days are written YYYY-MM-DD, as in --to 2021-01-01."),
        ("2021/01/01", "2021-01-02", "--from 2021/01/01: days are written YYYY-MM-DD"),
        ("20210101", "2021-01-02", "--from 20210101: days are written YYYY-MM-DD"),
        ("2021-1-1", "2021-01-02", "--from 2021-1-1: days are written YYYY-MM-DD"),
        ("2021-02-30", "2021-03-01", "--from 2021-02-30: there is no such day, February 2021 has 28 days"),
        ("2021-01-01", "2021-02-29", "--to 2021-02-29: there is no such day, February 2021 has 28 days "),
        ("2021-01-01", "2021-04-31", "--to 2021-04-31: there is no such day, April 2021 has 30 days"),
        ("2021-13-01", "2021-12-31", "--from 2021-13-01: there is no month 13; months run from 01 to 12."),
        ("2021-01-01", "2021-00-10", "--to 2021-00-10: there is no month 00"),
        ("2021-01-00", "2021-01-02", "--from 2021-01-00: there is no day 00"),
        ("2021-01-01", "2021-01-32", "--to 2021-01-32: there is no such day, January 2021 has 31 days"),
        ("2021-01-03", "2021-01-01", "--from 2021-01-03 is after --to 2021-01-01: give the earlier day first."),
        ("2020-12-01", "2020-12-31", "--to 2020-12-31 is before the first day there can be readings for"),
        ("2099-01-01", "2099-01-02", "--from 2099-01-01 has not ended yet in Europe/London"),
    ],
)
def test_a_day_given_wrong_is_one_sentence_naming_the_option(first, last, says):
    with pytest.raises(RunError) as raised:
        wanted_days(first, last)
    message = str(raised.value)
    assert message.startswith(says) and "\n" not in message


def test_february_29_exists_in_a_leap_year():
    assert wanted_days("2024-02-28", "2024-02-29").days == ["2024-02-28", "2024-02-29"]
    with pytest.raises(RunError, match=r"February 2023 has 28 days \(the last is 2023-02-28\)"):
        wanted_days("2023-02-29", "2023-03-01")


def test_a_range_partly_before_the_first_day_says_what_it_leaves_out():
    wanted = wanted_days("2020-12-25", "2021-01-02")
    assert wanted.days == ["2021-01-01", "2021-01-02"]
    assert wanted.dropped == [
        "--from 2020-12-25: there are no readings before 2021-01-01, so 2020-12-25 .. 2020-12-31 (7 days) "
        "is left out (the range starts at 2021-01-01)"
    ]
    assert wanted_days("2021-01-01", "2021-01-02").dropped == []


def test_a_range_partly_in_the_future_says_what_it_leaves_out():
    newest = daily_partitions.get_last_partition_key()
    after = (date.fromisoformat(newest) + timedelta(days=1)).isoformat()
    first = (date.fromisoformat(newest) - timedelta(days=1)).isoformat()
    wanted = wanted_days(first, "2099-12-31")
    assert wanted.days == [first, newest]
    (line,) = wanted.dropped
    assert line.startswith(f"--to 2099-12-31: the days after {newest} have not ended yet in Europe/London, ")
    assert f"so {after} .. 2099-12-31 (" in line and line.endswith(f"is left out (the range ends at {newest})")
    assert wanted_days(first, newest).dropped == []


def test_a_range_reaching_both_ways_says_both():
    newest = daily_partitions.get_last_partition_key()
    wanted = wanted_days("2020-12-31", "2099-01-01")
    assert wanted.days[0] == "2021-01-01" and wanted.days[-1] == newest
    assert [line.split(":")[0] for line in wanted.dropped] == ["--from 2020-12-31", "--to 2099-01-01"]


@pytest.mark.parametrize(
    "returncode, shell",
    [(0, 0), (1, 1), (2, 2), (130, 130), (143, 143), (-9, 137), (-15, 143), (-2, 130), (-6, 134), (-11, 139)],
)
def test_the_runs_exit_code_is_what_a_shell_reports(returncode, shell):
    """`python -m octo_assets.run` supervises the working process and exits with its code, or with
    128 + the signal that killed it (a shell's $?). The process itself: integration/test_interrupt.py."""
    assert exit_status(returncode) == shell


def test_an_interruption_exits_as_a_shell_reports_the_signal():
    assert Interrupted(signal.SIGINT).exit_code == 130
    assert Interrupted(signal.SIGTERM).exit_code == 143
    assert Interrupted(signal.SIGTERM).sentence().startswith("make run was interrupted (SIGTERM) and stopped;")
