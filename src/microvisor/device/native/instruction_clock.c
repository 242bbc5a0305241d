/* The device's instruction counter: a Unicorn block hook, in C so that it costs next to nothing.
 *
 * Virtual time is derived from the instructions the core executes (device/clock.py). Unicorn calls
 * this hook at the start of every translated block it executes; the hook adds the block's
 * instruction count (Thumb-2: a halfword whose top five bits are 0b11101, 0b11110 or 0b11111 starts
 * a 32-bit instruction) and stops the emulation, before the block runs, when the count has reached
 * the deadline of the next timed event or when someone asked for a stop (an access that may make an
 * interrupt deliverable, input from another thread). Stopping only at block starts makes every stop
 * land on an instruction boundary the same way in every run, whatever the host is doing.
 *
 * Counts are cached per block in a direct-mapped table indexed by the block's address (a hot loop's
 * blocks stay in it; a block pushed out is decoded again) for code in application flash; code
 * elsewhere (SRAM) may change, so it is decoded each time.
 */

#include <stdint.h>
#include <string.h>

typedef struct uc_struct uc_engine;
typedef int (*emu_stop_fn)(uc_engine *);
typedef int (*mem_read_fn)(uc_engine *, uint64_t, void *, uint64_t);

#define SLOTS (1u << 14)
#define FLASH_START 0x08000000u
#define FLASH_END 0x08100000u
#define MAX_BLOCK 1024u

typedef struct {
    uint64_t instructions;  /* executed so far (a block counts when it starts) */
    uint64_t deadline;      /* stop before the first block that starts at or after this count */
    volatile int32_t stop;  /* anyone sets it: stop before the next block (the hook clears it) */
    int32_t stopped;        /* the hook stopped the run (the caller clears it) */
    emu_stop_fn emu_stop;   /* Unicorn's uc_emu_stop and uc_mem_read, handed over by the caller */
    mem_read_fn mem_read;
    uint32_t addresses[SLOTS];  /* the block cached in each slot (0: none) */
    uint32_t entries[SLOTS];    /* its size << 16 | its instruction count */
} mv_clock;

static uint32_t decode(uc_engine *uc, const mv_clock *clock, uint64_t address, uint32_t size)
{
    uint8_t code[MAX_BLOCK];
    if (size > MAX_BLOCK) {
        size = MAX_BLOCK;
    }
    if (clock->mem_read(uc, address, code, size) != 0) {
        return size / 2;
    }
    uint32_t count = 0;
    for (uint32_t at = 0; at + 1 < size; count++) {
        uint16_t halfword = (uint16_t)(code[at] | (code[at + 1] << 8));
        at += (halfword >> 11) >= 0x1D ? 4 : 2;
    }
    return count;
}

static uint32_t block_count(uc_engine *uc, mv_clock *clock, uint64_t address, uint32_t size)
{
    if (address < FLASH_START || address + size > FLASH_END || size > 0xFFFFu) {
        return decode(uc, clock, address, size);
    }
    uint32_t slot = (uint32_t)(address >> 1) & (SLOTS - 1);
    uint32_t entry = clock->entries[slot];
    if (clock->addresses[slot] == (uint32_t)address && entry >> 16 == size) {
        return entry & 0xFFFFu;
    }
    uint32_t count = decode(uc, clock, address, size);
    clock->addresses[slot] = (uint32_t)address;
    clock->entries[slot] = size << 16 | count;
    return count;
}

void mv_clock_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    mv_clock *clock = user;
    if (clock->stop || clock->instructions >= clock->deadline) {
        clock->stop = 0;
        clock->stopped = 1;
        clock->emu_stop(uc);
        return;
    }
    clock->instructions += block_count(uc, clock, address, size);
}

void mv_clock_forget_code(mv_clock *clock)
{
    memset(clock->addresses, 0, sizeof clock->addresses);
}
