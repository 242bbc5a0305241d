/*
 * startup_an505.c - vector table and reset code for the CPU benchmark on QEMU's mps2-an505: the
 * system exceptions only (the benchmark takes SysTick and nothing else), .data copied, .bss
 * zeroed, then main().
 */
#include <stdint.h>

extern uint32_t _estack;
extern uint32_t _sidata, _sdata, _edata;
extern uint32_t _sbss, _ebss;
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used))
const vector_t g_vector_table[16] = {
    (vector_t)&_estack,
    Reset_Handler,
    Default_Handler,                 /* NMI */
    Default_Handler,                 /* HardFault */
    Default_Handler,                 /* MemManage */
    Default_Handler,                 /* BusFault */
    Default_Handler,                 /* UsageFault */
    Default_Handler,                 /* SecureFault */
    0, 0, 0,
    Default_Handler,                 /* SVCall */
    Default_Handler,                 /* DebugMonitor */
    0,
    Default_Handler,                 /* PendSV */
    SysTick_Handler,
};

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
    SCB_VTOR = (uint32_t)(uintptr_t)g_vector_table;
    __asm volatile("dsb 0xF\n isb 0xF" ::: "memory");
    main();
    for (;;) {
    }
}

/* An unexpected exception: stop here (QEMU is ended by the benchmark's time limit). */
void Default_Handler(void)
{
    for (;;) {
    }
}
