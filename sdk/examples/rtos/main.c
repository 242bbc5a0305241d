/*
 * rtos - three threads of different priorities on our own preemptive scheduler (rtos.c),
 * sharing a counter under a mutex. The threads log their progress; a monitor thread checks the
 * invariants when they are done and logs "rtos: PASS" or "rtos: FAIL <reason>".
 *
 *   t3 (high)   sleeps 3 ms, then increments the counter under the mutex; it keeps doing so
 *               until t1 has finished
 *   t2 (middle) holds the mutex across a 2 ms sleep, so others block on it;          5 times
 *   t1 (low)    increments under the mutex with a busy wait inside (it is preempted there),
 *               then busy-waits outside;                                            10 times
 *
 * Invariants:
 *   - the mutex is never held by two threads, and lock() returns only to its owner;
 *   - when t3 becomes ready (SysTick wakes it), no lower-priority code runs before t3 does:
 *     t1's busy-wait counter does not move between the wake-up and t3's first instruction;
 *   - t3 did become ready while t1 was running at least once (preemption was exercised);
 *   - some lock attempts found the mutex taken (blocking was exercised);
 *   - the counter equals the number of increments made (no lost update).
 */
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "rtos.h"
#include "stm32u585_regs.h"

#define STACK_WORDS 512
#define T1_ROUNDS 10u
#define T2_ROUNDS 5u
#define TIMEOUT_TICKS 5000u

static uint32_t s_stack_t1[STACK_WORDS] __attribute__((aligned(8)));
static uint32_t s_stack_t2[STACK_WORDS] __attribute__((aligned(8)));
static uint32_t s_stack_t3[STACK_WORDS] __attribute__((aligned(8)));
static uint32_t s_stack_monitor[STACK_WORDS] __attribute__((aligned(8)));

static struct rtos_mutex s_mutex;
static struct rtos_thread *s_t1, *s_t2, *s_t3;

static volatile uint32_t s_counter;       /* protected by s_mutex */
static volatile uint32_t s_holders;       /* threads inside the critical section */
static volatile uint32_t s_contended;     /* lock attempts that found the mutex taken */
static volatile uint32_t s_t3_rounds;     /* increments made by t3 */
static volatile bool s_t1_finished;
static volatile uint32_t s_spins;         /* t1's busy-wait iterations */
static volatile uint32_t s_spins_at_t3_wake;
static volatile uint32_t s_t3_woke_over_t1; /* t3 woken while t1 was running */
static const char *volatile s_failure;    /* first broken invariant */

static void fail(const char *reason)
{
    if (!s_failure) {
        s_failure = reason;
    }
}

/* SysTick wakes a thread: remember where t1's busy-wait was when t3 became ready. */
void rtos_wake_hook(struct rtos_thread *t)
{
    if (t == s_t3) {
        s_spins_at_t3_wake = s_spins;
        struct rtos_thread *running = rtos_self();
        if (running == s_t1 && running->state == RTOS_READY) {
            s_t3_woke_over_t1++;
        }
    }
}

/* Busy-wait (preemptible) until `ticks` SysTicks have passed. */
static void spin_ticks(uint32_t ticks)
{
    uint32_t start = rtos_ticks();
    while (rtos_ticks() - start < ticks) {
        s_spins++;
    }
}

static void lock(void)
{
    struct rtos_thread *owner = s_mutex.owner;
    if (owner && owner != rtos_self()) {
        s_contended++;
    }
    rtos_mutex_lock(&s_mutex);
    if (s_mutex.owner != rtos_self()) {
        fail("lock returned without ownership");
    }
}

/* Read-modify-write of the shared counter, stretched so that others get in between. */
static void increment_slowly(bool sleep_inside, uint32_t spin)
{
    if (++s_holders != 1) {
        fail("mutex held by two threads");
    }
    uint32_t value = s_counter;
    if (sleep_inside) {
        rtos_sleep(2);
    } else {
        spin_ticks(spin);
    }
    s_counter = value + 1;
    s_holders--;
}

static void t1_low(void)
{
    for (uint32_t n = 1; n <= T1_ROUNDS; n++) {
        lock();
        increment_slowly(false, 1);
        rtos_mutex_unlock(&s_mutex);
        log_printf("rtos: t1 run n=%u", (unsigned)n);
        spin_ticks(2);
    }
    s_t1_finished = true;
}

static void t2_middle(void)
{
    for (uint32_t n = 1; n <= T2_ROUNDS; n++) {
        lock();
        increment_slowly(true, 0);
        rtos_mutex_unlock(&s_mutex);
        log_printf("rtos: t2 run n=%u", (unsigned)n);
        rtos_sleep(1);
    }
}

static void t3_high(void)
{
    while (!s_t1_finished) {
        uint32_t due = rtos_ticks() + 3u;
        rtos_sleep(3);
        /* First thing after waking: nothing of lower priority may have run since the wake-up. */
        if (s_spins != s_spins_at_t3_wake) {
            fail("t1 ran while t3 was ready");
        }
        uint32_t late = rtos_ticks() - due;
        lock();
        increment_slowly(false, 0);
        s_t3_rounds++;
        rtos_mutex_unlock(&s_mutex);
        log_printf("rtos: t3 run n=%u late=%u", (unsigned)s_t3_rounds, (unsigned)late);
    }
}

static bool workers_done(void)
{
    return s_t1->state == RTOS_DONE && s_t2->state == RTOS_DONE && s_t3->state == RTOS_DONE;
}

static void monitor(void)
{
    while (!workers_done()) {
        if (rtos_ticks() > TIMEOUT_TICKS) {
            fail("timeout");
            break;
        }
        rtos_sleep(5);
    }
    const uint32_t expected = T1_ROUNDS + T2_ROUNDS + s_t3_rounds;
    if (s_counter != expected) fail("counter lost updates");
    if (s_contended == 0) fail("mutex never contended");
    if (s_t3_woke_over_t1 == 0) fail("t3 never woke while t1 was running");
    if (s_mutex.owner != 0) fail("mutex still held");

    log_printf("rtos: counter=%u expected=%u contended=%u preemptions=%u ticks=%u",
               (unsigned)s_counter, (unsigned)expected, (unsigned)s_contended,
               (unsigned)s_t3_woke_over_t1, (unsigned)rtos_ticks());
    if (s_failure) {
        log_printf("rtos: FAIL %s", s_failure);
    } else {
        log_printf("rtos: PASS");
    }
}

int main(void)
{
    log_init();
    log_printf("rtos: start");
    s_t1 = rtos_create("t1", t1_low, 2, s_stack_t1, STACK_WORDS);
    s_t2 = rtos_create("t2", t2_middle, 3, s_stack_t2, STACK_WORDS);
    s_t3 = rtos_create("t3", t3_high, 4, s_stack_t3, STACK_WORDS);
    rtos_create("monitor", monitor, 1, s_stack_monitor, STACK_WORDS);
    rtos_start();
}
