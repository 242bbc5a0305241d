/*
 * channels - the channel mechanism every channel type shares, on an opaque ("console") channel.
 *
 * The host plays the link and the service's relay: on "chan: up" the link comes up with a relay,
 * "chan: credit N" gives N bytes of send buffer back, "chan: data" sends bytes that wrap the receive
 * ring, "chan: close" closes the channel from the server's side, "chan: down" takes the link down.
 */
#include <stddef.h>
#include <string.h>

#include "check.h"

#define IRQ_A 51u
#define TAG   0x77u

static volatile struct MvNotification s_ring[16] __attribute__((aligned(8)));
static uint8_t s_rx[1024] __attribute__((aligned(512)));
static uint8_t s_tx[512] __attribute__((aligned(512)));
static uint8_t s_more[4][1024] __attribute__((aligned(512)));
static uint8_t s_odd[1024] __attribute__((aligned(256)));
static uint8_t s_big[600];
static uint32_t s_seen;

static MvNotificationHandle s_centre;
static MvNetworkHandle s_network;

static struct MvOpenChannelParams params(uint8_t *rx, uint32_t rx_len, uint8_t *tx, uint32_t tx_len)
{
    static const char endpoint[] = "console";
    struct MvOpenChannelParams p = {
        .version = 1,
        .v1 = {.notification_handle = s_centre, .notification_tag = TAG, .network_handle = s_network,
               .receive_buffer = rx, .receive_buffer_len = rx_len, .send_buffer = tx,
               .send_buffer_len = tx_len, .channel_type = MV_CHANNELTYPE_OPAQUEBYTES,
               .endpoint = {(const uint8_t *)endpoint, sizeof endpoint - 1}}};
    return p;
}

/* The event types of the notifications with our tag that came since the last look. */
static uint32_t events(void)
{
    uint32_t found = 0;
    for (uint32_t i = 0; i < 16; i++) {
        if (s_ring[i].tag == TAG && s_ring[i].event_type != MV_EVENTTYPE_NOEVENT) {
            found |= 1u << s_ring[i].event_type;
            s_ring[i].event_type = MV_EVENTTYPE_NOEVENT;
        }
    }
    s_seen |= found;
    return found;
}

int main(void)
{
    log_init();
    struct MvNotificationSetup setup = {IRQ_A, (struct MvNotification *)s_ring, sizeof s_ring};
    expect("setup", mvSetupNotifications(&setup, &s_centre), MV_STATUS_OKAY);
    struct MvRequestNetworkParams request = {.version = 1, .v1 = {s_centre, 1}};
    expect("request", mvRequestNetwork(&request, &s_network), MV_STATUS_OKAY);

    MvChannelHandle channel = 0;
    struct MvOpenChannelParams p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    expect("open/offline", mvOpenChannel(&p, &channel), MV_STATUS_NETWORKNOTCONNECTED);
    log_printf("chan: up");

    expect("open/null", mvOpenChannel(NULL, &channel), MV_STATUS_PARAMETERFAULT);
    expect("open/secure-params", mvOpenChannel(PTR(KERNEL_FLASH), &channel), MV_STATUS_PARAMETERFAULT);
    expect("open/flash-handle", mvOpenChannel(&p, PTR(APP_FLASH)), MV_STATUS_PARAMETERFAULT);
    p.version = 2;
    expect("open/version", mvOpenChannel(&p, &channel), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
    p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    p.v1.network_handle = 0;
    expect("open/no-network", mvOpenChannel(&p, &channel), MV_STATUS_INVALIDHANDLE);
    p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    p.v1.notification_handle = (MvNotificationHandle)0x1234;
    expect("open/no-centre", mvOpenChannel(&p, &channel), MV_STATUS_INVALIDHANDLE);
    p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    p.v1.channel_type = (enum MvChannelType)9;
    expect("open/type", mvOpenChannel(&p, &channel), MV_STATUS_UNKNOWNCHANNELTYPE);
    p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    p.v1.endpoint.data = (const uint8_t *)"telnet";
    p.v1.endpoint.length = 6;
    expect("open/endpoint", mvOpenChannel(&p, &channel), MV_STATUS_UNKNOWNCHANNELENDPOINT);
    p.v1.endpoint.data = PTR(KERNEL_FLASH);
    expect("open/endpoint-pointer", mvOpenChannel(&p, &channel), MV_STATUS_PARAMETERFAULT);
    p = params(s_odd, sizeof s_odd, s_tx, sizeof s_tx);
    expect("open/alignment", mvOpenChannel(&p, &channel),
           ((uintptr_t)s_odd % 512) ? MV_STATUS_INVALIDBUFFERALIGNMENT : MV_STATUS_OKAY);
    p = params(s_rx, 1000, s_tx, sizeof s_tx);
    expect("open/size", mvOpenChannel(&p, &channel), MV_STATUS_INVALIDBUFFERSIZE);
    p = params(s_rx, 0, s_tx, sizeof s_tx);
    expect("open/empty", mvOpenChannel(&p, &channel), MV_STATUS_INVALIDBUFFERSIZE);
    p = params(PTR(SRAM_END - 512), 1024, s_tx, sizeof s_tx);
    expect("open/past-sram", mvOpenChannel(&p, &channel), MV_STATUS_PARAMETERFAULT);
    p = params(s_rx, sizeof s_rx, s_rx, 512);
    expect("open/same-buffer", mvOpenChannel(&p, &channel), MV_STATUS_BUFFERALREADYINUSE);
    p = params(s_rx, sizeof s_rx, (uint8_t *)s_ring, 512);
    expect("open/notification-buffer", mvOpenChannel(&p, &channel),
           ((uintptr_t)s_ring % 512) ? MV_STATUS_INVALIDBUFFERALIGNMENT : MV_STATUS_BUFFERALREADYINUSE);

    p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    expect("open", mvOpenChannel(&p, &channel), MV_STATUS_OKAY);
    check(channel != 0, "open/handle", "handle %p", (void *)channel);
    enum MvClosureReason reason = MV_CLOSUREREASON__MAX;
    expect("closure/open", mvGetChannelClosureReason(channel, &reason), MV_STATUS_OKAY);
    check(reason == MV_CLOSUREREASON_NONE, "closure/none", "reason %u", (unsigned)reason);

    /* Writing: the send buffer bounds what is in flight until the relay gives credit. */
    uint32_t n = 0;
    expect("write", mvWriteChannel(channel, (const uint8_t *)"hello", 5, &n), MV_STATUS_OKAY);
    check(n == 507, "write/available", "available %u", (unsigned)n);
    expect("write/too-much", mvWriteChannel(channel, s_big, 508, &n), MV_STATUS_INVALIDBUFFERSIZE);
    check(n == 507, "write/too-much-available", "available %u", (unsigned)n);
    expect("write/bad-data", mvWriteChannel(channel, PTR(KERNEL_FLASH), 4, &n), MV_STATUS_PARAMETERFAULT);
    expect("write/late", mvWriteChannel(channel, (const uint8_t *)"!", 1, PTR(APP_FLASH)), MV_STATUS_LATEFAULT);
    memset(s_big, 'x', sizeof s_big);
    expect("stream", mvWriteChannelStream(channel, s_big, sizeof s_big, &n), MV_STATUS_OKAY);
    check(n == 506, "stream/partial", "written %u", (unsigned)n);
    expect("stream/full", mvWriteChannelStream(channel, s_big, 10, &n), MV_STATUS_OKAY);
    check(n == 0, "stream/none", "written %u", (unsigned)n);
    log_printf("chan: credit 300");
    check(events() & (1u << MV_EVENTTYPE_CHANNELDATAWRITESPACE), "credit/notified", "seen %x",
          (unsigned)s_seen);
    expect("write/after-credit", mvWriteChannel(channel, s_big, 300, &n), MV_STATUS_OKAY);
    check(n == 0, "write/after-credit-available", "available %u", (unsigned)n);

    /* Reading: the relay's bytes wrap round the receive ring; each read is one contiguous piece. */
    uint8_t *data = NULL;
    expect("read/empty", mvReadChannel(channel, &data, &n), MV_STATUS_OKAY);
    check(n == 0, "read/nothing", "length %u", (unsigned)n);
    log_printf("chan: data");
    check(events() & (1u << MV_EVENTTYPE_CHANNELDATAREADABLE), "data/notified", "seen %x", (unsigned)s_seen);
    expect("read", mvReadChannel(channel, &data, &n), MV_STATUS_OKAY);
    check(data == s_rx && n == 800 && data[0] == 'a' && data[799] == 'a', "read/first", "%p %u",
          (void *)data, (unsigned)n);
    expect("read/complete", mvReadChannelComplete(channel, 600), MV_STATUS_OKAY);
    log_printf("chan: data2");
    expect("read/wrapped", mvReadChannel(channel, &data, &n), MV_STATUS_OKAY);
    check(data == s_rx + 600 && n == 424 && data[0] == 'a' && data[200] == 'b', "read/to-the-end", "%p %u",
          (void *)data, (unsigned)n);
    expect("read/complete-end", mvReadChannelComplete(channel, 424), MV_STATUS_OKAY);
    expect("read/rest", mvReadChannel(channel, &data, &n), MV_STATUS_OKAY);
    check(data == s_rx && n == 176 && data[175] == 'b', "read/from-the-start", "%p %u", (void *)data,
          (unsigned)n);
    expect("read/complete-rest", mvReadChannelComplete(channel, 176), MV_STATUS_OKAY);
    expect("read/null", mvReadChannel(channel, NULL, &n), MV_STATUS_PARAMETERFAULT);
    expect("read/wrong-handle", mvReadChannel(s_network, &data, &n), MV_STATUS_INVALIDHANDLE);

    /* Closed by the server: the handle stays until the application closes it. */
    log_printf("chan: close");
    check(events() & (1u << MV_EVENTTYPE_CHANNELNOTCONNECTED), "close/notified", "seen %x", (unsigned)s_seen);
    expect("closed/write", mvWriteChannel(channel, s_big, 1, &n), MV_STATUS_CHANNELCLOSED);
    expect("closed/read", mvReadChannel(channel, &data, &n), MV_STATUS_CHANNELCLOSED);
    expect("closed/reason", mvGetChannelClosureReason(channel, &reason), MV_STATUS_OKAY);
    check(reason == MV_CLOSUREREASON_CHANNELCLOSEDBYSERVER, "closed/by-server", "reason %u", (unsigned)reason);
    expect("close/flash", mvCloseChannel(PTR(APP_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("close", mvCloseChannel(&channel), MV_STATUS_OKAY);
    check(channel == 0, "close/zeroed", "handle %p", (void *)channel);
    expect("close/again", mvCloseChannel(&channel), MV_STATUS_INVALIDHANDLE);

    /* Four at once; a fifth is refused. */
    MvChannelHandle many[5] = {0};
    for (uint32_t i = 0; i < 4; i++) {
        p = params(s_more[i], 512, s_more[i] + 512, 512);
        expect("many/open", mvOpenChannel(&p, &many[i]), MV_STATUS_OKAY);
    }
    p = params(s_rx, sizeof s_rx, s_tx, sizeof s_tx);
    expect("many/fifth", mvOpenChannel(&p, &many[4]), MV_STATUS_TOOMANYCHANNELS);
    /* The link going down closes every channel. */
    log_printf("chan: down");
    expect("down/reason", mvGetChannelClosureReason(many[0], &reason), MV_STATUS_OKAY);
    check(reason == MV_CLOSUREREASON_NETWORKDISCONNECTED, "down/closed", "reason %u", (unsigned)reason);
    for (uint32_t i = 0; i < 4; i++) {
        expect("down/close", mvCloseChannel(&many[i]), MV_STATUS_OKAY);
    }
    log_printf("chan: up");
    /* More than eight opens within a second are refused: 5 so far, in well under a second. */
    uint32_t opened = 0;
    enum MvStatus last = MV_STATUS_OKAY;
    while (opened < 10) {
        last = mvOpenChannel(&p, &channel);
        if (last != MV_STATUS_OKAY) break;
        opened++;
        mvCloseChannel(&channel);
    }
    check(last == MV_STATUS_RATELIMITED && opened == 3, "rate-limited", "status %u after %u", (unsigned)last,
          (unsigned)opened);
    done();
}
