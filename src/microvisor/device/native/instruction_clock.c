/* The device's cycle counter: a Unicorn block hook, in C so that it costs next to nothing.
 *
 * Virtual time is made of the code the core executes (device/clock.py). The cost model
 * (ARCHITECTURE.md): a 16-bit Thumb instruction takes one cycle of the 160 MHz core, a 32-bit one
 * two, so a block of code costs its length in halfwords, which Unicorn hands to the hook. Unicorn
 * calls the hook at the start of every translated block it executes; the hook adds the block's cycles
 * and stops the emulation, before the block runs, when the count has reached the deadline of the next
 * timed event or when someone asked for a stop (an access that may make an interrupt deliverable,
 * input from another thread). Stopping only at block starts makes every stop land on an instruction
 * boundary the same way in every run, whatever the host is doing.
 *
 * One periodic event (SysTick's wrap, handed over by device/systick.py) can be run by the hook
 * itself, without stopping: at the first block that starts at or after its instant, the hook calls
 * the event's action (native/exceptions.c pends SysTick and takes it at once when nothing stands in
 * its way), schedules the next one a fixed step of virtual time later, exactly as the Python timer
 * would, and stops only when the action cannot finish the job alone.
 */

#include <stdint.h>

typedef struct uc_struct uc_engine;
typedef int (*emu_stop_fn)(uc_engine *);
typedef int (*action_fn)(uc_engine *, void *, uint64_t);

#define NEVER UINT64_MAX

typedef struct {
    uint64_t cycles;        /* executed so far (a block counts when it starts) */
    uint64_t deadline;      /* stop before the first block that starts at or after this count */
    volatile int32_t stop;  /* anyone sets it: stop before the next block (the hook clears it) */
    int32_t stopped;        /* the hook stopped the run (the caller clears it) */
    emu_stop_fn emu_stop;   /* Unicorn's uc_emu_stop, handed over by the caller */
    /* The periodic event: due at cycle `event_at` (NEVER: none), virtual time `event_ns`; each next
     * one `step_ns` later. Cycles and nanoseconds are tied by skipped_ns (virtual time that passed
     * without cycles) and the ratio ns_per_cycle_num / ns_per_cycle_den. */
    uint64_t event_at;
    int64_t event_ns, step_ns, skipped_ns, ns_per_cycle_num, ns_per_cycle_den;
    uint64_t events;        /* events run since the caller last took the count */
    action_fn action;       /* the event's action: nonzero when it let the emulation go on */
    void *action_arg;
} mv_clock;

static uint64_t cycle_at(const mv_clock *clock, int64_t ns)
{
    /* The first cycle at which virtual time has reached ns (rounded up, as clock.py's cycles_until). */
    int64_t scaled = (ns - clock->skipped_ns) * clock->ns_per_cycle_den;
    return (uint64_t)((scaled + clock->ns_per_cycle_num - 1) / clock->ns_per_cycle_num);
}

static void halt(uc_engine *uc, mv_clock *clock)
{
    clock->stop = 0;
    clock->stopped = 1;
    clock->emu_stop(uc);
}

void mv_clock_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    mv_clock *clock = user;
    if (clock->stop || clock->cycles >= clock->deadline) {
        halt(uc, clock);
        return;
    }
    if (clock->cycles >= clock->event_at) {
        clock->events++;
        clock->event_ns += clock->step_ns;
        clock->event_at = cycle_at(clock, clock->event_ns);
        if (!clock->action(uc, clock->action_arg, address)) {
            halt(uc, clock);
        }
        return;  /* the block does not run: an exception was taken before it, or the run stops */
    }
    clock->cycles += size / 2;
}
