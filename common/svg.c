/* common/svg.c - the SVG writer of svg.h. The file is built in memory (a growing buffer), then
 * written with hrm_atomic_write_file. Three rules keep it valid whatever the data:
 *  - every text goes through put_text (XML escaping, UTF-8 checked, control characters dropped);
 *  - every number goes through put_coord or fmt_sig, which use integer arithmetic only: no
 *    locale's decimal comma, no "nan", no "inf", coordinates clamped to +-1e6 px;
 *  - axes are fitted on the drawable values only, with halves (0.5*hi - 0.5*lo) wherever a span
 *    could overflow near DBL_MAX, and log axes are kept as decade exponents, never as 10^e.
 * Layout, in px: a plot area PLOT_W x PLOT_H per panel (bars: wider with the groups), tick labels
 * left and below, the legend to the right, names cut at NAME_CHARS characters. */
#include "svg.h"

#include "hrm_internal.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    LEFT = 72,
    PLOT_W = 560,
    PLOT_H = 220,
    BAR_PLOT_H = 300,
    TOP = 44,
    PANEL_HEAD = 30,
    PANEL_FOOT = 50,
    ROW_H = 16,
    NAME_CHARS = 48,
    MAX_TICKS = 24
};
static const double CHAR_W = 6.5; /* a rough width of one character at font-size 11-12 */

static const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
/* Series 10.. reuse the colours with a dash pattern (lines) or a lighter fill (bars). */
static const char *const dashes[4] = {NULL, "7 3", "2 2", "9 3 2 3"};
static const char *const fill_opacity[4] = {NULL, "0.55", "0.3", "0.15"};

/* ---- output buffer ------------------------------------------------------------------------- */

typedef struct out {
    char *p;
    size_t len, cap;
    bool oom;
} out;

static void put_bytes(out *o, const char *s, size_t n) {
    if (o->oom) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1) cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p, o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void put(out *o, const char *s) { put_bytes(o, s, strlen(s)); }

/* Only for integers and trusted constant strings (never user text, never floating point). */
__attribute__((format(printf, 2, 3))) static void putf(out *o, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put_bytes(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A pixel coordinate with at most two decimals, clamped to +-1e6 (NaN becomes -1e6). */
static void put_coord(out *o, double v) {
    if (!(v > -1e6)) v = -1e6;
    if (v > 1e6) v = 1e6;
    long long q = llround(v * 100), a = q < 0 ? -q : q;
    if (a % 100 == 0)
        putf(o, "%s%lld", q < 0 ? "-" : "", a / 100);
    else if (a % 10 == 0)
        putf(o, "%s%lld.%lld", q < 0 ? "-" : "", a / 100, a % 100 / 10);
    else
        putf(o, "%s%lld.%02lld", q < 0 ? "-" : "", a / 100, a % 100);
}

/* name="coordinate" with a leading space. */
static void put_attr(out *o, const char *name, double v) {
    putf(o, " %s=\"", name);
    put_coord(o, v);
    put(o, "\"");
}

/* ---- text ---------------------------------------------------------------------------------- */

/* Length of the shortest-form UTF-8 sequence of a Unicode scalar value at s, its code point in
 * *cp; 0 when s does not start one. */
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len) return 0;
    uint32_t v = len == 1 ? c : c & (0x7Fu >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if ((len > 1 && v < least[len]) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Characters XML 1.0 forbids, and the control characters we drop although XML allows them. */
static bool dropped(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFFFE || cp == 0xFFFF; }

static const char *xml_entity(uint32_t cp) {
    switch (cp) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&apos;";
    default: return NULL;
    }
}

/* s (NULL = "") as XML text: escaped, tab/CR/LF as spaces, other controls dropped, invalid UTF-8
 * as U+FFFD, cut after max_chars characters with an ellipsis (max_chars <= 0: no limit). */
static void put_text(out *o, const char *s, int max_chars) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (int chars = 0; *p;) {
        uint32_t cp = 0xFFFD;
        int len = utf8_decode(p, &cp);
        const char *bytes = len ? (const char *)p : "\xEF\xBF\xBD";
        size_t nbytes = len ? (size_t)len : 3;
        p += len ? len : 1;
        if (cp == '\t' || cp == '\n' || cp == '\r') cp = ' ', bytes = " ", nbytes = 1;
        if (dropped(cp)) continue;
        if (max_chars > 0 && chars++ == max_chars) {
            put(o, "\xE2\x80\xA6");
            return;
        }
        const char *entity = xml_entity(cp);
        if (entity)
            put(o, entity);
        else
            put_bytes(o, bytes, nbytes);
    }
}

/* Characters put_text would write (for layout). */
static int text_chars(const char *s, int max_chars) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) n += (*p & 0xC0) != 0x80;
    return max_chars > 0 && n > max_chars ? max_chars + 1 : n;
}

/* <text> at (x, y) rotated by `angle` degrees about it; attrs: trusted extra attributes. */
static void put_label(out *o, double x, double y, int angle, const char *anchor, const char *attrs, const char *s,
                      int max_chars) {
    put(o, "<text");
    if (angle) {
        put(o, " transform=\"translate(");
        put_coord(o, x);
        put(o, ",");
        put_coord(o, y);
        putf(o, ") rotate(%d)\"", angle);
    } else {
        put_attr(o, "x", x);
        put_attr(o, "y", y);
    }
    putf(o, " text-anchor=\"%s\"%s>", anchor, attrs);
    put_text(o, s, max_chars);
    put(o, "</text>\n");
}

/* ---- numbers as text ----------------------------------------------------------------------- */

static const long long pow10_ll[16] = {1LL,
                                       10LL,
                                       100LL,
                                       1000LL,
                                       10000LL,
                                       100000LL,
                                       1000000LL,
                                       10000000LL,
                                       100000000LL,
                                       1000000000LL,
                                       10000000000LL,
                                       100000000000LL,
                                       1000000000000LL,
                                       10000000000000LL,
                                       100000000000000LL,
                                       1000000000000000LL};

/* |v| = m * 10^e with 1 <= m < 10, for any finite v != 0 (subnormals included). */
static double decompose(double a, int *e) {
    int k = (int)floor(log10(a));
    double m = k < -300 ? a * 1e30 / pow(10, k + 30) : a / pow(10, k);
    if (m >= 10) m /= 10, k++;
    if (m < 1) m *= 10, k--;
    *e = k;
    return m;
}

/* v with sig (1..15) significant digits, trailing zeros trimmed: "0.35", "1250", "2.5e-7", "1e12";
 * fixed notation for 1e-4 <= |v| < 1e6. The digits come from an integer: the same text in every
 * locale. */
static void fmt_sig(char *buf, size_t size, double v, int sig) {
    char d[24], t[64];
    int e, digits = sig < 1 ? 1 : sig > 15 ? 15 : sig, n = 0;
    if (v == 0 || !isfinite(v)) {
        snprintf(buf, size, "0");
        return;
    }
    long long q = llround(decompose(fabs(v), &e) * (double)pow10_ll[digits - 1]);
    if (q >= pow10_ll[digits]) q /= 10, e++;
    while (digits > 1 && q % 10 == 0) q /= 10, digits--;
    snprintf(d, sizeof d, "%lld", q); /* exactly `digits` digits */
    if (v < 0) t[n++] = '-';
    if (e < -4 || e >= 6) { /* d.ddde-7 */
        t[n++] = d[0];
        if (digits > 1) t[n++] = '.', memcpy(t + n, d + 1, (size_t)digits - 1), n += digits - 1;
        snprintf(t + n, sizeof t - (size_t)n, "e%d", e);
    } else if (e < 0) { /* 0.00ddd */
        t[n++] = '0', t[n++] = '.';
        for (int i = 1; i < -e; i++) t[n++] = '0';
        memcpy(t + n, d, (size_t)digits), t[n + digits] = 0;
    } else { /* ddd00 or dd.ddd */
        for (int i = 0; i <= e || i < digits; i++) {
            if (i == e + 1) t[n++] = '.';
            t[n++] = i < digits ? d[i] : '0';
        }
        t[n] = 0;
    }
    snprintf(buf, size, "%s", t);
}

/* ---- axes ---------------------------------------------------------------------------------- */

typedef struct tick {
    double t; /* 0 at the axis' start, 1 at its end */
    char label[40];
} tick;

/* Linear: lo, hi in data units. Log: lo, hi are decade exponents. */
typedef struct axis {
    bool log;
    double lo, hi;
    int num_ticks;
    tick ticks[MAX_TICKS];
} axis;

static double axis_t(const axis *a, double v) {
    if (a->log) return (log10(v) - a->lo) / (a->hi - a->lo);
    return (0.5 * v - 0.5 * a->lo) / (0.5 * a->hi - 0.5 * a->lo);
}

static double clamp_finite(double v) { return v < -DBL_MAX ? -DBL_MAX : v > DBL_MAX ? DBL_MAX : v; }

/* The least 1, 2 or 5 x 10^k at or above raw > 0. */
static double nice_step(double raw) {
    int e;
    double m = decompose(raw, &e), p = pow(10, e);
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void add_tick(axis *a, double t, double value, int sig) {
    if (a->num_ticks == MAX_TICKS) return;
    tick *k = &a->ticks[a->num_ticks++];
    k->t = t;
    fmt_sig(k->label, sizeof k->label, value, sig);
}

/* Fits [min, max] (finite, min <= max) out to multiples of a nice step: 3 to 7 ticks. A span
 * under 1e-12 of the values' magnitude counts as flat, which keeps lo / step far below 2^53. */
static void axis_linear(axis *a, double min, double max) {
    double half = 0.5 * max - 0.5 * min, big = fmax(fabs(min), fabs(max));
    if (!(half > 1e-12 * big) || half < 1e-290) { /* flat: +-10% around the centre, or [0, 1] at 0 */
        double c = 0.5 * min + 0.5 * max, pad = 0.1 * fabs(c);
        min = fabs(c) > 1e-290 ? clamp_finite(c - pad) : c < 0 ? -1 : 0;
        max = fabs(c) > 1e-290 ? clamp_finite(c + pad) : min + 1;
        half = 0.5 * max - 0.5 * min;
    }
    double step = nice_step(half / 2.5);
    *a = (axis){.lo = clamp_finite(floor(min / step) * step), .hi = clamp_finite(ceil(max / step) * step)};
    int e_big, e_step;
    decompose(fmax(fmax(fabs(a->lo), fabs(a->hi)), step), &e_big);
    decompose(step, &e_step);
    int sig = e_big - e_step + 1;
    double k0 = ceil(a->lo / step - 1e-9), k1 = floor(a->hi / step + 1e-9);
    for (int i = 0; i < MAX_TICKS && k0 + i <= k1; i++) add_tick(a, axis_t(a, (k0 + i) * step), (k0 + i) * step, sig);
}

static void decade_label(char *buf, size_t size, int mult, int e) {
    if (e >= -4 && e < 6)
        fmt_sig(buf, size, mult * pow(10, e), 1);
    else
        snprintf(buf, size, "%de%d", mult, e);
}

/* Fits [min, max] (0 < min <= max, finite) out to whole decades; ticks at decades (every few when
 * there are many), and at 2 and 5 too when there are at most two. */
static void axis_log(axis *a, double min, double max) {
    *a = (axis){.log = true, .lo = floor(log10(min)), .hi = ceil(log10(max))};
    if (a->hi <= a->lo) a->hi = a->lo + 1;
    int decades = (int)(a->hi - a->lo), every = (decades + 7) / 8;
    for (int e = (int)a->lo; e <= (int)a->hi; e++) {
        for (int mult = 1; mult <= 5; mult += mult == 1 ? 1 : 3) {
            if (mult > 1 && (decades > 2 || e == (int)a->hi)) break;
            if (mult == 1 && (e - (int)a->lo) % every) continue;
            tick *k = &a->ticks[a->num_ticks++];
            k->t = (e + log10(mult) - a->lo) / (a->hi - a->lo);
            decade_label(k->label, sizeof k->label, mult, e);
        }
    }
}

/* ---- pieces shared by both charts ---------------------------------------------------------- */

typedef struct box {
    double x, y, w, h;
} box;

static void put_header(out *o, int width, int height, const char *title) {
    putf(o,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
         "font-family=\"sans-serif\" font-size=\"12\">\n"
         "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
         width, height, width, height, width, height);
    if (title && title[0])
        put_label(o, width / 2.0, 26, 0, "middle", " font-size=\"16\" font-weight=\"bold\"", title, 0);
}

static void put_line(out *o, double x1, double y1, double x2, double y2, const char *attrs) {
    put(o, "<line");
    put_attr(o, "x1", x1), put_attr(o, "y1", y1), put_attr(o, "x2", x2), put_attr(o, "y2", y2);
    put(o, attrs);
    put(o, "/>\n");
}

/* A <rect> start tag left open, for "/>" or put_tooltip. */
static void open_rect(out *o, box b, const char *attrs) {
    put(o, "<rect");
    put_attr(o, "x", b.x), put_attr(o, "y", b.y), put_attr(o, "width", b.w), put_attr(o, "height", b.h);
    put(o, attrs);
}

/* Closes the start tag of `tag` with a <title> child, a tooltip in browsers: "name[, group][: value]". */
static void put_tooltip(out *o, const char *tag, const char *name, const char *group, const char *value) {
    put(o, "><title>");
    put_text(o, name, 0);
    if (group) put(o, ", "), put_text(o, group, 0);
    if (value) put(o, ": "), put(o, value);
    putf(o, "</title></%s>\n", tag);
}

static void put_frame(out *o, box b) { open_rect(o, b, " fill=\"none\" stroke=\"#888\""), put(o, "/>\n"); }

static void put_no_data(out *o, box b) {
    put_label(o, b.x + b.w / 2, b.y + b.h / 2, 0, "middle", " fill=\"#888\" font-size=\"14\"", "no data", 0);
}

/* Horizontal grid lines and labels of a vertical axis. */
static void put_y_ticks(out *o, box b, const axis *a) {
    for (int i = 0; i < a->num_ticks; i++) {
        double y = b.y + (1 - a->ticks[i].t) * b.h;
        put_line(o, b.x, y, b.x + b.w, y, " stroke=\"#e4e4e4\"");
        put_label(o, b.x - 6, y + 4, 0, "end", " font-size=\"11\"", a->ticks[i].label, 0);
    }
}

static void put_x_ticks(out *o, box b, const axis *a) {
    for (int i = 0; i < a->num_ticks; i++) {
        double x = b.x + a->ticks[i].t * b.w;
        put_line(o, x, b.y, x, b.y + b.h, " stroke=\"#e4e4e4\"");
        put_label(o, x, b.y + b.h + 16, 0, "middle", " font-size=\"11\"", a->ticks[i].label, 0);
    }
}

static void put_ylabel(out *o, box b, const char *ylabel) {
    if (ylabel && ylabel[0]) put_label(o, b.x - LEFT + 16, b.y + b.h / 2, -90, "middle", "", ylabel, NAME_CHARS);
}

/* Series i's style attributes into buf: a stroke for lines, a fill for bars. */
static const char *style(char *buf, size_t size, int i, bool bar) {
    const char *colour = palette[i % 10];
    int cycle = i / 10 % 4;
    if (bar)
        snprintf(buf, size, " fill=\"%s\" stroke=\"%s\"%s%s%s", colour, colour, cycle ? " fill-opacity=\"" : "",
                 cycle ? fill_opacity[cycle] : "", cycle ? "\"" : "");
    else
        snprintf(buf, size, " fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\"%s%s%s", colour,
                 cycle ? " stroke-dasharray=\"" : "", cycle ? dashes[cycle] : "", cycle ? "\"" : "");
    return buf;
}

/* One legend row at (x, y): a swatch in series i's style and the name. */
static void put_legend_row(out *o, double x, double y, int i, const char *name, bool bar, bool empty) {
    char attrs[160];
    if (bar) {
        open_rect(o, (box){x, y - 9, 12, 10}, style(attrs, sizeof attrs, i, true)), put(o, "/>\n");
    } else {
        put(o, "<path d=\"M");
        put_coord(o, x), put(o, " "), put_coord(o, y - 4), put(o, "h20\"");
        put(o, style(attrs, sizeof attrs, i, false));
        put(o, "/>\n");
    }
    put(o, "<text");
    put_attr(o, "x", x + (bar ? 18 : 26)), put_attr(o, "y", y);
    put(o, " font-size=\"11\">");
    put_text(o, name, NAME_CHARS);
    if (empty) put(o, " (no data)");
    put(o, "</text>\n");
}

static double legend_width(int max_chars) { return 40 + CHAR_W * (max_chars < 8 ? 8 : max_chars); }

static int finish(out *o, const char *path, char *err, size_t err_size) {
    put(o, "</svg>\n");
    int rc = 0;
    if (o->oom)
        rc = -1, hrm_io_fail(err, err_size, HRM_ERR_OUT_OF_MEMORY, path, "out of host memory for the SVG");
    else if (hrm_atomic_write_file(path, o->p, o->len, err, err_size))
        rc = -1;
    free(o->p);
    return rc;
}

/* ---- line charts ---------------------------------------------------------------------------- */

static bool drawable(const svg_series *s, int i, bool y_log) {
    return isfinite(s->x[i]) && isfinite(s->y[i]) && (!y_log || s->y[i] > 0);
}

/* The ranges of the panel's drawable points; false when there are none. */
static bool panel_extent(const svg_panel *p, double *x0, double *x1, double *y0, double *y1) {
    bool any = false;
    for (int s = 0; s < p->num_series; s++) {
        const svg_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            if (!drawable(se, i, p->y_log)) continue;
            if (!any) *x0 = *x1 = se->x[i], *y0 = *y1 = se->y[i], any = true;
            *x0 = fmin(*x0, se->x[i]), *x1 = fmax(*x1, se->x[i]);
            *y0 = fmin(*y0, se->y[i]), *y1 = fmax(*y1, se->y[i]);
        }
    }
    return any;
}

static bool same_text(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

/* Widens [x0, x1] to the points of every panel with the same x label: stacked panels of one
 * quantity line up. */
static void share_x(const svg_panel *panels, int num_panels, const svg_panel *p, double *x0, double *x1) {
    for (int q = 0; q < num_panels; q++) {
        double a0, a1, b0, b1;
        if (!same_text(panels[q].xlabel, p->xlabel) || !panel_extent(&panels[q], &a0, &a1, &b0, &b1)) continue;
        *x0 = fmin(*x0, a0), *x1 = fmax(*x1, a1);
    }
}

static void put_point(out *o, box b, const axis *ax, const axis *ay, double x, double y) {
    put_coord(o, b.x + axis_t(ax, x) * b.w);
    put(o, " ");
    put_coord(o, b.y + (1 - axis_t(ay, y)) * b.h);
}

/* The series as one path (a new "M" after each gap) and a dot for each isolated point.
 * Returns whether anything was drawn. */
static bool put_series(out *o, box b, const axis *ax, const axis *ay, const svg_series *s, int index, bool y_log) {
    bool path = false, dots = false;
    char attrs[160];
    for (int i = 0; i < s->n; i++) {
        if (!drawable(s, i, y_log)) continue;
        bool prev = i > 0 && drawable(s, i - 1, y_log), next = i + 1 < s->n && drawable(s, i + 1, y_log);
        dots |= !prev && !next;
        if (!prev && !next) continue;
        if (!path) put(o, "<path d=\""), path = true;
        put(o, prev ? "L" : "M");
        put_point(o, b, ax, ay, s->x[i], s->y[i]);
    }
    if (path)
        put(o, "\""), put(o, style(attrs, sizeof attrs, index, false)), put_tooltip(o, "path", s->name, NULL, NULL);
    for (int i = 0; dots && i < s->n; i++) {
        if (!drawable(s, i, y_log) || (i > 0 && drawable(s, i - 1, y_log)) ||
            (i + 1 < s->n && drawable(s, i + 1, y_log)))
            continue;
        put(o, "<circle");
        put_attr(o, "cx", b.x + axis_t(ax, s->x[i]) * b.w);
        put_attr(o, "cy", b.y + (1 - axis_t(ay, s->y[i])) * b.h);
        putf(o, " r=\"2.5\" fill=\"%s\"", palette[index % 10]);
        put_tooltip(o, "circle", s->name, NULL, NULL);
    }
    return path || dots;
}

static int panel_height(const svg_panel *p) {
    int rows = p->num_series * ROW_H + 8;
    return PANEL_HEAD + (rows > PLOT_H ? rows : PLOT_H) + PANEL_FOOT;
}

static void put_panel(out *o, const svg_panel *panels, int num_panels, const svg_panel *p, double top) {
    box b = {LEFT, top + PANEL_HEAD, PLOT_W, PLOT_H};
    double x0, x1, y0, y1;
    bool any = panel_extent(p, &x0, &x1, &y0, &y1);
    if (any) share_x(panels, num_panels, p, &x0, &x1);
    put_label(o, b.x, top + 20, 0, "start", " font-size=\"13\" font-weight=\"bold\"", p->title, 0);
    if (p->xlabel && p->xlabel[0]) put_label(o, b.x + b.w / 2, b.y + b.h + 36, 0, "middle", "", p->xlabel, NAME_CHARS);
    put_ylabel(o, b, p->ylabel);
    bool *drawn = calloc((size_t)(p->num_series > 0 ? p->num_series : 1), sizeof *drawn);
    if (!drawn) {
        o->oom = true;
        return;
    }
    if (any) {
        axis ax, ay;
        axis_linear(&ax, x0, x1);
        if (p->y_log)
            axis_log(&ay, y0, y1);
        else
            axis_linear(&ay, y0, y1);
        put_y_ticks(o, b, &ay), put_x_ticks(o, b, &ax);
        for (int s = 0; s < p->num_series; s++) drawn[s] = put_series(o, b, &ax, &ay, &p->series[s], s, p->y_log);
    } else {
        put_no_data(o, b);
    }
    put_frame(o, b);
    for (int s = 0; s < p->num_series; s++)
        put_legend_row(o, b.x + b.w + 16, b.y + 12 + s * ROW_H, s, p->series[s].name, false, !drawn[s]);
    free(drawn);
}

static int check_panels(const char *path, const svg_panel *panels, int num_panels, char *err, size_t err_size) {
    if (num_panels < 0 || (num_panels > 0 && !panels))
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "no panels to plot (%d)", num_panels), -1;
    for (int p = 0; p < num_panels; p++) {
        const svg_panel *pa = &panels[p];
        if (pa->num_series < 0 || (pa->num_series > 0 && !pa->series))
            return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "panel %d: no series (%d)", p, pa->num_series),
                   -1;
        for (int s = 0; s < pa->num_series; s++)
            if (pa->series[s].n < 0 || (pa->series[s].n > 0 && (!pa->series[s].x || !pa->series[s].y)))
                return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "panel %d, series %d: no points (%d)", p,
                                   s, pa->series[s].n),
                       -1;
    }
    return 0;
}

int svg_write_lines(const char *path, const char *title, const svg_panel *panels, int num_panels, char *err,
                    size_t err_size) {
    if (!path) return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, NULL, "no output path for the SVG"), -1;
    if (check_panels(path, panels, num_panels, err, err_size)) return -1;
    int chars = 0, height = TOP + 10 + (num_panels ? 0 : PLOT_H);
    for (int p = 0; p < num_panels; p++) {
        height += panel_height(&panels[p]);
        for (int s = 0; s < panels[p].num_series; s++) {
            int c = text_chars(panels[p].series[s].name, NAME_CHARS) + 10; /* + " (no data)" */
            chars = c > chars ? c : chars;
        }
    }
    int width = LEFT + PLOT_W + 16 + (int)legend_width(chars);
    out o = {0};
    put_header(&o, width, height, title);
    if (!num_panels) put_no_data(&o, (box){LEFT, TOP, PLOT_W, PLOT_H});
    double top = TOP;
    for (int p = 0; p < num_panels; p++)
        put_panel(&o, panels, num_panels, &panels[p], top), top += panel_height(&panels[p]);
    return finish(&o, path, err, err_size);
}

/* ---- bar charts ---------------------------------------------------------------------------- */

typedef struct bars {
    const char *const *groups, *const *series;
    int num_groups, num_series;
    const double *values;
    bool y_log;
    box b;
    double group_w, bar_w;
    bool rotate_groups, rotate_values;
} bars;

static bool bar_drawable(const bars *c, double v) { return isfinite(v) && (!c->y_log || v > 0); }

/* Fits the value axis (linear: always including 0); false when no value is drawable. */
static bool bars_axis(const bars *c, axis *a) {
    double lo = 0, hi = 0;
    bool any = false;
    for (size_t i = 0; i < (size_t)c->num_groups * (size_t)c->num_series; i++) {
        double v = c->values[i];
        if (!bar_drawable(c, v)) continue;
        if (!any && c->y_log) lo = hi = v;
        lo = fmin(lo, v), hi = fmax(hi, v), any = true;
    }
    if (!any) return false;
    if (c->y_log)
        axis_log(a, lo, hi);
    else
        axis_linear(a, lo, lo == hi ? 1 : hi);
    return true;
}

static const char *group_name(const bars *c, int g) { return c->groups && c->groups[g] ? c->groups[g] : ""; }

static const char *series_name(const bars *c, int s) { return c->series && c->series[s] ? c->series[s] : ""; }

/* Plot area width, bar width, and whether labels must turn to fit. */
static void bars_layout(bars *c, int *bottom) {
    int longest = 0;
    for (int g = 0; g < c->num_groups; g++) {
        int n = text_chars(group_name(c, g), NAME_CHARS);
        longest = n > longest ? n : longest;
    }
    double group_w = c->num_series * 18.0 + 16;
    double plot_w = fmax(PLOT_W, c->num_groups * group_w);
    c->group_w = c->num_groups ? plot_w / c->num_groups : plot_w;
    c->bar_w = c->num_series ? (c->group_w - 12) / c->num_series : 0;
    c->rotate_groups = longest * CHAR_W > c->group_w - 4;
    c->rotate_values = c->bar_w < 30;
    /* a label turned by 30 degrees reaches cos(30) of its length left of its group's centre */
    double left = c->rotate_groups ? fmax(LEFT, longest * CHAR_W * 0.87 - c->group_w / 2 + 8) : LEFT;
    c->b = (box){left, TOP + 10, plot_w, BAR_PLOT_H};
    *bottom = c->rotate_groups ? (int)(longest * CHAR_W * 0.5) + 40 : 40;
}

/* The bar of group g, series s, with its value label (or the "n/a" marker) above its end. */
static void put_bar(out *o, const bars *c, const axis *a, int g, int s) {
    double v = c->values[(size_t)g * (size_t)c->num_series + (size_t)s];
    double x = c->b.x + g * c->group_w + 6 + s * c->bar_w, mid = x + c->bar_w / 2;
    double base = c->y_log ? c->b.y + c->b.h : c->b.y + (1 - axis_t(a, 0)) * c->b.h;
    int angle = c->rotate_values ? -90 : 0;
    if (!bar_drawable(c, v)) {
        put_label(o, mid + (angle ? 3 : 0), base - 4, angle, angle ? "start" : "middle",
                  " font-size=\"10\" fill=\"#999\"", "n/a", 0);
        return;
    }
    double end = c->b.y + (1 - axis_t(a, v)) * c->b.h;
    bool up = end <= base;
    char attrs[160], label[40];
    fmt_sig(label, sizeof label, v, 3);
    open_rect(o, (box){x + c->bar_w * 0.05, fmin(end, base), c->bar_w * 0.9, fabs(base - end)},
              style(attrs, sizeof attrs, s, true));
    put_tooltip(o, "rect", series_name(c, s), group_name(c, g), label);
    const char *anchor = angle ? (up ? "start" : "end") : "middle";
    put_label(o, mid + (angle ? 3 : 0), up ? end - 3 : end + (angle ? 3 : 11), angle, anchor, " font-size=\"10\"",
              label, 0);
}

static void put_group_labels(out *o, const bars *c) {
    for (int g = 0; g < c->num_groups; g++) {
        double x = c->b.x + (g + 0.5) * c->group_w, y = c->b.y + c->b.h + 16;
        if (c->rotate_groups)
            put_label(o, x, y, -30, "end", " font-size=\"11\"", group_name(c, g), NAME_CHARS);
        else
            put_label(o, x, y, 0, "middle", " font-size=\"11\"", group_name(c, g), NAME_CHARS);
    }
}

static void put_bars(out *o, const bars *c, const char *ylabel) {
    axis a;
    put_ylabel(o, c->b, ylabel);
    if (bars_axis(c, &a)) {
        put_y_ticks(o, c->b, &a);
        for (int g = 0; g < c->num_groups; g++)
            for (int s = 0; s < c->num_series; s++) put_bar(o, c, &a, g, s);
    } else {
        put_no_data(o, c->b);
    }
    put_group_labels(o, c);
    put_frame(o, c->b);
    for (int s = 0; s < c->num_series; s++) {
        bool empty = true;
        for (int g = 0; g < c->num_groups; g++)
            empty &= !bar_drawable(c, c->values[(size_t)g * (size_t)c->num_series + (size_t)s]);
        put_legend_row(o, c->b.x + c->b.w + 16, c->b.y + 12 + s * ROW_H, s, series_name(c, s), true, empty);
    }
}

int svg_write_bars(const char *path, const char *title, const char *ylabel, const char *const *groups, int num_groups,
                   const char *const *series, int num_series, const double *values, bool y_log, char *err,
                   size_t err_size) {
    if (!path) return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, NULL, "no output path for the SVG"), -1;
    if (num_groups < 0 || num_series < 0 || (num_groups > 0 && num_series > 0 && !values))
        return hrm_io_fail(err, err_size, HRM_ERR_INVALID_ARG, path, "no values for %d groups x %d series", num_groups,
                           num_series),
               -1;
    bars c = {.groups = groups,
              .series = series,
              .num_groups = num_groups,
              .num_series = num_series,
              .values = values,
              .y_log = y_log};
    int bottom, chars = 0;
    bars_layout(&c, &bottom);
    for (int s = 0; s < num_series; s++) {
        int n = text_chars(series_name(&c, s), NAME_CHARS) + 10;
        chars = n > chars ? n : chars;
    }
    int legend_h = num_series * ROW_H + 8;
    int width = (int)(c.b.x + c.b.w + 16 + legend_width(chars));
    int height = (int)c.b.y + (legend_h > BAR_PLOT_H ? legend_h : BAR_PLOT_H) + bottom;
    out o = {0};
    put_header(&o, width, height, title);
    put_bars(&o, &c, ylabel);
    return finish(&o, path, err, err_size);
}
