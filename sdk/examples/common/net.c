/*
 * net.c - the examples' notification centre, network request and channel opening.
 *
 * The microvisor writes notifications round a ring and pends TIM8_UP's IRQ; the handler only counts,
 * and net_wait walks the ring from where it last looked, clearing each slot it has read.
 */
#include "net.h"

#include "stm32u585_regs.h"

#define NOTIFY_IRQn 52u  /* TIM8_UP: no example uses the timer itself */
#define SLOTS       16u

static volatile struct MvNotification s_ring[SLOTS] __attribute__((aligned(8)));
static volatile uint32_t s_irqs;
static uint32_t s_next;
static MvNotificationHandle s_centre;
static MvNetworkHandle s_network;

void TIM8_UP_IRQHandler(void)
{
    s_irqs++;
}

uint64_t net_now_us(void)
{
    uint64_t now = 0;
    mvGetMicroseconds(&now);
    return now;
}

static enum MvEventType take(uint32_t tag)
{
    for (uint32_t i = 0; i < SLOTS; i++) {
        volatile struct MvNotification *slot = &s_ring[(s_next + i) % SLOTS];
        if (slot->event_type != MV_EVENTTYPE_NOEVENT && slot->tag == tag) {
            enum MvEventType type = slot->event_type;
            slot->event_type = MV_EVENTTYPE_NOEVENT;
            s_next = (s_next + i + 1) % SLOTS;
            return type;
        }
    }
    return MV_EVENTTYPE_NOEVENT;
}

enum MvEventType net_wait(uint32_t tag, uint32_t timeout_ms)
{
    uint64_t deadline = net_now_us() + 1000ull * timeout_ms;
    for (;;) {
        enum MvEventType type = take(tag);
        if (type != MV_EVENTTYPE_NOEVENT || net_now_us() >= deadline) {
            return type;
        }
        __asm volatile("wfi");
    }
}

enum MvStatus net_start(uint32_t timeout_ms)
{
    struct MvNotificationSetup setup = {
        .irq = NOTIFY_IRQn, .buffer = (struct MvNotification *)s_ring, .buffer_size = sizeof s_ring};
    enum MvStatus status = mvSetupNotifications(&setup, &s_centre);
    if (status != MV_STATUS_OKAY) {
        return status;
    }
    NVIC_ISER(NOTIFY_IRQn / 32u) = 1u << (NOTIFY_IRQn % 32u);
    struct MvRequestNetworkParams params = {
        .version = 1, .v1 = {.notification_handle = s_centre, .notification_tag = NET_TAG}};
    status = mvRequestNetwork(&params, &s_network);
    if (status != MV_STATUS_OKAY) {
        return status;
    }
    uint64_t deadline = net_now_us() + 1000ull * timeout_ms;
    for (;;) {
        enum MvNetworkStatus state = MV_NETWORKSTATUS_DELIBERATELYOFFLINE;
        status = mvGetNetworkStatus(s_network, &state);
        if (status != MV_STATUS_OKAY || state == MV_NETWORKSTATUS_CONNECTED) {
            return status;
        }
        if (net_now_us() >= deadline) {
            return MV_STATUS_NETWORKNOTCONNECTED;
        }
        net_wait(NET_TAG, 1000);
    }
}

enum MvStatus net_open_channel(enum MvChannelType type, const char *endpoint, uint32_t tag,
                               uint8_t *rx, uint32_t rx_len, uint8_t *tx, uint32_t tx_len,
                               MvChannelHandle *handle)
{
    uint32_t length = 0;
    while (endpoint != NULL && endpoint[length] != '\0') length++;
    struct MvOpenChannelParams params = {
        .version = 1,
        .v1 = {.notification_handle = s_centre, .notification_tag = tag, .network_handle = s_network,
               .receive_buffer = rx, .receive_buffer_len = rx_len, .send_buffer = tx,
               .send_buffer_len = tx_len, .channel_type = type,
               .endpoint = {(const uint8_t *)(endpoint != NULL ? endpoint : ""), length}}};
    return mvOpenChannel(&params, handle);
}
