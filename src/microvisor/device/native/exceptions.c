/* Exception entry and return of the Cortex-M33 on Unicorn's registers and memory, in C.
 *
 * Unicorn has no NVIC, so the device takes exceptions by hand (device/exceptions.py): stacking,
 * EXC_RETURN, unstacking. Done here it costs a few microseconds; the same steps through Python cost
 * tens. The NVIC's pending, active and line flags and its stack of active exceptions are byte arrays
 * that the Python side (device/nvic.py) owns and reads; these functions update them as the core
 * does. A return from an exception is taken inside Unicorn's interrupt hook, without ending the
 * emulation, unless the Python side wants to see it (a debugger, IRQ tracing) or it fails.
 *
 * SysTick's wrap can also be run by the cycle counter's hook (native/instruction_clock.c):
 * mv_exception_systick pends it and takes it at once when nothing stands in its way.
 *
 * Entry and return report a failure as a code plus the values that explain it; the Python side turns
 * the code into the fault the core would raise. Steps are in the order the core takes them, so state
 * changed before a failure stays changed, as on the core.
 */

#include <stdint.h>
#include <string.h>

typedef struct uc_struct uc_engine;
typedef int (*reg_fn)(uc_engine *, int, void *);
typedef int (*mem_fn)(uc_engine *, uint64_t, void *, uint64_t);
typedef int (*stop_fn)(uc_engine *);

enum { R0, R1, R2, R3, R12, LR, PC, XPSR, CONTROL, MSP, PSP, FAULTMASK, PRIMASK, BASEPRI, REGISTERS };

enum { OK = 0, STACKING = 1, VECTOR_UNREADABLE = 2, VECTOR_NOT_THUMB = 3 };          /* entry */
enum { NOT_ACTIVE = 1, STILL_NESTED = 2, UNSTACKING = 3, IPSR_MISMATCH = 4 };       /* return */

#define EXCP_EXCEPTION_EXIT 8
#define NMI 2
#define SYSTICK 15
#define IRQ0 16
#define XPSR_T (1u << 24)
#define XPSR_STKALIGN (1u << 9)
#define CONTROL_SPSEL (1u << 1)
#define FRAME_SIZE 32u
/* EXC_RETURN of a Non-secure core: prefix, DCRS=1, FType=1; bit 3 Thread mode, bit 2 process stack. */
#define EXC_RETURN_BASE 0xFFFFFFB0u
#define EXC_RETURN_MODE (1u << 3)
#define EXC_RETURN_SPSEL (1u << 2)

typedef struct {
    reg_fn reg_read, reg_write;
    mem_fn mem_read, mem_write;
    stop_fn emu_stop;
    int32_t regs[REGISTERS];        /* Unicorn's register ids, in the order of the enum above */
    uint8_t *pending, *active, *lines;
    uint8_t *order;                 /* active exceptions, innermost last, then zeros */
    uint32_t exceptions;            /* the length of each of those arrays */
    volatile int32_t *stop;         /* the cycle counter's stop flag: stop before the next block */
    uint32_t ram_start, ram_end;    /* application SRAM: frames live only there */
    uint32_t vtor;                  /* the vector table, for an exception taken by the clock */
    int32_t return_in_place;        /* the hook returns from exceptions itself */
    int32_t intno;                  /* the CPU exception that stopped the emulation (-1: none) */
    int32_t failure;                /* why a return taken in the hook failed (0: it did not) */
    uint32_t info[2];               /* the values a failure is about; the new PC after a return */
} mv_exceptions;

static uint32_t get(uc_engine *uc, mv_exceptions *core, int reg)
{
    uint32_t value = 0;
    core->reg_read(uc, core->regs[reg], &value);
    return value;
}

static void set(uc_engine *uc, mv_exceptions *core, int reg, uint32_t value)
{
    core->reg_write(uc, core->regs[reg], &value);
}

static int in_ram(const mv_exceptions *core, uint32_t address)
{
    return address >= core->ram_start && (uint64_t)address + FRAME_SIZE <= core->ram_end;
}

static uint32_t depth(const mv_exceptions *core)
{
    const uint8_t *end = memchr(core->order, 0, core->exceptions);
    return end ? (uint32_t)(end - core->order) : core->exceptions;
}

static void deactivate(mv_exceptions *core, uint32_t number)
{
    uint32_t count = depth(core);
    core->active[number] = 0;
    for (uint32_t at = 0; at < count; at++) {
        if (core->order[at] == number) {
            memmove(core->order + at, core->order + at + 1, count - at - 1);
            core->order[count - 1] = 0;
            break;
        }
    }
    if (number >= IRQ0 && core->lines[number]) {
        core->pending[number] = 1;  /* a level interrupt still asserted pends again */
    }
}

/* Stack the context, switch to Handler mode on the main stack and branch to the vector of `number`;
 * the exception returns to `return_address`, or with `at_pc` to where the core is now. */
int mv_exception_enter(uc_engine *uc, mv_exceptions *core, uint32_t number, uint32_t return_address,
                       int32_t at_pc, uint32_t vtor)
{
    if (at_pc) {
        return_address = get(uc, core, PC);
    }
    uint32_t frame[8] = {get(uc, core, R0), get(uc, core, R1), get(uc, core, R2), get(uc, core, R3),
                         get(uc, core, R12), get(uc, core, LR), return_address & ~1u, 0};
    uint32_t xpsr = get(uc, core, XPSR), control = get(uc, core, CONTROL);
    int thread_mode = (xpsr & 0x1FF) == 0;
    int on_psp = thread_mode && (control & CONTROL_SPSEL);
    uint32_t sp = get(uc, core, on_psp ? PSP : MSP);
    uint32_t frame_sp = (sp - FRAME_SIZE) & ~7u;
    frame[7] = (sp - FRAME_SIZE) & 4 ? xpsr | XPSR_STKALIGN : xpsr & ~XPSR_STKALIGN;
    if (!in_ram(core, frame_sp) || core->mem_write(uc, frame_sp, frame, sizeof frame) != 0) {
        core->info[0] = sp;
        core->info[1] = return_address;
        return STACKING;
    }
    uint32_t exc_return = EXC_RETURN_BASE;
    if (thread_mode) {
        exc_return |= EXC_RETURN_MODE | (on_psp ? EXC_RETURN_SPSEL : 0);
    }
    uint32_t vector = 0;
    if (core->mem_read(uc, vtor + 4 * number, &vector, 4) != 0) {
        core->info[0] = vtor + 4 * number;
        core->info[1] = return_address;
        return VECTOR_UNREADABLE;
    }
    /* The frame's stack pointer first, then Handler mode on the main stack: clearing SPSEL before
     * the mode changes keeps Unicorn's banked stack pointers right. */
    set(uc, core, on_psp ? PSP : MSP, frame_sp);
    set(uc, core, CONTROL, control & ~CONTROL_SPSEL);
    set(uc, core, XPSR, XPSR_T | number);
    set(uc, core, LR, exc_return);
    core->pending[number] = 0;
    core->active[number] = 1;
    uint32_t count = depth(core);
    if (count < core->exceptions) {
        core->order[count] = (uint8_t)number;
    }
    if (!(vector & 1)) {
        core->info[0] = vector;
        return VECTOR_NOT_THUMB;
    }
    set(uc, core, PC, vector | 1);  /* bit 0 of a PC write is Unicorn's Thumb flag */
    return OK;
}

/* Return from the active exception as `exc_return` asks; info[0] is then the PC to resume at. */
int mv_exception_return(uc_engine *uc, mv_exceptions *core, uint32_t exc_return)
{
    uint32_t xpsr = get(uc, core, XPSR), control = get(uc, core, CONTROL);
    uint32_t number = xpsr & 0x1FF;
    if (number == 0 || number >= core->exceptions || !core->active[number]) {
        return NOT_ACTIVE;
    }
    int to_thread = (exc_return & EXC_RETURN_MODE) != 0;
    int use_psp = to_thread && (exc_return & EXC_RETURN_SPSEL);
    deactivate(core, number);
    if (number != NMI) {
        set(uc, core, FAULTMASK, 0);
    }
    if (to_thread && depth(core) > 0) {
        return STILL_NESTED;
    }
    uint32_t sp = get(uc, core, use_psp ? PSP : MSP);
    uint32_t frame[8];
    if (!in_ram(core, sp) || core->mem_read(uc, sp, frame, sizeof frame) != 0) {
        core->info[0] = sp;
        return UNSTACKING;
    }
    uint32_t stacked_ipsr = frame[7] & 0x1FF;
    if (to_thread != (stacked_ipsr == 0)) {
        return IPSR_MISMATCH;
    }
    uint32_t new_sp = sp + FRAME_SIZE + (frame[7] & XPSR_STKALIGN ? 4 : 0);
    set(uc, core, CONTROL, use_psp ? control | CONTROL_SPSEL : control & ~CONTROL_SPSEL);
    set(uc, core, XPSR, (frame[7] & ~XPSR_STKALIGN) | XPSR_T);
    set(uc, core, use_psp ? PSP : MSP, new_sp);
    for (int reg = R0; reg <= LR; reg++) {
        set(uc, core, reg, frame[reg]);
    }
    set(uc, core, PC, frame[6] | 1);
    core->info[0] = frame[6] & ~1u;
    return OK;
}

/* Unicorn's interrupt hook: a return from an exception is taken here; anything else, or a return
 * that fails, ends the emulation for the Python side to deal with. */
void mv_exceptions_intr(uc_engine *uc, uint32_t intno, void *user)
{
    mv_exceptions *core = user;
    if (intno == EXCP_EXCEPTION_EXIT && core->return_in_place) {
        uint32_t exc_return = get(uc, core, PC);
        int failure = mv_exception_return(uc, core, exc_return);
        if (failure == OK) {
            if (memchr(core->pending, 1, core->exceptions) != NULL) {
                *core->stop = 1;  /* something may now preempt: look before the next block */
            }
            return;
        }
        core->failure = failure;
        core->info[1] = exc_return;
    }
    core->intno = (int32_t)intno;
    core->emu_stop(uc);
}

/* The cycle counter's action at SysTick's wrap: pend SysTick and, when the core runs Thread mode with
 * nothing active, no mask set, nothing else pending and a stack and vector that take the entry, take it
 * before the block at `address` (nonzero). Anything else is left to the Python side, which weighs
 * priorities and faults (zero: the counter stops the emulation). */
int mv_exception_systick(uc_engine *uc, void *user, uint64_t address)
{
    mv_exceptions *core = user;
    core->pending[SYSTICK] = 1;
    if (depth(core) != 0 || get(uc, core, PRIMASK) || get(uc, core, FAULTMASK) || get(uc, core, BASEPRI)
        || memchr(core->pending, 1, SYSTICK) != NULL
        || memchr(core->pending + SYSTICK + 1, 1, core->exceptions - SYSTICK - 1) != NULL) {
        return 0;
    }
    uint32_t sp = get(uc, core, get(uc, core, CONTROL) & CONTROL_SPSEL ? PSP : MSP);
    uint32_t vector = 0;
    if (!in_ram(core, (sp - FRAME_SIZE) & ~7u)
        || core->mem_read(uc, core->vtor + 4 * SYSTICK, &vector, 4) != 0 || !(vector & 1)) {
        return 0;
    }
    return mv_exception_enter(uc, core, SYSTICK, (uint32_t)address, 0, core->vtor) == OK;
}
