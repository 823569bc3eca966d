"""Landing files (pandas "split" JSON) -> typed reading rows and quarantined rows.

Pure functions: bytes in, Polars frames out; no Dagster, no lake. Each file becomes rows of one
raw frame (RAW_SCHEMA): the three values as delivered, or the problem that stops a row being
read. Typing and validation then run once over the whole batch, and the costly parts (times,
time zones) once per distinct timestamp rather than once per row.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import polars as pl

from octo_assets.readings.clock import resolve_repeated, to_utc

COLUMNS = ("interval_start", "consumption_delta", "meterpoint_id")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
KWH = pl.Decimal(18, 3)  # exact: the feed sends kWh to three decimals, and sums must not drift
KWH_LIMIT = Decimal(10) ** 15  # the largest magnitude DECIMAL(18, 3) holds, exclusive

RAW_SCHEMA = {
    "file": pl.UInt32,  # position of the file in the batch
    "row_number": pl.Int32,  # 1-based position in the file's "data" array
    "interval_start": pl.Categorical,  # the text as delivered; null if missing or not text
    "consumption_kwh": KWH,
    "meterpoint_id": pl.Categorical,
    "kwh_problem": pl.String,  # why consumption_delta is not a usable kWh value
    "problem": pl.String,  # why the row cannot be read at all; checked before anything else
    "raw": pl.String,  # the row as delivered (JSON), where one of the problems is set
}
READING_SCHEMA = {
    "source_file": pl.String,
    "row_number": pl.Int32,
    "meterpoint_id": pl.String,
    "interval_start_local": pl.Datetime("us"),
    "interval_start_utc": pl.Datetime("us", "UTC"),
    "reading_date": pl.Date,
    "consumption_kwh": KWH,
}
QUARANTINE_SCHEMA = {
    "source_file": pl.String,
    "row_number": pl.Int32,  # null: the whole file was rejected
    "reading_date": pl.Date,  # null: the row has no valid interval_start
    "reason": pl.String,
    "raw": pl.String,
}
BAD_TIMESTAMP = "interval_start is not a YYYY-MM-DD HH:MM:SS time"
MORE_DECIMALS = "consumption_delta has more than 3 decimal places"


class FileRejected(Exception):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class Parsed:
    readings: pl.DataFrame  # READING_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA


def parse_documents(documents: Iterable[tuple[str, bytes]]) -> Parsed:
    """Parse (source name, file bytes) pairs into readings and quarantined rows."""
    sources, frames, rejected = [], [], []
    for source, raw in documents:
        try:
            frames.append(_rows_of(len(sources), raw))
        except FileRejected as exc:
            rejected.append(_file_reject(source, str(exc)))
        sources.append(source)
    readings, row_rejects = type_rows(_concat_raw(frames), sources)
    quarantine = pl.concat([pl.DataFrame(rejected, schema=QUARANTINE_SCHEMA), row_rejects], how="vertical")
    return Parsed(readings=readings, quarantine=quarantine)


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


# -- one file, row by row ----------------------------------------------------------------------


def _rows_of(file: int, raw: bytes) -> pl.DataFrame:
    """RAW_SCHEMA rows of one file, read with orjson; FileRejected if it cannot be read at all."""
    data, order = _decode(raw)
    columns: dict[str, list] = {name: [] for name in RAW_SCHEMA if name not in ("file", "row_number")}
    for row in data:
        for name, value in zip(columns, _raw_row(row, order)):
            columns[name].append(value)
    return pl.DataFrame(
        {
            "file": pl.Series([file] * len(data), dtype=pl.UInt32),
            "row_number": pl.int_range(1, len(data) + 1, dtype=pl.Int32, eager=True),
            **{name: pl.Series(values, dtype=pl.String) for name, values in columns.items()},
        }
    ).cast(RAW_SCHEMA)


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


def _raw_row(row, order: tuple[int, int, int]) -> tuple:
    """(interval_start, kWh, meterpoint_id, kwh_problem, problem, raw) of one decoded row, as text."""
    # a malformed row still names its day, if it has a timestamp where interval_start belongs
    has_start = isinstance(row, list) and len(row) > order[0] and isinstance(row[order[0]], str)
    start = row[order[0]] if has_start else None
    problem = _row_shape_problem(row, order)
    if problem:
        return start, None, None, None, problem, _dumps(row)
    kwh, kwh_problem = _kwh(row[order[1]])
    return start, kwh, row[order[2]], kwh_problem, None, _dumps(row) if kwh_problem else None


def _kwh(value: int | float | None) -> tuple[str | None, str | None]:
    """A JSON number as exact kWh text (for a DECIMAL(18, 3) cast), or why it cannot be one.

    orjson gives floats; a float's repr is the shortest decimal that reads back as it, so a
    number sent with up to 3 decimals (and at most 15 digits) comes back exactly as sent.
    """
    if value is None:
        return None, None
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not exact.is_finite():
        return None, "consumption_delta is not finite"
    if exact.as_tuple().exponent < -3:
        return None, MORE_DECIMALS
    if abs(exact) >= KWH_LIMIT:
        return None, "consumption_delta is too large"
    return str(exact), None


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


def _dumps(row) -> str:
    return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _concat_raw(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=RAW_SCHEMA)


# -- typing and validation, shared by every file -----------------------------------------------


def timestamps(texts: pl.Series) -> pl.DataFrame:
    """Per distinct interval_start text: its wall-clock time, day, UTC instants and reason.

    A text is a time only if it is exactly `YYYY-MM-DD HH:MM:SS`, a real date and time. Its
    `reading_date` is null otherwise: the one definition of the day a row belongs to.
    """
    text = pl.col("interval_start").cast(pl.String)
    parsed = text.str.to_datetime(TIMESTAMP_FORMAT, time_unit="us", strict=False)
    # strptime also takes 2021-1-2, +2021 and 23:59:60; the time's own spelling must be the text
    valid = (parsed.dt.strftime(TIMESTAMP_FORMAT) == text) & (parsed.dt.year() >= 1)
    local = pl.when(valid).then(parsed)
    frame = (
        texts.unique()
        .drop_nulls()
        .to_frame("interval_start")
        .with_columns(interval_start_local=local)
        .with_columns(
            reading_date=pl.col("interval_start_local").dt.date(),
            utc_earlier=to_utc(pl.col("interval_start_local")),
            utc_later=to_utc(pl.col("interval_start_local"), "latest"),
        )
    )
    t = pl.col("interval_start_local")
    reason = (
        pl.when(t.is_null())
        .then(pl.lit(BAD_TIMESTAMP))
        .when(~t.dt.minute().is_in([0, 30]) | (t.dt.second() != 0))
        .then(pl.lit("interval_start is not on a half-hour boundary"))
        .when(pl.col("utc_earlier").is_null())
        .then(pl.lit("interval_start does not exist in Europe/London (clocks go forward)"))
    )
    return frame.with_columns(time_problem=reason)


def type_rows(raw: pl.DataFrame, sources: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, validated readings (READING_SCHEMA) and quarantined rows (QUARANTINE_SCHEMA) of a
    RAW_SCHEMA frame in file order; `sources` names the files."""
    frame = raw.join(timestamps(raw["interval_start"]), on="interval_start", how="left", maintain_order="left")
    frame = resolve_repeated(frame, "utc_earlier", "utc_later", ["file", "meterpoint_id", "interval_start"], "utc")
    frame = frame.with_columns(reason=_reason(raw["meterpoint_id"]))
    names = pl.Series(sources, dtype=pl.String)
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame if bad.is_empty() else frame.filter(pl.col("reason").is_null())
    readings = good.select(
        source_file=names.gather(good["file"]),
        row_number="row_number",
        meterpoint_id=pl.col("meterpoint_id").cast(pl.String),
        interval_start_local="interval_start_local",
        interval_start_utc="utc",
        reading_date="reading_date",
        consumption_kwh="consumption_kwh",
    )
    as_delivered = pl.struct(
        pl.col("interval_start").cast(pl.String),
        pl.col("consumption_kwh").cast(pl.Float64).alias("consumption_delta"),  # a JSON number, as sent
        pl.col("meterpoint_id").cast(pl.String),
    ).struct.json_encode()
    quarantine = bad.select(
        source_file=names.gather(bad["file"]),
        row_number="row_number",
        reading_date="reading_date",
        reason="reason",
        raw=pl.coalesce("raw", as_delivered),
    )
    return readings, quarantine


def _reason(meterpoint_ids: pl.Series) -> pl.Expr:
    """Why a row (joined with its timestamp) is quarantined; null if it is a good reading."""
    distinct = meterpoint_ids.unique().drop_nulls()
    blank = distinct.filter(distinct.cast(pl.String).str.strip_chars() == "")
    mp, kwh = pl.col("meterpoint_id"), pl.col("consumption_kwh")
    return (
        pl.when(pl.col("problem").is_not_null())
        .then(pl.col("problem"))
        .when(mp.is_null())
        .then(pl.lit("meterpoint_id is missing"))
        .when(mp.is_in(blank.implode()) if blank.len() else pl.lit(False))
        .then(pl.lit("meterpoint_id is empty"))
        .when(pl.col("interval_start").is_null())
        .then(pl.lit("interval_start is missing"))
        .when(pl.col("time_problem").is_not_null())
        .then(pl.col("time_problem"))
        .when(kwh.is_null())
        .then(pl.coalesce(pl.col("kwh_problem"), pl.lit("consumption_delta is missing")))
        .when(kwh < 0)
        .then(pl.lit("consumption_delta is negative"))
    )


def _file_reject(source: str, reason: str) -> dict:
    return {"source_file": source, "row_number": None, "reading_date": None, "reason": reason, "raw": None}
