"""The pipeline run the way a deployment runs it, everything but Kubernetes real and on loopback:
PostgreSQL for Dagster's storage, `dagster-daemon` and `dagster-webserver` on the production
instance (config/dagster.production.yaml: queued runs, at most 3 at once, at most 2 of one
backfill), the landing area, the lake and the catalog on an S3 server. A backfill of six days is
launched through the webserver's GraphQL API (what the UI's backfill dialog sends) and spread over
runs of two days each; while it runs, three more day runs are launched as the UI's "Materialize"
does, so that more runs wait in the queue than may run: the runs' records show that the limits
held. Every day's tables are then checked against the independent computation, through the
catalog. Then the source is corrected back-dated and a snapshot launched: the daemon's
source_correction_sensor rebuilds exactly the days the correction moves, and the tables match again.

A run here needs nothing on local disk but its staging folder, which it empties: the other
processes of a cluster (a run's pod) would see only PostgreSQL and the object store.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from octo_assets import connect
from octo_assets_tests.support import expected
from octo_assets_tests.support.automation import stop as stop_automation
from octo_assets_tests.support.postgres import PRODUCTION_YAML
from octo_assets_tests.support.seaweedfs import free_ports
from octo_assets_tests.support.workspace import new_workspace

REPO_ROOT = Path(__file__).resolve().parents[2]
DAYS = [(date(2021, 1, 1) + timedelta(days=n)).isoformat() for n in range(6)]
DAYS_PER_RUN = 2
MAX_CONCURRENT_RUNS = 3  # config/dagster.production.yaml: runs at once
MAX_BACKFILL_RUNS = 2  # ... of them, runs of one backfill
# days outside the backfill, each built alone while it runs (no landing file holds them: each is
# published empty, with allow_empty_days); the queue's load, beside the backfill's runs
EXTRA_DAYS = ["2021-01-20", "2021-01-21", "2021-01-22"]
BUDGET_S = 420
BUILDS_BY_ITSELF = {"landing_sensor", "source_db_sensor", "daily_readings_schedule", "lake_housekeeping_schedule"}
REPOSITORY = {"repositoryLocationName": "octo_assets", "repositoryName": "__repository__"}
DAILY_AND_CATALOG = [
    ["lake", "readings"],
    ["analytics", "active_agreements"],
    ["analytics", "half_hourly_consumption"],
    ["analytics", "daily_product_consumption"],
    ["warehouse", "catalog"],
]
METERPOINTS = [f"{n:02d}a{n * 7919 % 1000:03d}e{n}" for n in range(10)]  # text ids, one like 3674e80033


AGREEMENTS = [
    (1, "2020-01-01", "2021-01-03", "P1", METERPOINTS[1], "A1"),
    (2, "2021-01-03", None, "P2", METERPOINTS[1], "A1"),  # a product switch inside the backfill
    *[(10 + n, "2020-06-01", None, "P1", mp, f"A{n}") for n, mp in enumerate(METERPOINTS[2:8])],
]  # meterpoints 0 and 9 have no agreement: their kWh sits under a NULL product
PRODUCTS = [("Fixed", 0, 1, "P1"), ("Flexible", 1, 2, "P2")]
SOURCE = {"agreement": AGREEMENTS, "product": PRODUCTS, "meterpoint": [("south", mp) for mp in METERPOINTS]}
# entered late: agreement 2 was cut on the 5th, and the meterpoint continued on Fixed
CORRECTED = {
    **SOURCE,
    "agreement": [
        AGREEMENTS[0],
        (2, "2021-01-03", "2021-01-05", "P2", METERPOINTS[1], "A1"),
        (3, "2021-01-05", None, "P1", METERPOINTS[1], "A1"),
        *AGREEMENTS[2:],
    ],
}


def land_six_days(ws) -> None:
    """Per-day sub-folders, one file per meterpoint and day, and one file holding three days."""
    for day_number, day in enumerate(DAYS):
        for index, meterpoint in enumerate(METERPOINTS):
            rows = [
                [
                    f"{day} {h:02d}:{m:02d}:00",
                    float(Decimal(index * 48 + h * 2 + m // 30 + day_number) / 1000),
                    meterpoint,
                ]
                for h in range(24)
                for m in (0, 30)
            ]
            if index == 0 and day_number < 3:
                continue  # this meterpoint's first three days come in one file, below
            ws.write_readings(f"{day}/{meterpoint}.json", rows)
    multi = [[f"{day} 12:00:00", 0.5 + n, METERPOINTS[0]] for n, day in enumerate(DAYS[:3])]
    ws.write_readings(f"backlog/{METERPOINTS[0]}.json", multi)
    ws.write_source(SOURCE["agreement"], SOURCE["product"], SOURCE["meterpoint"])
    ws.sync()


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


@dataclass
class Deployment:
    daemon: subprocess.Popen
    webserver: subprocess.Popen
    url: str
    logs: Path
    deadline: Deadline

    def tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.glob("*.log"))
        )

    def query(self, text: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=max(1.0, min(30.0, self.deadline.left()))) as response:
            answer = json.load(response)
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def wait_for(self, what: str, probe: Callable[[], object]):
        while True:
            for process in (self.daemon, self.webserver):
                if process.poll() is not None:
                    pytest.fail(f"{process.args[0]} exited waiting for {what}:\n{self.tail()}")
            value = probe()
            if value:
                return value
            if not self.deadline.left():
                pytest.fail(f"timed out waiting for {what}:\n{self.tail()}")
            time.sleep(1)


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # what is left of the group: code servers, runs
    except ProcessLookupError:
        pass


def queue_checked_every_second() -> dict:
    """config/dagster.production.yaml as shipped, but the queue looked at every second (Dagster's
    default, 5 s, only makes the test wait): its limits are the ones under test."""
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    config["run_coordinator"].setdefault("config", {})["dequeue_interval_seconds"] = 1
    return config


@pytest.fixture
def deployment(postgres, s3_server, tmp_path, request, monkeypatch) -> Iterator[tuple[Deployment, object]]:
    ws = new_workspace(tmp_path / "ws", "s3", request)
    land_six_days(ws)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(queue_checked_every_second()))
    # the runs here are the test's (and the correction sensor's): what would build the landed days and
    # snapshot the changed source by itself (on by default) is turned off first, as in the UI
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        stop_automation(instance, BUILDS_BY_ITSELF)
    staging = tmp_path / "staging"
    env = {
        **os.environ,
        **postgres.env(),
        **s3_server.env(),
        "DAGSTER_HOME": str(home),
        "OCTO_READINGS_DIR": ws.readings_url,
        "OCTO_LAKE_DIR": ws.lake_url,
        "OCTO_WAREHOUSE": ws.warehouse,
        "OCTO_SOURCE_DB": str(ws.source_db),
        "OCTO_STAGING_DIR": str(staging),
        "OCTO_DAYS_PER_RUN": str(DAYS_PER_RUN),
    }
    bin_dir = Path(sys.executable).parent
    port = free_ports(1)[0]
    logs = tmp_path / "logs"
    logs.mkdir()
    daemon = start([str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, logs / "daemon.log")
    webserver = start(
        [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env,
        logs / "webserver.log",
    )
    try:
        yield Deployment(daemon, webserver, f"http://127.0.0.1:{port}", logs, Deadline(BUDGET_S)), ws, staging
    finally:
        stop(webserver)
        stop(daemon)


LOCATION = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } }
}"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
  }
}"""
BACKFILL = "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"
RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status endTime } } }"
RUNS = """
query($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    ... on Runs { results {
      runId status creationTime startTime endTime tags { key value } assetSelection { path }
    } }
  }
}"""
RUN_EVENTS = """
query($id: ID!) {
  runOrError(runId: $id) {
    ... on Run { eventConnection { events { __typename ... on MessageEvent { timestamp } } } }
  }
}"""
SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 20) { status timestamp runIds skipReason } } }
  }
}"""
DAY_METADATA = """
query($key: AssetKeyInput!, $day: String!) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(partitions: [$day], limit: 1) {
      runId metadataEntries { label ... on TextMetadataEntry { text } }
    } }
  }
}"""


def location_loaded(dev: Deployment) -> bool:
    try:
        entries = dev.query(LOCATION)["workspaceOrError"].get("locationEntries", [])
    except OSError:
        return False
    return any(e["loadStatus"] == "LOADED" for e in entries)


def run_snapshot(dev: Deployment) -> float:
    """Launch source_snapshot_job as the UI does and wait for it; returns when it ended (epoch s)."""
    params = {"selector": {**REPOSITORY, "jobName": "source_snapshot_job"}, "executionMetadata": {"tags": []}}
    launched = dev.query(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    snapshot_run = launched["run"]["runId"]
    status = dev.wait_for(
        "the snapshot run",
        lambda: (s := dev.query(RUN, {"id": snapshot_run})["runOrError"]["status"]) in {"SUCCESS", "FAILURE"} and s,
    )
    assert status == "SUCCESS", dev.tail()
    return dev.query(RUN, {"id": snapshot_run})["runOrError"]["endTime"]


def launch_day_alone(dev: Deployment, day: str) -> str:
    """The readings of one day, as the UI's "Materialize" of one partition launches it; the day has
    no landing file, so it is published empty (allow_empty_days)."""
    params = {
        "selector": {**REPOSITORY, "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["lake", "readings"]}]},
        "runConfigData": {"ops": {"lake__readings": {"config": {"allow_empty_days": True}}}},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
    }
    launched = dev.query(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def with_dequeue_time(dev: Deployment, runs: list[dict]) -> list[dict]:
    """The runs with the moment the daemon took each from the queue: the run's STARTING event, which
    the queue's daemon writes as it launches the run. From then until it ends, a run holds a place
    under the queue's limits."""
    for run in runs:
        events = dev.query(RUN_EVENTS, {"id": run["runId"]})["runOrError"]["eventConnection"]["events"]
        dequeued = [int(e["timestamp"]) / 1000 for e in events if e["__typename"] == "RunStartingEvent"]
        assert len(dequeued) == 1, (run["runId"], [e["__typename"] for e in events])
        run["dequeueTime"] = dequeued[0]
    return runs


def most_at_once(runs: list[dict], begins: str) -> int:
    """The most runs at one moment between their `begins` time (creationTime: queued;
    dequeueTime: taken from the queue) and their end."""
    return max(sum(r[begins] <= t < r["endTime"] for r in runs) for t in {r[begins] for r in runs})


def timeline(runs: list[dict]) -> str:
    """The runs' queue times, for a failure's message: seconds from the first run's creation."""
    zero = min(r["creationTime"] for r in runs)

    def kind(run: dict) -> str:
        return "backfill" if any(t["key"] == "dagster/backfill" for t in run["tags"]) else "alone"

    return "\n".join(
        f"{r['runId'][:8]} {kind(r):8}"
        f" queued {r['creationTime'] - zero:6.1f} dequeued {r['dequeueTime'] - zero:6.1f}"
        f" started {r['startTime'] - zero:6.1f} ended {r['endTime'] - zero:6.1f}"
        for r in sorted(runs, key=lambda r: r["creationTime"])
    )


def test_a_six_day_backfill_runs_on_the_deployment_and_matches_the_independent_computation(deployment):
    dev, ws, staging = deployment
    dev.wait_for("the code location", lambda: location_loaded(dev))
    run_snapshot(dev)

    backfill = dev.query(
        LAUNCH_BACKFILL,
        {"params": {"partitionNames": DAYS, "assetSelection": [{"path": key} for key in DAILY_AND_CATALOG]}},
    )["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
    backfill_id = backfill["backfillId"]
    backfill_filter = {"filter": {"tags": [{"key": "dagster/backfill", "value": backfill_id}]}}
    # once the backfill's runs hold their slots, more runs arrive than the queue lets run
    dev.wait_for(
        "the backfill's runs to start",
        lambda: [r for r in dev.query(RUNS, backfill_filter)["runsOrError"]["results"] if r["startTime"]],
    )
    extra_ids = [launch_day_alone(dev, day) for day in EXTRA_DAYS]
    final = dev.wait_for(
        "the backfill",
        lambda: (
            (s := dev.query(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"]) not in {"REQUESTED"}
            and s
        ),
    )
    runs = dev.query(RUNS, backfill_filter)["runsOrError"]["results"]
    assert final in {"COMPLETED", "COMPLETED_SUCCESS"}, (final, [r["status"] for r in runs], dev.tail())
    assert {r["status"] for r in runs} == {"SUCCESS"}
    extra = dev.wait_for(
        "the day runs launched beside the backfill",
        lambda: (
            (found := dev.query(RUNS, {"filter": {"runIds": extra_ids}})["runsOrError"]["results"])
            and all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in found)
            and found
        ),
    )
    assert {r["status"] for r in extra} == {"SUCCESS"}, (extra, dev.tail())

    # the days went out in runs of at most two days (plus the catalog's own run)
    ranges = []
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if "dagster/asset_partition_range_start" in tags:
            ranges.append((tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]))
        elif "dagster/partition" in tags:
            ranges.append((tags["dagster/partition"], tags["dagster/partition"]))
    covered = sorted(d for first, last in ranges for d in DAYS if first <= d <= last)
    assert covered == DAYS  # each day in exactly one run
    assert len(ranges) >= len(DAYS) // DAYS_PER_RUN
    assert all(DAYS.index(last) - DAYS.index(first) < DAYS_PER_RUN for first, last in ranges)
    # more runs were queued at once than may run, of all and of the backfill: the limits were
    # tested; and never more than three ran at once, nor more than two of the backfill
    everything = with_dequeue_time(dev, runs + extra)
    at_once = {
        (which, begins): most_at_once(group, begins)
        for which, group in (("all", everything), ("backfill", runs))
        for begins in ("creationTime", "dequeueTime")
    }
    why = f"{at_once}\n{timeline(everything)}"
    print(why)  # shown with -rP
    assert at_once["all", "creationTime"] > MAX_CONCURRENT_RUNS, why
    assert at_once["backfill", "creationTime"] > MAX_BACKFILL_RUNS, why
    assert at_once["all", "dequeueTime"] <= MAX_CONCURRENT_RUNS, why
    assert at_once["backfill", "dequeueTime"] <= MAX_BACKFILL_RUNS, why

    assert_the_catalog_matches_the_independent_computation(ws)

    # nothing of the runs is left on local disk: staging is emptied by each run
    assert not any(p.is_file() for p in staging.rglob("*")), sorted(staging.rglob("*"))

    # a back-dated correction: the daemon's sensor rebuilds exactly the days it moves
    ws.write_source(CORRECTED["agreement"], CORRECTED["product"], CORRECTED["meterpoint"])
    snapshot_ended = run_snapshot(dev)
    runs = dev.wait_for("the source_correction_sensor's runs", lambda: correction_runs(dev))
    assert {r["status"] for r in runs} == {"SUCCESS"}, (runs, dev.tail())
    moved = expected.moved_days(SOURCE, CORRECTED, DAYS)
    assert moved == {"daily_product_consumption": DAYS[4:], "active_agreements": DAYS[3:]}  # the 5th.., the 4th..
    rebuilt: dict[str, list[str]] = {table: [] for table in moved}
    # the 4th alone (active agreements), the 5th and 6th (both tables) in one range run
    assert sorted("dagster/partition" in {t["key"] for t in r["tags"]} for r in runs) == [False, True]
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags["octo/snapshot"] and "agreement 2 (meterpoint" in tags["octo/change"], tags
        first = tags.get("dagster/partition") or tags["dagster/asset_partition_range_start"]
        last = tags.get("dagster/partition") or tags["dagster/asset_partition_range_end"]
        assert DAYS.index(last) - DAYS.index(first) < DAYS_PER_RUN
        selected = [key["path"] for key in run["assetSelection"]]
        assert ["warehouse", "catalog"] in selected  # the views are pinned: each correction rebuilds them
        for path in selected:
            if path[0] == "analytics":
                rebuilt[path[-1]] += [d for d in DAYS if first <= d <= last]
    assert {table: sorted(days) for table, days in rebuilt.items()} == moved
    # no other run since the snapshot (half-hourly, the days the correction does not move)
    later = dev.query(RUNS, {"filter": {}})["runsOrError"]["results"]
    assert {r["runId"] for r in later if r["startTime"] and r["startTime"] > snapshot_ended} == {
        r["runId"] for r in runs
    }
    # the UI says why each day was rebuilt: the run's tags, and the day's own metadata
    entries = dev.query(DAY_METADATA, {"key": {"path": ["analytics", "daily_product_consumption"]}, "day": DAYS[5]})
    [materialization] = entries["assetOrError"]["assetMaterializations"]
    because = {e["label"]: e.get("text") for e in materialization["metadataEntries"]}["rebuilt_because"]
    assert because.startswith("agreement 2 (meterpoint") and materialization["runId"] in {r["runId"] for r in runs}
    assert_the_catalog_matches_the_independent_computation(ws)


def correction_runs(dev: Deployment) -> list[dict] | None:
    """The runs of source_correction_sensor's latest tick that requested any, once all ended."""
    selector = {**REPOSITORY, "sensorName": "source_correction_sensor"}
    ticks = dev.query(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
    run_ids = next((t["runIds"] for t in ticks if t["runIds"]), None)
    if not run_ids:
        return None
    runs = dev.query(RUNS, {"filter": {"runIds": run_ids}})["runsOrError"]["results"]
    return runs if all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in runs) else None


def assert_the_catalog_matches_the_independent_computation(ws) -> None:
    """Every day, through the analysts' catalog on S3, against the independent computation."""
    want_readings = expected.readings(ws.readings)
    want_half_hours = expected.half_hourly(want_readings)
    want_products = expected.product_day(want_readings, ws.source_db)
    with connect(ws.warehouse) as con:
        got = con.execute(
            "SELECT meterpoint_id, interval_start_utc, consumption_kwh FROM lake.readings ORDER BY ALL"
        ).fetchall()
        assert len(got) == len(want_readings)
        for meterpoint, instant, kwh in got:
            assert want_readings[(meterpoint, instant)][0] == kwh
        half_hours = con.execute(
            "SELECT interval_start_utc, meterpoint_count, consumption_kwh FROM analytics.half_hourly_consumption"
        ).fetchall()
        assert {t: (n, kwh) for t, n, kwh in half_hours} == want_half_hours
        products = con.execute(
            "SELECT reading_date, product_display_name, meterpoint_count, consumption_kwh "
            "FROM analytics.daily_product_consumption"
        ).fetchall()
        assert {(d, name): (n, kwh) for d, name, n, kwh in products} == want_products
        for day in DAYS:
            active = con.execute(
                "SELECT agreement_id, meterpoint_id, product_display_name, product_is_variable "
                "FROM analytics.active_agreements WHERE as_of_date = ?",
                [day],
            ).fetchall()
            assert set(active) == expected.active_agreements(ws.source_db, day), day
        # the catalog is consistent: the three tables reconcile, day by day
        reconciled = con.execute(
            """SELECT r.reading_date, r.kwh = h.kwh AND h.kwh = p.kwh
               FROM (SELECT reading_date, sum(consumption_kwh) kwh FROM lake.readings GROUP BY 1) r
               JOIN (SELECT reading_date, sum(consumption_kwh) kwh FROM analytics.half_hourly_consumption
                     GROUP BY 1) h USING (reading_date)
               JOIN (SELECT reading_date, sum(consumption_kwh) kwh FROM analytics.daily_product_consumption
                     GROUP BY 1) p USING (reading_date) ORDER BY 1"""
        ).fetchall()
        assert [(d.isoformat(), ok) for d, ok in reconciled] == [(d, True) for d in DAYS]
