/*
 * checks.c - one log line per check, and the counts so far (checks.h).
 */
#include "checks.h"

#include <stdarg.h>

#include "log.h"

static uint32_t s_passed, s_failed;

void check(bool ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        s_passed++;
        log_printf("PASS %s", name);
        return;
    }
    s_failed++;
    char detail[120];
    va_list ap;
    va_start(ap, fmt);
    log_vformat(detail, sizeof detail, fmt, ap);
    va_end(ap);
    log_printf("FAIL %s %s", name, detail);
}

uint32_t checks_passed(void)
{
    return s_passed;
}

uint32_t checks_failed(void)
{
    return s_failed;
}
