/*
 * results.c - PASS/FAIL lines for the device test applications.
 */
#include "results.h"

#include <stdarg.h>
#include <stdint.h>

#include "stm32u585_regs.h"

static uint32_t s_pass, s_fail;

void result(bool ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        s_pass++;
        log_printf("PASS %s", name);
        return;
    }
    s_fail++;
    char detail[120];
    va_list ap;
    va_start(ap, fmt);
    log_vformat(detail, sizeof detail, fmt, ap);
    va_end(ap);
    log_printf("FAIL %s %s", name, detail);
}

void finish(void)
{
    log_printf("DONE pass=%u fail=%u", (unsigned)s_pass, (unsigned)s_fail);
    for (;;) {
        __WFI();
    }
}
