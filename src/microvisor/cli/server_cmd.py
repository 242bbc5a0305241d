"""`microvisor server`: run the cloud service's REST API on a data folder (made on first start)."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ..cloud.service import Service, Startup

from .output import fail, out

DEFAULT_DATA = Path.home() / ".microvisor" / "server"
GRACEFUL_SHUTDOWN_S = 3


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
        # without it every keep-alive response waited ~40 ms for the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}.", 1) from None
    return sock


def _log_to_stderr(level: str) -> None:
    """The service's own log lines (link, broker) on stderr at the chosen level."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("microvisor")
    root.addHandler(handler)
    root.setLevel(level.upper())


def server(
    data: Path = typer.Option(DEFAULT_DATA, "--data", metavar="DIR",
                              help="Data folder: platform, database, credentials (made on first start)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on; 0 picks a free one."),
    database_url: str | None = typer.Option(None, "--database-url", metavar="URL",
                                            help="postgresql://… (default: SQLite in the data folder)."),
    broker_url: str | None = typer.Option(None, "--broker-url", metavar="HOST:PORT",
                                          help="Use this MQTT 5 broker (mutual TLS, platform CA) for the "
                                               "device link instead of starting Mosquitto."),
    broker_port: int | None = typer.Option(None, "--broker-port", min=0, max=65535,
                                           help="Port of our own broker (on 127.0.0.1); default: the "
                                                "port of the last start, or a free one."),
    broker_public: str | None = typer.Option(None, "--broker-public", metavar="HOST:PORT",
                                             help="The broker address devices are told, when they reach "
                                                  "it through another address."),
    log_level: str = typer.Option("info", "--log-level", help="critical, error, warning, info or debug."),
) -> None:
    """Run the Microvisor service: the v1 REST API over a platform and a database."""
    from ..cloud.service import ServerSettings, StartupError, start_service  # loaded only for this command

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise fail(f"--log-level {log_level!r} is not one of critical, error, warning, info, debug.")
    sock = _bind(host, port)
    try:
        startup = start_service(ServerSettings(data, database_url, broker_url, broker_port=broker_port,
                                               broker_public=broker_public))
    except StartupError as exc:
        sock.close()
        raise fail(f"cannot start the service: {exc}.", 1) from None
    service = startup.service
    _log_to_stderr(log_level)
    try:
        service.start_link()
        _serve(service, startup, sock, data, log_level)
    except StartupError as exc:
        raise fail(f"cannot start the service: {exc}.", 1) from None
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises the Ctrl-C it caught
        pass
    finally:  # the broker and link worker stop whatever happened
        sock.close()
        service.close()


def _serve(service: Service, startup: Startup, sock: socket.socket, data: Path, log_level: str) -> None:
    """Print the welcome and serve the REST API until Ctrl-C."""
    import uvicorn  # the server's own dependencies load only for this command

    from ..cloud.app import create_app

    if startup.new_account:
        credentials = startup.credentials
        out.print(f"Created account {credentials.account_sid} with auth token {credentials.auth_token} "
                  f"(saved in {data / 'credentials.json'}; shown only once).")
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    out.print(f"Microvisor service listening on http://{shown_host}:{bound_port} "
              f"(data {data}, database {service.database.display_url}, device link mqtts://"
              f"{service.broker_address})")
    sys.stdout.flush()
    config = uvicorn.Config(create_app(service), log_level=log_level,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    uvicorn.Server(config).run(sockets=[sock])
