"""Run the emulator: ``python -m xapi_emulator --host 127.0.0.1 --port N``.

Prints ``READY http://HOST:PORT`` on stdout once the socket accepts requests
(``--port 0`` picks a free port and prints it). Stops on SIGTERM/SIGINT, and
when stdin closes if ``--exit-on-stdin-close`` is given (so a parent that dies
never leaves an orphan emulator behind).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="xapi_emulator", description=__doc__)
    p.add_argument("--host", default=os.environ.get("XAPI_EMU_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("XAPI_EMU_PORT", "5000")))
    p.add_argument("--time-scale", type=float, default=None,
                   help="multiply every wait and quota period (default 1.0 or $XAPI_EMU_TIME_SCALE)")
    p.add_argument("--no-quotas", action="store_true", help="start with API Gateway quotas off")
    p.add_argument("--exit-on-stdin-close", action="store_true")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def _stop(signum: int, frame: object) -> None:
    """Exit at once: all state is in memory and meant to be thrown away, and
    a normal interpreter shutdown with moto loaded takes most of a second."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _watch_stdin() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    # moto's request recorder writes to ./moto_recording by default; keep it
    # out of whatever directory the emulator was started in.
    os.environ.setdefault("MOTO_RECORDER_FILEPATH",
                          os.path.join(tempfile.gettempdir(), f"xapi-moto-recording-{os.getpid()}"))

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    from . import apply_patches
    from .middleware import XapiMiddleware
    from .settings import SETTINGS

    SETTINGS.load_env()
    patch: dict = {}
    if args.time_scale is not None:
        patch["time_scale"] = args.time_scale
    if args.no_quotas:
        patch["quotas"] = False
    if patch:
        SETTINGS.merge(patch)
    SETTINGS.mark_startup()
    apply_patches()

    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = XapiMiddleware(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    server.daemon_threads = True  # stop promptly, even with keep-alive connections open
    server.block_on_close = False
    port = server.server_port
    os.environ.setdefault("MOTO_PORT", str(port))

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"READY http://{args.host}:{port}", flush=True)
    if args.exit_on_stdin_close:
        threading.Thread(target=_watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
