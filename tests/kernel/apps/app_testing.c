/*
 * app_testing - the manufacturing test calls. Whether they work depends on the device's factory
 * mode, which the application cannot see, so it reports each status ("STATUS <name> <hex>") and
 * the host judges. The result it hands to mvTestingComplete is 7; after the call it logs
 * "app_testing: returned" (in factory mode the call stops the application instead).
 */
#include <string.h>

#include "check.h"

static uint8_t s_test_log[1024] __attribute__((aligned(512)));
static uint8_t s_long[200];

static void report(const char *name, enum MvStatus status)
{
    log_printf("STATUS %s 0x%x", name, (unsigned)status);
}

int main(void)
{
    static const uint8_t hello[] = "test log: hello";
    log_init();
    log_printf("app_testing: start");
    report("log-before-init", mvTestLog(hello, sizeof hello - 1));
    report("init-kernel", mvTestLoggingInit(PTR(KERNEL_FLASH), 1024));
    report("init-unaligned", mvTestLoggingInit(s_test_log + 8, 512));
    report("init-small", mvTestLoggingInit(s_test_log, 100));
    report("init", mvTestLoggingInit(s_test_log, sizeof s_test_log));
    report("log-null", mvTestLog(NULL, 4));
    memset(s_long, 'x', sizeof s_long);
    report("log-too-long", mvTestLog(s_long, 129));
    report("log", mvTestLog(hello, sizeof hello - 1));
    report("complete", mvTestingComplete(7));
    log_printf("app_testing: returned");
    for (;;) {
        __asm volatile("wfi");
    }
}
