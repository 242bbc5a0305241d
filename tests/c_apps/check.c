/*
 * check.c - a status check and the DONE line for the C test applications (checks.c logs each check).
 */
#include "check.h"

#include "stm32u585_regs.h"

void expect(const char *name, enum MvStatus got, enum MvStatus want)
{
    check(got == want, name, "status 0x%x, expected 0x%x", (unsigned)got, (unsigned)want);
}

void done(void)
{
    log_printf("DONE pass=%u fail=%u", (unsigned)checks_passed(), (unsigned)checks_failed());
    for (;;) {
        __WFI();
    }
}
