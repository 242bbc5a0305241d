/*
 * check.h - checks (the examples' checks.h), a status check and the DONE line for the C test
 * applications, and the addresses they misuse.
 */
#ifndef TEST_APPS_CHECK_H
#define TEST_APPS_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "checks.h"
#include "log.h"
#include "mv_syscalls.h"

#define KERNEL_FLASH 0x0C000000u  /* secure flash: the microvisor's */
#define SECURE_SRAM  0x30000000u  /* secure alias of SRAM */
#define NSC_PAGE     0x0C1FE000u  /* the system-call veneers */
#define APP_FLASH    0x08000000u  /* the application's, but read-only */
#define SRAM_END     0x20080000u  /* one past the application's SRAM */
#define PERIPHERALS  0x40000000u

#define PTR(address) ((void *)(uintptr_t)(address))

/* A check that a call returned the status expected. */
void expect(const char *name, enum MvStatus got, enum MvStatus want);

/* Log "DONE pass=<n> fail=<m>" and sleep for ever. */
void done(void) __attribute__((noreturn));

#endif /* TEST_APPS_CHECK_H */
