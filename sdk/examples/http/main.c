/*
 * http - makes HTTP requests through the service over HTTP channels.
 *
 * The base URL comes from the account's config "http-base" (e.g. https://api.example.test:8443). The
 * application then GETs <base>/todos/1 and POSTs a small JSON document to <base>/echo, each on a
 * channel of its own, and logs the status, the headers' count, a Content-Type header and the body
 * ("http: GET 200 body {...}"). It checks the published rules on the way (one request per channel, a
 * plain http:// URL refused by the service) and ends with "http: DONE pass=<n> fail=<m>".
 */
#include <stdint.h>

#include "checks.h"
#include "log.h"
#include "net.h"

#define HTTP_TAG   0x4854u
#define CONFIG_TAG 0xC0F1u
#define BODY_MAX   1024u

static uint8_t s_rx[1536] __attribute__((aligned(512)));
static uint8_t s_tx[1024] __attribute__((aligned(512)));
static char s_base[160];
static char s_url[256];
static char s_body[BODY_MAX + 1];

static uint32_t length_of(const char *text)
{
    uint32_t n = 0;
    while (text[n] != '\0') n++;
    return n;
}

static void join(char *out, uint32_t size, const char *a, const char *b)
{
    uint32_t n = 0;
    for (; *a != '\0' && n + 1 < size; a++) out[n++] = *a;
    for (; *b != '\0' && n + 1 < size; b++) out[n++] = *b;
    out[n] = '\0';
}

static void fetch_base(void)
{
    MvChannelHandle channel = 0;
    enum MvStatus status = net_open_channel(MV_CHANNELTYPE_CONFIGFETCH, NULL, CONFIG_TAG, s_rx,
                                            sizeof s_rx, s_tx, sizeof s_tx, &channel);
    static const struct MvConfigKeyToFetch key = {
        .scope = MV_CONFIGKEYFETCHSCOPE_ACCOUNT, .store = MV_CONFIGKEYFETCHSTORE_CONFIG,
        .key = {(const uint8_t *)"http-base", 9}};
    struct MvConfigKeyFetchParams request = {.num_items = 1, .keys_to_fetch = &key};
    if (status == MV_STATUS_OKAY) status = mvSendConfigFetchRequest(channel, &request);
    if (status == MV_STATUS_OKAY && net_wait(CONFIG_TAG, 20000) != MV_EVENTTYPE_CHANNELDATAREADABLE) {
        status = MV_STATUS_RESPONSENOTPRESENT;
    }
    enum MvConfigKeyFetchResult result = MV_CONFIGKEYFETCHRESULT_SERVERERROR;
    uint32_t length = 0;
    struct MvConfigResponseReadItemParams item = {
        .item_index = 0, .result = &result, .buf = {(uint8_t *)s_base, sizeof s_base - 1, &length}};
    if (status == MV_STATUS_OKAY) status = mvReadConfigResponseItem(channel, &item);
    s_base[length] = '\0';
    check(status == MV_STATUS_OKAY && result == MV_CONFIGKEYFETCHRESULT_OK, "base URL",
          "status %u result %u", (unsigned)status, (unsigned)result);
    mvCloseChannel(&channel);
}

/* One request on a channel of its own; the response's status (0: none) and body in s_body. */
static uint32_t request(const char *method, const char *url, const char *body, enum MvHttpResult *result)
{
    MvChannelHandle channel = 0;
    enum MvStatus status = net_open_channel(MV_CHANNELTYPE_HTTP, NULL, HTTP_TAG, s_rx, sizeof s_rx,
                                            s_tx, sizeof s_tx, &channel);
    check(status == MV_STATUS_OKAY, "open", "%s: status %u", method, (unsigned)status);
    static const char content_type[] = "Content-Type: application/json";
    struct MvHttpHeader headers[] = {{sizeof content_type - 1, (const uint8_t *)content_type}};
    struct MvHttpRequest req = {
        .method = {(const uint8_t *)method, length_of(method)},
        .url = {(const uint8_t *)url, length_of(url)},
        .num_headers = body != NULL ? 1 : 0, .headers = headers,
        .body = {(const uint8_t *)(body != NULL ? body : ""), body != NULL ? length_of(body) : 0},
        .timeout_ms = 10000};
    status = mvSendHttpRequest(channel, &req);
    check(status == MV_STATUS_OKAY, "send", "%s: status %u", method, (unsigned)status);
    check(mvSendHttpRequest(channel, &req) == MV_STATUS_REQUESTALREADYSENT, "send once",
          "%s: a second request was not refused", method);
    enum MvEventType event = net_wait(HTTP_TAG, 20000);
    struct MvHttpResponseData response = {0};
    status = mvReadHttpResponseData(channel, &response);
    check(event == MV_EVENTTYPE_CHANNELDATAREADABLE && status == MV_STATUS_OKAY, "response",
          "%s: event %u status %u", method, (unsigned)event, (unsigned)status);
    *result = response.result;
    s_body[0] = '\0';
    if (response.result == MV_HTTPRESULT_OK) {
        uint32_t length = response.body_length < BODY_MAX ? response.body_length : BODY_MAX;
        status = mvReadHttpResponseBody(channel, 0, (uint8_t *)s_body, length);
        s_body[length] = '\0';
        check(status == MV_STATUS_OKAY, "body", "%s: status %u", method, (unsigned)status);
        for (uint32_t i = 0; i < response.num_headers; i++) {
            char header[128] = {0};
            mvReadHttpResponseHeader(channel, i, (uint8_t *)header, sizeof header - 1);
            if ((header[0] | 0x20) == 'c' && (header[8] | 0x20) == 't' && header[12] == ':') {
                log_printf("http: %s header %s", method, header);
            }
        }
        check(mvReadHttpResponseBody(channel, response.body_length + 1, (uint8_t *)s_body, 1) ==
              MV_STATUS_OFFSETINVALID, "offset", "%s: an offset past the body was not refused", method);
    }
    log_printf("http: %s %u headers %u body %s", method, (unsigned)response.status_code,
               (unsigned)response.num_headers, s_body);
    mvCloseChannel(&channel);
    return response.status_code;
}

int main(void)
{
    log_init();
    enum MvStatus status = net_start(60000);
    check(status == MV_STATUS_OKAY, "network", "status %u", (unsigned)status);
    fetch_base();
    enum MvHttpResult result;

    join(s_url, sizeof s_url, s_base, "/todos/1");
    uint32_t code = request("GET", s_url, NULL, &result);
    check(result == MV_HTTPRESULT_OK && code == 200, "GET", "result %u status %u", (unsigned)result,
          (unsigned)code);

    join(s_url, sizeof s_url, s_base, "/echo");
    code = request("POST", s_url, "{\"sensor\":\"t1\",\"value\":21.5}", &result);
    check(result == MV_HTTPRESULT_OK && code == 200, "POST", "result %u status %u", (unsigned)result,
          (unsigned)code);

    code = request("GET", "http://example.com/", NULL, &result);
    check(result == MV_HTTPRESULT_UNSUPPORTEDURISCHEME, "scheme", "result %u", (unsigned)result);

    log_printf("http: DONE pass=%u fail=%u", (unsigned)checks_passed(), (unsigned)checks_failed());
    for (;;) {
        __asm volatile("wfi");
    }
}
