"""Read a LayerGate file lake with pyarrow, independently of the TypeScript writer, and print JSON.

usage: python.sh read_lake.py LAKE_DIR

Output:
  {"files":    {"<relative path>.arrow|.parquet": {"rows": N, "schema": {"col": "arrow type"}, "columns": {"col": [...]},
                "parquet": {"col": {"compression": "ZSTD", "encodings": [...]}}   (Parquet files only)}},
   "datasets": {"<table>": {"rows": N, "schema": {...}, "partitions": [{"machine":..,"build":..,"date":..}],
                             "signals": [...]   (distinct values of the signal column, when the table has one)}}}
Timestamps are printed as int64 nanoseconds in decimal strings, 64-bit integers beyond 2^53 as decimal strings, binary as hex, float32 exactly as float, dictionary
columns as their values. Each table folder is also opened as a Hive-partitioned pyarrow dataset, the way a user would
read it: the partition keys are the `key=value` folder names found below it (machine/build/date for the file lake,
machine/build/signal for the MinIO output's series), all read as strings; files whose columns differ (samples of
different channel sets) are read with their unified schema, a missing column as nulls.
"""
import json
import os
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from arrow_json import column_values


def schema_dict(schema: pa.Schema) -> dict:
    return {f.name: str(f.type) for f in schema}


def main() -> None:
    root = sys.argv[1]
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name.endswith(".arrow"):
                with pa.memory_map(full) as source:
                    table = ipc.open_file(source).read_all()
                extra = {}
            elif name.endswith(".parquet"):
                parquet_file = pq.ParquetFile(full)
                table = parquet_file.read()
                group = parquet_file.metadata.row_group(0)
                extra = {"parquet": {
                    group.column(i).path_in_schema: {
                        "compression": group.column(i).compression,
                        "encodings": list(group.column(i).encodings),
                    }
                    for i in range(group.num_columns)
                }}
            else:
                continue
            files[os.path.relpath(full, root)] = {
                "rows": table.num_rows,
                "schema": schema_dict(table.schema),
                "columns": {n: column_values(table.column(n)) for n in table.column_names},
                **extra,
            }
    datasets = {}
    for table_name in sorted(os.listdir(root)):
        folder = os.path.join(root, table_name)
        # images/ holds frame files (named by the frames table), not Arrow tables
        if table_name.startswith(".") or table_name == "images" or not os.path.isdir(folder):
            continue
        table_files = [
            os.path.join(d, n)
            for d, _, names in os.walk(folder)
            for n in names
            if n.endswith(".arrow") or n.endswith(".parquet")
        ]
        if not table_files:
            continue
        # the partition keys, from the folder names of a file's path below the table folder
        keys = [seg.split("=", 1)[0] for seg in os.path.relpath(os.path.dirname(table_files[0]), folder).split(os.sep) if "=" in seg]
        # partition values are strings (a build named "42" must stay "42"), so give the schema explicitly
        partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]), flavor="hive")
        is_parquet = table_files[0].endswith(".parquet")
        fmt = "parquet" if is_parquet else "arrow"
        physical = pa.unify_schemas([ds.dataset(f, format=fmt).schema for f in table_files])
        schema = pa.schema(list(physical) + [pa.field(k, pa.string()) for k in keys if k not in physical.names])
        dataset = ds.dataset(folder, format=fmt, partitioning=partitioning, schema=schema)
        table = dataset.to_table()
        parts = sorted(
            {tuple(row[k] for k in keys) for row in table.select(keys).to_pylist()},
            key=lambda p: tuple("" if v is None else v for v in p),
        )
        datasets[table_name] = {
            "rows": table.num_rows,
            "schema": schema_dict(table.schema),
            "partitions": [dict(zip(keys, p)) for p in parts],
        }
        if "signal" in physical.names:
            datasets[table_name]["signals"] = sorted({v for v in column_values(table.column("signal")) if v is not None})
    json.dump({"files": files, "datasets": datasets}, sys.stdout)


if __name__ == "__main__":
    main()
