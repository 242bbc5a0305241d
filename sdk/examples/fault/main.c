/*
 * fault - reads a word of the microvisor's secure flash (0x0C000000). The access must fault and
 * the microvisor must report the application's crash: the second log line never appears.
 */
#include <stdint.h>

#include "log.h"

int main(void)
{
    log_printf("fault: reading kernel memory");
    uint32_t value = *(volatile uint32_t *)0x0C000000u;
    log_printf("fault: read 0x%08x - the kernel's memory was readable!", (unsigned)value);
    for (;;) {
        __asm volatile("wfi");
    }
}
