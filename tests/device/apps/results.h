/*
 * results.h - PASS/FAIL lines for the device test applications.
 */
#ifndef DEVICE_TEST_RESULTS_H
#define DEVICE_TEST_RESULTS_H

#include <stdbool.h>

#include "log.h"

/* Log "PASS name", or "FAIL name detail" with the detail formatted from fmt. */
void result(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Log "DONE pass=<n> fail=<m>" and sleep for ever. */
void finish(void) __attribute__((noreturn));

#endif /* DEVICE_TEST_RESULTS_H */
