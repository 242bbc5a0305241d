/*
 * device_calls - wall time, device ID, the struct test, server logging limits, peripheral
 * peek/poke, fast interrupts and the system LED.
 *
 * The host helps: on "wall: set" it sets the wall time to 1700000000 s; on "logging: disable"
 * it disables server logging for a millisecond of virtual time.
 */
#include <string.h>

#include "check.h"
#include "stm32u585_regs.h"

#define WALL_SET_US    1700000000000000ull
#define RCC_CR_ADDR    (RCC_BASE + 0x00u)
#define RCC_ENR_ADDR   (RCC_BASE + 0x8Cu)  /* AHB2ENR1 */
#define PWR_CR1_ADDR   0x46020800u
#define TIM2_IRQ       45u
#define IRQ_B          52u
#define VECTORS        (16u + 126u)

static uint8_t s_log_buffer[1024] __attribute__((aligned(512)));
static uint8_t s_message[200];
static uint32_t s_vectors[VECTORS] __attribute__((aligned(1024)));
static volatile enum MvStatus s_led_from_irq = MV_STATUS__MAX;

/* The layout of MvTemporaryTestVersionedStruct (the SDK declares the call with a void *). */
struct sub {
    uint64_t a;
    uint32_t b;
};
struct inner {
    uint8_t a;
    const struct sub *b;
    uint32_t c;
};
struct test_struct {
    uint32_t version;
    struct {
        uint16_t a;
        struct inner b;
    } v1;
};

void TIM2_IRQHandler(void)
{
}

void TIM8_UP_IRQHandler(void)
{
    s_led_from_irq = mvSystemLedEnable(1);
}

static void check_wall_time(void)
{
    uint64_t t = 0;
    expect("wall/null", mvGetWallTime(NULL), MV_STATUS_PARAMETERFAULT);
    expect("wall/kernel-pointer", mvGetWallTime(PTR(KERNEL_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("wall/past-sram", mvGetWallTime(PTR(SRAM_END - 4u)), MV_STATUS_PARAMETERFAULT);
    expect("wall/not-set", mvGetWallTime(&t), MV_STATUS_TIMENOTSET);
    log_printf("wall: set");
    enum MvStatus st = mvGetWallTime(&t);
    check(st == MV_STATUS_OKAY && t >= WALL_SET_US && t < WALL_SET_US + 10000000ull, "wall",
          "status 0x%x t=%u s", (unsigned)st, (unsigned)(t / 1000000ull));
}

static void check_device_id(void)
{
    uint8_t id[34];
    expect("id/length-35", mvGetDeviceId(id, 35), MV_STATUS_INVALIDBUFFERSIZE);
    expect("id/huge-length", mvGetDeviceId(id, 0xFFFFFFFFu), MV_STATUS_INVALIDBUFFERSIZE);
    expect("id/null", mvGetDeviceId(NULL, 34), MV_STATUS_PARAMETERFAULT);
    expect("id/flash", mvGetDeviceId(PTR(APP_FLASH), 34), MV_STATUS_PARAMETERFAULT);
    expect("id/past-sram", mvGetDeviceId(PTR(SRAM_END - 20u), 34), MV_STATUS_PARAMETERFAULT);
    enum MvStatus st = mvGetDeviceId(id, 34);
    check(st == MV_STATUS_OKAY && id[0] == 'U' && id[1] == 'V', "id", "status 0x%x", (unsigned)st);
}

static void check_struct_test(void)
{
    static const struct sub sub = {1, 2};
    struct test_struct in = {1, {0, {0, &sub, 0}}};
    _Static_assert(sizeof in == 20 && __builtin_offsetof(struct test_struct, v1.b.b) == 12,
                   "MvTemporaryTestVersionedStruct layout");
    expect("struct/ok", mvTemporaryStructTest(&in), MV_STATUS_OKAY);
    expect("struct/null", mvTemporaryStructTest(NULL), MV_STATUS_PARAMETERFAULT);
    in.v1.b.b = PTR(KERNEL_FLASH);
    expect("struct/bad-nested", mvTemporaryStructTest(&in), MV_STATUS_PARAMETERFAULT);
    in.version = 2;
    expect("struct/version-2", mvTemporaryStructTest(&in), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
}

static void check_logging(void)
{
    expect("log-init/unaligned", mvServerLoggingInit(s_log_buffer + 16, 512),
           MV_STATUS_INVALIDBUFFERALIGNMENT);
    expect("log-init/small", mvServerLoggingInit(s_log_buffer, 256), MV_STATUS_INVALIDBUFFERSIZE);
    expect("log-init/odd-size", mvServerLoggingInit(s_log_buffer, 700), MV_STATUS_INVALIDBUFFERSIZE);
    expect("log-init/huge", mvServerLoggingInit(s_log_buffer, 0xFFFFFE00u), MV_STATUS_PARAMETERFAULT);
    expect("log-init/flash", mvServerLoggingInit(PTR(APP_FLASH), 1024), MV_STATUS_PARAMETERFAULT);

    memset(s_message, 'm', sizeof s_message);
    expect("log/128", mvServerLog(s_message, 128), MV_STATUS_OKAY);
    expect("log/129", mvServerLog(s_message, 129), MV_STATUS_LOGMESSAGETOOLONG);
    expect("log/null", mvServerLog(NULL, 4), MV_STATUS_PARAMETERFAULT);
    expect("log/kernel", mvServerLog(PTR(KERNEL_FLASH), 4), MV_STATUS_PARAMETERFAULT);
    static const uint8_t from_flash[] = "log: a message in flash";
    expect("log/from-flash", mvServerLog(from_flash, sizeof from_flash - 1), MV_STATUS_OKAY);

    /* The host disables logging for a while: the application sees LOGGINGDISABLEDBYSERVER. */
    log_printf("logging: disable");
    static const uint8_t probe[] = "log: probe";
    uint32_t refused = 0, tries = 0;
    enum MvStatus st;
    while ((st = mvServerLog(probe, sizeof probe - 1)) == MV_STATUS_LOGGINGDISABLEDBYSERVER &&
           tries < 10000000u) {
        refused++;
        tries++;
    }
    check(refused > 0 && st == MV_STATUS_OKAY, "log/disabled-by-server",
          "refused %u times, then status 0x%x", (unsigned)refused, (unsigned)st);
}

static void check_peek_poke(void)
{
    uint32_t value = 0, before = 0, after = 0;
    mvPeriphPeek32(RCC_CR_ADDR, &before);
    expect("poke/clock-tree", mvPeriphPoke32(RCC_CR_ADDR, 0xFFFFFFFFu, 0), MV_STATUS_OKAY);
    expect("peek/clock-tree", mvPeriphPeek32(RCC_CR_ADDR, &after), MV_STATUS_OKAY);
    check(before == after && before != 0, "poke/clock-tree-unchanged", "0x%08x -> 0x%08x",
          (unsigned)before, (unsigned)after);

    /* Toggle a bit (mask 0: xor) twice. */
    mvPeriphPeek32(RCC_ENR_ADDR, &before);
    mvPeriphPoke32(RCC_ENR_ADDR, 0, 1u << 3);
    mvPeriphPeek32(RCC_ENR_ADDR, &value);
    mvPeriphPoke32(RCC_ENR_ADDR, 0, 1u << 3);
    mvPeriphPeek32(RCC_ENR_ADDR, &after);
    check(value == (before ^ (1u << 3)) && after == before, "poke/toggle", "0x%08x 0x%08x 0x%08x",
          (unsigned)before, (unsigned)value, (unsigned)after);

    expect("peek/pwr", mvPeriphPeek32(PWR_CR1_ADDR, &value), MV_STATUS_PERIPHERALACCESSFAULT);
    expect("poke/pwr", mvPeriphPoke32(PWR_CR1_ADDR, 1, 1), MV_STATUS_PERIPHERALACCESSFAULT);
    expect("peek/rcc-reserved", mvPeriphPeek32(RCC_BASE + 0x04u, &value),
           MV_STATUS_PERIPHERALACCESSFAULT);
    expect("peek/past-rcc", mvPeriphPeek32(RCC_BASE + 0x400u, &value),
           MV_STATUS_PERIPHERALACCESSFAULT);
    expect("peek/kernel", mvPeriphPeek32(KERNEL_FLASH, &value), MV_STATUS_PERIPHERALACCESSFAULT);
    expect("peek/sram", mvPeriphPeek32((uint32_t)(uintptr_t)&value, &value),
           MV_STATUS_PERIPHERALACCESSFAULT);
    expect("peek/null-output", mvPeriphPeek32(RCC_ENR_ADDR, NULL), MV_STATUS_PARAMETERFAULT);
}

static void check_fast_interrupts(void)
{
    expect("fast/irq-126", mvSetFastInterrupt(126), MV_STATUS_INVALIDINTERRUPT);
    expect("fast/irq-huge", mvSetFastInterrupt(0xFFFFFFFFu), MV_STATUS_INVALIDINTERRUPT);
    expect("fast/irq-secure", mvSetFastInterrupt(7), MV_STATUS_INVALIDINTERRUPT);
    expect("fast/enable-unset", mvEnableFastInterrupt(TIM2_IRQ), MV_STATUS_INVALIDINTERRUPT);
    expect("fast/disable-huge", mvDisableFastInterrupt(0x80000000u), MV_STATUS_INVALIDINTERRUPT);
    expect("fast/clear-huge", mvClearFastInterrupt(200), MV_STATUS_INVALIDINTERRUPT);

    expect("fast/set", mvSetFastInterrupt(TIM2_IRQ), MV_STATUS_OKAY);
    expect("fast/enable", mvEnableFastInterrupt(TIM2_IRQ), MV_STATUS_OKAY);
    expect("fast/disable-all", mvDisableAllFastInterrupts(), MV_STATUS_OKAY);
    log_printf("fast: all disabled");
    expect("fast/enable-all", mvEnableAllFastInterrupts(), MV_STATUS_OKAY);
    log_printf("fast: all enabled");
    expect("fast/disable", mvDisableFastInterrupt(TIM2_IRQ), MV_STATUS_OKAY);
    log_printf("fast: disabled");
    expect("fast/clear", mvClearFastInterrupt(TIM2_IRQ), MV_STATUS_OKAY);
    expect("fast/enable-cleared", mvEnableFastInterrupt(TIM2_IRQ), MV_STATUS_INVALIDINTERRUPT);

    /* A vector table in SRAM whose entry for IRQ 46 points into the microvisor. */
    memcpy(s_vectors, PTR(SCB_VTOR), sizeof s_vectors);
    s_vectors[16 + 46] = KERNEL_FLASH | 1u;
    uint32_t vtor = SCB_VTOR;
    SCB_VTOR = (uint32_t)(uintptr_t)s_vectors;
    __DSB();
    enum MvStatus bad = mvSetFastInterrupt(46), good = mvSetFastInterrupt(47);
    SCB_VTOR = SECURE_SRAM;  /* a table in secure memory */
    __DSB();
    enum MvStatus secure_table = mvSetFastInterrupt(48);
    SCB_VTOR = vtor;
    __DSB();
    expect("fast/vector-in-kernel", bad, MV_STATUS_INVALIDVECTOR);
    expect("fast/vector-table-in-sram", good, MV_STATUS_OKAY);
    expect("fast/vector-table-secure", secure_table, MV_STATUS_INVALIDVECTOR);
    mvClearFastInterrupt(47);
}

static void check_system_led(void)
{
    expect("led/off", mvSystemLedEnable(0), MV_STATUS_OKAY);
    expect("led/reserved", mvSystemLedEnable(2), MV_STATUS_PARAMETERFAULT);
    expect("led/on", mvSystemLedEnable(1), MV_STATUS_OKAY);
    expect("led/off-again", mvSystemLedEnable(0), MV_STATUS_OKAY);
    nvic_enable_irq(IRQ_B);
    NVIC_ISPR(IRQ_B >> 5) = 1u << (IRQ_B & 31u);
    __DSB();
    __ISB();
    expect("led/from-irq", s_led_from_irq, MV_STATUS_UNAVAILABLE);
}

int main(void)
{
    log_init();
    log_printf("device_calls: start");
    check_wall_time();
    check_device_id();
    check_struct_test();
    check_logging();
    check_peek_poke();
    check_fast_interrupts();
    check_system_led();
    done();
}
