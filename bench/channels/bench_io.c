/*
 * bench_io.c - the channel benchmark applications' lines (USART2), sleeps (SysTick), config and end.
 */
#include "bench_io.h"

#include <stdarg.h>

#include "log.h"
#include "net.h"
#include "stm32u585_regs.h"

#define CONFIG_TAG 0xC0F1u

static volatile uint32_t s_ticks;
static int s_keep_ticking;
static uint8_t s_rx[512] __attribute__((aligned(512)));
static uint8_t s_tx[512] __attribute__((aligned(512)));

void SysTick_Handler(void)
{
    s_ticks++;
}

void io_init(void)
{
    RCC_APB1ENR1 |= RCC_APB1ENR1_USART2EN;
    (void)RCC_APB1ENR1;  /* read back: the clock is on before the port is touched */
    USART_REG(USART2_BASE, USART_CR1_OFS) = USART_CR1_UE | USART_CR1_TE;
}

static void put(char c)
{
    while ((USART_REG(USART2_BASE, USART_ISR_OFS) & USART_ISR_TXE) == 0u) {
    }
    USART_REG(USART2_BASE, USART_TDR_OFS) = (uint8_t)c;
}

void io_printf(const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    uint32_t length = log_vformat(line, sizeof line, fmt, ap);
    va_end(ap);
    for (uint32_t i = 0; i < length; i++) put(line[i]);
    put('\n');
}

static void tick_on(void)
{
    SYST_RVR = CORE_CLOCK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

void io_ticks(int on)
{
    s_keep_ticking = on;
    if (on) {
        tick_on();
    } else {
        SYST_CSR = 0;
    }
}

uint32_t io_ms(void)
{
    return s_ticks;
}

void io_sleep_ms(uint32_t ms)
{
    uint32_t start = s_ticks;
    if (!s_keep_ticking) tick_on();
    while (s_ticks - start < ms) {
        __asm volatile("wfi");
    }
    if (!s_keep_ticking) SYST_CSR = 0;
}

uint32_t io_length(const char *text)
{
    uint32_t n = 0;
    while (text[n] != '\0') n++;
    return n;
}

int32_t io_config(const char *key, char *out, uint32_t size)
{
    MvChannelHandle channel = 0;
    enum MvStatus status = net_open_channel(MV_CHANNELTYPE_CONFIGFETCH, NULL, CONFIG_TAG, s_rx, sizeof s_rx,
                                            s_tx, sizeof s_tx, &channel);
    const struct MvConfigKeyToFetch item = {
        .scope = MV_CONFIGKEYFETCHSCOPE_ACCOUNT, .store = MV_CONFIGKEYFETCHSTORE_CONFIG,
        .key = {(const uint8_t *)key, io_length(key)}};
    const struct MvConfigKeyFetchParams request = {.num_items = 1, .keys_to_fetch = &item};
    if (status == MV_STATUS_OKAY) status = mvSendConfigFetchRequest(channel, &request);
    if (status == MV_STATUS_OKAY && net_wait(CONFIG_TAG, 20000) != MV_EVENTTYPE_CHANNELDATAREADABLE) {
        status = MV_STATUS_RESPONSENOTPRESENT;
    }
    enum MvConfigKeyFetchResult result = MV_CONFIGKEYFETCHRESULT_SERVERERROR;
    uint32_t length = 0;
    const struct MvConfigResponseReadItemParams read = {
        .item_index = 0, .result = &result, .buf = {(uint8_t *)out, size - 1u, &length}};
    if (status == MV_STATUS_OKAY) status = mvReadConfigResponseItem(channel, &read);
    if (channel != 0) mvCloseChannel(&channel);
    if (status != MV_STATUS_OKAY || result != MV_CONFIGKEYFETCHRESULT_OK || length >= size) {
        out[0] = '\0';
        return -1;
    }
    out[length] = '\0';
    return (int32_t)length;
}

uint32_t io_number(const char **text)
{
    uint32_t value = 0;
    const char *at = *text;
    while (*at >= '0' && *at <= '9') value = value * 10u + (uint32_t)(*at++ - '0');
    if (*at == ' ') at++;
    *text = at;
    return value;
}

void io_park(void)
{
    for (;;) {
        __asm volatile("wfi");
    }
}

void io_fail(const char *name, const char *why, uint32_t code)
{
    io_printf("%s: FAIL %s %u", name, why, (unsigned)code);
    io_park();
}
