/*
 * syscalls - exercises the microvisor's built-in system calls and logs one line per check:
 * "PASS <name>" or "FAIL <name> <detail>".
 *
 * The checks cover time and clocks, the device ID, server logging, peripheral peek/poke,
 * notifications (a centre, its IRQ and ring), the external flash, fast interrupts and the
 * system LED.
 *
 * Every boot runs the same checks. On a cold boot the application then asks for a restart
 * (mvRestart); after it, mvGetWakeReason must report a restart, which is the "mvRestart" check,
 * and the run ends with "syscalls: DONE pass=<n> fail=<m>".
 */
#include <stdbool.h>
#include <stdint.h>

#include "checks.h"
#include "log.h"
#include "mv_syscalls.h"
#include "stm32u585_regs.h"

#define EXPECTED_HZ       160000000u
#define KERNEL_FLASH      0x0C000000u   /* secure: never the application's */
#define APP_FLASH         0x08000000u   /* application memory, but not writable */
#define SRAM_END          0x20080000u
#define RCC_AHB2ENR1_ADDR (RCC_BASE + 0x8Cu)
#define GPIOA_MODER_ADDR  (GPIOA_BASE + GPIO_MODER_OFS)
#define TOO_LONG_LOG_LEN  2048u          /* longer than any log line the microvisor accepts */
#define NOTIFY_IRQn       51u            /* TIM8_BRK: an interrupt the application does not use */
#define FAST_IRQn         54u            /* TIM8_CC */
#define FLASH_ADDR        0x1000u        /* where the external flash check writes */

static uint8_t s_long_message[TOO_LONG_LOG_LEN];
static volatile struct MvNotification s_notifications[4] __attribute__((aligned(8)));
static volatile uint32_t s_notify_irqs;

void TIM8_BRK_IRQHandler(void)
{
    s_notify_irqs++;
}

static const char *status_name(enum MvStatus s)
{
    switch (s) {
    case MV_STATUS_OKAY: return "OKAY";
    case MV_STATUS_PARAMETERFAULT: return "PARAMETERFAULT";
    case MV_STATUS_INVALIDBUFFERSIZE: return "INVALIDBUFFERSIZE";
    case MV_STATUS_PERIPHERALACCESSFAULT: return "PERIPHERALACCESSFAULT";
    case MV_STATUS_UNAVAILABLE: return "UNAVAILABLE";
    case MV_STATUS_INVALIDBUFFERALIGNMENT: return "INVALIDBUFFERALIGNMENT";
    case MV_STATUS_LOGMESSAGETOOLONG: return "LOGMESSAGETOOLONG";
    case MV_STATUS_MICROVISORBUSY: return "MICROVISORBUSY";
    case MV_STATUS_TIMENOTSET: return "TIMENOTSET";
    case MV_STATUS_INVALIDHANDLE: return "INVALIDHANDLE";
    case MV_STATUS_INVALIDINTERRUPT: return "INVALIDINTERRUPT";
    case MV_STATUS_ADDRESSOUTOFRANGE: return "ADDRESSOUTOFRANGE";
    default: return "status";
    }
}

/* A check that a call returned an expected status. */
static void expect_status(const char *name, enum MvStatus got, enum MvStatus want)
{
    check(got == want, name, "status %u (%s), expected %u (%s)", (unsigned)got, status_name(got),
          (unsigned)want, status_name(want));
}

static void check_clock(const char *name, enum MvStatus (*call)(uint32_t *))
{
    uint32_t hz = 0;
    enum MvStatus st = call(&hz);
    check(st == MV_STATUS_OKAY && hz == EXPECTED_HZ, name, "status %u hz %u", (unsigned)st,
          (unsigned)hz);
}

static bool is_lower_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_device_id(void)
{
    uint8_t id[35] = {0};
    enum MvStatus st = mvGetDeviceId(id, 34);
    bool ok = st == MV_STATUS_OKAY && id[0] == 'U' && id[1] == 'V' && id[34] == 0;
    for (int i = 2; i < 34; i++) {
        ok = ok && is_lower_hex(id[i]);
    }
    check(ok, "mvGetDeviceId", "status %u id '%s'", (unsigned)st, (const char *)id);
    if (st == MV_STATUS_OKAY) {
        log_printf("syscalls: device id %s", (const char *)id);
    }

    uint8_t short_buf[33];
    expect_status("mvGetDeviceId/short-buffer", mvGetDeviceId(short_buf, sizeof short_buf),
                  MV_STATUS_INVALIDBUFFERSIZE);
}

static void check_microseconds(void)
{
    uint64_t t1 = 0, t2 = 0;
    enum MvStatus s1 = mvGetMicroseconds(&t1);
    for (volatile int i = 0; i < 1000; i++) {
    }
    enum MvStatus s2 = mvGetMicroseconds(&t2);
    check(s1 == MV_STATUS_OKAY && s2 == MV_STATUS_OKAY && t2 >= t1, "mvGetMicroseconds",
          "status %u/%u t1=%u t2=%u", (unsigned)s1, (unsigned)s2, (unsigned)t1, (unsigned)t2);
}

static void check_bad_pointers(void)
{
    expect_status("mvGetSysClk/kernel-pointer", mvGetSysClk((uint32_t *)KERNEL_FLASH),
                  MV_STATUS_PARAMETERFAULT);
    expect_status("mvGetSysClk/null-pointer", mvGetSysClk((uint32_t *)0),
                  MV_STATUS_PARAMETERFAULT);
    expect_status("mvGetSysClk/flash-pointer", mvGetSysClk((uint32_t *)APP_FLASH),
                  MV_STATUS_PARAMETERFAULT);
    expect_status("mvGetSysClk/past-sram-end", mvGetSysClk((uint32_t *)(SRAM_END - 2u)),
                  MV_STATUS_PARAMETERFAULT);
    expect_status("mvGetMicroseconds/kernel-pointer",
                  mvGetMicroseconds((uint64_t *)KERNEL_FLASH), MV_STATUS_PARAMETERFAULT);
}

static void check_peek_poke(void)
{
    /* Allowed: an RCC register. The value must match what the application reads itself. */
    uint32_t value = 0;
    enum MvStatus st = mvPeriphPeek32(RCC_AHB2ENR1_ADDR, &value);
    uint32_t direct = RCC_AHB2ENR1;
    check(st == MV_STATUS_OKAY && value == direct, "mvPeriphPeek32",
          "status %u value 0x%08x direct 0x%08x", (unsigned)st, (unsigned)value, (unsigned)direct);

    /* Set GPIOBEN with mask=bit, xor=bit: *reg = (*reg & ~mask) ^ xor, then clear it again. */
    const uint32_t bit = RCC_AHB2ENR1_GPIOBEN;
    uint32_t before = RCC_AHB2ENR1;
    enum MvStatus st_set = mvPeriphPoke32(RCC_AHB2ENR1_ADDR, bit, bit);
    uint32_t after_set = 0;
    mvPeriphPeek32(RCC_AHB2ENR1_ADDR, &after_set);
    enum MvStatus st_clr = mvPeriphPoke32(RCC_AHB2ENR1_ADDR, bit, 0);
    uint32_t after_clr = RCC_AHB2ENR1;
    check(st_set == MV_STATUS_OKAY && st_clr == MV_STATUS_OKAY && (after_set & bit) &&
              !(after_clr & bit) && (after_set & ~bit) == (before & ~bit),
          "mvPeriphPoke32", "status %u/%u before 0x%08x set 0x%08x cleared 0x%08x",
          (unsigned)st_set, (unsigned)st_clr, (unsigned)before, (unsigned)after_set,
          (unsigned)after_clr);

    /* Not allowed: a GPIO register, and an unaligned address. */
    expect_status("mvPeriphPeek32/disallowed", mvPeriphPeek32(GPIOA_MODER_ADDR, &value),
                  MV_STATUS_PERIPHERALACCESSFAULT);
    expect_status("mvPeriphPoke32/disallowed", mvPeriphPoke32(GPIOA_MODER_ADDR, 0, 0),
                  MV_STATUS_PERIPHERALACCESSFAULT);
    expect_status("mvPeriphPeek32/unaligned", mvPeriphPeek32(RCC_AHB2ENR1_ADDR + 1u, &value),
                  MV_STATUS_PERIPHERALACCESSFAULT);
    expect_status("mvPeriphPeek32/bad-output",
                  mvPeriphPeek32(RCC_AHB2ENR1_ADDR, (uint32_t *)KERNEL_FLASH),
                  MV_STATUS_PARAMETERFAULT);
}

static void check_notifications(void)
{
    MvNotificationHandle handle = 0;
    struct MvNotificationSetup setup = {NOTIFY_IRQn, (struct MvNotification *)s_notifications,
                                        sizeof s_notifications};
    for (uint32_t i = 0; i < 4; i++) s_notifications[i].event_type = MV_EVENTTYPE_NOEVENT;
    s_notify_irqs = 0;
    enum MvStatus st = mvSetupNotifications(&setup, &handle);
    check(st == MV_STATUS_OKAY && handle != 0, "mvSetupNotifications", "status %u (%s)",
          (unsigned)st, status_name(st));
    nvic_clear_pending(NOTIFY_IRQn);
    nvic_enable_irq(NOTIFY_IRQn);
    st = mvTempTriggerNotification(handle, MV_EVENTTYPE_CHANNELDATAREADABLE, 42);
    check(st == MV_STATUS_OKAY && s_notify_irqs == 1 &&
              s_notifications[0].event_type == MV_EVENTTYPE_CHANNELDATAREADABLE &&
              s_notifications[0].tag == 42,
          "mvTempTriggerNotification", "status %u irqs %u type %u tag %u", (unsigned)st,
          (unsigned)s_notify_irqs, (unsigned)s_notifications[0].event_type,
          (unsigned)s_notifications[0].tag);
    MvNotificationHandle unused = 0;
    setup.buffer_size = 24;  /* not a whole number of 16-byte notifications */
    expect_status("mvSetupNotifications/size", mvSetupNotifications(&setup, &unused),
                  MV_STATUS_INVALIDBUFFERSIZE);
    st = mvCloseNotifications(&handle);
    check(st == MV_STATUS_OKAY && handle == 0, "mvCloseNotifications", "status %u (%s)",
          (unsigned)st, status_name(st));
    nvic_disable_irq(NOTIFY_IRQn);
    expect_status("mvCloseNotifications/closed", mvCloseNotifications(&handle),
                  MV_STATUS_INVALIDHANDLE);
}

static void check_external_flash(void)
{
    static const uint8_t data[16] = "external flash!";
    uint8_t back[16] = {0};
    MvExternalFlashHandle handle = 0;
    struct MvExternalFlashInfo info = {.version = 1};
    enum MvStatus st_open = mvExternalFlashOpen(&handle);
    enum MvStatus st_info = mvExternalFlashGetInfo(handle, &info);
    check(st_open == MV_STATUS_OKAY && st_info == MV_STATUS_OKAY && info.v1.size > 0,
          "mvExternalFlashGetInfo", "status %u/%u size %u", (unsigned)st_open, (unsigned)st_info,
          (unsigned)info.v1.size);
    enum MvStatus st_erase = mvExternalFlashEraseBlocking(handle, FLASH_ADDR, 4096);
    enum MvStatus st_write = mvExternalFlashWriteBlocking(handle, FLASH_ADDR, sizeof data, data);
    enum MvStatus st_read = mvExternalFlashReadBlocking(handle, FLASH_ADDR, sizeof back, back);
    bool same = true;
    for (uint32_t i = 0; i < sizeof data; i++) same = same && back[i] == data[i];
    check(st_erase == MV_STATUS_OKAY && st_write == MV_STATUS_OKAY && st_read == MV_STATUS_OKAY &&
              same,
          "mvExternalFlash write/read", "status %u/%u/%u", (unsigned)st_erase, (unsigned)st_write,
          (unsigned)st_read);
    expect_status("mvExternalFlashReadBlocking/out-of-range",
                  mvExternalFlashReadBlocking(handle, info.v1.size, 1, back),
                  MV_STATUS_ADDRESSOUTOFRANGE);
    expect_status("mvExternalFlashClose", mvExternalFlashClose(&handle), MV_STATUS_OKAY);
    expect_status("mvExternalFlashReadBlocking/closed",
                  mvExternalFlashReadBlocking(handle, 0, 1, back), MV_STATUS_INVALIDHANDLE);
}

static void check_fast_interrupts_and_led(void)
{
    expect_status("mvSetFastInterrupt", mvSetFastInterrupt(FAST_IRQn), MV_STATUS_OKAY);
    expect_status("mvEnableFastInterrupt", mvEnableFastInterrupt(FAST_IRQn), MV_STATUS_OKAY);
    expect_status("mvDisableAllFastInterrupts", mvDisableAllFastInterrupts(), MV_STATUS_OKAY);
    expect_status("mvEnableAllFastInterrupts", mvEnableAllFastInterrupts(), MV_STATUS_OKAY);
    expect_status("mvDisableFastInterrupt", mvDisableFastInterrupt(FAST_IRQn), MV_STATUS_OKAY);
    expect_status("mvClearFastInterrupt", mvClearFastInterrupt(FAST_IRQn), MV_STATUS_OKAY);
    expect_status("mvSetFastInterrupt/no-such-irq", mvSetFastInterrupt(126),
                  MV_STATUS_INVALIDINTERRUPT);
    expect_status("mvSystemLedEnable/off", mvSystemLedEnable(0), MV_STATUS_OKAY);
    expect_status("mvSystemLedEnable/on", mvSystemLedEnable(1), MV_STATUS_OKAY);
}

/* A restart is any wake reason that is not a cold boot, a crash, an error or a deep sleep. */
static bool is_restart_reason(uint8_t r)
{
    switch (r) {
    case MV_WAKEREASON_REMOTEMICROVISORRESTART:
    case MV_WAKEREASON_REMOTEAPPLICATIONRESTART:
    case MV_WAKEREASON_DEBUGGERRESTART:
    case MV_WAKEREASON_APPLICATIONUPDATE:
    case MV_WAKEREASON_MICROVISORUPDATE:
    case MV_WAKEREASON_OPTIONBYTES:
        return true;
    default:
        return false;
    }
}

int main(void)
{
    /* Logging checks that must run before logging starts; reported once it has. */
    static const uint8_t early[] = "early";
    enum MvStatus st_log_early = mvServerLog(early, sizeof early - 1);
    enum MvStatus st_init_bad = mvServerLoggingInit((uint8_t *)KERNEL_FLASH, LOG_BUFFER_SIZE);
    enum MvStatus st_init = log_init();

    log_printf("syscalls: start");
    expect_status("mvServerLog/before-init", st_log_early, MV_STATUS_UNAVAILABLE);
    expect_status("mvServerLoggingInit/kernel-pointer", st_init_bad, MV_STATUS_PARAMETERFAULT);
    expect_status("mvServerLoggingInit", st_init, MV_STATUS_OKAY);

    static const uint8_t hello[] = "syscalls: mvServerLog direct";
    expect_status("mvServerLog", mvServerLog(hello, sizeof hello - 1), MV_STATUS_OKAY);
    for (uint32_t i = 0; i < TOO_LONG_LOG_LEN; i++) {
        s_long_message[i] = (uint8_t)('a' + i % 26u);
    }
    expect_status("mvServerLog/too-long", mvServerLog(s_long_message, TOO_LONG_LOG_LEN),
                  MV_STATUS_LOGMESSAGETOOLONG);
    expect_status("mvServerLog/kernel-pointer", mvServerLog((const uint8_t *)KERNEL_FLASH, 8),
                  MV_STATUS_PARAMETERFAULT);

    expect_status("mvNoOp", mvNoOp(), MV_STATUS_OKAY);
    check_microseconds();
    check_clock("mvGetSysClk", mvGetSysClk);
    check_clock("mvGetHClk", mvGetHClk);
    check_clock("mvGetPClk1", mvGetPClk1);
    check_clock("mvGetPClk2", mvGetPClk2);
    check_bad_pointers();
    check_device_id();
    check_peek_poke();
    uint64_t wall = 0;
    expect_status("mvGetWallTime", mvGetWallTime(&wall), MV_STATUS_TIMENOTSET);  /* offline */
    check_notifications();
    check_external_flash();
    check_fast_interrupts_and_led();

    /* The wake reason is one byte; a sentinel shows whether the microvisor wrote it. */
    enum MvWakeReason reason = (enum MvWakeReason)0xEE;
    enum MvStatus st_wake = mvGetWakeReason(&reason);
    check(st_wake == MV_STATUS_OKAY && (uint8_t)reason <= MV_WAKEREASON_DEEPSLEEPOTHER,
          "mvGetWakeReason", "status %u reason %u", (unsigned)st_wake, (unsigned)reason);
    expect_status("mvGetWakeReason/kernel-pointer",
                  mvGetWakeReason((enum MvWakeReason *)KERNEL_FLASH), MV_STATUS_PARAMETERFAULT);
    log_printf("syscalls: wake reason %u", (unsigned)reason);

    if (st_wake == MV_STATUS_OKAY && reason == MV_WAKEREASON_COLDBOOT) {
        log_printf("syscalls: restarting (pass=%u fail=%u so far)", (unsigned)checks_passed(),
                   (unsigned)checks_failed());
        enum MvStatus st = mvRestart(MV_RESTARTMODE_AUTOAPPLYUPDATE);
        /* Only reached if the restart did not happen. */
        check(false, "mvRestart", "returned status %u (%s)", (unsigned)st, status_name(st));
    } else {
        check(st_wake == MV_STATUS_OKAY && is_restart_reason((uint8_t)reason), "mvRestart",
              "wake reason after restart %u", (unsigned)reason);
    }

    log_printf("syscalls: DONE pass=%u fail=%u", (unsigned)checks_passed(), (unsigned)checks_failed());
    for (;;) {
        __WFI();
    }
}
