"""Read the time-series objects of the minio or cloud output with pyarrow, independently of the TypeScript
writer, the way a user would: a Hive-partitioned dataset per table, filtered by the signal column.

usage: test/tools/python.sh <this file> ROOT [SIGNAL]

ROOT holds the objects as they are in the bucket (`series/<table>/machine=../build=../date=../*.parquet`
or `<prefix>/machine=../build=../timeseries/<table>/date=../*.parquet`); the table is the path segment
named scalars, samples, events or raw. Prints JSON:

  {"datasets": {"<table>": {"rows": N, "files": N, "schema": {"col": "arrow type"},
                            "partitions": [{"machine": .., "build": .., "date": ..}],
                            "columns": {"col": [...]} (timestamps as int64 ns in decimal strings, 64-bit integers beyond 2^53 as
                            decimal strings, NaN/inf as strings, binary as hex),
                            "rows_of_signal": N (with SIGNAL: rows read with a filter on the signal column)}},
   "files": {"<path>": {"rows": N, "sorted": true when rows are in (signal, seq) order, "compression": ".."}}}
"""
import json
import os
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from arrow_json import column_values

TABLES = ("scalars", "samples", "events", "raw")


def main() -> None:
    root = sys.argv[1]
    signal = sys.argv[2] if len(sys.argv) > 2 else None
    by_table: dict = {}
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith(".parquet"):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            table_name = next((s for s in rel.split(os.sep) if s in TABLES), None)
            if table_name is None:
                continue
            by_table.setdefault(table_name, []).append(full)
            t = pq.read_table(full, partitioning=None)
            keys = list(zip(t.column("signal").cast(pa.string()).to_pylist(), t.column("seq").to_pylist()))
            files[rel] = {
                "rows": t.num_rows,
                "sorted": keys == sorted(keys),
                "compression": pq.ParquetFile(full).metadata.row_group(0).column(0).compression,
            }
    # partition values are strings (a build named "42" stays "42"); segments without "=" are not partitions
    partitioning = ds.partitioning(pa.schema([("machine", pa.string()), ("build", pa.string()), ("date", pa.string())]), flavor="hive")
    datasets = {}
    for table_name, paths in sorted(by_table.items()):
        dataset = ds.dataset(paths, format="parquet", partitioning=partitioning, partition_base_dir=root)
        table = dataset.to_table()
        keys = ["machine", "build", "date"]
        parts = sorted({tuple(row[k] for k in keys) for row in table.select(keys).to_pylist()}, key=lambda p: tuple("" if v is None else v for v in p))
        out = {
            "rows": table.num_rows,
            "files": len(paths),
            "schema": {f.name: str(f.type) for f in table.schema},
            "partitions": [dict(zip(keys, p)) for p in parts],
            "columns": {n: column_values(table.column(n)) for n in table.column_names},
        }
        if signal is not None:
            out["rows_of_signal"] = dataset.to_table(filter=ds.field("signal") == signal).num_rows
        datasets[table_name] = out
    json.dump({"datasets": datasets, "files": files}, sys.stdout)


if __name__ == "__main__":
    main()
