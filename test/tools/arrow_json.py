"""Arrow columns as JSON-safe lists, shared by the independent readers (read_lake.py, read_series.py).

JSON readers parse every number as a double, so what a double cannot hold exactly is printed as text:
timestamps as int64 nanoseconds in decimal strings, 64-bit integers beyond 2^53 as decimal strings,
NaN and infinities by name ("nan", "inf", "-inf"); binary as hex; dictionary columns as their values.
"""
import math

import pyarrow as pa


def column_values(col: pa.ChunkedArray) -> list:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_timestamp(t):
        return [None if v is None else str(v) for v in col.cast(pa.int64()).to_pylist()]
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return [None if v is None else v.hex() for v in col.to_pylist()]
    values = col.to_pylist()
    if pa.types.is_integer(t) and t.bit_width == 64:
        return [str(v) if v is not None and abs(v) > 2**53 else v for v in values]
    if pa.types.is_floating(t):
        return [None if v is None else (str(v) if math.isnan(v) or math.isinf(v) else v) for v in values]
    return values
