/* tests/test_svg.c - the SVG writer (common/svg.c) against hostile input: NaN, infinities, values
 * near DBL_MAX and below DBL_MIN, negative values on log axes, empty and all-missing data, names
 * with XML specials, control characters and invalid UTF-8, one point, 10k points, many series,
 * bad arguments, and 200 rounds of random doubles (any bit pattern) with random byte strings as
 * names. Every file written is checked here by a strict well-formedness checker written
 * for what svg.c emits (tags balanced, attributes quoted, entities known, UTF-8 valid, no control
 * characters, every coordinate a finite number) and, where python3 exists, by its XML parser;
 * and no "nan" or "inf" may appear anywhere. A run with a decimal-comma locale must write the
 * same bytes as the C locale. */
#include <check.h>
#include <ctype.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svg.h"

static char dir[] = "/tmp/hrm-test-svg-XXXXXX";
static char err[1024];

static const char *path_of(const char *name) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s was not written", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert(s && fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

/* ---- a well-formedness checker for svg.c's output ------------------------------------------ */

static bool utf8_valid(const unsigned char *s) {
    while (*s) {
        unsigned c = *s;
        int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || (c < 0x20 && c != '\n') || c == 0x7F) return false;
        unsigned v = len == 1 ? c : c & (0x7Fu >> len);
        for (int i = 1; i < len; i++) {
            if ((s[i] & 0xC0) != 0x80) return false;
            v = v << 6 | (s[i] & 0x3Fu);
        }
        static const unsigned least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if ((len > 1 && v < least[len]) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || v == 0xFFFE || v == 0xFFFF ||
            (v >= 0x80 && v <= 0x9F))
            return false;
        s += len;
    }
    return true;
}

static bool entity_ok(const char *s) {
    static const char *const known[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (!strncmp(s, known[i], strlen(known[i]))) return true;
    return false;
}

/* A number svg.c wrote: plain decimal, finite, within its clamp. */
static bool coord_ok(const char *s, const char **end) {
    char *e;
    double v = strtod(s, &e);
    *end = e;
    return e != s && isfinite(v) && fabs(v) <= 1e6 && strspn(s, "-0123456789.") == (size_t)(e - s);
}

/* Attributes holding one number must hold a finite one. */
static bool value_ok(const char *name, const char *v, size_t len) {
    static const char *const numeric[] = {"x", "y", "x1", "y1", "x2", "y2", "width", "height", "cx", "cy", "r"};
    for (size_t i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
        if (strcmp(name, numeric[i])) continue;
        char buf[64];
        const char *end;
        if (len >= sizeof buf) return false;
        memcpy(buf, v, len), buf[len] = 0;
        return coord_ok(buf, &end) && !*end;
    }
    return true;
}

/* Path data: "M x y L x y ... h20", every number finite. */
static bool path_ok(const char *d, size_t len) {
    const char *p = d, *stop = d + len;
    while (p < stop) {
        char cmd = *p++;
        if (cmd == 'h') return coord_ok(p, &p) && p == stop;
        if (cmd != 'M' && cmd != 'L') return false;
        if (!coord_ok(p, &p) || *p++ != ' ' || !coord_ok(p, &p)) return false;
    }
    return true;
}

/* NULL when s is well-formed, else what is wrong. */
static const char *xml_check(const char *s) {
    static char why[256];
    char stack[64][32];
    int depth = 0, roots = 0;
    if (!utf8_valid((const unsigned char *)s)) return "invalid UTF-8 or a control character";
    if (!strncmp(s, "<?xml", 5)) s = strstr(s, "?>") + 2;
    while (*s) {
        if (*s == '&' && !entity_ok(s)) return "unknown entity in text";
        if (*s == '>') return "'>' in text";
        if (*s != '<') {
            if (!depth && !isspace((unsigned char)*s)) return "text outside the root";
            s++;
            continue;
        }
        if (s[1] == '/') {
            size_t n = strcspn(s + 2, ">");
            if (!depth || strlen(stack[depth - 1]) != n || strncmp(stack[depth - 1], s + 2, n)) {
                snprintf(why, sizeof why, "unbalanced </%.*s>", (int)(n < 30 ? n : 30), s + 2);
                return why;
            }
            depth--, s += n + 3;
            continue;
        }
        size_t n = strspn(s + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:");
        if (!n || n >= 32 || depth == 64) return "bad tag name";
        if (!depth && roots++) return "two roots";
        char name[32];
        memcpy(name, s + 1, n), name[n] = 0;
        s += 1 + n;
        for (;;) {
            s += strspn(s, " \n");
            if (*s == '>' || !strncmp(s, "/>", 2)) break;
            size_t an = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
            if (!an || s[an] != '=' || s[an + 1] != '"') return "bad attribute";
            char aname[32];
            snprintf(aname, sizeof aname, "%.*s", (int)(an < 31 ? an : 31), s);
            const char *v = s + an + 2, *q = strchr(v, '"');
            if (!q) return "unterminated attribute";
            for (const char *c = v; c < q; c++)
                if (*c == '<' || (*c == '&' && !entity_ok(c))) return "'<' or '&' in an attribute";
            if (!value_ok(aname, v, (size_t)(q - v))) {
                snprintf(why, sizeof why, "bad number in %s=\"%.*s\"", aname, (int)(q - v < 40 ? q - v : 40), v);
                return why;
            }
            if (!strcmp(aname, "d") && !path_ok(v, (size_t)(q - v))) return "bad path data";
            s = q + 1;
        }
        if (*s == '>') strcpy(stack[depth++], name);
        s += *s == '>' ? 1 : 2;
    }
    return depth ? "unclosed element" : roots == 1 ? NULL : "no root";
}

static bool python_parses(const char *path) {
    char cmd[600];
    if (system("command -v python3 >/dev/null 2>&1") != 0) return true;
    snprintf(cmd, sizeof cmd, "python3 -c \"import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])\" '%s'", path);
    return system(cmd) == 0;
}

START_TEST(test_checker_catches) {
    const char *bad[] = {"<svg><g></svg>",      "<svg x=\"1\"></svg><svg/>",
                         "<svg>&nbsp;</svg>",   "<svg x=\"nan\"/>",
                         "<svg y=\"1,5\"/>",    "<svg><path d=\"M1 2Linf 3\"/></svg>",
                         "<svg a=\"<\"/>",      "<svg>\x01</svg>",
                         "<svg>\xc0\x80</svg>", "<svg>a > b</svg>",
                         "<svg x=1/>",          "text"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(xml_check(bad[i]) != NULL, "%s passed", bad[i]);
    ck_assert_ptr_null(xml_check("<?xml version=\"1.0\"?>\n<svg a=\"&amp;\"><path d=\"M1 2L-3.5 4h20\"/></svg>\n"));
}
END_TEST

/* Reads path back, checks it, returns its text (to free). */
static char *check_svg(const char *name) {
    const char *path = path_of(name);
    char *s = slurp(path), tmp[300];
    const char *why = xml_check(s);
    ck_assert_msg(why == NULL, "%s: not well-formed: %s", name, why);
    ck_assert_msg(strncmp(s, "<?xml", 5) == 0 && strstr(s, "</svg>\n") != NULL, "%s: not an SVG", name);
    for (char *c = s; *c; c++) *c = (char)tolower((unsigned char)*c); /* for the search */
    ck_assert_msg(!strstr(s, "nan") && !strstr(s, "inf"), "%s: 'nan' or 'inf' in the file", name);
    free(s);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_msg(access(tmp, F_OK) != 0, "%s left behind", tmp);
    ck_assert_msg(python_parses(path), "%s: python3's XML parser refuses it", name);
    return slurp(path);
}

/* ---- line charts ---------------------------------------------------------------------------- */

static int lines1(const char *name, const char *title, const char *series_name, const double *x, const double *y, int n,
                  bool y_log) {
    svg_series s = {series_name, x, y, n};
    svg_panel p = {"panel", "step", "value", &s, 1, y_log};
    return svg_write_lines(path_of(name), title, &p, 1, err, sizeof err);
}

START_TEST(test_lines_hostile_values) {
    double x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    double y[12] = {NAN, 1, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, DBL_MIN, 4.9e-324, -3, 0, 1e-300, 2};
    for (int log = 0; log < 2; log++) {
        ck_assert_int_eq(lines1("hostile.svg", "values", "y", x, y, 12, log), 0);
        free(check_svg("hostile.svg"));
    }
    double hx[3] = {-DBL_MAX, 0, DBL_MAX}, hy[3] = {DBL_MAX, -DBL_MAX, DBL_MAX};
    ck_assert_int_eq(lines1("huge.svg", "huge", "y", hx, hy, 3, false), 0);
    free(check_svg("huge.svg"));
    double tx[3] = {1e-320, 2e-320, 3e-320}, ty[3] = {-1e-310, 5e-324, 1e-310};
    ck_assert_int_eq(lines1("tiny.svg", "tiny", "y", tx, ty, 3, false), 0);
    free(check_svg("tiny.svg"));
    ck_assert_int_eq(lines1("tinylog.svg", "tiny", "y", tx, ty, 3, true), 0);
    free(check_svg("tinylog.svg"));
}
END_TEST

START_TEST(test_lines_no_data) {
    double x[3] = {1, 2, NAN}, y[3] = {NAN, NAN, 5}, neg[3] = {-1, 0, -2};
    ck_assert_int_eq(svg_write_lines(path_of("none.svg"), "nothing", NULL, 0, err, sizeof err), 0);
    char *s = check_svg("none.svg");
    ck_assert(strstr(s, "no data") != NULL);
    free(s);
    ck_assert_int_eq(lines1("nan.svg", NULL, "all missing", x, y, 3, false), 0);
    s = check_svg("nan.svg");
    ck_assert(strstr(s, "no data") != NULL && strstr(s, "all missing (no data)") != NULL);
    free(s);
    ck_assert_int_eq(lines1("neglog.svg", "", "negative", x, neg, 3, true), 0);
    free(check_svg("neglog.svg"));
    ck_assert_int_eq(lines1("empty.svg", "t", "empty", NULL, NULL, 0, false), 0);
    free(check_svg("empty.svg"));
    svg_panel p = {"no series", NULL, NULL, NULL, 0, true};
    ck_assert_int_eq(svg_write_lines(path_of("noseries.svg"), NULL, &p, 1, err, sizeof err), 0);
    free(check_svg("noseries.svg"));
}
END_TEST

START_TEST(test_lines_hostile_names) {
    double x[2] = {0, 1}, y[2] = {1, 2};
    const char *names[] = {"<script>&\"'",
                           "tab\there\nnewline\x01\x1b[31m\x7f",
                           "\xff\xfe bad \xc0\x80 \xed\xa0\x80 end",
                           "\xc3\xa9t\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80 \xef\xbf\xbe \xc2\x85",
                           "cut \xe6\xbc",
                           ""};
    svg_series s[6];
    for (int i = 0; i < 6; i++) s[i] = (svg_series){names[i], x, y, 2};
    s[5].name = NULL;
    svg_panel p = {"<p>&", "x <&> \"q\"", "y 'a'", s, 6, false};
    ck_assert_int_eq(svg_write_lines(path_of("names.svg"), "]]> <!-- & -->", &p, 1, err, sizeof err), 0);
    char *t = check_svg("names.svg");
    ck_assert(strstr(t, "&lt;script&gt;&amp;&quot;&apos;") != NULL);
    ck_assert(strstr(t, "tab here newline[31m") != NULL);
    ck_assert(strstr(t, "\xc3\xa9t\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80") != NULL); /* kept */
    ck_assert(strstr(t, "\xef\xbf\xbd") != NULL); /* invalid bytes replaced */
    free(t);
}
END_TEST

START_TEST(test_lines_long_name_cut) {
    double x[1] = {3}, y[1] = {4};
    char name[400];
    for (int i = 0; i < 399; i++) name[i] = (char)('a' + i % 26);
    name[399] = 0;
    ck_assert_int_eq(lines1("long.svg", name, name, x, y, 1, false), 0);
    char *t = check_svg("long.svg");
    ck_assert(strstr(t, "\xe2\x80\xa6") != NULL); /* the legend's copy is cut */
    ck_assert(strstr(t, "<circle") != NULL);      /* one point: a dot */
    free(t);
}
END_TEST

START_TEST(test_lines_many) {
    enum { N = 10000, S = 25 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++) x[i] = i, y[i] = i % 997 == 0 ? NAN : exp(-i / 2000.0) * (1 + 0.1 * sin(i));
    svg_series s[S];
    char names[S][16];
    for (int i = 0; i < S; i++)
        snprintf(names[i], sizeof names[i], "run %d", i), s[i] = (svg_series){names[i], x, y, N};
    svg_panel p[2] = {{"log", "step", "loss", s, S, true}, {"linear", "step", "loss", s, 1, false}};
    ck_assert_int_eq(svg_write_lines(path_of("many.svg"), "10k points", p, 2, err, sizeof err), 0);
    char *t = check_svg("many.svg");
    ck_assert(strstr(t, "stroke-dasharray") != NULL); /* series past the 10th colour are dashed */
    free(t);
    free(x), free(y);
}
END_TEST

START_TEST(test_lines_bad_args) {
    double x[2] = {0, 1};
    svg_series s = {"s", x, NULL, 2};
    svg_panel p = {"p", "x", "y", &s, 1, false};
    ck_assert_int_eq(svg_write_lines(path_of("bad.svg"), "t", &p, 1, err, sizeof err), -1);
    ck_assert(strstr(err, "bad.svg") != NULL && !strchr(err, '\n'));
    s = (svg_series){"s", x, x, -1};
    ck_assert_int_eq(svg_write_lines(path_of("bad.svg"), "t", &p, 1, err, sizeof err), -1);
    ck_assert_int_eq(svg_write_lines(path_of("bad.svg"), "t", NULL, 2, err, sizeof err), -1);
    ck_assert_int_eq(svg_write_lines(NULL, "t", NULL, 0, err, sizeof err), -1);
    ck_assert(access(path_of("bad.svg"), F_OK) != 0);
    ck_assert_int_eq(svg_write_lines(path_of("no/such/dir.svg"), "t", NULL, 0, err, sizeof err), -1);
    ck_assert(strstr(err, "no/such/dir.svg") != NULL && !strchr(err, '\n'));
}
END_TEST

/* ---- bar charts ----------------------------------------------------------------------------- */

START_TEST(test_bars_values) {
    const char *groups[] = {"cpu", "<gpu & \"co\">", NULL,
                            "a very long device name that must turn to fit under its bars"};
    const char *series[] = {"matmul", NULL, "\x01"};
    double v[12] = {1.5, NAN, -2, INFINITY, 1e300, 0, DBL_MAX, -DBL_MAX, 4.9e-324, -INFINITY, 3, 1e-7};
    for (int log = 0; log < 2; log++) {
        ck_assert_int_eq(
            svg_write_bars(path_of("bars.svg"), "bars", "GFLOP/s", groups, 4, series, 3, v, log, err, sizeof err), 0);
        char *t = check_svg("bars.svg");
        ck_assert(strstr(t, "n/a") != NULL && strstr(t, "&lt;gpu &amp; &quot;co&quot;&gt;") != NULL);
        free(t);
    }
}
END_TEST

START_TEST(test_bars_no_data) {
    const char *groups[] = {"a", "b"}, *series[] = {"s"};
    double missing[2] = {NAN, NAN}, negative[2] = {-1, 0}, zero[2] = {0, 0};
    ck_assert_int_eq(svg_write_bars(path_of("b1.svg"), "t", "y", groups, 2, series, 1, missing, false, err, sizeof err),
                     0);
    char *t = check_svg("b1.svg");
    ck_assert(strstr(t, "no data") != NULL);
    free(t);
    ck_assert_int_eq(svg_write_bars(path_of("b2.svg"), "t", "y", groups, 2, series, 1, negative, true, err, sizeof err),
                     0);
    free(check_svg("b2.svg"));
    ck_assert_int_eq(svg_write_bars(path_of("b3.svg"), "t", "y", groups, 2, series, 1, zero, false, err, sizeof err),
                     0);
    free(check_svg("b3.svg"));
    ck_assert_int_eq(svg_write_bars(path_of("b4.svg"), NULL, NULL, NULL, 0, NULL, 0, NULL, false, err, sizeof err), 0);
    free(check_svg("b4.svg"));
    ck_assert_int_eq(svg_write_bars(path_of("b5.svg"), "t", "y", groups, 2, NULL, 0, NULL, true, err, sizeof err), 0);
    free(check_svg("b5.svg"));
    ck_assert_int_eq(svg_write_bars(path_of("b6.svg"), "t", "y", groups, 2, series, 1, NULL, true, err, sizeof err),
                     -1);
    ck_assert_int_eq(svg_write_bars(path_of("b6.svg"), "t", "y", groups, -1, series, 1, zero, true, err, sizeof err),
                     -1);
    ck_assert(access(path_of("b6.svg"), F_OK) != 0);
}
END_TEST

START_TEST(test_bars_many) {
    enum { G = 60, S = 12 };
    const char *groups[G], *series[S];
    char gn[G][24], sn[S][24];
    double v[G * S];
    for (int g = 0; g < G; g++) snprintf(gn[g], sizeof gn[g], "group %d", g), groups[g] = gn[g];
    for (int s = 0; s < S; s++) snprintf(sn[s], sizeof sn[s], "series %d", s), series[s] = sn[s];
    for (int i = 0; i < G * S; i++) v[i] = i % 7 == 0 ? NAN : pow(10, (i % 23) - 11) * (i % 3 + 1);
    ck_assert_int_eq(svg_write_bars(path_of("bm.svg"), "many", "s", groups, G, series, S, v, true, err, sizeof err), 0);
    free(check_svg("bm.svg"));
    ck_assert_int_eq(svg_write_bars(path_of("bm.svg"), "many", "s", groups, G, series, S, v, false, err, sizeof err),
                     0);
    free(check_svg("bm.svg"));
}
END_TEST

/* ---- random input --------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t next_random(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Any double: random bit patterns (NaN, infinities, subnormals included) or ordinary values. */
static double random_value(void) {
    uint64_t r = next_random();
    if (r % 3 == 0) {
        double v;
        memcpy(&v, &r, sizeof v);
        return v;
    }
    return (double)(int64_t)(next_random() % 2000001) / 1000.0 - 1000.0;
}

static void random_name(char *buf, int size) {
    int n = (int)(next_random() % (uint64_t)size);
    for (int i = 0; i < n; i++) buf[i] = (char)(next_random() % 255 + 1);
    buf[n] = 0;
}

/* Every file the writer makes from random values and random byte strings as names is well-formed
 * (python3 sees one of each kind; the C checker sees all). */
START_TEST(test_random) {
    enum { N = 64, S = 4 };
    double x[S][N], y[S][N], v[S * 8];
    char names[S][40], title[40], groups[8][40];
    const char *group_ptr[8], *series_ptr[S];
    for (int iter = 0; iter < 200; iter++) {
        svg_series s[S];
        for (int i = 0; i < S; i++) {
            random_name(names[i], 40), series_ptr[i] = names[i];
            for (int k = 0; k < N; k++) x[i][k] = random_value(), y[i][k] = random_value();
            s[i] = (svg_series){names[i], x[i], y[i], (int)(next_random() % (N + 1))};
        }
        for (int g = 0; g < 8; g++) random_name(groups[g], 40), group_ptr[g] = groups[g];
        for (int i = 0; i < S * 8; i++) v[i] = random_value();
        random_name(title, 40);
        svg_panel p[2] = {{title, names[0], names[1], s, S, next_random() % 2 == 0},
                          {names[2], title, NULL, s + 1, S - 1, next_random() % 2 == 0}};
        ck_assert_int_eq(svg_write_lines(path_of("rl.svg"), title, p, 2, err, sizeof err), 0);
        ck_assert_int_eq(svg_write_bars(path_of("rb.svg"), title, names[3], group_ptr, (int)(next_random() % 9),
                                        series_ptr, S, v, next_random() % 2 == 0, err, sizeof err),
                         0);
        for (int k = 0; k < 2; k++) {
            char *t = slurp(path_of(k ? "rb.svg" : "rl.svg"));
            const char *why = xml_check(t);
            ck_assert_msg(why == NULL, "iteration %d: %s", iter, why);
            free(t);
        }
    }
    free(check_svg("rl.svg"));
    free(check_svg("rb.svg"));
}
END_TEST

/* ---- locale --------------------------------------------------------------------------------- */

static bool comma_locale(void) {
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (setlocale(LC_ALL, names[i]) && !strcmp(localeconv()->decimal_point, ",")) return true;
    return false;
}

START_TEST(test_locale_independent) {
    double x[4] = {0, 0.5, 1.25, 2}, y[4] = {0.001, 0.25, 2.5, 1234.5678};
    const char *groups[] = {"g"}, *series[] = {"a", "b"};
    double v[2] = {0.125, 1.5e-7};
    ck_assert_int_eq(lines1("c.svg", "t", "s", x, y, 4, false), 0);
    ck_assert_int_eq(svg_write_bars(path_of("cb.svg"), "t", "y", groups, 1, series, 2, v, false, err, sizeof err), 0);
    if (!comma_locale()) return; /* none installed: nothing to compare */
    int rl = lines1("l.svg", "t", "s", x, y, 4, false);
    int rb = svg_write_bars(path_of("lb.svg"), "t", "y", groups, 1, series, 2, v, false, err, sizeof err);
    setlocale(LC_ALL, "C");
    ck_assert(rl == 0 && rb == 0);
    char *a = slurp(path_of("c.svg")), *b = slurp(path_of("l.svg"));
    ck_assert_str_eq(a, b);
    free(a), free(b);
    a = slurp(path_of("cb.svg")), b = slurp(path_of("lb.svg"));
    ck_assert_str_eq(a, b);
    free(a), free(b);
}
END_TEST

static Suite *svg_suite(void) {
    Suite *s = suite_create("svg");
    TCase *tc = tcase_create("svg");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_checker_catches);
    tcase_add_test(tc, test_lines_hostile_values);
    tcase_add_test(tc, test_lines_no_data);
    tcase_add_test(tc, test_lines_hostile_names);
    tcase_add_test(tc, test_lines_long_name_cut);
    tcase_add_test(tc, test_lines_many);
    tcase_add_test(tc, test_lines_bad_args);
    tcase_add_test(tc, test_bars_values);
    tcase_add_test(tc, test_bars_no_data);
    tcase_add_test(tc, test_bars_many);
    tcase_add_test(tc, test_random);
    tcase_add_test(tc, test_locale_independent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    SRunner *sr = srunner_create(svg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!failed && system(cmd) != 0) return 1;
    return failed ? 1 : 0;
}
