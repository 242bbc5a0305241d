"""The kernel's secure storage: a small fact sheet (JSON) and the crash reports not yet delivered."""

from __future__ import annotations

import json
import logging
import struct
from typing import Any

from ..device.flash_layout import CRASH_REPORTS, KERNEL_STATE
from ..device.records import RecordSlot
from ..device.state import DeviceState

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")


class KernelStorage:
    """Facts that survive power loss (`get`/`put`) and a bounded queue of crash reports."""

    def __init__(self, state: DeviceState):
        self._facts = RecordSlot(state.internal_flash, KERNEL_STATE)
        self._crashes = RecordSlot(state.internal_flash, CRASH_REPORTS)

    # --- facts --------------------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        raw = self._facts.read()
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.facts().get(key, default)

    def put(self, **values: Any) -> None:
        """Record values (JSON-able); no flash write when nothing changes."""
        facts = self.facts()
        if all(facts.get(k) == v for k, v in values.items()):
            return
        facts.update(values)
        self._facts.write(json.dumps(facts, sort_keys=True).encode())

    # --- crash reports ------------------------------------------------------------------------
    def crash_reports(self) -> list[bytes]:
        """Undelivered crash reports, oldest first."""
        raw = self._crashes.read() or b""
        reports, position = [], 0
        while position + _LENGTH.size <= len(raw):
            (length,) = _LENGTH.unpack_from(raw, position)
            position += _LENGTH.size
            reports.append(raw[position : position + length])
            position += length
        return reports

    def add_crash_report(self, report: bytes) -> int:
        """Keep a report; the oldest are dropped when the slot is full. Returns how many dropped."""
        reports = self.crash_reports() + [report]
        dropped = 0
        while reports and self._size(reports) > self._crashes.capacity:
            reports.pop(0)
            dropped += 1
        if dropped:
            log.warning("crash report storage full: %d oldest report(s) dropped", dropped)
        self._crashes.write(b"".join(_LENGTH.pack(len(r)) + r for r in reports))
        return dropped

    def remove_crash_reports(self, count: int) -> None:
        """Forget the oldest `count` reports (they have been delivered)."""
        reports = self.crash_reports()[count:]
        if reports:
            self._crashes.write(b"".join(_LENGTH.pack(len(r)) + r for r in reports))
        else:
            self._crashes.clear()

    @staticmethod
    def _size(reports: list[bytes]) -> int:
        return sum(_LENGTH.size + len(r) for r in reports)
