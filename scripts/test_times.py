"""Passes `cargo test` output through and ends it with where the time went.

Reads cargo's output on stdin, echoes every line at once, and notes when the first test binary
started (the build's share) and each binary's "finished in" time. Used by scripts/test.
"""

import re
import sys
import time

start = time.monotonic()
first_run = None
binary = None
times = []
for line in sys.stdin:
    sys.stdout.write(line)
    sys.stdout.flush()
    running = re.match(r"\s+Running (\S+)", line)
    if running:
        binary = running.group(1)
        if first_run is None:
            first_run = time.monotonic()
    finished = re.search(r"^test result: .* finished in ([0-9.]+)s", line)
    if finished and binary:
        times.append((float(finished.group(1)), binary))
end = time.monotonic()
build = (first_run or end) - start
print(f"\n-- cargo test: build {build:.0f} s, tests {end - (first_run or end):.0f} s")
for seconds, name in sorted(times, reverse=True)[:8]:
    print(f"   {seconds:7.1f} s  {name}")
