"""`make sql` (octo_assets.sql) on a catalog built by the pipeline from the sample."""

import io
import re
import sys

import duckdb
import pytest

from octo_assets import sql


@pytest.fixture
def catalog(built_sample):
    """The catalog of the sample, built once a session (conftest.built_sample)."""
    return built_sample.ws.warehouse


@pytest.fixture
def prompt(catalog, monkeypatch, capsys):
    """Runs the prompt's main as `make sql` would; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("OCTO_WAREHOUSE", str(catalog))

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = sql.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def scalar(catalog, query: str):
    with duckdb.connect(str(catalog), read_only=True) as con:
        return con.execute(query).fetchone()[0]


def test_a_query_from_the_command_line_prints_its_result(prompt, catalog):
    code, out, err = prompt(
        "-c",
        "SELECT count(*) AS readings FROM lake.readings; "
        "SELECT reading_date, count(*) AS products FROM analytics.daily_product_consumption GROUP BY 1 ORDER BY 1",
    )
    assert (code, err) == (0, "")
    assert "readings" in out and str(scalar(catalog, "SELECT count(*) FROM lake.readings")) in out
    for day in ["2021-01-01", "2021-01-02", "2021-01-03"]:
        assert day in out


def test_tables_lists_the_views(prompt):
    code, out, _ = prompt("-c", ".tables")
    assert code == 0
    for view in [
        "lake.readings",
        "lake.agreement",
        "lake.product",
        "lake.meterpoint",
        "analytics.active_agreements",
        "analytics.half_hourly_consumption",
        "analytics.daily_product_consumption",
    ]:
        assert view in out


def test_the_prompt_reads_statements_over_several_lines(prompt):
    typed = "\n".join(
        [
            "SELECT",
            "  40 + 2 AS answer",
            ";",
            ".tables",
            ".nonsense",
            "SELECT 'last one, no semicolon' AS note",
        ]
    )
    code, out, err = prompt(stdin=typed)
    assert code == 0
    assert "42" in out and "analytics.half_hourly_consumption" in out and "last one, no semicolon" in out
    assert "Unknown command .nonsense" in err
    assert "octo>" not in out  # no prompts when the input is piped in


def test_the_catalog_cannot_be_changed_from_the_prompt(prompt, catalog):
    code, _, err = prompt("-c", "DROP VIEW lake.readings")
    assert code == 1
    assert "read-only" in err
    assert scalar(catalog, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'readings'") == 1


def test_a_bad_statement_is_reported_not_raised(prompt):
    code, out, err = prompt("-c", "SELECT * FROM lake.no_such_view")
    assert (code, out) == (1, "")
    assert err.startswith("Error: Catalog Error")


def test_no_catalog_yet_says_what_to_do(tmp_path, monkeypatch):
    missing = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("OCTO_WAREHOUSE", str(missing))
    with pytest.raises(SystemExit) as exit_:
        sql.main(["-c", "SELECT 1"])
    message = str(exit_.value)
    assert "run `make run` first" in message and "\n" not in message
    assert not missing.exists()  # the prompt never creates an empty catalog


ACTIVE_IDS = "SELECT agreement_id FROM analytics.active_agreements WHERE as_of_date = DATE '2021-01-01'"


def shown_ids(out: str) -> list[int]:
    """The agreement ids printed in a one-column result box."""
    return [int(cell) for cell in re.findall(r"^│\s+(\d+)\s+│$", out, flags=re.MULTILINE)]


def test_a_long_result_shows_twenty_rows_by_default(prompt, catalog):
    code, out, _ = prompt("-c", ACTIVE_IDS)
    assert code == 0
    assert scalar(catalog, f"SELECT count(*) FROM ({ACTIVE_IDS})") == 94
    assert "94 rows" in out and "(20 shown)" in out
    assert len(shown_ids(out)) == 20


@pytest.mark.parametrize("every", ["all", "0"])
def test_max_rows_all_shows_every_row(prompt, catalog, every):
    code, out, _ = prompt("--max-rows", every, "-c", ACTIVE_IDS)
    assert code == 0
    with duckdb.connect(str(catalog), read_only=True) as con:
        want = [row[0] for row in con.execute(ACTIVE_IDS).fetchall()]
    assert shown_ids(out) == want and len(want) == 94
    assert "shown" not in out


def test_maxrows_changes_the_limit_for_the_rest_of_the_session(prompt):
    typed = "\n".join(
        [".maxrows 5", ACTIVE_IDS + ";", ".maxrows all", ACTIVE_IDS + ";", ".maxrows", ".maxrows -1", ".maxrows ³"]
    )
    code, out, err = prompt(stdin=typed)
    assert code == 0
    limited, unlimited = out.split("Results show every row.\n", 1)
    assert limited.startswith("Results show at most 5 rows.\n")
    assert "(5 shown)" in limited and len(shown_ids(limited)) == 5
    assert len(shown_ids(unlimited)) == 94 and "shown)" not in unlimited
    assert unlimited.endswith("Results show every row.\n")  # `.maxrows` alone tells the limit
    assert err == (
        ".maxrows -1: give a number of rows, or 0 or all for every row.\n"
        ".maxrows ³: give a number of rows, or 0 or all for every row.\n"
    )


@pytest.mark.parametrize("many", ["many", "²", "-1", "1.5"])
def test_a_bad_max_rows_flag_says_what_to_give(prompt, capsys, many):
    with pytest.raises(SystemExit) as exit_:
        prompt("--max-rows", many, "-c", "SELECT 1")
    assert exit_.value.code == 2
    assert f"--max-rows: {many}: give a number of rows, or 0 or all for every row" in capsys.readouterr().err


def test_columns_lists_a_views_columns_with_their_descriptions(prompt):
    code, out, _ = prompt("--max-rows", "all", "-c", ".columns analytics.daily_product_consumption")
    assert code == 0
    for column in ["reading_date", "product_display_name", "meterpoint_count", "consumption_kwh", "reading_count"]:
        assert column in out
    assert "NULL = no agreement" in out.replace("│", " ").replace("\n", " ").replace("  ", " ")
    code, _, err = prompt("-c", ".columns lake.nope")
    assert (code, err) == (1, "No view lake.nope: .tables lists them.\n")
