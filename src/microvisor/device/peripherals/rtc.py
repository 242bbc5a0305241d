"""RTC (calendar, wake-up timer, write protection) on the virtual clock; TAMP backup registers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from ..bus import DeviceContext
from ..clock import NS_PER_S, Timer
from ._base import WordRegisters, merge

log = logging.getLogger(__name__)

RTC_BASE = 0x4600_7800
TAMP_BASE = 0x4600_7C00
RTC_IRQ = 2  # RTC non-secure interrupt
LSE_HZ = 32_768  # RTCCLK: the LSE crystal (RTCSEL is not consulted)

TR = 0x00
DR = 0x04
SSR = 0x08
ICSR = 0x0C
PRER = 0x10
WUTR = 0x14
CR = 0x18
PRIVCFGR = 0x1C
SECCFGR = 0x20
WPR = 0x24
CALR = 0x28
SHIFTR = 0x2C
ALRMAR = 0x40
ALRMASSR = 0x44
ALRMBR = 0x48
ALRMBSSR = 0x4C
SR = 0x50
MISR = 0x54
SMISR = 0x58
SCR = 0x5C
ALRABINR = 0x70
ALRBBINR = 0x74

ICSR_WUTWF = 1 << 2
ICSR_INITS = 1 << 4
ICSR_RSF = 1 << 5
ICSR_INITF = 1 << 6
ICSR_INIT = 1 << 7
ICSR_WRITABLE = ICSR_INIT | 0x3 << 8 | 0x7 << 10  # INIT, BIN, BCDU
CR_WUCKSEL = 0x7
CR_FMT = 1 << 6
CR_WUTE = 1 << 10
CR_WUTIE = 1 << 14
CR_ADD1H = 1 << 16
CR_SUB1H = 1 << 17
SR_WUTF = 1 << 2
TR_PM = 1 << 22
WPR_KEYS = (0xCA, 0x53)

PRER_RESET = 0x007F_00FF  # PREDIV_A = 127, PREDIV_S = 255: 1 Hz from 32.768 kHz
WUTR_RESET = 0x0000_FFFF
CALENDAR_RESET = datetime(2000, 1, 1)  # DR reset value 0x2101: 2000-01-01, weekday 1 (Monday)
WEEKDAY_RESET = 1

_PROTECTED = frozenset({TR, DR, ICSR, PRER, WUTR, CR, CALR, SHIFTR,
                        ALRMAR, ALRMASSR, ALRMBR, ALRMBSSR, ALRABINR, ALRBBINR})
_STORED = (PRIVCFGR, SECCFGR, CALR, SHIFTR, ALRMAR, ALRMASSR, ALRMBR, ALRMBSSR,
           ALRABINR, ALRBBINR)


def _bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def _from_bcd(field: int) -> int:
    return (field >> 4) * 10 + (field & 0xF)


class Rtc(WordRegisters):
    """The RTC in the backup domain: it keeps time and its wake-up timer across system resets.

    Time and date come from the virtual clock plus whatever was set in initialisation mode.
    Alarms, time stamps, calibration, shifts and binary mode keep their registers but do nothing.
    """

    name = "RTC"
    base = RTC_BASE
    size = 0x400

    def __init__(self, ctx: DeviceContext):
        super().__init__(ctx)
        self._wut_timer: Timer | None = None
        self.backup_domain_reset()

    # --- resets -------------------------------------------------------------------------------
    def backup_domain_reset(self) -> None:
        """Power-on of the backup domain: calendar at 2000-01-01, protection on, timer off."""
        self._cancel_wakeup()
        self._regs = {reg: 0 for reg in _STORED}
        self._cr = self._sr = self._icsr = 0
        self._prer, self._wutr = PRER_RESET, WUTR_RESET
        self._unlocked, self._key_step = False, 0
        self._epoch, self._epoch_ns = CALENDAR_RESET, self.ctx.clock.now_ns()
        self._weekday_offset = (WEEKDAY_RESET - CALENDAR_RESET.isoweekday()) % 7
        self._init_tr = self._init_dr = 0
        self._wut_t0 = self._wut_fired = 0
        self._wut_period = (1, 1)
        self._update_irq()

    def reset(self) -> None:
        """A system reset leaves the RTC running; the interrupt line is driven again."""
        self.drive_irq(RTC_IRQ, self._irq_pending(), force=True)
        self._schedule_wakeup()

    # --- bus side -----------------------------------------------------------------------------
    def read_word(self, offset: int) -> int:
        if offset == TR:
            return self._init_tr if self._in_init() else self._time_register(self.now())
        if offset == DR:
            return self._init_dr if self._in_init() else self._date_register(self.now())
        if offset == SSR:
            return self._subseconds()
        if offset == ICSR:
            return self._icsr_value()
        if offset == PRER:
            return self._prer
        if offset == WUTR:
            return self._wutr
        if offset == CR:
            return self._cr
        if offset == SR:
            return self._sr
        if offset == MISR:
            return self._sr & SR_WUTF if self._cr & CR_WUTIE else 0
        return self._regs.get(offset, 0)  # WPR, SCR and SMISR read 0

    def write_word(self, offset: int, value: int, mask: int) -> None:
        if offset == WPR:
            self._write_key(value & 0xFF)
        elif offset == SCR:
            self._sr &= ~value
            self._update_irq()
        elif offset in _PROTECTED and not self._unlocked:
            log.debug("RTC register %#04x is write-protected; write ignored", offset)
        elif offset == ICSR:
            self._write_icsr(merge(self._icsr, value, mask))
        elif offset == TR:
            if self._in_init():
                self._init_tr = merge(self._init_tr, value, mask) & 0x007F_7F7F
        elif offset == DR:
            if self._in_init():
                self._init_dr = merge(self._init_dr, value, mask) & 0x00FF_FF3F
        elif offset == PRER:
            self._prer = merge(self._prer, value, mask) & 0x007F_7FFF
        elif offset == WUTR:
            if not self._cr & CR_WUTE:  # writable only while WUTWF is set
                self._wutr = merge(self._wutr, value, mask)
        elif offset == CR:
            self._write_cr(merge(self._cr, value, mask))
        elif offset in _STORED:
            self._regs[offset] = merge(self._regs[offset], value, mask)

    # --- calendar -----------------------------------------------------------------------------
    def now(self) -> datetime:
        """The calendar's current date and time."""
        if self._in_init():
            return self._parse(self._init_tr, self._init_dr) or self._epoch
        elapsed = self.ctx.clock.now_ns() - self._epoch_ns
        return self._epoch + timedelta(seconds=elapsed // NS_PER_S)

    def _in_init(self) -> bool:
        return bool(self._icsr & ICSR_INIT)

    def _icsr_value(self) -> int:
        icsr = self._icsr & ICSR_WRITABLE
        if not self._cr & CR_WUTE:
            icsr |= ICSR_WUTWF
        if self.now().year != 2000:
            icsr |= ICSR_INITS
        if self._in_init():
            icsr |= ICSR_INITF
        else:
            icsr |= ICSR_RSF
        return icsr

    def _write_icsr(self, value: int) -> None:
        entering = value & ICSR_INIT and not self._in_init()
        leaving = self._in_init() and not value & ICSR_INIT
        if entering:
            now = self.now()
            self._init_tr, self._init_dr = self._time_register(now), self._date_register(now)
        if leaving:
            parsed = self._parse(self._init_tr, self._init_dr)
            if parsed is None:
                log.warning("RTC: invalid time %#x or date %#x; calendar unchanged",
                            self._init_tr, self._init_dr)
            else:
                weekday = (self._init_dr >> 13) & 0x7 or parsed.isoweekday()
                self._weekday_offset = (weekday - parsed.isoweekday()) % 7
                self._epoch, self._epoch_ns = parsed, self.ctx.clock.now_ns()
        self._icsr = value & ICSR_WRITABLE

    def _time_register(self, when: datetime) -> int:
        hour, pm = when.hour, 0
        if self._cr & CR_FMT:
            pm = TR_PM if hour >= 12 else 0
            hour = hour % 12 or 12
        return pm | _bcd(hour) << 16 | _bcd(when.minute) << 8 | _bcd(when.second)

    def _date_register(self, when: datetime) -> int:
        weekday = (when.isoweekday() - 1 + self._weekday_offset) % 7 + 1
        return (_bcd(when.year % 100) << 16 | weekday << 13 | _bcd(when.month) << 8
                | _bcd(when.day))

    def _parse(self, tr: int, dr: int) -> datetime | None:
        hour = _from_bcd(tr >> 16 & 0x3F)
        if self._cr & CR_FMT:
            hour = hour % 12 + (12 if tr & TR_PM else 0)
        try:
            return datetime(2000 + _from_bcd(dr >> 16 & 0xFF), _from_bcd(dr >> 8 & 0x1F),
                            _from_bcd(dr & 0x3F), hour, _from_bcd(tr >> 8 & 0x7F),
                            _from_bcd(tr & 0x7F))
        except ValueError:
            return None

    def _subseconds(self) -> int:
        prediv_s = self._prer & 0x7FFF
        if self._in_init():
            return prediv_s
        fraction = (self.ctx.clock.now_ns() - self._epoch_ns) % NS_PER_S
        return prediv_s - fraction * (prediv_s + 1) // NS_PER_S

    # --- protection and control ---------------------------------------------------------------
    def _write_key(self, key: int) -> None:
        if key == WPR_KEYS[1] and self._key_step == 1:
            self._unlocked, self._key_step = True, 0
        else:
            self._unlocked = False
            self._key_step = 1 if key == WPR_KEYS[0] else 0

    def _write_cr(self, value: int) -> None:
        if value & (CR_ADD1H | CR_SUB1H):
            self._epoch += timedelta(hours=1 if value & CR_ADD1H else -1)
            value &= ~(CR_ADD1H | CR_SUB1H)
        was_on = bool(self._cr & CR_WUTE)
        self._cr = value
        if value & CR_WUTE and not was_on:
            self._wut_period = self._wakeup_period()
            self._wut_t0, self._wut_fired = self.ctx.clock.now_ns(), 0
            self._schedule_wakeup()
        elif was_on and not value & CR_WUTE:
            self._cancel_wakeup()
        self._update_irq()

    # --- wake-up timer ------------------------------------------------------------------------
    def _wakeup_period(self) -> tuple[int, int]:
        """One wake-up period in nanoseconds, as a fraction (numerator, denominator)."""
        wucksel, count = self._cr & CR_WUCKSEL, (self._wutr & 0xFFFF) + 1
        if wucksel < 4:  # RTCCLK / 16, 8, 4, 2
            return count * (16 >> wucksel) * NS_PER_S, LSE_HZ
        if wucksel >= 6:  # ck_spre, with 2^16 added to the counter
            count += 1 << 16
        prediv_a, prediv_s = self._prer >> 16 & 0x7F, self._prer & 0x7FFF
        return count * (prediv_a + 1) * (prediv_s + 1) * NS_PER_S, LSE_HZ

    def _cancel_wakeup(self) -> None:
        if self._wut_timer is not None:
            self._wut_timer.cancel()
            self._wut_timer = None

    def _schedule_wakeup(self) -> None:
        self._cancel_wakeup()
        if self._cr & CR_WUTE:
            num, den = self._wut_period
            at = self._wut_t0 + -(-(self._wut_fired + 1) * num // den)
            self._wut_timer = self.ctx.clock.schedule(at, self._on_wakeup)

    def _on_wakeup(self) -> None:
        self._wut_timer = None
        if not self._cr & CR_WUTE:
            return
        num, den = self._wut_period
        periods = (self.ctx.clock.now_ns() - self._wut_t0) * den // num
        if periods > self._wut_fired:
            count, self._wut_fired = periods - self._wut_fired, periods
            self._sr |= SR_WUTF
            self._update_irq()
            self.ctx.events.emit("rtc", "wakeup", count=count)
        self._schedule_wakeup()

    def _irq_pending(self) -> bool:
        return bool(self._sr & SR_WUTF and self._cr & CR_WUTIE)

    def _update_irq(self) -> None:
        self.drive_irq(RTC_IRQ, self._irq_pending())


# --- TAMP backup registers -------------------------------------------------------------------
BKP0R = 0x100
BACKUP_REGISTER_COUNT = 32


class BackupStore(Protocol):
    """Where the 32 backup registers live (the device's state directory, or memory)."""

    def read(self, index: int) -> int: ...

    def write(self, index: int, value: int) -> None: ...


class MemoryBackupRegisters:
    """Backup registers kept in memory only: they survive resets but not the process."""

    def __init__(self) -> None:
        self._values = [0] * BACKUP_REGISTER_COUNT

    def read(self, index: int) -> int:
        return self._values[index]

    def write(self, index: int, value: int) -> None:
        self._values[index] = value & 0xFFFF_FFFF


class Tamp(WordRegisters):
    """TAMP: BKP0R..BKP31R at 0x100 read and write the backup store; tamper detection is absent."""

    name = "TAMP"
    base = TAMP_BASE
    size = 0x400

    def __init__(self, ctx: DeviceContext, backup: BackupStore | None = None):
        super().__init__(ctx)
        self.backup: BackupStore = backup if backup is not None else MemoryBackupRegisters()
        self._regs: dict[int, int] = {}

    def reset(self) -> None:
        """The backup domain survives a system reset: nothing changes."""

    def read_word(self, offset: int) -> int:
        index = self._backup_index(offset)
        if index is not None:
            return self.backup.read(index)
        return self._regs.get(offset, 0)

    def write_word(self, offset: int, value: int, mask: int) -> None:
        index = self._backup_index(offset)
        if index is not None:
            self.backup.write(index, merge(self.backup.read(index), value, mask))
        else:
            self._regs[offset] = merge(self._regs.get(offset, 0), value, mask)

    @staticmethod
    def _backup_index(offset: int) -> int | None:
        index = (offset - BKP0R) // 4
        return index if offset >= BKP0R and index < BACKUP_REGISTER_COUNT else None
