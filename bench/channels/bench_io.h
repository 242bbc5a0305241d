/*
 * bench_io.h - what the channel benchmark's applications share: lines on USART2, sleeping on SysTick,
 * one account config value, and the end of a run.
 *
 * Lines go to USART2, which `microvisor device run` prints as they are written ("USART2: text"), so
 * the host stamps each with its own wall clock and nothing of it crosses the device's link.
 */
#ifndef BENCH_IO_H
#define BENCH_IO_H

#include <stdint.h>

/* Turn USART2's transmitter on. */
void io_init(void);

/* Format one line (log.h's formatter: %s %u %d %x, widths) and write it with its newline. */
void io_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sleep (WFI) for ms milliseconds on SysTick at 1 kHz; SysTick is off again afterwards unless
   io_ticks(1) keeps it on. */
void io_sleep_ms(uint32_t ms);

/* Keep SysTick interrupting at 1 kHz (1) or not (0): a loop that polls a channel and sleeps with WFI
   then wakes at least every millisecond, so a notification that came just before its WFI costs at
   most that. */
void io_ticks(int on);

/* Milliseconds of SysTick so far (counts only while SysTick runs: io_ticks(1) or io_sleep_ms). */
uint32_t io_ms(void);

/* Fetch the account config `key` into out (terminated) over a config channel; its length, or -1. */
int32_t io_config(const char *key, char *out, uint32_t size);

/* Read a decimal number at *text, moving past it and one following space. */
uint32_t io_number(const char **text);

/* Say "<name>: FAIL <why>" and stop (WFI forever). */
void io_fail(const char *name, const char *why, uint32_t code) __attribute__((noreturn));

/* Stop here for good: the host ends the run. */
void io_park(void) __attribute__((noreturn));

/* The length of a terminated string. */
uint32_t io_length(const char *text);

#endif /* BENCH_IO_H */
