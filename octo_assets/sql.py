"""`make sql`: a read-only SQL prompt on the analysts' catalog.

    make sql                                     # the prompt: statements end with `;`
    python -m octo_assets.sql -c "SELECT ..."    # run the statement(s) and exit

The catalog is $OCTO_WAREHOUSE (default data/warehouse.duckdb), opened read-only: nothing
typed here can change it, and the pipeline can rebuild it meanwhile (it renames a new file
into place). The duckdb pip package has no command-line shell; this is the part of one an
analyst needs. Input can also be piped in: `make sql < report.sql`.
"""

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

import duckdb

from octo_assets.catalog.connect import CatalogNotFound, connect
from octo_assets.resources import setting

PROMPT, CONTINUATION = "octo> ", "  ..> "
QUIT = (".quit", ".exit")
HELP = """Statements end with `;` and may span lines (DESCRIBE lake.readings; shows columns).
.tables   the views and what they hold
.help     this text
.quit     leave (or Ctrl-D)"""
TABLES = (
    "SELECT schema_name || '.' || view_name AS view, comment AS holds "
    "FROM duckdb_views() WHERE NOT internal ORDER BY schema_name, view_name"
)


def open_catalog(location: str) -> duckdb.DuckDBPyConnection:
    """The catalog through octo_assets.connect: whatever the lake's storage needs is registered."""
    try:
        return connect(location)
    except CatalogNotFound as exc:
        raise SystemExit(str(exc)) from None


def run_sql(connection: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """Runs each statement in `sql` and prints its result as a table; False after an error."""
    try:
        for statement in duckdb.extract_statements(sql):
            relation = connection.sql(statement.query)
            if relation is not None:  # statements such as SET return no rows
                print(relation)
    except duckdb.Error as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return False
    return True


def dot_command(connection: duckdb.DuckDBPyConnection, command: str) -> bool:
    """Runs a `.command` other than .quit; False if it is unknown or fails."""
    if command == ".tables":
        return run_sql(connection, TABLES)
    if command == ".help":
        print(HELP)
        return True
    print(f"Unknown command {command}: .help lists them.", file=sys.stderr)
    return False


def run_command(connection: duckdb.DuckDBPyConnection, text: str) -> bool:
    text = text.strip()
    return dot_command(connection, text) if text.startswith(".") else run_sql(connection, text)


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


def prompt_loop(connection: duckdb.DuckDBPyConnection, read_line: Callable[[str], str]) -> None:
    buffer: list[str] = []
    while True:
        try:
            line = read_line(CONTINUATION if buffer else PROMPT)
            if not buffer and line.strip() in QUIT:
                return
            if not buffer and line.strip().startswith("."):
                dot_command(connection, line.strip())
                continue
            if line.strip() or buffer:
                buffer.append(line)
            if buffer and line.rstrip().endswith(";"):
                run_sql(connection, "\n".join(buffer))
                buffer = []
        except KeyboardInterrupt:  # Ctrl-C drops the statement being typed or run, not the prompt
            print()
            buffer = []
        except EOFError:
            break
    if "".join(buffer).strip():  # the last statement of a piped file may lack its `;`
        run_sql(connection, "\n".join(buffer))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make sql", description="A read-only SQL prompt on the octo-assets catalog.")
    parser.add_argument("-c", "--command", metavar="SQL", help="run these statement(s) or one .command, print and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = setting("OCTO_WAREHOUSE")
    with open_catalog(path) as connection:
        if args.command is not None:
            return 0 if run_command(connection, args.command) else 1
        interactive = sys.stdin.isatty()
        if interactive:
            print(f"Catalog {path} (read-only). .tables lists the views, .help for help.")
        prompt_loop(connection, line_reader(sys.stdin))
        if interactive:
            print()  # leave the shell's prompt on a line of its own after Ctrl-D
    return 0


if __name__ == "__main__":
    sys.exit(main())
