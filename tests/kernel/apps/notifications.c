/*
 * notifications - notification centres, their IRQ and ring, and system notifications.
 *
 * The host helps twice: on the log line "notify: update" it calls the kernel's
 * system_notifications.notify(UPDATE), and it watches the kernel's notification events.
 */
#include <string.h>

#include "check.h"
#include "stm32u585_regs.h"

#define IRQ_A     51u  /* TIM8_BRK: the centre under test */
#define IRQ_B     52u  /* TIM8_UP: pended by hand to make calls from an interrupt */
#define IRQ_FAST  53u  /* TIM8_TRG_COM: made fast, so unusable for notifications */
#define RTC_S_IRQ 3u   /* a secure interrupt line */
#define RING      4u

static volatile struct MvNotification s_ring[RING] __attribute__((aligned(8)));
static volatile struct MvNotification s_other[RING] __attribute__((aligned(8)));
static volatile struct MvNotification s_many[31][2] __attribute__((aligned(8)));
static MvNotificationHandle s_many_handles[31];
static const MvNotificationHandle s_flash_handle = (MvNotificationHandle)1;

static volatile uint32_t s_irq_a;
static volatile enum MvStatus s_from_irq_open = MV_STATUS__MAX;
static volatile enum MvStatus s_from_irq_close = MV_STATUS__MAX;

void TIM8_BRK_IRQHandler(void)
{
    s_irq_a++;
}

void TIM8_UP_IRQHandler(void)
{
    static const struct MvOpenSystemNotificationParams params = {0, 0, 0};
    MvSystemEventHandle handle = 0;
    s_from_irq_open = mvOpenSystemNotification(&params, &handle);
    s_from_irq_close = mvCloseSystemNotification(&handle);
}

static enum MvStatus setup(uint32_t irq, volatile void *buffer, uint32_t size,
                           MvNotificationHandle *handle)
{
    struct MvNotificationSetup s = {irq, (struct MvNotification *)buffer, size};
    return mvSetupNotifications(&s, handle);
}

static void check_setup_refusals(void)
{
    MvNotificationHandle h = 0;
    struct MvNotificationSetup good = {IRQ_A, (struct MvNotification *)s_ring, sizeof s_ring};

    expect("setup/null-setup", mvSetupNotifications(NULL, &h), MV_STATUS_PARAMETERFAULT);
    expect("setup/kernel-setup", mvSetupNotifications(PTR(KERNEL_FLASH), &h),
           MV_STATUS_PARAMETERFAULT);
    expect("setup/setup-past-sram", mvSetupNotifications(PTR(SRAM_END - 8u), &h),
           MV_STATUS_PARAMETERFAULT);
    expect("setup/null-handle", mvSetupNotifications(&good, NULL), MV_STATUS_PARAMETERFAULT);
    expect("setup/flash-handle", mvSetupNotifications(&good, PTR(APP_FLASH)),
           MV_STATUS_PARAMETERFAULT);
    expect("setup/secure-handle", mvSetupNotifications(&good, PTR(SECURE_SRAM)),
           MV_STATUS_PARAMETERFAULT);

    expect("setup/size-0", setup(IRQ_A, s_ring, 0, &h), MV_STATUS_INVALIDBUFFERSIZE);
    expect("setup/size-16", setup(IRQ_A, s_ring, 16, &h), MV_STATUS_INVALIDBUFFERSIZE);
    expect("setup/size-40", setup(IRQ_A, s_ring, 40, &h), MV_STATUS_INVALIDBUFFERSIZE);
    expect("setup/unaligned", setup(IRQ_A, (volatile uint8_t *)s_ring + 4, 32, &h),
           MV_STATUS_INVALIDBUFFERALIGNMENT);
    expect("setup/null-buffer", setup(IRQ_A, NULL, 32, &h), MV_STATUS_PARAMETERFAULT);
    expect("setup/flash-buffer", setup(IRQ_A, PTR(APP_FLASH), 32, &h), MV_STATUS_PARAMETERFAULT);
    expect("setup/kernel-buffer", setup(IRQ_A, PTR(SECURE_SRAM), 32, &h),
           MV_STATUS_PARAMETERFAULT);
    expect("setup/buffer-past-sram", setup(IRQ_A, PTR(SRAM_END - 32u), 64, &h),
           MV_STATUS_PARAMETERFAULT);
    expect("setup/huge-size", setup(IRQ_A, s_ring, 0xFFFFFFF0u, &h), MV_STATUS_PARAMETERFAULT);

    expect("setup/irq-126", setup(126, s_ring, sizeof s_ring, &h), MV_STATUS_INVALIDINTERRUPT);
    expect("setup/irq-huge", setup(0xFFFFFFFFu, s_ring, sizeof s_ring, &h),
           MV_STATUS_INVALIDINTERRUPT);
    expect("setup/irq-secure", setup(RTC_S_IRQ, s_ring, sizeof s_ring, &h),
           MV_STATUS_INVALIDINTERRUPT);
    expect("setup/irq-fast", mvSetFastInterrupt(IRQ_FAST), MV_STATUS_OKAY);
    expect("setup/irq-fast-refused", setup(IRQ_FAST, s_ring, sizeof s_ring, &h),
           MV_STATUS_INVALIDINTERRUPT);
    check(h == 0, "setup/no-handle-on-failure", "handle 0x%x written", (unsigned)(uintptr_t)h);
}

static MvNotificationHandle check_setup(void)
{
    MvNotificationHandle h = 0, other = 0;
    memset((void *)s_ring, 0, sizeof s_ring);
    enum MvStatus st = setup(IRQ_A, s_ring, sizeof s_ring, &h);
    check(st == MV_STATUS_OKAY && h != 0, "setup", "status 0x%x handle 0x%x", (unsigned)st,
          (unsigned)(uintptr_t)h);

    expect("setup/same-buffer", setup(IRQ_B, s_ring, sizeof s_ring, &other),
           MV_STATUS_BUFFERALREADYINUSE);
    expect("setup/overlapping-buffer", setup(IRQ_B, &s_ring[RING - 1], 32, &other),
           MV_STATUS_BUFFERALREADYINUSE);
    expect("setup/irq-in-use", setup(IRQ_A, s_other, sizeof s_other, &other),
           MV_STATUS_INVALIDINTERRUPT);
    expect("fast/notification-irq-refused", mvSetFastInterrupt(IRQ_A), MV_STATUS_INVALIDINTERRUPT);

    /* 32 centres at most: this one and 31 more; the 33rd is refused. */
    uint32_t irq = 60, made = 0;
    for (uint32_t i = 0; i < 31; i++, irq++) {
        made += setup(irq, s_many[i], sizeof s_many[i], &s_many_handles[i]) == MV_STATUS_OKAY;
    }
    check(made == 31, "setup/32-centres", "made %u of 31 more", (unsigned)made);
    expect("setup/too-many", setup(IRQ_B, s_other, sizeof s_other, &other),
           MV_STATUS_TOOMANYNOTIFICATIONBUFFERS);
    uint32_t closed = 0;
    for (uint32_t i = 0; i < 31; i++) {
        closed += mvCloseNotifications(&s_many_handles[i]) == MV_STATUS_OKAY && !s_many_handles[i];
    }
    check(closed == 31, "close/31-centres", "closed %u of 31", (unsigned)closed);
    return h;
}

static void check_delivery(MvNotificationHandle h)
{
    nvic_clear_pending(IRQ_A);
    nvic_enable_irq(IRQ_A);
    uint64_t before = 0, after = 0;
    mvGetMicroseconds(&before);
    enum MvStatus st = mvTempTriggerNotification(h, MV_EVENTTYPE_CHANNELDATAREADABLE, 0x1234);
    mvGetMicroseconds(&after);
    check(st == MV_STATUS_OKAY && s_irq_a == 1, "trigger/irq", "status 0x%x irqs %u", (unsigned)st,
          (unsigned)s_irq_a);
    check(s_ring[0].event_type == MV_EVENTTYPE_CHANNELDATAREADABLE && s_ring[0].tag == 0x1234 &&
              s_ring[0].microseconds >= before && s_ring[0].microseconds <= after &&
              s_ring[1].event_type == 0,
          "trigger/entry", "type %u tag 0x%x", (unsigned)s_ring[0].event_type,
          (unsigned)s_ring[0].tag);

    /* Four more: round the ring, over the slot the application has not cleared. */
    for (uint32_t tag = 1; tag <= RING; tag++) {
        mvTempTriggerNotification(h, MV_EVENTTYPE_NETWORKSTATUSCHANGED, tag);
    }
    check(s_irq_a == 1 + RING && s_ring[0].tag == RING && s_ring[1].tag == 1 &&
              s_ring[RING - 1].tag == RING - 1,
          "trigger/wraps", "irqs %u slot0 tag %u", (unsigned)s_irq_a, (unsigned)s_ring[0].tag);

    expect("trigger/zero-handle", mvTempTriggerNotification(0, MV_EVENTTYPE_NOEVENT, 0),
           MV_STATUS_INVALIDHANDLE);
    expect("trigger/bad-handle",
           mvTempTriggerNotification((MvNotificationHandle)((uintptr_t)h ^ 1u),
                                     MV_EVENTTYPE_NOEVENT, 0),
           MV_STATUS_INVALIDHANDLE);
}

static void check_system_notifications(MvNotificationHandle h)
{
    MvSystemEventHandle sys = 0;
    struct MvOpenSystemNotificationParams params = {h, 0xABCD, MV_SYSTEMNOTIFICATIONSOURCE_UPDATE};
    struct MvOpenSystemNotificationParams bad_centre = params, bad_source = params;
    bad_centre.notification_handle = (MvNotificationHandle)((uintptr_t)h ^ 1u);
    bad_source.notification_source = (enum MvSystemNotificationSource)7;

    expect("system/null-params", mvOpenSystemNotification(NULL, &sys), MV_STATUS_PARAMETERFAULT);
    expect("system/kernel-params", mvOpenSystemNotification(PTR(KERNEL_FLASH), &sys),
           MV_STATUS_PARAMETERFAULT);
    expect("system/null-handle", mvOpenSystemNotification(&params, NULL), MV_STATUS_PARAMETERFAULT);
    expect("system/bad-centre", mvOpenSystemNotification(&bad_centre, &sys), MV_STATUS_INVALIDHANDLE);
    expect("system/bad-source", mvOpenSystemNotification(&bad_source, &sys), MV_STATUS_INVALIDHANDLE);
    enum MvStatus st = mvOpenSystemNotification(&params, &sys);
    check(st == MV_STATUS_OKAY && sys != 0, "system/open", "status 0x%x", (unsigned)st);

    uint32_t irqs = s_irq_a;
    log_printf("notify: update");  /* the host reports an update downloaded */
    volatile struct MvNotification *slot = &s_ring[(irqs) % RING];
    check(s_irq_a == irqs + 1 && slot->event_type == MV_EVENTTYPE_UPDATEDOWNLOADED &&
              slot->tag == 0xABCD,
          "system/update-delivered", "irqs %u type %u tag 0x%x", (unsigned)(s_irq_a - irqs),
          (unsigned)slot->event_type, (unsigned)slot->tag);

    /* From an interrupt handler these calls are refused. */
    nvic_enable_irq(IRQ_B);
    NVIC_ISPR(IRQ_B >> 5) = 1u << (IRQ_B & 31u);
    __DSB();
    __ISB();
    expect("system/open-from-irq", s_from_irq_open, MV_STATUS_UNAVAILABLE);
    expect("system/close-from-irq", s_from_irq_close, MV_STATUS_UNAVAILABLE);

    MvSystemEventHandle wrong = (MvSystemEventHandle)((uintptr_t)sys ^ 1u);
    expect("system/close-null", mvCloseSystemNotification(NULL), MV_STATUS_PARAMETERFAULT);
    expect("system/close-bad", mvCloseSystemNotification(&wrong), MV_STATUS_INVALIDHANDLE);
    st = mvCloseSystemNotification(&sys);
    check(st == MV_STATUS_OKAY && sys == 0, "system/close", "status 0x%x handle 0x%x", (unsigned)st,
          (unsigned)(uintptr_t)sys);
}

static void check_close(MvNotificationHandle h)
{
    MvNotificationHandle wrong = (MvNotificationHandle)((uintptr_t)h ^ 1u);
    expect("close/null", mvCloseNotifications(NULL), MV_STATUS_PARAMETERFAULT);
    expect("close/flash-pointer", mvCloseNotifications((MvNotificationHandle *)&s_flash_handle),
           MV_STATUS_PARAMETERFAULT);
    expect("close/kernel-pointer", mvCloseNotifications(PTR(KERNEL_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("close/bad-handle", mvCloseNotifications(&wrong), MV_STATUS_INVALIDHANDLE);

    MvNotificationHandle kept = h;
    enum MvStatus st = mvCloseNotifications(&h);
    check(st == MV_STATUS_OKAY && h == 0, "close", "status 0x%x handle 0x%x", (unsigned)st,
          (unsigned)(uintptr_t)h);
    uint32_t irqs = s_irq_a;
    expect("close/trigger-after", mvTempTriggerNotification(kept, MV_EVENTTYPE_NOEVENT, 1),
           MV_STATUS_INVALIDHANDLE);
    expect("close/twice", mvCloseNotifications(&kept), MV_STATUS_INVALIDHANDLE);
    check(s_irq_a == irqs, "close/no-more-irqs", "irqs %u", (unsigned)(s_irq_a - irqs));

    /* The IRQ and the buffer are free again. */
    st = setup(IRQ_A, s_ring, sizeof s_ring, &h);
    check(st == MV_STATUS_OKAY, "setup/after-close", "status 0x%x", (unsigned)st);
    mvCloseNotifications(&h);
}

int main(void)
{
    log_init();
    log_printf("notifications: start");
    check_setup_refusals();
    MvNotificationHandle h = check_setup();
    check_delivery(h);
    check_system_notifications(h);
    check_close(h);
    done();
}
