/*
 * check.c - PASS/FAIL lines for the C test applications.
 */
#include "check.h"

#include <stdarg.h>

#include "stm32u585_regs.h"

static uint32_t s_pass, s_fail;

void check(bool ok, const char *name, const char *fmt, ...)
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

void expect(const char *name, enum MvStatus got, enum MvStatus want)
{
    check(got == want, name, "status 0x%x, expected 0x%x", (unsigned)got, (unsigned)want);
}

void done(void)
{
    log_printf("DONE pass=%u fail=%u", (unsigned)s_pass, (unsigned)s_fail);
    for (;;) {
        __WFI();
    }
}
