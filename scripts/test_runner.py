"""Runs the workspace's tests as `cargo test --workspace` does, with test binaries side by side.

Why: each end-to-end binary starts its own local AWS (one moto process), and `cargo test` runs
binaries one after another. On the 2-core CI machine that left one core idle for most of the run
and both mostly waiting (the local AWS's IAM propagation delay, the broker's read-backs). Here the
binaries are built once (`cargo test --no-run`, the same build `cargo test` makes), then run
`--jobs` at a time (twice the cores unless CIB_TEST_JOBS says otherwise), slowest first (each
binary's time of the last run is kept in target/test-times.json), each one's output printed
whole when it finishes, so outputs never interleave. Doc tests run as one more job, and so does
each `--also` command (scripts/test: the local AWS's own tests, the browser journeys and the
fuzzer, which wait on their own local systems as the binaries do). Ends with the build's share
and the slowest jobs; fails if any job fails, and says which.

Usage: python3 scripts/test_runner.py [--jobs N] [--also NAME=COMMAND]... [-- extra args for every test binary]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "target" / "test-times.json"
print_lock = threading.Lock()
# Where target/test-times.json knows nothing yet (a fresh clone, as in CI): the slowest jobs as
# measured on the 2-core machine on 2026-12-07, in seconds, so that they still start first.
FIRST_RUN = {
    "e2e::faults_everywhere_expiry": 320,
    "API fuzzing (scripts/fuzz 60 20261122)": 400,
    "e2e::faults_everywhere_ends": 245,
    "e2e::faults_everywhere_starts": 141,
    "e2e::faults_everywhere_users": 117,
    "local AWS: its own tests (pytest local/aws)": 100,
    "e2e::requests": 96,
    "e2e::aws_as_it_behaves": 94,
}


def package_name(package_id: str) -> str:
    """`path+file:///work/main/cli#cib@0.1.0` names `cib`; `…/shared#0.1.0` (name = folder) `shared`."""
    url, _, fragment = package_id.partition("#")
    return fragment.split("@")[0] if "@" in fragment else url.rstrip("/").rsplit("/", 1)[-1]


def build() -> list[tuple[str, list[str]]]:
    """Builds every test target; returns (name, command) per test binary, as cargo runs them."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=False,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(out.returncode)
    jobs = []
    for line in out.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable") or not msg["profile"]["test"]:
            continue
        target = msg["target"]
        package = package_name(msg["package_id"])
        name = f"{package}::{target['name']}" if target["kind"] != ["lib"] else f"{package} (unit)"
        # As cargo test does: a binary runs from its package's directory.
        manifest_dir = str(Path(msg["manifest_path"]).parent)
        jobs.append((name, [msg["executable"]], manifest_dir))
    return jobs


def run(name: str, command: list[str], cwd: str) -> tuple[str, int, float, str]:
    started = time.monotonic()
    proc = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    took = time.monotonic() - started
    with print_lock:
        print(f"\n---- {name} ({took:.1f} s){' FAILED' if proc.returncode else ''}")
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
    return name, proc.returncode, took, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    # Twice the cores: an end-to-end binary spends much of its time waiting (the local AWS's IAM
    # propagation delay, the broker's read-back and retries), not computing.
    default_jobs = 2 * (os.cpu_count() or 2)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("CIB_TEST_JOBS", default_jobs)))
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="one more job beside the test binaries: a bash command run from the repository's root",
    )
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()

    started = time.monotonic()
    jobs = [(name, cmd + args.rest, cwd) for name, cmd, cwd in build()]
    built = time.monotonic()
    jobs.append(("doc tests", ["cargo", "test", "--workspace", "--doc", "--quiet"], str(ROOT)))
    for also in args.also:
        name, _, command = also.partition("=")
        jobs.append((name, ["bash", "-c", command], str(ROOT)))
    known = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    # Slowest first, so the longest job does not start last and run alone.
    jobs.sort(key=lambda j: known.get(j[0], FIRST_RUN.get(j[0], 60.0)), reverse=True)

    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run, name, cmd, cwd) for name, cmd, cwd in jobs]
        for f in concurrent.futures.as_completed(futures):
            results.append(f.result())
    ended = time.monotonic()

    TIMES.parent.mkdir(exist_ok=True)
    TIMES.write_text(json.dumps({**known, **{name: round(took, 1) for name, _, took, _ in results}}, indent=1))
    failed = sorted(name for name, rc, _, _ in results if rc)
    print(
        f"\n-- tests: build {built - started:.0f} s, then {len(results)} jobs in {ended - built:.0f} s "
        f"({args.jobs} at a time); the slowest:"
    )
    for name, _, took, _ in sorted(results, key=lambda r: r[2], reverse=True)[:10]:
        print(f"   {took:7.1f} s  {name}")
    if failed:
        print("\nFAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
