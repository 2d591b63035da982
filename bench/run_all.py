"""Every benchmark behind the figures in docs/benchmarks.md, one after the other, with one command.

    python bench/run_all.py [--quick] [--only NAME ...] [--out FILE]

Each script runs in its own process (a fresh interpreter: no warm caches from the one before) and its output is printed
as it comes and kept, with the load average before and after, in --out (bench-results.txt). `--quick` runs each at a
size that finishes in a few minutes in all (the figures' spread is then wider); without it, the sizes the documented
figures come from (100k stores: expect an hour on 2 cores). The machine is shared and noisy: each script compares its
variants inside one run, in a random order, and reports ratios; compare ratios across runs, not absolute times."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (full arguments, quick arguments)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "condense": ([], ["--actions", "1000", "--repeat", "3", "--ingest", "100"]),
    "ingest": ([], ["--files", "150", "--rounds", "3"]),
    "ingest-mixed": (["--mixed"], ["--mixed", "--files", "150", "--rounds", "3"]),
    "search": ([], ["--sizes", "1000", "10000", "--queries", "100"]),
    "tails": ([], ["--sizes", "1000", "10000", "--queries", "150", "--mcp-calls", "50"]),
    "coach": ([], ["--sizes", "1000", "--runs", "2"]),
    "relevance": ([], []),
    "site_scope": ([], []),
    "browse": ([], ["--size", "5000", "--advice", "1000", "--repeats", "2"]),
    "eval": ([], ["--tasks", "3", "--concurrency", "1", "2"]),
}


def _script(name: str) -> Path:
    return HERE / f"bench_{name.split('-')[0]}.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=sorted(BENCHES))
    parser.add_argument("--out", type=Path, default=Path("bench-results.txt"))
    args = parser.parse_args()
    failed = []
    with args.out.open("w", encoding="utf-8") as out:
        for name in args.only:
            full, quick = BENCHES[name]
            cmd = [sys.executable, str(_script(name)), *(quick if args.quick else full)]
            header = f"== {name}: {' '.join(cmd[1:])} (load {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
            print(header, flush=True)
            out.write(header + "\n")
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                out.write(line)
            code = proc.wait()
            footer = f"-- {name}: exit {code} in {time.monotonic() - started:.0f} s\n"
            print(footer, flush=True)
            out.write(footer)
            if code:
                failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
