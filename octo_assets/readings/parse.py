"""Landing files (pandas "split" JSON) -> typed reading rows and quarantined rows.

Pure functions: bytes in, Polars frames out; no Dagster, no lake. The fast path transposes
and types a whole batch of files at once. Only a file that fails it is walked row by row,
so that each bad row is named with its reason while its good rows are kept.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson
import polars as pl

from octo_assets.readings.clock import with_utc

COLUMNS = ("interval_start", "consumption_delta", "meterpoint_id")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

RAW_SCHEMA = {
    "source_file": pl.String,
    "row_number": pl.Int32,  # 1-based position in the file's "data" array
    "interval_start": pl.String,
    "consumption_kwh": pl.Float64,
    "meterpoint_id": pl.String,
}
READING_SCHEMA = {
    "source_file": pl.String,
    "row_number": pl.Int32,
    "meterpoint_id": pl.String,
    "interval_start_local": pl.Datetime("us"),
    "interval_start_utc": pl.Datetime("us", "UTC"),
    "reading_date": pl.Date,
    "consumption_kwh": pl.Float64,
}
QUARANTINE_SCHEMA = {
    "source_file": pl.String,
    "row_number": pl.Int32,  # null: the whole file was rejected
    "reading_date": pl.Date,  # null: the row's day cannot be told
    "reason": pl.String,
    "raw": pl.String,
}


class FileRejected(Exception):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class Parsed:
    readings: pl.DataFrame  # READING_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA


def parse_documents(documents: Iterable[tuple[str, bytes]]) -> Parsed:
    """Parse (source name, file bytes) pairs into readings and quarantined rows."""
    batch = _Batch()
    raw_frames: list[pl.DataFrame] = []
    rejected: list[dict] = []
    for source, raw in documents:
        try:
            data, order = _decode(raw)
        except FileRejected as exc:
            rejected.append(_file_reject(source, str(exc)))
            continue
        columns = _transpose(data, order)
        if columns is None:
            frame, rows = _walk_rows(source, data, order)
            raw_frames.append(frame)
            rejected.extend(rows)
        else:
            batch.add(source, *columns)
    try:
        raw_frames.append(batch.frame())
    except TypeError:
        # some value has the wrong JSON type: find which file, and which rows, one by one
        for source, ts, kwh, mp in batch.files():
            try:
                raw_frames.append(_Batch.of(source, ts, kwh, mp).frame())
            except TypeError:
                frame, rows = _walk_rows(source, [list(r) for r in zip(ts, kwh, mp)], (0, 1, 2))
                raw_frames.append(frame)
                rejected.extend(rows)
    readings, row_rejects = type_rows(pl.concat(raw_frames, how="vertical"))
    quarantine = pl.concat([pl.DataFrame(rejected, schema=QUARANTINE_SCHEMA), row_rejects], how="vertical")
    return Parsed(readings=readings, quarantine=quarantine)


class _Batch:
    """The columns of many well-formed files, appended as plain lists and typed at once."""

    def __init__(self):
        self.sources: list[str] = []
        self.starts: list[int] = []  # each file's first row in the lists below
        self.file_index: list[int] = []
        self.row_number: list[int] = []
        self.ts: list = []
        self.kwh: list = []
        self.mp: list = []

    @classmethod
    def of(cls, source: str, ts: list, kwh: list, mp: list) -> "_Batch":
        batch = cls()
        batch.add(source, ts, kwh, mp)
        return batch

    def add(self, source: str, ts: list, kwh: list, mp: list) -> None:
        self.starts.append(len(self.ts))
        self.file_index.extend([len(self.sources)] * len(ts))
        self.row_number.extend(range(1, len(ts) + 1))
        self.sources.append(source)
        self.ts.extend(ts)
        self.kwh.extend(kwh)
        self.mp.extend(mp)

    def files(self):
        """(source, ts, kwh, mp) of each file again, for the slow path."""
        for source, start, end in zip(self.sources, self.starts, [*self.starts[1:], len(self.ts)]):
            yield source, self.ts[start:end], self.kwh[start:end], self.mp[start:end]

    def frame(self) -> pl.DataFrame:
        """RAW_SCHEMA frame; TypeError if a value has the wrong JSON type."""
        if any(type(v) is bool for v in self.kwh):  # JSON true/false would pass as 1.0/0.0
            raise TypeError("boolean consumption_delta")
        file_index = pl.Series(self.file_index, dtype=pl.UInt32)
        return pl.DataFrame(
            {
                "source_file": pl.Series(self.sources, dtype=pl.String).gather(file_index),
                "row_number": pl.Series(self.row_number, dtype=pl.Int32),
                "interval_start": pl.Series(self.ts, dtype=pl.String, strict=True),
                "consumption_kwh": pl.Series(self.kwh, dtype=pl.Float64, strict=True),
                "meterpoint_id": pl.Series(self.mp, dtype=pl.String, strict=True),
            }
        )


def parse_paths(paths: Sequence[tuple[str, Path]]) -> Parsed:
    """Read and parse files; an unreadable file is quarantined, not raised."""
    documents, unreadable = [], []
    for source, path in paths:
        try:
            documents.append((source, path.read_bytes()))
        except OSError as exc:
            unreadable.append(_file_reject(source, f"cannot read file: {exc}"))
    parsed = parse_documents(documents)
    if not unreadable:
        return parsed
    return Parsed(parsed.readings, pl.concat([parsed.quarantine, pl.DataFrame(unreadable, schema=QUARANTINE_SCHEMA)]))


def _decode(raw: bytes) -> tuple[list, tuple[int, int, int]]:
    """The file's data rows, and the positions of COLUMNS within each row."""
    if not raw.strip():
        raise FileRejected("file is empty")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FileRejected(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise FileRejected(f"expected a JSON object, found {type(document).__name__}")
    columns, data = document.get("columns"), document.get("data")
    if not isinstance(columns, list) or sorted(map(str, columns)) != sorted(COLUMNS):
        raise FileRejected(f"columns are {columns!r}, expected {list(COLUMNS)!r}")
    if not isinstance(data, list):
        raise FileRejected('no "data" array')
    return data, tuple(columns.index(name) for name in COLUMNS)


def _transpose(data: list, order: tuple[int, int, int]) -> tuple[list, list, list] | None:
    """Columns of a well-formed data array, or None if some row is not a 3-value list."""
    if not all(type(row) is list for row in data) or (data and set(map(len, data)) != {3}):
        return None
    columns = list(zip(*data)) if data else [(), (), ()]
    return tuple(list(columns[i]) for i in order)


def _walk_rows(source: str, data: list, order: tuple[int, int, int]) -> tuple[pl.DataFrame, list[dict]]:
    """Row by row: rows of the right shape and types, and a reject for each other row."""
    kept: dict[str, list] = {name: [] for name in RAW_SCHEMA}
    rejects = []
    for number, row in enumerate(data, start=1):
        reason = _row_shape_problem(row, order)
        if reason:
            rejects.append(_row_reject(source, number, row, reason))
            continue
        ts, kwh, mp = (row[i] for i in order)
        kept["source_file"].append(source)
        kept["row_number"].append(number)
        kept["interval_start"].append(ts)
        kept["consumption_kwh"].append(float(kwh) if kwh is not None else None)
        kept["meterpoint_id"].append(mp)
    return pl.DataFrame(kept, schema=RAW_SCHEMA), rejects


def _row_shape_problem(row, order) -> str | None:
    if not isinstance(row, list):
        return f"row is a {type(row).__name__}, expected a list of 3 values"
    if len(row) != 3:
        return f"row has {len(row)} values, expected 3"
    ts, kwh, mp = (row[i] for i in order)
    if ts is not None and not isinstance(ts, str):
        return f"interval_start is not text: {ts!r}"
    if kwh is not None and (isinstance(kwh, bool) or not isinstance(kwh, (int, float))):
        return f"consumption_delta is not a number: {kwh!r}"
    if mp is not None and not isinstance(mp, str):
        return f"meterpoint_id is not text: {mp!r}"
    return None


def type_rows(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, validated readings (READING_SCHEMA) and quarantined rows (QUARANTINE_SCHEMA)."""
    local = pl.col("interval_start").str.to_datetime(TIMESTAMP_FORMAT, time_unit="us", strict=False)
    frame = with_utc(
        raw.with_columns(interval_start_local=local),
        "interval_start_local",
        ["source_file", "meterpoint_id"],
        "interval_start_utc",
    ).with_columns(
        # the day of a row whose time is unusable, so its rejection is counted on that day
        reading_date=pl.coalesce(
            pl.col("interval_start_local").dt.date(),
            pl.col("interval_start").str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        ),
    )
    t = pl.col("interval_start_local")
    reason = (
        pl.when(pl.col("meterpoint_id").is_null())
        .then(pl.lit("meterpoint_id is missing"))
        .when(pl.col("meterpoint_id").str.strip_chars() == "")
        .then(pl.lit("meterpoint_id is empty"))
        .when(pl.col("interval_start").is_null())
        .then(pl.lit("interval_start is missing"))
        .when(t.is_null())
        .then(pl.lit("interval_start is not a YYYY-MM-DD HH:MM:SS time"))
        .when(~t.dt.minute().is_in([0, 30]) | (t.dt.second() != 0) | (t.dt.microsecond() != 0))
        .then(pl.lit("interval_start is not on a half-hour boundary"))
        .when(pl.col("interval_start_utc").is_null())
        .then(pl.lit("interval_start does not exist in Europe/London (clocks go forward)"))
        .when(pl.col("consumption_kwh").is_null())
        .then(pl.lit("consumption_delta is missing"))
        .when(~pl.col("consumption_kwh").is_finite())
        .then(pl.lit("consumption_delta is not finite"))
        .when(pl.col("consumption_kwh") < 0)
        .then(pl.lit("consumption_delta is negative"))
    )
    frame = frame.with_columns(reason=reason)
    bad = frame.filter(pl.col("reason").is_not_null())
    readings = frame.filter(pl.col("reason").is_null()).select(list(READING_SCHEMA))
    quarantine = bad.select(
        "source_file",
        "row_number",
        "reading_date",
        "reason",
        raw=pl.struct(
            pl.col("interval_start"),
            pl.col("consumption_kwh").alias("consumption_delta"),
            pl.col("meterpoint_id"),
        ).struct.json_encode(),
    )
    return readings, quarantine


def _file_reject(source: str, reason: str) -> dict:
    return {"source_file": source, "row_number": None, "reading_date": None, "reason": reason, "raw": None}


def _row_reject(source: str, number: int, row, reason: str) -> dict:
    text = orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    date = _date_prefix(row)
    return {"source_file": source, "row_number": number, "reading_date": date, "reason": reason, "raw": text}


def _date_prefix(row) -> date | None:
    """The day a malformed row claims, if any of its values starts like a date."""
    for value in row if isinstance(row, list) else ():
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None
