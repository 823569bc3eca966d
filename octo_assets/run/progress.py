"""What `make run` shows while it works.

On a terminal, a live bar per phase (tqdm): the landing files read, then each step of the Dagster
run, the days assembled and the files parsed inside the readings step, with elapsed and remaining
time. Elsewhere (CI, a log file), plain lines: each phase with the time since the command began,
and a phase that lasts (PLAIN_AFTER_S) about every tenth of the way with its elapsed and
remaining time and its rate, and at its end the time it took. A rate (and a remaining time, which
follows from it) is shown once a phase has run MIN_RATE_S since its first report: over less, a
count divided by a few microseconds says nothing ("13981013.33 files/s").

Inside the run, the progress comes from the run's own event log, the lines the readings step
writes there for the UI ("read 40,000 of 100,000 landing files", "2021-01-02: assembled part 3
of 8"): one source for both, read by a thread while the run works in the main thread.
"""

import logging
import re
import sys
import threading
import time
from typing import TextIO

import dagster as dg

READ = re.compile(r"read ([\d,]+) of ([\d,]+) landing files")
ASSEMBLED = re.compile(r"(\d{4}-\d{2}-\d{2}): assembled part (\d+) of (\d+)")
MIN_RATE_S = 1.0  # a rate over less time than this is noise
PLAIN_AFTER_S = 2.0  # a phase shorter than this gets no progress line: its own line, with its time, says enough
LIVE_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def duration(seconds: float) -> str:
    """A time for a person: 0.4 s, 12 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(seconds, 0.0)
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def rate(items: int, elapsed: float, unit: str = "") -> str | None:
    """`items` done in `elapsed` seconds, a second, with as many digits as mean something
    ("1,234 files/s", "12.5 files/s", "0.25 parts/s"); None under MIN_RATE_S or with nothing done."""
    if elapsed < MIN_RATE_S or items <= 0:
        return None
    per_second = items / elapsed
    if per_second >= 100:
        shown = f"{per_second:,.0f}"
    elif per_second >= 10:
        shown = f"{per_second:.1f}"
    else:
        shown = f"{per_second:.2g}"
    return f"{shown} {unit}/s" if unit else f"{shown}/s"


def remaining(items: int, left: int, elapsed: float) -> float | None:
    """Seconds for `left` more items at the pace of `items` in `elapsed`; None when that cannot be
    told yet (nothing done, under MIN_RATE_S)."""
    if items <= 0 or elapsed < MIN_RATE_S:
        return None
    return elapsed / items * max(left, 0)


def status(done: int, total: int | None, elapsed: float, unit: str = "", since: int = 0) -> str:
    """A plain progress line: "40 of 100 files (40%), 2.5 s, ~3.8 s left, 16 files/s"; at the end
    "100 of 100 files (100%) in 6.2 s, 16 files/s"; without a total "4,000 files, 12 s, 333
    files/s". `elapsed` is the time since `since` items were done (the phase's first report)."""
    what = f" {unit}" if unit else ""
    count = f"{done:,} of {total:,}{what} ({done * 100 // total}%)" if total else f"{done:,}{what}"
    finished = bool(total) and done >= total
    first = f"{count} in {duration(elapsed)}" if finished else f"{count}, {duration(elapsed)}"
    return ", ".join([first, *left_and_rate(done, total, elapsed, unit, since, lambda s: f"~{duration(s)} left")])


def live_postfix(done: int, total: int | None, elapsed: float, unit: str = "", since: int = 0) -> str:
    """What a live bar shows after its elapsed time, once they mean something: the time left and
    the rate ("00:12 left, 1,234 files/s"); else nothing."""
    from tqdm import tqdm

    return ", ".join(left_and_rate(done, total, elapsed, unit, since, lambda s: f"{tqdm.format_interval(s)} left"))


def left_and_rate(done: int, total: int | None, elapsed: float, unit: str, since: int, said_left) -> list[str]:
    """The time left (as `said_left` words it) and the rate, each once it means something."""
    parts = []
    left = remaining(done - since, total - done, elapsed) if total and done < total else None
    if left is not None:
        parts.append(said_left(left))
    speed = rate(done - since, elapsed, unit)
    if speed:
        parts.append(speed)
    return parts


class Display:
    """A bar (or plain lines) for one phase at a time."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.live = stream.isatty()
        self.bar = None
        self.phase = ""
        self.unit = ""
        self.began = time.monotonic()  # the command's start: a plain phase line says how long since
        self.started = self.began  # the phase's first report
        self.since: int | None = None  # what was done at the phase's first report
        self.last_tenth = -1
        self.reported = False  # a plain line of the phase's progress was printed

    def start(self, phase: str, total: int | None = None, unit: str = "") -> None:
        self.close()
        self.phase, self.unit, self.started, self.since = phase, unit, time.monotonic(), None
        self.last_tenth, self.reported = -1, False
        if self.live:
            from tqdm import tqdm

            # a step: how long so far; a count: our own rate and time left (tqdm's own rate over a
            # few microseconds is millions a second)
            shape = LIVE_FORMAT if total else "{desc}: {elapsed}"
            self.bar = tqdm(total=total, desc=phase, file=self.stream, bar_format=shape)
        else:
            counted = f", {total:,} {unit}" if total else ""
            self.line(f"{phase}{counted} (after {duration(self.started - self.began)})")

    def update(self, done: int, total: int) -> None:
        if self.since is None:  # the first report: the pace is counted from here
            self.since, self.started = done, time.monotonic()
        elapsed = time.monotonic() - self.started
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.set_postfix_str(live_postfix(done, total, elapsed, self.unit, self.since), refresh=False)
            self.bar.refresh()
            return
        tenth = done * 10 // max(total, 1)
        if tenth <= self.last_tenth:
            return
        if done >= total:  # the end of a phase that reported its progress: how long it took
            if self.reported:
                self.line(f"  {status(done, total, elapsed, self.unit, self.since)}")
            self.last_tenth = tenth
        elif elapsed >= PLAIN_AFTER_S:  # long work only: the phase's own line says a short one
            self.line(f"  {status(done, total, elapsed, self.unit, self.since)}")
            self.last_tenth, self.reported = tenth, True

    def line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class RunWatcher(threading.Thread):
    """Follows a run's event log and shows each step, and the readings step's own progress."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str | None, display: Display, days: int, tags=None):
        """`run_id`, or (a run Dagster names itself) `tags` that only it carries."""
        super().__init__(name="octo-progress", daemon=True)
        self.instance, self.run_id, self.display, self.days = instance, run_id, display, days
        self.tags = tags or {}
        self.stopped = threading.Event()
        self.days_done: set[str] = set()

    def run(self) -> None:
        cursor = None
        while not self.stopped.is_set():
            cursor = self.poll(cursor)
            self.stopped.wait(0.5)
        self.poll(cursor)

    def poll(self, cursor: str | None) -> str | None:
        try:
            if self.run_id is None:
                found = self.instance.get_run_ids(filters=dg.RunsFilter(tags=self.tags), limit=1)
                if not found:
                    return cursor
                self.run_id = found[0]
            found = self.instance.get_records_for_run(self.run_id, cursor=cursor, limit=1000)
        except Exception:  # the run is not stored yet
            return cursor
        for record in found.records:
            self.show(record.event_log_entry)
        return found.cursor

    def show(self, record) -> None:
        event = record.dagster_event
        if event is None and record.level >= logging.WARNING:  # a step's own warning (context.log.warning)
            self.display.line(f"warning: {record.user_message}")
            return
        if event is not None and event.event_type == dg.DagsterEventType.STEP_START:
            self.display.start(f"step {event.step_key}")
            return
        message = record.user_message or ""
        if found := READ.search(message):
            done, total = (int(n.replace(",", "")) for n in found.groups())
            if not self.display.phase.startswith("reading"):
                self.display.start("reading landing files", total, "files")
            self.display.update(done, total)
        elif found := ASSEMBLED.search(message):
            day, done, total = found.group(1), int(found.group(2)), int(found.group(3))
            if not self.display.phase.startswith(f"assembling {day}"):
                self.display.start(f"assembling {day} ({len(self.days_done) + 1} of {self.days} days)", total, "parts")
            self.display.update(done, total)
            if done == total:
                self.days_done.add(day)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
        self.display.close()
