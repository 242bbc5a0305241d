/*
 * external_flash - the application's partition of the QSPI flash through mvExternalFlash*.
 *
 * Leaves "persistent marker" at partition offset 0x10000 for the host to find in the QSPI.
 */
#include <string.h>

#include "check.h"
#include "stm32u585_regs.h"

#define PARTITION_SIZE (56u * 1024u * 1024u)
#define JEDEC_ID       0x00C2853Au
#define MARKER_AT      0x10000u
#define IRQ_B          52u

static uint8_t s_data[600];
static uint8_t s_back[600];
static MvExternalFlashHandle s_more[32];
static const uint8_t s_marker[] = "persistent marker";
static volatile enum MvStatus s_from_irq = MV_STATUS__MAX;

void TIM8_UP_IRQHandler(void)
{
    MvExternalFlashHandle h = 0;
    s_from_irq = mvExternalFlashOpen(&h);
}

static bool all(const uint8_t *p, uint32_t n, uint8_t value)
{
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] != value) return false;
    }
    return true;
}

static MvExternalFlashHandle check_open(void)
{
    MvExternalFlashHandle h = 0;
    expect("open/null", mvExternalFlashOpen(NULL), MV_STATUS_PARAMETERFAULT);
    expect("open/flash-pointer", mvExternalFlashOpen(PTR(APP_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("open/kernel-pointer", mvExternalFlashOpen(PTR(SECURE_SRAM)), MV_STATUS_PARAMETERFAULT);
    enum MvStatus st = mvExternalFlashOpen(&h);
    check(st == MV_STATUS_OKAY && h != 0, "open", "status 0x%x", (unsigned)st);

    nvic_enable_irq(IRQ_B);
    NVIC_ISPR(IRQ_B >> 5) = 1u << (IRQ_B & 31u);
    __DSB();
    __ISB();
    expect("open/from-irq", s_from_irq, MV_STATUS_UNAVAILABLE);
    return h;
}

static void check_info(MvExternalFlashHandle h)
{
    struct MvExternalFlashInfo info = {.version = 2};
    MvExternalFlashHandle wrong = (MvExternalFlashHandle)((uintptr_t)h ^ 1u);
    expect("info/bad-handle", mvExternalFlashGetInfo(wrong, &info), MV_STATUS_INVALIDHANDLE);
    expect("info/null", mvExternalFlashGetInfo(h, NULL), MV_STATUS_PARAMETERFAULT);
    expect("info/flash-pointer", mvExternalFlashGetInfo(h, PTR(APP_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("info/version-2", mvExternalFlashGetInfo(h, &info), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
    info.version = 1;
    enum MvStatus st = mvExternalFlashGetInfo(h, &info);
    check(st == MV_STATUS_OKAY && info.v1.chip_id == JEDEC_ID && info.v1.size == PARTITION_SIZE &&
              info.v1.num_handles == 1,
          "info", "status 0x%x chip 0x%x size 0x%x handles %u", (unsigned)st,
          (unsigned)info.v1.chip_id, (unsigned)info.v1.size, (unsigned)info.v1.num_handles);
}

static void check_erase(MvExternalFlashHandle h)
{
    MvExternalFlashHandle wrong = (MvExternalFlashHandle)((uintptr_t)h ^ 1u);
    expect("erase/bad-handle", mvExternalFlashEraseBlocking(wrong, 0, 4096), MV_STATUS_INVALIDHANDLE);
    expect("erase/unaligned-address", mvExternalFlashEraseBlocking(h, 100, 4096),
           MV_STATUS_INVALIDBUFFERALIGNMENT);
    expect("erase/unaligned-length", mvExternalFlashEraseBlocking(h, 0, 100),
           MV_STATUS_INVALIDBUFFERALIGNMENT);
    expect("erase/past-end", mvExternalFlashEraseBlocking(h, PARTITION_SIZE, 4096),
           MV_STATUS_ADDRESSOUTOFRANGE);
    expect("erase/wrapping", mvExternalFlashEraseBlocking(h, 0xFFFFF000u, 0x2000u),
           MV_STATUS_ADDRESSOUTOFRANGE);
    expect("erase/huge", mvExternalFlashEraseBlocking(h, 0, 0xFFFFF000u), MV_STATUS_ADDRESSOUTOFRANGE);
    expect("erase/nothing", mvExternalFlashEraseBlocking(h, 4096, 0), MV_STATUS_OKAY);
    expect("erase", mvExternalFlashEraseBlocking(h, 0, 0x11000u), MV_STATUS_OKAY);
    expect("erase/last-sector", mvExternalFlashEraseBlocking(h, PARTITION_SIZE - 4096u, 4096),
           MV_STATUS_OKAY);
}

static void check_write_read(MvExternalFlashHandle h)
{
    for (uint32_t i = 0; i < sizeof s_data; i++) s_data[i] = (uint8_t)(i * 7u + 1u);
    MvExternalFlashHandle wrong = (MvExternalFlashHandle)((uintptr_t)h ^ 1u);

    expect("write/bad-handle", mvExternalFlashWriteBlocking(wrong, 0, 4, s_data),
           MV_STATUS_INVALIDHANDLE);
    expect("write/null", mvExternalFlashWriteBlocking(h, 0, 4, NULL), MV_STATUS_PARAMETERFAULT);
    expect("write/kernel-buffer", mvExternalFlashWriteBlocking(h, 0, 4, PTR(KERNEL_FLASH)),
           MV_STATUS_PARAMETERFAULT);
    expect("write/huge-length", mvExternalFlashWriteBlocking(h, 0, 0xFFFFFFFFu, s_data),
           MV_STATUS_PARAMETERFAULT);
    expect("write/past-end", mvExternalFlashWriteBlocking(h, PARTITION_SIZE - 2u, 4, s_data),
           MV_STATUS_ADDRESSOUTOFRANGE);
    expect("write/wrapping", mvExternalFlashWriteBlocking(h, 0xFFFFFFFFu, 2, s_data),
           MV_STATUS_ADDRESSOUTOFRANGE);

    /* 600 bytes from offset 200: three 256-byte pages touched. */
    expect("write", mvExternalFlashWriteBlocking(h, 200, sizeof s_data, s_data), MV_STATUS_OKAY);
    expect("write/from-flash", mvExternalFlashWriteBlocking(h, MARKER_AT, sizeof s_marker, s_marker),
           MV_STATUS_OKAY);
    expect("write/last-byte", mvExternalFlashWriteBlocking(h, PARTITION_SIZE - 1u, 1, s_data),
           MV_STATUS_OKAY);

    expect("read/bad-handle", mvExternalFlashReadBlocking(wrong, 0, 4, s_back), MV_STATUS_INVALIDHANDLE);
    expect("read/null", mvExternalFlashReadBlocking(h, 0, 4, NULL), MV_STATUS_PARAMETERFAULT);
    expect("read/flash-buffer", mvExternalFlashReadBlocking(h, 0, 4, PTR(APP_FLASH)),
           MV_STATUS_PARAMETERFAULT);
    expect("read/buffer-past-sram", mvExternalFlashReadBlocking(h, 0, 16, PTR(SRAM_END - 8u)),
           MV_STATUS_PARAMETERFAULT);
    expect("read/past-end", mvExternalFlashReadBlocking(h, PARTITION_SIZE, 1, s_back),
           MV_STATUS_ADDRESSOUTOFRANGE);
    expect("read/wrapping", mvExternalFlashReadBlocking(h, 0xFFFFFFF0u, 0x20u, s_back),
           MV_STATUS_ADDRESSOUTOFRANGE);

    memset(s_back, 0, sizeof s_back);
    enum MvStatus st = mvExternalFlashReadBlocking(h, 200, sizeof s_back, s_back);
    check(st == MV_STATUS_OKAY && memcmp(s_back, s_data, sizeof s_data) == 0, "read",
          "status 0x%x first 0x%02x", (unsigned)st, s_back[0]);
    st = mvExternalFlashReadBlocking(h, 0, 200, s_back);
    check(st == MV_STATUS_OKAY && all(s_back, 200, 0xFF), "read/erased", "status 0x%x byte 0x%02x",
          (unsigned)st, s_back[0]);
    st = mvExternalFlashReadBlocking(h, PARTITION_SIZE - 1u, 1, s_back);
    check(st == MV_STATUS_OKAY && s_back[0] == s_data[0], "read/last-byte", "status 0x%x",
          (unsigned)st);

    /* NOR: programming only clears bits, so 0x0F over 0xF0 leaves 0x00. */
    uint8_t high = 0xF0, low = 0x0F, got = 0xAA;
    mvExternalFlashWriteBlocking(h, 0x8000, 1, &high);
    mvExternalFlashWriteBlocking(h, 0x8000, 1, &low);
    mvExternalFlashReadBlocking(h, 0x8000, 1, &got);
    check(got == 0x00, "write/nor-and", "read 0x%02x", got);

    expect("erase/again", mvExternalFlashEraseBlocking(h, 0, 0x10000u), MV_STATUS_OKAY);
    st = mvExternalFlashReadBlocking(h, 0, sizeof s_back, s_back);
    check(st == MV_STATUS_OKAY && all(s_back, sizeof s_back, 0xFF), "read/after-erase",
          "byte 0x%02x", s_back[0]);
    st = mvExternalFlashReadBlocking(h, MARKER_AT, sizeof s_marker, s_back);
    check(st == MV_STATUS_OKAY && memcmp(s_back, s_marker, sizeof s_marker) == 0, "read/marker-kept",
          "status 0x%x", (unsigned)st);
}

static void check_handles(MvExternalFlashHandle h)
{
    /* 32 open handles at most. */
    uint32_t opened = 0;
    for (uint32_t i = 0; i < 31; i++) opened += mvExternalFlashOpen(&s_more[i]) == MV_STATUS_OKAY;
    check(opened == 31, "open/32-handles", "opened %u of 31 more", (unsigned)opened);
    expect("open/too-many", mvExternalFlashOpen(&s_more[31]), MV_STATUS_TOOMANYCHANNELS);
    struct MvExternalFlashInfo info = {.version = 1};
    mvExternalFlashGetInfo(h, &info);
    check(info.v1.num_handles == 32, "info/32-handles", "%u", (unsigned)info.v1.num_handles);
    for (uint32_t i = 0; i < 31; i++) mvExternalFlashClose(&s_more[i]);

    MvExternalFlashHandle wrong = (MvExternalFlashHandle)((uintptr_t)h ^ 1u), kept = h;
    expect("close/null", mvExternalFlashClose(NULL), MV_STATUS_PARAMETERFAULT);
    expect("close/bad-handle", mvExternalFlashClose(&wrong), MV_STATUS_INVALIDHANDLE);
    enum MvStatus st = mvExternalFlashClose(&h);
    check(st == MV_STATUS_OKAY && h == 0, "close", "status 0x%x", (unsigned)st);
    expect("close/twice", mvExternalFlashClose(&kept), MV_STATUS_INVALIDHANDLE);
    expect("read/closed-handle", mvExternalFlashReadBlocking(kept, 0, 4, s_back),
           MV_STATUS_INVALIDHANDLE);
}

int main(void)
{
    log_init();
    log_printf("external_flash: start");
    MvExternalFlashHandle h = check_open();
    check_info(h);
    check_erase(h);
    check_write_read(h);
    check_handles(h);
    done();
}
