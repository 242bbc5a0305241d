"""What the kernel writes through the application's output pointers: exactly the widths mv_abi gives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from microvisor.common import mv_abi
from microvisor.common.mv_abi import MvEventType, MvNetworkReason, MvNetworkStatus, MvStatus, MvWakeReason
from microvisor.kernel.network import Network, Request
from microvisor.kernel.notifications import Centre, Notifications
from microvisor.kernel.power import Power

SRAM = 0x2000_1000
FILL = 0xEE


class FakeContext:
    """A call's arguments and a patch of application SRAM prefilled with FILL; writes are recorded."""

    def __init__(self, *args: int):
        self._args = args
        self.memory = bytearray([FILL] * 256)
        self.writes: list[tuple[int, int]] = []
        self.device = SimpleNamespace(cpu=SimpleNamespace(ipsr=0, write=self.write))

    def arg(self, index: int) -> int:
        return self._args[index]

    def read(self, address: int, length: int) -> bytes:
        return bytes(self.memory[address - SRAM : address - SRAM + length])

    def write(self, address: int, data: bytes) -> None:
        self.writes.append((address, len(data)))
        self.memory[address - SRAM : address - SRAM + len(data)] = data


def test_wake_reason_is_written_as_wide_as_its_values():
    ctx = FakeContext(SRAM + 8)
    power = Power(SimpleNamespace(wake_reason=MvWakeReason.APPLICATIONCRASH))
    assert power.mvGetWakeReason(ctx) == MvStatus.OKAY
    width = mv_abi.ENUM_VALUE_SIZES["MvWakeReason"]
    assert ctx.writes == [(SRAM + 8, width)]
    assert ctx.memory[8 : 8 + width] == int(MvWakeReason.APPLICATIONCRASH).to_bytes(width, "little")
    assert ctx.memory[8 + width : 12] == bytes([FILL] * (4 - width))  # a 1-byte variable's neighbours


def test_network_status_and_reasons_are_four_bytes():
    kernel = SimpleNamespace(no_application_reason=False)
    network = Network(kernel)
    network.up = True
    handle = network.requests.add(Request(centre=1, tag=2))
    ctx = FakeContext(handle, SRAM)
    assert network.mvGetNetworkStatus(ctx) == MvStatus.OKAY
    assert ctx.writes == [(SRAM, 4)]
    assert ctx.memory[:4] == int(MvNetworkStatus.CONNECTED).to_bytes(4, "little")
    ctx = FakeContext(SRAM, SRAM + 16)
    assert network.mvGetNetworkReasons(ctx) == MvStatus.OKAY
    assert ctx.writes == [(SRAM, 4), (SRAM + 16, 4)]
    assert int.from_bytes(ctx.memory[:4], "little") & MvNetworkReason.USINGNETWORK


def test_a_notification_is_one_whole_structure():
    ctx = FakeContext()
    device = SimpleNamespace(cpu=ctx.device.cpu, clock=SimpleNamespace(now_us=lambda: 0x1_0000_0002),
                             nvic=SimpleNamespace(set_pending=lambda irq: None),
                             set_irq=lambda irq, level: None,
                             events=SimpleNamespace(emit=lambda *a, **k: None))
    notifications = Notifications(SimpleNamespace(device=device))
    handle = notifications.centres.add(Centre(irq=5, buffer=SRAM + 32, size=32))
    assert notifications.post(handle, MvEventType.CHANNELDATAREADABLE, 0x1234_5678)
    size, _, fields = mv_abi.struct_layout("MvNotification")
    assert ctx.writes == [(SRAM + 32, size)] and size == 16
    entry = ctx.memory[32 : 32 + size]
    assert entry == mv_abi.pack_struct("MvNotification", {"microseconds": 0x1_0000_0002, "event_type": 2,
                                                          "tag": 0x1234_5678})
    offset, width = fields["tag"]
    assert int.from_bytes(entry[offset : offset + width], "little") == 0x1234_5678


@pytest.mark.parametrize("name", sorted(mv_abi.STRUCTS))
def test_pack_struct_fills_the_whole_structure(name):
    size, _, fields = mv_abi.struct_layout(name)
    packed = mv_abi.pack_struct(name, {path: 1 for path in fields})
    assert len(packed) == size


def test_byte_enum_members_read_the_same_under_both_flags():
    packed = mv_abi.pack_struct("MvWifiConfig", {"version": 1, "v1.config_mode": 1})
    offset, _ = mv_abi.STRUCTS["MvWifiConfig"][2]["v1.config_mode"]
    wide = mv_abi.struct_layout("MvWifiConfig", short_enums=False)[2]["v1.config_mode"][1]
    assert wide == 4 and int.from_bytes(packed[offset : offset + wide], "little") == 1
