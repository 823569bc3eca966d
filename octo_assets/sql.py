"""`make sql`: a read-only SQL prompt on the analysts' catalog.

    make sql                                     # the prompt: statements end with `;`
    python -m octo_assets.sql -c "SELECT ..."    # run the statement(s) and exit
    python -m octo_assets.sql --max-rows all -c "SELECT ..."   # every row, not the first and last 10

A result longer than 20 rows shows its first and last rows and says how many it has
("94 rows (20 shown)"). `--max-rows N` (or `make sql ARGS='--max-rows N'`), or `.maxrows N`
at the prompt, sets how many are shown; `0` or `all` shows every row. `.columns VIEW` lists a
view's columns with their descriptions.

The catalog is $OCTO_WAREHOUSE (default data/warehouse.duckdb), opened read-only: nothing
typed here can change it, and the pipeline can rebuild it meanwhile (it renames a new file
into place). The duckdb pip package has no command-line shell; this is the part of one an
analyst needs. Input can also be piped in: `make sql < report.sql`.
"""

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import duckdb

from octo_assets import settings
from octo_assets.catalog.connect import CatalogNotFound, NothingThen, connect

PROMPT, CONTINUATION = "octo> ", "  ..> "
QUIT = (".quit", ".exit")
HELP = """Statements end with `;` and may span lines (DESCRIBE lake.readings; shows columns).
.tables          the views and what they hold
.columns VIEW    a view's columns and what each means
.maxrows [N]     show at most N rows of a result (0 or all: every row); no N: the current limit
.help            this text
.quit            leave (or Ctrl-D)"""
TABLES = (
    "SELECT schema_name || '.' || view_name AS view, comment AS holds "
    "FROM duckdb_views() WHERE NOT internal ORDER BY schema_name, view_name"
)
COLUMNS = (
    "SELECT column_name AS column, data_type AS type, comment AS means FROM duckdb_columns() "
    "WHERE schema_name || '.' || table_name = ? ORDER BY column_index"
)
DEFAULT_MAX_ROWS = 20  # DuckDB's own: a long result shows its first and last ten rows
EVERY_ROW = 0


@dataclass
class Display:
    """How results are printed; `.maxrows` changes it for the rest of the session."""

    max_rows: int = DEFAULT_MAX_ROWS  # EVERY_ROW: no limit

    def show(self, relation: duckdb.DuckDBPyRelation) -> None:
        # DuckDB takes 0 as "no rows", so "every row" is the largest limit it accepts
        relation.show(max_rows=self.max_rows or 2**31 - 1)


MAX_ROWS_HELP = "give a number of rows, or 0 or all for every row"


def parse_max_rows(text: str) -> int:
    """`N`, `0` or `all` (every row) -> a row limit; ValueError otherwise."""
    if text.strip().lower() == "all":
        return EVERY_ROW
    if not settings.ascii_digits(text.strip()):
        raise ValueError(f"{text}: {MAX_ROWS_HELP}")
    return int(text)


def max_rows_argument(text: str) -> int:
    try:
        return parse_max_rows(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_catalog(location: str, as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """The catalog through octo_assets.connect: whatever the lake's storage needs is registered."""
    try:
        return connect(location, as_of=as_of)
    except (CatalogNotFound, NothingThen) as exc:
        raise SystemExit(str(exc)) from None
    except ValueError as exc:  # a moment that is not one
        raise SystemExit(f"--as-of: {exc}; write it as 2021-02-03 09:00 (Europe/London), or with a zone") from None


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str, display: Display | None = None) -> bool:
    """Runs each statement in `sql` and prints its result as a table; False after an error."""
    display = display or Display()
    try:
        for statement in duckdb.extract_statements(sql):
            relation = connection.sql(statement.query)
            if relation is not None:  # statements such as SET return no rows
                display.show(relation)
    except duckdb.Error as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return False
    return True


def dot_command(connection: duckdb.DuckDBPyConnection, command: str, display: Display | None = None) -> bool:
    """Runs a `.command` other than .quit; False if it is unknown or fails."""
    display = display or Display()
    name, _, argument = command.partition(" ")
    argument = argument.strip()
    if command == ".tables":
        return run_sql(connection, TABLES, display)
    if name == ".columns" and argument:
        return show_columns(connection, argument, display)
    if name == ".maxrows":
        return set_max_rows(display, argument)
    if command == ".help":
        print(HELP)
        return True
    print(f"Unknown command {command}: .help lists them.", file=sys.stderr)
    return False


def show_columns(connection: duckdb.DuckDBPyConnection, view: str, display: Display) -> bool:
    if not connection.execute(COLUMNS, [view]).fetchall():
        print(f"No view {view}: .tables lists them.", file=sys.stderr)
        return False
    display.show(connection.sql(COLUMNS, params=[view]))
    return True


def set_max_rows(display: Display, argument: str) -> bool:
    if argument:
        try:
            display.max_rows = parse_max_rows(argument)
        except ValueError as exc:
            print(f".maxrows {exc}.", file=sys.stderr)
            return False
    print(f"Results show at most {display.max_rows} rows." if display.max_rows else "Results show every row.")
    return True


def run_command(connection: duckdb.DuckDBPyConnection, text: str, display: Display | None = None) -> bool:
    text = text.strip()
    return dot_command(connection, text, display) if text.startswith(".") else run_sql(connection, text, display)


def line_reader(stream: TextIO) -> Callable[[str], str]:
    """input() with line editing on a terminal; plain lines, no prompts, from a pipe."""
    if stream.isatty():
        import readline  # noqa: F401  (importing it gives input() editing and history)

        return input

    def read(_prompt: str) -> str:
        line = stream.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    return read


def prompt_loop(
    connection: duckdb.DuckDBPyConnection, read_line: Callable[[str], str], display: Display | None = None
) -> None:
    display = display or Display()
    buffer: list[str] = []
    while True:
        try:
            line = read_line(CONTINUATION if buffer else PROMPT)
            if not buffer and line.strip() in QUIT:
                return
            if not buffer and line.strip().startswith("."):
                dot_command(connection, line.strip(), display)
                continue
            if line.strip() or buffer:
                buffer.append(line)
            if buffer and line.rstrip().endswith(";"):
                run_sql(connection, "\n".join(buffer), display)
                buffer = []
        except KeyboardInterrupt:  # Ctrl-C drops the statement being typed or run, not the prompt
            print()
            buffer = []
        except EOFError:
            break
    if "".join(buffer).strip():  # the last statement of a piped file may lack its `;`
        run_sql(connection, "\n".join(buffer), display)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make sql", description="A read-only SQL prompt on the octo-assets catalog.")
    parser.add_argument("-c", "--command", metavar="SQL", help="run these statement(s) or one .command, print and exit")
    parser.add_argument(
        "--max-rows",
        metavar="N",
        type=max_rows_argument,
        default=DEFAULT_MAX_ROWS,
        help=f"show at most N rows of each result; 0 or all: every row (default {DEFAULT_MAX_ROWS})",
    )
    parser.add_argument(
        "--as-of",
        metavar="MOMENT",
        help="the catalog as it stood then, e.g. '2021-02-03 09:00' (Europe/London unless a zone is given)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = settings.location(settings.WAREHOUSE)
    with open_catalog(path, args.as_of) as connection:
        display = Display(args.max_rows)
        if args.command is not None:
            return 0 if run_command(connection, args.command, display) else 1
        interactive = sys.stdin.isatty()
        if interactive:
            then = f" as of {args.as_of}" if args.as_of else ""
            print(f"Catalog {path}{then} (read-only). .tables lists the views, .help for help.")
        prompt_loop(connection, line_reader(sys.stdin), display)
        if interactive:
            print()  # leave the shell's prompt on a line of its own after Ctrl-D
    return 0


if __name__ == "__main__":
    sys.exit(main())
