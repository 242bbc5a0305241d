"""The running service's parts (database, platform, secrets, link seam) and how a data folder sets them up."""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from ..common import kernel_image
from ..common.link import LinkMessageError, parse_address
from ..common.platform import Platform, PlatformError
from . import broker, fetch_budget
from .body_limit import DEFAULT_MAX_BODY
from .broker import Broker
from .data_dir import Credentials, DataDir, DataDirError
from .database import Database, DatabaseError, sqlite_url
from .destinations import Destinations
from .link_gateway import LinkGateway
from .link_worker import LinkWorker
from .log_stream import LogWakeups
from .rollouts import RolloutDriver
from .secret_box import SecretBox, SecretBoxError
from .store.accounts import AccountMismatch, create_account, ensure_account

log = logging.getLogger(__name__)

FIRST_ACCOUNT_NAME = "Developer account"


class StartupError(Exception):
    """The service cannot start; the message says why in one sentence."""


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    database_url: str | None = None  # default: SQLite in the data folder
    broker_url: str | None = None  # an external MQTT broker (host:port, mutual TLS) instead of our own
    broker_host: str = "127.0.0.1"  # where our own broker listens
    broker_port: int | None = None  # None: the port of the last start, else a free one; 0: a free one
    broker_public: str | None = None  # host:port devices are told (default: where the broker is)
    max_body_bytes: int = DEFAULT_MAX_BODY  # the largest request body (a bundle upload) accepted
    fetch_rate: int = fetch_budget.DEFAULT_RATE  # update bytes per second one device may pull
    channel_resolve: tuple[str, ...] = ()  # "HOST:PORT:ADDRESS" for devices' channels (cloud/destinations.py)
    channel_allow_private: bool = False  # devices' channels may reach loopback and private addresses
    channel_ca: Path | None = None  # a CA trusted beside the system's for devices' HTTPS and MQTT


class Service:
    def __init__(self, settings: ServerSettings, database: Database, platform: Platform, secrets: SecretBox):
        self.settings = settings
        self.database = database
        self.platform = platform
        self.secrets = secrets
        self.wakeups = LogWakeups()
        self.debug_wakeups = LogWakeups()
        self.link = LinkGateway(database, self.wakeups, self.debug_wakeups, secrets)
        self._kernel_lock = threading.Lock()
        self._kernel: bytes | None = None
        self.broker: Broker | None = None
        self.worker: LinkWorker | None = None
        self.rollouts = RolloutDriver(database)
        self.broker_address: str | None = None  # what registered devices are told to connect to
        self.failure: str | None = None  # why the service must stop (its broker is gone for good)
        self.failed = threading.Event()

    def start_link(self) -> None:
        """Start our broker (unless an external one is set) and a link worker; raises StartupError."""
        settings = self.settings
        try:
            if settings.broker_url:
                host, port = parse_address(settings.broker_url)
                files = broker.service_client_files(broker.prepare_folder(settings.data_dir), self.platform)
            else:
                self.broker = broker.start(settings.data_dir, self.platform, settings.broker_host,
                                           settings.broker_port)
                self.broker.supervise(self._give_up)
                host, port, files = self.broker.host, self.broker.port, self.broker.client
            budget = fetch_budget.FetchBudget(settings.fetch_rate, 2 * settings.fetch_rate)
            destinations = Destinations(Destinations.parse_resolve(settings.channel_resolve),
                                        settings.channel_allow_private)
            self.worker = LinkWorker(self.link, host, port, files, budget=budget, destinations=destinations,
                                     channel_ca=str(settings.channel_ca) if settings.channel_ca else None)
            self.worker.start()
            self.rollouts.start()
        except (broker.BrokerError, LinkMessageError, OSError, ValueError, ssl.SSLError) as exc:
            self.stop_link()
            raise StartupError(f"cannot start the device link: {exc}") from None
        self.broker_address = settings.broker_public or f"{host}:{port}"

    def _give_up(self, reason: str) -> None:
        log.error("%s; the service stops", reason)
        self.failure = reason
        self.failed.set()

    def stop_link(self) -> None:
        self.rollouts.stop()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def send_down(self, device_sid: str, kind: str, payload: bytes) -> bool:
        """Publish one raw down message to a device through this process's link worker (any process's
        worker reaches every device on the broker); False when this process runs no link."""
        worker = self.worker
        if worker is None:
            return False
        worker.send(device_sid, kind, payload)
        return True

    def console_input(self, device_sid: str, data: bytes) -> bool:
        """Hand bytes typed at a device's console to the relay serving its console channel, in whichever
        server process that is, through this process's link worker; False when this process runs no link."""
        worker = self.worker
        if worker is None:
            return False
        worker.console_input(device_sid, data)
        return True

    def kernel_bundle(self) -> bytes:
        """The platform's signed kernel bundle (ZIP) that registered devices install; built once."""
        with self._kernel_lock:
            if self._kernel is None:
                self._kernel = kernel_image.build(self.platform).to_bytes()
                log.info("built the platform's kernel bundle (%d bytes)", len(self._kernel))
            return self._kernel

    def close(self) -> None:
        self.stop_link()
        self.database.dispose()


@dataclass(frozen=True)
class Startup:
    service: Service
    credentials: Credentials
    new_account: bool  # True on the first start: the credentials were just made


def start_service(settings: ServerSettings) -> Startup:
    """Open (or on first start make) the data folder, platform and database; migrate; ensure the account."""
    folder = DataDir(settings.data_dir)
    try:
        folder.prepare()
        platform = Platform(folder.platform) if folder.platform.exists() else Platform.init(folder.platform)
        secrets = SecretBox.open(folder.secrets_key)
        saved = folder.read_credentials()
    except (DataDirError, PlatformError, SecretBoxError) as exc:
        raise StartupError(str(exc)) from None
    database = _migrated(settings.database_url or sqlite_url(folder.database))
    try:
        credentials, new_account = _account(database, folder, saved)
    except (SQLAlchemyError, AccountMismatch, DataDirError) as exc:
        database.dispose()
        raise StartupError(f"cannot set up the account: {exc}") from None
    return Startup(Service(settings, database, platform, secrets), credentials, new_account)


def open_database(data_dir: Path, database_url: str | None = None) -> Database:
    """The database of a data folder (made and migrated if need be), for the operator's commands."""
    folder = DataDir(data_dir)
    try:
        folder.prepare()
    except DataDirError as exc:
        raise StartupError(str(exc)) from None
    return _migrated(database_url or sqlite_url(folder.database))


def _migrated(url: str) -> Database:
    try:
        database = Database(url)
        database.migrate()
    except DatabaseError as exc:
        raise StartupError(str(exc)) from None
    return database


def _account(database: Database, folder: DataDir, saved: Credentials | None) -> tuple[Credentials, bool]:
    with database.transaction() as session:
        if saved is not None:
            ensure_account(session, saved.account_sid, saved.auth_token, FIRST_ACCOUNT_NAME)
            return saved, False
        account, token = create_account(session, FIRST_ACCOUNT_NAME)
        credentials = Credentials(account.sid, token)
        folder.write_credentials(credentials)  # inside the transaction: no account without its file
    return credentials, True
