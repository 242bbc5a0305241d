/*
 * startup_stm32u585.c - vector table and reset code for Microvisor applications on the STM32U585.
 *
 * The vector table sits at the start of application flash (0x08000000): the initial main stack
 * pointer, Reset_Handler, the Cortex-M33 system exceptions and the 126 STM32U585 interrupts
 * (IRQn 0..125) under their CMSIS handler names. Every handler is a weak alias of
 * Default_Handler, so an application overrides one simply by defining a function of that name.
 *
 * Reset_Handler copies .data from flash to SRAM, zeroes .bss, points VTOR at this table, calls
 * SystemInit() if the application defines one, runs static constructors, then calls main().
 */
#include <stdint.h>

/* Symbols from the linker script (sdk/ld/stm32u585_app.ld). */
extern uint32_t _estack;
extern uint32_t _sidata, _sdata, _edata;
extern uint32_t _sbss, _ebss;
extern void (*__preinit_array_start[])(void);
extern void (*__preinit_array_end[])(void);
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

extern int main(void);
void SystemInit(void) __attribute__((weak));

void Reset_Handler(void);
void Default_Handler(void);

#define WEAK_HANDLER(name) void name(void) __attribute__((weak, alias("Default_Handler")))

/* Cortex-M33 system exceptions. */
WEAK_HANDLER(NMI_Handler);
WEAK_HANDLER(HardFault_Handler);
WEAK_HANDLER(MemManage_Handler);
WEAK_HANDLER(BusFault_Handler);
WEAK_HANDLER(UsageFault_Handler);
WEAK_HANDLER(SecureFault_Handler);
WEAK_HANDLER(SVC_Handler);
WEAK_HANDLER(DebugMon_Handler);
WEAK_HANDLER(PendSV_Handler);
WEAK_HANDLER(SysTick_Handler);

/* STM32U585 interrupts, IRQn 0..125. */
WEAK_HANDLER(WWDG_IRQHandler);
WEAK_HANDLER(PVD_PVM_IRQHandler);
WEAK_HANDLER(RTC_IRQHandler);
WEAK_HANDLER(RTC_S_IRQHandler);
WEAK_HANDLER(TAMP_IRQHandler);
WEAK_HANDLER(RAMCFG_IRQHandler);
WEAK_HANDLER(FLASH_IRQHandler);
WEAK_HANDLER(FLASH_S_IRQHandler);
WEAK_HANDLER(GTZC_IRQHandler);
WEAK_HANDLER(RCC_IRQHandler);
WEAK_HANDLER(RCC_S_IRQHandler);
WEAK_HANDLER(EXTI0_IRQHandler);
WEAK_HANDLER(EXTI1_IRQHandler);
WEAK_HANDLER(EXTI2_IRQHandler);
WEAK_HANDLER(EXTI3_IRQHandler);
WEAK_HANDLER(EXTI4_IRQHandler);
WEAK_HANDLER(EXTI5_IRQHandler);
WEAK_HANDLER(EXTI6_IRQHandler);
WEAK_HANDLER(EXTI7_IRQHandler);
WEAK_HANDLER(EXTI8_IRQHandler);
WEAK_HANDLER(EXTI9_IRQHandler);
WEAK_HANDLER(EXTI10_IRQHandler);
WEAK_HANDLER(EXTI11_IRQHandler);
WEAK_HANDLER(EXTI12_IRQHandler);
WEAK_HANDLER(EXTI13_IRQHandler);
WEAK_HANDLER(EXTI14_IRQHandler);
WEAK_HANDLER(EXTI15_IRQHandler);
WEAK_HANDLER(IWDG_IRQHandler);
WEAK_HANDLER(SAES_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel0_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel1_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel2_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel3_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel4_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel5_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel6_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel7_IRQHandler);
WEAK_HANDLER(ADC1_IRQHandler);
WEAK_HANDLER(DAC1_IRQHandler);
WEAK_HANDLER(FDCAN1_IT0_IRQHandler);
WEAK_HANDLER(FDCAN1_IT1_IRQHandler);
WEAK_HANDLER(TIM1_BRK_IRQHandler);
WEAK_HANDLER(TIM1_UP_IRQHandler);
WEAK_HANDLER(TIM1_TRG_COM_IRQHandler);
WEAK_HANDLER(TIM1_CC_IRQHandler);
WEAK_HANDLER(TIM2_IRQHandler);
WEAK_HANDLER(TIM3_IRQHandler);
WEAK_HANDLER(TIM4_IRQHandler);
WEAK_HANDLER(TIM5_IRQHandler);
WEAK_HANDLER(TIM6_IRQHandler);
WEAK_HANDLER(TIM7_IRQHandler);
WEAK_HANDLER(TIM8_BRK_IRQHandler);
WEAK_HANDLER(TIM8_UP_IRQHandler);
WEAK_HANDLER(TIM8_TRG_COM_IRQHandler);
WEAK_HANDLER(TIM8_CC_IRQHandler);
WEAK_HANDLER(I2C1_EV_IRQHandler);
WEAK_HANDLER(I2C1_ER_IRQHandler);
WEAK_HANDLER(I2C2_EV_IRQHandler);
WEAK_HANDLER(I2C2_ER_IRQHandler);
WEAK_HANDLER(SPI1_IRQHandler);
WEAK_HANDLER(SPI2_IRQHandler);
WEAK_HANDLER(USART1_IRQHandler);
WEAK_HANDLER(USART2_IRQHandler);
WEAK_HANDLER(USART3_IRQHandler);
WEAK_HANDLER(UART4_IRQHandler);
WEAK_HANDLER(UART5_IRQHandler);
WEAK_HANDLER(LPUART1_IRQHandler);
WEAK_HANDLER(LPTIM1_IRQHandler);
WEAK_HANDLER(LPTIM2_IRQHandler);
WEAK_HANDLER(TIM15_IRQHandler);
WEAK_HANDLER(TIM16_IRQHandler);
WEAK_HANDLER(TIM17_IRQHandler);
WEAK_HANDLER(COMP_IRQHandler);
WEAK_HANDLER(OTG_FS_IRQHandler);
WEAK_HANDLER(CRS_IRQHandler);
WEAK_HANDLER(FMC_IRQHandler);
WEAK_HANDLER(OCTOSPI1_IRQHandler);
WEAK_HANDLER(PWR_S3WU_IRQHandler);
WEAK_HANDLER(SDMMC1_IRQHandler);
WEAK_HANDLER(SDMMC2_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel8_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel9_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel10_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel11_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel12_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel13_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel14_IRQHandler);
WEAK_HANDLER(GPDMA1_Channel15_IRQHandler);
WEAK_HANDLER(I2C3_EV_IRQHandler);
WEAK_HANDLER(I2C3_ER_IRQHandler);
WEAK_HANDLER(SAI1_IRQHandler);
WEAK_HANDLER(SAI2_IRQHandler);
WEAK_HANDLER(TSC_IRQHandler);
WEAK_HANDLER(AES_IRQHandler);
WEAK_HANDLER(RNG_IRQHandler);
WEAK_HANDLER(FPU_IRQHandler);
WEAK_HANDLER(HASH_IRQHandler);
WEAK_HANDLER(PKA_IRQHandler);
WEAK_HANDLER(LPTIM3_IRQHandler);
WEAK_HANDLER(SPI3_IRQHandler);
WEAK_HANDLER(I2C4_ER_IRQHandler);
WEAK_HANDLER(I2C4_EV_IRQHandler);
WEAK_HANDLER(MDF1_FLT0_IRQHandler);
WEAK_HANDLER(MDF1_FLT1_IRQHandler);
WEAK_HANDLER(MDF1_FLT2_IRQHandler);
WEAK_HANDLER(MDF1_FLT3_IRQHandler);
WEAK_HANDLER(UCPD1_IRQHandler);
WEAK_HANDLER(ICACHE_IRQHandler);
WEAK_HANDLER(OTFDEC1_IRQHandler);
WEAK_HANDLER(OTFDEC2_IRQHandler);
WEAK_HANDLER(LPTIM4_IRQHandler);
WEAK_HANDLER(DCACHE1_IRQHandler);
WEAK_HANDLER(ADF1_IRQHandler);
WEAK_HANDLER(ADC4_IRQHandler);
WEAK_HANDLER(LPDMA1_Channel0_IRQHandler);
WEAK_HANDLER(LPDMA1_Channel1_IRQHandler);
WEAK_HANDLER(LPDMA1_Channel2_IRQHandler);
WEAK_HANDLER(LPDMA1_Channel3_IRQHandler);
WEAK_HANDLER(DMA2D_IRQHandler);
WEAK_HANDLER(DCMI_PSSI_IRQHandler);
WEAK_HANDLER(OCTOSPI2_IRQHandler);
WEAK_HANDLER(MDF1_FLT4_IRQHandler);
WEAK_HANDLER(MDF1_FLT5_IRQHandler);
WEAK_HANDLER(CORDIC_IRQHandler);
WEAK_HANDLER(FMAC_IRQHandler);
WEAK_HANDLER(LSECSSD_IRQHandler);

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used))
const vector_t g_vector_table[16 + 126] = {
    (vector_t)&_estack,              /* initial main stack pointer */
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0, 0, 0,                         /* reserved */
    SVC_Handler,
    DebugMon_Handler,
    0,                               /* reserved */
    PendSV_Handler,
    SysTick_Handler,
    WWDG_IRQHandler,                 /*   0 */
    PVD_PVM_IRQHandler,              /*   1 */
    RTC_IRQHandler,                  /*   2 */
    RTC_S_IRQHandler,                /*   3 */
    TAMP_IRQHandler,                 /*   4 */
    RAMCFG_IRQHandler,               /*   5 */
    FLASH_IRQHandler,                /*   6 */
    FLASH_S_IRQHandler,              /*   7 */
    GTZC_IRQHandler,                 /*   8 */
    RCC_IRQHandler,                  /*   9 */
    RCC_S_IRQHandler,                /*  10 */
    EXTI0_IRQHandler,                /*  11 */
    EXTI1_IRQHandler,                /*  12 */
    EXTI2_IRQHandler,                /*  13 */
    EXTI3_IRQHandler,                /*  14 */
    EXTI4_IRQHandler,                /*  15 */
    EXTI5_IRQHandler,                /*  16 */
    EXTI6_IRQHandler,                /*  17 */
    EXTI7_IRQHandler,                /*  18 */
    EXTI8_IRQHandler,                /*  19 */
    EXTI9_IRQHandler,                /*  20 */
    EXTI10_IRQHandler,               /*  21 */
    EXTI11_IRQHandler,               /*  22 */
    EXTI12_IRQHandler,               /*  23 */
    EXTI13_IRQHandler,               /*  24 */
    EXTI14_IRQHandler,               /*  25 */
    EXTI15_IRQHandler,               /*  26 */
    IWDG_IRQHandler,                 /*  27 */
    SAES_IRQHandler,                 /*  28 */
    GPDMA1_Channel0_IRQHandler,      /*  29 */
    GPDMA1_Channel1_IRQHandler,      /*  30 */
    GPDMA1_Channel2_IRQHandler,      /*  31 */
    GPDMA1_Channel3_IRQHandler,      /*  32 */
    GPDMA1_Channel4_IRQHandler,      /*  33 */
    GPDMA1_Channel5_IRQHandler,      /*  34 */
    GPDMA1_Channel6_IRQHandler,      /*  35 */
    GPDMA1_Channel7_IRQHandler,      /*  36 */
    ADC1_IRQHandler,                 /*  37 */
    DAC1_IRQHandler,                 /*  38 */
    FDCAN1_IT0_IRQHandler,           /*  39 */
    FDCAN1_IT1_IRQHandler,           /*  40 */
    TIM1_BRK_IRQHandler,             /*  41 */
    TIM1_UP_IRQHandler,              /*  42 */
    TIM1_TRG_COM_IRQHandler,         /*  43 */
    TIM1_CC_IRQHandler,              /*  44 */
    TIM2_IRQHandler,                 /*  45 */
    TIM3_IRQHandler,                 /*  46 */
    TIM4_IRQHandler,                 /*  47 */
    TIM5_IRQHandler,                 /*  48 */
    TIM6_IRQHandler,                 /*  49 */
    TIM7_IRQHandler,                 /*  50 */
    TIM8_BRK_IRQHandler,             /*  51 */
    TIM8_UP_IRQHandler,              /*  52 */
    TIM8_TRG_COM_IRQHandler,         /*  53 */
    TIM8_CC_IRQHandler,              /*  54 */
    I2C1_EV_IRQHandler,              /*  55 */
    I2C1_ER_IRQHandler,              /*  56 */
    I2C2_EV_IRQHandler,              /*  57 */
    I2C2_ER_IRQHandler,              /*  58 */
    SPI1_IRQHandler,                 /*  59 */
    SPI2_IRQHandler,                 /*  60 */
    USART1_IRQHandler,               /*  61 */
    USART2_IRQHandler,               /*  62 */
    USART3_IRQHandler,               /*  63 */
    UART4_IRQHandler,                /*  64 */
    UART5_IRQHandler,                /*  65 */
    LPUART1_IRQHandler,              /*  66 */
    LPTIM1_IRQHandler,               /*  67 */
    LPTIM2_IRQHandler,               /*  68 */
    TIM15_IRQHandler,                /*  69 */
    TIM16_IRQHandler,                /*  70 */
    TIM17_IRQHandler,                /*  71 */
    COMP_IRQHandler,                 /*  72 */
    OTG_FS_IRQHandler,               /*  73 */
    CRS_IRQHandler,                  /*  74 */
    FMC_IRQHandler,                  /*  75 */
    OCTOSPI1_IRQHandler,             /*  76 */
    PWR_S3WU_IRQHandler,             /*  77 */
    SDMMC1_IRQHandler,               /*  78 */
    SDMMC2_IRQHandler,               /*  79 */
    GPDMA1_Channel8_IRQHandler,      /*  80 */
    GPDMA1_Channel9_IRQHandler,      /*  81 */
    GPDMA1_Channel10_IRQHandler,     /*  82 */
    GPDMA1_Channel11_IRQHandler,     /*  83 */
    GPDMA1_Channel12_IRQHandler,     /*  84 */
    GPDMA1_Channel13_IRQHandler,     /*  85 */
    GPDMA1_Channel14_IRQHandler,     /*  86 */
    GPDMA1_Channel15_IRQHandler,     /*  87 */
    I2C3_EV_IRQHandler,              /*  88 */
    I2C3_ER_IRQHandler,              /*  89 */
    SAI1_IRQHandler,                 /*  90 */
    SAI2_IRQHandler,                 /*  91 */
    TSC_IRQHandler,                  /*  92 */
    AES_IRQHandler,                  /*  93 */
    RNG_IRQHandler,                  /*  94 */
    FPU_IRQHandler,                  /*  95 */
    HASH_IRQHandler,                 /*  96 */
    PKA_IRQHandler,                  /*  97 */
    LPTIM3_IRQHandler,               /*  98 */
    SPI3_IRQHandler,                 /*  99 */
    I2C4_ER_IRQHandler,              /* 100 */
    I2C4_EV_IRQHandler,              /* 101 */
    MDF1_FLT0_IRQHandler,            /* 102 */
    MDF1_FLT1_IRQHandler,            /* 103 */
    MDF1_FLT2_IRQHandler,            /* 104 */
    MDF1_FLT3_IRQHandler,            /* 105 */
    UCPD1_IRQHandler,                /* 106 */
    ICACHE_IRQHandler,               /* 107 */
    OTFDEC1_IRQHandler,              /* 108 */
    OTFDEC2_IRQHandler,              /* 109 */
    LPTIM4_IRQHandler,               /* 110 */
    DCACHE1_IRQHandler,              /* 111 */
    ADF1_IRQHandler,                 /* 112 */
    ADC4_IRQHandler,                 /* 113 */
    LPDMA1_Channel0_IRQHandler,      /* 114 */
    LPDMA1_Channel1_IRQHandler,      /* 115 */
    LPDMA1_Channel2_IRQHandler,      /* 116 */
    LPDMA1_Channel3_IRQHandler,      /* 117 */
    DMA2D_IRQHandler,                /* 118 */
    DCMI_PSSI_IRQHandler,            /* 119 */
    OCTOSPI2_IRQHandler,             /* 120 */
    MDF1_FLT4_IRQHandler,            /* 121 */
    MDF1_FLT5_IRQHandler,            /* 122 */
    CORDIC_IRQHandler,               /* 123 */
    FMAC_IRQHandler,                 /* 124 */
    LSECSSD_IRQHandler,              /* 125 */
};

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }

    SCB_VTOR = (uint32_t)(uintptr_t)g_vector_table;
    __asm volatile("dsb 0xF\n isb 0xF" ::: "memory");

    if (SystemInit) {
        SystemInit();
    }
    for (void (**f)(void) = __preinit_array_start; f < __preinit_array_end; f++) {
        (*f)();
    }
    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++) {
        (*f)();
    }

    main();

    /* main() should not return; if it does, sleep for ever. */
    for (;;) {
        __asm volatile("wfi");
    }
}

/* Any exception or interrupt without a handler of its own ends up here. */
void Default_Handler(void)
{
    for (;;) {
    }
}
