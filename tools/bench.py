"""Benchmarks, printed side by side with their baseline in one run (`make bench`).

handler: see tools/bench_handler.py (memory vs object size, streaming throughput, import time).

synth: wall time and peak memory (summed RSS of the process tree: Python and
the jsii Node.js process) of a full `make synth`, with the plain provider import
(baseline) and with the fast one (modules/provider_import.py in Python,
modules/lazy_provider_index.cjs in Node), and their ratio. Each is run ``--repeat``
times after one warm-up; the median is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _tree_rss_kib(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
        stack.extend(_children(current))
    return total


def measure(command: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT) -> tuple[float, float]:
    """(wall seconds, peak tree RSS MiB) of one run; raises if the command fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_kib(process.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-2000:]}")
    return wall, peak / 1024


def bench_synth(repeat: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, plain in (("plain import (baseline)", "1"), ("fast import (Python + Node)", "0")):
            env = {**os.environ, "INGEST_PLAIN_PROVIDER_IMPORT": plain, "CDKTF_OUTDIR": str(Path(tmp) / label.split()[0])}
            measure([sys.executable, "main.py"], env)  # warm-up: OS file cache, __pycache__
            runs = [measure([sys.executable, "main.py"], env) for _ in range(repeat)]
            rows.append((label, statistics.median(w for w, _ in runs), statistics.median(m for _, m in runs)))
    (base_label, base_wall, base_mem), (fast_label, fast_wall, fast_mem) = rows
    print(f"synth of all stacks, median of {repeat} warm runs")
    print(f"  {'variant':<30}{'wall s':>10}{'peak MiB':>12}")
    for label, wall, mem in rows:
        print(f"  {label:<30}{wall:>10.2f}{mem:>12.0f}")
    print(f"  {'ratio fast/plain':<30}{fast_wall / base_wall:>10.2f}{fast_mem / base_mem:>12.2f}")
    print(f"  targets: wall ratio <= 0.35, warm fast synth < 6 s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="*", help="benchmarks to run: synth, handler (default: all)")
    parser.add_argument("--large-mib", type=int, default=512, help="size of the large object in the handler benchmark")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    args.what = args.what or ["synth", "handler"]
    unknown = set(args.what) - {"synth", "handler"}
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; allowed: synth, handler")
    if "synth" in args.what:
        bench_synth(args.repeat)
    if "handler" in args.what:
        from tools.bench_handler import bench_handler

        bench_handler(args.repeat, args.large_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
