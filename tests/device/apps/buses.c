/*
 * buses - I2C1..I2C4 and SPI1..SPI3 with nothing connected, driven as ST's HAL drives them.
 *
 * The I2C routines follow the register sequence of the HAL's blocking master transmit, master
 * receive and device-ready check (START with AUTOEND, poll TXIS/RXNE while watching NACKF, then
 * STOPF, clear through ICR, flush TXDR, reset CR2); with no slave on the bus each one must end in
 * a NACK, never a fault or a hang. The SPI routines run 8-bit full-duplex master transfers and
 * read back all ones (MISO pulled up). Our own code; every wait is bounded.
 */
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"
#include "check.h"
#include "stm32u585_regs.h"

#define SPINS        20000u
#define ABSENT_ADDR  (0x40u << 1)   /* a 7-bit address nobody answers, shifted as the HAL wants */
#define I2C_TIMING   0x30909DECu    /* an arbitrary TIMINGR value: the model keeps what is written */
#define CR2_TRANSFER (0x3FFu | I2C_CR2_RD_WRN | (0xFFu << I2C_CR2_NBYTES_POS) | I2C_CR2_RELOAD | \
                      I2C_CR2_AUTOEND | I2C_CR2_START | I2C_CR2_STOP)
#define CR2_RESET    (0x3FFu | (1u << 12) | (0xFFu << I2C_CR2_NBYTES_POS) | I2C_CR2_RELOAD | \
                      I2C_CR2_RD_WRN)

enum xfer { XFER_OK, XFER_NACK, XFER_TIMEOUT };
static const char *const k_xfer_names[] = {"ok", "nack", "timeout"};

struct i2c_bus {
    const char *name;
    uint32_t base;
    uint32_t ev_irq;
    uint32_t enr;      /* RCC clock-enable register, for mvPeriphPoke32 */
    uint32_t enr_bit;
};

static const struct i2c_bus k_i2c[] = {
    {"i2c1", I2C1_BASE, I2C1_EV_IRQn, RCC_BASE + 0x9Cu, RCC_APB1ENR1_I2C1EN},
    {"i2c2", I2C2_BASE, I2C2_EV_IRQn, RCC_BASE + 0x9Cu, RCC_APB1ENR1_I2C2EN},
    {"i2c3", I2C3_BASE, I2C3_EV_IRQn, RCC_BASE + 0xA8u, RCC_APB3ENR_I2C3EN},
    {"i2c4", I2C4_BASE, I2C4_EV_IRQn, RCC_BASE + 0xA0u, RCC_APB1ENR2_I2C4EN},
};

struct spi_bus {
    const char *name;
    uint32_t base;
    uint32_t irq;
    uint32_t enr;
    uint32_t enr_bit;
};

static const struct spi_bus k_spi[] = {
    {"spi1", SPI1_BASE, SPI1_IRQn, RCC_BASE + 0xA4u, RCC_APB2ENR_SPI1EN},
    {"spi2", SPI2_BASE, SPI2_IRQn, RCC_BASE + 0x9Cu, RCC_APB1ENR1_SPI2EN},
    {"spi3", SPI3_BASE, SPI3_IRQn, RCC_BASE + 0xA8u, RCC_APB3ENR_SPI3EN},
};

/* ---- interrupts -------------------------------------------------------------------------- */

static volatile uint32_t s_i2c_events[4], s_i2c_seen[4], s_spi_events[3];

static void i2c_event(unsigned index)
{
    uint32_t base = k_i2c[index].base;
    uint32_t isr = I2C_REG(base, I2C_ISR_OFS);
    s_i2c_seen[index] |= isr;
    s_i2c_events[index]++;
    I2C_REG(base, I2C_ICR_OFS) = isr & (I2C_ICR_NACKCF | I2C_ICR_STOPCF);
}

void I2C1_EV_IRQHandler(void) { i2c_event(0); }
void I2C2_EV_IRQHandler(void) { i2c_event(1); }
void I2C3_EV_IRQHandler(void) { i2c_event(2); }
void I2C4_EV_IRQHandler(void) { i2c_event(3); }

static void spi_event(unsigned index)
{
    s_spi_events[index]++;
    SPI_REG(k_spi[index].base, SPI_IFCR_OFS) = SPI_IFCR_EOTC | SPI_IFCR_TXTFC;
}

void SPI1_IRQHandler(void) { spi_event(0); }
void SPI2_IRQHandler(void) { spi_event(1); }
void SPI3_IRQHandler(void) { spi_event(2); }

/* ---- I2C, the HAL's way ------------------------------------------------------------------- */

static uint32_t isr_of(uint32_t base)
{
    return I2C_REG(base, I2C_ISR_OFS);
}

static bool wait_flag(uint32_t base, uint32_t flag, bool set)
{
    for (uint32_t i = 0; i < SPINS; i++) {
        if (((isr_of(base) & flag) != 0) == set) {
            return true;
        }
    }
    return false;
}

static void reset_cr2(uint32_t base)
{
    I2C_REG(base, I2C_CR2_OFS) &= ~CR2_RESET;
}

static void flush_txdr(uint32_t base)
{
    if (isr_of(base) & I2C_ISR_TXIS) {
        I2C_REG(base, I2C_TXDR_OFS) = 0;
    }
    if (!(isr_of(base) & I2C_ISR_TXE)) {
        I2C_REG(base, I2C_ISR_OFS) = I2C_ISR_TXE;
    }
}

/* After a NACK the controller sends a STOP: wait for it (or send one), then tidy up. */
static bool nacked(uint32_t base, enum xfer *out)
{
    if (!(isr_of(base) & I2C_ISR_NACKF)) {
        return false;
    }
    I2C_REG(base, I2C_ICR_OFS) = I2C_ICR_NACKCF;
    *out = XFER_NACK;
    if (!wait_flag(base, I2C_ISR_STOPF, true)) {
        if ((isr_of(base) & I2C_ISR_BUSY) && !(I2C_REG(base, I2C_CR2_OFS) & I2C_CR2_STOP)) {
            I2C_REG(base, I2C_CR2_OFS) |= I2C_CR2_STOP;
        }
        if (!wait_flag(base, I2C_ISR_STOPF, true)) {
            *out = XFER_TIMEOUT;
        }
    }
    I2C_REG(base, I2C_ICR_OFS) = I2C_ICR_STOPCF;
    flush_txdr(base);
    reset_cr2(base);
    return true;
}

/* Wait for `flag` while watching for a NACK. */
static enum xfer wait_or_nack(uint32_t base, uint32_t flag)
{
    enum xfer status = XFER_OK;
    for (uint32_t i = 0; i < SPINS; i++) {
        if (isr_of(base) & flag) {
            return XFER_OK;
        }
        if (nacked(base, &status)) {
            return status;
        }
    }
    return XFER_TIMEOUT;
}

static void start(uint32_t base, uint32_t addr, uint32_t nbytes, uint32_t request)
{
    uint32_t cr2 = I2C_REG(base, I2C_CR2_OFS) & ~CR2_TRANSFER;
    I2C_REG(base, I2C_CR2_OFS) = cr2 | (addr & 0x3FFu) | nbytes << I2C_CR2_NBYTES_POS |
                                 I2C_CR2_AUTOEND | request;
}

static enum xfer master_transmit(uint32_t base, uint32_t addr, const uint8_t *data, uint32_t n)
{
    if (!wait_flag(base, I2C_ISR_BUSY, false)) {
        return XFER_TIMEOUT;
    }
    start(base, addr, n, I2C_CR2_START);
    for (uint32_t i = 0; i < n; i++) {
        enum xfer status = wait_or_nack(base, I2C_ISR_TXIS);
        if (status != XFER_OK) {
            return status;
        }
        I2C_REG(base, I2C_TXDR_OFS) = data[i];
    }
    enum xfer status = wait_or_nack(base, I2C_ISR_STOPF);
    if (status != XFER_OK) {
        return status;
    }
    I2C_REG(base, I2C_ICR_OFS) = I2C_ICR_STOPCF;
    reset_cr2(base);
    return XFER_OK;
}

static enum xfer master_receive(uint32_t base, uint32_t addr, uint8_t *data, uint32_t n)
{
    if (!wait_flag(base, I2C_ISR_BUSY, false)) {
        return XFER_TIMEOUT;
    }
    start(base, addr, n, I2C_CR2_START | I2C_CR2_RD_WRN);
    for (uint32_t i = 0; i < n; i++) {
        enum xfer status = wait_or_nack(base, I2C_ISR_RXNE);
        if (status != XFER_OK) {
            return status;
        }
        data[i] = (uint8_t)I2C_REG(base, I2C_RXDR_OFS);
    }
    enum xfer status = wait_or_nack(base, I2C_ISR_STOPF);
    if (status != XFER_OK) {
        return status;
    }
    I2C_REG(base, I2C_ICR_OFS) = I2C_ICR_STOPCF;
    reset_cr2(base);
    return XFER_OK;
}

/* The device-ready check: an empty write with AUTOEND, `trials` times. */
static enum xfer device_ready(uint32_t base, uint32_t addr, uint32_t trials)
{
    for (uint32_t t = 0; t < trials; t++) {
        I2C_REG(base, I2C_CR2_OFS) = (addr & 0x3FFu) | I2C_CR2_START | I2C_CR2_AUTOEND;
        uint32_t i = 0;
        while (!(isr_of(base) & (I2C_ISR_STOPF | I2C_ISR_NACKF))) {
            if (++i == SPINS) {
                return XFER_TIMEOUT;
            }
        }
        bool nack = isr_of(base) & I2C_ISR_NACKF;
        if (nack) {
            I2C_REG(base, I2C_ICR_OFS) = I2C_ICR_NACKCF;
        }
        if (!wait_flag(base, I2C_ISR_STOPF, true)) {
            return XFER_TIMEOUT;
        }
        I2C_REG(base, I2C_ICR_OFS) = I2C_ICR_STOPCF;
        if (!nack) {
            return XFER_OK;
        }
    }
    return XFER_NACK;
}

static void i2c_init(const struct i2c_bus *bus)
{
    uint32_t base = bus->base;
    mvPeriphPoke32(bus->enr, bus->enr_bit, bus->enr_bit);  /* __HAL_RCC_I2Cx_CLK_ENABLE */
    I2C_REG(base, I2C_CR1_OFS) &= ~I2C_CR1_PE;
    I2C_REG(base, I2C_TIMINGR_OFS) = I2C_TIMING & 0xF0FFFFFFu;
    I2C_REG(base, I2C_OAR1_OFS) = 0;
    I2C_REG(base, I2C_CR2_OFS) |= I2C_CR2_AUTOEND | I2C_CR2_NACK;
    I2C_REG(base, I2C_OAR2_OFS) = 0;
    I2C_REG(base, I2C_CR1_OFS) = 1u << 17;  /* NOSTRETCH */
    I2C_REG(base, I2C_CR1_OFS) |= I2C_CR1_PE;
}

static void check_i2c(unsigned index)
{
    const struct i2c_bus *bus = &k_i2c[index];
    uint32_t base = bus->base;
    char name[40];

    i2c_init(bus);
    log_format(name, sizeof name, "%s/registers-kept", bus->name);
    check(I2C_REG(base, I2C_TIMINGR_OFS) == (I2C_TIMING & 0xF0FFFFFFu) &&
           (I2C_REG(base, I2C_CR1_OFS) & I2C_CR1_PE), name, "TIMINGR 0x%08x CR1 0x%08x",
           I2C_REG(base, I2C_TIMINGR_OFS), I2C_REG(base, I2C_CR1_OFS));
    log_format(name, sizeof name, "%s/idle", bus->name);
    check(isr_of(base) == I2C_ISR_TXE, name, "ISR 0x%08x", isr_of(base));

    static const uint8_t payload[2] = {0xE3, 0x00};
    enum xfer status = master_transmit(base, ABSENT_ADDR, payload, sizeof payload);
    log_format(name, sizeof name, "%s/transmit-nack", bus->name);
    check(status == XFER_NACK, name, "%s", k_xfer_names[status]);
    log_format(name, sizeof name, "%s/released", bus->name);
    check(isr_of(base) == I2C_ISR_TXE, name, "ISR 0x%08x", isr_of(base));

    uint8_t data[2] = {0, 0};
    status = master_receive(base, ABSENT_ADDR, data, sizeof data);
    log_format(name, sizeof name, "%s/receive-nack", bus->name);
    check(status == XFER_NACK, name, "%s", k_xfer_names[status]);

    status = device_ready(base, ABSENT_ADDR, 3);
    log_format(name, sizeof name, "%s/not-ready", bus->name);
    check(status == XFER_NACK, name, "%s", k_xfer_names[status]);

    /* The event line: NACK and STOP interrupts. */
    I2C_REG(base, I2C_CR1_OFS) |= I2C_CR1_NACKIE | I2C_CR1_STOPIE | I2C_CR1_ERRIE;
    nvic_clear_pending(bus->ev_irq);
    nvic_enable_irq(bus->ev_irq);
    start(base, ABSENT_ADDR, 1, I2C_CR2_START);
    for (uint32_t i = 0; i < SPINS && s_i2c_events[index] == 0; i++) {
    }
    nvic_disable_irq(bus->ev_irq);
    I2C_REG(base, I2C_CR1_OFS) &= ~(I2C_CR1_NACKIE | I2C_CR1_STOPIE | I2C_CR1_ERRIE);
    reset_cr2(base);
    uint32_t want = I2C_ISR_NACKF | I2C_ISR_STOPF;
    log_format(name, sizeof name, "%s/event-interrupt", bus->name);
    check(s_i2c_events[index] >= 1 && (s_i2c_seen[index] & want) == want, name,
           "%u events, ISR seen 0x%08x", (unsigned)s_i2c_events[index],
           (unsigned)s_i2c_seen[index]);
}

/* ---- SPI ---------------------------------------------------------------------------------- */

static void spi_init(const struct spi_bus *bus)
{
    uint32_t base = bus->base;
    mvPeriphPoke32(bus->enr, bus->enr_bit, bus->enr_bit);
    SPI_REG(base, SPI_CR1_OFS) &= ~SPI_CR1_SPE;
    SPI_REG(base, SPI_CR1_OFS) = SPI_CR1_SSI;
    SPI_REG(base, SPI_CFG1_OFS) = 7u << SPI_CFG1_DSIZE_POS | 3u << SPI_CFG1_MBR_POS;
    SPI_REG(base, SPI_CFG2_OFS) = SPI_CFG2_MASTER | SPI_CFG2_SSM;
}

/* An 8-bit full-duplex transfer of n frames, as HAL_SPI_TransmitReceive polls it. */
static bool spi_exchange(uint32_t base, const uint8_t *tx, uint8_t *rx, uint32_t n)
{
    SPI_REG(base, SPI_CR2_OFS) = n;
    SPI_REG(base, SPI_CR1_OFS) |= SPI_CR1_SPE;
    SPI_REG(base, SPI_CR1_OFS) |= SPI_CR1_CSTART;
    uint32_t sent = 0, got = 0;
    for (uint32_t i = 0; i < SPINS && (sent < n || got < n); i++) {
        uint32_t sr = SPI_REG(base, SPI_SR_OFS);
        if ((sr & SPI_SR_TXP) && sent < n) {
            SPI_REG8(base, SPI_TXDR_OFS) = tx[sent++];
        }
        sr = SPI_REG(base, SPI_SR_OFS);
        if ((sr & (SPI_SR_RXWNE | 3u << SPI_SR_RXPLVL_POS)) && got < n) {
            rx[got++] = SPI_REG8(base, SPI_RXDR_OFS);
        }
    }
    bool eot = false;
    for (uint32_t i = 0; i < SPINS && !eot; i++) {
        eot = SPI_REG(base, SPI_SR_OFS) & SPI_SR_EOT;
    }
    return sent == n && got == n && eot;
}

static void spi_close(uint32_t base)
{
    SPI_REG(base, SPI_IFCR_OFS) = SPI_IFCR_EOTC | SPI_IFCR_TXTFC;
    SPI_REG(base, SPI_CR1_OFS) &= ~SPI_CR1_SPE;
}

static void check_spi(unsigned index)
{
    const struct spi_bus *bus = &k_spi[index];
    uint32_t base = bus->base;
    char name[40];

    spi_init(bus);
    log_format(name, sizeof name, "%s/registers-kept", bus->name);
    uint32_t cfg1 = SPI_REG(base, SPI_CFG1_OFS), cfg2 = SPI_REG(base, SPI_CFG2_OFS);
    check(cfg1 == (7u << SPI_CFG1_DSIZE_POS | 3u << SPI_CFG1_MBR_POS) &&
           cfg2 == (SPI_CFG2_MASTER | SPI_CFG2_SSM), name, "CFG1 0x%08x CFG2 0x%08x", cfg1, cfg2);

    static const uint8_t tx[4] = {0x9F, 0x00, 0x00, 0x00};  /* a JEDEC ID read, say */
    uint8_t rx[4] = {0, 0, 0, 0};
    bool done = spi_exchange(base, tx, rx, sizeof tx);
    uint32_t sr = SPI_REG(base, SPI_SR_OFS);
    log_format(name, sizeof name, "%s/transfer", bus->name);
    check(done && (sr & SPI_SR_TXC), name, "done %d SR 0x%08x", done, sr);
    log_format(name, sizeof name, "%s/reads-ones", bus->name);
    check(rx[0] == 0xFF && rx[1] == 0xFF && rx[2] == 0xFF && rx[3] == 0xFF, name,
           "%02x %02x %02x %02x", rx[0], rx[1], rx[2], rx[3]);
    spi_close(base);
    log_format(name, sizeof name, "%s/closed", bus->name);
    sr = SPI_REG(base, SPI_SR_OFS);
    check(!(sr & (SPI_SR_EOT | SPI_SR_TXTF | SPI_SR_OVR)), name, "SR 0x%08x", sr);

    /* Four frames in one 32-bit access each way, and the end-of-transfer interrupt. */
    SPI_REG(base, SPI_IER_OFS) = SPI_IER_EOTIE;
    nvic_clear_pending(bus->irq);
    nvic_enable_irq(bus->irq);
    SPI_REG(base, SPI_CR2_OFS) = 4;
    SPI_REG(base, SPI_CR1_OFS) |= SPI_CR1_SPE;
    SPI_REG(base, SPI_TXDR_OFS) = 0x03020100u;
    SPI_REG(base, SPI_CR1_OFS) |= SPI_CR1_CSTART;
    for (uint32_t i = 0; i < SPINS && s_spi_events[index] == 0; i++) {
    }
    nvic_disable_irq(bus->irq);
    sr = SPI_REG(base, SPI_SR_OFS);
    uint32_t word = SPI_REG(base, SPI_RXDR_OFS);
    log_format(name, sizeof name, "%s/packed", bus->name);
    check((sr & SPI_SR_RXWNE) && word == 0xFFFFFFFFu, name, "SR 0x%08x RXDR 0x%08x", sr, word);
    log_format(name, sizeof name, "%s/eot-interrupt", bus->name);
    check(s_spi_events[index] == 1, name, "%u events", (unsigned)s_spi_events[index]);
    SPI_REG(base, SPI_IER_OFS) = 0;
    spi_close(base);
}

int main(void)
{
    log_init();
    log_printf("buses: start");
    __enable_irq();
    for (unsigned i = 0; i < sizeof k_i2c / sizeof k_i2c[0]; i++) {
        check_i2c(i);
    }
    for (unsigned i = 0; i < sizeof k_spi / sizeof k_spi[0]; i++) {
        check_spi(i);
    }
    done();
}
