/*
 * log.h - one-line-per-call logging to the Microvisor server for the examples.
 *
 * log_init() hands the microvisor a static log buffer (mvServerLoggingInit) once; log_printf()
 * formats one line and sends it with mvServerLog. The formatter is our own small printf:
 * %s %c %d %i %u %x %X %p %% with optional '-', '0', width and 'l'.
 */
#ifndef EXAMPLES_LOG_H
#define EXAMPLES_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "mv_syscalls.h"

#define LOG_BUFFER_SIZE 4096u   /* handed to mvServerLoggingInit; 512-byte aligned */
#define LOG_LINE_MAX    200u    /* longest line log_printf sends (longer ones are cut) */

/* Start server logging. Later calls do nothing and return the first call's status. */
enum MvStatus log_init(void);

/* Format one line and send it; starts logging first if needed. Returns mvServerLog's status. */
enum MvStatus log_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
enum MvStatus log_vprintf(const char *fmt, va_list ap);

/* Format into buf (always terminated); returns the length written, without the terminator. */
uint32_t log_vformat(char *buf, uint32_t size, const char *fmt, va_list ap);
uint32_t log_format(char *buf, uint32_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* EXAMPLES_LOG_H */
