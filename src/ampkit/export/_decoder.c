/* ampkit.export._decoder — Amplitude export lines straight into Arrow column buffers.
 *
 * A Decoder knows the export columns (top-level key and kind of each).  feed() reads JSON lines
 * (bytes objects in a list) without the GIL and appends each line's values to per-column
 * buffers laid out as Arrow arrays (validity bitmap, offsets, data); take() hands the buffers
 * over as bytes and starts again.
 *
 * The decoder covers only lines it can convert exactly as the Python converters of
 * ampkit.export.arrow do.  Any other line is "flagged": feed() stops in front of it, undoes
 * whatever it had written of it, and the caller sends that line through the Python path (which
 * converts drift into _raw_extra, or raises the error naming the line).  Covered:
 *   - a JSON object (JSON whitespace around tokens allowed) whose keys are all known, each once;
 *   - per kind, null or: string — a JSON string (unescaped to UTF-8); int — an integer literal
 *     in int64; float — an integer literal below 2**53 or a decimal literal (no exponent) of at
 *     most 15 significant digits, converted exactly (Clinger's fast path); bool — true/false;
 *     timestamp — a string "YYYY-MM-DD HH:MM:SS" (or T) with 0, 3 or 6 fraction digits, a real
 *     date, as UTC microseconds; json — an object or array, ids — an array, both written back as
 *     orjson writes them (compact, only the escapes orjson writes, numbers in the spelling orjson
 *     gives them): a value whose text orjson would write differently is flagged, not guessed.
 * Strings must be valid UTF-8 without lone surrogates; nesting deeper than MAX_DEPTH, objects
 * with more than MAX_KEYS keys, repeated keys in nested objects and number literals of more
 * than MAX_DIGITS digits are flagged.  A string column holds at most max_string_bytes (its
 * Arrow offsets are int32): the line that would pass it ends the rows so far (feed returns
 * FULL; the caller takes them and feeds the line again).  take() and feed() refuse to run
 * while the other is running in another thread, and after a MemoryError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { K_STRING = 0, K_INT, K_FLOAT, K_BOOL, K_TIMESTAMP, K_JSON, K_IDS, K_COUNT };
enum { ST_DONE = 0, ST_FLAGGED = 1, ST_FULL = 2 };

#define MAX_DEPTH 64
#define MAX_KEYS 128
#define TABLE_SIZE 512
#define MAX_DIGITS 400 /* longer number literals are flagged (and counters cannot overflow) */

typedef struct {
    uint8_t *d;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap *= 2;
    uint8_t *d = (uint8_t *)realloc(b->d, cap);
    if (!d) return -1;
    b->d = d;
    b->cap = cap;
    return 0;
}

typedef struct {
    int kind;
    Buf valid;   /* bitmap, LSB first */
    Buf offsets; /* int32 (string) or int64 (json, ids) */
    Buf data;    /* string bytes, int64, double, or bool bits */
    int64_t nulls;
    /* the current line's value */
    uint32_t seen;
    int present;
    int64_t ival;
    double fval;
    size_t mark; /* data length before this line (rolled back when the line is flagged) */
} Col;

typedef struct {
    PyObject_HEAD
    int ncols;
    Col *cols;
    char **keys;
    size_t *keylens;
    int16_t table[TABLE_SIZE];
    int64_t rows;
    uint32_t gen;
    int busy;
    int broken; /* after a MemoryError half-way through a row: unusable */
    size_t max_string; /* bytes a string column may hold (its offsets are int32) */
} Decoder;

static uint32_t fnv(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static int lookup(Decoder *self, const uint8_t *k, size_t n) {
    uint32_t h = fnv(k, n) & (TABLE_SIZE - 1);
    for (;;) {
        int c = self->table[h];
        if (c < 0) return -1;
        if (self->keylens[c] == n && memcmp(self->keys[c], k, n) == 0) return c;
        h = (h + 1) & (TABLE_SIZE - 1);
    }
}

/* ---------------------------------------------------------------- parsing helpers */

typedef struct {
    const uint8_t *p, *end;
} Cur;

static inline void skip_ws(Cur *c) {
    while (c->p < c->end) {
        uint8_t ch = *c->p;
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') c->p++;
        else break;
    }
}

static inline int literal(Cur *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int hexval(uint8_t ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int hex4(const uint8_t *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = (v << 4) | h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence starting at p (first byte >= 0x80), or 0. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end) {
    uint8_t b0 = p[0];
    size_t n;
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) { n = 2; cp = b0 & 0x1F; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; cp = b0 & 0x0F; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; cp = b0 & 0x07; }
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

static uint8_t *put_utf8(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) *o++ = (uint8_t)cp;
    else if (cp < 0x800) { *o++ = (uint8_t)(0xC0 | (cp >> 6)); *o++ = (uint8_t)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
        *o++ = (uint8_t)(0xE0 | (cp >> 12));
        *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (uint8_t)(0xF0 | (cp >> 18));
        *o++ = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    }
    return o;
}

static const char HEX[] = "0123456789abcdef";

/* A JSON string at c->p (on its opening quote), written to *out: its UTF-8 text when
 * `json` is 0, or its text as orjson writes it (quotes included) when 1.  The output is never
 * longer than the input.  Returns 0, or -1 when the line is to be flagged. */
static int string_value(Cur *c, uint8_t **out, int json) {
    const uint8_t *p = c->p + 1, *end = c->end;
    uint8_t *o = *out;
    if (json) *o++ = '"';
    for (;;) {
        const uint8_t *run = p;
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80) p++;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p >= end) return -1;
        uint8_t ch = *p;
        if (ch == '"') { p++; break; }
        if (ch < 0x20) return -1;
        if (ch >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (!n) return -1;
            memcpy(o, p, n);
            o += n;
            p += n;
            continue;
        }
        /* a backslash escape */
        if (end - p < 2) return -1;
        uint8_t e = p[1];
        uint32_t cp;
        p += 2;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'u': {
            if (end - p < 4) return -1;
            int v = hex4(p);
            if (v < 0) return -1;
            p += 4;
            if (v >= 0xDC00 && v <= 0xDFFF) return -1; /* a lone low surrogate */
            if (v >= 0xD800 && v <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
                int lo = hex4(p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) return -1;
                p += 6;
                cp = 0x10000 + (((uint32_t)v - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            } else {
                cp = (uint32_t)v;
            }
            break;
        }
        default: return -1;
        }
        if (json && (cp < 0x20 || cp == '"' || cp == '\\')) {
            *o++ = '\\';
            switch (cp) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case 8: *o++ = 'b'; break;
            case 12: *o++ = 'f'; break;
            case 10: *o++ = 'n'; break;
            case 13: *o++ = 'r'; break;
            case 9: *o++ = 't'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = (uint8_t)HEX[cp >> 4]; *o++ = (uint8_t)HEX[cp & 15];
            }
        } else {
            o = put_utf8(o, cp);
        }
    }
    if (json) *o++ = '"';
    c->p = p;
    *out = o;
    return 0;
}

/* A JSON number at c->p.  Sets *digits (significant digits), *frac (digits after the point,
 * -1 without a point), *mant (the digits as an integer while they fit), *neg, *exp (1 when an
 * exponent is present); returns -1 on bad grammar. */
typedef struct {
    int neg, has_exp, frac, sig, intdigits, lead0;
    uint64_t mant;
    int overflow;
} Num;

static int number(Cur *c, Num *n) {
    const uint8_t *p = c->p, *end = c->end;
    memset(n, 0, sizeof(*n));
    n->frac = -1;
    if (p < end && *p == '-') { n->neg = 1; p++; }
    if (p >= end) return -1;
    if (*p == '0') {
        p++;
        n->intdigits = 1;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            if (n->intdigits >= MAX_DIGITS) return -1;
            if (n->mant > (UINT64_MAX - 9) / 10) n->overflow = 1;
            else n->mant = n->mant * 10 + (uint64_t)(*p - '0');
            n->sig++;
            n->intdigits++;
            p++;
        }
    } else {
        return -1;
    }
    if (p < end && *p == '.') {
        p++;
        const uint8_t *f = p;
        while (p < end && *p >= '0' && *p <= '9') {
            if (p - f >= MAX_DIGITS) return -1;
            if (n->sig == 0 && *p == '0') n->lead0++;
            else {
                if (n->mant > (UINT64_MAX - 9) / 10) n->overflow = 1;
                else n->mant = n->mant * 10 + (uint64_t)(*p - '0');
                n->sig++;
            }
            p++;
        }
        n->frac = (int)(p - f);
        if (n->frac == 0) return -1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        n->has_exp = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        const uint8_t *e = p;
        while (p < end && *p >= '0' && *p <= '9') {
            if (p - e >= MAX_DIGITS) return -1;
            p++;
        }
    }
    c->p = p;
    return 0;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Is the number at [start, c->p) written exactly as orjson writes its parsed value? */
static int canonical_number(const uint8_t *start, const uint8_t *stop, const Num *n) {
    if (n->has_exp || n->overflow) return 0;
    if (n->frac < 0) { /* an int: orjson writes -0 as 0, and ints past 64 bits as floats */
        if (n->neg && n->mant == 0) return 0;
        return n->intdigits <= 18;
    }
    /* a float: plain notation (orjson switches to exponents below 1e-5 and from 1e16), the
     * shortest digits (unique with at most 15 significant digits), no trailing zero but x.0 */
    if (n->sig > 15 || n->intdigits > 16) return 0;
    if (stop[-1] == '0' && !(n->frac == 1 && stop[-2] == '.')) return 0;
    if (n->sig == 0) return n->frac == 1 && n->intdigits == 1; /* 0.0 and -0.0 */
    if (n->intdigits == 1 && start[n->neg] == '0' && n->lead0 > 4) return 0;
    return 1;
}

/* The value of a float literal when exact conversion is easy; -1 to flag. */
static int exact_double(const Num *n, double *out) {
    if (n->has_exp || n->overflow) return -1;
    if (n->frac < 0) {
        if (n->mant > ((uint64_t)1 << 53)) return -1;
        *out = (double)n->mant; /* -0 is the int 0: 0.0 */
        if (n->neg && n->mant) *out = -*out;
        return 0;
    }
    if (n->sig > 15 || n->frac > 22 || n->mant > ((uint64_t)1 << 53)) return -1;
    double v = (double)n->mant / POW10[n->frac];
    *out = n->neg ? -v : v;
    return 0;
}

typedef struct {
    uint32_t hashes[MAX_KEYS];
} Keys;

/* Any JSON value at c->p written as orjson would write it; -1 to flag. */
static int json_value(Cur *c, uint8_t **out, int depth);

static int json_container(Cur *c, uint8_t **out, int depth) {
    if (depth > MAX_DEPTH) return -1;
    uint8_t open = *c->p, close = open == '{' ? '}' : ']';
    uint8_t *o = *out;
    *o++ = open;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        *o++ = close;
        *out = o;
        return 0;
    }
    Keys keys;
    int nkeys = 0;
    for (;;) {
        if (open == '{') {
            if (c->p >= c->end || *c->p != '"') return -1;
            uint8_t *k = o;
            if (string_value(c, &o, 1) < 0) return -1;
            if (nkeys >= MAX_KEYS) return -1;
            uint32_t h = fnv(k, (size_t)(o - k));
            for (int i = 0; i < nkeys; i++)
                if (keys.hashes[i] == h) return -1; /* repeated (or a hash twin): Python */
            keys.hashes[nkeys++] = h;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return -1;
            c->p++;
            *o++ = ':';
            skip_ws(c);
        }
        if (json_value(c, &o, depth + 1) < 0) return -1;
        skip_ws(c);
        if (c->p >= c->end) return -1;
        if (*c->p == ',') {
            c->p++;
            *o++ = ',';
            skip_ws(c);
            continue;
        }
        if (*c->p == close) {
            c->p++;
            *o++ = close;
            break;
        }
        return -1;
    }
    *out = o;
    return 0;
}

static int json_value(Cur *c, uint8_t **out, int depth) {
    if (c->p >= c->end) return -1;
    uint8_t ch = *c->p;
    if (ch == '{' || ch == '[') return json_container(c, out, depth);
    if (ch == '"') return string_value(c, out, 1);
    const uint8_t *start = c->p;
    if (ch == 't' || ch == 'f' || ch == 'n') {
        if (!(literal(c, "true", 4) || literal(c, "false", 5) || literal(c, "null", 4)))
            return -1;
    } else {
        Num n;
        if (number(c, &n) < 0 || !canonical_number(start, c->p, &n)) return -1;
    }
    memcpy(*out, start, (size_t)(c->p - start));
    *out += c->p - start;
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS[.fff|.ffffff]" (or T) as UTC microseconds; -1 to flag. */
static int timestamp_value(const uint8_t *s, size_t n, int64_t *out) {
    if (n != 19 && n != 23 && n != 26) return -1;
    static const char shape[] = "dddd-dd-dd?dd:dd:dd";
    int v[6] = {0};
    int field = 0;
    for (size_t i = 0; i < 19; i++) {
        char want = shape[i];
        uint8_t ch = s[i];
        if (want == 'd') {
            if (ch < '0' || ch > '9') return -1;
            v[field] = v[field] * 10 + (ch - '0');
        } else if (want == '?') {
            if (ch != ' ' && ch != 'T') return -1;
            field++;
        } else {
            if (ch != (uint8_t)want) return -1;
            field++;
        }
    }
    int64_t micros = 0;
    if (n > 19) {
        if (s[19] != '.') return -1;
        for (size_t i = 20; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            micros = micros * 10 + (s[i] - '0');
        }
        if (n == 23) micros *= 1000;
    }
    int y = v[0], m = v[1], d = v[2];
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1) return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap)) return -1;
    if (v[3] > 23 || v[4] > 59 || v[5] > 59) return -1;
    /* days from 1970-01-01 (H. Hinnant's days_from_civil) */
    int64_t yy = y - (m <= 2);
    int64_t era = yy / 400; /* yy >= 0 */
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = ((days * 24 + v[3]) * 60 + v[4]) * 60 * 1000000LL + (int64_t)v[5] * 1000000LL + micros;
    return 0;
}

/* ---------------------------------------------------------------- one line */

enum { LINE_ROW = 0, LINE_BLANK = 1, LINE_FLAG = 2, LINE_NOMEM = 3, LINE_FULL = 4 };

static int value_for(Col *col, Cur *c) {
    uint8_t ch = *c->p;
    if (ch == 'n') {
        if (!literal(c, "null", 4)) return LINE_FLAG;
        col->present = 0;
        return LINE_ROW;
    }
    col->present = 1;
    switch (col->kind) {
    case K_STRING: {
        if (ch != '"') return LINE_FLAG;
        if (buf_reserve(&col->data, (size_t)(c->end - c->p))) return LINE_NOMEM;
        uint8_t *o = col->data.d + col->data.len;
        if (string_value(c, &o, 0) < 0) return LINE_FLAG;
        col->data.len = (size_t)(o - col->data.d);
        return LINE_ROW;
    }
    case K_JSON:
    case K_IDS: {
        if (ch != '[' && !(ch == '{' && col->kind == K_JSON)) return LINE_FLAG;
        if (buf_reserve(&col->data, (size_t)(c->end - c->p))) return LINE_NOMEM;
        uint8_t *o = col->data.d + col->data.len;
        if (json_container(c, &o, 1) < 0) return LINE_FLAG;
        col->data.len = (size_t)(o - col->data.d);
        return LINE_ROW;
    }
    case K_INT: {
        Num n;
        if (number(c, &n) < 0 || n.frac >= 0 || n.has_exp || n.overflow) return LINE_FLAG;
        if (n.neg ? n.mant > (uint64_t)INT64_MAX + 1 : n.mant > (uint64_t)INT64_MAX)
            return LINE_FLAG;
        col->ival = n.neg ? (int64_t)(0 - n.mant) : (int64_t)n.mant;
        return LINE_ROW;
    }
    case K_FLOAT: {
        Num n;
        if (number(c, &n) < 0 || exact_double(&n, &col->fval) < 0) return LINE_FLAG;
        return LINE_ROW;
    }
    case K_BOOL:
        if (literal(c, "true", 4)) col->ival = 1;
        else if (literal(c, "false", 5)) col->ival = 0;
        else return LINE_FLAG;
        return LINE_ROW;
    case K_TIMESTAMP: {
        if (ch != '"') return LINE_FLAG;
        const uint8_t *s = c->p + 1;
        const uint8_t *q = s;
        while (q < c->end && q - s <= 26 && *q != '"') q++;
        if (q >= c->end || *q != '"') return LINE_FLAG;
        if (timestamp_value(s, (size_t)(q - s), &col->ival) < 0) return LINE_FLAG;
        c->p = q + 1;
        return LINE_ROW;
    }
    }
    return LINE_FLAG;
}

static inline int set_bit(Buf *b, int64_t i, int on) {
    size_t byte = (size_t)(i >> 3);
    if (byte >= b->len) {
        if (buf_reserve(b, byte + 1 - b->len)) return -1;
        memset(b->d + b->len, 0, byte + 1 - b->len);
        b->len = byte + 1;
    }
    if (on) b->d[byte] |= (uint8_t)(1u << (i & 7));
    return 0;
}

/* The offset of the first row's start (0), written once per fresh offsets buffer. */
static int first_offset(Buf *b, size_t width) {
    if (buf_reserve(b, width)) return -1;
    memset(b->d, 0, width);
    b->len = width;
    return 0;
}

/* `width` bytes of `value` appended to `b`; an offsets buffer (`offsets` 1) starts with the
 * first row's start, 0. */
static int append(Buf *b, const void *value, size_t width, int offsets) {
    if (offsets && b->len == 0 && first_offset(b, width) < 0) return -1;
    if (buf_reserve(b, width)) return -1;
    memcpy(b->d + b->len, value, width);
    b->len += width;
    return 0;
}

static int commit_row(Decoder *self) {
    int64_t row = self->rows;
    for (int i = 0; i < self->ncols; i++) {
        Col *col = &self->cols[i];
        int on = col->seen == self->gen && col->present;
        if (set_bit(&col->valid, row, on)) return -1;
        if (!on) col->nulls++;
        switch (col->kind) {
        case K_STRING: {
            int32_t off = (int32_t)col->data.len; /* <= max_string: fits */
            if (append(&col->offsets, &off, 4, 1)) return -1;
            break;
        }
        case K_JSON:
        case K_IDS: {
            int64_t off = (int64_t)col->data.len;
            if (append(&col->offsets, &off, 8, 1)) return -1;
            break;
        }
        case K_INT:
        case K_TIMESTAMP: {
            int64_t v = on ? col->ival : 0;
            if (append(&col->data, &v, 8, 0)) return -1;
            break;
        }
        case K_FLOAT: {
            double v = on ? col->fval : 0.0;
            if (append(&col->data, &v, 8, 0)) return -1;
            break;
        }
        case K_BOOL:
            if (set_bit(&col->data, row, on && col->ival)) return -1;
            break;
        }
    }
    self->rows++;
    return 0;
}

static void rollback(Decoder *self) {
    for (int i = 0; i < self->ncols; i++) {
        Col *col = &self->cols[i];
        if (col->seen == self->gen) {
            if (col->kind == K_STRING || col->kind == K_JSON || col->kind == K_IDS)
                col->data.len = col->mark;
        }
    }
}

static int decode_line(Decoder *self, const uint8_t *p, size_t len) {
    Cur c = {p, p + len};
    skip_ws(&c);
    if (c.p >= c.end) return LINE_BLANK;
    if (*c.p != '{') return LINE_FLAG;
    self->gen++;
    if (self->gen == 0) { /* wrapped: forget every column's old generation */
        for (int i = 0; i < self->ncols; i++) self->cols[i].seen = 0;
        self->gen = 1;
    }
    c.p++;
    skip_ws(&c);
    int result = LINE_ROW;
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            if (c.p >= c.end || *c.p != '"') { result = LINE_FLAG; break; }
            const uint8_t *k = c.p + 1, *q = k;
            while (q < c.end && *q != '"' && *q != '\\') q++;
            if (q >= c.end || *q != '"') { result = LINE_FLAG; break; }
            int ci = lookup(self, k, (size_t)(q - k));
            if (ci < 0) { result = LINE_FLAG; break; }
            Col *col = &self->cols[ci];
            if (col->seen == self->gen) { result = LINE_FLAG; break; }
            col->seen = self->gen;
            col->present = 0;
            col->mark = col->data.len;
            c.p = q + 1;
            skip_ws(&c);
            if (c.p >= c.end || *c.p != ':') { result = LINE_FLAG; break; }
            c.p++;
            skip_ws(&c);
            if (c.p >= c.end) { result = LINE_FLAG; break; }
            result = value_for(col, &c);
            if (result != LINE_ROW) break;
            skip_ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                skip_ws(&c);
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            result = LINE_FLAG;
            break;
        }
    }
    if (result == LINE_ROW) {
        skip_ws(&c);
        if (c.p != c.end) result = LINE_FLAG;
    }
    if (result == LINE_ROW) {
        /* a string column's offsets are int32: a line that would take one past 2**31 - 1 bytes
         * ends the rows taken so far (the caller takes them and feeds the line again), or, as
         * the only row, goes to Python (which cannot hold it in a string column either) */
        for (int i = 0; i < self->ncols; i++) {
            Col *col = &self->cols[i];
            if (col->kind == K_STRING && col->seen == self->gen && col->data.len > self->max_string) {
                result = self->rows ? LINE_FULL : LINE_FLAG;
                break;
            }
        }
    }
    if (result == LINE_ROW) {
        if (commit_row(self) < 0) result = LINE_NOMEM;
        else return LINE_ROW;
    }
    rollback(self);
    return result;
}

/* ---------------------------------------------------------------- Python type */

static void free_cols(Decoder *self) {
    if (!self->cols) return;
    for (int i = 0; i < self->ncols; i++) {
        free(self->cols[i].valid.d);
        free(self->cols[i].offsets.d);
        free(self->cols[i].data.d);
    }
    free(self->cols);
    self->cols = NULL;
}

static void Decoder_dealloc(Decoder *self) {
    free_cols(self);
    if (self->keys) {
        for (int i = 0; i < self->ncols; i++) free(self->keys[i]);
        free(self->keys);
    }
    free(self->keylens);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Decoder_init(Decoder *self, PyObject *args, PyObject *kwds) {
    PyObject *keys, *kinds;
    Py_ssize_t max_string = INT32_MAX;
    static char *kwlist[] = {"keys", "kinds", "max_string_bytes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!|n", kwlist, &PyTuple_Type, &keys,
                                     &PyTuple_Type, &kinds, &max_string))
        return -1;
    if (max_string < 0 || max_string > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "max_string_bytes: 0 to 2**31 - 1");
        return -1;
    }
    self->max_string = (size_t)max_string;
    if (self->cols) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is already initialised");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(keys);
    if (n != PyTuple_GET_SIZE(kinds) || n < 1 || n > TABLE_SIZE / 2) {
        PyErr_SetString(PyExc_ValueError, "keys and kinds: same length, 1 to 256 columns");
        return -1;
    }
    self->ncols = (int)n;
    self->cols = (Col *)calloc((size_t)n, sizeof(Col));
    self->keys = (char **)calloc((size_t)n, sizeof(char *));
    self->keylens = (size_t *)calloc((size_t)n, sizeof(size_t));
    if (!self->cols || !self->keys || !self->keylens) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < TABLE_SIZE; i++) self->table[i] = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GET_ITEM(keys, i);
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(kinds, i));
        if (kind == -1 && PyErr_Occurred()) return -1;
        if (!PyBytes_Check(k) || kind < 0 || kind >= K_COUNT) {
            PyErr_SetString(PyExc_ValueError, "keys must be bytes and kinds 0 to 6");
            return -1;
        }
        size_t len = (size_t)PyBytes_GET_SIZE(k);
        const char *s = PyBytes_AS_STRING(k);
        for (size_t j = 0; j < len; j++) {
            if (s[j] == '"' || s[j] == '\\' || (uint8_t)s[j] < 0x20) {
                PyErr_SetString(PyExc_ValueError, "keys must not need escaping");
                return -1;
            }
        }
        self->keys[i] = (char *)malloc(len + 1);
        if (!self->keys[i]) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(self->keys[i], s, len);
        self->keylens[i] = len;
        if (lookup(self, (const uint8_t *)s, len) >= 0) {
            PyErr_SetString(PyExc_ValueError, "repeated key");
            return -1;
        }
        uint32_t h = fnv((const uint8_t *)s, len) & (TABLE_SIZE - 1);
        while (self->table[h] >= 0) h = (h + 1) & (TABLE_SIZE - 1);
        self->table[h] = (int16_t)i;
        self->cols[i].kind = (int)kind;
    }
    return 0;
}

static int busy_or_broken(Decoder *self) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder used from two threads at once");
        return 1;
    }
    if (self->broken) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder ran out of memory before: make a new one");
        return 1;
    }
    return 0;
}

static PyObject *Decoder_feed(Decoder *self, PyObject *args) {
    PyObject *lines;
    Py_ssize_t start, max_rows;
    if (!PyArg_ParseTuple(args, "O!nn", &PyList_Type, &lines, &start, &max_rows)) return NULL;
    if (!self->cols) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is not initialised");
        return NULL;
    }
    Py_ssize_t total = PyList_GET_SIZE(lines);
    if (start < 0 || start > total || max_rows < 0) {
        PyErr_SetString(PyExc_ValueError, "start or max_rows out of range");
        return NULL;
    }
    if (busy_or_broken(self)) return NULL;
    Py_ssize_t n = total - start;
    PyObject **items = (PyObject **)PyMem_Malloc(sizeof(PyObject *) * (size_t)(n ? n : 1));
    if (!items) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(lines, start + i);
        if (!PyBytes_Check(item)) {
            for (Py_ssize_t j = 0; j < i; j++) Py_DECREF(items[j]);
            PyMem_Free(items);
            PyErr_SetString(PyExc_TypeError, "lines must be a list of bytes");
            return NULL;
        }
        Py_INCREF(item);
        items[i] = item;
    }
    self->busy = 1;
    Py_ssize_t i = 0;
    int status = ST_DONE;
    int64_t rows0 = self->rows;
    Py_BEGIN_ALLOW_THREADS
    for (; i < n; i++) {
        if (self->rows - rows0 >= max_rows) {
            status = ST_FULL;
            break;
        }
        const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(items[i]);
        size_t len = (size_t)PyBytes_GET_SIZE(items[i]);
        int r = decode_line(self, p, len);
        if (r == LINE_FLAG) status = ST_FLAGGED;
        else if (r == LINE_FULL) status = ST_FULL;
        else if (r == LINE_NOMEM) status = -1;
        if (status != ST_DONE) break;
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    for (Py_ssize_t j = 0; j < n; j++) Py_DECREF(items[j]);
    PyMem_Free(items);
    if (status < 0) {
        self->broken = 1; /* a row may be half-committed: nothing more from this decoder */
        return PyErr_NoMemory();
    }
    return Py_BuildValue("(ni)", start + i, status);
}

/* A buffer handed over without a copy: it owns the memory the decoder filled. */
typedef struct {
    PyObject_HEAD
    uint8_t *d;
    Py_ssize_t len;
} Chunk;

static void Chunk_dealloc(Chunk *self) {
    free(self->d);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Chunk_getbuffer(Chunk *self, Py_buffer *view, int flags) {
    static uint8_t empty[8];
    return PyBuffer_FillInfo(view, (PyObject *)self, self->d ? self->d : empty, self->len, 1,
                             flags);
}

static PyBufferProcs Chunk_as_buffer = {(getbufferproc)Chunk_getbuffer, NULL};

static Py_ssize_t Chunk_length(Chunk *self) { return self->len; }

static PySequenceMethods Chunk_as_sequence = {.sq_length = (lenfunc)Chunk_length};

static PyTypeObject ChunkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ampkit.export._decoder.Chunk",
    .tp_basicsize = sizeof(Chunk),
    .tp_dealloc = (destructor)Chunk_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Read-only bytes of one decoded column buffer (supports the buffer protocol).",
    .tp_as_buffer = &Chunk_as_buffer,
    .tp_as_sequence = &Chunk_as_sequence,
};

/* The buffer's bytes as a Chunk; the buffer starts empty again. */
static PyObject *hand_over(Buf *b) {
    Chunk *c = PyObject_New(Chunk, &ChunkType);
    if (!c) return NULL;
    c->d = b->d;
    c->len = (Py_ssize_t)b->len;
    b->d = NULL;
    b->len = b->cap = 0;
    return (PyObject *)c;
}

static PyObject *Decoder_take(Decoder *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->cols) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is not initialised");
        return NULL;
    }
    if (busy_or_broken(self)) return NULL;
    PyObject *out = PyList_New(self->ncols);
    if (!out) return NULL;
    int64_t rows = self->rows;
    for (int i = 0; i < self->ncols; i++) {
        Col *col = &self->cols[i];
        int stringish = col->kind == K_STRING || col->kind == K_JSON || col->kind == K_IDS;
        PyObject *valid, *offsets, *data;
        valid = col->nulls == 0 ? Py_NewRef(Py_None) : hand_over(&col->valid);
        if (stringish) {
            size_t w = col->kind == K_STRING ? 4 : 8;
            if (col->offsets.len == 0 && first_offset(&col->offsets, w) < 0) {
                offsets = NULL;
                PyErr_NoMemory();
            } else {
                offsets = hand_over(&col->offsets);
            }
        } else {
            offsets = Py_NewRef(Py_None);
        }
        data = hand_over(&col->data);
        PyObject *t = NULL;
        if (valid && offsets && data)
            t = Py_BuildValue("(LLOOO)", (long long)rows, (long long)col->nulls, valid, offsets,
                              data);
        Py_XDECREF(valid);
        Py_XDECREF(offsets);
        Py_XDECREF(data);
        if (!t) { /* the rows are lost either way: start again empty */
            Py_DECREF(out);
            out = NULL;
            break;
        }
        PyList_SET_ITEM(out, i, t);
    }
    for (int i = 0; i < self->ncols; i++) {
        Col *col = &self->cols[i];
        col->valid.len = col->offsets.len = col->data.len = 0;
        col->nulls = 0;
    }
    self->rows = 0;
    return out;
}

static PyObject *Decoder_rows(Decoder *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLongLong((long long)self->rows);
}

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)Decoder_feed, METH_VARARGS,
     "feed(lines, start, max_rows) -> (next, status)\n\n"
     "Decode lines[start:] (a list of bytes) into the column buffers, without the GIL, until\n"
     "the list ends (status 0), a line the decoder does not cover (status 1: lines[next] is\n"
     "that line, nothing of it was kept), or max_rows rows were added, or lines[next] would\n"
     "take a string column past 2**31 - 1 bytes (status 2: take() the rows, feed again).\n"
     "Blank lines (JSON whitespace only) add no row."},
    {"take", (PyCFunction)Decoder_take, METH_NOARGS,
     "take() -> [(rows, nulls, validity | None, offsets | None, data), ...] per column\n\n"
     "The rows decoded so far as Arrow buffers (bytes), and a fresh start."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Decoder_getset[] = {
    {"rows", (getter)Decoder_rows, NULL, "rows decoded since the last take()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ampkit.export._decoder.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Export lines into Arrow column buffers (see the module's source for the rules).",
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
    .tp_init = (initproc)Decoder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ampkit.export._decoder",
    "Amplitude export lines into Arrow column buffers, in C.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__decoder(void) {
    if (PyType_Ready(&DecoderType) < 0 || PyType_Ready(&ChunkType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "STRING", K_STRING);
    PyModule_AddIntConstant(m, "INT", K_INT);
    PyModule_AddIntConstant(m, "FLOAT", K_FLOAT);
    PyModule_AddIntConstant(m, "BOOL", K_BOOL);
    PyModule_AddIntConstant(m, "TIMESTAMP", K_TIMESTAMP);
    PyModule_AddIntConstant(m, "JSON", K_JSON);
    PyModule_AddIntConstant(m, "IDS", K_IDS);
    PyModule_AddIntConstant(m, "DONE", ST_DONE);
    PyModule_AddIntConstant(m, "FLAGGED", ST_FLAGGED);
    PyModule_AddIntConstant(m, "FULL", ST_FULL);
    return m;
}
