/*
 * wifi - mvSetWifiConfig and mvGetWifiConfig, in phases the host picks in TAMP_BKP0R:
 *
 *   1  a Wi-Fi board with nothing stored: every refusal, open / passphrase / hex-key networks, and
 *      last the secret network "persist-net" (the host reboots the device and looks for its password)
 *   2  the same board after a reboot: "persist-net" is still there, encrypted; then CLEARNOW
 *   3  a board whose radio is not Wi-Fi: both calls are UNAVAILABLE
 *
 * The secret password never sits in the application's flash in the clear (the host searches the
 * whole device folder for it): it is kept XOR-ed with SECRET_MASK and decoded onto the stack.
 */
#include <string.h>

#include "check.h"
#include "stm32u585_regs.h"

#define IRQ_B       52u
#define SECRET_MASK 0x5Au

/* "Tr0ub4dor&3-persist-passphrase" XOR 0x5A; tests/kernel/test_wifi.py knows it in the clear. */
static const uint8_t s_secret_masked[] = {
    0x0e, 0x28, 0x6a, 0x2f, 0x38, 0x6e, 0x3e, 0x35, 0x28, 0x7c, 0x69, 0x77, 0x2a, 0x3f, 0x28, 0x29,
    0x33, 0x29, 0x2e, 0x77, 0x2a, 0x3b, 0x29, 0x29, 0x2a, 0x32, 0x28, 0x3b, 0x29, 0x3f,
};
static const char s_hex_key[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
/* A whole, valid configuration in the application's flash: input may come from there. */
static const uint8_t s_flash_ssid[] = "flash-net";
static const struct MvWifiConfig s_flash_config = {
    .version = 1,
    .v1 = {MV_WIFICONFIGMODE_APPLYNOW, {s_flash_ssid, 9}, {NULL, 0}},
};

static volatile enum MvStatus s_from_irq = MV_STATUS__MAX;
static struct MvWifiConfig s_irq_config;

void TIM8_UP_IRQHandler(void)
{
    s_from_irq = mvSetWifiConfig(&s_irq_config);
}

static struct MvWifiConfig config(const char *ssid, const char *password)
{
    struct MvWifiConfig c = {.version = 1};
    c.v1.config_mode = MV_WIFICONFIGMODE_APPLYNOW;
    c.v1.wifi_ssid.data = (const uint8_t *)ssid;
    c.v1.wifi_ssid.length = strlen(ssid);
    c.v1.wifi_password.data = (const uint8_t *)password;
    c.v1.wifi_password.length = password ? strlen(password) : 0;
    return c;
}

/* mvGetWifiConfig into fresh buffers; checks the SSID read back and has_encryption. */
static void expect_config(const char *name, const char *ssid, uint8_t encrypted)
{
    uint8_t buf[40];
    uint32_t length = 0xEEEEEEEEu;
    uint8_t has_encryption = 0xEE;
    memset(buf, 0xEE, sizeof buf);
    struct MvWifiConfigOut out = {.version = 1, .v1 = {{buf, sizeof buf, &length}, &has_encryption}};
    enum MvStatus st = mvGetWifiConfig(&out);
    uint32_t want = strlen(ssid);
    check(st == MV_STATUS_OKAY && length == want && memcmp(buf, ssid, want) == 0 && buf[want] == 0xEE &&
              has_encryption == encrypted,
          name, "status 0x%x length %u encrypted %u", (unsigned)st, (unsigned)length,
          (unsigned)has_encryption);
}

static void refusals_of_set(void)
{
    struct MvWifiConfig c = config("net", "");
    expect("set/null", mvSetWifiConfig(NULL), MV_STATUS_PARAMETERFAULT);
    expect("set/kernel-flash", mvSetWifiConfig(PTR(KERNEL_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("set/secure-sram", mvSetWifiConfig(PTR(SECURE_SRAM)), MV_STATUS_PARAMETERFAULT);
    expect("set/peripherals", mvSetWifiConfig(PTR(PERIPHERALS)), MV_STATUS_PARAMETERFAULT);
    expect("set/past-sram", mvSetWifiConfig(PTR(SRAM_END)), MV_STATUS_PARAMETERFAULT);
    c.version = 2;
    expect("set/version-2", mvSetWifiConfig(&c), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
    c.version = 0;
    expect("set/version-0", mvSetWifiConfig(&c), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
    c.version = 1;
    c.v1.config_mode = (enum MvWifiConfigMode)7;
    expect("set/unknown-mode", mvSetWifiConfig(&c), MV_STATUS_PARAMETERFAULT);
    c.v1.config_mode = MV_WIFICONFIGMODE_APPLYNOW;

    c.v1.wifi_ssid.length = 33;
    expect("set/ssid-33", mvSetWifiConfig(&c), MV_STATUS_INPUTTOOLONG);
    c.v1.wifi_ssid.length = 0xFFFFFFFFu;
    expect("set/ssid-huge", mvSetWifiConfig(&c), MV_STATUS_INPUTTOOLONG);
    c.v1.wifi_ssid.length = 0;
    expect("set/ssid-empty", mvSetWifiConfig(&c), MV_STATUS_REQUIREDELEMENTMISSING);
    c.v1.wifi_ssid.length = 3;
    c.v1.wifi_ssid.data = NULL;
    expect("set/ssid-null", mvSetWifiConfig(&c), MV_STATUS_PARAMETERFAULT);
    c.v1.wifi_ssid.data = PTR(KERNEL_FLASH);
    expect("set/ssid-kernel", mvSetWifiConfig(&c), MV_STATUS_PARAMETERFAULT);
    c.v1.wifi_ssid.data = PTR(SRAM_END - 2u);
    expect("set/ssid-past-sram", mvSetWifiConfig(&c), MV_STATUS_PARAMETERFAULT);
    c.v1.wifi_ssid.data = (const uint8_t *)"net";

    c.v1.wifi_password.length = 65;
    c.v1.wifi_password.data = (const uint8_t *)s_hex_key;
    expect("set/password-65", mvSetWifiConfig(&c), MV_STATUS_INPUTTOOLONG);
    c.v1.wifi_password.length = 0xFFFFFFFFu;
    expect("set/password-huge", mvSetWifiConfig(&c), MV_STATUS_INPUTTOOLONG);
    c.v1.wifi_password.length = 8;
    c.v1.wifi_password.data = PTR(SECURE_SRAM);
    expect("set/password-secure", mvSetWifiConfig(&c), MV_STATUS_PARAMETERFAULT);
    c.v1.wifi_password.data = PTR(PERIPHERALS);
    expect("set/password-peripheral", mvSetWifiConfig(&c), MV_STATUS_PARAMETERFAULT);

    static const char *const bad[] = {"short7!", "tab\tin-passphrase", "x", "caf\xc3\xa9-au-lait",
                                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"};
    static const char *const names[] = {"set/password-7", "set/password-control", "set/password-1",
                                        "set/password-not-ascii", "set/password-64-not-hex"};
    for (uint32_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct MvWifiConfig b = config("net", bad[i]);
        expect(names[i], mvSetWifiConfig(&b), MV_STATUS_INVALIDAUTHENTICATION);
    }
    struct MvWifiConfig long_phrase = config("net", s_hex_key);
    long_phrase.v1.wifi_password.length = 63;  /* a 63-character passphrase is still one */
    expect("set/password-63", mvSetWifiConfig(&long_phrase), MV_STATUS_OKAY);
    expect_config("get/after-63", "net", 1);
}

static void refusals_of_get(void)
{
    uint8_t buf[8];
    uint32_t length = 0xEEEEEEEEu;
    uint8_t encrypted = 0xEE;
    struct MvWifiConfigOut out = {.version = 1, .v1 = {{buf, sizeof buf, &length}, &encrypted}};
    expect("get/null", mvGetWifiConfig(NULL), MV_STATUS_PARAMETERFAULT);
    expect("get/kernel-flash", mvGetWifiConfig(PTR(KERNEL_FLASH)), MV_STATUS_PARAMETERFAULT);
    expect("get/secure-sram", mvGetWifiConfig(PTR(SECURE_SRAM)), MV_STATUS_PARAMETERFAULT);
    out.version = 3;
    expect("get/version-3", mvGetWifiConfig(&out), MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION);
    out.version = 1;
    out.v1.ssid.data = PTR(APP_FLASH);
    expect("get/buffer-in-flash", mvGetWifiConfig(&out), MV_STATUS_PARAMETERFAULT);
    out.v1.ssid.data = buf;
    out.v1.ssid.size = 0xFFFFFFFFu;
    expect("get/buffer-huge", mvGetWifiConfig(&out), MV_STATUS_PARAMETERFAULT);
    out.v1.ssid.size = sizeof buf;
    out.v1.ssid.length = NULL;
    expect("get/length-null", mvGetWifiConfig(&out), MV_STATUS_PARAMETERFAULT);
    out.v1.ssid.length = PTR(SECURE_SRAM);
    expect("get/length-secure", mvGetWifiConfig(&out), MV_STATUS_PARAMETERFAULT);
    out.v1.ssid.length = &length;
    out.v1.has_encryption = PTR(KERNEL_FLASH);
    expect("get/encryption-kernel", mvGetWifiConfig(&out), MV_STATUS_PARAMETERFAULT);
    out.v1.has_encryption = PTR(SRAM_END);
    expect("get/encryption-past-sram", mvGetWifiConfig(&out), MV_STATUS_PARAMETERFAULT);
    out.v1.has_encryption = &encrypted;

    /* "net" (3) fits in 8; a 20-byte SSID does not: nothing is written. */
    struct MvWifiConfig c = config("twenty-byte-network!", "");
    expect("set/twenty", mvSetWifiConfig(&c), MV_STATUS_OKAY);
    memset(buf, 0xEE, sizeof buf);
    enum MvStatus st = mvGetWifiConfig(&out);
    check(st == MV_STATUS_INVALIDBUFFERSIZE && buf[0] == 0xEE && length == 0xEEEEEEEEu && encrypted == 0xEE,
          "get/too-small", "status 0x%x length %u", (unsigned)st, (unsigned)length);
}

static void phase_1(void)
{
    expect_config("get/nothing-stored", "", 0);
    refusals_of_set();
    refusals_of_get();

    struct MvWifiConfig open_net = config("open-net", NULL);  /* {NULL, 0}: no password */
    expect("set/open", mvSetWifiConfig(&open_net), MV_STATUS_OKAY);
    expect_config("get/open", "open-net", 0);
    struct MvWifiConfig wpa = config("wpa-net", "correct horse battery staple");
    expect("set/passphrase", mvSetWifiConfig(&wpa), MV_STATUS_OKAY);
    expect_config("get/passphrase", "wpa-net", 1);
    struct MvWifiConfig hex = config("hex-net", s_hex_key);
    expect("set/hex-key", mvSetWifiConfig(&hex), MV_STATUS_OKAY);
    expect_config("get/hex-key", "hex-net", 1);
    expect("set/from-flash", mvSetWifiConfig(&s_flash_config), MV_STATUS_OKAY);
    expect_config("get/from-flash", "flash-net", 0);

    /* The mode is one byte: whatever follows it in the word is padding. */
    uint32_t raw[6] = {1, 0xABCDEF00u | MV_WIFICONFIGMODE_APPLYNOW, (uint32_t)(uintptr_t)"raw-net", 7, 0, 0};
    expect("set/mode-padding", mvSetWifiConfig((const struct MvWifiConfig *)raw), MV_STATUS_OKAY);
    expect_config("get/mode-padding", "raw-net", 0);

    /* 32 bytes of any value make an SSID. */
    uint8_t ssid32[33];
    for (uint32_t i = 0; i < 32; i++) ssid32[i] = (uint8_t)(0xF0u + i);
    ssid32[32] = 0;
    struct MvWifiConfig wide = config((const char *)ssid32, "12345678");
    expect("set/ssid-32", mvSetWifiConfig(&wide), MV_STATUS_OKAY);
    expect_config("get/ssid-32", (const char *)ssid32, 1);

    s_irq_config = config("irq-net", "");
    nvic_enable_irq(IRQ_B);
    NVIC_ISPR(IRQ_B >> 5) = 1u << (IRQ_B & 31u);
    __DSB();
    __ISB();
    expect("set/from-irq", s_from_irq, MV_STATUS_UNAVAILABLE);
    expect_config("get/not-from-irq", (const char *)ssid32, 1);

    struct MvWifiConfig clear = {.version = 1, .v1 = {MV_WIFICONFIGMODE_CLEARNOW, {NULL, 0}, {NULL, 0}}};
    expect("set/clear", mvSetWifiConfig(&clear), MV_STATUS_OKAY);
    expect_config("get/cleared", "", 0);

    /* Last: the secret network the host looks for after a reboot. */
    char secret[sizeof s_secret_masked + 1];
    for (uint32_t i = 0; i < sizeof s_secret_masked; i++) {
        secret[i] = (char)(s_secret_masked[i] ^ SECRET_MASK);
    }
    secret[sizeof s_secret_masked] = 0;
    struct MvWifiConfig persist = config("persist-net", secret);
    expect("set/persist", mvSetWifiConfig(&persist), MV_STATUS_OKAY);
    memset(secret, 0, sizeof secret);
    expect_config("get/persist", "persist-net", 1);
}

static void phase_2(void)
{
    expect_config("get/after-reboot", "persist-net", 1);
    struct MvWifiConfig clear = {.version = 1};
    clear.v1.config_mode = MV_WIFICONFIGMODE_CLEARNOW;
    clear.v1.wifi_ssid.data = PTR(KERNEL_FLASH);  /* CLEARNOW reads no string */
    clear.v1.wifi_ssid.length = 0xFFFFFFFFu;
    expect("set/clear-after-reboot", mvSetWifiConfig(&clear), MV_STATUS_OKAY);
    expect_config("get/cleared-after-reboot", "", 0);
}

static void phase_3(void)
{
    struct MvWifiConfig c = config("net", "");
    uint8_t buf[8];
    uint32_t length = 0;
    uint8_t encrypted = 0;
    struct MvWifiConfigOut out = {.version = 1, .v1 = {{buf, sizeof buf, &length}, &encrypted}};
    expect("no-wifi/set", mvSetWifiConfig(&c), MV_STATUS_UNAVAILABLE);
    expect("no-wifi/get", mvGetWifiConfig(&out), MV_STATUS_UNAVAILABLE);
    expect("no-wifi/set-null", mvSetWifiConfig(NULL), MV_STATUS_UNAVAILABLE);
    expect("no-wifi/get-null", mvGetWifiConfig(NULL), MV_STATUS_UNAVAILABLE);
}

int main(void)
{
    log_init();
    uint32_t phase = TAMP_BKPR(0);
    log_printf("wifi: phase %u", (unsigned)phase);
    switch (phase) {
    case 1: phase_1(); break;
    case 2: phase_2(); break;
    case 3: phase_3(); break;
    default: check(false, "phase", "unknown phase %u", (unsigned)phase); break;
    }
    done();
}
