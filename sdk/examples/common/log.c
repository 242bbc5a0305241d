/*
 * log.c - server logging helper for the examples: a static buffer for mvServerLoggingInit and a
 * small, reentrant printf-style formatter that sends one line per call through mvServerLog.
 */
#include "log.h"

#include <stdbool.h>

/* The microvisor owns this buffer once logging starts; the application never touches it. */
static uint8_t s_log_buffer[LOG_BUFFER_SIZE] __attribute__((aligned(512)));
static bool s_started;
static enum MvStatus s_init_status;

enum MvStatus log_init(void)
{
    if (!s_started) {
        s_init_status = mvServerLoggingInit(s_log_buffer, sizeof s_log_buffer);
        s_started = true;
    }
    return s_init_status;
}

/* ---- formatter ---------------------------------------------------------------------------- */

struct out {
    char *buf;
    uint32_t size;  /* capacity, including the terminator */
    uint32_t len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

static void put_padded(struct out *o, const char *s, uint32_t n, uint32_t width, bool left,
                       char pad)
{
    uint32_t fill = width > n ? width - n : 0;
    if (!left) {
        while (fill--) put(o, pad);
    }
    for (uint32_t i = 0; i < n; i++) put(o, s[i]);
    if (left) {
        while (fill--) put(o, ' ');
    }
}

static void put_number(struct out *o, uint32_t value, bool negative, unsigned base, bool upper,
                       uint32_t width, bool left, char pad)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[12];
    uint32_t n = 0;
    do {
        tmp[n++] = digits[value % base];
        value /= base;
    } while (value != 0);
    if (negative) {
        if (pad == '0') {
            put(o, '-');
            if (width) width--;
        } else {
            tmp[n++] = '-';
        }
    }
    char text[12];
    for (uint32_t i = 0; i < n; i++) text[i] = tmp[n - 1 - i];
    put_padded(o, text, n, width, left, left ? ' ' : pad);
}

uint32_t log_vformat(char *buf, uint32_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        bool left = false;
        char pad = ' ';
        for (;; p++) {
            if (*p == '-') left = true;
            else if (*p == '0') pad = '0';
            else break;
        }
        uint32_t width = 0;
        while (*p >= '0' && *p <= '9') width = width * 10u + (uint32_t)(*p++ - '0');
        while (*p == 'l') p++;
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            uint32_t n = 0;
            while (s[n]) n++;
            put_padded(&o, s, n, width, left, ' ');
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            put_padded(&o, &c, 1, width, left, ' ');
            break;
        }
        case 'd':
        case 'i': {
            int v = va_arg(ap, int);
            uint32_t mag = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
            put_number(&o, mag, v < 0, 10, false, width, left, pad);
            break;
        }
        case 'u':
            put_number(&o, va_arg(ap, unsigned), false, 10, false, width, left, pad);
            break;
        case 'x':
        case 'X':
            put_number(&o, va_arg(ap, unsigned), false, 16, *p == 'X', width, left, pad);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_number(&o, (uint32_t)(uintptr_t)va_arg(ap, void *), false, 16, false, 8, false,
                       '0');
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            p--;  /* a lone '%' at the end */
            break;
        default:
            put(&o, '%');
            put(&o, *p);
            break;
        }
    }
    if (size) {
        buf[o.len < size ? o.len : size - 1] = '\0';
    }
    return o.len < size ? o.len : (size ? size - 1 : 0);
}

uint32_t log_format(char *buf, uint32_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uint32_t n = log_vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- sending -------------------------------------------------------------------------------- */

enum MvStatus log_vprintf(const char *fmt, va_list ap)
{
    log_init();
    char line[LOG_LINE_MAX + 1];   /* on the caller's stack: safe from several threads */
    uint32_t n = log_vformat(line, sizeof line, fmt, ap);
    return mvServerLog((const uint8_t *)line, (uint16_t)n);
}

enum MvStatus log_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MvStatus status = log_vprintf(fmt, ap);
    va_end(ap);
    return status;
}
