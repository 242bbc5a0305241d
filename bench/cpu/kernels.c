/*
 * kernels.c - the CPU benchmark's four kernels and its iteration loop (see kernels.h).
 *
 * Every kernel works on a small data set made once by bench_setup, changes it a little each
 * iteration (so that no iteration repeats another) and folds what it computed into a 32-bit
 * result, so that nothing can be optimised away.
 */
#include "kernels.h"

/* ---- shared ------------------------------------------------------------------------------- */

/* xorshift32: a small deterministic pseudo-random generator. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static uint32_t mix(uint32_t h, uint32_t v)
{
    h ^= v + 0x9E3779B9u + (h << 6) + (h >> 2);
    return h;
}

/* ---- linked list: find, reverse, merge sort ------------------------------------------------ */

struct node {
    struct node *next;
    uint16_t key;     /* the node's place in the list as made */
    uint16_t value;   /* data that changes from one iteration to the next */
};

static struct node s_nodes[LIST_NODES];
static struct node *s_list;

static void list_setup(uint32_t *rng)
{
    for (uint32_t i = 0; i < LIST_NODES; i++) {
        s_nodes[i].key = (uint16_t)i;
        s_nodes[i].value = (uint16_t)next_random(rng);
        s_nodes[i].next = i + 1u < LIST_NODES ? &s_nodes[i + 1u] : 0;
    }
    s_list = &s_nodes[0];
}

/* The first node whose value has `wanted` in the bits of `mask`, or none. */
static const struct node *list_find(const struct node *list, uint16_t mask, uint16_t wanted)
{
    while (list != 0 && (list->value & mask) != wanted) {
        list = list->next;
    }
    return list;
}

static struct node *list_reverse(struct node *list)
{
    struct node *reversed = 0;
    while (list != 0) {
        struct node *next = list->next;
        list->next = reversed;
        reversed = list;
        list = next;
    }
    return reversed;
}

static int node_before(const struct node *a, const struct node *b, int by_value)
{
    if (by_value && a->value != b->value) {
        return a->value < b->value;
    }
    return a->key <= b->key;
}

/* Bottom-up merge sort of a singly linked list: runs of 1, 2, 4, ... merged pairwise. */
static struct node *list_sort(struct node *list, int by_value)
{
    for (uint32_t run = 1;; run *= 2u) {
        struct node *p = list, *tail = 0;
        uint32_t merges = 0;
        list = 0;
        while (p != 0) {
            merges++;
            struct node *q = p;
            uint32_t p_size = 0;
            while (p_size < run && q != 0) {
                p_size++;
                q = q->next;
            }
            uint32_t q_size = run;
            while (p_size > 0 || (q_size > 0 && q != 0)) {
                struct node *e;
                if (p_size == 0) {
                    e = q, q = q->next, q_size--;
                } else if (q_size == 0 || q == 0 || node_before(p, q, by_value)) {
                    e = p, p = p->next, p_size--;
                } else {
                    e = q, q = q->next, q_size--;
                }
                if (tail != 0) {
                    tail->next = e;
                } else {
                    list = e;
                }
                tail = e;
            }
            p = q;
        }
        tail->next = 0;
        if (merges <= 1u) {
            return list;
        }
    }
}

uint32_t bench_list(uint32_t iteration)
{
    uint32_t h = iteration;
    for (uint32_t k = 0; k < 8u; k++) {
        const struct node *found = list_find(s_list, 0x1Fu, (uint16_t)((iteration * 7u + k * 13u) & 0x1Fu));
        h = mix(h, found != 0 ? found->key : 0xFFFFu);
    }
    s_list = list_reverse(s_list);
    s_list = list_sort(s_list, 1);
    uint32_t position = 1;
    for (const struct node *n = s_list; n != 0 && position <= 16u; n = n->next, position++) {
        h = mix(h, (uint32_t)n->value * position ^ n->key);
    }
    s_nodes[iteration % LIST_NODES].value += (uint16_t)(iteration * 40503u + 1u);
    s_list = list_sort(s_list, 0);
    uint32_t ordered = 1, previous = 0;
    for (const struct node *n = s_list; n != 0; n = n->next) {
        ordered &= n->key >= previous;
        previous = n->key;
    }
    return mix(h, ordered);
}

/* ---- integer matrices: product, scalar add, matrix-vector product ------------------------- */

static int16_t s_ma[MATRIX_N][MATRIX_N];
static int16_t s_mb[MATRIX_N][MATRIX_N];
static int32_t s_mc[MATRIX_N][MATRIX_N];

static int16_t small_value(uint32_t *rng)
{
    return (int16_t)((int32_t)(next_random(rng) & 0x3FFu) - 512);
}

static void matrix_setup(uint32_t *rng)
{
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            s_ma[i][j] = small_value(rng);
            s_mb[i][j] = small_value(rng);
        }
    }
}

uint32_t bench_matrix(uint32_t iteration)
{
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            int32_t sum = 0;
            for (uint32_t k = 0; k < MATRIX_N; k++) {
                sum += (int32_t)s_ma[i][k] * s_mb[k][j];
            }
            s_mc[i][j] = sum;
        }
    }
    uint32_t h = 0;
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            uint32_t c = (uint32_t)s_mc[i][j];
            h += ((c >> 3) & 0x7Fu) * (i + 1u) ^ c;
        }
    }
    /* A += a constant of this iteration, kept within [-512, 511]. */
    int32_t constant = (int32_t)(iteration & 0xFFu) | 1;
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            s_ma[i][j] = (int16_t)(((s_ma[i][j] + constant) & 0x3FF) - 512);
        }
    }
    /* A times one row of B as a vector. */
    const int16_t *vector = s_mb[iteration % MATRIX_N];
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        int32_t sum = 0;
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            sum += (int32_t)s_ma[i][j] * vector[j];
        }
        h = mix(h, (uint32_t)sum);
    }
    return h;
}

/* ---- state machine: numbers in text, classified character by character --------------------- */

enum number_state {
    ST_START, ST_SIGN, ST_INT, ST_POINT, ST_FRACTION, ST_EXP, ST_EXP_SIGN, ST_EXPONENT, ST_INVALID,
    ST_COUNT
};

static uint8_t s_text[STATE_BYTES];

/* Comma-separated tokens: integers, decimals, numbers with exponents, and some malformed ones. */
static void state_setup(uint32_t *rng)
{
    static const char *const shapes[] = {
        "5012", "-874", "+122", "35.54", "-.125", "+0.644", "5.5e+3", "-1.2E-7", "7e12", "T0.3e", "1x2",
        "--4", "6.", "0.0001", "-99.9e-1", "42",
    };
    uint32_t i = 0;
    while (i < STATE_BYTES) {
        const char *shape = shapes[next_random(rng) % (sizeof shapes / sizeof shapes[0])];
        for (uint32_t k = 0; shape[k] != '\0' && i < STATE_BYTES; k++) {
            s_text[i++] = (uint8_t)shape[k];
        }
        if (i < STATE_BYTES) {
            s_text[i++] = ',';
        }
    }
}

static enum number_state next_state(enum number_state state, uint8_t c)
{
    int digit = c >= '0' && c <= '9';
    int sign = c == '+' || c == '-';
    switch (state) {
    case ST_START:
        return digit ? ST_INT : sign ? ST_SIGN : c == '.' ? ST_POINT : ST_INVALID;
    case ST_SIGN:
        return digit ? ST_INT : c == '.' ? ST_POINT : ST_INVALID;
    case ST_INT:
        return digit ? ST_INT : c == '.' ? ST_POINT : (c == 'e' || c == 'E') ? ST_EXP : ST_INVALID;
    case ST_POINT:
    case ST_FRACTION:
        return digit ? ST_FRACTION : (c == 'e' || c == 'E') ? ST_EXP : ST_INVALID;
    case ST_EXP:
        return digit ? ST_EXPONENT : sign ? ST_EXP_SIGN : ST_INVALID;
    case ST_EXP_SIGN:
    case ST_EXPONENT:
        return digit ? ST_EXPONENT : ST_INVALID;
    default:
        return ST_INVALID;
    }
}

/* One scan: how many tokens ended in each state, and how many transitions changed the state. */
static uint32_t scan(const uint8_t *text, uint32_t length)
{
    uint32_t finals[ST_COUNT] = {0};
    uint32_t transitions = 0;
    enum number_state state = ST_START;
    for (uint32_t i = 0; i < length; i++) {
        uint8_t c = text[i];
        if (c == ',') {
            finals[state]++;
            state = ST_START;
            continue;
        }
        enum number_state next = next_state(state, c);
        transitions += next != state;
        state = next;
    }
    finals[state]++;
    uint32_t h = transitions;
    for (uint32_t s = 0; s < ST_COUNT; s++) {
        h = mix(h, finals[s] << s);
    }
    return h;
}

uint32_t bench_state(uint32_t iteration)
{
    uint32_t h = scan(s_text, STATE_BYTES);
    /* Corrupt every stride-th byte (a ',' becomes '=', a digit something else), scan, restore. */
    uint32_t stride = 17u + (iteration & 7u);
    for (uint32_t i = iteration % 7u; i < STATE_BYTES; i += stride) {
        s_text[i] ^= 0x11u;
    }
    h = mix(h, scan(s_text, STATE_BYTES));
    for (uint32_t i = iteration % 7u; i < STATE_BYTES; i += stride) {
        s_text[i] ^= 0x11u;
    }
    return h;
}

/* ---- CRCs: table-driven CRC-32 over a buffer, bitwise CRC-16 over part of it --------------- */

static uint32_t s_crc_table[256];
static uint8_t s_crc_data[CRC_BYTES];

static void crc_setup(uint32_t *rng)
{
    for (uint32_t i = 0; i < 256u; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        s_crc_table[i] = c;
    }
    for (uint32_t i = 0; i < CRC_BYTES; i++) {
        s_crc_data[i] = (uint8_t)next_random(rng);
    }
}

static uint32_t crc32(const uint8_t *data, uint32_t length, uint32_t crc)
{
    crc = ~crc;
    for (uint32_t i = 0; i < length; i++) {
        crc = s_crc_table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
    }
    return ~crc;
}

/* CRC-16/ARC (reflected 0x8005), one bit at a time. */
static uint16_t crc16(const uint8_t *data, uint32_t length, uint16_t crc)
{
    for (uint32_t i = 0; i < length; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

uint32_t bench_crc(uint32_t iteration, uint32_t input)
{
    s_crc_data[iteration % CRC_BYTES] ^= (uint8_t)input;
    uint32_t c32 = crc32(s_crc_data, CRC_BYTES, input);
    uint16_t c16 = crc16(&s_crc_data[(iteration * 64u) % CRC_BYTES], 64u, (uint16_t)input);
    return c32 ^ ((uint32_t)c16 << 7);
}

/* ---- the iteration loop ----------------------------------------------------------------------- */

void bench_setup(uint32_t seed)
{
    uint32_t rng = seed | 1u;
    list_setup(&rng);
    matrix_setup(&rng);
    state_setup(&rng);
    crc_setup(&rng);
}

uint32_t bench_iteration(uint32_t iteration)
{
    uint32_t result = bench_list(iteration);
    result = mix(result, bench_matrix(iteration));
    result = mix(result, bench_state(iteration));
    return bench_crc(iteration, result);
}

uint32_t bench_run(uint32_t seed, uint32_t iterations)
{
    bench_setup(seed);
    uint32_t checksum = 0;
    for (uint32_t i = 0; i < iterations; i++) {
        checksum = mix(checksum, bench_iteration(i));
    }
    return checksum;
}
