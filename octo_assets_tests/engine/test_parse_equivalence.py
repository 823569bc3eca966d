"""The fast path and the orjson path give the same result, file for file and row for row.

Random batches mix files in the feed's exact compact layout with files perturbed in the ways
a fast path could misread: escapes, whitespace, pretty printing, other column orders, nulls,
nested values, odd numbers, quotes, commas and brackets inside strings, rows of the wrong
length, stray or invalid bytes, truncation. Seeded, so a failure names its batch.
"""

import json
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from octo_assets.readings import parse
from octo_assets.readings.parse import document_days, parse_documents
from octo_assets_tests.support.workspace import SAMPLE

COLUMNS = ["interval_start", "consumption_delta", "meterpoint_id"]
DAYS = ["2021-01-01", "2021-01-02", "2021-03-28", "2021-10-31", "2020-02-29"]
ODD_TIMES = [
    "2021-01-01 00:10:00",  # a time, not a half hour
    "2021-01-01 00:30:01",
    "2021-1-2 00:30:00",
    "2021-01-01T00:30:00",
    "2021-01-01 00:30",
    "2021-01-01 00:30:00 ",
    "2021-02-30 00:00:00",
    "2021-01-01 24:00:00",
    "2021-01-01 23:59:60",
    "0000-01-01 00:00:00",
    "yesterday",
    "",
]
PLAIN_KWH = ["0.186", "0.0", "0", "12", "1.5", "0.05", "3.25", "0.001", "999999999999.999", "10.1"]
ODD_KWH = [
    "-0.5", "-0", "-0.0", "1e-5", "1E3", "1.0e2", "0.1234", "0.10", "0.100", "0.30000000000000004",
    "1234567890123.5", "123456789012345.6", "99999999999999999999", "1e400", "00.5", ".5", "5.",
    "null", "true", "false", '"0.5"', "NaN", "[1]", "{}",
]  # fmt: skip
PLAIN_IDS = ["0432df65f7", "0123456789", "3674e80033", "m", "a b", "m:1", "{x}", "a/b", "-", " ", ""]
ODD_IDS = ['"é"', '"a,b"', '"a]b"', '"a[b"', '"a],[b"', r'"a\"b"', r'"\u0041"', r'"a\\b"', '"tab\there"', "null", "5"]
STRAY = [b" ", b"\n", b"\t", b"\r", b",", b"[", b"]", b'"', b"\\", b"{", b"}", b"0", b"e", b".", b"-", b"x"]
STRAY += ["é".encode(), b"\xff", b"\x00"]


def time_text(rng: random.Random) -> str:
    if rng.random() < 0.85:
        hour, minute = divmod(30 * rng.randrange(48), 60)
        return f'"{rng.choice(DAYS)} {hour:02d}:{minute:02d}:00"'
    if rng.random() < 0.9:
        return json.dumps(rng.choice(ODD_TIMES))
    return rng.choice(["null", "5", r'"2021-01-01 00:30:0\u0030"', '"2021-01-01 01:00:00\\n"'])


def row_text(rng: random.Random, order: list[int], meterpoints: list[str], odd: float) -> str:
    values = [
        time_text(rng),
        rng.choice(ODD_KWH) if rng.random() < odd else rng.choice(PLAIN_KWH),
        rng.choice(ODD_IDS) if rng.random() < odd else f'"{rng.choice(meterpoints)}"',
    ]
    if rng.random() < odd / 2:  # the wrong number of values
        values = values[: rng.randrange(3)] if rng.random() < 0.5 else [*values, rng.choice(PLAIN_KWH)]
    if rng.random() < odd / 4:
        return rng.choice(["[]", "null", '{"a":1}', '[["2021-01-01 00:00:00"],1,"m"]'])
    return "[" + ",".join(values[i] for i in order if i < len(values)) + "".join("," + v for v in values[3:]) + "]"


def file_bytes(rng: random.Random) -> bytes:
    """A file in the feed's compact layout, or one perturbed in some way."""
    odd = rng.choice([0.0, 0.0, 0.0, 0.02, 0.2])
    order = [0, 1, 2] if rng.random() < 0.9 else rng.sample([0, 1, 2], 3)
    meterpoints = rng.sample(PLAIN_IDS, rng.choice([1, 1, 2, 3]))
    rows = [row_text(rng, order, meterpoints, odd) for _ in range(rng.choice([0, 1, 2, 5, 20, 50]))]
    columns = json.dumps([COLUMNS[i] for i in order], separators=(",", ":"))
    text = '{"columns":' + columns + ',"data":[' + ",".join(rows) + "]}"
    raw = text.encode()
    roll = rng.random()
    if roll < 0.05:  # pretty-printed, as some senders do
        try:
            raw = json.dumps(json.loads(raw), indent=rng.choice([None, 1, 2])).encode()
        except ValueError:
            pass
    elif roll < 0.2:  # a stray byte inserted, replaced or deleted
        at = rng.randrange(len(raw) + 1)
        cut = rng.choice([0, 1])
        raw = raw[:at] + (b"" if rng.random() < 0.2 else rng.choice(STRAY)) + raw[at + cut :]
    elif roll < 0.23:
        raw = raw[: rng.randrange(len(raw))]
    elif roll < 0.25:
        raw = rng.choice([b"", b"[1, 2]", b'{"columns":[]}', raw + b"\n", b" " + raw])
    return raw


def batch(seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [(f"{seed}/{n}.json", file_bytes(rng)) for n in range(rng.choice([1, 5, 40]))]


def in_order(parsed: parse.Parsed) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        parsed.readings.sort("source_file", "row_number"),
        parsed.quarantine.sort("source_file", "row_number", nulls_last=False),
    )


@pytest.mark.parametrize("seed", range(200))
def test_the_fast_path_and_the_orjson_path_agree(seed):
    documents = batch(seed)
    fast_readings, fast_quarantine = in_order(parse_documents(documents))
    slow_readings, slow_quarantine = in_order(parse_documents(documents, fast=False))
    assert_frame_equal(fast_readings, slow_readings)
    assert_frame_equal(fast_quarantine, slow_quarantine)


@pytest.mark.parametrize("seed", range(200))
def test_document_days_are_the_days_the_parser_assigns(seed):
    documents = batch(seed)
    parsed = parse_documents(documents, fast=False)
    rows = pl.concat(
        [
            parsed.readings.select("source_file", "reading_date"),
            parsed.quarantine.filter(pl.col("row_number").is_not_null()).select("source_file", "reading_date"),
        ]
    ).drop_nulls()
    days_of = rows.group_by("source_file").agg(pl.col("reading_date").unique().sort())
    want = {source: [] for source, _ in documents} | dict(days_of.iter_rows())
    assert document_days(documents) == want


def test_the_random_batches_exercise_both_paths():
    files = [raw for seed in range(200) for _, raw in batch(seed)]
    fast = sum(1 for raw in files if parse._rows_in_layout(raw))
    assert 0.4 * len(files) < fast < 0.9 * len(files)
    # and the fast path's rows include every kind of quarantine reason the batches produce
    documents = [document for seed in range(200) for document in batch(seed)]
    reasons = set(parse_documents([d for d in documents if parse._rows_in_layout(d[1])]).quarantine["reason"])
    assert {
        "interval_start is not a YYYY-MM-DD HH:MM:SS time",
        "interval_start is not on a half-hour boundary",
        "interval_start does not exist in Europe/London (clocks go forward)",
        "meterpoint_id is empty",
    } <= reasons


def agree(documents) -> parse.Parsed:
    fast, slow = parse_documents(documents), parse_documents(documents, fast=False)
    for got, want in zip(in_order(fast), in_order(slow)):
        assert_frame_equal(got, want)
    return fast


def compact(*rows: str) -> bytes:
    return (parse.HEAD + ",".join(rows).encode() + parse.TAIL) if rows else b""


GOOD = '["2021-01-01 00:30:00",0.186,"0432df65f7"]'


@pytest.mark.parametrize(
    "raw",
    [
        compact(GOOD, r'["2021-01-01 01:00:00",0.2,"04\u0033"]'),  # an escape: the same id, other bytes
        compact(GOOD, r'["2021-01-01 01:00:00",0.2,"a\"b"]'),  # a quote inside an id
        compact(GOOD, r'["2021-01-01 01:00:00",0.2,"a\\b"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"a,b"]'),  # commas and brackets inside strings
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"a],[b"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"é"]'),
        compact(GOOD, '["2021-01-01 01:00:00", 0.2,"m"]'),  # whitespace between tokens
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"m"] '),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"m"],\n["2021-01-01 01:30:00",0.2,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"m"]x'),  # junk between tokens: invalid JSON
        compact(GOOD, 'x["2021-01-01 01:00:00",0.2,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00"x,0.2,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"m"x]'),
        compact(GOOD, '["2021-01-01 01:00:00",null,"m"]'),  # nulls
        compact(GOOD, '[null,0.2,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,null]'),
        compact(GOOD, '["2021-01-01 01:00:00",[0.2],"m"]'),  # nested values
        compact(GOOD, '["2021-01-01 01:00:00",{"kwh":0.2},"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",1e-5,"m"]'),  # numbers the float path reads otherwise
        compact(GOOD, '["2021-01-01 01:00:00",1E2,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.1000,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",-0.0,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",01,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",1.,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",12345678901234.5,"m"]'),
        compact(GOOD, '["2021-01-01 01:00:00",0.2]'),  # rows of the wrong length
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"m",1]'),
        compact(GOOD, "[]"),
        compact(GOOD, '["2021-01-01 01:00:00",0.2,"m"]]'),
        b'{"columns":["meterpoint_id","interval_start","consumption_delta"],"data":[["m","2021-01-01 00:30:00",0.2]]}',
        b'{"data":[["2021-01-01 00:30:00",0.2,"m"]],"columns":["interval_start","consumption_delta","meterpoint_id"]}',
        parse.HEAD + b"]}",
        compact(GOOD) + b"\n",
        compact(GOOD)[:-1],
    ],
)
def test_what_the_fast_path_could_misread_is_read_the_slow_way(raw):
    assert parse._rows_in_layout(raw) == 0 or parse._fast_fields([("f.json", raw)])[2] == [0]
    agree([("f.json", raw), ("good.json", compact(GOOD))])


@pytest.mark.parametrize(
    "row",
    [
        '["2021-01-01 00:10:00",0.2,"m"]',  # odd values that are still plain: quarantined alike
        '["yesterday",0.2,"m"]',
        '["",0.2,""]',
        '["2021-01-01 00:30:00",0.2," "]',
        '["2021-03-28 01:30:00",0.2,"m"]',
        '["2021-01-01 00:30:00",999999999999.999,"m {x}/:-"]',
    ],
)
def test_plain_rows_with_odd_values_stay_on_the_fast_path_and_read_alike(row):
    raw = compact(GOOD, row)
    assert parse._fast_fields([("f.json", raw)])[2] == []
    agree([("f.json", raw)])


def test_the_case_study_files_all_take_the_fast_path_and_read_alike():
    documents = [(p.name, p.read_bytes()) for p in sorted((SAMPLE / "readings").glob("*.json"))]
    assert parse._fast_fields(documents)[2] == []
    parsed = agree(documents)
    assert (parsed.readings.height, parsed.quarantine.height) == (14_300, 0)


def test_clocks_back_on_the_fast_path_second_row_at_a_repeated_time_is_the_later_instant():
    raw = compact(
        '["2021-10-31 01:00:00",1.0,"a"]',
        '["2021-10-31 01:00:00",2.0,"b"]',
        '["2021-10-31 01:00:00",3.0,"a"]',
        '["2021-10-31 01:30:00",4.0,"a"]',
    )
    other = compact('["2021-10-31 01:00:00",5.0,"a"]')  # another file: its own first
    assert parse._fast_fields([("f.json", raw), ("g.json", other)])[2] == []
    readings = agree([("f.json", raw), ("g.json", other)]).readings.sort("source_file", "row_number")
    assert readings["interval_start_utc"].dt.replace_time_zone(None).dt.strftime("%H:%M").to_list() == [
        "00:00",  # a: 01:00 BST
        "00:00",  # b: its own first
        "01:00",  # a again: 01:00 GMT
        "00:30",
        "00:00",  # g.json
    ]
