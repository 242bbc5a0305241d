/*
 * kernels.c - CPU benchmark kernels: table-driven CRC-32, integer matrix multiply, heapsort of
 * pseudo-random numbers, and a character-level tokenizer/evaluator (a small state machine).
 * Every kernel folds its results into a 32-bit value so that nothing can be optimised away.
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

/* ---- CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) ------------------------------- */

static uint32_t s_crc_table[256];
static uint8_t s_crc_data[CRC_BUFFER_BYTES];

static void crc_make_table(void)
{
    for (uint32_t i = 0; i < 256u; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        s_crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *data, uint32_t len, uint32_t crc)
{
    crc = ~crc;
    for (uint32_t i = 0; i < len; i++) {
        crc = s_crc_table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
    }
    return ~crc;
}

uint32_t bench_crc32(uint32_t seed)
{
    crc_make_table();
    uint32_t rng = seed | 1u;
    for (uint32_t i = 0; i < CRC_BUFFER_BYTES; i++) {
        s_crc_data[i] = (uint8_t)next_random(&rng);
    }
    uint32_t crc = 0;
    for (uint32_t pass = 0; pass < CRC_PASSES; pass++) {
        s_crc_data[pass % CRC_BUFFER_BYTES] ^= (uint8_t)pass;  /* every pass sees new data */
        crc = crc32(s_crc_data, CRC_BUFFER_BYTES, crc);
    }
    return crc;
}

/* ---- integer matrix multiply --------------------------------------------------------------- */

static int32_t s_ma[MATRIX_N][MATRIX_N];
static int32_t s_mb[MATRIX_N][MATRIX_N];
static int32_t s_mc[MATRIX_N][MATRIX_N];

uint32_t bench_matrix(uint32_t seed)
{
    uint32_t rng = seed ^ 0xA5A5A5A5u;
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            s_ma[i][j] = (int32_t)(next_random(&rng) % 201u) - 100;
            s_mb[i][j] = (int32_t)(next_random(&rng) % 201u) - 100;
        }
    }
    uint32_t h = 0;
    for (uint32_t pass = 0; pass < MATRIX_PASSES; pass++) {
        for (uint32_t i = 0; i < MATRIX_N; i++) {
            for (uint32_t j = 0; j < MATRIX_N; j++) {
                int32_t sum = 0;
                for (uint32_t k = 0; k < MATRIX_N; k++) {
                    sum += s_ma[i][k] * s_mb[k][j];
                }
                s_mc[i][j] = sum;
            }
        }
        /* Feed a little of the product back so each pass differs. */
        uint32_t r = pass % MATRIX_N;
        h = mix(h, (uint32_t)s_mc[r][(pass * 7u) % MATRIX_N]);
        s_ma[r][r] = (s_mc[r][r] & 0x7F) - 64;
    }
    for (uint32_t i = 0; i < MATRIX_N; i++) {
        for (uint32_t j = 0; j < MATRIX_N; j++) {
            h = mix(h, (uint32_t)s_mc[i][j]);
        }
    }
    return h;
}

/* ---- heapsort --------------------------------------------------------------------------- */

static uint32_t s_sort[SORT_ELEMENTS];

static void sift_down(uint32_t *a, uint32_t root, uint32_t end)
{
    for (;;) {
        uint32_t child = 2u * root + 1u;
        if (child >= end) {
            return;
        }
        if (child + 1u < end && a[child + 1u] > a[child]) {
            child++;
        }
        if (a[root] >= a[child]) {
            return;
        }
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void heapsort(uint32_t *a, uint32_t n)
{
    for (uint32_t i = n / 2u; i-- > 0;) {
        sift_down(a, i, n);
    }
    for (uint32_t end = n; end-- > 1;) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

uint32_t bench_sort(uint32_t seed)
{
    uint32_t rng = seed ^ 0x3C3C3C3Cu;
    uint32_t h = 0;
    for (uint32_t pass = 0; pass < SORT_PASSES; pass++) {
        for (uint32_t i = 0; i < SORT_ELEMENTS; i++) {
            s_sort[i] = next_random(&rng);
        }
        heapsort(s_sort, SORT_ELEMENTS);
        uint32_t sorted = 1;
        for (uint32_t i = 1; i < SORT_ELEMENTS; i++) {
            sorted &= s_sort[i - 1u] <= s_sort[i];
        }
        h = mix(h, s_sort[0]);
        h = mix(h, s_sort[SORT_ELEMENTS / 2u]);
        h = mix(h, s_sort[SORT_ELEMENTS - 1u]);
        h = mix(h, sorted);
    }
    return h;
}

/* ---- tokenizer / evaluator state machine -------------------------------------------------- */

static uint8_t s_text[PARSE_TEXT_BYTES];

/* Fill the text with "name = 123 + x7 * 45 ; ..." style statements. */
static void make_text(uint32_t seed)
{
    static const uint8_t ops[] = {'+', '-', '*', '/', '=', ';', '(', ')'};
    uint32_t rng = seed ^ 0x5EED5EEDu;
    uint32_t i = 0;
    while (i < PARSE_TEXT_BYTES) {
        uint32_t r = next_random(&rng);
        uint32_t kind = r % 4u;
        uint32_t len = 1u + (r >> 8) % 6u;
        for (uint32_t k = 0; k < len && i < PARSE_TEXT_BYTES; k++) {
            uint32_t c = next_random(&rng);
            if (kind == 0) {
                s_text[i++] = (uint8_t)('0' + c % 10u);
            } else if (kind == 1) {
                s_text[i++] = (uint8_t)((k == 0 ? 'a' : (c & 1u) ? 'a' : '0') + c % 10u);
            } else if (kind == 2) {
                s_text[i++] = ops[c % sizeof ops];
                break;
            } else {
                s_text[i++] = (c & 3u) ? ' ' : '\n';
            }
        }
    }
}

enum lex_state { LEX_SPACE, LEX_NUMBER, LEX_NAME };

/* One pass over the text: counts tokens and evaluates a running value, like a tiny calculator
 * that treats names as their hash. */
static uint32_t parse(const uint8_t *text, uint32_t len)
{
    enum lex_state state = LEX_SPACE;
    uint32_t number = 0, name = 0, value = 0, tokens = 0, lines = 1, depth = 0;
    uint8_t op = '+';
    for (uint32_t i = 0; i <= len; i++) {
        uint8_t c = i < len ? text[i] : (uint8_t)' ';
        int is_digit = c >= '0' && c <= '9';
        int is_alpha = c >= 'a' && c <= 'z';
        switch (state) {
        case LEX_NUMBER:
            if (is_digit) {
                number = number * 10u + (uint32_t)(c - '0');
                continue;
            }
            tokens++;
            value = op == '+' ? value + number
                  : op == '-' ? value - number
                  : op == '*' ? value * (number | 1u)
                  : op == '/' ? value / (number | 1u)
                              : value ^ number;
            state = LEX_SPACE;
            break;
        case LEX_NAME:
            if (is_alpha || is_digit) {
                name = name * 31u + c;
                continue;
            }
            tokens++;
            value ^= name;
            state = LEX_SPACE;
            break;
        case LEX_SPACE:
            break;
        }
        if (is_digit) {
            state = LEX_NUMBER;
            number = (uint32_t)(c - '0');
        } else if (is_alpha) {
            state = LEX_NAME;
            name = c;
        } else if (c == '\n') {
            lines++;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            depth -= depth != 0;
        } else if (c != ' ') {
            tokens++;
            op = c;
            if (c == ';') {
                value = value * 2654435761u + depth;
            }
        }
    }
    return value ^ (tokens << 16) ^ lines;
}

uint32_t bench_parse(uint32_t seed)
{
    make_text(seed);
    uint32_t h = 0;
    for (uint32_t pass = 0; pass < PARSE_PASSES; pass++) {
        s_text[(pass * 13u) % PARSE_TEXT_BYTES] = (uint8_t)('0' + pass % 10u);
        h = mix(h, parse(s_text, PARSE_TEXT_BYTES));
    }
    return h;
}

/* ---- all of it ---------------------------------------------------------------------------- */

uint32_t bench_run_all(uint32_t seed)
{
    uint32_t h = 0;
    h = mix(h, bench_crc32(seed));
    h = mix(h, bench_matrix(seed));
    h = mix(h, bench_sort(seed));
    h = mix(h, bench_parse(seed));
    return h;
}
