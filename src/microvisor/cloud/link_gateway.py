"""The seam the link workers use: one call per thing a device tells the service or must be told.

Each call runs in its own transaction and takes the device SID from the device's certificate (CN).
Log lines and debug messages wake this process's live streams at once; other server processes see them
by polling.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from .database import Database
from .log_stream import LogWakeups
from .store import activity, debug_messages, device_state, layers
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


class LinkGateway:
    def __init__(self, database: Database, wakeups: LogWakeups, debug_wakeups: LogWakeups | None = None):
        self.database = database
        self.wakeups = wakeups
        self.debug_wakeups = debug_wakeups or LogWakeups()

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
        """Keep a device's remote-debugging message (opaque bytes) for its streams; returns its sequence.
        Old messages are pruned afterwards, in a transaction of their own: a failed pruning (the next
        message prunes again) never loses the message."""
        with self.database.transaction() as session:
            device = device_state.device_by_sid(session, device_sid)
            sequence, device_id = debug_messages.record(session, device, payload, when), device.id
        self.debug_wakeups.notify(device_id)
        try:
            with self.database.transaction() as session:
                debug_messages.prune(session, device_id)
        except SQLAlchemyError as exc:
            log.warning("old debug messages of %s not pruned this time: %s", device_sid,
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

    def crashed(self, device_sid: str, details: dict[str, Any]) -> None:
        with self.database.transaction() as session:
            device_state.record_crash(session, device_state.device_by_sid(session, device_sid), details)

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
            return DesiredState(app.sid, app.manifest_hash, app.manifest,
                                tuple(layer.layer_hash for layer in app.layers), logging_active(device))

    def may_fetch(self, device_sid: str, digest: str) -> bool:
        """Whether the layer belongs to the app the service targets at this device."""
        with self.database.transaction() as session:
            return layers.targets_layer(session, device_state.device_by_sid(session, device_sid), digest)

    def layer(self, digest: str) -> bytes | None:
        """A stored layer's bytes by hex SHA-256 (what a device fetches for an update)."""
        with self.database.transaction() as session:
            return layers.layer_bytes(session, digest)
