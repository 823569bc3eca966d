"""The PNG charts of the Dagster UI: valid, small, and one bar per half hour or product."""

import base64
import struct
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from octo_assets import charts

MAX_BYTES = 40_000  # they live in the event log, once per partition
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the PNG signature."""
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def half_hourly(day: date, first_utc: datetime, slots: int, skip: tuple[int, ...] = ()) -> pl.DataFrame:
    """A half-hourly table like the analytics one: `slots` half hours from `first_utc`, minus `skip`."""
    rows = [i for i in range(slots) if i not in skip]
    return pl.DataFrame(
        {
            "interval_start_utc": [first_utc + timedelta(minutes=30 * i) for i in rows],
            "reading_date": [day] * len(rows),
            "meterpoint_count": [100 - i % 3 for i in rows],
            "consumption_kwh": [10.0 + i for i in rows],
        },
        schema={
            "interval_start_utc": pl.Datetime("us", "UTC"),
            "reading_date": pl.Date,
            "meterpoint_count": pl.Int64,
            "consumption_kwh": pl.Float64,
        },
    )


JAN_1 = date(2021, 1, 1)
CLOCKS_BACK = date(2021, 10, 31)  # 50 half hours: 01:00-01:59 twice
CLOCKS_FORWARD = date(2021, 3, 28)  # 46 half hours: no 01:00-01:59
UTC = timezone.utc


def tick_labels(axes) -> list[str]:
    return [label.get_text() for label in axes.get_xticklabels()]


def bar_xs(axes) -> list[float]:
    return [patch.get_x() + patch.get_width() / 2 for patch in axes.patches]


@pytest.mark.parametrize(
    ("day", "first_utc", "slots"),
    [
        (JAN_1, datetime(2021, 1, 1, 0, 0, tzinfo=UTC), 48),
        (CLOCKS_BACK, datetime(2021, 10, 30, 23, 0, tzinfo=UTC), 50),
        (CLOCKS_FORWARD, datetime(2021, 3, 28, 0, 0, tzinfo=UTC), 46),
    ],
)
def test_the_load_curve_has_one_bar_and_one_point_per_half_hour(day, first_utc, slots):
    frame = half_hourly(day, first_utc, slots)
    figure = charts.load_curve_figure(frame, day)
    kwh_axes, meter_axes = figure.axes
    assert bar_xs(kwh_axes) == list(range(slots))
    assert [patch.get_height() for patch in kwh_axes.patches] == frame["consumption_kwh"].to_list()
    line, *change = meter_axes.get_lines()
    assert list(line.get_ydata()) == frame["meterpoint_count"].to_list()
    assert len(change) == (slots != 48)  # a dotted line where the clocks change
    assert f"{slots} of {slots} half hours" in figure.get_suptitle()


def test_the_two_0100s_of_the_clocks_back_day_are_two_labelled_slots():
    labels = charts.slot_labels(charts.day_slots(CLOCKS_BACK))
    assert len(labels) == len(set(labels)) == 50
    assert labels[:6] == ["00:00 BST", "00:30 BST", "01:00 BST", "01:30 BST", "01:00 GMT", "01:30 GMT"]
    figure = charts.load_curve_figure(
        half_hourly(CLOCKS_BACK, datetime(2021, 10, 30, 23, 0, tzinfo=UTC), 50), CLOCKS_BACK
    )
    assert {"01:00 BST", "01:00 GMT"} <= set(tick_labels(figure.axes[1]))


def test_the_clocks_forward_day_skips_from_0030_gmt_to_0200_bst():
    labels = charts.slot_labels(charts.day_slots(CLOCKS_FORWARD))
    assert len(labels) == 46
    assert labels[:3] == ["00:00 GMT", "00:30 GMT", "02:00 BST"]
    assert 2 in charts.slot_ticks(labels)  # the first slot after the change is labelled


def test_an_ordinary_day_is_labelled_by_wall_clock_alone():
    labels = charts.slot_labels(charts.day_slots(JAN_1))
    assert labels[0] == "00:00" and labels[-1] == "23:30" and len(labels) == 48
    assert [labels[i] for i in charts.slot_ticks(labels)] == [f"{h:02}:00" for h in range(0, 24, 3)]


def test_a_missing_half_hour_is_a_gap_not_a_shift():
    # the sample's 1 January lacks 00:00: the 47 bars start at the second slot
    frame = half_hourly(JAN_1, datetime(2021, 1, 1, 0, 0, tzinfo=UTC), 48, skip=(0,))
    figure = charts.load_curve_figure(frame, JAN_1)
    assert bar_xs(figure.axes[0]) == list(range(1, 48))
    assert "47 of 48 half hours" in figure.get_suptitle()


def test_load_curve_png_is_small_and_the_markdown_embeds_it():
    png = charts.load_curve_png(half_hourly(CLOCKS_BACK, datetime(2021, 10, 30, 23, 0, tzinfo=UTC), 50), CLOCKS_BACK)
    assert png_size(png) == (460, 259)  # 6.4 x 3.6 inches at 72 dpi
    assert len(png) < MAX_BYTES
    markdown = charts.image_markdown(png, "load curve")
    prefix = "![load curve](data:image/png;base64,"
    assert markdown.startswith(prefix) and markdown.endswith(")")
    assert base64.b64decode(markdown[len(prefix) : -1]) == png


def test_an_empty_day_still_draws():
    frame = half_hourly(JAN_1, datetime(2021, 1, 1, tzinfo=UTC), 0)
    assert "0 of 48 half hours" in charts.load_curve_figure(frame, JAN_1).get_suptitle()
    png_size(charts.load_curve_png(frame, JAN_1))
    png_size(charts.product_png(product_day([]), JAN_1))
    png_size(charts.completeness_png(charts.half_hours_per_meterpoint(pl.DataFrame({"meterpoint_id": []})), JAN_1))


def product_day(rows: list[tuple[str | None, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"product_display_name": pl.String, "meterpoint_count": pl.Int64, "consumption_kwh": pl.Float64},
        orient="row",
    ).with_columns(reading_date=pl.lit(JAN_1))


def test_products_are_ranked_with_no_agreement_last():
    frame = product_day([("Flexible Octopus", 15, 229.73), (None, 6, 68.2), ("Octopus 12M Fixed", 39, 587.576)])
    bars = charts.product_bars(frame)
    assert bars.rows() == [
        ("Octopus 12M Fixed", 587.576, 39),
        ("Flexible Octopus", 229.73, 15),
        ("(no agreement)", 68.2, 6),
    ]
    figure = charts.product_figure(frame, JAN_1)
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == list(bars["label"])
    assert [patch.get_width() for patch in axes.patches] == [587.576, 229.73, 68.2]
    colours = [patch.get_facecolor() for patch in axes.patches]
    assert colours[0] == colours[1] != colours[2]  # no agreement is drawn apart
    assert figure.get_suptitle() == "2021-01-01  ·  2 products  ·  885.506 kWh"


def test_many_products_end_in_one_bar_of_the_others_with_their_sum():
    frame = product_day([(f"Product {i:02}", 1, float(i)) for i in range(1, 21)] + [(None, 2, 0.5)])
    bars = charts.product_bars(frame, max_bars=5)
    assert bars["label"].to_list() == [
        "Product 20",
        "Product 19",
        "Product 18",
        "Product 17",
        "(16 other products)",
        "(no agreement)",
    ]
    assert bars["consumption_kwh"].sum() == pytest.approx(frame["consumption_kwh"].sum())
    assert bars.row(4) == ("(16 other products)", float(sum(range(1, 17))), 16)


def test_the_product_png_stays_small_with_many_long_names():
    frame = product_day(
        [(f"Octopus Tracker Fixed Long Name {i:02} 12M", i, i * 100.5) for i in range(40)] + [(None, 6, 1)]
    )
    png = charts.product_png(frame, JAN_1)
    assert len(png) < MAX_BYTES
    width, height = png_size(png)
    assert width == 460 and height < 400  # 15 bars and the no-agreement bar, not 41


def test_half_hours_per_meterpoint_counts_each_meterpoints_readings():
    readings = pl.DataFrame({"meterpoint_id": ["a"] * 48 + ["b"] * 47 + ["c"] * 47 + ["0123"] * 3})
    counts = charts.half_hours_per_meterpoint(readings)
    assert counts.rows() == [(3, 1), (47, 2), (48, 1)]
    assert counts.schema == {"half_hours": pl.Int64, "meterpoints": pl.Int64}


@pytest.mark.parametrize(("day", "expected"), [(JAN_1, 48), (CLOCKS_BACK, 50), (CLOCKS_FORWARD, 46)])
def test_the_completeness_histogram_marks_the_days_expected_half_hours(day, expected):
    counts = pl.DataFrame({"half_hours": [3, expected - 1, expected], "meterpoints": [1, 2, 97]})
    figure = charts.completeness_figure(counts, day)
    axes = figure.axes[0]
    assert bar_xs(axes) == [3, expected - 1, expected]
    assert [patch.get_height() for patch in axes.patches] == [1, 2, 97]
    (marker,) = axes.get_lines()
    assert list(marker.get_xdata()) == [expected, expected]
    assert figure.get_suptitle() == f"{day}  ·  100 meterpoints  ·  97 with all {expected} half hours"


def test_completeness_markdown_from_a_readings_frame():
    readings = pl.DataFrame({"meterpoint_id": [f"{i:010}" for i in range(100) for _ in range(47)]})
    markdown = charts.completeness_markdown(readings, JAN_1)
    assert markdown.startswith("![meterpoints by half hours received on 2021-01-01](data:image/png;base64,")
    png = base64.b64decode(markdown.split("base64,")[1][:-1])
    png_size(png)
    assert len(png) < MAX_BYTES


def test_importing_the_charts_does_not_import_matplotlib():
    code = "import sys, octo_assets.charts; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
