/*
 * http_bench - GETs one small resource N times in a row for bench/channels.py, each request on an HTTP
 * channel of its own (one request per channel is the published rule).
 *
 * The account config "bench-http" holds "<count> <quiet ms> <url>". The application then writes, on
 * USART2 (bench_io.h):
 *   "http-bench: ready"          the config fetched (and 200 ms more); then <quiet ms> with nothing sent
 *   "http-bench: go"             the first request follows at once
 *   "B <i>"                      request i's channel is open (its request follows at once)
 *   "E <i> <status> <up> <down> <refused> <us>"
 *                                its response read and the channel closed: the HTTP status, the bytes
 *                                the application handed over (method and URL) and read back (header
 *                                lines and body), how many opens the microvisor refused as RATELIMITED
 *                                before this one (each followed by a 10 ms sleep), and the device's own
 *                                clock (mvGetMicroseconds, virtual time) from open to close
 *   "http-bench: done"           after the last request and another <quiet ms>
 * or "http-bench: FAIL <what> <code>" and nothing more.
 */
#include <stdint.h>

#include "bench_io.h"
#include "net.h"

#define NAME       "http-bench"
#define HTTP_TAG   0x48540000u   /* | the request's number: a late event is never taken for another's */
#define RETRY_MS   10u
#define SETTLE_MS  200u

static uint8_t s_rx[1536] __attribute__((aligned(512)));
static uint8_t s_tx[1024] __attribute__((aligned(512)));
static char s_config[320];
static char s_header[160];
static uint8_t s_body[1024];

/* One GET on a channel of its own; writes its "B" and "E" lines. */
static void get(uint32_t number, const char *url, uint32_t url_length)
{
    uint32_t tag = HTTP_TAG | (number & 0xFFFFu);
    MvChannelHandle channel = 0;
    uint32_t refused = 0;
    enum MvStatus status;
    while ((status = net_open_channel(MV_CHANNELTYPE_HTTP, NULL, tag, s_rx, sizeof s_rx, s_tx, sizeof s_tx,
                                      &channel)) == MV_STATUS_RATELIMITED) {
        refused++;
        io_sleep_ms(RETRY_MS);
    }
    if (status != MV_STATUS_OKAY) io_fail(NAME, "open", status);
    uint64_t opened = net_now_us();
    io_printf("B %u", (unsigned)number);

    static const char method[] = "GET";
    const struct MvHttpRequest request = {
        .method = {(const uint8_t *)method, sizeof method - 1u},
        .url = {(const uint8_t *)url, url_length},
        .num_headers = 0, .headers = 0, .body = {(const uint8_t *)"", 0}, .timeout_ms = 10000};
    status = mvSendHttpRequest(channel, &request);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "send", status);
    enum MvEventType event = net_wait(tag, 20000);
    if (event != MV_EVENTTYPE_CHANNELDATAREADABLE) io_fail(NAME, "event", event);

    struct MvHttpResponseData response = {0};
    status = mvReadHttpResponseData(channel, &response);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "response", status);
    if (response.result != MV_HTTPRESULT_OK) io_fail(NAME, "result", response.result);
    uint32_t down = 0;
    for (uint32_t i = 0; i < response.num_headers; i++) {
        for (uint32_t j = 0; j < sizeof s_header; j++) s_header[j] = '\0';
        status = mvReadHttpResponseHeader(channel, i, (uint8_t *)s_header, sizeof s_header - 1u);
        if (status != MV_STATUS_OKAY) io_fail(NAME, "header", status);
        down += io_length(s_header);
    }
    if (response.body_length > sizeof s_body) io_fail(NAME, "body size", response.body_length);
    status = mvReadHttpResponseBody(channel, 0, s_body, response.body_length);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "body", status);
    down += response.body_length;
    mvCloseChannel(&channel);
    uint64_t closed = net_now_us();
    io_printf("E %u %u %u %u %u %u", (unsigned)number, (unsigned)response.status_code,
              (unsigned)(sizeof method - 1u + url_length), (unsigned)down, (unsigned)refused,
              (unsigned)(closed - opened));
}

int main(void)
{
    io_init();
    enum MvStatus status = net_start(60000);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "network", status);
    if (io_config("bench-http", s_config, sizeof s_config) < 0) io_fail(NAME, "config", 0);
    const char *at = s_config;
    uint32_t count = io_number(&at);
    uint32_t quiet_ms = io_number(&at);
    const char *url = at;
    uint32_t url_length = io_length(url);
    if (count == 0 || url_length == 0) io_fail(NAME, "config value", count);

    io_sleep_ms(SETTLE_MS);  /* the config channel's close goes up before the quiet window */
    io_printf(NAME ": ready");
    io_sleep_ms(quiet_ms);
    io_printf(NAME ": go");
    for (uint32_t i = 0; i < count; i++) {
        get(i, url, url_length);
    }
    io_sleep_ms(quiet_ms);
    io_printf(NAME ": done");
    io_park();
}
