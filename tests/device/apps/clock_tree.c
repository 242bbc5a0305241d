/*
 * clock_tree - the clock tree as the microvisor leaves it for the application.
 *
 * Computes SYSCLK, HCLK and PCLK1..3 from the RCC registers the way ST's published HAL does
 * (SystemCoreClockUpdate / HAL_RCC_GetSysClockFreq: MSI range table, PLL1 source, M, N, FRACN, R,
 * then the AHB and APB prescaler tables), reading RCC through mvPeriphPeek32 as the Microvisor
 * port of the HAL does, and checks 160 MHz everywhere. Our own code, integer arithmetic.
 */
#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"
#include "check.h"
#include "stm32u585_regs.h"

#define TARGET_HZ 160000000u
#define HSE_HZ    16000000u  /* HSE_VALUE the Microvisor HAL assumes; not used at 160 MHz */

/* MSI frequency by range, 0..15 (RM0456 MSIS ranges). */
static const uint32_t k_msi_hz[16] = {
    48000000u, 24000000u, 16000000u, 12000000u, 4000000u, 2000000u, 1500000u, 1000000u,
    3072000u, 1536000u, 1024000u, 768000u, 400000u, 200000u, 150000u, 100000u,
};
/* Right shifts for HPRE (4 bits) and PPREx (3 bits): 0xxx / 0xx divide by 1. */
static const uint8_t k_ahb_shift[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9};
static const uint8_t k_apb_shift[8] = {0, 0, 0, 0, 1, 2, 3, 4};

/* An RCC register as the HAL's port reads it: through the microvisor, 0 when refused. */
static uint32_t rcc(uint32_t offset)
{
    uint32_t value = 0;
    if (mvPeriphPeek32(RCC_REG_ADDR(offset), &value) != MV_STATUS_OKAY) {
        return 0;
    }
    return value;
}

static uint32_t msis_hz(void)
{
    uint32_t range;
    if (rcc(0x08u) & RCC_ICSCR1_MSIRGSEL) {
        range = rcc(0x08u) >> RCC_ICSCR1_MSISRANGE_POS & 0xFu;
    } else {
        range = rcc(0xF4u) >> RCC_CSR_MSISSRANGE_POS & 0xFu;
    }
    return k_msi_hz[range];
}

static uint32_t pll1_hz(void)
{
    uint32_t cfgr = rcc(0x28u), divr = rcc(0x34u);
    uint32_t m = (cfgr >> RCC_PLL1CFGR_PLL1M_POS & 0xFu) + 1u;
    uint32_t n = divr >> RCC_PLL1DIVR_PLL1N_POS & 0x1FFu;
    uint32_t r = (divr >> RCC_PLL1DIVR_PLL1R_POS & 0x7Fu) + 1u;
    uint32_t fracn = 0;
    if (cfgr & RCC_PLL1CFGR_PLL1FRACEN) {
        fracn = rcc(0x38u) >> RCC_PLL1FRACR_FRACN_POS & 0x1FFFu;
    }
    uint32_t input;
    switch (cfgr >> RCC_PLL1CFGR_PLL1SRC_POS & 3u) {
    case 0: input = 0; break;
    case 2: input = HSI16_HZ; break;
    case 3: input = HSE_HZ; break;
    default: input = msis_hz(); break;
    }
    /* VCO = input / M * (N + 1 + FRACN / 8192); SYSCLK = VCO / R. */
    uint64_t vco_x8192 = (uint64_t)input * (((uint64_t)n + 1u) * 8192u + fracn) / m;
    return (uint32_t)(vco_x8192 / 8192u / r);
}

static uint32_t sysclk_hz(void)
{
    switch (rcc(0x1Cu) >> RCC_CFGR1_SWS_POS & 3u) {
    case 0: return msis_hz();
    case 1: return HSI16_HZ;
    case 2: return HSE_HZ;
    default: return pll1_hz();
    }
}

int main(void)
{
    log_init();
    log_printf("clock_tree: start");

    uint32_t cr = rcc(0x00u), cfgr1 = rcc(0x1Cu), cfgr2 = rcc(0x20u), cfgr3 = rcc(0x24u);
    check((cfgr1 >> RCC_CFGR1_SWS_POS & 3u) == 3u, "clock/sysclk-is-pll1", "CFGR1 0x%08x", cfgr1);
    check((cr & (RCC_CR_PLL1ON | RCC_CR_PLL1RDY)) == (RCC_CR_PLL1ON | RCC_CR_PLL1RDY),
           "clock/pll1-on-and-ready", "CR 0x%08x", cr);
    check((rcc(0x28u) & RCC_PLL1CFGR_PLL1REN) != 0, "clock/pll1-r-output", "PLL1CFGR 0x%08x",
           rcc(0x28u));

    uint32_t sysclk = sysclk_hz();
    uint32_t hclk = sysclk >> k_ahb_shift[cfgr2 >> RCC_CFGR2_HPRE_POS & 0xFu];
    uint32_t pclk1 = hclk >> k_apb_shift[cfgr2 >> RCC_CFGR2_PPRE1_POS & 7u];
    uint32_t pclk2 = hclk >> k_apb_shift[cfgr2 >> RCC_CFGR2_PPRE2_POS & 7u];
    uint32_t pclk3 = hclk >> k_apb_shift[cfgr3 >> RCC_CFGR3_PPRE3_POS & 7u];
    check(sysclk == TARGET_HZ, "clock/sysclk", "%u Hz", (unsigned)sysclk);
    check(hclk == TARGET_HZ, "clock/hclk", "%u Hz", (unsigned)hclk);
    check(pclk1 == TARGET_HZ, "clock/pclk1", "%u Hz", (unsigned)pclk1);
    check(pclk2 == TARGET_HZ, "clock/pclk2", "%u Hz", (unsigned)pclk2);
    check(pclk3 == TARGET_HZ, "clock/pclk3", "%u Hz", (unsigned)pclk3);

    uint32_t mv_hclk = 0;
    mvGetHClk(&mv_hclk);
    check(mv_hclk == hclk, "clock/agrees-with-mvGetHClk", "registers %u Hz, mvGetHClk %u Hz",
           (unsigned)hclk, (unsigned)mv_hclk);

    uint32_t vosr = PWR_VOSR;
    uint32_t want = PWR_VOSR_VOSRDY | PWR_VOSR_BOOSTEN | PWR_VOSR_BOOSTRDY;
    check((vosr >> PWR_VOSR_VOS_POS & 3u) == 3u && (vosr & want) == want, "clock/voltage-range-1",
           "VOSR 0x%08x", vosr);
    uint32_t latency = FLASH_ACR & FLASH_ACR_LATENCY;
    check(latency == 4u, "clock/flash-wait-states", "LATENCY %u", (unsigned)latency);

    done();
}
