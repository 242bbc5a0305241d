/*
 * checks.h - one log line per check, "PASS <name>" or "FAIL <name> <detail>", and the counts so far.
 */
#ifndef EXAMPLES_CHECKS_H
#define EXAMPLES_CHECKS_H

#include <stdbool.h>
#include <stdint.h>

/* Log the verdict of one check; detail (printf-style, log.h's formats) is formatted on failure only. */
void check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* How many checks passed and failed so far. */
uint32_t checks_passed(void);
uint32_t checks_failed(void);

#endif
