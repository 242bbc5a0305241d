/*
 * linklog.c - a test application for the link: logs LINES numbered lines naming its version, then
 * sleeps. It carries PAYLOAD (a blob linked in with .incbin) so that bundles have many layers.
 */
#include <stdint.h>

#include "log.h"

#ifndef APP_VERSION
#define APP_VERSION "1"
#endif
#ifndef LINES
#define LINES 200
#endif

extern const uint8_t payload_start[];
extern const uint8_t payload_end[];

const char app_version[] = "linklog v" APP_VERSION;

int main(void)
{
    uint32_t sum = 0;
    for (const uint8_t *p = payload_start; p < payload_end; p += 4096) sum += *p;
    log_printf("%s start payload %u sum %u", app_version, (unsigned)(payload_end - payload_start),
               (unsigned)sum);
    for (int i = 0; i < LINES; i++) {
        log_printf("%s line %d", app_version, i);
    }
    log_printf("%s done", app_version);
    for (;;) {
        __asm volatile("wfi");
    }
}
