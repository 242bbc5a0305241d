/*
 * blinky - the hello world of the SDK: toggles the LED on PA5 every 500 ms and logs each change.
 *
 * SysTick interrupts at 1 kHz (160 MHz core clock) and counts milliseconds; the main loop sleeps
 * with WFI between ticks. led_toggle (global alias of toggle_led) and blink_count are there for
 * debugger tests: break on led_toggle, read blink_count.
 *
 * Built with BLINKY_VERSION=2 (the blinky_v2 target), one function differs: report_led logs
 * "LED on (v2)" and "LED off (v2)", the second version `make demo` deploys over the air.
 */
#include <stdint.h>

#include "log.h"
#include "stm32u585_regs.h"

#define LED_PORT   GPIOA_BASE
#define LED_PIN    5u
#define PERIOD_MS  500u

#ifndef BLINKY_VERSION
#define BLINKY_VERSION 1
#endif

volatile uint32_t blink_count;
static volatile uint32_t s_ms;

void SysTick_Handler(void)
{
    s_ms++;
}

static void led_init(void)
{
    RCC_AHB2ENR1 |= RCC_AHB2ENR1_GPIOAEN;
    (void)RCC_AHB2ENR1;  /* read back: the clock is on before the port is touched */

    uint32_t moder = GPIO_REG(LED_PORT, GPIO_MODER_OFS);
    moder &= ~(3u << (2u * LED_PIN));
    moder |= GPIO_MODE_OUTPUT << (2u * LED_PIN);
    GPIO_REG(LED_PORT, GPIO_MODER_OFS) = moder;
    GPIO_REG(LED_PORT, GPIO_OTYPER_OFS) &= ~(1u << LED_PIN);  /* push-pull */
    GPIO_REG(LED_PORT, GPIO_BSRR_OFS) = 1u << (LED_PIN + 16u);  /* start off */
}

static void systick_init(void)
{
    SYST_RVR = CORE_CLOCK_HZ / 1000u - 1u;  /* 159999: one interrupt per millisecond */
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

/* Flip the LED; returns nothing, counts the toggles. Not inlined so a debugger can stop here. */
__attribute__((noinline)) static void toggle_led(void)
{
    if (GPIO_REG(LED_PORT, GPIO_ODR_OFS) & (1u << LED_PIN)) {
        GPIO_REG(LED_PORT, GPIO_BSRR_OFS) = 1u << (LED_PIN + 16u);  /* reset: off */
    } else {
        GPIO_REG(LED_PORT, GPIO_BSRR_OFS) = 1u << LED_PIN;          /* set: on */
    }
    blink_count++;
}

/* The global name the debugger tests break on. */
void led_toggle(void) __attribute__((alias("toggle_led")));

/* Log the LED's state: the one function v2 changes. */
static void report_led(int on)
{
#if BLINKY_VERSION >= 2
    log_printf("LED %s (v%d)", on ? "on" : "off", BLINKY_VERSION);
#else
    log_printf("LED %s", on ? "on" : "off");
#endif
}

int main(void)
{
    log_init();
    led_init();
    systick_init();

    uint32_t next = PERIOD_MS;
    for (;;) {
        while ((int32_t)(s_ms - next) < 0) {
            __WFI();
        }
        next += PERIOD_MS;
        toggle_led();
        report_led((GPIO_REG(LED_PORT, GPIO_ODR_OFS) >> LED_PIN) & 1u);
    }
}
