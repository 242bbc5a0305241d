/*
 * console - a small command line the application offers over its console channel, the other end of
 * `microvisor console DEVICE` (and of the REST API's /v1/Devices/{Sid}/Console).
 *
 * The application requests the network, waits for it to be CONNECTED, then opens an opaque-bytes
 * channel with the endpoint "console" and answers each line read from it:
 *
 *   help          the commands
 *   echo TEXT     TEXT
 *   uptime        how long the microvisor has run (mvGetMicroseconds)
 *   add A B       the sum of two whole numbers
 *   bye           "bye", then the channel is closed and the run ends with the DONE line
 *
 * The receive buffer is one 512-byte block on purpose: the service sends no more than it has room
 * for and sends the rest as the application reads (mvReadChannelComplete gives the room back), so
 * input of any length arrives whole and in order. Output waits for room in the send buffer the same
 * way. A channel closed by anything but "bye" (the link went down) is opened again once the network
 * is back.
 *
 * Waiting is WFI: notifications pend TIM8_UP's IRQ and SysTick ticks every 10 ms, so after any
 * interrupt the loop looks at the network and the channel again (it never needs to read the
 * notifications themselves). Log lines: "PASS <name>" / "FAIL <name> <detail>" per step, then
 * "console: DONE pass=<n> fail=<m>".
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "checks.h"
#include "log.h"
#include "mv_syscalls.h"
#include "stm32u585_regs.h"

#define NOTIFY_IRQn        52u       /* TIM8_UP: a timer this application leaves alone */
#define NETWORK_TAG        1u
#define CHANNEL_TAG        2u
#define TICK_MS            10u
#define CONNECT_TIMEOUT_MS 60000u
#define REOPEN_PAUSE_MS    1000u
#define RX_SIZE            512u      /* the channel's buffers: 512-byte aligned, multiples of 512 */
#define TX_SIZE            1024u
#define LINE_MAX           128u      /* longest line answered, with its terminator */

static const char ENDPOINT[] = "console";

static volatile struct MvNotification s_ring[8] __attribute__((aligned(16)));
static uint8_t s_rx[RX_SIZE] __attribute__((aligned(512)));
static uint8_t s_tx[TX_SIZE] __attribute__((aligned(512)));
static volatile uint32_t s_ms;
static MvNotificationHandle s_centre;
static MvNetworkHandle s_network;
static MvChannelHandle s_channel;

void TIM8_UP_IRQHandler(void)
{
    /* Nothing to do here: waking the main loop from WFI is the point. */
}

void SysTick_Handler(void)
{
    s_ms += TICK_MS;
}

static void tick_init(void)
{
    SYST_RVR = CORE_CLOCK_HZ / (1000u / TICK_MS) - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

/* ---- the network ---------------------------------------------------------------------------- */

static enum MvStatus request_network(void)
{
    struct MvNotificationSetup setup = {
        .irq = NOTIFY_IRQn, .buffer = (struct MvNotification *)s_ring, .buffer_size = sizeof s_ring};
    enum MvStatus status = mvSetupNotifications(&setup, &s_centre);
    if (status != MV_STATUS_OKAY) {
        return status;
    }
    nvic_enable_irq(NOTIFY_IRQn);
    struct MvRequestNetworkParams params = {
        .version = 1, .v1 = {.notification_handle = s_centre, .notification_tag = NETWORK_TAG}};
    return mvRequestNetwork(&params, &s_network);
}

/* Wait up to timeout_ms for the network to be CONNECTED. */
static bool network_up(uint32_t timeout_ms)
{
    uint32_t start = s_ms;
    for (;;) {
        enum MvNetworkStatus state = MV_NETWORKSTATUS_DELIBERATELYOFFLINE;
        if (mvGetNetworkStatus(s_network, &state) == MV_STATUS_OKAY &&
            state == MV_NETWORKSTATUS_CONNECTED) {
            return true;
        }
        if (s_ms - start >= timeout_ms) {
            return false;
        }
        __WFI();
    }
}

static enum MvStatus open_console(void)
{
    struct MvOpenChannelParams params = {
        .version = 1,
        .v1 = {.notification_handle = s_centre, .notification_tag = CHANNEL_TAG,
               .network_handle = s_network, .receive_buffer = s_rx, .receive_buffer_len = RX_SIZE,
               .send_buffer = s_tx, .send_buffer_len = TX_SIZE,
               .channel_type = MV_CHANNELTYPE_OPAQUEBYTES,
               .endpoint = {(const uint8_t *)ENDPOINT, sizeof ENDPOINT - 1u}}};
    return mvOpenChannel(&params, &s_channel);
}

/* ---- output --------------------------------------------------------------------------------- */

/* Write all of data, waiting for room in the send buffer; false once the channel is closed. */
static bool put(const char *data, uint32_t length)
{
    while (length > 0) {
        uint32_t taken = 0;
        if (mvWriteChannelStream(s_channel, (const uint8_t *)data, length, &taken) != MV_STATUS_OKAY) {
            return false;
        }
        data += taken;
        length -= taken;
        if (length > 0) {
            __WFI();  /* the service's credit frees the buffer (CHANNELDATAWRITESPACE) */
        }
    }
    return true;
}

static bool say(const char *text)
{
    uint32_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    return put(text, length);
}

/* Format a line with log.h's formatter and write it. */
static bool sayf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sayf(const char *fmt, ...)
{
    char text[LINE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    uint32_t length = log_vformat(text, sizeof text, fmt, ap);
    va_end(ap);
    return put(text, length < sizeof text ? length : sizeof text - 1u);
}

/* The decimal digits of a 64-bit value (the formatter's %u is 32 bits); returns where they start. */
static const char *decimal(uint64_t value, char *end)
{
    *--end = '\0';
    do {
        *--end = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0);
    return end;
}

/* ---- commands ------------------------------------------------------------------------------- */

static bool starts_word(const char *line, const char *word, const char **rest)
{
    while (*word != '\0') {
        if (*line++ != *word++) {
            return false;
        }
    }
    if (*line != '\0' && *line != ' ') {
        return false;
    }
    while (*line == ' ') {
        line++;
    }
    *rest = line;
    return true;
}

/* A signed decimal from -2^31 to 2^31-1 at *text, then spaces; false if there is none. */
static bool whole_number(const char **text, int64_t *value)
{
    const char *p = *text;
    bool negative = *p == '-';
    p += negative || *p == '+';
    if (*p < '0' || *p > '9') {
        return false;
    }
    int64_t magnitude = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        magnitude = magnitude * 10 + (*p - '0');
        if (magnitude > 2147483648LL) {
            return false;
        }
    }
    if (*p != '\0' && *p != ' ') {
        return false;
    }
    *value = negative ? -magnitude : magnitude;
    if (*value > 2147483647LL) {
        return false;
    }
    while (*p == ' ') {
        p++;
    }
    *text = p;
    return true;
}

static bool add(const char *args)
{
    int64_t a = 0, b = 0;
    if (!whole_number(&args, &a) || !whole_number(&args, &b) || *args != '\0') {
        return say("add: give two whole numbers from -2147483648 to 2147483647, e.g. add 2 40\n");
    }
    int64_t sum = a + b;
    char digits[24];
    const char *text = decimal((uint64_t)(sum < 0 ? -sum : sum), digits + sizeof digits);
    return sayf("%s%s\n", sum < 0 ? "-" : "", text);
}

static bool uptime(void)
{
    uint64_t us = 0;
    if (mvGetMicroseconds(&us) != MV_STATUS_OKAY) {
        return say("uptime: the clock cannot be read\n");
    }
    char digits[24];
    const char *seconds = decimal(us / 1000000u, digits + sizeof digits);
    return sayf("up %s.%06u s\n", seconds, (unsigned)(us % 1000000u));
}

static bool help(void)
{
    return say("commands:\n"
               "  help          this list\n"
               "  echo TEXT     says TEXT back\n"
               "  uptime        how long the microvisor has run\n"
               "  add A B       the sum of two whole numbers\n"
               "  bye           closes the console\n");
}

/* Answer one line; *bye is set by "bye". False once the channel is closed. */
static bool answer(const char *line, bool *bye)
{
    const char *rest = line;
    while (*rest == ' ') {
        rest++;
    }
    line = rest;
    if (*line == '\0') {
        return true;
    }
    if (starts_word(line, "help", &rest)) {
        return help();
    }
    if (starts_word(line, "echo", &rest)) {
        return sayf("%s\n", rest);
    }
    if (starts_word(line, "uptime", &rest)) {
        return uptime();
    }
    if (starts_word(line, "add", &rest)) {
        return add(rest);
    }
    if (starts_word(line, "bye", &rest)) {
        *bye = true;
        return say("bye\n");
    }
    return sayf("unknown command: %s (try help)\n", line);
}

/* ---- the console ---------------------------------------------------------------------------- */

/* Serve the open channel: true after "bye", false when it closed under us. */
static bool serve(uint32_t *lines)
{
    char line[LINE_MAX];
    uint32_t used = 0;
    bool too_long = false;
    if (!say("Microvisor console example; type help\n> ")) {
        return false;
    }
    for (;;) {
        uint8_t *data = 0;
        uint32_t length = 0;
        if (mvReadChannel(s_channel, &data, &length) != MV_STATUS_OKAY) {
            return false;
        }
        if (length == 0) {
            __WFI();  /* CHANNELDATAREADABLE, or the next tick */
            continue;
        }
        for (uint32_t i = 0; i < length; i++) {
            char c = (char)data[i];
            if (c == '\r') {
                continue;  /* CRLF counts as one line end */
            }
            if (c != '\n') {
                if (used < LINE_MAX - 1u) {
                    line[used++] = c;
                } else {
                    too_long = true;
                }
                continue;
            }
            line[used] = '\0';
            bool bye = false;
            bool open = too_long ? sayf("line too long: at most %u characters\n", LINE_MAX - 1u)
                                 : answer(line, &bye);
            used = 0;
            too_long = false;
            (*lines)++;
            if (bye) {
                mvReadChannelComplete(s_channel, i + 1u);
                return true;
            }
            if (!open || !say("> ")) {
                return false;
            }
        }
        mvReadChannelComplete(s_channel, length);
    }
}

static void pause_ms(uint32_t ms)
{
    uint32_t start = s_ms;
    while (s_ms - start < ms) {
        __WFI();
    }
}

int main(void)
{
    log_init();
    tick_init();
    enum MvStatus status = request_network();
    check(status == MV_STATUS_OKAY, "mvRequestNetwork", "status %u", (unsigned)status);
    bool connected = status == MV_STATUS_OKAY && network_up(CONNECT_TIMEOUT_MS);
    check(connected, "network connected", "not within %u ms", CONNECT_TIMEOUT_MS);

    uint32_t lines = 0, opens = 0;
    bool bye = false;
    while (connected && !bye) {
        status = open_console();
        if (opens++ == 0) {
            check(status == MV_STATUS_OKAY, "mvOpenChannel console", "status %u", (unsigned)status);
        }
        if (status == MV_STATUS_OKAY) {
            log_printf("console: open");
            bye = serve(&lines);
            enum MvClosureReason reason = MV_CLOSUREREASON_NONE;
            mvGetChannelClosureReason(s_channel, &reason);
            enum MvStatus closed = mvCloseChannel(&s_channel);
            if (bye) {
                check(closed == MV_STATUS_OKAY && s_channel == 0, "mvCloseChannel", "status %u",
                      (unsigned)closed);
                break;
            }
            log_printf("console: channel closed (reason %u); opening it again", (unsigned)reason);
        }
        pause_ms(REOPEN_PAUSE_MS);
        connected = network_up(CONNECT_TIMEOUT_MS);
    }
    log_printf("console: %u line(s) answered", (unsigned)lines);
    log_printf("console: DONE pass=%u fail=%u", (unsigned)checks_passed(), (unsigned)checks_failed());
    for (;;) {
        __WFI();
    }
}
