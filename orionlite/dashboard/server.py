"""Serving the dashboard: bind the address, say where it is, stop cleanly on Ctrl-C."""

from __future__ import annotations

import socket
from collections.abc import Callable

from orionlite.dashboard import INSTALL_HINT
from orionlite.errors import MissingExtraError, OrionliteError

# What binding beyond the loopback interface gives away, said whenever it happens.
EXPOSURE_WARNING = (
    "Warning: listening on {host} shows every experiment in {url} (parameters, results, "
    "command lines, trial output) to anyone who can reach this machine on port {port}, "
    "without a password. Use --host 127.0.0.1 and an SSH tunnel unless that is intended."
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class AddressInUseError(OrionliteError):
    """The address to listen on is taken or not available."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AddressInUseError(
            f"Cannot listen on {host} port {port}: {exc.strerror or exc}.",
            hint="Choose another port with --port (0 picks a free one), or another --host.",
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    storage_url: str | None,
    host: str,
    port: int,
    base_url: str,
    say: Callable[[str], None],
    announce: Callable[[str], None],
) -> None:
    """Run until interrupted; ``announce`` prints the address, ``say`` the rest."""
    try:
        import jinja2  # noqa: F401
        import plotly  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError(
            f"{exc.name} is not installed; orionlite dashboard needs it.", hint=INSTALL_HINT
        ) from exc
    from orionlite.dashboard.app import create_app

    app = create_app(storage_url, base_url)
    dashboard = app.state.dashboard
    try:
        dashboard.storage.check()
    except OrionliteError as exc:  # the pages say so too, and recover once it is fixed
        say(f"Note: {exc.message}" + (f" {exc.hint}" if exc.hint else ""))
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    if host not in LOOPBACK:
        say(EXPOSURE_WARNING.format(host=host, url=dashboard.storage.display_url, port=bound_port))
    announce(
        f"Dashboard of {dashboard.storage.display_url} (read-only) at "
        f"http://{shown_host}:{bound_port}{dashboard.base}/ ; Ctrl-C stops it."
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: stopping is normal
        pass
    finally:
        sock.close()
