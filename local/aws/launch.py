"""Starts the local AWS: moto's server on 127.0.0.1:<port>, with the broker's patches.

    python3 local/aws/launch.py <port>

Port 0 picks a free port: the launcher binds it itself and prints it as the first line on
stdout once the socket listens. A port picked by the caller and bound later could be taken by
another local AWS started in between (test binaries run side by side), and the caller would
then talk to that one without noticing.

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
    if argv[1] != "0":
        from moto.server import main as moto_main

        moto_main(["-H", "127.0.0.1", "-p", argv[1]])
        return
    _serve_on_a_free_port()


def _serve_on_a_free_port() -> None:
    """What moto.server.main does, on a socket bound here, so the port is ours before it is told."""
    import socket

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    server = make_server("127.0.0.1", port, app, threaded=True, fd=sock.fileno())
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
