/*
 * network - mvRequestNetwork, mvReleaseNetwork, mvGetNetworkStatus and mvGetNetworkReasons.
 *
 * The host helps: on "net: up" it brings the kernel's link up (the device then has a broker), on
 * "net: down" it takes it down again.
 */
#include <stddef.h>

#include "check.h"

#define IRQ_A 51u

static volatile struct MvNotification s_ring[8] __attribute__((aligned(8)));

static enum MvNetworkStatus status_of(MvNetworkHandle handle)
{
    enum MvNetworkStatus status = MV_NETWORKSTATUS__MAX;
    expect("status/call", mvGetNetworkStatus(handle, &status), MV_STATUS_OKAY);
    return status;
}

int main(void)
{
    log_init();
    MvNotificationHandle centre = 0;
    struct MvNotificationSetup setup = {IRQ_A, (struct MvNotification *)s_ring, sizeof s_ring};
    expect("setup", mvSetupNotifications(&setup, &centre), MV_STATUS_OKAY);

    enum MvNetworkReason reasons = 0;
    uint32_t count = 99;
    expect("reasons", mvGetNetworkReasons(&reasons, &count), MV_STATUS_OKAY);
    check((reasons & MV_NETWORKREASON_NEVERUSEDNETWORKAPI) && !(reasons & MV_NETWORKREASON_USINGNETWORK)
              && count == 0,
          "reasons/never-used", "reasons=%x count=%u", (unsigned)reasons, (unsigned)count);
    expect("reasons/null", mvGetNetworkReasons(NULL, &count), MV_STATUS_PARAMETERFAULT);
    expect("reasons/flash-count", mvGetNetworkReasons(&reasons, PTR(APP_FLASH)), MV_STATUS_PARAMETERFAULT);

    MvNetworkHandle handle = 0;
    struct MvRequestNetworkParams params = {.version = 2, .v1 = {centre, 7}};
    expect("request/version", mvRequestNetwork(&params, &handle), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
    params.version = 1;
    params.v1.notification_handle = 0;
    expect("request/no-centre", mvRequestNetwork(&params, &handle), MV_STATUS_INVALIDHANDLE);
    params.v1.notification_handle = centre;
    expect("request/null-params", mvRequestNetwork(NULL, &handle), MV_STATUS_PARAMETERFAULT);
    expect("request/kernel-handle", mvRequestNetwork(&params, PTR(KERNEL_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("request", mvRequestNetwork(&params, &handle), MV_STATUS_OKAY);
    check(handle != 0, "request/handle", "handle=%p", (void *)handle);

    enum MvNetworkStatus now = status_of(handle);
    check(now == MV_NETWORKSTATUS_DELIBERATELYOFFLINE, "status/no-broker", "status=%u", (unsigned)now);
    enum MvNetworkStatus status;
    expect("status/no-handle", mvGetNetworkStatus(0, &status), MV_STATUS_INVALIDHANDLE);
    expect("status/null", mvGetNetworkStatus(handle, NULL), MV_STATUS_PARAMETERFAULT);
    expect("reasons/using", mvGetNetworkReasons(&reasons, &count), MV_STATUS_OKAY);
    check((reasons & MV_NETWORKREASON_USINGNETWORK) && !(reasons & MV_NETWORKREASON_NEVERUSEDNETWORKAPI)
              && count == 1,
          "reasons/using-network", "reasons=%x count=%u", (unsigned)reasons, (unsigned)count);

    log_printf("net: up");
    check(s_ring[0].event_type == MV_EVENTTYPE_NETWORKSTATUSCHANGED && s_ring[0].tag == 7, "notify/up",
          "event=%u tag=%u", (unsigned)s_ring[0].event_type, (unsigned)s_ring[0].tag);
    now = status_of(handle);
    check(now == MV_NETWORKSTATUS_CONNECTED, "status/connected", "status=%u", (unsigned)now);
    log_printf("net: down");
    check(s_ring[1].event_type == MV_EVENTTYPE_NETWORKSTATUSCHANGED && s_ring[1].tag == 7, "notify/down",
          "event=%u tag=%u", (unsigned)s_ring[1].event_type, (unsigned)s_ring[1].tag);
    now = status_of(handle);
    check(now == MV_NETWORKSTATUS_CONNECTING, "status/connecting", "status=%u", (unsigned)now);

    expect("release", mvReleaseNetwork(&handle), MV_STATUS_OKAY);
    check(handle == 0, "release/zeroed", "handle=%p", (void *)handle);
    expect("release/again", mvReleaseNetwork(&handle), MV_STATUS_INVALIDHANDLE);
    expect("reasons/released", mvGetNetworkReasons(&reasons, &count), MV_STATUS_OKAY);
    check(count == 0 && !(reasons & MV_NETWORKREASON_USINGNETWORK), "reasons/none-held", "count=%u",
          (unsigned)count);
    done();
}
