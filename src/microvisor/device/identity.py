"""The device's identity in secure flash: its key, certificate, platform CA and customer keys."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .flash_layout import IDENTITY
from .records import RecordSlot
from .state import DeviceState


@dataclass
class Identity:
    """Written once when the device is made (development create or the factory)."""

    sid: str
    key_pem: str
    certificate_pem: str
    ca_pem: str
    customer_keys: list[str] = field(default_factory=list)  # hex X9.62 public keys
    server: str | None = None  # the service this device was registered with, if any
    broker: str | None = None  # host:port of the MQTT broker the kernel's link connects to, if any

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()


def read_identity(state: DeviceState) -> Identity | None:
    raw = RecordSlot(state.internal_flash, IDENTITY).read()
    if raw is None:
        return None
    try:
        fields = json.loads(raw)
        known = set(Identity.__dataclass_fields__)
        return Identity(**{name: value for name, value in fields.items() if name in known})
    except (ValueError, TypeError):
        return None


def write_identity(state: DeviceState, identity: Identity) -> None:
    RecordSlot(state.internal_flash, IDENTITY).write(identity.to_bytes())
