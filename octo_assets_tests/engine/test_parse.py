"""Parsing landing files: layouts the feed really sends, and what becomes of bad rows."""

import gzip
import json
from datetime import date, datetime
from decimal import Decimal

import orjson
import polars as pl
import pytest

from octo_assets.readings import parse
from octo_assets.readings.parse import BAD_TIMESTAMP, KWH, MORE_DECIMALS, Parsed, parse_documents

COLUMNS = ["interval_start", "consumption_delta", "meterpoint_id"]


def document(rows, columns=COLUMNS, option=0) -> bytes:
    return orjson.dumps({"columns": columns, "data": rows}, option=option)


def test_pretty_printed_and_compact_files_parse_the_same():
    rows = [["2021-01-01 00:30:00", 0.5, "0123"], ["2021-01-01 01:00:00", 1.25, "0123"]]
    compact = parse_documents([("f.json", document(rows))]).readings
    pretty = parse_documents([("f.json", document(rows, option=orjson.OPT_INDENT_2))]).readings
    assert compact.equals(pretty)
    assert compact["consumption_kwh"].to_list() == [Decimal("0.5"), Decimal("1.25")]


def test_ids_stay_text_exactly_as_delivered():
    ids = ["0123456789", "3674e80033", "1234567890"]
    parsed = parse_documents([("f.json", document([["2021-01-01 00:30:00", 1, i] for i in ids]))])
    assert parsed.readings["meterpoint_id"].to_list() == ids


def test_a_file_with_several_days_out_of_order_feeds_each_day():
    rows = [
        ["2021-01-03 00:00:00", 3.0, "m"],
        ["2021-01-01 23:30:00", 1.0, "m"],
        ["2021-01-02 12:00:00", 2.0, "m"],
    ]
    readings = parse_documents([("f.json", document(rows))]).readings
    by_day = dict(zip(readings["reading_date"].to_list(), readings["consumption_kwh"].to_list()))
    assert by_day == {date(2021, 1, 3): Decimal(3), date(2021, 1, 1): Decimal(1), date(2021, 1, 2): Decimal(2)}


def test_columns_in_another_order_are_read_by_name():
    columns = ["meterpoint_id", "interval_start", "consumption_delta"]
    readings = parse_documents([("f.json", document([["m", "2021-01-01 00:30:00", 0.25]], columns))]).readings
    assert readings.select("meterpoint_id", "interval_start_local", "consumption_kwh").row(0) == (
        "m",
        datetime(2021, 1, 1, 0, 30),
        Decimal("0.25"),
    )


def test_clock_change_rows_in_file_order():
    rows = [
        ["2021-10-31 01:30:00", 1.0, "m"],
        ["2021-10-31 01:30:00", 2.0, "m"],
        ["2021-03-28 01:30:00", 3.0, "m"],
    ]
    parsed = parse_documents([("f.json", document(rows))])
    utc = parsed.readings["interval_start_utc"].dt.replace_time_zone(None).to_list()
    assert utc == [datetime(2021, 10, 31, 0, 30), datetime(2021, 10, 31, 1, 30)]
    assert parsed.quarantine.select("row_number", "reason").rows() == [
        (3, "interval_start does not exist in Europe/London (clocks go forward)")
    ]


def test_bad_rows_are_quarantined_with_file_row_and_reason_and_good_rows_kept():
    rows = [
        ["2021-01-01 00:30:00", 1.0, "m"],
        ["2021-01-01 01:00:00", "abc", "m"],
        ["2021-01-01 01:30:00", 1.0],
        ["2021-01-01 02:00:00", 1.0, None],
        ["2021-01-01 02:30:00", -0.5, "m"],
        ["yesterday", 1.0, "m"],
        ["2021-01-01 03:10:00", 1.0, "m"],
        ["2021-01-01 03:30:00", None, "m"],
        ["2021-01-01 04:00:00", 2.0, "m"],
    ]
    parsed = parse_documents([("a/f.json", document(rows))])
    assert parsed.readings["row_number"].to_list() == [1, 9]
    reasons = dict(parsed.quarantine.select("row_number", "reason").rows())
    assert reasons == {
        2: "consumption_delta is not a number: 'abc'",
        3: "row has 2 values, expected 3",
        4: "meterpoint_id is missing",
        5: "consumption_delta is negative",
        6: "interval_start is not a YYYY-MM-DD HH:MM:SS time",
        7: "interval_start is not on a half-hour boundary",
        8: "consumption_delta is missing",
    }
    assert set(parsed.quarantine["source_file"]) == {"a/f.json"}
    # a rejected row is counted on the day it names
    assert parsed.quarantine.filter(pl.col("row_number") == 7)["reading_date"].to_list() == [date(2021, 1, 1)]


def test_whole_file_problems_name_the_file_and_do_not_stop_the_others():
    good = document([["2021-01-01 00:30:00", 1.0, "m"]])
    parsed = parse_documents(
        [
            ("truncated.json", good[:-7]),
            ("empty.json", b""),
            ("no_data.json", orjson.dumps({"columns": COLUMNS})),
            ("renamed.json", document([], ["interval_start", "kwh", "meterpoint_id"])),
            ("list.json", b"[1, 2]"),
            ("good.json", good),
        ]
    )
    assert parsed.readings["source_file"].to_list() == ["good.json"]
    reasons = {row["source_file"]: row["reason"] for row in parsed.quarantine.iter_rows(named=True)}
    assert reasons["truncated.json"].startswith("invalid JSON")
    assert reasons["empty.json"] == "file is empty"
    assert reasons["no_data.json"] == 'no "data" array'
    assert reasons["renamed.json"].startswith("columns are ['interval_start', 'kwh', 'meterpoint_id']")
    assert reasons["list.json"] == "expected a JSON object, found list"
    assert parsed.quarantine["row_number"].is_null().all()


@pytest.mark.parametrize(
    "text",
    [
        "2021-1-2 00:30:00",
        "2021-01-01T00:30:00",
        "2021-01-01 00:30",
        "2021-01-01 00:30:00 ",
        " 2021-01-01 00:30:00",
        "2021-01-01  0:30:00",
        "+2021-01-01 00:30:00",
        "2021-01-01 00:30:00.000",
        "2021-02-30 00:00:00",
        "2021-01-01 24:00:00",
        "2021-01-01 23:59:60",
        "0000-01-01 00:00:00",
        "２０２１-01-01 00:30:00",
        "",
    ],
)
def test_only_an_exact_yyyy_mm_dd_hh_mm_ss_time_is_a_time_and_only_it_names_a_day(text):
    parsed = parse_documents([("f.json", document([[text, 1.0, "m"], ["2021-01-02 00:00:00", 1.0, "m"]]))])
    assert parsed.quarantine.select("row_number", "reading_date", "reason").rows() == [(1, None, BAD_TIMESTAMP)]
    assert parsed.readings["row_number"].to_list() == [2]


def test_a_rejected_row_with_a_valid_time_is_counted_on_that_day():
    rows = [
        ["2021-01-01 00:10:00", 1.0, "m"],  # a time, not a half hour
        ["2021-03-28 01:30:00", 1.0, "m"],  # a wall-clock time that does not exist
        ["2021-01-02 00:30:00", "abc", "m"],  # a bad value
        ["2021-01-03 00:30:00", 1.0],  # too short: the timestamp is still where it belongs
        ["2021-1-4 00:30:00", 1.0],  # too short, and no valid time
        [1.5, "2021-01-05 00:30:00", "m"],  # a date elsewhere in the row does not count
    ]
    parsed = parse_documents([("f.json", document(rows))])
    assert parsed.quarantine.select("row_number", "reading_date").rows() == [
        (1, date(2021, 1, 1)),
        (2, date(2021, 3, 28)),
        (3, date(2021, 1, 2)),
        (4, date(2021, 1, 3)),
        (5, None),
        (6, None),
    ]


LAYOUTS = {"compact": 0, "pretty": orjson.OPT_INDENT_2}


@pytest.fixture(params=sorted(LAYOUTS))
def layout(request) -> int:
    return LAYOUTS[request.param]


def kwh_document(values, option: int) -> bytes:
    rows = [[f"2021-01-01 {n // 2:02d}:{30 * (n % 2):02d}:00", v, "m"] for n, v in enumerate(values)]
    return document(rows, option=option)


def kwh_of(values, option: int) -> Parsed:
    return parse_documents([("f.json", kwh_document(values, option))])


def test_kwh_is_exact_decimal_and_sums_exactly(layout):
    values = [0.186, 0.1, 0.2, 12.0, 12, 1e-3, 0.0, 999_999_999_999.999]
    fast = parse._fast_fields([("f.json", kwh_document(values, layout))])[2] == []
    assert fast == (layout == LAYOUTS["compact"])  # the feed's own layout takes the fast path
    readings = kwh_of(values, layout).readings
    assert readings.schema["consumption_kwh"] == KWH
    assert readings["consumption_kwh"].to_list() == [
        Decimal(t) for t in ["0.186", "0.1", "0.2", "12", "12", "0.001", "0", "999999999999.999"]
    ]
    assert readings.head(3)["consumption_kwh"].sum() == Decimal("0.486")  # as floats: 0.48600000000000004
    # up to 15 digits a float reads back as sent; the fast path leaves such numbers to orjson
    assert kwh_of([123_456_789_012_345.6], layout).readings["consumption_kwh"].to_list() == [
        Decimal("123456789012345.6")
    ]


@pytest.mark.parametrize(
    "value, reason",
    [
        (0.1 + 0.2, MORE_DECIMALS),  # 0.30000000000000004
        (0.1234, MORE_DECIMALS),
        (1e-5, MORE_DECIMALS),
        (1e15, "consumption_delta is too large"),
        (10**15, "consumption_delta is too large"),
        (-0.5, "consumption_delta is negative"),
        (True, "consumption_delta is not a number: True"),
        ("0.5", "consumption_delta is not a number: '0.5'"),
        (None, "consumption_delta is missing"),
    ],
)
def test_kwh_that_is_not_three_decimals_of_a_kwh_is_quarantined(value, reason, layout):
    parsed = kwh_of([0.5, value], layout)
    assert parsed.readings["row_number"].to_list() == [1]
    assert parsed.quarantine.select("row_number", "reading_date", "reason").rows() == [(2, date(2021, 1, 1), reason)]


def test_a_quarantined_row_shows_the_value_as_sent():
    parsed = kwh_of([0.1234, -0.5], 0)
    assert parsed.quarantine["raw"].to_list() == [
        '["2021-01-01 00:00:00",0.1234,"m"]',
        '{"interval_start":"2021-01-01 00:30:00","consumption_delta":-0.5,"meterpoint_id":"m"}',
    ]


def feed_file(*rows: str) -> bytes:
    """A file in the feed's exact compact layout, its rows written as given."""
    return parse.HEAD + ",".join(rows).encode() + parse.TAIL


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "orjson"])
@pytest.mark.parametrize(
    "kwh, loaded",
    [
        ("12345678901234.567", "12345678901234.567"),  # was loaded as 12345678901234.566
        ("100000000000000.001", "100000000000000.001"),  # was loaded as 100000000000000
        ("999999999999999.999", "999999999999999.999"),  # was quarantined as too large (10**15)
        ("0.1000000000000000001", None),  # was loaded as 0.1
        ("1.0000000000000001", None),  # was loaded as 1
        ("1e-400", None),  # was loaded as 0
    ],
)
def test_a_kwh_past_15_digits_is_the_number_sent_not_the_nearest_double(kwh, loaded, fast):
    """Found by test_parse_reference.py: the orjson path read numbers as doubles."""
    parsed = parse_documents([("f.json", feed_file(f'["2021-01-01 00:30:00",{kwh},"m"]'))], fast=fast)
    if loaded is None:
        assert parsed.readings.is_empty()
        assert parsed.quarantine["reason"].to_list() == [MORE_DECIMALS]
        assert json.loads(parsed.quarantine["raw"][0], parse_float=Decimal)[1] == Decimal(kwh)  # the number, as sent
    else:
        assert parsed.readings["consumption_kwh"].to_list() == [Decimal(loaded)]
        assert parsed.quarantine.is_empty()


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "orjson"])
def test_a_wall_clock_time_after_2099_keeps_london_summer_time(fast):
    """Found by test_parse_reference.py: Polars' Europe/London has no summer time after 2099
    (zoneinfo's rules go on). Such a year comes only from a damaged file, but is read by the
    design's rule all the same, not an hour off."""
    rows = [
        '["2150-07-01 12:00:00",1.0,"m"]',  # BST: 11:00 UTC (was 12:00)
        '["2150-03-29 01:30:00",1.0,"m"]',  # clocks forward: does not exist (was loaded)
        '["2150-10-25 01:30:00",1.0,"m"]',  # clocks back: 00:30 UTC, then 01:30 UTC (was 01:30 twice)
        '["2150-10-25 01:30:00",2.0,"m"]',
        '["2099-07-01 12:00:00",1.0,"m"]',  # Polars' own rules, as before
    ]
    parsed = parse_documents([("f.json", feed_file(*rows))], fast=fast)
    assert parsed.readings["interval_start_utc"].dt.strftime("%Y-%m-%d %H:%M").to_list() == [
        "2150-07-01 11:00",
        "2150-10-25 00:30",
        "2150-10-25 01:30",
        "2099-07-01 11:00",
    ]
    assert parsed.quarantine.select("row_number", "reason").rows() == [
        (2, "interval_start does not exist in Europe/London (clocks go forward)")
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "orjson"])
def test_the_first_year_past_polars_rules_and_the_last_within_them_keep_london_time(fast):
    """2099 is the last year Polars' Europe/London has summer time for, 2100 the first read by
    zoneinfo instead (clock.after_2099): both sides of that edge, and 2100's own clock changes
    (28 March and 31 October)."""
    rows = [
        '["2099-10-25 01:30:00",1.0,"m"]',  # the last clocks-back day Polars knows: BST, then GMT
        '["2099-10-25 01:30:00",2.0,"m"]',
        '["2099-12-31 23:30:00",1.0,"m"]',  # winter: UTC
        '["2100-01-01 00:00:00",1.0,"m"]',
        '["2100-03-28 00:30:00",1.0,"m"]',  # GMT, just before the clocks go forward
        '["2100-03-28 01:30:00",1.0,"m"]',  # does not exist
        '["2100-03-28 02:00:00",1.0,"m"]',  # BST
        '["2100-07-01 12:00:00",1.0,"m"]',
        '["2100-10-31 01:30:00",1.0,"m"]',  # repeated: BST, then GMT
        '["2100-10-31 01:30:00",2.0,"m"]',
        '["2100-10-31 02:00:00",1.0,"m"]',
    ]
    parsed = parse_documents([("f.json", feed_file(*rows))], fast=fast)
    assert parsed.readings["interval_start_utc"].dt.strftime("%Y-%m-%d %H:%M").to_list() == [
        "2099-10-25 00:30",
        "2099-10-25 01:30",
        "2099-12-31 23:30",
        "2100-01-01 00:00",
        "2100-03-28 00:30",
        "2100-03-28 01:00",
        "2100-07-01 11:00",
        "2100-10-31 00:30",
        "2100-10-31 01:30",
        "2100-10-31 02:00",
    ]
    assert parsed.quarantine.select("row_number", "reason").rows() == [
        (6, "interval_start does not exist in Europe/London (clocks go forward)")
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "orjson"])
def test_a_wall_clock_time_sent_three_times_on_the_clocks_back_day_is_bst_once_then_gmt(fast):
    """A meterpoint's first 01:30 of the clocks-back day is 01:30 BST; its second is 01:30 GMT,
    and so is every later one (a repeat of the GMT reading, for de-duplication to judge)."""
    rows = [
        '["2021-10-31 01:30:00",1.0,"m"]',
        '["2021-10-31 01:30:00",2.0,"m"]',
        '["2021-10-31 01:30:00",3.0,"m"]',
        '["2021-10-31 01:30:00",4.0,"n"]',  # another meterpoint: its own first
        '["2021-10-31 01:30:00",5.0,"m"]',
    ]
    parsed = parse_documents([("f.json", feed_file(*rows))], fast=fast)
    got = parsed.readings.sort("row_number").select(
        "meterpoint_id", pl.col("interval_start_utc").dt.strftime("%H:%M"), "consumption_kwh"
    )
    assert got.rows() == [
        ("m", "00:30", Decimal("1.000")),
        ("m", "01:30", Decimal("2.000")),
        ("m", "01:30", Decimal("3.000")),
        ("n", "00:30", Decimal("4.000")),
        ("m", "01:30", Decimal("5.000")),
    ]


# -- which files are read, and how: .json and .json.gz, in any case -------------------------------


def gzipped(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


@pytest.mark.parametrize("name", ["f.json.gz", "F.JSON.GZ", "f.Json.Gz", "2021-01-04/f.json.GZ"])
@pytest.mark.parametrize("option", [0, orjson.OPT_INDENT_2], ids=["compact", "pretty"])
@pytest.mark.parametrize("fast", [True, False])
def test_a_json_gz_file_is_read_as_the_json_it_holds(name, option, fast):
    rows = [["2021-01-01 00:30:00", 0.5, "0123"], ["2021-01-02 01:00:00", 1.25, "3674e80033"]]
    plain = parse_documents([("f.json", document(rows, option=option))], fast=fast)
    packed = parse_documents([(name, gzipped(document(rows, option=option)))], fast=fast)
    assert packed.quarantine.is_empty() and packed.readings["source_file"].to_list() == [name, name]
    assert packed.readings.drop("source_file").equals(plain.readings.drop("source_file"))
    assert parse.document_days([(name, gzipped(document(rows, option=option)))]) == {
        name: [date(2021, 1, 1), date(2021, 1, 2)]
    }


def test_a_gzip_file_of_several_members_is_read_whole_as_gzip_d_reads_it():
    rows = [["2021-01-01 00:30:00", 0.5, "m"]]
    whole = document(rows)
    half = len(whole) // 2
    parsed = parse_documents([("f.json.gz", gzipped(whole[:half]) + gzipped(whole[half:]) + b"\0" * 8)])
    assert parsed.quarantine.is_empty() and parsed.readings["consumption_kwh"].to_list() == [Decimal("0.5")]


GOOD = document([["2021-01-01 00:30:00", 1.0, "m"]])
CORRUPT_GZIP = {
    "truncated": (lambda: gzipped(GOOD)[:-12], "gzip data is truncated: the file ends mid-stream"),
    "bit flipped": (
        lambda: (lambda z: z[:20] + bytes([z[20] ^ 0xFF]) + z[21:])(gzipped(GOOD)),
        "corrupt gzip data: Error -3",
    ),
    "wrong checksum": (lambda: gzipped(GOOD)[:-8] + b"\0\0\0\0" + gzipped(GOOD)[-4:], "corrupt gzip data"),
    "plain JSON named .gz": (lambda: GOOD, "not gzip data (named .gz, it starts with b'{\"column')"),
    "empty": (lambda: b"", "file is empty"),
    "trailing bytes": (lambda: gzipped(GOOD) + b"junk", "4 bytes after the end of the gzip data are not gzip data"),
    "gzip of broken JSON": (lambda: gzipped(GOOD[:-3]), "invalid JSON"),
}


@pytest.mark.parametrize("kind", list(CORRUPT_GZIP))
def test_a_corrupt_gzip_file_is_rejected_whole_with_its_reason_and_the_others_are_read(kind):
    make, reason = CORRUPT_GZIP[kind]
    documents = [("bad.json.gz", make()), ("good.json.gz", gzipped(GOOD)), ("good.json", GOOD)]
    parsed = parse_documents(documents)
    assert parsed.readings["source_file"].to_list() == ["good.json.gz", "good.json"]
    [(source, row_number, day, why)] = parsed.quarantine.select(
        "source_file", "row_number", "reading_date", "reason"
    ).rows()
    assert (source, row_number, day) == ("bad.json.gz", None, None) and why.startswith(reason), why
    assert parse.document_days(documents)["bad.json.gz"] == []  # no day: reported on the run's last


def test_a_gzip_file_expanding_past_the_limit_is_rejected_not_read(monkeypatch):
    monkeypatch.setattr(parse, "MAX_EXPANDED_BYTES", len(GOOD) - 1)
    parsed = parse_documents([("big.json.gz", gzipped(GOOD)), ("small.json", GOOD)])
    assert parsed.readings["source_file"].to_list() == ["small.json"]
    assert parsed.quarantine["reason"].to_list() == [
        f"larger than {len(GOOD) - 1:,} bytes once decompressed: too large to be a readings file"
    ]
    monkeypatch.setattr(parse, "MAX_EXPANDED_BYTES", len(GOOD))  # exactly the limit: read
    assert parse_documents([("big.json.gz", gzipped(GOOD))]).readings.height == 1


def test_a_json_file_holding_gzip_data_is_told_to_be_named_json_gz():
    parsed = parse_documents([("f.json", gzipped(GOOD))])
    [reason] = parsed.quarantine["reason"].to_list()
    assert reason.startswith("invalid JSON: the file is gzip data, name it .json.gz to have it read")


@pytest.mark.parametrize(
    "name, read",
    [
        ("m.json", True),
        ("M.JSON", True),
        ("m.Json", True),
        ("m.json.gz", True),
        ("m.JSON.GZ", True),
        ("2021-01-04/sub/m.Json.Gz", True),
        ("readings.csv", False),
        ("notes.txt", False),
        ("m.json.bak", False),
        ("m.json.tmp", False),
        ("m.json.part", False),
        ("README", False),
        ("m.zip", False),
        ("m.gz", False),
        ("m.jsonl", False),
        ("json", False),
        ("m.json ", False),
        ("m.json.gz.1", False),
    ],
)
def test_only_json_and_json_gz_names_are_readings_files_in_any_case(name, read):
    assert parse.is_readings_file(name) is read
    assert pl.select(parse.readings_file(pl.lit(name))).item() is read  # the column-wise rule agrees
