"""Seeded batches of generated landing files, and their comparison with an independent reference
reader (support.reference_reader): what engine/test_parse_reference.py runs on its first
batches, and integration/test_parse_reference_batches.py on the rest.

`reference_reader.py` reads each file with the standard library alone (its docstring lists the
rules and each place where it does what the product must do rather than what `json` does).
For every seeded batch, `parse_documents(batch, fast=...)` with fast=True and fast=False must
give exactly the reference's result:

- the same loaded rows, as a multiset of (source_file, row_number, meterpoint_id,
  interval_start_local, interval_start_utc, reading_date, consumption_kwh), kWh compared as
  exact decimals;
- the same quarantined rows, as (source_file, row_number, reading_date, reason class);
- the same files rejected whole, as (source_file, reason class).

Reason texts are compared by class only (`row_reason`, `file_reason`): which check failed,
not its wording.

The batches hold dozens of files each: the feed's exact compact layout (the fast path) and every
other layout the design allows (pretty-printed with spaces or tabs, CRLF, whitespace between any
tokens, "data" before "columns", other column orders, extra keys, \\u and \\/ escapes in any
string, other spellings of the same number), rows with every problem the quarantine names, whole
days across both 2021 clock changes (in order, shuffled, with the repeated hour sent once or
twice), files rejected whole (empty, not JSON, BOM, UTF-16, Latin-1, NaN, lone surrogates, not an
object, wrong columns, no data), and random byte damage: valid files with 1-6 bits flipped, bytes
replaced, inserted, deleted, digits changed, slices duplicated, or the end cut off, so that some
stay JSON with odd values and others break. `assert_every_case_exercised` holds the mix to
that.
"""

import functools
import random
from collections import Counter
from dataclasses import dataclass

import polars as pl

from octo_assets.readings import parse
from octo_assets.readings.parse import BAD_TIMESTAMP, MORE_DECIMALS, Parsed, parse_documents
from octo_assets_tests.support import reference_reader as ref

BATCHES = 300  # seeds 0 .. 299
QUICK_BATCHES = 60  # the first ones, in every quick run
NAMES = ref.NAMES


# -- a JSON writer with the freedom the format allows ------------------------------------------


@dataclass(frozen=True)
class Num:
    """A JSON number, as spelled in the file."""

    text: str


@dataclass(frozen=True)
class Raw:
    """Text written into the file as it is (what is not JSON, or a string with a lone surrogate)."""

    text: str


@dataclass(frozen=True)
class Style:
    indent: str | None = None  # None: one line
    newline: str = "\n"
    spaces: float = 0.0  # chance of whitespace around each token
    escapes: float = 0.0  # chance of a character of a string written as an escape
    ascii_only: bool = False  # every non-ASCII character escaped


FEED = Style()  # the feed's exact compact layout: what the fast path reads
FEED_HEAD = b'{"columns":["interval_start","consumption_delta","meterpoint_id"],"data":['
SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def write(value, style: Style, rng: random.Random, level: int = 0) -> str:
    def gap() -> str:
        return rng.choice([" ", "  ", "\t", "\n", "\r\n", " \n "]) if rng.random() < style.spaces else ""

    def line(depth: int) -> str:
        return "" if style.indent is None else style.newline + style.indent * depth

    if isinstance(value, (Num, Raw)):
        return value.text
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return '"' + "".join(escape(c, style, rng) for c in value) + '"'
    if isinstance(value, list):
        if not value:
            return "[" + gap() + "]"
        items = [line(level + 1) + gap() + write(v, style, rng, level + 1) + gap() for v in value]
        return "[" + ",".join(items) + line(level) + "]"
    if isinstance(value, dict):
        colon = ": " if style.indent is not None else ":"
        items = [
            line(level + 1) + gap() + write(k, style, rng) + gap() + colon + gap() + write(v, style, rng, level + 1)
            for k, v in value.items()
        ]
        return "{" + ",".join(items) + line(level) + gap() + "}"
    raise TypeError(value)


def escape(c: str, style: Style, rng: random.Random) -> str:
    if c in SHORT_ESCAPES and (c in '"\\' or rng.random() < 0.5):
        return SHORT_ESCAPES[c]
    if ord(c) < 0x20 or (style.ascii_only and ord(c) > 0x7E) or rng.random() < style.escapes:
        if c == "/" and rng.random() < 0.5:
            return "\\/"
        units = c.encode("utf-16-be")  # a character past U+FFFF is two escapes, a surrogate pair
        spelling = rng.choice(["04x", "04X"])
        return "".join("\\u" + format(int.from_bytes(units[i : i + 2]), spelling) for i in range(0, len(units), 2))
    return c


def file_text(columns: list[str], rows: list, style: Style, rng: random.Random, keys=("columns", "data"), extra=None):
    """A landing file: `rows` are [interval_start, consumption_delta, meterpoint_id] (or odd
    rows, written as they are), written in the order `columns` names."""
    order = [NAMES.index(c) if c in NAMES else None for c in columns]
    data = [[row[i] for i in order if i is not None] if is_row(row) else row for row in rows]
    document = {"columns": columns, "data": data}
    document = {k: document[k] for k in keys} | (extra or {})
    return write(document, style, rng)


def is_row(row) -> bool:
    return isinstance(row, list) and len(row) == 3 and not isinstance(row, OddRow)


class OddRow(list):
    """A row written as it is: the wrong length, or anything but a list."""


# -- values, good and odd ----------------------------------------------------------------------

DAYS = ["2021-01-01", "2021-01-02", "2021-01-03", "2020-02-29", "2021-06-30", "2021-12-31", "2021-03-28", "2021-10-31"]
METERPOINTS = ["0432df65f7", "0123456789", "3674e80033", "m", "a b", "m/1", "{x}", "-", "1e5", "m:1"]
# ids the fast path leaves to orjson: escapes, non-ASCII, JSON's structure inside a string
TEXT_METERPOINTS = ["é", "日本", 'a"b', "a\\b", "a,b", "a],[b", "😀", "\x7f", "\x1f", "tab\there"]
ODD_METERPOINTS = ["", " ", "\t", "\u3000", "\xa0 ", None, Num("5"), Num("0.5"), [], {}, True, ["m"]]
KWH = ["0.186", "0", "0.0", "12", "1.5", "0.05", "3.25", "0.001", "999999999999.999", "10.1", "0.5", "7"]
# the same values, spelled otherwise: all loaded
KWH_SPELLED = ["1.860e-1", "0.1860", "186E-3", "1.5E0", "1.5e+0", "-0", "-0.0", "0e5", "0.00", "12.000", "1E1"]
# 16 to 18 digits: exact decimals below 10**15 with 3 places at most, which no double holds
KWH_LONG = [
    "12345678901234.567",
    "999999999999999.999",
    "123456789012345.6",
    "1234567890123.456",
    "100000000000000.001",
]
ODD_KWH = ["-0.5", "-0.001", "-12", "0.1234", "1e-5", "0.0005", "1e15", "1000000000000000", "99999999999999999999"]
ODD_KWH += ["0.30000000000000004", "0.1000000000000000001", "1.0000000000000001", "1e-400", "-1e-400", "5e-324"]
ODD_KWH += ["-99999999999999999999", "1e308", "1000000000000000.5", "999999999999999.9999"]
ODD_KWH_VALUES = [None, "0.5", "", True, False, [Num("1")], {"kwh": Num("1")}]
HALF_HOURS = [f"{h:02d}:{m:02d}:00" for h in range(24) for m in (0, 30)]
ODD_TIMES = [
    "2021-01-01 00:10:00",
    "2021-01-01 00:30:01",
    "2021-01-01 00:00:59",
    "2021-1-2 00:30:00",
    "2021-01-01T00:30:00",
    "2021-01-01 00:30",
    "2021-01-01 00:30:00 ",
    " 2021-01-01 00:30:00",
    "2021-01-01  0:30:00",
    "+2021-01-01 00:30:00",
    "2021-01-01 00:30:00.000",
    "2021-02-30 00:00:00",
    "2021-02-29 00:00:00",
    "2021-01-01 24:00:00",
    "2021-01-01 23:59:60",
    "0000-01-01 00:00:00",
    "12021-01-01 00:00:00",
    "２０２１-01-01 00:30:00",
    "yesterday",
    "",
    "2021-03-28 01:00:00",  # clocks forward: does not exist
    "2021-03-28 01:30:00",
    "2021-03-28 01:15:00",
    "2021-10-31 01:10:00",  # repeated, but not a half hour
    "0001-01-01 00:00:00",  # London's local mean time
    "0999-06-01 12:30:00",
    "1916-05-21 02:00:00",  # the first summer time: does not exist
    "1941-05-04 01:30:00",  # double summer time begins: exists (01:30 GMT+1 -> 02:00 became 03:00)
    "1941-08-10 01:30:00",  # double summer time ends: 01:00-01:59 happens twice
    "2099-10-25 01:30:00",
    "2150-07-01 12:00:00",  # past 2099: summer time still
    "2150-03-29 01:30:00",
    "2150-10-25 01:30:00",
    "9999-12-31 23:30:00",
]
ODD_TIME_VALUES = [None, Num("5"), Num("20210101"), True, ["2021-01-01 00:00:00"], {}]


def pick_time(rng: random.Random, odd: float):
    if rng.random() >= odd:
        return f"{rng.choice(DAYS)} {rng.choice(HALF_HOURS)}"
    return rng.choice(ODD_TIMES) if rng.random() < 0.8 else rng.choice(ODD_TIME_VALUES)


def pick_kwh(rng: random.Random, odd: float, spelled: float):
    if rng.random() >= odd:
        return Num(rng.choice(KWH) if rng.random() >= spelled else rng.choice(KWH_SPELLED + KWH_LONG))
    return Num(rng.choice(ODD_KWH)) if rng.random() < 0.7 else rng.choice(ODD_KWH_VALUES)


def pick_meterpoint(rng: random.Random, meterpoints: list[str], odd: float):
    return rng.choice(meterpoints) if rng.random() >= odd else rng.choice(ODD_METERPOINTS)


def odd_row(rng: random.Random, row: list):
    roll = rng.random()
    if roll < 0.5:  # the wrong number of values
        return OddRow(row[: rng.randrange(3)] if rng.random() < 0.6 else [*row, rng.choice([Num("1"), "x", None])])
    return rng.choice([None, Num("1"), "row", {"interval_start": row[0]}, True, OddRow([row]), OddRow([])])


def rows(rng: random.Random, count: int, odd: float) -> list:
    meterpoints = rng.sample(
        METERPOINTS if rng.random() < 0.8 else METERPOINTS + TEXT_METERPOINTS, rng.choice([1, 2, 3])
    )
    spelled = rng.choice([0, 0, 0, 0, 0, 0.1])  # other spellings of good numbers, and long ones
    made = []
    for _ in range(count):
        row = [pick_time(rng, odd), pick_kwh(rng, odd, spelled), pick_meterpoint(rng, meterpoints, odd)]
        made.append(odd_row(rng, row) if rng.random() < odd / 3 else row)
    return made


def clock_change_rows(rng: random.Random) -> list:
    """Whole days of half hours across a 2021 clock change, for one to three meterpoints."""
    made = []
    for meterpoint in rng.sample(METERPOINTS + TEXT_METERPOINTS, rng.choice([1, 2, 3])):
        day = rng.choice(["2021-03-28", "2021-10-31"])
        times = [f"{day} {t}" for t in HALF_HOURS]
        if day == "2021-10-31":  # the repeated hour, sent twice (the second time: GMT), or once
            repeats = ["01:00:00", "01:30:00"] if rng.random() < 0.8 else rng.sample(["01:00:00", "01:30:00"], 1)
            at = times.index(f"{day} 02:00:00")
            times[at:at] = [f"{day} {t}" for t in repeats]
        elif rng.random() < 0.8:  # the hour that does not exist, left out as the feed does
            times = [t for t in times if not t.startswith(f"{day} 01:")]
        made += [[t, Num(rng.choice(KWH)), meterpoint] for t in times]
    if rng.random() < 0.3:  # a file's rows need not be in order
        rng.shuffle(made)
    repeated = [at for at, row in enumerate(made) if row[0].startswith("2021-10-31 01:")]
    if repeated and rng.random() < 0.3:  # a quarantined row at a repeated time still counts as the first
        at = rng.choice(repeated)
        made[at] = [made[at][0], Num(rng.choice(["-1", "0.0001", "null"])), made[at][2]]
    return made


# -- files -------------------------------------------------------------------------------------


def other_style(rng: random.Random) -> Style:
    return Style(
        indent=rng.choice([None, None, " ", "  ", "    ", "\t"]),
        newline=rng.choice(["\n", "\n", "\r\n"]),
        spaces=rng.choice([0.0, 0.0, 0.1, 0.5]),
        escapes=rng.choice([0.0, 0.0, 0.05, 0.3]),
        ascii_only=rng.random() < 0.3,
    )


def layout_file(rng: random.Random, data: list) -> bytes:
    """Valid JSON in any layout the design allows: the feed's own most often."""
    if rng.random() < 0.6:
        return file_text(list(NAMES), data, FEED, rng).encode()
    columns = list(NAMES) if rng.random() < 0.5 else rng.sample(NAMES, 3)
    keys = ("columns", "data") if rng.random() < 0.7 else ("data", "columns")
    extra = rng.choice([None, None, {"index": [Num(str(n)) for n in range(len(data))]}, {"note": "x", "data2": []}])
    text = file_text(columns, data, other_style(rng), rng, keys, extra)
    text = rng.choice(["", "", " ", "\n", "\r\n\t"]) + text + rng.choice(["", "", "\n", "\r\n", "  "])
    return text.encode()


STRUCTURE = b'"\\,[]{}: \n0123456789.-+eE'


def damaged(rng: random.Random, raw: bytes) -> bytes:
    """1-6 random changes to the bytes of a file."""
    raw = bytearray(raw)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 6])):
        at = rng.randrange(len(raw) + 1)
        op = rng.choice(
            ["bit", "byte", "structure", "digit", "digit", "digit", "digit", "insert", "delete", "cut", "copy"]
        )
        if op == "cut" or not raw:
            del raw[rng.randrange(len(raw) + 1) :]
        elif op == "bit" and at < len(raw):
            raw[at] ^= 1 << rng.randrange(8)
        elif op == "byte" and at < len(raw):
            raw[at] = rng.randrange(256)
        elif op == "structure" and at < len(raw):
            raw[at] = rng.choice(STRUCTURE)
        elif op == "digit":  # keeps the JSON, changes a value: a year, an hour, a kWh, an id
            digits = [i for i, b in enumerate(raw) if 0x30 <= b <= 0x39]
            if digits:
                raw[rng.choice(digits)] = rng.choice(b"0123456789")
        elif op == "insert":
            raw[at:at] = bytes([rng.choice(STRUCTURE) if rng.random() < 0.7 else rng.randrange(256)])
        elif op == "delete" and at < len(raw):
            del raw[at]
        elif op == "copy":
            start = rng.randrange(len(raw))
            raw[at:at] = raw[start : start + rng.randrange(1, 12)]
    return bytes(raw)


def rejected_file(rng: random.Random, data: list) -> bytes:
    """A file that cannot be read as a whole (or only just can)."""
    good = file_text(list(NAMES), data, FEED, rng)
    return rng.choice(
        [
            lambda: b"",
            lambda: rng.choice([b" ", b"\n", b" \r\n\t", b"\x0b\x0c"]),
            lambda: b"[1, 2]",
            lambda: b'"columns"',
            lambda: b"null",
            lambda: b"5",
            lambda: write({"columns": list(NAMES)}, FEED, rng).encode(),  # no data
            lambda: write({"columns": list(NAMES), "data": rng.choice([None, {}, "x", Num("1")])}, FEED, rng).encode(),
            lambda: write({"data": []}, FEED, rng).encode(),  # no columns
            lambda: file_text(rng.choice(BAD_COLUMNS), [], FEED, rng).encode(),
            lambda: file_text(list(NAMES), [], FEED, rng).encode(),  # no rows: nothing to load, nothing wrong
            lambda: b"\xef\xbb\xbf" + good.encode(),  # a byte order mark
            lambda: good.encode("utf-16"),
            lambda: good.replace("m", "é").encode("latin-1", "replace"),  # é as one byte: not UTF-8
            lambda: good.encode() + rng.choice([b"x", b",", b"]", b" {}", good.encode()]),  # after the document
            lambda: good.encode()[: rng.randrange(len(good))],  # cut short
            lambda: file_text(
                list(NAMES), [*data, ["2021-01-01 00:00:00", Raw(rng.choice(NOT_NUMBERS)), "m"]], FEED, rng
            ).encode(),
            lambda: file_text(
                list(NAMES), [*data, ["2021-01-01 00:00:00", Num("1"), Raw(rng.choice(SURROGATES))]], FEED, rng
            ).encode(),
            lambda: good.replace(",", ",,", 1).encode(),
            lambda: good.encode()[:-1] + b",}",  # a trailing comma
            lambda: good.replace('"data"', "data").encode(),
            lambda: good.replace('"columns"', '"Columns"').encode(),
            lambda: ("{" + good[1:].replace('"columns"', '"columns":null,"columns"', 1)).encode(),  # duplicate key
            lambda: ('{"columns":["x"],' + good[1:]).encode(),  # duplicate key: the last wins
        ]
    )()


BAD_COLUMNS = [
    ["interval_start", "kwh", "meterpoint_id"],
    ["interval_start", "consumption_delta"],
    [*NAMES, "extra"],
    ["interval_start", "interval_start", "meterpoint_id"],
    ["interval_start", "consumption_delta", "Meterpoint_id"],
    ["interval_start", Num("1"), "meterpoint_id"],
    [],
]
NOT_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1" * 400,
    "01",
    ".5",
    "5.",
    "+1",
    "0x10",
    "1e",
    "--1",
]
SURROGATES = ['"\\ud800"', '"a\\udfffb"', '"\\ud83d"', '"\\ude00\\ud83d"']


def file_bytes(rng: random.Random) -> tuple[str, bytes]:
    """(how it was made, the file)."""
    odd = rng.choice([0.0, 0.0, 0.0, 0.0, 0.02, 0.05, 0.3])
    roll = rng.random()
    data = clock_change_rows(rng) if roll < 0.08 else rows(rng, rng.choice([0, 1, 2, 5, 20, 48, 60]), odd)
    if roll < 0.6:
        return "layout", layout_file(rng, data)
    if roll < 0.9:
        return "damaged", damaged(rng, layout_file(rng, data))
    return "rejected", rejected_file(rng, data)


@functools.cache
def made(seed: int) -> tuple[tuple[str, str, bytes], ...]:
    """A batch: (source name, how it was made, bytes) of each file."""
    rng = random.Random(seed)
    files = [(f"{seed}/{n}.json", *file_bytes(rng)) for n in range(rng.choice([1, 12, 24, 40, 60]))]
    if rng.random() < 0.1:  # a name given twice: two files, each read on its own
        files.append((files[0][0], *file_bytes(rng)))
    return tuple(files)


def batch(seed: int) -> list[tuple[str, bytes]]:
    return [(source, raw) for source, _, raw in made(seed)]


# -- comparing ---------------------------------------------------------------------------------


def row_reason(reason: str) -> str:
    """The class of a quarantine reason parse.py gives a row (one of ref.ROW_REASONS)."""
    for prefix, kind in [
        ("row ", "shape"),
        ("interval_start is not text", "type"),
        ("consumption_delta is not a number", "type"),
        ("meterpoint_id is not text", "type"),
        ("meterpoint_id is missing", "meterpoint missing"),
        ("meterpoint_id is empty", "meterpoint blank"),
        ("interval_start is missing", "time missing"),
        (BAD_TIMESTAMP, "time not a time"),
        ("interval_start is not on a half-hour boundary", "time not on a half hour"),
        ("interval_start does not exist", "time does not exist"),
        ("consumption_delta is missing", "kwh missing"),
        (MORE_DECIMALS, "kwh not a DECIMAL(18, 3)"),
        ("consumption_delta is too large", "kwh not a DECIMAL(18, 3)"),
        ("consumption_delta is not finite", "kwh not a DECIMAL(18, 3)"),
        ("consumption_delta is negative", "kwh negative"),
    ]:
        if reason.startswith(prefix):
            return kind
    raise AssertionError(f"a quarantine reason of no known class: {reason!r}")


def file_reason(reason: str) -> str:
    """The class of the reason parse.py gives a file rejected whole (one of ref.FILE_REASONS)."""
    for prefix, kind in [
        ("file is empty", "empty"),
        ("invalid JSON", "invalid json"),
        ("expected a JSON object", "not an object"),
        ("columns are ", "columns"),
        ('no "data" array', "no data"),
    ]:
        if reason.startswith(prefix):
            return kind
    raise AssertionError(f"a file rejection of no known class: {reason!r}")


def product_view(parsed: Parsed) -> tuple[Counter, Counter, Counter]:
    loaded = Counter(
        ref.Loaded(source, number, mp, local, utc.replace(tzinfo=None), day, kwh)
        for source, number, mp, local, utc, day, kwh in parsed.readings.iter_rows()
    )
    rows = parsed.quarantine.filter(pl.col("row_number").is_not_null())
    files = parsed.quarantine.filter(pl.col("row_number").is_null())
    quarantined = Counter(
        ref.Quarantined(source, number, day, row_reason(reason))
        for source, number, day, reason in rows.select(
            "source_file", "row_number", "reading_date", "reason"
        ).iter_rows()
    )
    rejected = Counter(
        (source, file_reason(reason)) for source, reason in files.select("source_file", "reason").iter_rows()
    )
    return loaded, quarantined, rejected


def reference_view(result: ref.Read) -> tuple[Counter, Counter, Counter]:
    return Counter(result.loaded), Counter(result.quarantined), Counter(result.rejected)


@functools.cache
def expected(seed: int) -> ref.Read:
    return ref.read(batch(seed))


def assert_same(documents, fast: bool, want: ref.Read | None = None) -> None:
    got = product_view(parse_documents(documents, fast=fast))
    want = reference_view(want or ref.read(documents))
    problems = []
    for what, mine, theirs in zip(["loaded", "quarantined", "rejected"], got, want):
        for item in sorted((mine - theirs).elements(), key=repr)[:5]:
            problems.append(f"parse_documents {what}, the reference did not: {item}")
        for item in sorted((theirs - mine).elements(), key=repr)[:5]:
            problems.append(f"the reference {what}, parse_documents did not: {item}")
    if problems:
        sources = sorted({line.split("'")[1] for line in problems if "'" in line})
        shown = [f"{source}: {raw!r}"[:600] for source, raw in documents if source in sources][:3]
        raise AssertionError("\n".join([f"fast={fast}", *problems, *shown]))


def assert_every_case_exercised(seeds: range) -> None:
    """The generated mix holds what the comparison is for; a change to the generator that
    dropped a case (or the fast path taking none of the files) fails here."""
    files = [file for seed in seeds for file in made(seed)]
    results = [expected(seed) for seed in seeds]
    rejected = {source for result in results for source, _ in result.rejected}
    quarantined = [q for result in results for q in result.quarantined]
    loaded = [row for result in results for row in result.loaded]
    assert {reason for result in results for _, reason in result.rejected} == set(ref.FILE_REASONS)
    assert {q.reason for q in quarantined} == set(ref.ROW_REASONS)
    assert sum(q.reading_date is not None for q in quarantined) > 0.3 * len(quarantined)  # days of bad rows

    # the fast path reads a good share of the files, rows with odd values among them
    feed = [(source, raw) for source, kind, raw in files if kind == "layout" and raw.startswith(FEED_HEAD)]
    fast = {source for source, _ in feed} - {feed[i][0] for i in parse._fast_fields(feed)[2]}  # read by the fast path
    assert 0.1 * len(files) < len(fast) < 0.6 * len(files)
    assert {q.reason for q in quarantined if q.source_file in fast} >= {
        "time not a time",
        "time not on a half hour",
        "time does not exist",
        "meterpoint blank",
    }

    # byte damage: some files still read (odd values and all), others rejected whole
    damaged = {source for source, kind, _ in files if kind == "damaged"}
    assert 0.2 * len(damaged) < len(damaged & rejected) < 0.8 * len(damaged)
    assert len({q.source_file for q in quarantined} & (damaged - rejected)) > 0.1 * len(damaged)

    # clocks back: both instants of a repeated time, on the fast path and off it
    later = {
        row.source_file for row in loaded if ref.utc_instants(row.interval_start_local)[0] != row.interval_start_utc
    }
    assert later & fast and later - fast
    assert {row.reading_date.year for row in loaded} >= {2020, 2021, 2150}
    assert any(len(str(row.consumption_kwh).replace(".", "")) > 15 for row in loaded)  # longer than a double holds
