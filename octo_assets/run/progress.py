"""What `make run` shows while it works.

On a terminal, a live bar per phase (tqdm): the landing files read, then each step of the Dagster
run, the days assembled and the files parsed inside the readings step, with elapsed and remaining
time. Elsewhere (CI, a log file), a plain line at each step and about every tenth of a phase.

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

from octo_assets.readings.ingest import Progress

READ = re.compile(r"read ([\d,]+) of ([\d,]+) landing files")
ASSEMBLED = re.compile(r"(\d{4}-\d{2}-\d{2}): assembled part (\d+) of (\d+)")


class Display:
    """A bar (or plain lines) for one phase at a time."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.live = stream.isatty()
        self.bar = None
        self.phase = ""
        self.started = time.monotonic()
        self.last_tenth = -1

    def start(self, phase: str, total: int | None = None, unit: str = "") -> None:
        self.close()
        self.phase, self.started, self.last_tenth = phase, time.monotonic(), -1
        if self.live:
            from tqdm import tqdm

            counted = {} if total else {"bar_format": "{desc}: {elapsed}"}  # a step: how long so far
            self.bar = tqdm(total=total, unit=f" {unit}" if unit else "it", desc=phase, file=self.stream, **counted)
        else:
            self.line(phase + (f" ({total:,} {unit})" if total else ""))

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
            return
        tenth = done * 10 // max(total, 1)
        # plain lines for long work only: a phase of a second needs no report
        if tenth > self.last_tenth and time.monotonic() - self.started >= 2:
            self.last_tenth = tenth
            elapsed = time.monotonic() - self.started
            remaining = elapsed / done * (total - done) if done else 0
            self.line(
                f"  {done:,} of {total:,} ({done * 100 // max(total, 1)}%), {elapsed:.0f} s, ~{remaining:.0f} s left"
            )

    def line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def reading(self, progress: Progress) -> None:
        """The callback for a readings step run in this process (prestage)."""
        if self.phase != "reading the new landing files":
            self.start("reading the new landing files", progress.total, "files")
        self.update(progress.done, progress.total)


class RunWatcher(threading.Thread):
    """Follows a run's event log and shows each step, and the readings step's own progress."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, display: Display, days: int):
        super().__init__(name="octo-progress", daemon=True)
        self.instance, self.run_id, self.display, self.days = instance, run_id, display, days
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
