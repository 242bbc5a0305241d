/*
 * ticks - the RTOS tick against the RTC, over a minute of virtual time.
 *
 * The rtos example's scheduler (../rtos/rtos.c) ticks at 1 kHz from SysTick; the RTC's wake-up timer
 * interrupts once a second. At each RTC second the handler notes the tick count; a thread logs it,
 * and after RTC_SECONDS it checks that exactly 1000 ticks passed per second; a thread sleeping 7 ms
 * at a time counts its naps. The idle thread sleeps in WFI between ticks. It ends with
 * "ticks: PASS …" or "ticks: FAIL …".
 *
 * With virtual time made of executed instructions, the whole output, timestamps included, is the
 * same on every run, on any host, under any load.
 */
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "rtos.h"
#include "stm32u585_regs.h"

#define RTC_SECONDS   60u
#define TICKS_PER_S   1000u
#define NAP_TICKS     7u
#define STACK_WORDS   512

static uint32_t s_stack_reporter[STACK_WORDS] __attribute__((aligned(8)));
static uint32_t s_stack_napper[STACK_WORDS] __attribute__((aligned(8)));

static volatile uint32_t s_seconds;                      /* RTC wake-ups so far */
static volatile uint32_t s_tick_at[RTC_SECONDS + 1u];    /* rtos_ticks() at each of them */
static volatile uint32_t s_naps;                          /* the napper's wake-ups */
static volatile uint32_t s_naps_at_first_second;

void RTC_IRQHandler(void)
{
    RTC_SCR = RTC_SCR_CWUTF;
    if (s_seconds < RTC_SECONDS) {
        s_seconds++;
        s_tick_at[s_seconds] = rtos_ticks();
        if (s_seconds == 1u) {
            s_naps_at_first_second = s_naps;
        }
    }
}

static void rtc_every_second(void)
{
    RTC_WPR = 0xCAu;
    RTC_WPR = 0x53u;
    RTC_CR &= ~RTC_CR_WUTE;
    while (!(RTC_ICSR & RTC_ICSR_WUTWF)) {
    }
    RTC_WUTR = 0u;  /* 1 s from the 1 Hz clock */
    RTC_CR = (RTC_CR & ~7u) | RTC_CR_WUCKSEL_1HZ | RTC_CR_WUTIE | RTC_CR_WUTE;
    RTC_WPR = 0xFFu;
    RTC_SCR = RTC_SCR_CWUTF;
    nvic_enable_irq(RTC_IRQn);
}

static void napper(void)
{
    for (;;) {
        rtos_sleep(NAP_TICKS);
        s_naps++;
    }
}

static void reporter(void)
{
    rtc_every_second();
    uint32_t shown = 0;
    while (shown < RTC_SECONDS) {
        rtos_sleep(10u);
        while (shown < s_seconds) {
            shown++;
            log_printf("ticks: second %u tick %u", (unsigned)shown, (unsigned)s_tick_at[shown]);
        }
    }
    uint32_t ticks = s_tick_at[RTC_SECONDS] - s_tick_at[1];
    uint32_t expected = (RTC_SECONDS - 1u) * TICKS_PER_S;
    bool steady = true;
    for (uint32_t s = 2; s <= RTC_SECONDS; s++) {
        steady = steady && s_tick_at[s] - s_tick_at[s - 1u] == TICKS_PER_S;
    }
    log_printf("ticks: %s %u s, %u ticks (expected %u), naps %u",
               steady && ticks == expected ? "PASS" : "FAIL", (unsigned)(RTC_SECONDS - 1u),
               (unsigned)ticks, (unsigned)expected, (unsigned)(s_naps - s_naps_at_first_second));
    for (;;) {
        rtos_sleep(1000u);
    }
}

int main(void)
{
    rtos_create("reporter", reporter, 3, s_stack_reporter, STACK_WORDS);
    rtos_create("napper", napper, 2, s_stack_napper, STACK_WORDS);
    rtos_start();
}
