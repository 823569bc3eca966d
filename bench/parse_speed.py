"""Single-core throughput of the readings parser, in memory (no disk, no Dagster).

    python -m bench.parse_speed                          # 2,000 generated files, 3 days each (1% pretty-printed)
    python -m bench.parse_speed --sample data/readings   # the case-study files, copied under other ids

Reports the fastest of --repeat runs of parse_documents (fast path, and orjson only) and of
document_days, in rows per second. POLARS_MAX_THREADS is 1 unless set.
"""

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # before polars is imported

from bench.generate import generate  # noqa: E402
from octo_assets.readings.parse import document_days, parse_documents  # noqa: E402


def generated(files: int, start: str) -> list[tuple[str, bytes]]:
    with tempfile.TemporaryDirectory() as work:
        generate(Path(work), meterpoints=files, days=3, start=date.fromisoformat(start))
        return [(p.name, p.read_bytes()) for p in sorted((Path(work) / "readings").glob("*.json"))]


def from_sample(folder: Path, files: int) -> list[tuple[str, bytes]]:
    """The sample's files again and again, each copy under a meterpoint id of its own."""
    sample = [(p.stem, p.read_bytes()) for p in sorted(folder.glob("*.json"))]
    documents = []
    for n in range(files):
        meterpoint, raw = sample[n % len(sample)]
        other = f"{n:010x}"
        documents.append((f"{other}.json", raw.replace(meterpoint.encode(), other.encode())))
    return documents


def fastest(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--sample", type=Path, help="replicate these landing files instead of generating")
    parser.add_argument("--start", default="2021-01-01", help="first day of generated files (2021-10-30: clocks back)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.sample:
        documents = from_sample(args.sample, args.files)
    else:
        documents = generated(args.files, args.start)
    parsed = parse_documents(documents)
    rows = parsed.readings.height + parsed.quarantine.height
    print(
        f"{len(documents)} files, {rows} rows, {sum(map(len, (r for _, r in documents))) / 1e6:.1f} MB, "
        f"POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}"
    )
    for label, run in [
        ("parse_documents", lambda: parse_documents(documents)),
        ("parse_documents(fast=False)", lambda: parse_documents(documents, fast=False)),
        ("document_days", lambda: document_days(documents)),
    ]:
        seconds = fastest(run, args.repeat)
        print(f"{label:30s} {seconds * 1000:8.1f} ms  {rows / seconds / 1e6:5.2f} M rows/s")


if __name__ == "__main__":
    main()
