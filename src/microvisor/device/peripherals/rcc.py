"""Clock and power control blocks HAL clock setup polls: RCC, PWR, FLASH interface and ICACHE.

Each of RCC, PWR and FLASH resets either to the silicon's reset state (4 MHz MSIS, range 4, no wait
state) or, with `started=True`, to the state the microvisor leaves for the application: SYSCLK from
PLL1 at 160 MHz (MSIS 4 MHz / M 1 x N 80 / R 2), AHB and APB1..3 undivided, voltage range 1 with the
EPOD booster on and 4 flash wait states (RM0456: range 1 needs 4 wait states above 128 MHz). The
device builds them started, so ST's SystemCoreClockUpdate() and HAL_RCC_GetSysClockFreq() read
160 MHz from the registers as on a device the microvisor has started.
"""

from __future__ import annotations

import logging

from ..bus import DeviceContext, RegisterFile

log = logging.getLogger(__name__)

RCC_BASE = 0x4602_0C00
PWR_BASE = 0x4602_0800
FLASH_BASE = 0x4002_2000  # the flash interface registers, not the memory
ICACHE_BASE = 0x4003_0400
ICACHE_IRQ = 107


class StatusRegisterFile(RegisterFile):
    """A register file whose status bits are recomputed from its control bits after every write.

    `readonly` offsets ignore writes; `writeonly` offsets act through `on_write` and read 0.
    """

    readonly: frozenset[int] = frozenset()
    writeonly: frozenset[int] = frozenset()

    def __init__(self, ctx: DeviceContext, name: str, base: int, reset_values: dict[int, int]):
        super().__init__(ctx, name, base, 0x400, reset_values)
        self.settle()

    def reset(self) -> None:
        super().reset()
        self.settle()

    def write(self, offset: int, size: int, value: int) -> None:
        aligned = offset & ~3
        if aligned in self.readonly:
            return
        if aligned in self.writeonly:
            shift = (offset & 3) * 8
            self.on_write(aligned, (value << shift) & 0xFFFF_FFFF)
        else:
            super().write(offset, size, value)
            self.on_write(aligned, self.regs[aligned])
        self.settle()

    def on_write(self, offset: int, value: int) -> None:
        """React to a write (the stored value, or the written lanes of a write-only register)."""

    def settle(self) -> None:
        """Recompute the status bits."""

    def _set_bits(self, offset: int, mask: int, bits: int) -> None:
        self.regs[offset] = (self.regs.get(offset, 0) & ~mask) | (bits & mask)


# --- RCC ------------------------------------------------------------------------------------
RCC_CR = 0x00
RCC_ICSCR1 = 0x08
RCC_ICSCR2 = 0x0C
RCC_ICSCR3 = 0x10
RCC_CFGR1 = 0x1C
RCC_CFGR2 = 0x20
RCC_CFGR3 = 0x24
RCC_PLL1CFGR = 0x28
RCC_PLL1DIVR = 0x34
RCC_PLL1FRACR = 0x38
RCC_PLL2DIVR = 0x3C
RCC_PLL3DIVR = 0x44
RCC_CIFR = 0x54
RCC_CICR = 0x58
RCC_AHB1ENR = 0x88
RCC_AHB2ENR1 = 0x8C
RCC_BDCR = 0xF0
RCC_CSR = 0xF4

# (enable bit, ready bit) pairs in RCC_CR: MSIS, MSIK, HSI16, HSI48, SHSI, HSE, PLL1..3.
_CR_READY = ((0, 2), (4, 5), (8, 10), (12, 13), (14, 15), (16, 17), (24, 25), (26, 27), (28, 29))
# ... and in RCC_BDCR: LSE, LSESYS, LSI.
_BDCR_READY = ((0, 1), (7, 11), (26, 27))
CFGR1_SW = 0x3
CFGR1_SWS_SHIFT = 2
CSR_RMVF = 1 << 23
CSR_RESET_FLAGS = 0xFE00_0000  # OBLRSTF .. LPWRRSTF
PLLDIVR_RESET = 0x0101_0280

CR_PLL1ON = 1 << 24
PLLCFGR_SRC_MSIS = 1  # PLL1SRC: 0 none, 1 MSIS, 2 HSI16, 3 HSE
PLLCFGR_REN = 1 << 18  # the R output (SYSCLK) enabled
SW_PLL1 = 3


def plldivr(n: int, p: int, q: int, r: int) -> int:
    """PLLxDIVR for the multiplier N and dividers P, Q, R (each field holds the value minus one)."""
    return (n - 1) | (p - 1) << 9 | (q - 1) << 16 | (r - 1) << 24


RCC_RESET = {
    RCC_CR: 0x0000_0035,  # MSIS and MSIK on and ready
    RCC_ICSCR1: 0x4400_0000,  # MSIS and MSIK range 4 (4 MHz)
    RCC_ICSCR2: 0x0008_4210,
    RCC_ICSCR3: 0x0010_0000,  # HSITRIM = 16
    RCC_PLL1DIVR: PLLDIVR_RESET,
    RCC_PLL2DIVR: PLLDIVR_RESET,
    RCC_PLL3DIVR: PLLDIVR_RESET,
    RCC_AHB1ENR: 0xC000_0100,  # SRAM1, DCACHE1 and FLASH clocks on
    RCC_AHB2ENR1: 0xC000_0000,  # SRAM2 and SRAM3 clocks on
    RCC_CSR: 0x0C00_4400,  # PINRSTF and BORRSTF after power-on; MSI ranges after standby 4
}

# The clock tree the microvisor has set up: MSIS (4 MHz, range 4) feeds PLL1 with M = 1 (input range
# 4-8 MHz, no fractional part), VCO = 4 MHz x 80 = 320 MHz, R = 2 gives SYSCLK 160 MHz (P = Q = 2).
# CFGR2/CFGR3 stay 0: HPRE, PPRE1, PPRE2 and PPRE3 all divide by 1.
RCC_STARTED = {
    **RCC_RESET,
    RCC_CR: RCC_RESET[RCC_CR] | CR_PLL1ON,
    RCC_CFGR1: SW_PLL1,
    RCC_PLL1CFGR: PLLCFGR_SRC_MSIS | PLLCFGR_REN,
    RCC_PLL1DIVR: plldivr(80, 2, 2, 2),
}


def _mirror(value: int, pairs: tuple[tuple[int, int], ...]) -> int:
    for on, ready in pairs:
        value = (value | 1 << ready) if value >> on & 1 else (value & ~(1 << ready))
    return value


class Rcc(StatusRegisterFile):
    """RCC: every oscillator and PLL is ready the moment it is enabled; SWS follows SW at once.

    `started`: reset to the clock tree the microvisor leaves (SYSCLK = PLL1 at 160 MHz), not the
    silicon's reset state.
    """

    readonly = frozenset({RCC_CIFR})
    writeonly = frozenset({RCC_CICR})

    def __init__(self, ctx: DeviceContext, started: bool = False):
        super().__init__(ctx, "RCC", RCC_BASE, RCC_STARTED if started else RCC_RESET)

    def reset(self) -> None:
        bdcr = self.regs.get(RCC_BDCR, 0)  # the backup domain survives a system reset
        super().reset()
        self.regs[RCC_BDCR] = bdcr
        self.settle()

    def backup_domain_reset(self) -> None:
        """Power-on of the backup domain: LSE, LSI and the RTC clock selection back to off."""
        self.regs[RCC_BDCR] = 0
        self.settle()

    def on_write(self, offset: int, value: int) -> None:
        if offset == RCC_CSR and value & CSR_RMVF:
            self._set_bits(RCC_CSR, CSR_RMVF | CSR_RESET_FLAGS, 0)

    def settle(self) -> None:
        self.regs[RCC_CR] = _mirror(self.regs.get(RCC_CR, 0), _CR_READY)
        self.regs[RCC_BDCR] = _mirror(self.regs.get(RCC_BDCR, 0), _BDCR_READY)
        cfgr1 = self.regs.get(RCC_CFGR1, 0)
        sws = (cfgr1 & CFGR1_SW) << CFGR1_SWS_SHIFT
        self._set_bits(RCC_CFGR1, CFGR1_SW << CFGR1_SWS_SHIFT, sws)

    def sysclk_source(self) -> int:
        """SWS: 0 MSIS, 1 HSI16, 2 HSE, 3 PLL1."""
        return (self.regs[RCC_CFGR1] >> CFGR1_SWS_SHIFT) & CFGR1_SW


# --- PWR ------------------------------------------------------------------------------------
PWR_CR3 = 0x08
PWR_VOSR = 0x0C
PWR_SVMCR = 0x10
PWR_WUCR1 = 0x14
PWR_SR = 0x38
PWR_SVMSR = 0x3C
PWR_WUSR = 0x44
PWR_WUSCR = 0x48

CR3_REGSEL = 1 << 1
VOSR_BOOSTRDY = 1 << 14
VOSR_VOSRDY = 1 << 15
VOSR_VOS_SHIFT = 16
VOSR_VOS = 0x3 << VOSR_VOS_SHIFT
VOSR_BOOSTEN = 1 << 18
SR_CSSF = 1 << 0
SR_SBF = 1 << 2  # the device was in Standby
WAKE_PIN_COUNT = 8  # WKUP1..WKUP8: WUPENx in WUCR1, WUFx in WUSR
SVMSR_REGS = 1 << 1
SVMSR_ACTVOSRDY = 1 << 15
SVMSR_ACTVOS_SHIFT = 16
# (monitor enable in SVMCR, ready flag in SVMSR): VDDUSB, VDDIO2, VDDA 1.6 V, VDDA 1.8 V.
_SUPPLY_READY = ((24, 24), (25, 25), (26, 26), (27, 27))

PWR_RESET = {PWR_VOSR: VOSR_VOSRDY}  # range 4, ready
VOS_RANGE1 = 3
PWR_STARTED = {PWR_VOSR: VOS_RANGE1 << VOSR_VOS_SHIFT | VOSR_BOOSTEN}  # range 1, EPOD booster on


class Pwr(StatusRegisterFile):
    """PWR: voltage scaling, EPOD booster, SMPS switch and supply monitors all settle at once.

    The Standby flag (SR.SBF) and the wake-up flags (WUSR) survive a system reset; software
    clears them (SR.CSSF, WUSCR). `standby_exit` sets them when the device leaves Standby.
    `started`: reset to voltage range 1 with the booster on, as the microvisor runs at 160 MHz.
    """

    readonly = frozenset({PWR_SR, PWR_SVMSR, PWR_WUSR})
    writeonly = frozenset({PWR_WUSCR})

    def __init__(self, ctx: DeviceContext, started: bool = False):
        super().__init__(ctx, "PWR", PWR_BASE, PWR_STARTED if started else PWR_RESET)

    def reset(self) -> None:
        kept = {PWR_SR: self.regs.get(PWR_SR, 0) & SR_SBF, PWR_WUSR: self.regs.get(PWR_WUSR, 0)}
        super().reset()
        self.regs.update(kept)

    def wake_pins_enabled(self) -> int:
        """WUCR1's WUPENx bits: bit n-1 set when WKUPn may wake the device."""
        return self.regs.get(PWR_WUCR1, 0) & ((1 << WAKE_PIN_COUNT) - 1)

    def standby_exit(self, pins: int) -> None:
        """The device leaves Standby (woken by the wake pins in the mask `pins`, if any)."""
        self._set_bits(PWR_SR, SR_SBF, SR_SBF)
        self._set_bits(PWR_WUSR, pins, pins)

    def write(self, offset: int, size: int, value: int) -> None:
        if offset & ~3 == PWR_SR:  # CSSF clears the Standby flag; nothing else is writable
            if (value << (offset & 3) * 8) & SR_CSSF:
                self._set_bits(PWR_SR, SR_SBF, 0)
            return
        super().write(offset, size, value)

    def on_write(self, offset: int, value: int) -> None:
        if offset == PWR_WUSCR:
            self._set_bits(PWR_WUSR, value, 0)

    def settle(self) -> None:
        vosr = self.regs.get(PWR_VOSR, 0) | VOSR_VOSRDY
        vosr = (vosr | VOSR_BOOSTRDY) if vosr & VOSR_BOOSTEN else (vosr & ~VOSR_BOOSTRDY)
        self.regs[PWR_VOSR] = vosr
        vos = (vosr & VOSR_VOS) >> VOSR_VOS_SHIFT
        svmsr = SVMSR_ACTVOSRDY | vos << SVMSR_ACTVOS_SHIFT
        if self.regs.get(PWR_CR3, 0) & CR3_REGSEL:
            svmsr |= SVMSR_REGS
        svmcr = self.regs.get(PWR_SVMCR, 0)
        for enable, ready in _SUPPLY_READY:
            if svmcr >> enable & 1:
                svmsr |= 1 << ready
        self.regs[PWR_SVMSR] = svmsr


# --- FLASH interface ------------------------------------------------------------------------
FLASH_ACR = 0x00
FLASH_NSKEYR = 0x08
FLASH_NSSR = 0x20
FLASH_NSCR = 0x28
NSCR_LOCK = 1 << 31
NSCR_OPTLOCK = 1 << 30
FLASH_KEYS = (0x4567_0123, 0xCDEF_89AB)

LATENCY_160MHZ_RANGE1 = 4  # RM0456: voltage range 1, 128 MHz < HCLK <= 160 MHz

FLASH_RESET = {FLASH_NSCR: NSCR_LOCK | NSCR_OPTLOCK}
FLASH_STARTED = {**FLASH_RESET, FLASH_ACR: LATENCY_160MHZ_RANGE1}


class FlashInterface(StatusRegisterFile):
    """FLASH registers: ACR (latency) reads back, never busy; the key sequence unlocks NSCR.

    Programming and erasing through these registers is not modelled (the kernel owns the flash).
    `started`: reset with the 4 wait states the microvisor set for 160 MHz.
    """

    readonly = frozenset({FLASH_NSSR})
    writeonly = frozenset({FLASH_NSKEYR})

    def __init__(self, ctx: DeviceContext, started: bool = False):
        self._key_step = 0
        super().__init__(ctx, "FLASH", FLASH_BASE, FLASH_STARTED if started else FLASH_RESET)

    def reset(self) -> None:
        self._key_step = 0
        super().reset()

    def on_write(self, offset: int, value: int) -> None:
        if offset == FLASH_NSKEYR:
            if value == FLASH_KEYS[self._key_step]:
                self._key_step += 1
                if self._key_step == len(FLASH_KEYS):
                    self._set_bits(FLASH_NSCR, NSCR_LOCK, 0)
                    self._key_step = 0
            else:
                self._key_step = 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset & ~3 == FLASH_NSCR and self.regs[FLASH_NSCR] & NSCR_LOCK:
            return  # NSCR is frozen until the key sequence unlocks it
        super().write(offset, size, value)


# --- ICACHE ---------------------------------------------------------------------------------
ICACHE_CR = 0x00
ICACHE_SR = 0x04
ICACHE_IER = 0x08
ICACHE_FCR = 0x0C
ICACHE_CR_EN = 1 << 0
ICACHE_CR_CACHEINV = 1 << 1
ICACHE_SR_BUSYF = 1 << 0
ICACHE_SR_BSYENDF = 1 << 1
ICACHE_SR_ERRF = 1 << 2
ICACHE_IER_BSYENDIE = 1 << 1
ICACHE_IER_ERRIE = 1 << 2

ICACHE_RESET = {ICACHE_CR: 0x0000_0004, ICACHE_SR: ICACHE_SR_BSYENDF}  # 2-way; invalidated


class InstructionCache(StatusRegisterFile):
    """ICACHE: never busy; an invalidation finishes at once and sets BSYENDF."""

    readonly = frozenset({ICACHE_SR, 0x10, 0x14})  # SR and the hit/miss monitors
    writeonly = frozenset({ICACHE_FCR})

    def __init__(self, ctx: DeviceContext):
        self._irq = False
        super().__init__(ctx, "ICACHE", ICACHE_BASE, ICACHE_RESET)

    def on_write(self, offset: int, value: int) -> None:
        if offset == ICACHE_CR and value & ICACHE_CR_CACHEINV:
            self._set_bits(ICACHE_CR, ICACHE_CR_CACHEINV, 0)
            self._set_bits(ICACHE_SR, ICACHE_SR_BSYENDF, ICACHE_SR_BSYENDF)
        elif offset == ICACHE_FCR:
            self._set_bits(ICACHE_SR, value & (ICACHE_SR_BSYENDF | ICACHE_SR_ERRF), 0)

    def settle(self) -> None:
        pending = self.regs.get(ICACHE_SR, 0) & self.regs.get(ICACHE_IER, 0)
        level = bool(pending & (ICACHE_IER_BSYENDIE | ICACHE_IER_ERRIE))
        if level != self._irq:
            self._irq = level
            self.ctx.set_irq(ICACHE_IRQ, level)
