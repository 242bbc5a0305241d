/*
 * channel_fuzz - calls the 30 channel and network-data system calls (channels, HTTP, configuration,
 * MQTT, Wi-Fi) with random arguments for a number of iterations, and checks that every status is an
 * MvStatus and that none of its own memory was touched.
 *
 * The host gives the seed in TAMP_BKP0R and the iteration count in BKP1R (defaults below when zero).
 * The application logs "channel-fuzz: start seed=<s> iterations=<n> network=<status>", then one line
 * "channel-fuzz: opened opaque=<n> mqtt=<n> http=<n> config=<n>" (channels it opened, by type), one line
 * "channel-fuzz: status 0x<st> count <n>" per status seen and
 * "channel-fuzz: DONE seed=<s> calls=<n> invalid=<m> canary=ok|BAD@<word>".
 *
 * Memory. The kernel may rightly write wherever an argument lets it, so every pointer into SRAM the
 * application hands over is either into its scratch area with a length that keeps within it (a
 * "small" length, at most SAFE_SPAN, from at most SAFE_SPAN before the scratch's end) or near the end
 * of SRAM, where nothing of the application lives: main moves the stack into the arena first. Every
 * other length is at least 0x80000, which no pointer into SRAM can carry, and every other word is
 * neither small nor an SRAM address (tame), kernel handles in structures included. The only other
 * SRAM pointers are mvWriteChannel(Stream)'s data, read only, which may be anywhere in SRAM.
 * Structures are built in a structure area refilled before every call, whose nested pointers are
 * never 512-aligned (the kernel keeps 512-aligned channel buffers). The arena's guards, between
 * scratch, structures, notification ring and stack, are filled from the seed at the start and
 * checked at the end.
 *
 * Every PAUSE_EVERY calls the application sleeps PAUSE_MS on SysTick, so that the service's answers
 * arrive and the kernel's limit of channel opens per second lets more channels open.
 */
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"
#include "stm32u585_regs.h"

#define DEFAULT_SEED       0x5EEDF00Du
#define DEFAULT_ITERATIONS 4000u
#define SRAM_START         0x20000000u
#define SRAM_END           0x20080000u
#define SCRATCH_SIZE       0x6000u
#define SAFE_SPAN          0x1000u   /* the longest "small" length */
#define END_ZONE           0x1000u   /* the top of SRAM the application leaves alone */
#define STRUCT_WORDS       128u
#define NESTED_FROM        24u       /* nested structures live in the structure area's words 24.. */
#define STACK_WORDS        2048u
#define GUARD_WORDS        64u
#define LAST_STATUS        0x26u     /* MV_STATUS_INPUTTOOLONG */
#define PAUSE_EVERY        128u
#define PAUSE_MS           130u
#define NOTIFY_IRQn        52u       /* TIM8_UP: its handler only counts */
#define OPEN_SLOTS         8u
#define CLOSED_SLOTS       8u

struct arena {
    uint32_t guard_lo[128];         /* 512 bytes: the scratch that follows is 512-aligned */
    uint8_t scratch[SCRATCH_SIZE];  /* channel buffers come from here */
    uint32_t guard_scratch[GUARD_WORDS + 4];  /* + 16 bytes: the structure area is not 512-aligned */
    uint32_t structs[STRUCT_WORDS];
    uint32_t guard_structs[GUARD_WORDS];
    struct MvNotification ring[16];
    uint32_t guard_ring[GUARD_WORDS];
    uint32_t stack[STACK_WORDS];
    uint32_t guard_hi[GUARD_WORDS];
};

static struct arena s_arena __attribute__((aligned(512)));
_Static_assert(offsetof(struct arena, scratch) % 512 == 0, "channel buffers need 512-byte alignment");
_Static_assert(offsetof(struct arena, structs) % 512 != 0, "structures must not look like buffers");
static uint32_t s_rng;
static volatile uint32_t s_ticks;
static volatile uint32_t s_irqs;
static uint32_t s_centre, s_network;
static uint32_t s_open[OPEN_SLOTS], s_open_type[OPEN_SLOTS], s_closed[CLOSED_SLOTS];
static uint32_t s_type;  /* the channel type the current call wants (ANY_TYPE: any) */
static uint32_t s_counts[LAST_STATUS + 1];
static uint32_t s_invalid;
static uint32_t s_opened[4];  /* channels opened, by type */

typedef uint32_t (*call4_t)(uint32_t, uint32_t, uint32_t, uint32_t);
typedef void (*entry_t)(void);

/* Argument shapes, one letter an argument:
 *   H a channel handle (mostly a real one)   Q a pointer to a word holding one
 *   P an output pointer                      I input bytes (anywhere readable, or not)
 *   L a length                               N a number (index, offset, count, id)
 *   O open-channel parameters                R an HTTP request
 *   C configuration-fetch parameters         T configuration read-item parameters
 *   W a Wi-Fi configuration                  X a Wi-Fi configuration out
 *   S a structure of random fields (MQTT) */
struct call {
    entry_t entry;
    const char *shape;
    uint32_t type;  /* the channel type its handle should be */
};
#define ANY_TYPE 0xFFu
#define OPAQUE MV_CHANNELTYPE_OPAQUEBYTES
#define MQTT   MV_CHANNELTYPE_MQTT
#define HTTP   MV_CHANNELTYPE_HTTP
#define CONFIG MV_CHANNELTYPE_CONFIGFETCH
#define CALL(fn, shape, type) {(entry_t)(fn), shape, type}
static const struct call s_calls[] = {
    CALL(mvOpenChannel, "OP", ANY_TYPE),            CALL(mvCloseChannel, "Q", ANY_TYPE),
    CALL(mvReadChannel, "HPP", OPAQUE),             CALL(mvReadChannelComplete, "HN", OPAQUE),
    CALL(mvWriteChannel, "HILP", OPAQUE),           CALL(mvWriteChannelStream, "HILP", OPAQUE),
    CALL(mvGetChannelClosureReason, "HP", ANY_TYPE), CALL(mvSendHttpRequest, "HR", HTTP),
    CALL(mvReadHttpResponseData, "HP", HTTP),       CALL(mvReadHttpResponseHeader, "HNPL", HTTP),
    CALL(mvReadHttpResponseBody, "HNPL", HTTP),     CALL(mvSendConfigFetchRequest, "HC", CONFIG),
    CALL(mvReadConfigFetchResponseData, "HP", CONFIG), CALL(mvReadConfigResponseItem, "HT", CONFIG),
    CALL(mvMqttGetNextReadableDataType, "HP", MQTT), CALL(mvMqttRequestConnect, "HS", MQTT),
    CALL(mvMqttReadConnectResponse, "HP", MQTT),    CALL(mvMqttRequestSubscribe, "HS", MQTT),
    CALL(mvMqttReadSubscribeResponse, "HS", MQTT),  CALL(mvMqttRequestUnsubscribe, "HS", MQTT),
    CALL(mvMqttReadUnsubscribeResponse, "HS", MQTT), CALL(mvMqttRequestPublish, "HS", MQTT),
    CALL(mvMqttReadPublishResponse, "HP", MQTT),    CALL(mvMqttReceiveMessage, "HS", MQTT),
    CALL(mvMqttReceiveLostMessageInfo, "HS", MQTT), CALL(mvMqttAcknowledgeMessage, "HN", MQTT),
    CALL(mvMqttRequestDisconnect, "H", MQTT),       CALL(mvMqttReadDisconnectResponse, "HP", MQTT),
    CALL(mvSetWifiConfig, "W", ANY_TYPE),           CALL(mvGetWifiConfig, "X", ANY_TYPE),
};
#define CALLS (sizeof s_calls / sizeof s_calls[0])

static const char s_url[] = "https://127.0.0.1:9/fuzz";  /* refused at once: nothing listens */
static const char *const s_strings[] = {
    "console", "GET", "POST", "DELETE", "BREW", "https://127.0.0.1:9/fuzz", "http://127.0.0.1/",
    "https://", "a/b/#", "+/x", "key", "Content-Type: text/plain", "fuzz-net", "0123456789abcdef",
};
#define STRINGS (sizeof s_strings / sizeof s_strings[0])

void SysTick_Handler(void)
{
    s_ticks++;
}

void TIM8_UP_IRQHandler(void)
{
    s_irqs++;
}

static uint32_t rnd(void)
{
    uint32_t x = s_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return s_rng = x;
}

static uint32_t pick(const uint32_t *values, uint32_t count)
{
    return values[rnd() % count];
}
#define PICK(array) pick(array, sizeof array / sizeof array[0])

static uint32_t guard_word(uint32_t seed, uint32_t index)
{
    uint32_t x = seed ^ (index * 0x9E3779B9u);
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    return x ^ (x >> 13);
}

/* Fill every guard word of the arena from the seed, or check them: the first bad word + 1, or 0. */
static uint32_t guards(uint32_t seed, int check)
{
    uint32_t *const parts[] = {s_arena.guard_lo, s_arena.guard_scratch, s_arena.guard_structs,
                               s_arena.guard_ring, s_arena.guard_hi};
    const uint32_t sizes[] = {128, GUARD_WORDS + 4, GUARD_WORDS, GUARD_WORDS, GUARD_WORDS};
    uint32_t n = 0;
    for (uint32_t p = 0; p < 5; p++) {
        for (uint32_t i = 0; i < sizes[p]; i++, n++) {
            if (!check) {
                parts[p][i] = guard_word(seed, n);
            } else if (parts[p][i] != guard_word(seed, n)) {
                return n + 1;
            }
        }
    }
    return 0;
}

static void pause_ms(uint32_t ms)
{
    uint32_t until = s_ticks + ms;
    while ((int32_t)(until - s_ticks) > 0) {
        __WFI();
    }
}

/* --- values ------------------------------------------------------------------------------------ */

/* A word that is neither small nor in SRAM (so never a usable length or an SRAM pointer). */
static uint32_t tame(uint32_t x)
{
    if (x < 0x00100000u) x |= 0x80000000u;
    if (x >= SRAM_START && x < SRAM_END) x ^= 0x10000000u;  /* to the secure alias */
    return x;
}

static uint32_t scratch_at(uint32_t offset)
{
    return (uint32_t)(uintptr_t)s_arena.scratch + offset;
}

static uint32_t scratch_pointer(void)
{
    uint32_t offset = rnd() % (SCRATCH_SIZE - SAFE_SPAN);
    switch (rnd() % 4) {
    case 0: offset &= ~511u; break;
    case 1: offset &= ~3u; break;
    default: break;  /* any alignment */
    }
    return scratch_at(offset);
}

static uint32_t end_pointer(void)
{
    static const uint32_t back[] = {1, 2, 3, 4, 5, 8, 12, 16, 20, 64, 511, 512, END_ZONE};
    return SRAM_END - PICK(back);
}

static uint32_t small_length(void)
{
    static const uint32_t sizes[] = {0, 1, 2, 3, 4, 7, 8, 16, 32, 33, 63, 64, 65, 128, 511, 512, 1024,
                                     SAFE_SPAN};
    return rnd() % 2 ? PICK(sizes) : rnd() % (SAFE_SPAN + 1);
}

static uint32_t huge_length(void)
{
    static const uint32_t huge[] = {0xFFFFFFFFu, 0x80000000u, 0xFFFFF000u, 0xFFFFFFF0u, 0x00080000u,
                                    0x00100000u, 0x7FFFFFFFu, 0xFFFFFFFEu};
    return PICK(huge);
}

static uint32_t invalid_pointer(void)
{
    static const uint32_t edges[] = {0, 1, SRAM_END, SRAM_END + 4u, SRAM_START - 4u, 0x1FFFFFFFu,
                                     0xFFFFFFFCu, 0xE000E000u, 0x0C1FE000u, 0x08100000u, 0x60000000u,
                                     0x10000000u, 0xA0000000u, 0x0BF90000u};
    switch (rnd() % 7) {
    case 0: return 0x0C000000u + (rnd() & 0x1FFFFFu);  /* secure flash */
    case 1: return 0x30000000u + (rnd() & 0x7FFFFu);   /* secure SRAM */
    case 2: return 0x40000000u + (rnd() & 0x0FFFFFFFu); /* peripherals */
    case 3: return SRAM_END + (rnd() & 0xFFFFu);        /* past the end of SRAM */
    case 4: return 0x0C1FE000u + (rnd() & 0xFFFu);      /* the NSC page */
    default: return PICK(edges);
    }
}

static uint32_t flash_pointer(void)
{
    return 0x08000000u + (rnd() & 0xFFFFFu);
}

static uint32_t string_pointer(uint32_t *length)
{
    const char *s = s_strings[rnd() % STRINGS];
    uint32_t n = 0;
    while (s[n]) n++;
    *length = rnd() % 8 ? n : small_length();
    return (uint32_t)(uintptr_t)s;
}

static uint32_t channel_handle(void)
{
    uint32_t r = rnd() % 20;
    if (r < 10) {  /* an open channel, of the type the call wants when there is one */
        uint32_t first = rnd() % OPEN_SLOTS, any = 0;
        for (uint32_t i = 0; i < OPEN_SLOTS; i++) {
            uint32_t slot = (first + i) % OPEN_SLOTS;
            if (s_open[slot] && (s_type == ANY_TYPE || s_open_type[slot] == s_type)) return s_open[slot];
            if (s_open[slot] && !any) any = s_open[slot];
        }
        if (any) return any;
    }
    if (r < 13) return s_closed[rnd() % CLOSED_SLOTS];
    if (r < 15) return rnd() % 2 ? s_centre : s_network;
    if (r < 16) return 0;
    return tame(rnd());
}

static uint32_t output_pointer(void)
{
    uint32_t r = rnd() % 10;
    if (r < 6) return scratch_pointer();
    if (r < 7) return end_pointer();
    if (r < 8) return flash_pointer();
    return invalid_pointer();
}

static uint32_t length(void)
{
    return rnd() % 4 ? small_length() : huge_length();
}

static uint32_t number(void)
{
    switch (rnd() % 5) {
    case 0: return 0;
    case 1: return rnd() % 4;
    case 2: return rnd() % 64;
    case 3: return huge_length();
    default: return rnd();
    }
}

/* --- structures -------------------------------------------------------------------------------- */

static uint32_t *const s_top = s_arena.structs;  /* the structure an argument points to */

/* A pointer to a nested structure in the area (never 512-aligned). */
static uint32_t nested(void)
{
    uint32_t word = NESTED_FROM + rnd() % (STRUCT_WORDS - NESTED_FROM - 16);  /* room for 16 words */
    uint32_t at = (uint32_t)(uintptr_t)&s_arena.structs[word];
    return (at & 511u) ? at : at + 4u;
}

/* One random field: any value the rules above allow. */
static uint32_t field(void)
{
    switch (rnd() % 12) {
    case 0: return 0;
    case 1: return rnd() % 8;
    case 2: return small_length();
    case 3: return huge_length();
    case 4: return scratch_pointer();
    case 5: return end_pointer();
    case 6: return flash_pointer();
    case 7: return invalid_pointer();
    case 8: return nested();
    case 9: return tame(channel_handle());  /* a kernel handle may be any word, an SRAM address too */
    case 10: { uint32_t n; return string_pointer(&n); }
    default: return tame(rnd());
    }
}

static void fill_structs(void)
{
    for (uint32_t i = 0; i < STRUCT_WORDS; i++) s_arena.structs[i] = field();
}

static uint32_t top(void)
{
    return (uint32_t)(uintptr_t)s_top;
}

static uint32_t open_params(void)
{
    uint32_t rx = scratch_at(512u * (rnd() % ((SCRATCH_SIZE - SAFE_SPAN) / 512u)));
    uint32_t tx = scratch_at(512u * (rnd() % ((SCRATCH_SIZE - SAFE_SPAN) / 512u)));
    s_top[0] = rnd() % 8 ? 1 : field();
    s_top[1] = rnd() % 8 ? s_centre : field();
    s_top[2] = rnd();
    s_top[3] = rnd() % 8 ? s_network : field();
    s_top[4] = rnd() % 8 ? rx : field();
    s_top[5] = rnd() % 8 ? 512u * (1 + rnd() % 4) : field();
    s_top[6] = rnd() % 8 ? tx : field();
    s_top[7] = rnd() % 8 ? 512u * (1 + rnd() % 4) : field();
    s_top[8] = rnd() % 8 ? rnd() % 4 : field();
    s_top[9] = string_pointer(&s_top[10]);
    if (rnd() % 4) {
        s_top[9] = (uint32_t)(uintptr_t)"console";
        s_top[10] = 7;
    }
    return top();
}

static uint32_t http_request(void)
{
    uint32_t *headers = (uint32_t *)(uintptr_t)nested();
    s_top[0] = string_pointer(&s_top[1]);
    s_top[2] = string_pointer(&s_top[3]);
    if (rnd() % 4) {
        s_top[2] = (uint32_t)(uintptr_t)s_url;
        s_top[3] = sizeof s_url - 1u;
    }
    s_top[4] = rnd() % 4 ? rnd() % 4 : number();
    s_top[5] = rnd() % 4 ? (uint32_t)(uintptr_t)headers : field();
    for (uint32_t i = 0; i < 4; i++) {
        headers[2 * i + 1] = string_pointer(&headers[2 * i]);  /* MvHttpHeader: length, data */
    }
    s_top[6] = rnd() % 2 ? scratch_pointer() : flash_pointer();
    s_top[7] = length();
    s_top[8] = rnd() % 2 ? 5000u + rnd() % 5001u : number();
    return top();
}

static uint32_t config_request(void)
{
    uint32_t *items = (uint32_t *)(uintptr_t)nested();
    s_top[0] = rnd() % 4 ? 1 + rnd() % 3 : number();
    s_top[1] = rnd() % 4 ? (uint32_t)(uintptr_t)items : field();
    for (uint32_t i = 0; i < 3; i++) {
        items[4 * i] = rnd() % 4 ? rnd() % 2 : number();
        items[4 * i + 1] = rnd() % 4 ? rnd() % 2 : number();
        items[4 * i + 2] = string_pointer(&items[4 * i + 3]);
    }
    return top();
}

static uint32_t config_item(void)
{
    s_top[0] = rnd() % 2 ? rnd() % 3 : number();
    s_top[1] = output_pointer();
    s_top[2] = output_pointer();
    s_top[3] = length();
    s_top[4] = output_pointer();
    return top();
}

static uint32_t wifi_config(void)
{
    s_top[0] = rnd() % 8 ? 1 : field();
    s_top[1] = rnd() % 4 ? rnd() % 3 : field();
    s_top[2] = string_pointer(&s_top[3]);
    s_top[4] = string_pointer(&s_top[5]);
    if (rnd() % 4 == 0) s_top[3] = length();
    if (rnd() % 4 == 0) s_top[5] = length();
    return top();
}

static uint32_t wifi_out(void)
{
    s_top[0] = rnd() % 8 ? 1 : field();
    s_top[1] = output_pointer();
    s_top[2] = length();
    s_top[3] = output_pointer();
    s_top[4] = output_pointer();
    return top();
}

/* --- arguments --------------------------------------------------------------------------------- */

/* A handle written in scratch for mvCloseChannel; *handle receives it. */
static uint32_t handle_word(uint32_t *handle)
{
    uint32_t at = scratch_pointer() & ~3u;
    *handle = channel_handle();
    *(volatile uint32_t *)(uintptr_t)at = *handle;
    return at;
}

static uint32_t input(void)
{
    switch (rnd() % 6) {
    case 0: return SRAM_START + rnd() % (SRAM_END - SRAM_START - SAFE_SPAN);  /* read only: anywhere */
    case 1: return flash_pointer();
    case 2: return invalid_pointer();
    case 3: return end_pointer();
    default: return scratch_pointer();
    }
}

static uint32_t argument(char kind, uint32_t *closing)
{
    switch (kind) {
    case 'H': return channel_handle();
    case 'Q': return rnd() % 8 ? handle_word(closing) : invalid_pointer();
    case 'P': return output_pointer();
    case 'I': return input();
    case 'L': return length();
    case 'N': return number();
    case 'O': return rnd() % 8 ? open_params() : field();
    case 'R': return rnd() % 8 ? http_request() : field();
    case 'C': return rnd() % 8 ? config_request() : field();
    case 'T': return rnd() % 8 ? config_item() : field();
    case 'W': return rnd() % 8 ? wifi_config() : field();
    case 'X': return rnd() % 8 ? wifi_out() : field();
    default: return rnd() % 8 ? top() : field();  /* S: the area as it was filled */
    }
}

/* Keep a handle in a free slot (or over a random one); returns the slot. */
static uint32_t remember(uint32_t *slots, uint32_t count, uint32_t handle)
{
    for (uint32_t i = 0; i < count; i++) {
        if (slots[i] == 0 || slots[i] == handle) {
            slots[i] = handle;
            return i;
        }
    }
    uint32_t i = rnd() % count;
    slots[i] = handle;
    return i;
}

static void forget_open(uint32_t handle)
{
    for (uint32_t i = 0; i < OPEN_SLOTS; i++) {
        if (s_open[i] == handle) s_open[i] = 0;
    }
}

/* --- the run ----------------------------------------------------------------------------------- */

static uint32_t start_network(void)
{
    struct MvNotificationSetup setup = {NOTIFY_IRQn, s_arena.ring, sizeof s_arena.ring};
    if (mvSetupNotifications(&setup, (MvNotificationHandle *)&s_centre) != MV_STATUS_OKAY) return 0xFFu;
    NVIC_ISER(NOTIFY_IRQn / 32u) = 1u << (NOTIFY_IRQn % 32u);
    struct MvRequestNetworkParams params = {.version = 1, .v1 = {(MvNotificationHandle)s_centre, 0x4E4554u}};
    if (mvRequestNetwork(&params, (MvNetworkHandle *)&s_network) != MV_STATUS_OKAY) return 0xFEu;
    enum MvNetworkStatus status = MV_NETWORKSTATUS_CONNECTING;
    for (uint32_t waited = 0; waited < 20000u; waited += 50u) {  /* up to 20 s for the link */
        mvGetNetworkStatus((MvNetworkHandle)s_network, &status);
        if (status != MV_NETWORKSTATUS_CONNECTING) break;
        pause_ms(50);
    }
    return status;
}

static void __attribute__((noreturn)) fuzz(void)
{
    uint32_t seed = TAMP_BKPR(0) ? TAMP_BKPR(0) : DEFAULT_SEED;
    uint32_t iterations = TAMP_BKPR(1) ? TAMP_BKPR(1) : DEFAULT_ITERATIONS;
    s_rng = seed;
    SYST_RVR = 160000u - 1u;  /* 1 kHz at 160 MHz */
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    log_init();
    uint32_t network = start_network();
    log_printf("channel-fuzz: start seed=%u iterations=%u network=%u", (unsigned)seed,
               (unsigned)iterations, (unsigned)network);

    uint32_t calls = 0;
    for (; calls < iterations; calls++) {
        if (calls % PAUSE_EVERY == PAUSE_EVERY - 1u) pause_ms(PAUSE_MS);
        /* An open a twelfth of the time and a close a 48th (on top of their share of the random
         * picks), so that channels of every type come, live a while and go. */
        uint32_t which = rnd() % 48;
        const struct call *call = &s_calls[which < 4 ? 0 : which == 4 ? 1 : rnd() % CALLS];
        s_type = call->type;
        fill_structs();
        uint32_t a[4], closing = 0;
        for (uint32_t i = 0; i < 4; i++) a[i] = field();
        if (rnd() % 8) {  /* mostly arguments of the right kinds */
            for (uint32_t i = 0; call->shape[i]; i++) a[i] = argument(call->shape[i], &closing);
        }
        uint32_t status = ((call4_t)call->entry)(a[0], a[1], a[2], a[3]);
        if (status > LAST_STATUS) {
            s_invalid++;
        } else {
            s_counts[status]++;
        }
        if (status == MV_STATUS_OKAY && call->entry == (entry_t)mvOpenChannel) {
            uint32_t slot = remember(s_open, OPEN_SLOTS, *(volatile uint32_t *)(uintptr_t)a[1]);
            s_open_type[slot] = a[0] == top() ? s_top[8] : ANY_TYPE;  /* the type it was opened with */
            if (s_open_type[slot] < 4) s_opened[s_open_type[slot]]++;
        } else if (status == MV_STATUS_OKAY && call->entry == (entry_t)mvCloseChannel && closing) {
            forget_open(closing);
            remember(s_closed, CLOSED_SLOTS, closing);
        }
    }

    uint32_t bad = guards(seed, 1);
    log_printf("channel-fuzz: opened opaque=%u mqtt=%u http=%u config=%u", (unsigned)s_opened[0],
               (unsigned)s_opened[1], (unsigned)s_opened[2], (unsigned)s_opened[3]);
    for (uint32_t st = 0; st <= LAST_STATUS; st++) {
        if (s_counts[st]) {
            log_printf("channel-fuzz: status 0x%02x count %u", (unsigned)st, (unsigned)s_counts[st]);
        }
    }
    if (bad) {
        log_printf("channel-fuzz: DONE seed=%u calls=%u invalid=%u canary=BAD@%u", (unsigned)seed,
                   (unsigned)calls, (unsigned)s_invalid, (unsigned)(bad - 1));
    } else {
        log_printf("channel-fuzz: DONE seed=%u calls=%u invalid=%u canary=ok", (unsigned)seed,
                   (unsigned)calls, (unsigned)s_invalid);
    }
    for (;;) {
        __WFI();
    }
}

int main(void)
{
    /* The guards first, then the stack moves into the arena: the top of SRAM holds nothing of ours. */
    guards(TAMP_BKPR(0) ? TAMP_BKPR(0) : DEFAULT_SEED, 0);
    uint32_t top_of_stack = (uint32_t)(uintptr_t)&s_arena.stack[STACK_WORDS];
    __asm volatile("mov sp, %0\n\tbx %1" : : "r"(top_of_stack), "r"((uint32_t)(uintptr_t)fuzz) : "memory");
    __builtin_unreachable();
}
