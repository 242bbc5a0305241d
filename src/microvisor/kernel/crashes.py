"""Application crashes: the report the CrashPolicy asks for, kept until delivered, and the back-off."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..common import crash_report
from ..common.mv_abi import MvWakeReason
from ..device.clock import NS_PER_S
from ..device.faults import CrashRecord
from ..device.memory_map import SRAM

if TYPE_CHECKING:
    from .microvisor import Microvisor

log = logging.getLogger(__name__)

DEFAULT_MINIMUM_RESTART_MS = 1_000
DEFAULT_MAXIMUM_RESTART_MS = 60_000
MAX_STACK_BYTES = 4096  # more would crowd the secure storage's crash-report slot
WATCHDOG = "Watchdog"  # the CrashRecord.fault of an IWDG expiry
NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class CrashPolicy:
    """The manifest's CrashPolicy with the defaults filled in."""

    minimum_restart_ms: int = DEFAULT_MINIMUM_RESTART_MS
    maximum_restart_ms: int = DEFAULT_MAXIMUM_RESTART_MS
    report_pubkey: bytes | None = None
    include_stack_bytes: int = 0

    @classmethod
    def of(cls, app_body: Any) -> CrashPolicy:
        """The policy of an AppManifest.AppBody (or anything with a `.crash` like it; None: defaults)."""
        crash = getattr(app_body, "crash", None)
        if crash is None:
            return cls()
        minimum = int(getattr(crash, "minimum_restart_ms", 0) or 0)
        maximum = int(getattr(crash, "maximum_restart_ms", 0) or 0)
        if not minimum:
            minimum = min(DEFAULT_MINIMUM_RESTART_MS, maximum or DEFAULT_MINIMUM_RESTART_MS)
        maximum = max(maximum or DEFAULT_MAXIMUM_RESTART_MS, minimum)
        pubkey = bytes(getattr(crash, "crash_report_pubkey", b"") or b"") or None
        stack = int(getattr(crash, "include_stack_bytes", 0) or 0)
        return cls(minimum, maximum, pubkey, stack)

    def backoff_ms(self, consecutive: int) -> int:
        """How long the `consecutive`-th crash in a row keeps the application off."""
        return min(self.minimum_restart_ms << min(max(consecutive - 1, 0), 32),
                   self.maximum_restart_ms)


class Crashes:
    """The kernel's crash handler, installed as the device's `crash_handler`. The rules:

    - A crash is any fault the microvisor takes for the application (every BusFault, SecureFault
      and HardFault, escalated faults, and the IWDG running out: kind "watchdog"). The device
      stops the application; this handler writes a crash report, keeps it in secure storage until
      it has been delivered, and restarts the application from its reset vector after a back-off,
      with mvGetWakeReason reporting APPLICATIONCRASH.
    - Back-off: the n-th consecutive crash waits min(minimum_restart_ms x 2^(n-1),
      maximum_restart_ms) of virtual time, the CPU parked meanwhile. A streak ends when the
      application runs for at least maximum_restart_ms without crashing, or starts for any reason
      other than a crash (cold boot, mvRestart, deep sleep, update).
    - Unset (zero) policy values take defaults: minimum 1 s, maximum 60 s (never below the
      minimum; an explicit maximum below the default minimum lowers the minimum to it).
    - The report (common/crash_report.py) holds the fault, the fault status registers (CFSR,
      HFSR, MMFAR, BFAR), every core register, the faulting PC and instruction, the virtual time,
      and include_stack_bytes of the stack from SP upwards, cut at the end of SRAM and at
      MAX_STACK_BYTES. With crash_report_pubkey set it is sealed to that key (ECIES); an unusable
      key leaves the report in the clear but without stack bytes.
    """

    def __init__(self, kernel: Microvisor):
        self.kernel = kernel
        self.consecutive = 0
        self.started_ns = kernel.device.clock.now_ns()
        kernel.device.crash_handler = self.on_crash

    def application_started(self, wake_reason: MvWakeReason) -> None:
        self.started_ns = self.kernel.device.clock.now_ns()
        if wake_reason != MvWakeReason.APPLICATIONCRASH:
            self.consecutive = 0

    def on_crash(self, record: CrashRecord) -> bool:
        """Report the crash, schedule the restart; True when `run` should carry on."""
        kernel, device = self.kernel, self.kernel.device
        policy = CrashPolicy.of(kernel.app_body)
        if record.time_ns - self.started_ns >= policy.maximum_restart_ms * NS_PER_MS:
            self.consecutive = 0
        self.consecutive += 1
        after_ms = policy.backoff_ms(self.consecutive)
        kind = "watchdog" if record.fault == WATCHDOG else "fault"
        document = self.report(record, policy, kind, after_ms)
        blob = self._serialise(document, policy)
        dropped = kernel.storage.add_crash_report(blob)
        log.info("application crash (%s): %s; restart in %d ms", kind, record.summary(), after_ms)
        device.events.emit("kernel", "crash-report", crash=kind, summary=record.summary(),
                           pc=record.pc, size=len(blob), sealed=crash_report.is_sealed(blob),
                           consecutive=self.consecutive, dropped=dropped)
        kernel.restart_application(MvWakeReason.APPLICATIONCRASH, after_ms=after_ms)
        return not kernel.stop_on_crash

    def report(self, record: CrashRecord, policy: CrashPolicy, kind: str,
               after_ms: int) -> dict[str, Any]:
        """The report's document (see common/crash_report.py for how it is stored)."""
        scs = self.kernel.device.scs
        return {
            "format": crash_report.FORMAT,
            "version": crash_report.VERSION,
            "kind": kind,
            "device": self.kernel.device_sid,
            "uptime_us": record.time_ns // 1000,
            "uptime_s": record.time_ns / NS_PER_S,
            "wake_reason": self.kernel.wake_reason.name,
            "fault": record.fault,
            "taken_as": record.taken_as,
            "escalated": record.escalated,
            "causes": list(record.causes),
            "detail": record.detail,
            "address": record.address,
            "pc": record.pc,
            "instruction": record.instruction,
            "fault_status": {"cfsr": record.cfsr, "hfsr": record.hfsr, "mmfar": scs.mmfar,
                             "bfar": scs.bfar},
            "registers": dict(record.registers),
            "stacked_frame": dict(record.stacked_frame),
            "stack": self._stack(record, policy.include_stack_bytes),
            "restart": {"consecutive": self.consecutive, "after_ms": after_ms},
            "notes": list(record.notes),
        }

    def _stack(self, record: CrashRecord, wanted: int) -> dict[str, Any] | None:
        """`wanted` bytes from SP upwards, bounded to SRAM and MAX_STACK_BYTES."""
        if wanted <= 0:
            return None
        sp = record.registers.get("sp", 0)
        if not SRAM.start <= sp < SRAM.start + SRAM.size:
            return {"address": sp, "requested": wanted, "bytes": "",
                    "note": "SP is outside SRAM: no stack bytes"}
        length = min(wanted, MAX_STACK_BYTES, SRAM.start + SRAM.size - sp)
        data = self.kernel.device.cpu.read(sp, length)
        return {"address": sp, "requested": wanted, "length": length,
                "bytes": base64.b64encode(data).decode()}

    def _serialise(self, document: dict[str, Any], policy: CrashPolicy) -> bytes:
        if policy.report_pubkey is None:
            return crash_report.encode(document)
        try:
            return crash_report.seal(document, policy.report_pubkey)
        except crash_report.CrashReportError as exc:
            log.warning("crash report key unusable (%s): report kept in the clear", exc)
            document["stack"] = None
            document["notes"].append(f"crash_report_pubkey unusable ({exc}): no stack bytes")
            return crash_report.encode(document)
