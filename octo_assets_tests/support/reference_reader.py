"""An independent reader of landing files, in the plainest code: the standard library's `json`,
`decimal.Decimal`, `datetime.strptime` and `zoneinfo`, one file and one row at a time.

It shares nothing with `octo_assets.readings.parse` but the rules, taken from the design
(docs/design.md, the README's "What the data means") and parse.py's documented behaviour:

- A file is rejected whole if it is empty (nothing but whitespace), not JSON, not a JSON object,
  has no "columns" list naming exactly interval_start, consumption_delta and meterpoint_id (in
  any order), or no "data" array. Other keys are ignored. A "data" array may be empty.
- Each element of "data" is a row, numbered from 1. A row is quarantined, the first reason
  winning, if it is not a list of 3 values; if a value is of the wrong type (interval_start and
  meterpoint_id text, consumption_delta a number; each may be null); if meterpoint_id is null or
  blank; if interval_start is null, not exactly `YYYY-MM-DD HH:MM:SS` (a real date and time),
  not on a half hour, or a Europe/London wall-clock time that does not exist (clocks forward);
  if consumption_delta is null, not a multiple of 0.001 below 10**15 in magnitude (the lake's
  DECIMAL(18, 3)), or negative. Every other row is loaded, its kWh the number's exact value.
- A quarantined row's day is its interval_start's date where that is a valid time (whatever
  else is wrong, even the row's length), looked up where interval_start belongs in the row.
- Clocks back: a wall-clock time that happens twice is the earlier instant for a meterpoint's
  first row at that time in the file (counting every row with 3 well-typed values, loaded or
  not), the later instant for its second and later rows.

Where the standard library's `json` and orjson (the product's parser) differ, the reference
does what the product must do, which is what RFC 8259 calls JSON:

- `NaN`, `Infinity`, `-Infinity`: not JSON; `json` takes them, the reference rejects the file.
- A byte order mark: `json.loads` takes one on bytes (it guesses the encoding, UTF-16 and
  UTF-32 too); the reference decodes strict UTF-8 itself, so a BOM or any other encoding is
  invalid JSON (RFC 8259 section 8.1: JSON text exchanged between systems is UTF-8, no BOM).
- Lone surrogates (`"\\ud800"`): `json` makes a Python string no UTF-8 column can hold; the
  reference rejects the file as invalid JSON.
- Numbers: `json` reads a float as a binary double; the reference reads every number as the
  exact decimal it spells (0.1000 is 0.1; 12345678901234.567 is that, not the nearest double;
  1e-400 is not zero). A number too large for a double (`1e400`, a 400-digit integer) makes the
  file invalid JSON, as in orjson (RFC 8259 section 9 lets a parser limit the range of numbers;
  the lake could not hold it anyway).
- Integers: `json` reads any size (past 4,300 digits it raises); here they are exact decimals
  too, so an integer of any size is just a number, too large or not.
- Duplicate keys: both keep the last; so does the reference.
- Nesting deeper than the interpreter's recursion limit (orjson: 1,024 levels): invalid JSON.
  The generated files never nest that deep.
- "Blank" is made of the 25 Unicode White_Space characters only; Python's `str.isspace` also
  counts the four information separators U+001C-U+001F, which are not whitespace in Unicode
  (nor in the product's Polars).
"""

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

NAMES = ("interval_start", "consumption_delta", "meterpoint_id")
LONDON = ZoneInfo("Europe/London")
# Unicode's White_Space property (PropList.txt)
WHITE_SPACE = frozenset(
    [*map(chr, range(0x09, 0x0E)), " ", "\x85", "\xa0", "\u1680", *map(chr, range(0x2000, 0x200B))]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
)
KWH_LIMIT = Decimal(10) ** 15


@dataclass(frozen=True)
class Loaded:
    source_file: str
    row_number: int
    meterpoint_id: str
    interval_start_local: datetime  # naive wall clock
    interval_start_utc: datetime  # naive UTC
    reading_date: date
    consumption_kwh: Decimal


@dataclass(frozen=True)
class Quarantined:
    source_file: str
    row_number: int
    reading_date: date | None
    reason: str  # a class, one of ROW_REASONS


@dataclass
class Read:
    loaded: list[Loaded] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source_file, a FILE_REASONS class)


FILE_REASONS = ("empty", "invalid json", "not an object", "columns", "no data")
ROW_REASONS = (
    "shape",  # not a list of 3 values
    "type",  # a value of the wrong type
    "meterpoint missing",
    "meterpoint blank",
    "time missing",
    "time not a time",
    "time not on a half hour",
    "time does not exist",
    "kwh missing",
    "kwh not a DECIMAL(18, 3)",
    "kwh negative",
)


class Rejected(Exception):
    pass


def read(documents) -> Read:
    result = Read()
    for source, raw in documents:
        try:
            data, position = decode(raw)
        except Rejected as exc:
            result.rejected.append((source, str(exc)))
            continue
        read_rows(source, data, position, result)
    return result


def decode(raw: bytes) -> tuple[list, dict[str, int]]:
    if not raw.strip():
        raise Rejected("empty")
    try:
        text = raw.decode("utf-8")  # strict: invalid UTF-8, and UTF-8 encoded surrogates, raise
        document = json.loads(text, parse_int=number, parse_float=number, parse_constant=not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Rejected("invalid json") from None
    if has_lone_surrogate(document):
        raise Rejected("invalid json")
    if not isinstance(document, dict):
        raise Rejected("not an object")
    columns = document.get("columns")
    if not (isinstance(columns, list) and len(columns) == 3 and all(isinstance(c, str) for c in columns)):
        raise Rejected("columns")
    if set(columns) != set(NAMES):
        raise Rejected("columns")
    data = document.get("data")
    if not isinstance(data, list):
        raise Rejected("no data")
    return data, {name: columns.index(name) for name in NAMES}


def number(text: str) -> Decimal:
    if math.isinf(float(text)):
        raise ValueError(f"{text} does not fit a double")
    return Decimal(text)


def not_json(text: str):
    raise ValueError(f"{text} is not JSON")


def has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    return False


def read_rows(source: str, data: list, position: dict[str, int], result: Read) -> None:
    at_repeated_time = Counter()  # (meterpoint_id, wall clock) -> rows so far
    for row_number, row in enumerate(data, start=1):
        ts_at = position["interval_start"]
        ts_text = row[ts_at] if isinstance(row, list) and len(row) > ts_at and isinstance(row[ts_at], str) else None
        local = wall_clock(ts_text)
        day = local.date() if local else None

        def quarantine(reason, row_number=row_number, day=day):
            result.quarantined.append(Quarantined(source, row_number, day, reason))

        if not isinstance(row, list) or len(row) != 3:
            quarantine("shape")
            continue
        ts, kwh, mp = (row[position[name]] for name in NAMES)
        if not (
            (ts is None or isinstance(ts, str))
            and (kwh is None or isinstance(kwh, Decimal))  # bool is not a number here
            and (mp is None or isinstance(mp, str))
        ):
            quarantine("type")
            continue
        earlier = later = None
        if local is not None:
            instants = utc_instants(local)
            if instants:
                earlier, later = instants
                if earlier != later:
                    at_repeated_time[mp, local] += 1
                    if at_repeated_time[mp, local] > 1:
                        earlier = later
        if mp is None:
            quarantine("meterpoint missing")
        elif all(c in WHITE_SPACE for c in mp):
            quarantine("meterpoint blank")
        elif ts is None:
            quarantine("time missing")
        elif local is None:
            quarantine("time not a time")
        elif local.minute not in (0, 30) or local.second != 0:
            quarantine("time not on a half hour")
        elif earlier is None:
            quarantine("time does not exist")
        elif kwh is None:
            quarantine("kwh missing")
        elif decimal_places(kwh) > 3 or abs(kwh) >= KWH_LIMIT:
            quarantine("kwh not a DECIMAL(18, 3)")
        elif kwh < 0:
            quarantine("kwh negative")
        else:
            result.loaded.append(Loaded(source, row_number, mp, local, earlier, day, kwh))


def wall_clock(text: str | None) -> datetime | None:
    """The naive datetime `text` spells exactly as YYYY-MM-DD HH:MM:SS, else None."""
    if text is None:
        return None
    try:
        t = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    # strptime also takes 2021-1-2, "  " for " ", and other scripts' digits: the text must be the spelling
    spelled = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return t if spelled == text else None


def utc_instants(local: datetime) -> tuple[datetime, datetime] | None:
    """(earlier, later) naive UTC instants of a Europe/London wall-clock time; equal unless the
    clocks went back over it; None if the clocks went forward over it."""
    first = local.replace(tzinfo=LONDON, fold=0).astimezone(timezone.utc)
    second = local.replace(tzinfo=LONDON, fold=1).astimezone(timezone.utc)
    if first.astimezone(LONDON).replace(tzinfo=None) != local:  # in a gap: no such time
        return None
    earlier, later = sorted([first, second])
    return earlier.replace(tzinfo=None), later.replace(tzinfo=None)


def decimal_places(value: Decimal) -> int:
    """How many decimal places the exact value needs: 0.1000 needs 1, 1E+3 none."""
    _, digits, exponent = value.as_tuple()
    digits = "".join(map(str, digits))
    significant = digits.rstrip("0")
    if not significant:
        return 0
    return max(0, -(exponent + len(digits) - len(significant)))
