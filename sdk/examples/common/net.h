/*
 * net.h - what the examples that use the network share: one notification centre on TIM8_UP's IRQ,
 * a network request, and opening a channel over it.
 */
#ifndef EXAMPLES_NET_H
#define EXAMPLES_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mv_syscalls.h"

#define NET_TAG 0x4E455400u  /* the tag of the network's notifications; a channel's is its own */

/* Set up the centre and request the network; then wait (WFI) up to timeout_ms for it to be up. */
enum MvStatus net_start(uint32_t timeout_ms);

/* Open a channel of `type` (endpoint may be NULL) with the caller's 512-byte-aligned buffers. */
enum MvStatus net_open_channel(enum MvChannelType type, const char *endpoint, uint32_t tag,
                               uint8_t *rx, uint32_t rx_len, uint8_t *tx, uint32_t tx_len,
                               MvChannelHandle *handle);

/* Wait (WFI) up to timeout_ms for a notification with this tag; its event type, or NOEVENT. */
enum MvEventType net_wait(uint32_t tag, uint32_t timeout_ms);

/* Microseconds since the microvisor started. */
uint64_t net_now_us(void);

#endif /* EXAMPLES_NET_H */
