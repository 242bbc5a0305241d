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

/* ---- IRQ numbers used by the examples ----------------------------------------------------- */
#define TIM1_BRK_IRQn 41
#define TIM2_IRQn     45
#define USART1_IRQn   61
#define USART2_IRQn   62

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
