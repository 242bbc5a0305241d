/*
 * stm32u585_regs.h - the few STM32U585 / Cortex-M33 registers the examples use.
 *
 * Our own minimal register map (non-secure addresses, as the application sees them), written
 * from the reference manual's facts. Not a replacement for a full device header.
 */
#ifndef STM32U585_REGS_H
#define STM32U585_REGS_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define REG8(addr)  (*(volatile uint8_t *)(uintptr_t)(addr))

/* ---- Clocks -------------------------------------------------------------------------------- */
#define CORE_CLOCK_HZ 160000000u

/* ---- RCC (reset and clock control), non-secure alias --------------------------------------- */
#define RCC_BASE        0x46020C00u
#define RCC_AHB1ENR     REG32(RCC_BASE + 0x88u)
#define RCC_AHB2ENR1    REG32(RCC_BASE + 0x8Cu)
#define RCC_AHB2ENR2    REG32(RCC_BASE + 0x90u)
#define RCC_AHB3ENR     REG32(RCC_BASE + 0x94u)
#define RCC_APB1ENR1    REG32(RCC_BASE + 0x9Cu)
#define RCC_APB1ENR2    REG32(RCC_BASE + 0xA0u)
#define RCC_APB2ENR     REG32(RCC_BASE + 0xA4u)
#define RCC_APB3ENR     REG32(RCC_BASE + 0xA8u)

#define RCC_AHB2ENR1_GPIOEN(port) (1u << (port))   /* port 0 = A ... 8 = I */
#define RCC_AHB2ENR1_GPIOAEN      (1u << 0)
#define RCC_AHB2ENR1_GPIOBEN      (1u << 1)
#define RCC_APB1ENR1_TIM2EN       (1u << 0)
#define RCC_APB1ENR1_USART2EN     (1u << 17)
#define RCC_APB2ENR_USART1EN      (1u << 14)

/* The clock tree (RCC_CR, CFGR1..3, PLL1), as the microvisor leaves it: SYSCLK = PLL1 at 160 MHz. */
#define RCC_CR          REG32(RCC_BASE + 0x00u)
#define RCC_ICSCR1      REG32(RCC_BASE + 0x08u)
#define RCC_CFGR1       REG32(RCC_BASE + 0x1Cu)
#define RCC_CFGR2       REG32(RCC_BASE + 0x20u)
#define RCC_CFGR3       REG32(RCC_BASE + 0x24u)
#define RCC_PLL1CFGR    REG32(RCC_BASE + 0x28u)
#define RCC_PLL1DIVR    REG32(RCC_BASE + 0x34u)
#define RCC_PLL1FRACR   REG32(RCC_BASE + 0x38u)
#define RCC_CSR         REG32(RCC_BASE + 0xF4u)
#define RCC_REG_ADDR(ofs) (RCC_BASE + (ofs))   /* for mvPeriphPeek32 */

#define RCC_CR_MSISRDY            (1u << 2)
#define RCC_CR_HSIRDY             (1u << 10)
#define RCC_CR_HSERDY             (1u << 17)
#define RCC_CR_PLL1ON             (1u << 24)
#define RCC_CR_PLL1RDY            (1u << 25)
#define RCC_ICSCR1_MSIRGSEL       (1u << 23)
#define RCC_ICSCR1_MSISRANGE_POS  28u         /* 4 bits */
#define RCC_CSR_MSISSRANGE_POS    12u         /* 4 bits */
#define RCC_CFGR1_SW_POS          0u          /* 2 bits: 0 MSIS, 1 HSI16, 2 HSE, 3 PLL1 */
#define RCC_CFGR1_SWS_POS         2u          /* 2 bits */
#define RCC_CFGR2_HPRE_POS        0u          /* 4 bits: 0xxx /1, 1000 /2 ... 1111 /512 */
#define RCC_CFGR2_PPRE1_POS       4u          /* 3 bits: 0xx /1, 100 /2 ... 111 /16 */
#define RCC_CFGR2_PPRE2_POS       8u
#define RCC_CFGR3_PPRE3_POS       4u
#define RCC_PLL1CFGR_PLL1SRC_POS  0u          /* 2 bits: 0 none, 1 MSIS, 2 HSI16, 3 HSE */
#define RCC_PLL1CFGR_PLL1FRACEN   (1u << 4)
#define RCC_PLL1CFGR_PLL1M_POS    8u          /* 4 bits: divider - 1 */
#define RCC_PLL1CFGR_PLL1REN      (1u << 18)
#define RCC_PLL1DIVR_PLL1N_POS    0u          /* 9 bits: multiplier - 1 */
#define RCC_PLL1DIVR_PLL1R_POS    24u         /* 7 bits: divider - 1 */
#define RCC_PLL1FRACR_FRACN_POS   3u          /* 13 bits: fraction of N in 1/8192 */
#define RCC_APB1ENR1_SPI2EN       (1u << 14)
#define RCC_APB1ENR1_I2C1EN       (1u << 21)
#define RCC_APB1ENR1_I2C2EN       (1u << 22)
#define RCC_APB1ENR2_I2C4EN       (1u << 1)
#define RCC_APB2ENR_SPI1EN        (1u << 12)
#define RCC_APB3ENR_SPI3EN        (1u << 5)
#define RCC_APB3ENR_I2C3EN        (1u << 7)

#define MSIS_RESET_HZ 4000000u    /* MSI range 4 */
#define HSI16_HZ      16000000u

/* ---- PWR and the FLASH interface: voltage scaling and wait states -------------------------- */
#define PWR_BASE        0x46020800u
#define PWR_VOSR        REG32(PWR_BASE + 0x0Cu)
#define PWR_VOSR_BOOSTRDY   (1u << 14)
#define PWR_VOSR_VOSRDY     (1u << 15)
#define PWR_VOSR_VOS_POS    16u       /* 2 bits: 0 range 4 ... 3 range 1 */
#define PWR_VOSR_BOOSTEN    (1u << 18)
#define FLASH_R_BASE    0x40022000u
#define FLASH_ACR       REG32(FLASH_R_BASE + 0x00u)
#define FLASH_ACR_LATENCY   0xFu

/* ---- I2C1..I2C4 ---------------------------------------------------------------------------- */
#define I2C1_BASE 0x40005400u
#define I2C2_BASE 0x40005800u
#define I2C3_BASE 0x46002800u
#define I2C4_BASE 0x40008400u
#define I2C_CR1_OFS      0x00u
#define I2C_CR2_OFS      0x04u
#define I2C_OAR1_OFS     0x08u
#define I2C_OAR2_OFS     0x0Cu
#define I2C_TIMINGR_OFS  0x10u
#define I2C_TIMEOUTR_OFS 0x14u
#define I2C_ISR_OFS      0x18u
#define I2C_ICR_OFS      0x1Cu
#define I2C_RXDR_OFS     0x24u
#define I2C_TXDR_OFS     0x28u
#define I2C_REG(base, ofs) REG32((base) + (ofs))
#define I2C_CR1_PE       (1u << 0)
#define I2C_CR1_TXIE     (1u << 1)
#define I2C_CR1_RXIE     (1u << 2)
#define I2C_CR1_NACKIE   (1u << 4)
#define I2C_CR1_STOPIE   (1u << 5)
#define I2C_CR1_TCIE     (1u << 6)
#define I2C_CR1_ERRIE    (1u << 7)
#define I2C_CR2_RD_WRN   (1u << 10)
#define I2C_CR2_START    (1u << 13)
#define I2C_CR2_STOP     (1u << 14)
#define I2C_CR2_NACK     (1u << 15)
#define I2C_CR2_NBYTES_POS 16u
#define I2C_CR2_RELOAD   (1u << 24)
#define I2C_CR2_AUTOEND  (1u << 25)
#define I2C_ISR_TXE      (1u << 0)
#define I2C_ISR_TXIS     (1u << 1)
#define I2C_ISR_RXNE     (1u << 2)
#define I2C_ISR_NACKF    (1u << 4)
#define I2C_ISR_STOPF    (1u << 5)
#define I2C_ISR_TC       (1u << 6)
#define I2C_ISR_TCR      (1u << 7)
#define I2C_ISR_BUSY     (1u << 15)
#define I2C_ICR_NACKCF   (1u << 4)
#define I2C_ICR_STOPCF   (1u << 5)

/* ---- SPI1..SPI3 (the FIFO-based SPI of the STM32U5) ------------------------------------------ */
#define SPI1_BASE 0x40013000u
#define SPI2_BASE 0x40003800u
#define SPI3_BASE 0x46002000u
#define SPI_CR1_OFS  0x00u
#define SPI_CR2_OFS  0x04u
#define SPI_CFG1_OFS 0x08u
#define SPI_CFG2_OFS 0x0Cu
#define SPI_IER_OFS  0x10u
#define SPI_SR_OFS   0x14u
#define SPI_IFCR_OFS 0x18u
#define SPI_TXDR_OFS 0x20u
#define SPI_RXDR_OFS 0x30u
#define SPI_REG(base, ofs) REG32((base) + (ofs))
#define SPI_REG8(base, ofs) REG8((base) + (ofs))
#define SPI_CR1_SPE      (1u << 0)
#define SPI_CR1_CSTART   (1u << 9)
#define SPI_CR1_SSI      (1u << 12)
#define SPI_CFG1_DSIZE_POS 0u    /* 5 bits: bits per frame - 1 */
#define SPI_CFG1_FTHLV_POS 5u    /* 4 bits: frames per packet - 1 */
#define SPI_CFG1_MBR_POS   28u   /* 3 bits: clock divider */
#define SPI_CFG2_COMM_POS  17u   /* 2 bits: 0 full duplex, 1 transmitter, 2 receiver, 3 half */
#define SPI_CFG2_MASTER  (1u << 22)
#define SPI_CFG2_SSM     (1u << 26)
#define SPI_IER_EOTIE    (1u << 3)
#define SPI_SR_RXP       (1u << 0)
#define SPI_SR_TXP       (1u << 1)
#define SPI_SR_EOT       (1u << 3)
#define SPI_SR_TXTF      (1u << 4)
#define SPI_SR_OVR       (1u << 6)
#define SPI_SR_TXC       (1u << 12)
#define SPI_SR_RXPLVL_POS 13u    /* 2 bits */
#define SPI_SR_RXWNE     (1u << 15)
#define SPI_IFCR_EOTC    (1u << 3)
#define SPI_IFCR_TXTFC   (1u << 4)

/* ---- GPIO ports A..I ----------------------------------------------------------------------- */
#define GPIOA_BASE 0x42020000u
#define GPIOB_BASE 0x42020400u
#define GPIOC_BASE 0x42020800u
#define GPIOD_BASE 0x42020C00u
#define GPIOE_BASE 0x42021000u
#define GPIOF_BASE 0x42021400u
#define GPIOG_BASE 0x42021800u
#define GPIOH_BASE 0x42021C00u
#define GPIOI_BASE 0x42022000u

#define GPIO_MODER_OFS   0x00u  /* 2 bits per pin: 00 input, 01 output, 10 alternate, 11 analog */
#define GPIO_OTYPER_OFS  0x04u  /* 1 bit per pin: 0 push-pull, 1 open drain */
#define GPIO_OSPEEDR_OFS 0x08u
#define GPIO_PUPDR_OFS   0x0Cu
#define GPIO_IDR_OFS     0x10u
#define GPIO_ODR_OFS     0x14u
#define GPIO_BSRR_OFS    0x18u  /* low half sets pins, high half resets them */
#define GPIO_AFRL_OFS    0x20u
#define GPIO_AFRH_OFS    0x24u
#define GPIO_BRR_OFS     0x28u

#define GPIO_REG(base, ofs) REG32((base) + (ofs))
#define GPIO_MODE_INPUT   0u
#define GPIO_MODE_OUTPUT  1u
#define GPIO_MODE_ALT     2u
#define GPIO_MODE_ANALOG  3u

/* ---- TIM2 (general-purpose 32-bit timer) --------------------------------------------------- */
#define TIM2_BASE  0x40000000u
#define TIM2_CR1   REG32(TIM2_BASE + 0x00u)
#define TIM2_DIER  REG32(TIM2_BASE + 0x0Cu)
#define TIM2_SR    REG32(TIM2_BASE + 0x10u)
#define TIM2_EGR   REG32(TIM2_BASE + 0x14u)
#define TIM2_CNT   REG32(TIM2_BASE + 0x24u)
#define TIM2_PSC   REG32(TIM2_BASE + 0x28u)
#define TIM2_ARR   REG32(TIM2_BASE + 0x2Cu)
#define TIM_CR1_CEN  (1u << 0)
#define TIM_DIER_UIE (1u << 0)
#define TIM_SR_UIF   (1u << 0)

/* ---- USART1 / USART2 ----------------------------------------------------------------------- */
#define USART1_BASE 0x40013800u
#define USART2_BASE 0x40004400u
#define USART_CR1_OFS 0x00u
#define USART_CR2_OFS 0x04u
#define USART_CR3_OFS 0x08u
#define USART_BRR_OFS 0x0Cu
#define USART_ISR_OFS 0x1Cu
#define USART_ICR_OFS 0x20u
#define USART_RDR_OFS 0x24u
#define USART_TDR_OFS 0x28u
#define USART_REG(base, ofs) REG32((base) + (ofs))
#define USART_CR1_UE     (1u << 0)
#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_ISR_RXNE   (1u << 5)
#define USART_ISR_TC     (1u << 6)
#define USART_ISR_TXE    (1u << 7)

/* ---- SysTick -------------------------------------------------------------------------------- */
#define SYST_CSR   REG32(0xE000E010u)
#define SYST_RVR   REG32(0xE000E014u)
#define SYST_CVR   REG32(0xE000E018u)
#define SYST_CALIB REG32(0xE000E01Cu)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)   /* 1: processor clock */
#define SYST_CSR_COUNTFLAG (1u << 16)

/* ---- SCB (system control block) -------------------------------------------------------------- */
#define SCB_CPUID  REG32(0xE000ED00u)
#define SCB_ICSR   REG32(0xE000ED04u)
#define SCB_VTOR   REG32(0xE000ED08u)
#define SCB_AIRCR  REG32(0xE000ED0Cu)
#define SCB_SCR    REG32(0xE000ED10u)
#define SCB_CCR    REG32(0xE000ED14u)
#define SCB_SHPR1  REG32(0xE000ED18u)
#define SCB_SHPR2  REG32(0xE000ED1Cu)
#define SCB_SHPR3  REG32(0xE000ED20u)
#define SCB_SHCSR  REG32(0xE000ED24u)
#define SCB_CFSR   REG32(0xE000ED28u)
#define SCB_HFSR   REG32(0xE000ED2Cu)
#define SCB_PRIO_SVCALL  REG8(0xE000ED1Fu)
#define SCB_PRIO_PENDSV  REG8(0xE000ED22u)
#define SCB_PRIO_SYSTICK REG8(0xE000ED23u)
#define SCB_ICSR_PENDSTCLR (1u << 25)
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_ICSR_PENDSVCLR (1u << 27)
#define SCB_ICSR_PENDSVSET (1u << 28)
#define SCB_SCR_SLEEPDEEP  (1u << 2)

/* ---- NVIC ------------------------------------------------------------------------------------ */
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define NVIC_IPR(irq) REG8(0xE000E400u + (irq))
#define NVIC_PRIO_BITS 4u   /* only the top 4 bits of a priority byte are implemented */

static inline void nvic_enable_irq(uint32_t irq)  { NVIC_ISER(irq >> 5) = 1u << (irq & 31u); }
static inline void nvic_disable_irq(uint32_t irq) { NVIC_ICER(irq >> 5) = 1u << (irq & 31u); }
static inline void nvic_clear_pending(uint32_t irq) { NVIC_ICPR(irq >> 5) = 1u << (irq & 31u); }

/* ---- RTC wake-up timer and TAMP backup registers (non-secure aliases) ----------------------- */
#define RTC_BASE           0x46007800u
#define RTC_ICSR           REG32(RTC_BASE + 0x0Cu)
#define RTC_WUTR           REG32(RTC_BASE + 0x14u)
#define RTC_CR             REG32(RTC_BASE + 0x18u)
#define RTC_WPR            REG32(RTC_BASE + 0x24u)
#define RTC_SCR            REG32(RTC_BASE + 0x5Cu)
#define RTC_ICSR_WUTWF     (1u << 2)
#define RTC_CR_WUCKSEL_1HZ 4u
#define RTC_CR_WUTE        (1u << 10)
#define RTC_CR_WUTIE       (1u << 14)
#define RTC_SCR_CWUTF      (1u << 2)
#define TAMP_BKPR(n)       REG32(0x46007C00u + 0x100u + 4u * (n))

/* ---- IRQ numbers used by the examples ----------------------------------------------------- */
#define RTC_IRQn      2
#define TIM1_BRK_IRQn 41
#define TIM2_IRQn     45
#define USART1_IRQn   61
#define USART2_IRQn   62
#define I2C1_EV_IRQn  55
#define I2C1_ER_IRQn  56
#define I2C2_EV_IRQn  57
#define I2C2_ER_IRQn  58
#define SPI1_IRQn     59
#define SPI2_IRQn     60
#define I2C3_EV_IRQn  88
#define I2C3_ER_IRQn  89
#define SPI3_IRQn     99
#define I2C4_ER_IRQn  100
#define I2C4_EV_IRQn  101

/* ---- Core intrinsics ------------------------------------------------------------------------ */
#define __WFI()   __asm volatile("wfi" ::: "memory")
#define __WFE()   __asm volatile("wfe" ::: "memory")
#define __DSB()   __asm volatile("dsb 0xF" ::: "memory")
#define __ISB()   __asm volatile("isb 0xF" ::: "memory")
#define __disable_irq() __asm volatile("cpsid i" ::: "memory")
#define __enable_irq()  __asm volatile("cpsie i" ::: "memory")

static inline uint32_t get_primask(void)
{
    uint32_t v;
    __asm volatile("mrs %0, primask" : "=r"(v));
    return v;
}

static inline void set_primask(uint32_t v)
{
    __asm volatile("msr primask, %0" : : "r"(v) : "memory");
}

#endif /* STM32U585_REGS_H */
