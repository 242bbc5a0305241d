/*
 * rtos.c - the scheduler of the rtos example: thread creation, SysTick time keeping, PendSV
 * context switch, sleeping and a mutex with direct hand-off and priority inheritance.
 */
#include "rtos.h"

#include <stddef.h>

#include "stm32u585_regs.h"

#define XPSR_THUMB 0x01000000u

static struct rtos_thread s_threads[RTOS_MAX_THREADS];
static uint32_t s_idle_stack[128] __attribute__((aligned(8)));
static uint32_t s_count;
static struct rtos_thread *volatile s_current;
static volatile uint32_t s_ticks;

uint32_t *rtos_switch_context(uint32_t *sp);   /* called from PendSV_Handler */
void rtos_thread_exit(void);                   /* where thread entry functions return to */

/* ---- helpers -------------------------------------------------------------------------------- */

static inline uint32_t irq_save(void)
{
    uint32_t primask = get_primask();
    __disable_irq();
    return primask;
}

static inline void irq_restore(uint32_t primask)
{
    set_primask(primask);
}

static inline void request_switch(void)
{
    SCB_ICSR = SCB_ICSR_PENDSVSET;
    __DSB();
    __ISB();
}

/* Where a thread's entry function returns to. */
void rtos_thread_exit(void)
{
    uint32_t pm = irq_save();
    s_current->state = RTOS_DONE;
    request_switch();
    irq_restore(pm);
    for (;;) {
        /* never runs again */
    }
}

/* ---- threads -------------------------------------------------------------------------------- */

struct rtos_thread *rtos_create(const char *name, void (*entry)(void), uint8_t prio,
                                uint32_t *stack, uint32_t stack_words)
{
    if (s_count >= RTOS_MAX_THREADS) {
        return NULL;
    }
    struct rtos_thread *t = &s_threads[s_count];
    t->id = (uint8_t)s_count;
    t->name = name;
    t->entry = entry;
    t->base_prio = t->prio = prio;
    t->state = RTOS_READY;

    /* A first context as if the thread had been interrupted just before its first instruction:
     * the hardware frame (r0-r3, r12, lr, pc, xpsr) under r4-r11, as PendSV restores it. */
    uint32_t *sp = stack + stack_words;
    sp = (uint32_t *)((uintptr_t)sp & ~(uintptr_t)7u);
    *--sp = XPSR_THUMB;                                 /* xPSR: Thumb state */
    *--sp = (uint32_t)(uintptr_t)entry & ~1u;           /* pc */
    *--sp = (uint32_t)(uintptr_t)rtos_thread_exit;      /* lr: where the entry returns to */
    for (int i = 0; i < 5; i++) {
        *--sp = 0;                                      /* r12, r3, r2, r1, r0 */
    }
    for (int i = 0; i < 8; i++) {
        *--sp = 0;                                      /* r11 .. r4 */
    }
    t->sp = sp;
    s_count++;
    return t;
}

uint32_t rtos_thread_count(void) { return s_count; }
struct rtos_thread *rtos_thread(uint32_t index) { return &s_threads[index]; }
struct rtos_thread *rtos_self(void) { return s_current; }
uint32_t rtos_ticks(void) { return s_ticks; }

/* The highest-priority ready thread; among equals, the next one after the current thread. */
static struct rtos_thread *pick_next(void)
{
    struct rtos_thread *best = NULL;
    uint32_t start = s_current ? (uint32_t)s_current->id + 1u : 0u;
    for (uint32_t k = 0; k < s_count; k++) {
        struct rtos_thread *t = &s_threads[(start + k) % s_count];
        if (t->state == RTOS_READY && (!best || t->prio > best->prio)) {
            best = t;
        }
    }
    return best;
}

/* Called by PendSV with interrupts masked: save the outgoing stack pointer, choose the next
 * thread, return its stack pointer. */
uint32_t *rtos_switch_context(uint32_t *sp)
{
    s_current->sp = sp;
    struct rtos_thread *next = pick_next();
    if (next) {
        s_current = next;
    }
    return s_current->sp;
}

__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "cpsid i                \n"
        "mrs   r0, psp          \n"
        "stmdb r0!, {r4-r11}    \n"
        "push  {r3, lr}         \n"   /* keep EXC_RETURN; r3 keeps the stack 8-byte aligned */
        "bl    rtos_switch_context\n"
        "pop   {r3, lr}         \n"
        "ldmia r0!, {r4-r11}    \n"
        "msr   psp, r0          \n"
        "cpsie i                \n"
        "bx    lr               \n");
}

/* Called from SysTick_Handler for each thread it wakes; applications may define their own. */
__attribute__((weak)) void rtos_wake_hook(struct rtos_thread *t)
{
    (void)t;
}

void SysTick_Handler(void)
{
    s_ticks++;
    struct rtos_thread *cur = s_current;
    int need_switch = 0;
    for (uint32_t i = 0; i < s_count; i++) {
        struct rtos_thread *t = &s_threads[i];
        if (t->state == RTOS_SLEEPING && (int32_t)(s_ticks - t->wake_tick) >= 0) {
            t->state = RTOS_READY;
            rtos_wake_hook(t);
        }
        /* Switch if another ready thread outranks the current one or shares its priority
         * (round robin), or if the current one is no longer ready. */
        if (t != cur && t->state == RTOS_READY &&
            (cur->state != RTOS_READY || t->prio >= cur->prio)) {
            need_switch = 1;
        }
    }
    if (need_switch) {
        request_switch();
    }
}

/* Run the first thread in thread mode on its own stack: PSP, CONTROL.SPSEL = 1. */
#define UNUSED __attribute__((unused))
__attribute__((naked, noreturn)) static void start_first(uint32_t *psp UNUSED,
                                                         void (*entry)(void) UNUSED)
{
    __asm volatile(
        "msr   psp, r0          \n"
        "movs  r0, #2           \n"
        "msr   control, r0      \n"   /* thread mode now uses PSP */
        "isb                    \n"
        "cpsie i                \n"
        "blx   r1               \n"
        "bl    rtos_thread_exit \n");
}

/* Runs when nothing else can: sleeps until the next interrupt. */
static void idle_thread(void)
{
    for (;;) {
        __WFI();
    }
}

void rtos_start(void)
{
    __disable_irq();
    rtos_create("idle", idle_thread, 0, s_idle_stack, sizeof s_idle_stack / 4u);
    SCB_PRIO_PENDSV = 0xFF;   /* lowest: switch only when no other handler runs */
    SCB_PRIO_SYSTICK = 0x80;
    SYST_RVR = CORE_CLOCK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;

    struct rtos_thread *first = pick_next();
    s_current = first;
    /* Drop the prepared context: the first thread starts directly at its entry. */
    start_first(first->sp + 16, first->entry);
}

/* After irq_restore() the pending PendSV switches away at once on real hardware. Should it be
 * taken a little later, the thread must not run on meanwhile: wait here until it is ready. */
static void wait_until_ready(struct rtos_thread *self)
{
    while (*(volatile uint8_t *)&self->state != RTOS_READY) {
    }
}

void rtos_sleep(uint32_t ticks)
{
    uint32_t pm = irq_save();
    struct rtos_thread *self = s_current;
    if (ticks) {
        self->wake_tick = s_ticks + ticks;
        self->state = RTOS_SLEEPING;
    }
    request_switch();
    irq_restore(pm);   /* PendSV runs here when interrupts were enabled */
    wait_until_ready(self);
}

/* ---- mutex -------------------------------------------------------------------------------- */

void rtos_mutex_lock(struct rtos_mutex *m)
{
    uint32_t pm = irq_save();
    struct rtos_thread *self = s_current;
    while (m->owner != self) {
        if (m->owner == NULL) {
            m->owner = self;
            break;
        }
        /* Block until the owner hands the mutex over; lend the owner our priority. */
        self->state = RTOS_BLOCKED;
        self->waiting_on = m;
        if (m->owner->prio < self->prio) {
            m->owner->prio = self->prio;
        }
        request_switch();
        irq_restore(pm);   /* switches away; resumes once unblocked */
        wait_until_ready(self);
        pm = irq_save();
    }
    irq_restore(pm);
}

void rtos_mutex_unlock(struct rtos_mutex *m)
{
    uint32_t pm = irq_save();
    struct rtos_thread *self = s_current;
    if (m->owner != self) {
        irq_restore(pm);
        return;
    }
    self->prio = self->base_prio;   /* one mutex at a time in this example */

    struct rtos_thread *heir = NULL;
    for (uint32_t i = 0; i < s_count; i++) {
        struct rtos_thread *t = &s_threads[i];
        if (t->state == RTOS_BLOCKED && t->waiting_on == m && (!heir || t->prio > heir->prio)) {
            heir = t;
        }
    }
    m->owner = heir;
    if (heir) {
        heir->waiting_on = NULL;
        heir->state = RTOS_READY;
        if (heir->prio > self->prio) {
            request_switch();
        }
    }
    irq_restore(pm);
}
