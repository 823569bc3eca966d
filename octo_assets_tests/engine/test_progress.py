"""What `make run` shows while it works (octo_assets.run.progress): a rate only once it means
something (not "13981013.33 files/s" after a few microseconds), with the digits that mean
something; in a log, every phase with the time since the command began, and a long phase's
progress with its elapsed and remaining time. The display's clock is the test's."""

import io
import re

import pytest

from octo_assets.run import progress
from octo_assets.run.progress import Display, duration, live_postfix, rate, remaining, status


@pytest.mark.parametrize(
    "items, elapsed, shown",
    [
        (0, 0.0, None),  # nothing yet
        (100, 0.0, None),  # a phase whose first report is its last
        (100, 0.0000072, None),  # what showed as 13981013.33 files/s
        (100, 0.99, None),  # under a second: noise
        (100, 1.0, "100 files/s"),
        (1_234_567, 1.0, "1,234,567 files/s"),  # large counts: thousands separated, no decimals
        (48_000_000, 100.0, "480,000 files/s"),
        (125, 10.0, "12.5 files/s"),
        (1, 4.0, "0.25 files/s"),
        (2, 3.0, "0.67 files/s"),
        (0, 5.0, None),  # a phase that has done nothing since its first report
    ],
)
def test_a_rate_is_shown_once_it_means_something_with_sensible_precision(items, elapsed, shown):
    assert rate(items, elapsed, "files") == shown


def test_a_rate_without_a_unit_is_per_second():
    assert rate(30, 2.0) == "15.0/s"


@pytest.mark.parametrize(
    "seconds, shown",
    [(0, "0.0 s"), (0.04, "0.0 s"), (0.4, "0.4 s"), (9.96, "10 s"), (12.4, "12 s"), (59.6, "1 min 00 s")]
    + [(185, "3 min 05 s"), (3725, "1 h 02 min"), (-1, "0.0 s")],
)
def test_durations_read_as_a_person_reads_them(seconds, shown):
    assert duration(seconds) == shown


def test_the_time_left_needs_a_pace():
    assert remaining(0, 100, 10.0) is None  # nothing done: no pace
    assert remaining(10, 90, 0.5) is None  # too soon
    assert remaining(10, 90, 2.0) == pytest.approx(18.0)
    assert remaining(10, 0, 2.0) == 0


@pytest.mark.parametrize(
    "done, total, elapsed, since, line",
    [
        # a phase over at its first report, at once: the count and the time, no rate
        (100, 100, 0.0, 100, "100 of 100 files (100%) in 0.0 s"),
        (100, 100, 0.0000072, 0, "100 of 100 files (100%) in 0.0 s"),
        (40, 100, 0.5, 0, "40 of 100 files (40%), 0.5 s"),  # too soon for a pace
        (40, 100, 2.5, 0, "40 of 100 files (40%), 2.5 s, ~3.8 s left, 16.0 files/s"),
        (100, 100, 6.25, 0, "100 of 100 files (100%) in 6.2 s, 16.0 files/s"),
        # large counts
        (
            48_000_000,
            100_000_000,
            100.0,
            0,
            "48,000,000 of 100,000,000 files (48%), 1 min 40 s, ~1 min 48 s left, 480,000 files/s",
        ),
        # the pace counted from the phase's first report (1,000 already done then)
        (3_000, 11_000, 2.0, 1_000, "3,000 of 11,000 files (27%), 2.0 s, ~8.0 s left, 1,000 files/s"),
        # no total: the count, the time, the rate; nothing left to tell
        (4_000, None, 12.0, 0, "4,000 files, 12 s, 333 files/s"),
        (4_000, 0, 0.2, 0, "4,000 files, 0.2 s"),
    ],
)
def test_a_plain_progress_line(done, total, elapsed, since, line):
    assert status(done, total, elapsed, "files", since) == line


def test_a_live_bar_shows_the_time_left_and_the_rate_only_once_they_mean_something():
    assert live_postfix(100, 100, 0.0000072, "files") == ""
    assert live_postfix(10, 100, 0.2, "files") == ""
    assert live_postfix(10, 100, 2.0, "files") == "00:18 left, 5 files/s"
    assert live_postfix(100, 100, 4.0, "files") == "25.0 files/s"  # done: nothing left to tell
    assert live_postfix(10, None, 2.0, "files") == "5 files/s"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(progress, "time", clock)
    return clock


def test_in_a_log_every_phase_says_when_it_began_and_a_long_one_its_progress(clock):
    log = io.StringIO()  # not a terminal: plain lines
    display = Display(log)
    clock.now += 0.4
    display.start("step lake__readings")
    display.start("assembling 2021-01-02 (2 of 3 days)", 1, "parts")
    display.update(1, 1)  # a short phase: its own line only
    clock.now += 65
    display.start("reading landing files", 100_000, "files")
    display.update(1_000, 100_000)  # the first report
    for second in range(1, 61):
        clock.now += 1
        display.update(1_000 + second * 1_650, 100_000)
    clock.now += 0.5
    display.update(100_000, 100_000)  # the end reported again: no second end line
    display.close()
    lines = log.getvalue().splitlines()
    assert lines[:4] == [
        "step lake__readings (after 0.4 s)",
        "assembling 2021-01-02 (2 of 3 days), 1 parts (after 0.4 s)",
        "reading landing files, 100,000 files (after 1 min 05 s)",
        "  4,300 of 100,000 files (4%), 2.0 s, ~58 s left, 1,650 files/s",
    ]
    tenths = [int(re.search(r"\((\d+)%\)", line).group(1)) // 10 for line in lines[3:]]
    assert tenths == sorted(set(tenths))  # about a line every tenth, never two for one
    assert lines[-1] == "  100,000 of 100,000 files (100%) in 1 min 00 s, 1,650 files/s"
    assert sum(line.startswith("  100,000 of 100,000") for line in lines) == 1
    assert not any(re.search(r"\d{7}", line) for line in lines)


def test_a_short_phase_in_a_log_gets_no_progress_line_and_no_rate(clock):
    log = io.StringIO()
    display = Display(log)
    display.start("reading the new landing files", 100, "files")
    clock.now += 0.0000072
    display.update(100, 100)
    display.close()
    assert log.getvalue() == "reading the new landing files, 100 files (after 0.0 s)\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_shows_no_rate_before_a_second_and_a_sensible_one_after(clock):
    screen = Terminal()
    display = Display(screen)
    display.start("reading the new landing files", 100, "files")
    display.update(100, 100)  # all at once, in microseconds
    display.close()
    assert "100/100" in screen.getvalue() and "/s" not in screen.getvalue()

    screen = Terminal()
    display = Display(screen)
    display.start("reading landing files", 100_000, "files")
    display.update(0, 100_000)
    clock.now += 4
    display.update(20_000, 100_000)
    shown = screen.getvalue()
    display.close()
    assert "20000/100000" in shown and "00:16 left, 5,000 files/s" in shown
