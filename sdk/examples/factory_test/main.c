/*
 * factory_test - the customer's test bundle for the factory (step 9): it runs on each DUT once the
 * microvisor is installed, checks what the board should have, writes its findings to the
 * provisioning UART with mvTestLog, and ends with mvTestingComplete: 0 lets the microvisor install
 * the application over this test code (step 10), anything else rejects the board.
 *
 * The checks here: the LED pin can be driven both ways (PA5, read back from ODR), and the core
 * clock's tick runs (SysTick counts down). FACTORY_TEST_RESULT, when defined (the factory_test_fail
 * target), forces that result, as a board failing its test would.
 */
#include <stdint.h>

#include "mv_syscalls.h"
#include "stm32u585_regs.h"

#define LED_PIN 5u

static uint8_t s_test_log[1024] __attribute__((aligned(512)));

static void test_log(const char *text)
{
    uint16_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    (void)mvTestLog((const uint8_t *)text, length);
}

static int check_led_pin(void)
{
    RCC_AHB2ENR1 |= RCC_AHB2ENR1_GPIOAEN;
    (void)RCC_AHB2ENR1;
    uint32_t moder = GPIO_REG(GPIOA_BASE, GPIO_MODER_OFS);
    moder &= ~(3u << (2u * LED_PIN));
    moder |= GPIO_MODE_OUTPUT << (2u * LED_PIN);
    GPIO_REG(GPIOA_BASE, GPIO_MODER_OFS) = moder;
    GPIO_REG(GPIOA_BASE, GPIO_BSRR_OFS) = 1u << LED_PIN;
    int high = (GPIO_REG(GPIOA_BASE, GPIO_ODR_OFS) >> LED_PIN) & 1u;
    GPIO_REG(GPIOA_BASE, GPIO_BSRR_OFS) = 1u << (LED_PIN + 16u);
    int low = (GPIO_REG(GPIOA_BASE, GPIO_ODR_OFS) >> LED_PIN) & 1u;
    return high == 1 && low == 0;
}

static int check_tick(void)
{
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
    uint32_t first = SYST_CVR;
    for (volatile int i = 0; i < 1000; i++) {
    }
    uint32_t later = SYST_CVR;
    SYST_CSR = 0;
    return later != first;
}

int main(void)
{
    uint32_t failures = 0;
    (void)mvTestLoggingInit(s_test_log, sizeof s_test_log);
    test_log("factory test: start");
    if (check_led_pin()) {
        test_log("PASS led-pin");
    } else {
        test_log("FAIL led-pin");
        failures++;
    }
    if (check_tick()) {
        test_log("PASS systick");
    } else {
        test_log("FAIL systick");
        failures++;
    }
#ifdef FACTORY_TEST_RESULT
    failures = FACTORY_TEST_RESULT;
    test_log("factory test: result forced by the build");
#endif
    test_log(failures == 0 ? "factory test: passed" : "factory test: failed");
    (void)mvTestingComplete(failures);
    for (;;) {
        __asm volatile("wfi");
    }
}
