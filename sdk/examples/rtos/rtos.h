/*
 * rtos.h - a tiny preemptive priority scheduler for the rtos example.
 *
 * Threads run in thread mode on their own stacks (PSP); handlers use the main stack (MSP).
 * SysTick (1 kHz) wakes sleeping threads; PendSV (lowest priority) switches context. The
 * highest-priority ready thread always runs; equal priorities share the CPU round robin.
 * Kernel state is only touched with interrupts masked (PRIMASK).
 */
#ifndef RTOS_H
#define RTOS_H

#include <stdint.h>

#define RTOS_MAX_THREADS 6

enum rtos_state {
    RTOS_READY,         /* runnable (including the thread that is running) */
    RTOS_SLEEPING,      /* waiting for a tick */
    RTOS_BLOCKED,       /* waiting for a mutex */
    RTOS_DONE,          /* returned from its entry function */
};

struct rtos_mutex;

struct rtos_thread {
    uint32_t *sp;                  /* saved PSP while not running */
    uint8_t base_prio;             /* priority given at creation (higher runs first) */
    uint8_t prio;                  /* effective priority (raised by priority inheritance) */
    uint8_t state;                 /* enum rtos_state */
    uint8_t id;
    uint32_t wake_tick;            /* when RTOS_SLEEPING */
    struct rtos_mutex *waiting_on; /* when RTOS_BLOCKED */
    void (*entry)(void);
    const char *name;
};

struct rtos_mutex {
    struct rtos_thread *owner;
};

/* Create a thread (before rtos_start). The stack must be 8-byte aligned. */
struct rtos_thread *rtos_create(const char *name, void (*entry)(void), uint8_t prio,
                                uint32_t *stack, uint32_t stack_words);

/* Add the idle thread (priority 0, so application threads use 1 and up), configure SysTick and
 * PendSV, and run the highest-priority thread. Never returns. */
__attribute__((noreturn)) void rtos_start(void);

struct rtos_thread *rtos_self(void);
uint32_t rtos_ticks(void);
void rtos_sleep(uint32_t ticks);   /* sleep at least `ticks` milliseconds (0: yield) */

void rtos_mutex_lock(struct rtos_mutex *m);
void rtos_mutex_unlock(struct rtos_mutex *m);

/* Called by the SysTick handler (interrupts masked by priority) for each thread it wakes.
 * The default does nothing; an application may define its own. */
void rtos_wake_hook(struct rtos_thread *t);

/* Number of threads created, and access to them (for the final checks). */
uint32_t rtos_thread_count(void);
struct rtos_thread *rtos_thread(uint32_t index);

#endif /* RTOS_H */
