"""Why `make run` builds a day, or leaves it: the files holding it now against those its published
partition was built from (octo_assets.run.up_to_date.day_reasons), by content hash."""

from datetime import date

import polars as pl
import pytest

from octo_assets.run.up_to_date import day_reasons, spans


def holding(*files: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(files, schema={"path": pl.String, "sha": pl.String}, orient="row")


def built(*files: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(files, schema={"source_file": pl.String, "sha": pl.String}, orient="row")


BUILT = built(("a.json", "A"), ("b.json", "B"))


@pytest.mark.parametrize(
    "now, build, left",
    [
        pytest.param(holding(("a.json", "A"), ("b.json", "B")), None, None, id="the same files"),
        pytest.param(holding(("b.json", "B"), ("a.json", "A")), None, None, id="listed in another order"),
        pytest.param(holding(("x/a.json", "A"), ("b.json", "B")), None, None, id="moved, same content"),
        pytest.param(holding(("a2.json", "A"), ("b.json", "B")), None, None, id="renamed, same content"),
        pytest.param(
            holding(("a.json", "A"), ("b.json", "B"), ("copy.json", "B")), None, None, id="a copy of a built file"
        ),
        pytest.param(
            holding(("a.json", "A"), ("b.json", "B"), ("c.json", "C")),
            "1 new or changed landing file(s): c.json",
            None,
            id="a new file",
        ),
        pytest.param(
            holding(("a.json", "A2"), ("b.json", "B")),
            "1 new or changed landing file(s): a.json",
            None,
            id="a file rewritten",
        ),
        pytest.param(
            holding(*[(f"n{i}.json", f"N{i}") for i in range(5)], ("a.json", "A"), ("b.json", "B")),
            "5 new or changed landing file(s): n0.json, n1.json, n2.json and 2 more",
            None,
            id="many new files",
        ),
        pytest.param(
            holding(("b.json", "B")), None, "1 landing file(s) it was built from are gone (a.json)", id="gone"
        ),
        pytest.param(
            holding(("b.json", "B"), ("c.json", "C")),
            None,
            "1 landing file(s) it was built from are gone (a.json): left as built, their readings kept; "
            "1 new or changed file(s) wait with it (c.json)",
            id="gone, and a new one",
        ),
        pytest.param(holding(), None, "2 landing file(s) it was built from are gone (a.json, b.json)", id="all gone"),
    ],
)
def test_a_day_is_built_when_a_file_holding_it_is_not_what_it_was_built_from(now, build, left):
    why, kept = day_reasons(now, BUILT)
    assert why == build
    if left is None:
        assert kept is None
    else:
        assert kept.startswith(left) and "--force" in kept


@pytest.mark.parametrize("now", [holding(), holding(("a.json", "A"))], ids=["no file", "a file"])
def test_a_day_never_published_is_built(now):
    assert day_reasons(now, None) == ("never built", None)


def test_a_day_built_from_nothing_stays_built_until_a_file_holds_it():
    """A day published empty (--allow-empty) has no file to compare: a file landing for it builds it."""
    assert day_reasons(holding(), built()) == (None, None)
    assert day_reasons(holding(("late.json", "L")), built())[0] == "1 new or changed landing file(s): late.json"


def test_reasons_are_shown_by_stretches_of_days():
    reasons = {
        date(2021, 1, 1): "never built",
        date(2021, 1, 2): "never built",
        date(2021, 1, 3): "1 new",
        date(2021, 1, 5): "1 new",
        date(2021, 1, 6): "never built",
    }
    assert spans(reasons) == [
        (date(2021, 1, 1), date(2021, 1, 2), "never built"),
        (date(2021, 1, 3), date(2021, 1, 3), "1 new"),
        (date(2021, 1, 5), date(2021, 1, 5), "1 new"),
        (date(2021, 1, 6), date(2021, 1, 6), "never built"),
    ]
