/*
 * config - reads configuration and a secret from the service over a configuration-fetch channel.
 *
 * It fetches, in one request: the device's config "greeting", the account's secret "api-key", the
 * device-scope key "units" (the device has none, so the account's answers) and "no-such-key" (which
 * must be KEYNOTFOUND). It logs the configs' values and, never the secret itself, the secret's length
 * and byte sum; then "config: DONE pass=<n> fail=<m>".
 */
#include <stdint.h>

#include "checks.h"
#include "log.h"
#include "net.h"

#define CONFIG_TAG 0xC0F1u

static uint8_t s_rx[1536] __attribute__((aligned(512)));
static uint8_t s_tx[512] __attribute__((aligned(512)));

#define KEY(scope_, store_, text) \
    {.scope = MV_CONFIGKEYFETCHSCOPE_##scope_, .store = MV_CONFIGKEYFETCHSTORE_##store_, \
     .key = {(const uint8_t *)(text), sizeof(text) - 1}}

static const struct MvConfigKeyToFetch s_keys[] = {
    KEY(DEVICE, CONFIG, "greeting"),
    KEY(ACCOUNT, SECRET, "api-key"),
    KEY(DEVICE, CONFIG, "units"),
    KEY(DEVICE, CONFIG, "no-such-key"),
};

static enum MvConfigKeyFetchResult read_item(MvChannelHandle channel, uint32_t index, char *value,
                                             uint32_t size, uint32_t *length)
{
    enum MvConfigKeyFetchResult result = MV_CONFIGKEYFETCHRESULT_SERVERERROR;
    struct MvConfigResponseReadItemParams item = {
        .item_index = index, .result = &result, .buf = {(uint8_t *)value, size - 1, length}};
    *length = 0;
    enum MvStatus status = mvReadConfigResponseItem(channel, &item);
    check(status == MV_STATUS_OKAY, "read item", "item %u: status %u", (unsigned)index, (unsigned)status);
    value[*length < size ? *length : size - 1] = '\0';
    return result;
}

int main(void)
{
    log_init();
    enum MvStatus status = net_start(60000);
    check(status == MV_STATUS_OKAY, "network", "status %u", (unsigned)status);
    MvChannelHandle channel = 0;
    status = net_open_channel(MV_CHANNELTYPE_CONFIGFETCH, NULL, CONFIG_TAG, s_rx, sizeof s_rx, s_tx,
                              sizeof s_tx, &channel);
    check(status == MV_STATUS_OKAY, "open", "status %u", (unsigned)status);

    struct MvConfigKeyFetchParams request = {.num_items = 4, .keys_to_fetch = s_keys};
    status = mvSendConfigFetchRequest(channel, &request);
    check(status == MV_STATUS_OKAY, "send", "status %u", (unsigned)status);
    check(mvSendConfigFetchRequest(channel, &request) == MV_STATUS_REQUESTALREADYSENT, "send once",
          "a second request was not refused");
    enum MvEventType event = net_wait(CONFIG_TAG, 20000);
    check(event == MV_EVENTTYPE_CHANNELDATAREADABLE, "answer", "event %u", (unsigned)event);

    struct MvConfigResponseData response = {0};
    status = mvReadConfigFetchResponseData(channel, &response);
    check(status == MV_STATUS_OKAY && response.result == MV_CONFIGFETCHRESULT_OK && response.num_items == 4,
          "response", "status %u result %u items %u", (unsigned)status, (unsigned)response.result,
          (unsigned)response.num_items);

    char value[256];
    uint32_t length = 0;
    enum MvConfigKeyFetchResult result = read_item(channel, 0, value, sizeof value, &length);
    check(result == MV_CONFIGKEYFETCHRESULT_OK, "greeting", "result %u", (unsigned)result);
    log_printf("config: greeting = %s", value);

    result = read_item(channel, 1, value, sizeof value, &length);
    uint32_t sum = 0;
    for (uint32_t i = 0; i < length; i++) sum += (uint8_t)value[i];
    check(result == MV_CONFIGKEYFETCHRESULT_OK, "secret", "result %u", (unsigned)result);
    log_printf("config: api-key has %u bytes, byte sum %u", (unsigned)length, (unsigned)sum);

    result = read_item(channel, 2, value, sizeof value, &length);
    check(result == MV_CONFIGKEYFETCHRESULT_OK, "units", "result %u", (unsigned)result);
    log_printf("config: units = %s", value);

    result = read_item(channel, 3, value, sizeof value, &length);
    check(result == MV_CONFIGKEYFETCHRESULT_KEYNOTFOUND && length == 0, "missing key", "result %u",
          (unsigned)result);

    uint32_t index = 4;
    enum MvConfigKeyFetchResult unused;
    struct MvConfigResponseReadItemParams beyond = {.item_index = index, .result = &unused,
                                                    .buf = {(uint8_t *)value, sizeof value, &length}};
    check(mvReadConfigResponseItem(channel, &beyond) == MV_STATUS_INDEXINVALID, "index",
          "item 4 of 4 was not refused");

    status = mvCloseChannel(&channel);
    check(status == MV_STATUS_OKAY && channel == 0, "close", "status %u", (unsigned)status);
    log_printf("config: DONE pass=%u fail=%u", (unsigned)checks_passed(), (unsigned)checks_failed());
    for (;;) {
        __asm volatile("wfi");
    }
}
