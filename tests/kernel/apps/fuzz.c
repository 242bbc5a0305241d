/*
 * fuzz - calls random system-call entry points with random arguments, eight at a time (four
 * in registers, four on the stack), for a budget of calls.
 *
 * The host gives the seed in TAMP_BKP0R and the budget in BKP1R; at the end the application
 * stores the number of calls made in BKP2R, the number of statuses that are not MvStatus values
 * in BKP3R, and logs "fuzz: DONE calls=<n> unknown=<m>".
 *
 * Arguments are drawn from classes: NULL, small numbers, random words, addresses in the
 * microvisor's flash and SRAM, the NSC page, application flash, peripherals, addresses just
 * outside SRAM, huge lengths, IRQ numbers, handles the kernel returned earlier, and pointers
 * into a scratch buffer at any alignment. The kernel may rightly write through any pointer into
 * application SRAM, so the only such pointers are into the scratch buffer, with lengths that
 * keep within it: random words never fall in SRAM and small lengths never exceed SAFE_SPAN.
 * mvSetupNotifications keeps the buffer it is given for later writes, so its setup structure is
 * always one the application has just filled with such values, never stale scratch contents.
 *
 * Left out: mvRestart, mvDeepSleep and mvPowerSave, which end or suspend the run.
 */
#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"
#include "stm32u585_regs.h"

#define TAMP_BKP(n)   REG32(0x46007D00u + 4u * (n))
#define SRAM_START    0x20000000u
#define SRAM_END      0x20080000u
#define SCRATCH_SIZE  0x8000u
#define SAFE_SPAN     0x1000u   /* the longest "small" length */
#define HANDLES       16u
#define LAST_STATUS   0x26u     /* MV_STATUS_INPUTTOOLONG */

typedef uint32_t (*call8_t)(uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t,
                            uint32_t);
typedef void (*entry_t)(void);

#define E(name) (entry_t)(name)
static const entry_t s_entries[] = {
    E(mvEnableFastInterrupt), E(mvWriteChannelStream), E(mvGetMicroseconds), E(mvGetSysClk),
    E(mvDisableAllFastInterrupts), E(mvGetDeviceId), E(mvWriteChannel), E(mvGetWallTime),
    E(mvRequestNetwork), E(mvGetChannelClosureReason), E(mvCloseNotifications),
    E(mvSetFastInterrupt), E(mvTemporaryStructTest), E(mvDisableFastInterrupt),
    E(mvReadChannelComplete), E(mvClearFastInterrupt), E(mvSetupNotifications), E(mvGetPClk1),
    E(mvGetPClk2), E(mvEnableAllFastInterrupts), E(mvPeriphPoke32), E(mvReadChannel),
    E(mvGetHClk), E(mvOpenChannel), E(mvGetNetworkReasons), E(mvReleaseNetwork), E(mvNoOp),
    E(mvTempTriggerNotification), E(mvGetNetworkStatus), E(mvPeriphPeek32), E(mvCloseChannel),
    E(mvSendHttpRequest), E(mvReadHttpResponseBody), E(mvReadHttpResponseHeader),
    E(mvReadHttpResponseData), E(mvServerLoggingInit), E(mvServerLog),
    E(mvSendConfigFetchRequest), E(mvReadConfigFetchResponseData), E(mvReadConfigResponseItem),
    E(mvMqttReadUnsubscribeResponse), E(mvMqttAcknowledgeMessage),
    E(mvMqttReadDisconnectResponse), E(mvMqttRequestDisconnect), E(mvMqttReadConnectResponse),
    E(mvMqttRequestPublish), E(mvMqttRequestSubscribe), E(mvMqttReadPublishResponse),
    E(mvMqttReceiveLostMessageInfo), E(mvMqttReceiveMessage), E(mvMqttGetNextReadableDataType),
    E(mvMqttRequestUnsubscribe), E(mvMqttRequestConnect), E(mvMqttReadSubscribeResponse),
    E(mvTestingComplete), E(mvTestLog), E(mvTestLoggingInit), E(mvSystemLedEnable),
    E(mvOpenSystemNotification), E(mvCloseSystemNotification), E(mvGetWakeReason),
    E(mvExternalFlashClose), E(mvExternalFlashGetInfo), E(mvExternalFlashWriteBlocking),
    E(mvExternalFlashOpen), E(mvExternalFlashEraseBlocking), E(mvExternalFlashReadBlocking),
    E(mvSetWifiConfig), E(mvGetWifiConfig),
};
#define ENTRIES (sizeof s_entries / sizeof s_entries[0])

static uint8_t s_scratch[SCRATCH_SIZE] __attribute__((aligned(1024)));
/* The structure area is the start of scratch: refilled before every call, so what the kernel
 * wrote there earlier is never read back as a structure. */
static uint32_t *const s_setup = (uint32_t *)s_scratch;
static uint32_t s_handles[HANDLES];
static uint32_t s_state;

static uint32_t rnd(void)
{
    uint32_t x = s_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return s_state = x;
}

/* A word that is neither a small number nor an SRAM address. */
static uint32_t tame(uint32_t x)
{
    if (x < 0x00100000u) x |= 0x80000000u;
    if (x >= SRAM_START && x < SRAM_END) x ^= 0x10000000u;  /* to the secure alias */
    return x;
}

static uint32_t scratch_pointer(void)
{
    uint32_t offset = rnd() % (SCRATCH_SIZE - SAFE_SPAN);
    switch (rnd() % 4) {
    case 0: offset &= ~511u; break;  /* log buffers want 512 */
    case 1: offset &= ~7u; break;    /* notification buffers want 8 */
    default: break;                  /* any alignment */
    }
    return (uint32_t)(uintptr_t)s_scratch + offset;
}

static uint32_t small_length(void)
{
    static const uint32_t sizes[] = {0, 1, 4, 16, 32, 34, 48, 128, 129, 512, 1024, 4096};
    return rnd() % 2 ? sizes[rnd() % (sizeof sizes / sizeof sizes[0])] : rnd() % (SAFE_SPAN + 1);
}

static uint32_t invalid_pointer(void)
{
    static const uint32_t edges[] = {SRAM_END, SRAM_END + 4u, SRAM_START - 4u, 0x1FFFFFFFu,
                                     0xFFFFFFFCu, 0xE000E000u, 0x0C1FE000u, 0x08100000u};
    switch (rnd() % 5) {
    case 0: return 0x0C000000u + (rnd() & 0x1FFFFFu);            /* secure flash */
    case 1: return 0x30000000u + (rnd() & 0x7FFFFu);             /* secure SRAM */
    case 2: return 0x0C1FE000u + (rnd() & 0xFFFu);               /* the NSC page */
    case 3: return SRAM_END + (rnd() & 0xFFFFu);                 /* past the end of SRAM */
    default: return edges[rnd() % (sizeof edges / sizeof edges[0])];
    }
}

static uint32_t argument(void)
{
    switch (rnd() % 14) {
    case 0: return 0;
    case 1: return rnd() % 48;
    case 2: return tame(rnd());
    case 3: return invalid_pointer();
    case 4: return 0x08000000u + (rnd() & 0xFFFFFu);                  /* application flash */
    case 5: return RCC_BASE + (rnd() & (rnd() % 2 ? 0x1FCu : 0x3FFu));  /* the allowed one */
    case 6: return 0x40000000u + (rnd() & 0x0FFFFFFFu);               /* other peripherals */
    case 7: {
        static const uint32_t huge[] = {0xFFFFFFFFu, 0x80000000u, 0xFFFFF000u, 0xFFFFFFF0u,
                                        0x00080000u, 0x03800000u, 0x7FFFFFFFu};
        return huge[rnd() % (sizeof huge / sizeof huge[0])];
    }
    case 8: return small_length();
    case 9: return rnd() % 130;                                        /* IRQ numbers */
    case 10: return tame(s_handles[rnd() % HANDLES]);
    case 11: return (uint32_t)(uintptr_t)s_setup + rnd() % 5;          /* a filled structure */
    default: return scratch_pointer();
    }
}

/* Argument shapes of the calls that need no network: half the time a call gets arguments of
 * the right kinds, so that it gets past its first checks and does its work.
 *   H a recent handle      P a pointer into scratch   Q a pointer to a recent handle
 *   I an input: scratch or application flash          L a small length
 *   A an address in the external flash partition       E an erase length (whole sectors mostly)
 *   N a small number       R an RCC register          S system-notification parameters */
struct shape {
    entry_t entry;
    const char *kinds;
};
static const struct shape s_shapes[] = {
    {E(mvExternalFlashOpen), "P"},           {E(mvExternalFlashClose), "Q"},
    {E(mvExternalFlashGetInfo), "HP"},       {E(mvExternalFlashReadBlocking), "HALP"},
    {E(mvExternalFlashEraseBlocking), "HAE"}, {E(mvExternalFlashWriteBlocking), "HALI"},
    {E(mvCloseNotifications), "Q"},          {E(mvTempTriggerNotification), "HNN"},
    {E(mvOpenSystemNotification), "SP"},     {E(mvCloseSystemNotification), "Q"},
    {E(mvPeriphPeek32), "RP"},               {E(mvPeriphPoke32), "RNN"},
    {E(mvServerLog), "IL"},                  {E(mvServerLoggingInit), "PL"},
    {E(mvGetDeviceId), "PL"},                {E(mvTemporaryStructTest), "I"},
};

static const char *shape_of(entry_t entry)
{
    for (uint32_t i = 0; i < sizeof s_shapes / sizeof s_shapes[0]; i++) {
        if (s_shapes[i].entry == entry) return s_shapes[i].kinds;
    }
    return 0;
}

static uint32_t shaped(char kind)
{
    switch (kind) {
    case 'H': return s_handles[rnd() % HANDLES];
    case 'Q': {
        uint32_t at = scratch_pointer() & ~3u;
        *(volatile uint32_t *)(uintptr_t)at = s_handles[rnd() % HANDLES];
        return at;
    }
    case 'I': return rnd() % 4 ? scratch_pointer() : 0x08000000u + (rnd() & 0xFFFFu);
    case 'L': return small_length();
    case 'A':
        switch (rnd() % 3) {
        case 0: return 4096u * (rnd() % 64);
        case 1: return 0x03800000u - (rnd() % 8192u);  /* near the partition's end */
        default: return rnd() % 0x100000u;
        }
    case 'E': return rnd() % 4 ? 4096u * (rnd() % 17) : small_length();
    case 'N': return rnd() % 8;
    case 'R': return RCC_BASE + 4u * (rnd() % 72);
    case 'S':
        s_setup[0] = s_handles[rnd() % HANDLES];
        s_setup[1] = rnd();
        s_setup[2] = rnd() % 3;
        return (uint32_t)(uintptr_t)s_setup;
    default: return scratch_pointer();  /* P */
    }
}

/* Fill the structure area with values the kernel may keep: buffers only in scratch. */
static void fill_setup(void)
{
    for (uint32_t i = 0; i < 8; i++) {
        switch (rnd() % 4) {
        case 0: s_setup[i] = rnd() % 130; break;
        case 1: s_setup[i] = scratch_pointer(); break;
        case 2: s_setup[i] = small_length(); break;
        default: s_setup[i] = rnd() % 2 ? invalid_pointer() : tame(s_handles[rnd() % HANDLES]); break;
        }
    }
}

/* Keep the handle a successful open wrote through its output pointer (argument `index`). */
static void collect_handle(entry_t entry, const uint32_t *args)
{
    uint32_t index = entry == E(mvExternalFlashOpen) ? 0u : 1u;
    if (entry != E(mvExternalFlashOpen) && entry != E(mvSetupNotifications) &&
        entry != E(mvOpenSystemNotification)) {
        return;
    }
    uint32_t word = *(volatile uint32_t *)(uintptr_t)args[index];  /* scratch: the kernel wrote it */
    s_handles[rnd() % HANDLES] = word;
}

int main(void)
{
    s_state = TAMP_BKP(0) ? TAMP_BKP(0) : 1u;
    uint32_t budget = TAMP_BKP(1), unknown = 0, calls = 0;
    log_init();
    log_printf("fuzz: start seed=%u budget=%u entries=%u", (unsigned)s_state, (unsigned)budget,
               (unsigned)ENTRIES);

    for (; calls < budget; calls++) {
        entry_t entry = s_entries[rnd() % ENTRIES];
        uint32_t a[8];
        for (uint32_t i = 0; i < 8; i++) a[i] = argument();
        if (rnd() % 3 == 0) a[0] = tame(s_handles[rnd() % HANDLES]);  /* most calls take one first */
        fill_setup();
        const char *kinds = shape_of(entry);
        if (kinds && rnd() % 2) {
            for (uint32_t i = 0; kinds[i]; i++) a[i] = shaped(kinds[i]);
        }
        if (entry == E(mvSetupNotifications)) {
            /* The setup structure: the filled area, or no memory of the application at all;
             * half the time a plausible one, so that centres do get made. */
            a[0] = rnd() % 4 ? (uint32_t)(uintptr_t)s_setup : invalid_pointer();
            if (rnd() % 2) {
                s_setup[0] = rnd() % 128;
                s_setup[1] = scratch_pointer() & ~7u;
                s_setup[2] = 16u * (rnd() % 12);
                a[1] = scratch_pointer() + 16u;  /* past the structure */
            }
        }
        uint32_t status = ((call8_t)entry)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        if (status > LAST_STATUS) unknown++;
        if (status == MV_STATUS_OKAY) collect_handle(entry, a);
    }

    TAMP_BKP(2) = calls;
    TAMP_BKP(3) = unknown;
    log_printf("fuzz: DONE calls=%u unknown=%u", (unsigned)calls, (unsigned)unknown);
    for (;;) {
        __WFI();
    }
}
