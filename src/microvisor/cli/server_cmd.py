"""`microvisor server`: run the cloud service's REST API on a data folder (made on first start)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import socket

    from ..cloud.service import Service, Startup

from ..cloud.fetch_budget import DEFAULT_RATE
from ..common.bundle_format import MAX_UPLOAD
from . import params
from .output import fail, out

DEFAULT_DATA = Path.home() / ".microvisor" / "server"
GRACEFUL_SHUTDOWN_S = 3
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _bind(host: str, port: int) -> socket.socket:
    import socket  # loaded by the server alone, not for every command

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
    ctx: typer.Context,
    data: Path = params.option(DEFAULT_DATA, "--data", type=params.NEW_FOLDER, metavar="DIR",
                               help="Data folder: platform, database, credentials (made on first start)."),
    host: str = params.option("127.0.0.1", "--host", type=params.HOST, help="Address to listen on."),
    port: int = params.option(8080, "--port", type=params.port(zero_picks=True), metavar="PORT",
                              help="Port to listen on."),
    database_url: str | None = params.option(None, "--database-url", type=params.TEXT, metavar="URL",
                                             help="postgresql://… (default: SQLite in the data folder)."),
    broker_url: str | None = params.option(None, "--broker-url", type=params.ADDRESS,
                                           help="Use this MQTT 5 broker (mutual TLS, platform CA) for the "
                                                "device link instead of starting Mosquitto."),
    broker_port: int | None = params.option(None, "--broker-port", type=params.port(zero_picks=True),
                                            metavar="PORT", help="Port of our own broker (on 127.0.0.1); "
                                            "default: the port of the last start, or a free one."),
    broker_public: str | None = params.option(None, "--broker-public", type=params.ADDRESS,
                                              help="The broker address devices are told, when they reach "
                                                   "it through another address."),
    log_level: str = params.option("info", "--log-level", type=params.Choice(LOG_LEVELS), metavar="LEVEL",
                                   help="How much the service logs."),
    max_upload_size: int = params.option(MAX_UPLOAD, "--max-upload-size",
                                         type=params.Integer(64 * 1024, 1 << 30), metavar="BYTES",
                                         help="The largest request body accepted (a bundle upload); a larger "
                                              "one is refused with 413 before it is read."),
    fetch_rate: int = params.option(DEFAULT_RATE, "--fetch-rate", type=params.Integer(4096, 1 << 30),
                                    metavar="BYTES_PER_S",
                                    help="Update data one device may pull per second (bursts of two "
                                         "seconds' worth); a device asking for more is told to slow down."),
    resolve: list[str] = params.option([], "--resolve", type=params.RESOLVE,
                                       help="Connect devices' channels (HTTP, MQTT) for HOST:PORT to ADDRESS "
                                            "instead of what DNS says, as curl's --resolve does; repeat for "
                                            "more. For tests and demos: off by default."),
    allow_private: bool = typer.Option(False, "--allow-private-destinations",
                                       help="Let devices' channels reach loopback and private addresses "
                                            "(refused by default: a device must not reach the service's own "
                                            "network). For tests and demos."),
    channel_ca: Path | None = params.option(None, "--channel-ca", type=params.INPUT_FILE, metavar="PEM",
                                            help="Also trust this CA (PEM) for devices' HTTPS requests and "
                                                 "MQTT brokers, beside the system's. For tests and demos."),
) -> None:
    """Run the Microvisor service: the v1 REST API over a platform and a database, and the device link.

    `microvisor server accounts …` manages its accounts instead."""
    if ctx.invoked_subcommand is not None:
        return
    from ..cloud.service import ServerSettings, StartupError, start_service  # loaded only for this command

    sock = _bind(host, port)
    try:
        startup = start_service(ServerSettings(data, database_url, broker_url, broker_port=broker_port,
                                               broker_public=broker_public, max_body_bytes=max_upload_size,
                                               fetch_rate=fetch_rate, channel_resolve=tuple(resolve),
                                               channel_allow_private=allow_private, channel_ca=channel_ca))
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
    if service.failure is not None:
        raise fail(f"the service stopped: {service.failure}.", 1)


def _serve(service: Service, startup: Startup, sock: socket.socket, data: Path, log_level: str) -> None:
    """Print the welcome and serve the REST API until Ctrl-C."""
    import threading

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
    server = uvicorn.Server(config)

    def stop_when_failed() -> None:  # the broker is gone for good: serving REST alone would mislead
        service.failed.wait()
        server.should_exit = True

    threading.Thread(target=stop_when_failed, name="failure-watch", daemon=True).start()
    server.run(sockets=[sock])
