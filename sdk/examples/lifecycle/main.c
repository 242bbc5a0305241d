/*
 * lifecycle - the application's side of restarts, crashes, deep sleep and the watchdog.
 *
 * Every start logs one line:
 *   "lifecycle: boot <n> wake <reason> ram <kept|lost> sbf <0|1> wuf <hex>"
 * where <n> counts starts in TAMP backup register BKP2R (it survives resets and deep sleep),
 * <reason> is mvGetWakeReason's number, "ram" tells whether a word left in .noinit by the
 * previous start is still there, and sbf/wuf are PWR's Standby and wake-up-pin flags. Then the
 * application does what BKP0R asks (BKP1R is the scenario's argument):
 *   0 idle: wait for interrupts forever
 *   1 crash: fill a stack frame with 0x5AFE0000 + i, then write to the microvisor's flash
 *   2 Standby, woken by the RTC wake-up timer after BKP1R seconds
 *   3 Standby, woken by wake pin WKUP1 only
 *   4 Shutdown, woken by the RTC wake-up timer after BKP1R seconds
 *   5 mvRestart on a cold boot, then idle
 *   6 watchdog: start the IWDG (100 ms), refresh it five times, then hang with interrupts masked
 *   7 mvPowerSave(STOP2) until the RTC wake-up interrupt (1 s); the handler also checks that
 *     mvGetWakeReason is refused in an interrupt
 *   8 AIRCR.SYSRESETREQ on a cold boot, then idle
 *   9 run for BKP1R milliseconds, then crash as 1 does
 *  10 log the statuses of the power calls given unknown modes, then idle
 */
#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"
#include "stm32u585_regs.h"

#define PWR_BASE       0x46020800u
#define PWR_WUCR1      REG32(PWR_BASE + 0x14u)
#define PWR_SR         REG32(PWR_BASE + 0x38u)
#define PWR_WUSR       REG32(PWR_BASE + 0x44u)
#define PWR_WUSCR      REG32(PWR_BASE + 0x48u)
#define PWR_SR_CSSF    (1u << 0)
#define PWR_SR_SBF     (1u << 2)
#define IWDG_BASE      0x40003000u
#define IWDG_KR        REG32(IWDG_BASE + 0x00u)
#define IWDG_PR        REG32(IWDG_BASE + 0x04u)
#define IWDG_RLR       REG32(IWDG_BASE + 0x08u)
#define IWDG_SR        REG32(IWDG_BASE + 0x0Cu)
#define RAM_MAGIC      0x600DF00Du

static uint32_t s_ram_word __attribute__((section(".noinit")));
static volatile uint32_t s_rtc_irqs;
static volatile uint32_t s_irq_wake_status;

static uint64_t now_us(void)
{
    uint64_t us = 0;
    mvGetMicroseconds(&us);
    return us;
}

static void wait_us(uint32_t us)
{
    uint64_t until = now_us() + us;
    while (now_us() < until) {
    }
}

/* Run the RTC wake-up timer every `seconds` seconds (ck_spre, 1 Hz), with its interrupt. */
static void rtc_wakeup_every(uint32_t seconds)
{
    RTC_WPR = 0xCAu;
    RTC_WPR = 0x53u;
    RTC_CR &= ~RTC_CR_WUTE;
    while (!(RTC_ICSR & RTC_ICSR_WUTWF)) {
    }
    RTC_WUTR = seconds - 1u;
    RTC_CR = (RTC_CR & ~7u) | RTC_CR_WUCKSEL_1HZ | RTC_CR_WUTIE | RTC_CR_WUTE;
    RTC_WPR = 0xFFu;
    RTC_SCR = RTC_SCR_CWUTF;
}

void RTC_IRQHandler(void)
{
    RTC_SCR = RTC_SCR_CWUTF;
    enum MvWakeReason reason;
    s_irq_wake_status = mvGetWakeReason(&reason);
    s_rtc_irqs++;
}

/* A frame full of a pattern the crash report's stack bytes must show, then a forbidden write. */
static void __attribute__((noinline)) crash(void)
{
    volatile uint32_t frame[64];
    for (uint32_t i = 0; i < 64u; i++) {
        frame[i] = 0x5AFE0000u + i;
    }
    log_printf("lifecycle: crashing with frame at %p", (void *)frame);
    *(volatile uint32_t *)0x0C000000u = frame[0];
}

static void hang_under_watchdog(void)
{
    IWDG_KR = 0xCCCCu;        /* start */
    IWDG_KR = 0x5555u;        /* unlock PR and RLR */
    IWDG_PR = 0u;             /* LSI / 4: 8 kHz */
    IWDG_RLR = 799u;          /* 800 ticks: 100 ms */
    while (IWDG_SR & 3u) {
    }
    IWDG_KR = 0xAAAAu;
    for (int i = 0; i < 5; i++) {
        wait_us(50000u);
        IWDG_KR = 0xAAAAu;
    }
    log_printf("lifecycle: hanging");
    __disable_irq();
    for (;;) {
    }
}

static void idle(void)
{
    for (;;) {
        __WFI();
    }
}

int main(void)
{
    uint32_t boot = ++TAMP_BKPR(2);
    enum MvWakeReason wake = (enum MvWakeReason)0xEE;
    mvGetWakeReason(&wake);
    const char *ram = s_ram_word == RAM_MAGIC ? "kept" : "lost";
    uint32_t sbf = (PWR_SR & PWR_SR_SBF) ? 1u : 0u;
    uint32_t wuf = PWR_WUSR & 0xFFu;
    PWR_SR = PWR_SR_CSSF;
    PWR_WUSCR = wuf;
    s_ram_word = RAM_MAGIC;
    log_printf("lifecycle: boot %u wake %u ram %s sbf %u wuf %x", (unsigned)boot, (unsigned)wake,
               ram, (unsigned)sbf, (unsigned)wuf);

    switch (TAMP_BKPR(0)) {
    case 1:
        crash();
        break;
    case 2:
    case 4:
        rtc_wakeup_every(TAMP_BKPR(1));
        log_printf("lifecycle: deep sleep");
        mvDeepSleep(TAMP_BKPR(0) == 2 ? MV_DEEPSLEEPMODE_STANDBY : MV_DEEPSLEEPMODE_SHUTDOWN);
        log_printf("lifecycle: still awake after mvDeepSleep!");
        break;
    case 3:
        PWR_WUCR1 |= 1u;   /* WKUP1 */
        log_printf("lifecycle: deep sleep");
        mvDeepSleep(MV_DEEPSLEEPMODE_STANDBY);
        log_printf("lifecycle: still awake after mvDeepSleep!");
        break;
    case 5:
        if (wake == MV_WAKEREASON_COLDBOOT) {
            mvRestart(MV_RESTARTMODE_AUTOAPPLYUPDATE);
        }
        break;
    case 6:
        hang_under_watchdog();
        break;
    case 7: {
        nvic_enable_irq(RTC_IRQn);
        rtc_wakeup_every(1u);
        uint64_t before = now_us();
        enum MvStatus st = mvPowerSave(MV_POWERSAVINGMODE_STOP2);
        uint64_t slept = now_us() - before;
        log_printf("lifecycle: power save status %u slept %u ms irqs %u irq-status %u",
                   (unsigned)st, (unsigned)(slept / 1000u), (unsigned)s_rtc_irqs,
                   (unsigned)s_irq_wake_status);
        break;
    }
    case 8:
        if (wake == MV_WAKEREASON_COLDBOOT) {
            SCB_AIRCR = 0x05FA0004u;
        }
        break;
    case 9:
        wait_us(TAMP_BKPR(1) * 1000u);
        crash();
        break;
    case 10:
        log_printf("lifecycle: bad modes deep-sleep %u power-save %u restart %u",
                   (unsigned)mvDeepSleep((enum MvDeepSleepMode)9),
                   (unsigned)mvPowerSave((enum MvPowerSavingMode)9),
                   (unsigned)mvRestart((enum MvRestartMode)5));
        break;
    default:
        break;
    }
    idle();
}
