"""What a new source snapshot changes in the analytics, compared with the snapshot before it.

Pure (no Dagster): two snapshots in (table -> frame, the schemas of source.snapshot.TABLES);
out, per analytics table, the days whose answer moves, as inclusive date ranges, and a few
sentences saying what changed. Each table's rule is its SQL's (analytics/sql/):

- daily_product_consumption, day d: a meterpoint's readings go under the display name of the
  product of its covering agreement (valid_from <= d < valid_to or open; of overlapping ones the
  latest valid_from, then the highest agreement_id), NULL when none covers. A day moves when, for
  a meterpoint, that name differs between the snapshots, or whether an agreement covers it (the
  day's readings_covered_by_agreement result; the same thing unless a product has no display
  name). Only the meterpoints the change touches are looked at, each as the intervals between its
  agreements' dates: a product renamed over years costs its meterpoints, not their days.
- active_agreements, day D: the rows (agreement, its product) of the agreements with
  valid_from < D < valid_to (or open). A row not in both snapshots the same number of times
  moves every day it is active; the table shows account_id and both dates, so changing either
  moves the days the agreement is active, before a cut too.
- half_hourly_consumption reads no source table: a snapshot never moves it.

The readings are not read here: a day on which a touched meterpoint has no reading is named too.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

PRODUCT_DAY = "daily_product_consumption"
ACTIVE = "active_agreements"
TABLES = (ACTIVE, PRODUCT_DAY)
EPOCH = date(1970, 1, 1)
OPEN = 10**9  # the day number standing for an open valid_to
SHOWN = 10  # sentences in a description; the rest are counted
ACTIVE_ROW = [
    "agreement_id",
    "meterpoint_id",
    "display_name",
    "is_variable",
    "product_id",
    "account_id",
    "agreement_valid_from",
    "agreement_valid_to",
]
Ranges = list[tuple[date, date]]


@dataclass(frozen=True)
class SnapshotChanges:
    days: dict[str, Ranges]  # analytics table -> sorted, disjoint, inclusive (first, last) ranges
    sentences: list[str] = field(default_factory=list)  # the first SHOWN changes, one sentence each
    counts: dict[str, int] = field(default_factory=dict)  # agreements, products, meterpoints changed

    @property
    def changed(self) -> int:
        return sum(self.counts.values())

    def day_count(self, table: str) -> int:
        return sum((last - first).days + 1 for first, last in self.days.get(table, []))

    def description(self) -> str:
        """Markdown: every change shown as a bullet, then how many more."""
        if not self.changed:
            return "Nothing changed."
        lines = [f"- {sentence}" for sentence in self.sentences]
        more = self.changed - len(self.sentences)
        if more > 0:
            lines.append(f"- … and {more:,} more ({_counted(self.counts)})")
        return "\n".join(lines)

    def summary(self, limit: int = 200) -> str:
        """One line (a run tag): the first change, and how many more."""
        if not self.sentences:
            return "nothing changed"
        more = self.changed - 1
        tail = f" (+{more:,} more)" if more else ""
        first = self.sentences[0]
        if len(first) + len(tail) > limit:
            first = first[: limit - len(tail) - 1] + "…"
        return first + tail


def unchanged() -> SnapshotChanges:
    return SnapshotChanges({table: [] for table in TABLES})


def snapshot_changes(
    old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame], first_day: date, last_day: date
) -> SnapshotChanges:
    """The days of [first_day, last_day] whose answer moves from `old` to `new`, per table."""
    # the rows that differ, table by table: each snapshot is compared once (millions of agreements)
    moved = {table: multiset_difference(old[table], new[table]) for table in ("agreement", "product", "meterpoint")}
    days = {
        ACTIVE: active_days(old, new, moved, first_day, last_day),
        PRODUCT_DAY: product_day_days(old, new, moved["agreement"], first_day, last_day),
    }
    return SnapshotChanges(days, *describe(old, new, moved))


def product_day_days(old: dict, new: dict, moved_agreements: pl.DataFrame, first_day: date, last_day: date) -> Ranges:
    # integer codes for the touched meterpoints and the display names: joins and sorts of
    # millions of rows cost a fraction of what they cost on text
    touched = touched_meterpoints(old, new, moved_agreements).to_frame("meterpoint_id").with_row_index("mp")
    names = pl.concat([_names(s)["display_name"] for s in (old, new)]).drop_nulls().unique().to_frame()
    names = names.with_row_index("name").with_columns(pl.col("name").cast(pl.Int64))
    before, after = (_covering_agreements(s, touched, names) for s in (old, new))
    # the dates where a touched meterpoint's covering agreement can change, in either snapshot
    points = (
        pl.concat([before, after])
        .select("mp", at=pl.concat_list("start", "end"))
        .explode("at")
        .filter(pl.col("at") != OPEN)
        .unique()
        .sort("mp", "at")
        .with_columns(until=pl.col("at").shift(-1).over("mp").fill_null(OPEN))
    )
    moved = _product_at(before, points).join(_product_at(after, points), on=["mp", "at"], suffix="_new")
    moved = moved.filter(pl.col("product") != pl.col("product_new"))
    return _ranges(moved.select(first="at", last=pl.col("until") - 1), first_day, last_day)


NOT_COVERED, NO_NAME = -1, -2  # what a meterpoint-day's readings go under, besides a display name


def _covering_agreements(snapshot: dict, touched: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """The agreements of the touched meterpoints that cover a day: meterpoint code `mp`, start
    (inclusive) and end (exclusive, OPEN) as day numbers, and the code of their display name."""
    product = _names(snapshot).join(names, on="display_name", how="left").select("product_id", "name")
    return (
        snapshot["agreement"]
        .join(touched, on="meterpoint_id")
        .join(product, on="product_id", how="left")
        .select(
            "mp",
            "agreement_id",
            start=_day_number("agreement_valid_from"),
            end=_day_number("agreement_valid_to").fill_null(OPEN),
            product=pl.col("name").fill_null(NO_NAME),
        )
        .filter(pl.col("start").is_not_null() & (pl.col("start") < pl.col("end")))
    )


def _product_at(agreements: pl.DataFrame, points: pl.DataFrame) -> pl.DataFrame:
    """At each point of each meterpoint, the display name code of the agreement the SQL picks of
    those covering it (latest start, then highest agreement_id), or NOT_COVERED."""
    winners = (
        points.join(agreements, on="mp")
        .filter((pl.col("start") <= pl.col("at")) & (pl.col("at") < pl.col("end")))
        .group_by("mp", "at")
        .agg(pl.col("product").sort_by("start", "agreement_id", descending=True).first())
    )
    return points.join(winners, on=["mp", "at"], how="left").with_columns(pl.col("product").fill_null(NOT_COVERED))


def touched_meterpoints(old: dict, new: dict, moved_agreements: pl.DataFrame) -> pl.Series:
    """Meterpoints with an agreement row that differs, or an agreement (either side) on a product
    whose display name differs (renamed, added, removed)."""
    names = _names(old).join(_names(new), on="product_id", how="full", coalesce=True, suffix="_new")
    renamed = names.filter(pl.col("display_name").ne_missing(pl.col("display_name_new")))["product_id"]
    on_renamed = pl.concat([s["agreement"].select("meterpoint_id", "product_id") for s in (old, new)]).filter(
        pl.col("product_id").is_in(renamed.implode())
    )
    return pl.concat([moved_agreements["meterpoint_id"], on_renamed["meterpoint_id"]]).unique()


def _names(snapshot: dict) -> pl.DataFrame:
    # product_id is unique in a published snapshot (product_id_unique is a blocking check)
    return snapshot["product"].select("product_id", "display_name").unique("product_id", keep="first")


def active_days(old: dict, new: dict, moved: dict[str, pl.DataFrame], first_day: date, last_day: date) -> Ranges:
    # an agreement row alike on both sides, on a product alike on both sides, gives alike rows:
    # only the others are joined and compared
    columns = list(old["agreement"].columns)
    marked = moved["agreement"].select(columns).with_columns(_moved=pl.lit(True))  # distinct rows
    suspects = [
        s["agreement"]
        .join(marked, on=columns, how="left", nulls_equal=True)
        .filter(
            pl.col("_moved").fill_null(False) | pl.col("product_id").is_in(moved["product"]["product_id"].implode())
        )
        .drop("_moved")
        for s in (old, new)
    ]
    moved = multiset_difference(*(_active_rows({**s, "agreement": a}) for s, a in zip((old, new), suspects)))
    # active on D: valid_from < D and (valid_to is null or D < valid_to)
    return _ranges(
        moved.select(
            first=_day_number("agreement_valid_from") + 1,
            last=_day_number("agreement_valid_to").fill_null(OPEN + 1) - 1,
        ).drop_nulls(),
        first_day,
        last_day,
    )


def _active_rows(snapshot: dict) -> pl.DataFrame:
    product = snapshot["product"].select("product_id", "display_name", "is_variable")
    return snapshot["agreement"].join(product, on="product_id", how="left").select(ACTIVE_ROW)


def multiset_difference(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """The distinct rows not in both frames the same number of times (a NULL equals a NULL), with
    their counts `copies_old` and `copies_new`."""
    columns = old.columns
    counted = [frame.group_by(columns).len(name) for frame, name in ((old, "copies_old"), (new, "copies_new"))]
    both = counted[0].join(counted[1], on=columns, how="full", nulls_equal=True, coalesce=True)
    return both.with_columns(pl.col("copies_old", "copies_new").fill_null(0)).filter(
        pl.col("copies_old") != pl.col("copies_new")
    )


def _day_number(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int64)  # days since 1970-01-01


def _ranges(intervals: pl.DataFrame, first_day: date, last_day: date) -> Ranges:
    """Inclusive (first, last) day-number intervals, clipped to [first_day, last_day], merged
    where they overlap or touch."""
    low, high = (first_day - EPOCH).days, (last_day - EPOCH).days
    merged = (
        intervals.select(first=pl.col("first").clip(lower_bound=low), last=pl.col("last").clip(upper_bound=high))
        .filter(pl.col("first") <= pl.col("last"))
        .sort("first")
        # a new range starts where an interval begins after every earlier one ended (and a day)
        .with_columns(range=(pl.col("first") > pl.col("last").cum_max().shift(1) + 1).fill_null(True).cum_sum())
        .group_by("range")
        .agg(pl.col("first").min(), pl.col("last").max())
        .sort("first")
    )
    return [
        (EPOCH + timedelta(days=first), EPOCH + timedelta(days=last))
        for first, last in merged.select("first", "last").iter_rows()
    ]


# --- the description ---------------------------------------------------------------------------


def describe(old: dict, new: dict, moved: dict[str, pl.DataFrame]) -> tuple[list[str], dict[str, int]]:
    """The first SHOWN changes as sentences (products, agreements, meterpoints), and how many of
    each changed; `moved`: each table's rows that differ."""
    sentences, counts = [], {}
    for table, key, sentence in (
        ("product", "product_id", _product_sentence),
        ("agreement", "agreement_id", _agreement_sentence),
        ("meterpoint", "meterpoint_id", _meterpoint_sentence),
    ):
        keys = moved[table][key].unique().sort(nulls_last=True)
        counts[f"{table}s"] = keys.len()
        shown = keys.head(max(0, SHOWN - len(sentences))).implode()
        before, after = (_rows_by(s[table].filter(pl.col(key).is_in(shown, nulls_equal=True)), key) for s in (old, new))
        for value in shown.explode():
            sentences.append(sentence(value, before.get(value, []), after.get(value, []), old, new))
    return sentences, counts


def _rows_by(frame: pl.DataFrame, key: str) -> dict:
    rows: dict = {}
    for row in frame.iter_rows(named=True):
        rows.setdefault(row[key], []).append(row)
    return rows


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {what}" for what, n in counts.items() if n)


def _text(value) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _changed_fields(before: dict, after: dict, labels: dict[str, str]) -> list[str]:
    return [
        f"{label} {_text(before[column])} -> {_text(after[column])}"
        for column, label in labels.items()
        if before[column] != after[column]
    ]


def _product_name(snapshot: dict, product_id) -> str:
    names = snapshot["product"].filter(pl.col("product_id") == product_id)["display_name"]
    return names[0] if names.len() and names[0] is not None else f"product {_text(product_id)}"


def _agreement_sentence(agreement_id, before: list[dict], after: list[dict], old: dict, new: dict) -> str:
    if len(before) == len(after) == 1:
        fields = _changed_fields(
            before[0],
            after[0],
            {
                "agreement_valid_from": "valid_from",
                "agreement_valid_to": "valid_to",
                "product_id": "product_id",
                "meterpoint_id": "meterpoint_id",
                "account_id": "account_id",
            },
        )
        return f"agreement {agreement_id} (meterpoint {before[0]['meterpoint_id']}): {', '.join(fields)}"
    if not before or not after:
        rows, snapshot, what = (after, new, "added") if after else (before, old, "removed")
        return "; ".join(f"agreement {agreement_id} {what} ({_agreement_terms(row, snapshot)})" for row in rows)
    return f"agreement {agreement_id}: {len(before)} rows -> {len(after)} rows"


def _agreement_terms(row: dict, snapshot: dict) -> str:
    until = f" to {row['agreement_valid_to']}" if row["agreement_valid_to"] else ""
    return (
        f"meterpoint {row['meterpoint_id']}, {_product_name(snapshot, row['product_id'])}, "
        f"from {_text(row['agreement_valid_from'])}{until}"
    )


def _product_sentence(product_id, before: list[dict], after: list[dict], old: dict, new: dict) -> str:
    if len(before) == len(after) == 1:
        old_name, new_name = before[0]["display_name"], after[0]["display_name"]
        renamed = [f"renamed {_quoted(old_name)} -> {_quoted(new_name)}"] if old_name != new_name else []
        fields = _changed_fields(before[0], after[0], {"is_variable": "is_variable", "id": "id"})
        return f"product {product_id} {', '.join(renamed + fields)}"
    if not before or not after:
        rows, what = (after, "added") if after else (before, "removed")
        return "; ".join(
            f"product {product_id} {what} ({_quoted(row['display_name'])}, "
            f"{'variable' if row['is_variable'] else 'fixed'})"
            for row in rows
        )
    return f"product {product_id}: {len(before)} rows -> {len(after)} rows"


def _quoted(name) -> str:
    return "no name" if name is None else f"'{name}'"


def _meterpoint_sentence(meterpoint_id, before: list[dict], after: list[dict], old: dict, new: dict) -> str:
    if len(before) == len(after) == 1:
        return f"meterpoint {meterpoint_id}: {', '.join(_changed_fields(before[0], after[0], {'region': 'region'}))}"
    if not before or not after:
        rows, what = (after, "added") if after else (before, "removed")
        return f"meterpoint {meterpoint_id} {what} (region {_text(rows[0]['region'])})"
    return f"meterpoint {meterpoint_id}: {len(before)} rows -> {len(after)} rows"
