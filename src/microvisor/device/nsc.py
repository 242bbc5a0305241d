"""The Non-Secure-Callable trap table: system-call entry points and the registry of their handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from .cpu import Cpu

if TYPE_CHECKING:
    from .machine import Device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyscallSpec:
    """One entry point: its name, address and C parameter list."""

    name: str
    address: int
    params: tuple[str, ...]


def load_abi() -> dict[int, SyscallSpec]:
    """The 72 entry points of the published v0.7.0 interface, keyed by address."""
    text = resources.files("microvisor.common").joinpath("nsc_abi.json").read_text()
    table = {}
    for call in json.loads(text)["calls"]:
        raw = call.get("params", "void").strip()
        params = () if raw in ("", "void") else tuple(p.strip() for p in raw.split(","))
        address = int(call["address"], 16)
        table[address] = SyscallSpec(call["name"], address, params)
    return table


class CallContext:
    """What a handler sees of one call: its arguments and the caller's memory."""

    def __init__(self, device: Device, spec: SyscallSpec):
        self.device = device
        self.spec = spec
        self._cpu: Cpu = device.cpu
        self._sp = self._cpu.reg("sp")

    def arg(self, index: int) -> int:
        """Argument `index` as AAPCS places it: r0–r3, then the caller's stack."""
        if index < 4:
            return self._cpu.reg(f"r{index}")
        return self._cpu.read_u32(self._sp + 4 * (index - 4))

    def args(self) -> list[int]:
        return [self.arg(i) for i in range(len(self.spec.params))]

    def read(self, address: int, length: int) -> bytes:
        return self._cpu.read(address, length)

    def write(self, address: int, data: bytes) -> None:
        self._cpu.write(address, data)


Handler = Callable[[CallContext], int]


class SyscallTable:
    """Maps entry-point addresses to handlers registered from outside the device package."""

    def __init__(self) -> None:
        self.specs = load_abi()
        self.by_name = {spec.name: spec for spec in self.specs.values()}
        self._handlers: dict[int, Handler] = {}
        self.fallback: Handler | None = None

    @property
    def addresses(self) -> list[int]:
        return sorted(self.specs)

    def register(self, name: str, handler: Handler) -> None:
        if name not in self.by_name:
            raise KeyError(f"{name} is not an entry point of the NSC interface")
        self._handlers[self.by_name[name].address] = handler

    def served(self) -> set[str]:
        """The names of the entry points a handler is registered for."""
        return {self.specs[address].name for address in self._handlers}

    def unregister(self, name: str) -> None:
        """Forget the handler of `name`: the fallback answers it again."""
        self._handlers.pop(self.by_name[name].address, None)

    def dispatch(self, device: Device, address: int) -> int:
        """Run the handler for the entry point at `address`; its status goes back in r0."""
        spec = self.specs[address]
        handler = self._handlers.get(address, self.fallback)
        if handler is None:
            raise LookupError(f"no handler for {spec.name} and no fallback registered")
        return handler(CallContext(device, spec)) & 0xFFFF_FFFF
