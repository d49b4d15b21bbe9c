"""Benchmark: building the synthetic stores.

Builds the ``full`` preset (about 5,000 stocks) and, as the reference, the ``default`` preset,
each in a fresh child process into a temporary data root, and prints wall time, peak resident
memory and throughput (stock-days per second). Run alone: ``python benchmarks/data_build.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, sys, time, pathlib, resource
from quantbook.data.sources.synthetic import build_store
t0 = time.perf_counter()
s = build_store(preset=sys.argv[1], name=sys.argv[1], progress=False, root=pathlib.Path(sys.argv[2]))
dt = time.perf_counter() - t0
rows = s.meta["tables"]["daily_bars"]["rows"]
print(json.dumps({"seconds": dt, "rows": rows, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run(preset: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, preset, root], check=True, capture_output=True, text=True
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res["wall"] = time.perf_counter() - t0
    return res


def main() -> None:
    ref = run("default")
    full = run("full")
    for name, r in (("default", ref), ("full", full)):
        print(
            f"{name:8s} build {r['seconds']:7.1f} s  (process {r['wall']:.1f} s)  daily rows {r['rows']:>10,d}  "
            f"peak memory {r['maxrss_kb'] / 1024**2:5.2f} GiB  {r['rows'] / r['seconds']:>9,.0f} stock-days/s"
        )
    speed_ratio = (full["rows"] / full["seconds"]) / (ref["rows"] / ref["seconds"])
    print(
        f"RESULT synthetic_full_build {full['seconds']:.1f} s (peak {full['maxrss_kb'] / 1024**2:.2f} GiB, "
        f"throughput x{speed_ratio:.2f}) vs default preset {ref['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
