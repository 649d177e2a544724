"""Import throughput and memory: `sextant bench data` (also part of `make bench`).

`sextant data import` of generated quotes (a seeded random walk on a 0.1 tick, with sizes), as CSV and as Parquet,
at two lengths, both several 250,000-row chunks long: rows per second (median of `--runs` imports, each in a fresh
process, as the command runs) and the peak resident size of that process. Memory is bounded by the chunk, not the
file, when the longer import's peak is about the shorter one's; the rows per second of Arrow's CSV reader and
Nautilus' catalog writer set the pace.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

IMPORT_ONE = """
import json, resource, sys, time
from pathlib import Path
from sextant.market.importer import ImportOptions, InstrumentTerms, import_data
started = time.perf_counter()
report = import_data(Path(sys.argv[1]), Path(sys.argv[2]), InstrumentTerms(instrument_id="ABC-USD.SIM", kind="spot"),
                     ImportOptions())
print(json.dumps({"rows": report.rows, "seconds": time.perf_counter() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_quotes(rows: int, folder: Path) -> tuple[Path, Path]:
    """The same seeded quotes as CSV and as Parquet, written a million rows at a time."""
    rng = np.random.default_rng(7)
    schema = pa.schema([("ts", pa.int64()), ("bid", pa.float64()), ("ask", pa.float64()),
                        ("bid_size", pa.float64()), ("ask_size", pa.float64())])
    csv_path, parquet_path = folder / f"{rows}.csv", folder / f"{rows}.parquet"
    price = 60_000.0
    with pacsv.CSVWriter(csv_path, schema) as csv_out, pq.ParquetWriter(parquet_path, schema) as parquet_out:
        for start in range(0, rows, 1_000_000):
            count = min(1_000_000, rows - start)
            mid = np.round(price + np.cumsum(rng.integers(-2, 3, count) * 0.1), 1)
            price = float(mid[-1])
            size = np.round(rng.uniform(0.01, 5.0, count), 2)
            table = pa.table({"ts": 1_700_000_000_000 + (start + np.arange(count)) * 100, "bid": mid,
                              "ask": np.round(mid + 0.1, 1), "bid_size": size, "ask_size": size}, schema=schema)
            csv_out.write_table(table)
            parquet_out.write_table(table)
    return csv_path, parquet_path


def measure(source: Path, folder: Path, runs: int) -> tuple[float, float]:
    """(median rows per second, largest peak resident MB) over `runs` fresh-process imports."""
    rates, peaks = [], []
    for run in range(runs):
        done = subprocess.run([sys.executable, "-c", IMPORT_ONE, str(source), str(folder / f"catalog-{run}")],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rates.append(result["rows"] / result["seconds"])
        peaks.append(result["peak_mb"])
    return statistics.median(rates), max(peaks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="the longer file's rows (default 2000000); the "
                                                                    "shorter has a quarter (both several chunks)")
    parser.add_argument("--runs", type=int, default=3, help="imports per file (default 3)")
    args = parser.parse_args()
    print(f"\nimport throughput, {args.rows // 4:,} and {args.rows:,} quotes, median of {args.runs} imports "
          f"(each a fresh process)")
    with tempfile.TemporaryDirectory(prefix="sextant-bench-data-") as scratch:
        folder = Path(scratch)
        peaks: dict[str, list[float]] = {"CSV": [], "Parquet": []}
        for rows in (args.rows // 4, args.rows):
            csv_path, parquet_path = write_quotes(rows, folder)
            for name, path in (("CSV", csv_path), ("Parquet", parquet_path)):
                rate, peak = measure(path, folder / f"{name}-{rows}", args.runs)
                peaks[name].append(peak)
                print(f"  {name:<8} {rows:>11,} rows   {rate:>10,.0f} rows a second   peak {peak:,.0f} MB")
        for name, (small, large) in peaks.items():
            print(f"  {name:<8} peak at {args.rows:,} rows: {large / small:.2f}× the peak at {args.rows // 4:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
