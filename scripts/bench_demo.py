"""Time `cadence demo` end to end and record its peak memory.

Runs the demo in a fresh CADENCE_HOME for each case, in a child process, and prints one
markdown table row per case: wall-clock seconds, the demo's own reported time and the
child's peak resident memory. Usage, from the repository root:

    .venv/bin/python scripts/bench_demo.py [--data-root ../shared/data]
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CADENCE = Path(sys.executable).with_name("cadence")


def run_case(label: str, args: list[str]) -> str:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "CADENCE_HOME": home, "CADENCE_SLACK_TARGET": "emulator"}
        env.pop("CADENCE_WAREHOUSE_URL", None)
        started = time.perf_counter()
        # A child interpreter runs the demo, so its peak memory is this case's alone.
        completed = subprocess.run(
            [sys.executable, __file__, "--child", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        peak = re.search(r"peak_rss_kb=(\d+)", completed.stdout)
        peak_mb = int(peak.group(1)) / 1024 if peak else float("nan")
    if completed.returncode != 0:
        raise SystemExit(f"{label} failed:\n{completed.stdout}\n{completed.stderr}")
    reported = re.search(r"Done in ([0-9.]+)s", completed.stdout)
    weeks = re.search(r"weeks:\s+(\d+)", completed.stdout)
    leads = re.search(r"leads:\s+(\d+)", completed.stdout)
    return (
        f"| {label} | {weeks.group(1) if weeks else '?'} | {leads.group(1) if leads else '?'} "
        f"| {seconds:.1f} | {reported.group(1) if reported else '?'} | {peak_mb:.0f} |"
    )


def run_child(args: list[str]) -> None:
    """Run one demo and print its output, then the demo process's peak RSS in kB."""
    completed = subprocess.run([str(CADENCE), "demo", *args], capture_output=True, text=True)
    print(completed.stdout)
    print(completed.stderr, file=sys.stderr)
    print(f"peak_rss_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
    raise SystemExit(completed.returncode)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    cases = [("simulator, default", ["--as-of", "2026-12-04"])]
    olist = args.data_root / "olist-marketing-funnel"
    if olist.is_dir():
        cases.append(("Olist, 51 weeks", ["--data", str(olist), "--weeks", "51"]))
    print("| case | weeks | leads | wall s | reported s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, case_args in cases:
        print(run_case(label, case_args), flush=True)


if __name__ == "__main__":
    main()
