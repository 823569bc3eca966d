"""Landing files (pandas "split" JSON) -> typed reading rows and quarantined rows.

Pure functions: bytes in, Polars frames out; no Dagster, no lake. Each file becomes rows of one
raw frame (RAW_SCHEMA): the three values as delivered, or the problem that stops a row being
read. Typing and validation then run once over the whole batch, and the costly parts (times,
time zones, kWh text) once per distinct value rather than once per row.

Two ways in, one result. Files in the feed's exact compact layout (the fast path) are read a
whole batch at a time by one CSV read; every other file (pretty-printed, escaped strings,
other column order, any value the fast path could misread) is read with orjson row by row.

What is a readings file is decided by its name alone, in any case: `*.json` is read as JSON, and
`*.json.gz` as the JSON its gzip stream holds (a common way to deliver JSON; the content hash
stays that of the bytes stored). A file is read whole into memory (no incremental parsing; a
`.json.gz` expanding past MAX_EXPANDED_BYTES is rejected rather than read). Any other name is not
a readings file (NOT_READINGS): the landing area names it, it is never parsed (readings.stage).
"""

import functools
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import polars as pl

from octo_assets.domain import FIRST_DAY, LOCAL_TZ
from octo_assets.readings.clock import after_2099, resolve_repeated, to_utc

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
READ_SUFFIXES = (".json", ".json.gz")  # compared lower-cased: .JSON and .Json.GZ are read too
NOT_READINGS = "not a readings file: only .json and .json.gz are read"
GZIP_MAGIC = b"\x1f\x8b"
# a .json.gz file expanding to more than this is rejected, not read: a file is parsed whole in
# memory, and a readings file is far smaller (a day of a million meterpoints, in one file: ~2 GB
# would be; the feed sends a file per meterpoint, a few KB)
MAX_EXPANDED_BYTES = 1 << 30
# a reading's day must be a partition's: not before the first one, and not more than a day after
# its file was first seen (a half hour is measured once it has begun; a day of slack for a
# sender's clock). OUT_OF_RANGE starts the reason of each such row (readings.stage)
FIRST_PARTITION = date.fromisoformat(FIRST_DAY)
OUT_OF_RANGE = "reading dated"


def is_readings_file(path: str) -> bool:
    """A landing file the pipeline reads: named `*.json` or `*.json.gz`, in any case."""
    return path.lower().endswith(READ_SUFFIXES)


def readings_file(path: pl.Expr) -> pl.Expr:
    """is_readings_file, of a column of paths (no lower-cased copy of a million paths made)."""
    return path.str.contains(r"(?i)\.json(\.gz)?$")


def gzip_file(path: pl.Expr) -> pl.Expr:
    """is_gzip_file, of a column of paths."""
    return path.str.contains(r"(?i)\.gz$")


def is_gzip_file(path: str) -> bool:
    """A readings file read through gzip: named `*.json.gz`, in any case."""
    return path.lower().endswith(".gz")


def latest_day(first_seen_ns: int | None = None) -> date:
    """The latest day a file first seen at `first_seen_ns` (None: now) can hold a reading of: the
    Europe/London day after it. A row dated later cannot have been measured yet (readings.stage
    quarantines it); a row of that day or before it is a reading of its day (today's and
    tomorrow's are built once their day has ended)."""
    seen = datetime.now(ZoneInfo(LOCAL_TZ)) if first_seen_ns is None else _local(first_seen_ns)
    return seen.date() + timedelta(days=1)


def latest_days(first_seen_ns: Sequence[int]) -> pl.Series:
    """latest_day of each first sight, column-wise (a task's thousands of files)."""
    seen = pl.from_epoch(pl.Series("latest", first_seen_ns, dtype=pl.Int64), time_unit="ns")
    return seen.dt.replace_time_zone("UTC").dt.convert_time_zone(LOCAL_TZ).dt.date() + timedelta(days=1)


def _local(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, ZoneInfo(LOCAL_TZ))


def out_of_range_reason(day: pl.Expr, latest: pl.Expr) -> pl.Expr:
    """Why a row of `day` is counted on no day of its own (null: it is), `latest` being its file's
    latest_day."""
    return (
        pl.when(day < FIRST_PARTITION)
        .then(pl.format(f"{OUT_OF_RANGE} {{}}, before the first partition {FIRST_DAY}", day))
        .when(day > latest)
        .then(
            pl.format(
                f"{OUT_OF_RANGE} {{}}, more than a day after its file was first seen ({{}}): "
                "a half hour cannot be read before it has begun",
                day,
                latest - pl.duration(days=1),
            )
        )
    )


def in_range(day: date, latest: date) -> bool:
    """out_of_range_reason's rule for one day: True if the day is counted as its own."""
    return FIRST_PARTITION <= day <= latest


class FileRejected(Exception):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class Parsed:
    readings: pl.DataFrame  # READING_SCHEMA
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA


def parse_documents(documents: Iterable[tuple[str, bytes]], fast: bool = True) -> Parsed:
    """Parse (source name, file bytes) pairs into readings and quarantined rows.

    `fast=False` reads every file with orjson: the reference the fast path is tested against.
    """
    documents, broken = _opened(documents)
    sources = [source for source, _ in documents]
    parts, slow = _fast_rows(documents) if fast else ([], range(len(documents)))
    rows, rejected = _slow_rows(documents, slow, broken)
    # each part is typed on its own: joined to one-chunk tables, a two-chunk frame would be realigned
    # by every expression (files never span parts, so the clocks-back ranking is unaffected)
    typed = [type_rows(part, sources) for part in [*parts, rows] if part.height] or [type_rows(rows, sources)]
    quarantine = [pl.DataFrame(rejected, schema=QUARANTINE_SCHEMA), *(rejects for _, rejects in typed)]
    return Parsed(pl.concat([readings for readings, _ in typed]), pl.concat(quarantine, how="vertical"))


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


def document_days(documents: Iterable[tuple[str, bytes]]) -> dict[str, list[date]]:
    """The sorted distinct days (reading_date) of each document's rows, loaded or quarantined,
    as parse_documents gives them: [] for a file rejected whole or without a valid time.

    The same routing, reading and `timestamps` as the parse, so the same days by construction;
    but the fast path reads no meterpoint ids and converts no kWh, and nothing is typed
    but each distinct timestamp text.
    """
    documents, broken = _opened(documents)
    fields, _, slow = _fast_fields(documents, full=False)
    rows, _ = _slow_rows(documents, slow, broken)
    starts = pl.concat([fields.select("file", "interval_start"), rows.select("file", "interval_start")])
    days = timestamps(starts["interval_start"])
    day = pl.col("interval_start").replace_strict(days["interval_start"], days["reading_date"], default=None)
    # a file's rows come a day at a time: keep the first row of each run before the costlier unique
    run_starts = (pl.col("file") != pl.col("file").shift()) | (pl.col("day") != pl.col("day").shift())
    per_file = (
        starts.select("file", day=day)
        .filter(pl.col("day").is_not_null() & run_starts.fill_null(True))
        .unique()
        .group_by("file")
        .agg(pl.col("day"))
    )
    found: dict[str, set[date]] = {source: set() for source, _ in documents}
    for file, dates in per_file.iter_rows():
        found[documents[file][0]].update(dates)  # a name given twice: the days of both
    return {source: sorted(dates) for source, dates in found.items()}


# -- what a file holds: its bytes, or the JSON its gzip stream holds ----------------------------


def _opened(documents: Iterable[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], dict[int, str]]:
    """The documents as JSON text (a `.json.gz` one decompressed), and why each of those that
    cannot be decompressed is rejected whole (by position; its text is then empty)."""
    opened, broken = [], {}
    for position, (source, raw) in enumerate(documents):
        if is_gzip_file(source):
            try:
                raw = gunzip(raw)
            except FileRejected as exc:
                broken[position], raw = str(exc), b""
        opened.append((source, raw))
    return opened, broken


def gunzip(raw: bytes, limit: int | None = None) -> bytes:
    """The content of a gzip file (every member, as `gzip -d` gives it), at most `limit` bytes
    (default MAX_EXPANDED_BYTES), or FileRejected saying why it cannot be had."""
    limit = MAX_EXPANDED_BYTES if limit is None else limit
    if not raw:
        raise FileRejected("file is empty")
    if not raw.startswith(GZIP_MAGIC):
        raise FileRejected(f"not gzip data (named .gz, it starts with {raw[:8]!r})")
    parts, size, rest = [], 0, raw
    while rest:
        stream, data = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), rest  # gzip: header, CRC and size checked
        while data and not stream.eof:
            try:
                part = stream.decompress(data, limit - size + 1)
            except zlib.error as exc:
                raise FileRejected(f"corrupt gzip data: {exc}") from None
            size += len(part)
            if size > limit:
                raise FileRejected(f"larger than {limit:,} bytes once decompressed: too large to be a readings file")
            parts.append(part)
            data = stream.unconsumed_tail
        if not stream.eof:
            raise FileRejected(f"gzip data is truncated: the file ends mid-stream, after {len(raw):,} bytes")
        rest = stream.unused_data
        if rest and not rest.startswith(GZIP_MAGIC):  # another member follows, or padding
            if rest.strip(b"\0"):
                raise FileRejected(f"{len(rest):,} bytes after the end of the gzip data are not gzip data")
            rest = b""
    return b"".join(parts)


# -- the fast path: a batch of files in the feed's exact compact layout, in one CSV read ---------

HEAD = b'{"columns":["interval_start","consumption_delta","meterpoint_id"],"data":['
TAIL = b"]}"
# What strings and numbers may hold on the fast path: printable ASCII but JSON's structure and
# escape characters. Deleting these bytes from a file must leave HEAD's skeleton, then rows
# `["",,""]` joined by commas, then TAIL's: so every string is plain text (no escapes, no
# control characters, no commas or brackets) and every row has the brackets, quotes and commas
# of [string, token, string]. What the CSV read sees between them is checked row by row.
_PLAIN = bytes(b for b in range(0x20, 0x7F) if b not in b'"\\,[]')
_HEAD_SKELETON = HEAD.translate(None, _PLAIN)
_ROW_SKELETON = b'["",,""]'
# read with `"` as the separator and `]` as the line end, a row `,["ts",kwh,"id"` is five fields
_FIELDS = {
    "open": pl.String,  # ,[
    "interval_start": pl.Categorical,
    "kwh": pl.Categorical,  # ,number,
    "meterpoint_id": pl.Categorical,
    "close": pl.String,  # nothing
}
# consumption_delta as the fast path takes it: digits the float path reads back unchanged
# (at most 15 significant digits), at most 3 decimals, no sign; the rest go the slow way
_PLAIN_KWH = r"^,(0|[1-9][0-9]{0,11})(\.[0-9]{1,3})?,$"


def _fast_rows(documents: list[tuple[str, bytes]]) -> tuple[list[pl.DataFrame], list[int]]:
    """RAW_SCHEMA rows of the files in the fast layout, and the positions of the other files."""
    fields, numbers, slow = _fast_fields(documents)
    if fields.is_empty():
        return [], slow
    kwh = numbers.select("kwh", consumption_kwh=pl.col("kwh").cast(pl.String).str.strip_chars(",").cast(KWH))
    frame = fields.join(kwh, on="kwh", how="left", maintain_order="left").select(
        "file",
        "row_number",
        "interval_start",
        "consumption_kwh",
        "meterpoint_id",
        kwh_problem=pl.lit(None, pl.String),
        problem=pl.lit(None, pl.String),
        raw=pl.lit(None, pl.String),
    )
    return [frame], slow


def _fast_fields(documents: list[tuple[str, bytes]], full: bool = True) -> tuple[pl.DataFrame, pl.DataFrame, list[int]]:
    """(file, row_number, interval_start, kwh, meterpoint_id) of every row of the files that are
    exactly in the fast layout, their distinct numbers, and the positions of the other files.
    `full=False` leaves row numbers and meterpoint ids unread (null): the days of a file need neither."""
    layout = [_rows_in_layout(raw) for _, raw in documents]
    fast = [file for file, rows in enumerate(layout) if rows]
    slow = [file for file, rows in enumerate(layout) if not rows]
    fields = _read_fields(documents, fast, [layout[file] for file in fast], full) if fast else None
    if fields is None:  # no fast file; or the CSV read disagrees with the skeleton: be slow, not wrong
        return _NO_FIELDS, _NO_FIELDS.select("kwh"), list(range(len(documents))) if fast else slow
    numbers = fields.select(pl.col("kwh").unique())
    plain = numbers["kwh"].cast(pl.String).str.contains(_PLAIN_KWH)
    exact = ((fields["open"] == ",[") & (fields["close"] == "")).fill_null(False)
    if not (plain.all() and exact.all()):  # a row not exactly ["ts",number,"id"]: its file goes the slow way
        odd = ~exact | fields["kwh"].is_in(numbers.filter(~plain)["kwh"].implode())
        odd_files = fields.filter(odd)["file"].unique()
        fields = fields.filter(~pl.col("file").is_in(odd_files.implode()))
        numbers, slow = numbers.filter(plain), sorted([*slow, *odd_files.to_list()])
    return fields.drop("open", "close"), numbers, slow


def _rows_in_layout(raw: bytes) -> int:
    """The number of rows of a file in the fast layout; 0 if it is not in it (or has no rows)."""
    if not (raw.startswith(_FIRST) and raw.endswith(_LAST)):
        return 0
    skeleton = raw.translate(None, _PLAIN)  # starts with HEAD's skeleton, as raw starts with HEAD
    rows, extra = divmod(len(skeleton) - len(_HEAD_SKELETON), len(_ROW_SKELETON) + 1)
    return rows if rows and not extra and skeleton.endswith(_rows_skeleton(rows)) else 0


_FIRST, _LAST = HEAD + b'["', b'"]' + TAIL  # the data array starts with a row and ends with an id


@functools.lru_cache(maxsize=1024)  # files of a feed have few distinct row counts
def _rows_skeleton(rows: int) -> bytes:
    """n rows joined by commas, then TAIL's skeleton "]": 9n bytes."""
    return b",".join([_ROW_SKELETON] * rows) + b"]"


def _read_fields(documents, files: list[int], rows: list[int], full: bool) -> pl.DataFrame | None:
    """The five fields of each row of `files`, with its file and row number, in file order."""
    # each file's rows, `["ts",kwh,"id"]` joined by commas, after a comma: every line is ,["ts",kwh,"id"
    buffer = b",".join([b"", *(memoryview(documents[file][1])[len(HEAD) : -len(TAIL)] for file in files)])
    try:
        fields = pl.read_csv(
            buffer,
            has_header=False,
            separator='"',
            quote_char=None,
            eol_char="]",
            schema=_FIELDS,
            columns=[0, 1, 2, 3, 4] if full else [0, 1, 2, 4],
            empty_string_is_null=False,
        )
    except pl.exceptions.PolarsError:
        return None
    sizes = pl.DataFrame({"file": files, "rows": rows}, schema={"file": pl.UInt32, "rows": pl.Int32})
    row_number = pl.int_ranges(1, pl.col("rows") + 1, dtype=pl.Int32).explode() if full else None
    numbers = sizes.select(pl.col("file").repeat_by("rows").explode(), row_number=row_number)
    if numbers.height != fields.height:
        return None
    # a categorical CSV field reads "" as null; here every such field was a string, maybe empty
    empty = pl.lit("", pl.Categorical)
    meterpoint_id = pl.col("meterpoint_id").fill_null(empty) if full else pl.lit(None, pl.Categorical)
    return numbers.hstack(fields).with_columns(pl.col("interval_start").fill_null(empty), meterpoint_id=meterpoint_id)


_NO_FIELDS = pl.DataFrame(schema={"file": pl.UInt32, "row_number": pl.Int32, **_FIELDS}).drop("open", "close")


# -- one file, row by row ----------------------------------------------------------------------


def _slow_rows(
    documents: list[tuple[str, bytes]], files: Iterable[int], broken: dict[int, str] | None = None
) -> tuple[pl.DataFrame, list[dict]]:
    """RAW_SCHEMA rows of `files`, read with orjson, and a reject for each file that cannot be read
    (`broken`: the reasons of those that could not be opened, by position)."""
    rows, rejected = [], []
    for file in files:
        source, raw = documents[file]
        try:
            if broken and file in broken:
                raise FileRejected(broken[file])
            data, order = _decode(raw)
        except FileRejected as exc:
            rejected.append(_file_reject(source, str(exc)))
            continue
        rows.extend((file, number, *_raw_row(row, order)) for number, row in enumerate(data, start=1))
    columns = list(zip(*rows)) if rows else [()] * len(RAW_SCHEMA)
    # everything but the positions as text: kWh is the exact decimal's, the categoricals' their own
    types = {name: pl.String for name in RAW_SCHEMA} | {"file": pl.UInt32, "row_number": pl.Int32}
    built = {name: pl.Series(values, dtype=types[name]) for name, values in zip(RAW_SCHEMA, columns)}
    return pl.DataFrame(built).cast(RAW_SCHEMA), rejected


def _decode(raw: bytes) -> tuple[list, tuple[int, int, int]]:
    """The file's data rows, and the positions of COLUMNS within each row."""
    if not raw.strip():
        raise FileRejected("file is empty")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        hint = ": the file is gzip data, name it .json.gz to have it read" if raw.startswith(GZIP_MAGIC) else ""
        raise FileRejected(f"invalid JSON{hint}: {exc}") from None
    if _may_hold_a_long_number(raw):  # the same document (orjson found it valid), numbers as sent
        document = json.loads(raw, parse_float=Decimal, parse_int=_json_int)
    if not isinstance(document, dict):
        raise FileRejected(f"expected a JSON object, found {type(document).__name__}")
    columns, data = document.get("columns"), document.get("data")
    if not isinstance(columns, list) or sorted(map(str, columns)) != sorted(COLUMNS):
        raise FileRejected(f"columns are {columns!r}, expected {list(COLUMNS)!r}")
    if not isinstance(data, list):
        raise FileRejected('no "data" array')
    return data, tuple(columns.index(name) for name in COLUMNS)


def _may_hold_a_long_number(raw: bytes) -> bool:
    """orjson reads a number as a double, which holds one of up to 15 digits as sent, and none
    below about 1e-324 (1e-400 reads as 0): a file with 16 digits and dots in a row or a 3-digit
    negative exponent (or a string that looks so, rarely) is read again, its numbers as decimals."""
    shape = raw.translate(_NUMBER_SHAPE)
    return b"0" * 16 in shape or b"e-000" in shape


# digits and "." as "0", "e" and "E" as "e", "-" as itself, anything else as a space
_NUMBER_SHAPE = b"".join(
    b"0" if c in b"0123456789." else b"e" if c in b"eE" else b"-" if c == ord("-") else b" " for c in range(256)
)


def _json_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= 18 else Decimal(text)  # orjson writes no int past 64 bits


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


@functools.lru_cache(maxsize=2**16)  # a feed repeats few values; 1 == 1.0 here, rightly
def _kwh(value: int | float | Decimal | None) -> tuple[str | None, str | None]:
    """A JSON number as exact kWh text (for a DECIMAL(18, 3) cast), or why it cannot be one.

    orjson gives floats; a float's repr is the shortest decimal that reads back as it, so a
    number sent with up to 3 decimals (and at most 15 digits) comes back exactly as sent.
    Longer numbers come as the decimals sent (see _may_hold_a_long_number).
    """
    if value is None:
        return None, None
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        return None, "consumption_delta is not finite"
    if abs(exact) >= KWH_LIMIT:
        return None, "consumption_delta is too large"
    if exact != round(exact, 3):  # by value: a decimal sent as 0.1000 is 0.1
        return None, MORE_DECIMALS
    return str(exact), None


def _row_shape_problem(row, order) -> str | None:
    if not isinstance(row, list):
        return f"row is a {type(row).__name__}, expected a list of 3 values"
    if len(row) != 3:
        return f"row has {len(row)} values, expected 3"
    ts, kwh, mp = (row[i] for i in order)
    if ts is not None and not isinstance(ts, str):
        return f"interval_start is not text: {ts!r}"
    if kwh is not None and (isinstance(kwh, bool) or not isinstance(kwh, (int, float, Decimal))):
        return f"consumption_delta is not a number: {kwh!r}"
    if mp is not None and not isinstance(mp, str):
        return f"meterpoint_id is not text: {mp!r}"
    return None


def _dumps(row) -> str:
    return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS, default=_as_json).decode()


def _as_json(value) -> orjson.Fragment | str:
    return orjson.Fragment(str(value)) if isinstance(value, Decimal) else str(value)  # a number stays one


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
        .pipe(after_2099, "interval_start_local", "utc_earlier", "utc_later")
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
