"""Small PNG charts for the Dagster UI, embedded in Markdown metadata as `data:` images.

Every chart is stored in the event log with its materialisation, so they are drawn small: a
low dpi, a handful of colours, and a palette PNG saved with `optimize`. Pure functions of
Polars frames; matplotlib is imported inside them (it takes about half a second), so that
importing this module, the code location or a parsing worker does not pay for it.

    image_markdown(load_curve_png(half_hourly, day), "load curve")   # -> "![load curve](data:image/png;base64,...)"
"""

import base64
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl

from octo_assets.domain import LOCAL_TZ, half_hours_in_day

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NO_AGREEMENT = "(no agreement)"
DPI = 72
WIDTH_IN = 6.4  # 460 pixels at DPI: readable in the asset's metadata panel
BAR, SECOND, MUTED = "#2f6690", "#d1742a", "#8c8c8c"
PALETTE_COLOURS = 24  # anti-aliased text and lines of three colours fit in this
MAX_PRODUCT_BARS = 15  # more products are summed into one "others" bar


def image_markdown(png: bytes, alt: str) -> str:
    """The Markdown image Dagster's UI renders: `![alt](data:image/png;base64,...)`."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def png_bytes(figure: "Figure") -> bytes:
    """Render with Agg (no display needed) and save as an optimised palette PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    out = io.BytesIO()
    # a few colours in a palette: about a third of the bytes of a true-colour PNG
    image.quantize(colors=PALETTE_COLOURS).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _figure(height_in: float, rows: int = 1) -> "Figure":
    from matplotlib.figure import Figure

    # a bare Figure, not pyplot: no global state, no backend, freed when it goes out of scope
    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    figure.subplots(rows, 1, sharex=True, squeeze=False)
    for axes in figure.axes:
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(labelsize=8)
    return figure


# --- load curve: the half-hourly table of one day -------------------------------------------


def day_slots(day: date) -> pl.Series:
    """The UTC start of every half hour of a Europe/London day: 46, 48 or 50 of them."""
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(LOCAL_TZ)).astimezone(timezone.utc)
    starts = [start + timedelta(minutes=30 * i) for i in range(half_hours_in_day(day))]
    return pl.Series("interval_start_utc", starts, dtype=pl.Datetime("us", "UTC"))


def slot_labels(interval_start_utc: pl.Series) -> list[str]:
    """Each half hour's Europe/London wall clock, `HH:MM`. On a clock-change day every label
    also names its zone (`01:00 BST`, `01:00 GMT`), so the repeated hour stays two slots."""
    utc = interval_start_utc
    if utc.dtype.time_zone is None:  # naive instants are UTC here
        utc = utc.dt.replace_time_zone("UTC")
    local = utc.dt.convert_time_zone(LOCAL_TZ)
    clock, zones = local.dt.strftime("%H:%M").to_list(), local.dt.strftime("%Z").to_list()
    if len(set(zones)) > 1:
        return [f"{c} {z}" for c, z in zip(clock, zones)]
    return clock


def slot_ticks(labels: Sequence[str]) -> list[int]:
    """Which slots get a tick label: every third hour, every hour that repeats (clocks back),
    and the first slot after a change of zone (clocks forward)."""
    hours = [label[:2] for label in labels]
    zones = [label[6:] for label in labels]
    ticks = []
    for i, label in enumerate(labels):
        on_the_hour = label[3:5] == "00"
        repeated = hours.count(hours[i]) > 2
        zone_changed = i > 0 and zones[i] != zones[i - 1]
        if (on_the_hour and (int(hours[i]) % 3 == 0 or repeated)) or zone_changed:
            ticks.append(i)
    return ticks


def slot_positions(interval_start_utc: pl.Series, day: date) -> list[int]:
    """Each half hour's index among the day's slots, so that a missing half hour is a gap."""
    start = day_slots(day)[0]
    utc = interval_start_utc
    if utc.dtype.time_zone is None:
        utc = utc.dt.replace_time_zone("UTC")
    return ((utc - start).dt.total_minutes() // 30).cast(pl.Int64).to_list()


def load_curve_figure(half_hourly: pl.DataFrame, day: date) -> "Figure":
    """kWh (bars) and meterpoints (line) by half hour of `day`: one bar and one point per row,
    placed on the day's 46, 48 or 50 slots in UTC order; the title counts the slots."""
    frame = half_hourly.sort("interval_start_utc")
    labels = slot_labels(day_slots(day))
    x = slot_positions(frame["interval_start_utc"], day)
    figure = _figure(3.6, rows=2)
    kwh_axes, meter_axes = figure.axes
    kwh_axes.bar(x, frame["consumption_kwh"].to_list(), width=0.8, color=BAR)
    kwh_axes.set_ylabel("kWh", fontsize=8)
    meter_axes.plot(x, frame["meterpoint_count"].to_list(), color=SECOND, marker=".", markersize=3, linewidth=1)
    meter_axes.set_ylabel("meterpoints", fontsize=8)
    meter_axes.set_ylim(bottom=0)
    ticks = slot_ticks(labels)
    zoned = " " in labels[0]  # a clock-change day
    # zone-named labels are wider and, around the change, two slots apart: stand them upright
    meter_axes.set_xticks(ticks, [labels[i] for i in ticks], fontsize=7, rotation=90 if zoned else 0)
    for change in (i for i in range(1, len(labels)) if labels[i][6:] != labels[i - 1][6:]):
        for axes in figure.axes:
            axes.axvline(change - 0.5, color=MUTED, linestyle=":", linewidth=1)
    meter_axes.set_xlim(-0.6, len(labels) - 0.4)
    kwh, meterpoints = frame["consumption_kwh"].sum() or 0.0, frame["meterpoint_count"].max() or 0
    figure.suptitle(
        f"{day}  ·  {frame.height} of {len(labels)} half hours  ·  {kwh:,.3f} kWh  ·  up to {meterpoints} meterpoints",
        fontsize=9,
    )
    return figure


def load_curve_png(half_hourly: pl.DataFrame, day: date) -> bytes:
    return png_bytes(load_curve_figure(half_hourly, day))


# --- consumption by product: the product-day table of one day --------------------------------


def product_bars(product_day: pl.DataFrame, max_bars: int = MAX_PRODUCT_BARS) -> pl.DataFrame:
    """(label, consumption_kwh, meterpoint_count), largest first and `(no agreement)` last; past
    `max_bars` products the smallest are summed into one `(n other products)` row."""
    known = product_day.filter(pl.col("product_display_name").is_not_null()).sort(
        ["consumption_kwh", "product_display_name"], descending=[True, False]
    )
    rows = known.select(label="product_display_name", consumption_kwh="consumption_kwh", meterpoints="meterpoint_count")
    if rows.height > max_bars:
        rest = rows.slice(max_bars - 1)
        others = pl.DataFrame(
            {
                "label": [f"({rest.height} other products)"],
                "consumption_kwh": [rest["consumption_kwh"].sum()],
                "meterpoints": [rest["meterpoints"].sum()],
            },
            schema=rows.schema,
        )
        rows = pl.concat([rows.head(max_bars - 1), others])
    uncovered = product_day.filter(pl.col("product_display_name").is_null()).select(
        label=pl.lit(NO_AGREEMENT), consumption_kwh="consumption_kwh", meterpoints="meterpoint_count"
    )
    return pl.concat([rows, uncovered.cast(rows.schema)])


def product_figure(product_day: pl.DataFrame, day: date) -> "Figure":
    """Horizontal bars of kWh by product display name, each labelled with its kWh and meterpoints."""
    bars = product_bars(product_day)
    figure = _figure(0.9 + 0.24 * max(bars.height, 1))
    axes = figure.axes[0]
    positions = list(range(bars.height))
    colours = [MUTED if label == NO_AGREEMENT else BAR for label in bars["label"]]
    axes.barh(positions, bars["consumption_kwh"].to_list(), color=colours, height=0.7)
    axes.set_yticks(positions, bars["label"].to_list(), fontsize=7)
    axes.invert_yaxis()  # largest at the top
    axes.set_xlabel("kWh", fontsize=8)
    for y, (kwh, meterpoints) in enumerate(zip(bars["consumption_kwh"], bars["meterpoints"])):
        axes.annotate(f" {kwh:,.1f} kWh, {meterpoints} mp", (kwh, y), va="center", fontsize=6.5)
    axes.margins(x=0.25)
    products = product_day["product_display_name"].drop_nulls().n_unique()
    kwh = product_day["consumption_kwh"].sum() or 0.0
    figure.suptitle(f"{day}  ·  {products} products  ·  {kwh:,.3f} kWh", fontsize=9)
    return figure


def product_png(product_day: pl.DataFrame, day: date) -> bytes:
    return png_bytes(product_figure(product_day, day))


# --- completeness of a day's readings ---------------------------------------------------------


def half_hours_per_meterpoint(readings: pl.DataFrame) -> pl.DataFrame:
    """(half_hours, meterpoints): how many meterpoints have each number of readings in the day.
    `readings` is one day of de-duplicated readings (one row per meterpoint and half hour);
    only its `meterpoint_id` column is used."""
    per_meterpoint = readings.group_by("meterpoint_id").agg(half_hours=pl.len().cast(pl.Int64))
    return per_meterpoint.group_by("half_hours").agg(meterpoints=pl.len().cast(pl.Int64)).sort("half_hours")


def completeness_figure(counts: pl.DataFrame, day: date) -> "Figure":
    """A histogram of meterpoints by half hours received (one bar per count present), with the
    day's expected 46, 48 or 50 marked; complete meterpoints in blue, the others in orange."""
    expected = half_hours_in_day(day)
    figure = _figure(2.4)
    axes = figure.axes[0]
    half_hours, meterpoints = counts["half_hours"].to_list(), counts["meterpoints"].to_list()
    colours = [BAR if n == expected else SECOND for n in half_hours]
    axes.bar(half_hours, meterpoints, width=0.8, color=colours)
    axes.axvline(expected, color=MUTED, linestyle="--", linewidth=1)
    axes.annotate(
        f"expected {expected}",
        (expected, 1),
        xycoords=("data", "axes fraction"),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=7,
        color=MUTED,
    )
    axes.set_xlim(-0.5, max([expected, *half_hours]) + 1.5)
    axes.set_xlabel("half hours received", fontsize=8)
    axes.set_ylabel("meterpoints", fontsize=8)
    complete = sum(m for n, m in zip(half_hours, meterpoints) if n == expected)
    figure.suptitle(
        f"{day}  ·  {sum(meterpoints)} meterpoints  ·  {complete} with all {expected} half hours", fontsize=9
    )
    return figure


def completeness_png(counts: pl.DataFrame, day: date) -> bytes:
    return png_bytes(completeness_figure(counts, day))


def completeness_markdown(readings: pl.DataFrame, day: date) -> str:
    """The completeness chart of one day's readings, ready for `dg.MetadataValue.md`."""
    png = completeness_png(half_hours_per_meterpoint(readings), day)
    return image_markdown(png, f"meterpoints by half hours received on {day}")
