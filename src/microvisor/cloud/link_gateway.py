"""The seam the link workers use: one call per thing a device tells the service or must be told.

Each call runs in its own transaction and takes the device SID from the device's certificate (CN).
Log lines, debug messages and console output wake this process's live streams at once; other server
processes see them by polling.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from .database import Database
from .log_stream import LogWakeups
from .models import Config, Device, Secret
from .secret_box import SecretBox, SecretBoxError
from ..common import delta
from ..common.bundle import sha256_hex
from .store import activity, crashes, debug_messages, deltas, deployments, device_state, layers, variables
from .store.devices import logging_active

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingCommand:
    id: int
    kind: str  # "restart-app" or "restart-device"
    date_created: datetime.datetime


@dataclass(frozen=True)
class DesiredState:
    """What a device should have: its target app (None: none targeted) and whether logging is on."""

    app_sid: str | None
    manifest_hash: str | None
    manifest: bytes | None  # OpaqueManifest co-signed by the platform
    layer_hashes: tuple[str, ...]
    logging_enabled: bool
    politeness_s: int | None = None  # the deployment's cap on the app's politeness time (0: at once)
    # The app the device reports, when it is another of its account's apps: (manifest hash, layer hashes).
    source: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Patch:
    """A patch (common/delta.py) from the image of a device's running app to one layer of its target."""

    hash: str
    source_hash: str
    data: bytes


class LinkGateway:
    def __init__(self, database: Database, wakeups: LogWakeups, debug_wakeups: LogWakeups | None = None,
                 secrets: SecretBox | None = None):
        self.database = database
        self.secrets = secrets  # opens the secrets a device fetches (None: every secret is a server error)
        self.wakeups = wakeups
        self.debug_wakeups = debug_wakeups or LogWakeups()
        self.console_wakeups = LogWakeups()  # devices' console output (routes/device_console.py)

    def device_connected(self, device_sid: str, **details: Any) -> None:
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            device_state.set_connected(session, device, True, details)

    def device_disconnected(self, device_sid: str, **details: Any) -> None:
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            device_state.set_connected(session, device, False, details)

    def logs(self, device_sid: str, boot: str, first: int, lines: list[str],
             when: datetime.datetime | None = None) -> int:
        """Store a batch of app log lines numbered from `first` in one transaction; a line stored
        already (same device, boot and number) is not stored again. Returns how many were new."""
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            stored, device_id = activity.record_logs(session, device, boot, first, lines, when), device.id
        if stored:
            self.wakeups.notify(device_id)
        return stored

    def debug_message(self, device_sid: str, payload: bytes, when: datetime.datetime | None = None) -> int:
        """Keep a device's remote-debugging message (opaque bytes) for its streams; returns its sequence."""
        return self._keep(device_sid, payload, when, debug_messages.DEBUG, self.debug_wakeups)

    def console_output(self, device_sid: str, data: bytes, when: datetime.datetime | None = None) -> int:
        """Keep bytes a device's application wrote on its console channel for the console's live streams
        (bounded as debug messages are); returns its sequence (0: nothing kept, the piece was empty)."""
        if not data:
            return 0
        return self._keep(device_sid, data, when, debug_messages.CONSOLE, self.console_wakeups)

    def _keep(self, device_sid: str, payload: bytes, when: datetime.datetime | None, stream: str,
              wakeups: LogWakeups) -> int:
        """Store one message of a device's opaque `stream` and wake its live streams here. Old messages
        are pruned afterwards, in a transaction of their own: a failed pruning (the next message prunes
        again) never loses the message."""
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            sequence = debug_messages.record(session, device, payload, when, stream=stream)
            device_id = device.id
        wakeups.notify(device_id)
        try:
            with self.database.transaction() as session:
                debug_messages.prune(session, device_id, stream=stream)
        except SQLAlchemyError as exc:
            log.warning("old %s messages of %s not pruned this time: %s", stream, device_sid,
                        str(exc).partition("\n")[0])
        return sequence

    def app_reported(self, device_sid: str, manifest_hash: str | None) -> None:
        """The device runs the app with this manifest hash (hex SHA-256 of the body), or none."""
        with self.database.transaction() as session:
            device_state.record_reported_app(session, device_state.device_by_sid(session, device_sid),
                                             manifest_hash)

    def update_failed(self, device_sid: str, error_code: int, message: str = "") -> None:
        with self.database.transaction() as session:
            device_state.record_update_error(session, device_state.device_by_sid(session, device_sid),
                                             error_code, message)

    def crashed(self, device_sid: str, details: dict[str, Any]) -> str:
        """Record a crash report (decoded, or kept sealed or unreadable as it came) as the device's event
        and as a crash report, symbolicated with the reported app's ELF when it has one and grouped by
        signature (cloud/symbolication.py, store/crashes.py); returns the report's SID."""
        from . import symbolication

        with self.database.transaction() as session:
            app = crashes.reported_app(session, device_state.device_by_sid(session, device_sid))
            elf = crashes.app_elf(session, app.id) if app is not None else None
        analysis = None
        if not details.get("sealed") and "unreadable" not in details:
            symbols = None
            if elf is not None:
                try:
                    symbols = symbolication.symbols_for(elf, lambda: self._elf(elf))
                except Exception as exc:  # noqa: BLE001 - a bad ELF costs its symbols, never the report
                    log.warning("crash report of %s not symbolicated: ELF %s unreadable (%s)", device_sid,
                                elf[:16], str(exc)[:200])
            analysis = symbolication.analyse(details, symbols)
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            device_state.record_crash(session, device, details)
            app = crashes.reported_app(session, device)
            return crashes.record(session, device, app, details, analysis).sid

    def _elf(self, sha256: str) -> bytes:
        with self.database.transaction() as session:
            data = crashes.elf_bytes(session, sha256)
        if data is None:
            raise ValueError("the stored ELF is missing or damaged")
        return data

    def pending_commands(self, device_sid: str) -> list[PendingCommand]:
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            return [PendingCommand(c.id, c.kind, c.date_created)
                    for c in device_state.pending_commands(session, device)]

    def command_delivered(self, device_sid: str, command_id: int) -> None:
        with self.database.transaction() as session:
            device_state.mark_delivered(session, device_state.device_by_sid(session, device_sid), command_id)

    def desired_state(self, device_sid: str) -> DesiredState:
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            app = device_state.desired_app(device)
            if app is None:
                return DesiredState(None, None, None, (), logging_active(device))
            running = crashes.reported_app(session, device)
            source = None
            if running is not None and running.id != app.id:
                source = (running.manifest_hash, tuple(layer.layer_hash for layer in running.layers))
            return DesiredState(app.sid, app.manifest_hash, app.manifest,
                                tuple(layer.layer_hash for layer in app.layers), logging_active(device),
                                deployments.politeness_for(session, device), source)

    def may_fetch(self, device_sid: str, digest: str) -> bool:
        """Whether the layer, or the patch that makes it, belongs to the app the service targets at this
        device."""
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            return (layers.targets_layer(session, device, digest)
                    or deltas.targets_delta(session, device, digest))

    def layer(self, digest: str) -> bytes | None:
        """A stored layer's or patch's bytes by hex SHA-256 (what a device fetches for an update)."""
        with self.database.transaction() as session:
            return layers.layer_bytes(session, digest) or deltas.delta_bytes(session, digest)

    def patch(self, device_sid: str, layer_hash: str) -> Patch | None:
        """The patch from the image of the app the device reports to this layer, made and kept the first
        time it is asked for; None when the running app's image or the layer is not all stored."""
        with self.database.transaction() as session:
            running = crashes.reported_app(session, device_state.device_by_sid(session, device_sid))
            if running is None:
                return None
            found = source = None
            image = deltas.source(session, running)
            if image is not None:
                source = image[1]
                found = deltas.find(session, source, layer_hash)
            target = layers.layer_bytes(session, layer_hash)
            if image is None or target is None:
                return None
            if found is not None:
                return Patch(found.delta_hash, source, found.data)
        data = delta.make(image[0], target)  # outside the transaction: it takes a while on large images
        with self.database.transaction() as session:
            deltas.put(session, source, layer_hash, data)
        return Patch(sha256_hex(data), source, data)

    # --- channels (cloud/channel_relay.py) -------------------------------------------------------
    def account_config(self, device_sid: str, key: str) -> str | None:
        """The value of the device's account's own config `key`, if it has one."""
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            row = _variable(session, Config, device, None, key)
            return row.value if row is not None else None

    def config_items(self, device_sid: str, items: list[dict[str, str]]) -> list[tuple[str, bytes]]:
        """A device's configuration fetch: per item (scope "account"|"device", store "config"|"secret",
        key) its MvConfigKeyFetchResult name and value. Device scope reads the device's own item, else
        its account's of the same key."""
        found: list[tuple[str, bytes]] = []
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            for item in items:
                model = Secret if item["store"] == "secret" else Config
                row = _variable(session, model, device, device if item["scope"] == "device" else None,
                                item["key"])
                if row is None:
                    found.append(("KEYNOTFOUND", b""))
                elif isinstance(row, Config):
                    found.append(("OK", row.value.encode()))
                else:
                    try:
                        if self.secrets is None:
                            raise SecretBoxError("no secret box")
                        found.append(("OK", variables.secret_value(self.secrets, row).encode()))
                    except SecretBoxError as exc:
                        log.warning("secret %r of %s cannot be opened: %s", item["key"], device_sid, exc)
                        found.append(("SERVERERROR", b""))
        return found


def _variable(session, model: type[Config] | type[Secret], device: Device, owner: Device | None,
              key: str) -> Config | Secret | None:
    """The config or secret `key` of `owner` (a device, else the account), falling back to the account's."""
    for scope_owner in ((owner, None) if owner is not None else (None,)):
        statement = variables.statement(model, device.account_id, scope_owner)
        row = session.scalar(statement.where(model.key == key))
        if row is not None:
            return row
    return None
