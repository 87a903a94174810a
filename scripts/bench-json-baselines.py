#!/usr/bin/env python3
"""Measure JSON-parsing baselines for keyward's ingest benchmark.

Both baselines read every .json.gz file under TREE (a tree written by
gen-cloudtrail.py), parse every record and count the records whose eventSource
is one that keyward keeps:

  python  the standard library's gzip and json modules, in one thread
  duckdb  DuckDB's read_json on the same files, after SET threads=N

Each baseline prints one JSON line with the keys tool, threads, seconds,
records, crypto_records and uncompressed_mb_per_s. The seconds are wall-clock
time of the read alone, without the interpreter start or the import. MB is
10^6 bytes of uncompressed JSON. The duckdb baseline needs the duckdb package,
which scripts/bench-ingest installs into .venv-bench.
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path

# The event sources that keyward stores.
CRYPTO_SOURCES = (
    "kms.amazonaws.com",
    "secretsmanager.amazonaws.com",
    "acm.amazonaws.com",
    "acm-pca.amazonaws.com",
    "cloudhsm.amazonaws.com",
)

# DuckDB rejects a JSON document larger than maximum_object_size, which is
# 16 MiB by default in DuckDB 2.0.1. CloudTrail files are far smaller, but a
# benchmark must not fail on a large one.
DUCKDB_MAX_OBJECT_BYTES = 1 << 30


def find_files(tree: Path) -> list[Path]:
    files = sorted(tree.rglob("*.json.gz"))
    if not files:
        sys.exit(f"bench-json-baselines: no .json.gz files found under {tree}")
    return files


def gzip_uncompressed_size(path: Path) -> int:
    """Return the uncompressed size that a gzip file's trailer records.

    The trailer (ISIZE) contains the size modulo 2^32 of the last member only, so
    this is exact for single-member files under 4 GiB, as CloudTrail writes.
    """
    with path.open("rb") as file:
        file.seek(-4, 2)
        return struct.unpack("<I", file.read(4))[0]


def result_line(
    tool: str, threads: int, seconds: float, records: int, crypto: int, size: int
) -> str:
    return json.dumps(
        {
            "tool": tool,
            "threads": threads,
            "seconds": round(seconds, 3),
            "records": records,
            "crypto_records": crypto,
            "uncompressed_mb_per_s": round(size / 1e6 / seconds, 1),
        }
    )


def run_python(files: list[Path]) -> str:
    sources = frozenset(CRYPTO_SOURCES)
    records = 0
    crypto = 0
    size = 0
    started = time.perf_counter()
    for path in files:
        # gzip.decompress reads every member, like zcat.
        data = gzip.decompress(path.read_bytes())
        size += len(data)
        file_records = json.loads(data)["Records"]
        records += len(file_records)
        crypto += sum(
            1 for record in file_records if record.get("eventSource") in sources
        )
    seconds = time.perf_counter() - started
    return result_line("python-json", 1, seconds, records, crypto, size)


def run_duckdb(files: list[Path], threads: int, schema: str) -> str:
    try:
        import duckdb
    except ImportError:
        sys.exit(
            "bench-json-baselines: the duckdb package is missing: run this script with "
            ".venv-bench/bin/python, which scripts/bench-ingest creates"
        )

    # The minimal schema reads only eventSource from each record, which is
    # DuckDB's fastest way to the counts. DuckDB still parses every file in
    # full, because yyjson builds the whole document, but converts one field. The auto
    # schema has DuckDB detect and convert every field, as a user's first
    # query would.
    if schema == "minimal":
        columns = ", columns = {'Records': 'STRUCT(eventSource VARCHAR)[]'}"
    else:
        columns = ""
    source_list = ", ".join(f"'{source}'" for source in CRYPTO_SOURCES)
    query = f"""
        SELECT
            count(*) AS records,
            count(*) FILTER (WHERE record.eventSource IN ({source_list})) AS crypto_records
        FROM (
            SELECT unnest(Records) AS record
            FROM read_json(
                $files,
                format = 'unstructured',
                records = true,
                compression = 'gzip',
                maximum_object_size = {DUCKDB_MAX_OBJECT_BYTES}{columns}
            )
        )
    """
    size = sum(gzip_uncompressed_size(path) for path in files)
    connection = duckdb.connect()
    connection.execute(f"SET threads = {threads}")

    started = time.perf_counter()
    records, crypto = connection.execute(
        query, {"files": [str(path) for path in files]}
    ).fetchone()
    seconds = time.perf_counter() - started

    line = json.loads(result_line("duckdb", threads, seconds, records, crypto, size))
    line["schema"] = schema
    line["duckdb_version"] = duckdb.__version__
    return json.dumps(line)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path, help="folder written by gen-cloudtrail.py")
    parser.add_argument(
        "--tool",
        choices=("python", "duckdb", "all"),
        default="all",
        help="baseline to run (default all: python, then duckdb)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="number of DuckDB threads (default 1). The python baseline always uses 1",
    )
    parser.add_argument(
        "--duckdb-schema",
        choices=("minimal", "auto"),
        default="minimal",
        help="DuckDB schema: minimal reads only eventSource, auto lets DuckDB detect "
        "every field (default minimal)",
    )
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"invalid --threads {args.threads}: expected at least 1")
    if args.tool == "python" and args.threads != 1:
        parser.error(
            "--threads applies to duckdb only: the python baseline runs in one thread"
        )
    if not args.tree.is_dir():
        parser.error(f"tree {args.tree} is not a folder")
    return args


def main() -> None:
    args = parse_args()
    files = find_files(args.tree)
    if args.tool in ("python", "all"):
        print(run_python(files), flush=True)
    if args.tool in ("duckdb", "all"):
        print(run_duckdb(files, args.threads, args.duckdb_schema), flush=True)


if __name__ == "__main__":
    main()
