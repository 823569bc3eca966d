"""Seen, not assumed: the Dagster UI in a real headless browser (Debian's chromium, driven by
Playwright), after `make run`'s pipeline (run_pipeline) built the case-study sample on a
temporary DAGSTER_HOME, served by `dg dev` as `make ui` serves it.

Each test asserts what a person looks for on a page: the assets in the lineage graph, the charts
in the metadata as images that really loaded, each check's status (the sample's two warnings, on
the days they hold), the offending meterpoints, the column descriptions, and freshness evaluated.

`OCTO_SCREENSHOTS=docs pytest octo_assets_tests/integration/test_browser.py` also saves the README's
screenshots (1400x900, palette PNGs) into that folder (relative to the repository root).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from octo_assets import definitions, descriptions
from octo_assets.run import run_pipeline
from octo_assets_tests.support.browser import headless_chromium, require_browser, save_screenshot
from octo_assets_tests.support.dagster_dev import REPO_ROOT, DagsterDev, dagster_home, running_dagster_dev
from octo_assets_tests.support.workspace import SAMPLE

START_S = 90  # dg dev up and its code location loaded
PAGE_S = 20  # any one wait on a page: navigation, an element, a text
FRESHNESS_S = 90  # the daemon's first freshness evaluations and the freshness checks' first run
SCREENSHOTS = "OCTO_SCREENSHOTS"

DAYS = ["2021-01-01", "2021-01-02", "2021-01-03"]
LATEST = DAYS[-1]
ASSETS = [
    "landing/readings_files",
    "source/case_study_db",
    "lake/readings",
    "lake/agreement",
    "lake/product",
    "lake/meterpoint",
    "analytics/active_agreements",
    "analytics/half_hourly_consumption",
    "analytics/daily_product_consumption",
    "warehouse/catalog",
]
GROUPS = ["readings", "source", "analytics", "warehouse"]
READINGS = "lake/readings"
# the sample's two real issues (README "Checks on the sample"): warnings on these days; every
# other check of the readings passes every day
WARNINGS = {"readings_complete_days": {"2021-01-01"}, "readings_covered_by_agreement": set(DAYS)}
# built by Dagster on the last partition of each daily asset; the sample's days are in 2021, so
# the partition due yesterday is missing and the check fails (severity ERROR), as it should
FRESHNESS_CHECK = "freshness_check"
FRESHNESS_DEADLINES = {"lake/readings": (8, 30), "analytics": (9, 0)}  # automation.policies, London
LONDON = ZoneInfo("Europe/London")
# Dagster's status icons (their aria-label) and words
PASSED_ICON, WARNING_ICON, ERROR_ICON = "check_circle", "warning_outline", "cancel"
CHARTS = {
    "analytics/half_hourly_consumption": ("load_curve", "kWh and meterpoints by half hour on {day}"),
    "analytics/daily_product_consumption": ("consumption_by_product", "kWh by product on {day}"),
}
COLUMNS = {
    "lake/readings": descriptions.READINGS,
    "analytics/half_hourly_consumption": descriptions.HALF_HOURLY_CONSUMPTION,
    "analytics/daily_product_consumption": descriptions.DAILY_PRODUCT_CONSUMPTION,
}


@dataclass
class UI:
    """The browser's page on the running `dg dev`."""

    dev: DagsterDev
    page: object  # playwright.sync_api.Page
    screenshots: Path | None

    def open(self, path: str):
        self.page.goto(self.dev.url + path)
        return self.page

    def screenshot(self, name: str) -> None:
        if self.screenshots:
            self.page.wait_for_timeout(800)  # a dialog fades in: not half-transparent in the picture
            save_screenshot(self.page, self.screenshots / f"{name}.png")


def screenshots_dir() -> Path | None:
    folder = os.environ.get(SCREENSHOTS)
    if not folder:
        return None
    path = Path(folder)
    return path if path.is_absolute() else REPO_ROOT / path


@pytest.fixture(scope="module")
def ui(module_workspace, tmp_path_factory) -> Iterator[UI]:
    require_browser()  # before anything is built: a clear skip (or failure in CI) at once
    ws = module_workspace
    shutil.copytree(SAMPLE / "readings", ws.readings, dirs_exist_ok=True)
    shutil.copy(SAMPLE / "case_study.db", ws.source_db)
    root = tmp_path_factory.mktemp("browser")
    # what `make run` does, on the instance `dg dev` then serves (config/dagster.yaml)
    with dg.DagsterInstance.from_config(str(dagster_home(root))) as instance:
        assert run_pipeline(instance, ws.resources()).days == DAYS
    with running_dagster_dev(root, ws, START_S) as dev:
        # the "Join the Dagster community" dialog a first visit shows over every page, answered
        # once per instance as a person's "Skip" would answer it
        dev.query("mutation { setNuxSeen }")
        with headless_chromium(root / "chromium-profile", PAGE_S) as page:
            yield UI(dev, page, screenshots_dir())


# --- what the page shows ------------------------------------------------------------------


def until(
    page,
    what: str,
    probe: Callable[[], object],
    seconds: float,
    reload: bool = False,
    done: Callable[[object], bool] = bool,
):
    """Polls `probe` (reloading the page between tries if `reload`) until `done` holds for what it
    returns (by default: something truthy), for at most `seconds`; returns that."""
    end = time.monotonic() + seconds
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > end:
            pytest.fail(f"not seen within {seconds} s: {what} (last seen: {value!r})")
        if reload:
            page.reload()
        page.wait_for_timeout(2000)  # after a reload too: the page fills in after its load event


def plain(markdown: str) -> str:
    """A description as the UI renders its Markdown: inline code without backticks, spaces collapsed."""
    return " ".join(markdown.replace("`", "").split())


def columns_table(page) -> dict[str, tuple[str, str]]:
    """The asset's Columns table: column name -> (type, description), once every row is filled in."""
    from playwright.sync_api import expect

    table = page.get_by_role("table").filter(has_text="Column name")
    expect(table).to_be_visible()
    rows = table.get_by_role("row").filter(has_not_text="Column name")
    expect(rows.first).to_be_visible()

    def read():
        shown = {}
        for row in rows.all():
            name, dtype, text = (" ".join(c.split()) for c in row.get_by_role("cell").all_inner_texts())
            shown[name] = (dtype, text)
        # descriptions are rendered (Markdown) after the table: wait until none is blank
        return shown if all(text for _, text in shown.values()) else None

    return until(page, "the column descriptions", read, PAGE_S)


def open_markdown(page, entry: str):
    """Opens the metadata entry `entry` ([Show Markdown]) and returns its dialog."""
    from playwright.sync_api import expect

    row = page.get_by_role("row").filter(has=page.get_by_text(entry, exact=True))
    expect(row.first).to_be_visible()
    row.first.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text=entry)
    expect(dialog).to_be_visible()
    return dialog


def assert_loaded_png(image, alt: str) -> dict:
    """An <img> with a PNG data URI that the browser decoded and lays out."""
    from playwright.sync_api import expect

    expect(image).to_have_attribute("alt", alt)
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,[A-Za-z0-9+/]"))
    expect(image).to_be_visible()
    image.page.wait_for_function("img => img.complete", arg=image.element_handle(), timeout=PAGE_S * 1000)
    loaded = image.evaluate(
        "img => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight, "
        "shown: img.getBoundingClientRect().width})"
    )
    assert loaded["complete"] and loaded["width"] > 0 and loaded["height"] > 0, f"{alt}: not decoded: {loaded}"
    assert loaded["shown"] > 0, f"{alt}: not laid out: {loaded}"
    return loaded


def check_row(page, name: str):
    """A check in the asset's Checks list (its name is the title of a middle-truncated label)."""
    return page.locator("div", has=page.get_by_title(name, exact=True)).filter(has=page.get_by_role("img")).last


def check_status(page, name: str) -> tuple[str, str]:
    """(status word, status icon) of a check in the Checks list."""
    row = check_row(page, name)
    return row.inner_text().split("\n")[-1].strip(), row.get_by_role("img").first.get_attribute("aria-label")


def readings_checks() -> list[str]:
    key = dg.AssetKey(READINGS.split("/"))
    return sorted(c.name for c in definitions.defs.resolve_asset_graph().asset_check_keys if c.asset_key == key)


def expected_in_list(check: str) -> tuple[str, str]:
    """The Checks list sums up a daily check over its days: failed (a warning) if any day's current
    result failed, whichever day ran last."""
    if check == FRESHNESS_CHECK:
        return "Failed", ERROR_ICON
    if WARNINGS.get(check):
        return "Failed", WARNING_ICON
    return "Succeeded", PASSED_ICON


def overdue_partition(deadline: tuple[int, int], now: datetime) -> str:
    """The partition a time-partition freshness check expects by `now`: day D-1 is due at the
    deadline on D (Europe/London)."""
    local = now.astimezone(LONDON)
    tick = local.replace(hour=deadline[0], minute=deadline[1], second=0, microsecond=0)
    due_day = tick.date() if local >= tick else tick.date() - timedelta(days=1)
    return (due_day - timedelta(days=1)).isoformat()


# --- the tests ----------------------------------------------------------------------------


def node_labels(page) -> list[str]:
    """The first line of every box in the graph: an asset's name, or a group's (then its counts)."""
    texts = page.locator("svg foreignObject").evaluate_all(
        "nodes => nodes.map(n => n.firstElementChild ? n.firstElementChild.innerText : '')"
    )
    return [t.strip().split("\n")[0].strip() for t in texts if t.strip()]


def shows_name(labels: list[str], name: str) -> bool:
    """A node labelled `name`, or middle-truncated to fit its box (`daily…_consumption`)."""
    for label in labels:
        if label == name:
            return True
        head, sep, tail = label.partition("…")
        if sep and head and tail and name.startswith(head) and name.endswith(tail) and len(label) < len(name) + 1:
            return True
    return False


def center_graph(page) -> None:
    """Drag the graph so that all of it is in view (its first fit leaves the top group's header
    under the toolbar): cosmetic, for the screenshot."""
    boxes = [b for b in (f.bounding_box() for f in page.locator("svg foreignObject").all()) if b]
    toolbar = page.get_by_role("button", name=re.compile(r"^Materialize"))
    title = page.get_by_text("Global asset lineage", exact=True)
    if not (toolbar.count() and title.count()):
        return
    top, left = toolbar.first.bounding_box(), title.bounding_box()
    if not (boxes and top and left):
        return
    x0, y0 = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    x1, y1 = max(b["x"] + b["width"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    area_left, area_top = left["x"] - 8, top["y"] + top["height"] + 16
    dx = area_left + max(0.0, (width - area_left - (x1 - x0)) / 2) - x0
    dy = area_top + max(0.0, (height - area_top - (y1 - y0)) / 2) - y0
    start = (area_left + 40, area_top + 20)  # empty canvas: the graph starts lower and to the right
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + dx, start[1] + dy, steps=10)
    page.mouse.up()


def test_the_lineage_graph_shows_every_asset_by_name(ui):
    from playwright.sync_api import expect

    page = ui.open("/asset-groups")
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()
    # one box per group at first: the graph's settings menu expands them, as a person would
    until(page, "a box per group in the graph", lambda: set(GROUPS) <= set(node_labels(page)), PAGE_S)
    page.get_by_role("button").filter(has=page.get_by_role("img", name="settings", exact=True)).last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    names = {key: key.split("/")[-1] for key in ASSETS}
    until(
        page,
        "a node for every asset",
        lambda: all(shows_name(node_labels(page), name) for name in names.values()),
        PAGE_S,
    )
    labels = node_labels(page)
    assert set(GROUPS) <= set(labels), labels
    # `readings` twice: the group and lake/readings; every other asset once
    assert labels.count("readings") == 2, labels
    sidebar = page.get_by_role("button").filter(has=page.get_by_role("img", name="panel_show_right", exact=True))
    sidebar.filter(has_not_text="Hide navigation").click()  # the asset tree beside the graph: hidden
    page.wait_for_timeout(500)
    center_graph(page)
    page.wait_for_timeout(500)
    ui.screenshot("ui-lineage")


def test_the_readings_page_shows_status_columns_and_the_completeness_chart(ui):
    from playwright.sync_api import expect

    page = ui.open("/assets/lake/readings")
    latest = page.get_by_text("Latest materialization", exact=True).locator("xpath=..")
    expect(latest).to_contain_text(LATEST)  # the latest partition, by name

    shown = columns_table(page)
    expected = COLUMNS[READINGS]
    for name, (_, text) in shown.items():
        assert name in expected, f"{name}: a column the descriptions do not know"
        assert text == plain(expected[name]), name
    # the Parquet file's columns and the day it is partitioned by
    assert {"meterpoint_id", "interval_start_utc", "interval_start_local", "consumption_kwh", "source_file"} <= set(
        shown
    ), shown
    page.mouse.wheel(0, -10_000)
    ui.screenshot("ui-readings")

    dialog = open_markdown(page, "completeness")
    assert_loaded_png(dialog.locator("img"), f"completeness of {LATEST}")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def test_the_readings_columns_include_the_partition_column(ui):
    page = ui.open("/assets/lake/readings")
    assert columns_table(page)["reading_date"] == ("Date", plain(COLUMNS[READINGS]["reading_date"]))


def test_each_readings_day_has_its_own_completeness_chart(ui):
    from playwright.sync_api import expect

    day = "2021-01-01"  # the day the sample's 00:00 readings are missing
    page = ui.open(f"/assets/lake/readings?view=partitions&partition={day}")
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
    dialog = open_markdown(page, "completeness")
    assert_loaded_png(dialog.locator("img"), f"completeness of {day}")
    ui.screenshot("ui-readings-completeness")
    dialog.get_by_role("button", name="Close").click()


def test_the_readings_checks_show_the_samples_two_warnings(ui):
    page = ui.open("/assets/lake/readings?view=checks")
    checks = readings_checks()
    assert FRESHNESS_CHECK in checks and set(WARNINGS) < set(checks), checks
    expected = {name: expected_in_list(name) for name in checks}
    # the freshness checks run when dg dev's sensor first ticks: reload until they have
    until(page, "every check with a result", lambda: all(check_row(page, n).count() for n in checks), PAGE_S)
    until(
        page,
        f"the checks' statuses {expected}",
        lambda: {n: check_status(page, n) for n in checks} == expected,
        FRESHNESS_S,
        reload=True,
    )


def history_rows(page):
    """The rows of the check's Execution history table, one per evaluation (with a partition)."""
    table = page.get_by_role("table").filter(has_text="Evaluation result")
    return table.get_by_role("row").filter(has=page.get_by_role("cell", name=re.compile(r"^\d{4}-\d{2}-\d{2}$")))


def execution_history(page, check: str) -> dict[str, tuple[str, str]]:
    """The check's Execution history: partition -> (result, icon)."""
    from playwright.sync_api import expect

    page.goto(f"{page.url.split('?')[0]}?view=checks&checkDetail={check}")
    page.get_by_role("tab", name="Execution history").click()
    rows = history_rows(page)
    expect(rows.first).to_be_visible()
    history = {}
    for row in rows.all():
        cells = [" ".join(c.split()) for c in row.get_by_role("cell").all_inner_texts()]
        result, partition = cells[0], cells[3]
        icon = row.get_by_role("cell").first.get_by_role("img").first.get_attribute("aria-label")
        assert partition not in history, f"{check}: {partition} twice in one run's history"
        history[partition] = (result, icon)
    return history


def test_every_readings_check_shows_each_days_result(ui):
    ui.open("/assets/lake/readings?view=checks")
    for check in readings_checks():
        if check == FRESHNESS_CHECK:  # one result for the asset, not one per day
            continue
        warned = WARNINGS.get(check, set())
        expected = {day: ("Failed", WARNING_ICON) if day in warned else ("Passed", PASSED_ICON) for day in DAYS}
        assert execution_history(ui.page, check) == expected, check


def test_a_failed_check_names_its_offenders(ui):
    from playwright.sync_api import expect

    page = ui.open("/assets/lake/readings?view=checks")
    day = "2021-01-01"
    assert execution_history(page, "readings_complete_days")[day] == ("Failed", WARNING_ICON)
    ui.screenshot("ui-readings-checks")  # each day's result of the check
    row = history_rows(page).filter(has=page.get_by_role("cell", name=day, exact=True))
    row.get_by_role("button").filter(has=page.get_by_role("img", name="metadata", exact=True)).click()
    metadata = page.get_by_role("dialog").filter(has_text="offending_rows")
    # (the dialog's text runs its cells together: "offending_rows100Close")
    expect(metadata).to_contain_text(re.compile(r"offending_rows\s*100(?!\d)"))  # every meterpoint of the sample
    expect(metadata).to_contain_text(re.compile(r"half_hours_expected\s*48(?!\d)"))
    metadata.get_by_text("[Show Markdown]").click()
    offenders = page.get_by_role("dialog").filter(has_text="missing_local")
    expect(offenders).to_be_visible()
    lines = [line.split() for line in offenders.inner_text().splitlines() if line.strip()]
    header = lines.index(["meterpoint_id", "half_hours", "expected", "missing_local"])
    rows = [line for line in lines[header + 1 :] if len(line) == 4]
    assert len(rows) == 20, lines  # the first twenty of the hundred (checks.framework.SHOWN)
    for meterpoint, half_hours, expected, missing in rows:
        assert re.fullmatch(r"[0-9a-f]{10}", meterpoint), meterpoint
        assert (half_hours, expected, missing) == ("47", "48", "00:00"), meterpoint
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")


def test_a_daily_checks_partitions_tab_counts_its_days(ui):
    from playwright.sync_api import expect

    page = ui.open("/assets/lake/readings?view=checks&checkDetail=readings_complete_days")
    expect(page.get_by_text("Latest execution", exact=True)).to_be_visible()
    page.get_by_role("tab", name="Partitions").last.click()  # the check's tab, after the asset's
    counts = page.get_by_text(re.compile(r"^Missing \(\d+\)$"))
    expect(counts).to_be_visible()
    text = " ".join(page.locator("body").inner_text().split())
    passed = re.search(r"\bPassed \((\d+)\)", text)
    failed = re.search(r"(?<!Execution )\bFailed \((\d+)\)", text)
    assert passed and failed, text[-600:]
    assert (int(failed.group(1)), int(passed.group(1))) == (1, 2)


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_an_analytics_page_shows_its_chart_and_columns(ui, key):
    from playwright.sync_api import expect

    page = ui.open(f"/assets/{key}")
    expect(page.get_by_text("Latest materialization", exact=True).locator("xpath=..")).to_contain_text(LATEST)
    shown = columns_table(page)
    expected = COLUMNS[key]
    assert set(shown) == set(expected), shown
    for name, (_, text) in shown.items():
        assert text == plain(expected[name]), f"{key}: {name}"
    entry, alt = CHARTS[key]
    dialog = open_markdown(page, entry)
    assert_loaded_png(dialog.locator("img"), alt.format(day=LATEST))
    if key == "analytics/half_hourly_consumption":
        ui.screenshot("ui-analytics")
    dialog.get_by_role("button", name="Close").click()


@pytest.mark.parametrize("key", ["warehouse/catalog", "lake/agreement"])
def test_freshness_is_evaluated_for_the_assets_with_a_policy(ui, key):
    """Just built, so fresh whatever the hour: FreshnessPolicy.cron passes an asset materialised
    since the start of its last window. Evaluated by dg dev's freshness daemon (every 30 s)."""
    page = ui.open(f"/assets/{key}")
    label = page.get_by_text("Freshness policy", exact=True).filter(visible=True)  # (a hidden copy too)
    words = re.compile(r"\b(Passing|Failing|Warning|Unknown|Not evaluated)\b")

    def state():
        # the label's box holds the label and, under it, the status
        if not label.count():
            return None
        found = words.search(label.first.evaluate("label => label.parentElement.innerText"))
        return found.group(1) if found else None

    until(page, f"{key}: the Freshness policy panel", lambda: label.count(), PAGE_S)
    until(page, f"{key}: freshness Passing", state, FRESHNESS_S, reload=True, done=lambda s: s == "Passing")


@pytest.mark.parametrize("key", ["lake/readings", "analytics/half_hourly_consumption"])
def test_freshness_of_a_daily_asset_is_its_last_partitions_check(ui, key):
    """The sample's days are in 2021: the partition due by today's deadline is missing, so the
    freshness check fails and says which partition it expected."""
    from playwright.sync_api import expect

    deadline = FRESHNESS_DEADLINES.get(key) or FRESHNESS_DEADLINES[key.split("/")[0]]
    before = overdue_partition(deadline, datetime.now(LONDON))
    page = ui.open(f"/assets/{key}?view=checks&checkDetail={FRESHNESS_CHECK}")
    until(
        page,
        f"{key}: the freshness check's result",
        lambda: page.get_by_text("Asset is overdue").count(),
        FRESHNESS_S,
        reload=True,
    )
    assert check_status(page, FRESHNESS_CHECK) == ("Failed", ERROR_ICON)
    message = page.get_by_text(re.compile(r"We expected partition \d{4}-\d{2}-\d{2} to have arrived"))
    expect(message).to_be_visible()
    expected_day = re.search(r"\d{4}-\d{2}-\d{2}", message.inner_text()).group(0)
    # evaluated when dg dev started, or since: a deadline may have passed meanwhile
    assert expected_day in {before, overdue_partition(deadline, datetime.now(LONDON))}, expected_day
    assert date.fromisoformat(expected_day) > date.fromisoformat(LATEST)
