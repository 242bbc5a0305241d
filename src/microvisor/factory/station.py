"""The installer station: takes each DUT through the ten steps and reports every step as an event.

The station is not trusted: it carries the chip's requests to the card and the service and their
answers back, and can forge none of them (common/factory_protocol.py). What it decides itself is
only what a careful operator would: stop before the SFI when the card has no licence left, is
revoked or belongs to another account, and say at which step and why a DUT failed.

Events are dicts: {"dut", "step" (1..10), "status" ("running", "passed", "failed", "skipped",
"log", "progress"), "message", "time" (seconds since the DUT started)}, plus "done" with the result.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..common import spi_image
from ..common.api_client import ApiClient, ApiError
from ..common.factory_protocol import FactoryProtocolError, load_document
from ..device.flash_layout import FACTORY_IMAGE
from .card import CardError
from .debug_probe import QSPI_BASE, DebugProbe, ProbeError
from .uart_link import UartLink, UartLinkError

STEPS = {
    1: "DUT connected and powered",
    2: "QSPI programmed with the SPI image",
    3: "SFI loader enabled, TrustZone on, debug locked",
    4: "test program installed by the SFI loader",
    5: "hardware checked by the test program",
    6: "key pair and countersigned CSR made on the DUT",
    7: "certificate issued by the service and stored",
    8: "microvisor installed",
    9: "microvisor runs the test bundle",
    10: "application installed",
}
STEP_TIMEOUT_S = 60.0
LOG_EVENTS = ("log-test", "log-line", "uart-line")
SFI_ATTEMPTS = 3


class Card(Protocol):
    def certificate(self) -> bytes: ...
    def authorize(self, chip_uid: bytes, nonce: bytes) -> bytes: ...


class LockedCard:
    """One token session shared by the station's DUTs, one operation at a time."""

    def __init__(self, card: Card):
        self._card = card
        self._lock = threading.Lock()

    def certificate(self) -> bytes:
        with self._lock:
            return self._card.certificate()

    def authorize(self, chip_uid: bytes, nonce: bytes) -> bytes:
        with self._lock:
            return self._card.authorize(chip_uid, nonce)


@dataclass
class Dut:
    name: str
    host: str
    debug_port: int
    uart_port: int


@dataclass
class DutResult:
    dut: str
    passed: bool
    step: int
    reason: str
    chip_uid: str | None = None
    device_sid: str | None = None
    seconds: float = 0.0
    step_seconds: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "step_seconds": {str(k): round(v, 3) for k, v in self.step_seconds.items()}}


class StationError(Exception):
    """The station cannot start (an image it refuses); the message says why."""


class StepFailure(Exception):
    def __init__(self, step: int, reason: str):
        super().__init__(reason)
        self.step = step


class Station:
    """Shared by every DUT of one station run: the image, the card and the service."""

    def __init__(self, image: bytes, card: Card, api: ApiClient, name: str = "station",
                 listener: Callable[[dict[str, Any]], None] = lambda event: None,
                 step_timeout_s: float = STEP_TIMEOUT_S):
        try:
            self.toc = spi_image.read(spi_image.file_reader(image), None)
        except spi_image.SpiImageError as exc:
            raise StationError(f"the SPI image is refused: {exc}") from None
        self.image = image[:self.toc.size + (-self.toc.size % spi_image.SECTOR)]
        self.image_sha256 = hashlib.sha256(self.image).hexdigest()
        self.card = card if isinstance(card, LockedCard) else LockedCard(card)
        self.api = api
        self.name = name
        self.listener = listener
        self.step_timeout_s = step_timeout_s
        self._api_lock = threading.Lock()

    def card_status(self) -> dict[str, Any]:
        with self._api_lock:
            return card_status(self.card, self.api)

    def run(self, dut: Dut) -> DutResult:
        run = _DutRun(self, dut)
        result = run.execute()
        try:
            if result.chip_uid is not None:  # a DUT that never named its chip has nothing to record
                self._call("post", "/v1/Factory/Results", {
                    "ChipUid": result.chip_uid, "Passed": str(result.passed).lower(),
                    "Step": str(result.step), "Reason": result.reason[:500], "Station": self.name})
        except ApiError as exc:
            run.emit(result.step, "log", f"the result could not be recorded by the service: {exc}")
        run.emit(result.step, "done", result.reason, result=result.to_dict())
        return result

    def _call(self, method: str, path: str, data: dict[str, str] | None = None) -> dict[str, Any]:
        with self._api_lock:
            return self.api.get(path) if method == "get" else self.api.post(path, data or {})


def card_status(card: Card, api: ApiClient) -> dict[str, Any]:
    """The card's SID and what the service says of it (licences left, revoked); never raises."""
    try:
        sid = load_document(card.certificate(), "card certificate")["body"]["card"]
    except (FactoryProtocolError, KeyError, TypeError, CardError) as exc:
        return {"card": None, "error": f"the token holds no readable card certificate ({exc})"}
    try:
        return {"card": sid, **api.get(f"/v1/Factory/Cards/{sid}")}
    except ApiError as exc:
        return {"card": sid, "error": str(exc)}


class _DutRun:
    """One DUT's trip through the steps."""

    def __init__(self, station: Station, dut: Dut):
        self.station = station
        self.dut = dut
        self.started = time.monotonic()
        self.step_started: dict[int, float] = {}
        self.step_seconds: dict[int, float] = {}
        self.chip_uid: str | None = None
        self.device_sid: str | None = None
        self.step = 1

    def emit(self, step: int, status: str, message: str = "", **extra: Any) -> None:
        now = time.monotonic()
        if status == "running":
            self.step_started.setdefault(step, now)
            self.step = max(self.step, step)
        elif status in ("passed", "skipped", "failed") and step in self.step_started:
            self.step_seconds[step] = now - self.step_started[step]
        self.station.listener({"dut": self.dut.name, "step": step, "status": status, "message": message,
                               "time": round(now - self.started, 3), **extra})

    def execute(self) -> DutResult:
        uart = None
        try:
            self.emit(1, "running", f"connecting to {self.dut.host}:{self.dut.uart_port}")
            try:
                uart = UartLink(self.dut.host, self.dut.uart_port)
            except UartLinkError as exc:
                raise StepFailure(1, str(exc)) from None
            self._program_or_resume(uart)
            self._follow(uart)
            return self._result(True, 10, "passed: the DUT carries the microvisor, its certificate and "
                                          "the application")
        except StepFailure as failure:
            self.emit(failure.step, "failed", str(failure))
            return self._result(False, failure.step, str(failure))
        finally:
            if uart is not None:
                uart.close()

    def _result(self, passed: bool, step: int, reason: str) -> DutResult:
        return DutResult(self.dut.name, passed, step, reason, self.chip_uid, self.device_sid,
                         round(time.monotonic() - self.started, 3), dict(self.step_seconds))

    # --- steps 1 to 3: over the debug port, while it is open ------------------------------------
    def _program_or_resume(self, uart: UartLink) -> None:
        backlog = uart.drain(0.05)
        try:
            probe = DebugProbe(self.dut.host, self.dut.debug_port, timeout_s=2.0)
        except ProbeError:
            probe = None
        if probe is None:  # locked: the chip is past step 3 (a station run again after a power cut)
            self.emit(1, "passed", "the debug port is locked: the DUT is past step 3; resetting it")
            self.emit(2, "skipped", "debug port locked")
            self.emit(3, "skipped", "debug port locked")
            self._reset(uart, backlog)
            return
        with probe:
            try:
                self.chip_uid = probe.chip_uid().hex()
                self.emit(1, "passed", f"chip {self.chip_uid} on the debug port")
                self.emit(2, "running", "comparing the QSPI contents with the image")
                address = QSPI_BASE + FACTORY_IMAGE.offset
                if probe.sha256(address, len(self.station.image)) == self.station.image_sha256:
                    self.emit(2, "skipped", "the QSPI already holds this image")
                else:
                    def progress(done: int, total: int) -> None:
                        if done == total or done % (256 * 1024) < 4096:
                            self.emit(2, "progress", f"{done}/{total} bytes", done=done, total=total)

                    probe.program_qspi(FACTORY_IMAGE.offset, self.station.image, progress)
                    if probe.sha256(address, len(self.station.image)) != self.station.image_sha256:
                        raise StepFailure(2, "the QSPI does not read back the image that was programmed")
                    self.emit(2, "passed", f"{len(self.station.image)} bytes programmed and verified")
                self.emit(3, "running", "starting the SFI loader")
                probe.monitor("sfi-start")
            except ProbeError as exc:
                raise StepFailure(self.step, str(exc)) from None
        self.emit(3, "passed", "TrustZone on, debug port locked, restarting into the SFI loader")

    def _reset(self, uart: UartLink, backlog: list[dict[str, Any]]) -> None:
        reset_id = secrets.token_hex(8)
        uart.send({"command": "reset", "id": reset_id})
        deadline = time.monotonic() + self.station.step_timeout_s
        while True:
            message = self._next(uart, deadline, 4)
            if message.get("event") == "power-on" and message.get("reset_id") == reset_id:
                self.chip_uid = str(message.get("chip_uid"))
                if message.get("stage") == "fielded":
                    raise StepFailure(4, "this chip has already left the factory")
                return

    # --- steps 4 to 10: the chip speaks on the UART ---------------------------------------------
    def _follow(self, uart: UartLink) -> None:
        self.emit(4, "running", "waiting for the SFI loader")
        refusals = 0
        deadline = time.monotonic() + self.station.step_timeout_s
        while True:
            message = self._next(uart, deadline, self.step)
            event = message.get("event")
            if event not in LOG_EVENTS:  # a chip that only talks makes no progress
                deadline = time.monotonic() + self.station.step_timeout_s
            if event == "sfi-request":
                self._authorize(uart, message)
            elif event == "sfi-refused":
                refusals += 1
                self.emit(4, "log", f"the SFI loader refused: {message.get('reason')}")
                if refusals >= SFI_ATTEMPTS:
                    raise StepFailure(4, f"the SFI loader refused the install: {message.get('reason')}")
            elif event == "sfi-installed":
                toc = str(message.get("toc_hash"))[:12]
                self.emit(4, "passed", f"test program installed from image {toc}")
            elif event == "test-program-started":
                self.emit(5, "running", "the test program checks the hardware")
            elif event == "hardware":
                for check in message.get("checks") or []:
                    if isinstance(check, dict):
                        verdict = "ok" if check.get("passed") else "FAILED"
                        self.emit(5, "log", f"{check.get('name')}: {verdict} ({check.get('detail')})")
                if message.get("passed") is True:
                    self.emit(5, "passed", "QSPI and radio answer as they must")
            elif event == "step-failed":
                raise StepFailure(_step(message.get("step")), str(message.get("reason")))
            elif event == "challenge-request":
                self.device_sid = str(message.get("device_sid"))
                self.emit(6, "running", "the DUT made its key; asking the service for a challenge")
                uart.send({"challenge": self._service("post", "/v1/Factory/Challenges", 6)["challenge"]})
            elif event == "attestation":
                self._certify(uart, message)
            elif event == "certified":
                self.device_sid = str(message.get("device_sid"))
                self.emit(7, "passed", f"certificate for {self.device_sid} stored on the DUT"
                                       + (" (kept from an earlier run)" if message.get("again") else ""))
                self.emit(8, "running", "the test program installs the test bundle and the microvisor")
            elif event == "microvisor-installed":
                self.emit(8, "passed", f"microvisor {message.get('kernel')} installed")
            elif event == "microvisor-started":
                self.emit(9, "running", "the microvisor runs the customer's test bundle")
            elif event == "log-test":
                self.emit(9, "log", f"test: {message.get('text')}")
            elif event in ("uart-line", "log-line"):
                self.emit(self.step, "log", str(message.get("text")))
            elif event == "kernel-testing-complete":
                if message.get("passed") is True:
                    self.emit(9, "passed", "the test bundle passed (mvTestingComplete(0))")
                    self.emit(10, "running", "installing the application over the test code")
                else:
                    self.emit(9, "passed", "the test bundle ran")
            elif event == "kernel-factory-failed":
                raise StepFailure(10, f"the test bundle failed; the application is not installed "
                                      f"({message.get('reason')})")
            elif event == "factory-complete":
                self.emit(10, "passed", f"application {str(message.get('app'))[:12]} installed")
                return
            elif event == "no-boot":
                raise StepFailure(max(self.step, 4), f"the DUT does not boot: {message.get('reason')}")
            elif event == "power-on" and message.get("stage") == "fielded":
                raise StepFailure(self.step, "the DUT runs as a fielded device, not in factory mode")

    def _authorize(self, uart: UartLink, message: dict[str, Any]) -> None:
        status = self.station.card_status()
        if status.get("error"):
            raise StepFailure(4, f"the card cannot be used: {status['error']}")
        if status.get("revoked"):
            raise StepFailure(4, f"card {status['card']} is revoked")
        if not status.get("licences_left"):
            raise StepFailure(4, f"card {status['card']} has no licences left")
        try:
            uid, nonce = bytes.fromhex(str(message["chip_uid"])), bytes.fromhex(str(message["nonce"]))
            self.chip_uid = uid.hex()
            signature = self.station.card.authorize(uid, nonce)
        except (KeyError, ValueError, FactoryProtocolError) as exc:
            raise StepFailure(4, f"the SFI request cannot be authorized: {exc}") from None
        uart.send({"card_certificate": self.station.card.certificate().decode(),
                   "authorization": signature.hex()})
        self.emit(4, "log", f"card {status['card']} authorized the install on chip {uid.hex()} "
                            f"({status.get('licences_left')} licences left)")

    def _certify(self, uart: UartLink, message: dict[str, Any]) -> None:
        self.emit(6, "passed", "CSR countersigned on the DUT")
        self.emit(7, "running", "the service checks the CSR")
        attestation = message.get("attestation")
        if not isinstance(attestation, str):
            raise StepFailure(6, "the DUT sent no attestation")
        try:
            answer = self._service("post", "/v1/Factory/Certificates", 7,
                                   {"Attestation": attestation, "Station": self.station.name})
        except StepFailure as failure:
            uart.send({"refused": str(failure)})
            raise
        uart.send({"provisioning": answer.get("provisioning")})

    def _service(self, method: str, path: str, step: int,
                 data: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            return self.station._call(method, path, data)
        except ApiError as exc:
            raise StepFailure(step, f"the service refused: {exc}") from None

    def _next(self, uart: UartLink, deadline: float, step: int) -> dict[str, Any]:
        try:
            return uart.next(deadline - time.monotonic())
        except UartLinkError as exc:
            raise StepFailure(step, str(exc)) from None


def _step(value: Any) -> int:
    return value if isinstance(value, int) and 1 <= value <= 10 else 10
