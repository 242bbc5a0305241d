"""The System Control Space at 0xE000E000: NVIC, SCB and SysTick registers as the application sees them."""

from __future__ import annotations

from collections.abc import Callable

from .bus import DeviceContext, Peripheral
from .memory_map import IRQ_COUNT, SCS_BASE, SCS_SIZE
from .nvic import (
    BUSFAULT,
    IRQ0,
    MEMMANAGE,
    PENDSV,
    SECUREFAULT,
    SVCALL,
    SYSTICK,
    USAGEFAULT,
    Nvic,
)
from .systick import SysTick

CPUID = 0x410F_D214  # Arm Cortex-M33 r0p4
VECTKEY = 0x05FA
SYSRESETREQ = 1 << 2

# CFSR bits (MMFSR | BFSR << 8 | UFSR << 16).
IACCVIOL, DACCVIOL, MUNSTKERR, MSTKERR, MMARVALID = 1 << 0, 1 << 1, 1 << 3, 1 << 4, 1 << 7
IBUSERR, PRECISERR, UNSTKERR, STKERR, BFARVALID = 1 << 8, 1 << 9, 1 << 11, 1 << 12, 1 << 15
UNDEFINSTR, INVSTATE, INVPC, NOCP, STKOF = 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20
UNALIGNED, DIVBYZERO = 1 << 24, 1 << 25
CFSR_NAMES = {
    IACCVIOL: "IACCVIOL", DACCVIOL: "DACCVIOL", MUNSTKERR: "MUNSTKERR", MSTKERR: "MSTKERR",
    IBUSERR: "IBUSERR", PRECISERR: "PRECISERR", UNSTKERR: "UNSTKERR", STKERR: "STKERR",
    UNDEFINSTR: "UNDEFINSTR", INVSTATE: "INVSTATE", INVPC: "INVPC", NOCP: "NOCP",
    STKOF: "STKOF", UNALIGNED: "UNALIGNED", DIVBYZERO: "DIVBYZERO",
}
HFSR_VECTTBL, HFSR_FORCED, HFSR_DEBUGEVT = 1 << 1, 1 << 30, 1 << 31

# CCR: STKALIGN and BFHFNMIGN as the reset value; DIV_0_TRP and UNALIGN_TRP writable.
CCR_RESET = 0x0000_0201
DIV_0_TRP, UNALIGN_TRP = 1 << 4, 1 << 3
CCR_WRITABLE = DIV_0_TRP | UNALIGN_TRP | (1 << 1) | (1 << 8)

_SHCSR_ENABLES = {MEMMANAGE: 1 << 16, BUSFAULT: 1 << 17, USAGEFAULT: 1 << 18, SECUREFAULT: 1 << 19}
_WORDS = (IRQ_COUNT + 31) // 32


class Scs(Peripheral):
    """NVIC/SCB/SysTick registers; the exception state itself lives in `Nvic`.

    `on_change` is called whenever a write may make an exception deliverable (so the CPU is
    stopped and the device re-evaluates), `on_reset_request` when AIRCR.SYSRESETREQ is written
    with the right key, `on_ccr_change` when CCR changes (DIV_0_TRP needs the device's help).
    """

    name = "SCS"
    base = SCS_BASE
    size = SCS_SIZE

    def __init__(self, ctx: DeviceContext, nvic: Nvic, on_change: Callable[[], None],
                 on_reset_request: Callable[[], None], on_ccr_change: Callable[[int], None]):
        super().__init__(ctx)
        self.nvic = nvic
        self.systick = SysTick(ctx.clock, lambda: self._pend(SYSTICK))
        self._on_change = on_change
        self._on_reset_request = on_reset_request
        self._on_ccr_change = on_ccr_change
        self.reset()

    def reset(self) -> None:
        self.nvic.reset()
        self.systick.reset()
        self.vtor = 0
        self.ccr = CCR_RESET
        self.scr = 0
        self.shcsr_enables = 0
        self.cfsr = 0
        self.hfsr = 0
        self.mmfar = 0
        self.bfar = 0
        self.cpacr = 0
        self.demcr = 0
        self.actlr = 0

    def _pend(self, number: int) -> None:
        self.nvic.set_pending(number)
        self._on_change()

    # --- fault status, written by the device when a fault happens ---------------------------
    def record_fault(self, cfsr_bits: int, address: int | None = None) -> None:
        self.cfsr |= cfsr_bits
        if address is not None and cfsr_bits & (DACCVIOL | IACCVIOL):
            self.mmfar, self.cfsr = address, self.cfsr | MMARVALID
        if address is not None and cfsr_bits & (PRECISERR | IBUSERR):
            self.bfar, self.cfsr = address, self.cfsr | BFARVALID

    def fault_enabled(self, number: int) -> bool:
        return bool(self.shcsr_enables & _SHCSR_ENABLES.get(number, 0))

    # --- register access --------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        word = self._read_word(offset & ~3)
        shift = (offset & 3) * 8
        return (word >> shift) & ((1 << (size * 8)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        if 0x400 <= offset < 0x400 + IRQ_COUNT or 0xD18 <= offset < 0xD24:
            for i in range(size):  # priority registers are byte-accessible
                self._write_priority_byte(offset + i, (value >> (8 * i)) & 0xFF)
            return
        aligned, shift = offset & ~3, (offset & 3) * 8
        if size != 4:
            old = self._read_word(aligned)
            mask = ((1 << (size * 8)) - 1) << shift
            value = (old & ~mask) | ((value << shift) & mask)
        self._write_word(aligned, value & 0xFFFF_FFFF)

    def _bits(self, flags: bytearray, word: int) -> int:
        base = IRQ0 + word * 32
        value = 0
        for bit in range(32):
            number = base + bit
            if number < len(flags) and flags[number]:
                value |= 1 << bit
        return value

    def _priority_byte(self, offset: int) -> int:
        if 0x400 <= offset < 0x400 + IRQ_COUNT:
            return self.nvic.priority[IRQ0 + offset - 0x400]
        number = offset - 0xD18 + 4  # SHPR1 starts with MemManage (4)
        return self.nvic.priority[number] if number >= 4 else 0

    def _write_priority_byte(self, offset: int, value: int) -> None:
        if 0x400 <= offset < 0x400 + IRQ_COUNT:
            self.nvic.set_priority(IRQ0 + offset - 0x400, value)
        else:
            number = offset - 0xD18 + 4
            if number in (MEMMANAGE, BUSFAULT, USAGEFAULT, SECUREFAULT, SVCALL, 12, PENDSV,
                          SYSTICK):
                self.nvic.set_priority(number, value)
        self._on_change()

    def _read_word(self, offset: int) -> int:
        nvic = self.nvic
        if offset == 0x004:  # ICTR: number of 32-interrupt lines, minus one
            return _WORDS - 1
        if offset == 0x008:
            return self.actlr
        if 0x010 <= offset < 0x020:
            return self.systick.read(offset - 0x010)
        for start, flags in ((0x100, nvic.enabled), (0x180, nvic.enabled),
                             (0x200, nvic.pending), (0x280, nvic.pending),
                             (0x300, nvic.active)):
            if start <= offset < start + 4 * _WORDS:
                return self._bits(flags, (offset - start) // 4)
        if 0x400 <= offset < 0x400 + IRQ_COUNT or 0xD18 <= offset < 0xD24:
            return sum(self._priority_byte(offset + i) << (8 * i) for i in range(4))
        if offset == 0xD00:
            return CPUID
        if offset == 0xD04:
            return self._icsr()
        if offset == 0xD08:
            return self.vtor
        if offset == 0xD0C:
            return (0xFA05 << 16) | (nvic.prigroup << 8)
        if offset == 0xD10:
            return self.scr
        if offset == 0xD14:
            return self.ccr
        if offset == 0xD24:
            return self._shcsr()
        if offset == 0xD28:
            return self.cfsr
        if offset == 0xD2C:
            return self.hfsr
        if offset == 0xD34:
            return self.mmfar
        if offset == 0xD38:
            return self.bfar
        if offset == 0xD88:
            return self.cpacr
        if offset == 0xDFC:
            return self.demcr
        return 0

    def _icsr(self) -> int:
        nvic = self.nvic
        value = 0
        if nvic.pending[PENDSV]:
            value |= 1 << 28
        if nvic.pending[SYSTICK]:
            value |= 1 << 26
        if any(nvic.pending[IRQ0:]):
            value |= 1 << 22
        value |= (nvic.vect_pending() & 0x1FF) << 12
        if nvic.nested <= 1:
            value |= 1 << 11  # RETTOBASE
        value |= nvic.current & 0x1FF
        return value

    def _shcsr(self) -> int:
        nvic = self.nvic
        value = self.shcsr_enables
        for number, bit in ((MEMMANAGE, 0), (BUSFAULT, 1), (USAGEFAULT, 3), (SECUREFAULT, 4),
                            (SVCALL, 7), (12, 8), (PENDSV, 10), (SYSTICK, 11)):
            if nvic.active[number]:
                value |= 1 << bit
        for number, bit in ((USAGEFAULT, 12), (MEMMANAGE, 13), (BUSFAULT, 14), (SVCALL, 15),
                            (SECUREFAULT, 20)):
            if nvic.pending[number]:
                value |= 1 << bit
        return value

    def _write_word(self, offset: int, value: int) -> None:
        nvic = self.nvic
        if offset == 0x008:
            self.actlr = value
            return
        if 0x010 <= offset < 0x020:
            self.systick.write(offset - 0x010, value)
            self._on_change()
            return
        for start, flags, set_to in ((0x100, nvic.enabled, True), (0x180, nvic.enabled, False),
                                     (0x200, nvic.pending, True), (0x280, nvic.pending, False)):
            if start <= offset < start + 4 * _WORDS:
                base = IRQ0 + (offset - start) // 4 * 32
                for bit in range(32):
                    if value >> bit & 1 and base + bit < len(flags):
                        flags[base + bit] = set_to
                self._on_change()
                return
        if offset == 0xD04:
            self._write_icsr(value)
        elif offset == 0xD08:
            self.vtor = value & 0xFFFF_FF80
            self._on_change()  # the cycle counter takes SysTick through the new table from the next block
        elif offset == 0xD0C:
            if value >> 16 == VECTKEY:
                nvic.prigroup = (value >> 8) & 7
                if value & SYSRESETREQ:
                    self._on_reset_request()
                self._on_change()
        elif offset == 0xD10:
            self.scr = value & 0x1E
        elif offset == 0xD14:
            self.ccr = (CCR_RESET & ~CCR_WRITABLE) | (value & CCR_WRITABLE)
            self._on_ccr_change(self.ccr)
        elif offset == 0xD24:
            self.shcsr_enables = value & (0xF << 16)
            self._on_change()
        elif offset == 0xD28:
            self.cfsr &= ~value  # write one to clear
        elif offset == 0xD2C:
            self.hfsr &= ~value
        elif offset == 0xD34:
            self.mmfar = value
        elif offset == 0xD38:
            self.bfar = value
        elif offset == 0xD88:
            self.cpacr = value
        elif offset == 0xDFC:
            self.demcr = value
        elif offset == 0xF00:  # STIR
            irqn = value & 0x1FF
            if irqn < IRQ_COUNT:
                self._pend(IRQ0 + irqn)

    def _write_icsr(self, value: int) -> None:
        nvic = self.nvic
        if value & (1 << 28):
            nvic.pending[PENDSV] = True
        if value & (1 << 27):
            nvic.pending[PENDSV] = False
        if value & (1 << 26):
            nvic.pending[SYSTICK] = True
        if value & (1 << 25):
            nvic.pending[SYSTICK] = False
        self._on_change()
