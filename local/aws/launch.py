"""Starts the local AWS: moto's server on 127.0.0.1:<port>, with the broker's patches.

    python3 local/aws/launch.py <port>

The caller sets INITIAL_NO_AUTH_ACTION_COUNT (free, unauthenticated requests for seeding) and
MOTO_IAM_LOAD_MANAGED_POLICIES. The server lives as long as our stdin stays open: a watchdog
thread exits the process when it closes, so no server outlives the process that started it
(even one that crashed).
"""

import os
import sys
import threading


def _watch_stdin() -> None:
    sys.stdin.read()
    os._exit(0)


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: launch.py <port>")
    threading.Thread(target=_watch_stdin, daemon=True).start()
    # Whatever the working directory, our package sits next to this file.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cib_local_aws

    cib_local_aws.apply_all()
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", argv[1]])


if __name__ == "__main__":
    main(sys.argv)
