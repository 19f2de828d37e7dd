/* plugins/maze/test_maze.c - tests of the maze task plugin, called through the table that
 * hrm_task_entry() returns, with a recording host and sink: the encoding of known rows, splits and
 * seeds, malformed rows, the shortest-route verifier on hand-made mazes (gaps, detours, walls, an
 * alternative shortest route), render/parse, and the generator, whose mazes are measured by a
 * breadth-first search of this file. With HRM_SHARED_DATA set to the benchmark data folder, every
 * row of maze30_hard_train_1k.csv must verify. */
#include <check.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hrm/task.h"

const hrm_task_iface *hrm_task_entry(void);

#define FIXTURE MAZE_TESTDATA "/maze30_hard_3.csv"
#define HEADER "source,question,answer,rating\n"

enum { MAX_EXAMPLES = 64, MAX_LINES = 256, SIDE = 30, N = 900, WALL = 1, OPEN = 2, S = 3, G = 4, ROUTE = 5 };

/* The fixture's rows (maze30_hard_train_1k.csv lines 2-4), read by setup(). */
static char fix_q[3][N + 1], fix_a[3][N + 1];
static long fix_rating[3];

#define TR_TASK "maze"
#define TR_SHARED_CSV "maze/maze30_hard_train_1k.csv" /* under $HRM_SHARED_DATA: task_test_main.h */
#include "task_test_rec.h"
#include "task_test_main.h"

static void read_fixture(void) {
    static char line[4096];
    FILE *f = fopen(FIXTURE, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    for (int k = 0; k < 3; k++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        char *q = strchr(line, ',') + 1, *a = q + N + 1;
        ck_assert(q[N] == ',' && a[N] == ',');
        memcpy(fix_q[k], q, N);
        memcpy(fix_a[k], a, N);
        fix_rating[k] = atol(a + N + 1);
    }
    fclose(f);
}

static void setup(void) {
    T = hrm_task_entry();
    reset();
    read_fixture();
}

/* ---- encodings and an independent search ------------------------------------------------------ */

static void tokens_of(const char *s, uint8_t *t) {
    for (int i = 0; i < N; i++) t[i] = (uint8_t)(strchr("# SGo", s[i]) - "# SGo" + 1);
}

static int count(const uint8_t *t, uint8_t token) {
    int n = 0;
    for (int i = 0; i < N; i++) n += t[i] == token;
    return n;
}

static int find(const uint8_t *t, uint8_t token) {
    for (int i = 0; i < N; i++)
        if (t[i] == token) return i;
    return -1;
}

/* dist[i]: steps from cell `from` to i through non-wall cells, -1 where unreachable. */
static void t_bfs(const uint8_t *t, int from, int *dist) {
    int queue[N], head = 0, tail = 0;
    for (int i = 0; i < N; i++) dist[i] = -1;
    dist[from] = 0;
    queue[tail++] = from;
    while (head < tail) {
        int u = queue[head++], r = u / SIDE, c = u % SIDE;
        int nb[4] = {r > 0 ? u - SIDE : -1, r < SIDE - 1 ? u + SIDE : -1, c > 0 ? u - 1 : -1,
                     c < SIDE - 1 ? u + 1 : -1};
        for (int k = 0; k < 4; k++) {
            if (nb[k] < 0 || t[nb[k]] == WALL || dist[nb[k]] >= 0) continue;
            dist[nb[k]] = dist[u] + 1;
            queue[tail++] = nb[k];
        }
    }
}

/* Steps from S to G; -1 when G cannot be reached. */
static int t_distance(const uint8_t *t) {
    int dist[N];
    t_bfs(t, find(t, S), dist);
    return dist[find(t, G)];
}

/* The answer as Maze-Hard marks it: from S, always the first of down, left, right, up that is one
 * step nearer G. */
static void t_data_route(const uint8_t *in, uint8_t *ans) {
    static const int dr[4] = {1, 0, 0, -1}, dc[4] = {0, -1, 1, 0};
    int to_goal[N], g = find(in, G);
    t_bfs(in, g, to_goal);
    memcpy(ans, in, N);
    for (int u = find(in, S); u != g;) {
        int k = 0, v = -1;
        for (; k < 4; k++) {
            int r = u / SIDE + dr[k], c = u % SIDE + dc[k];
            v = r * SIDE + c;
            if (r >= 0 && r < SIDE && c >= 0 && c < SIDE && to_goal[v] == to_goal[u] - 1) break;
        }
        ck_assert_int_lt(k, 4);
        u = v;
        if (u != g) ans[u] = ROUTE;
    }
}

static bool verify(const uint8_t *in, const uint8_t *ans, char *reason) {
    bool ok = false;
    ck_assert_int_eq(T->verify(in, ans, NULL, &ok, reason, 128), HRM_OK);
    return ok;
}

/* ---- format and encoding ---------------------------------------------------------------------- */

START_TEST(test_table) {
    ck_assert_uint_eq(T->abi_version, HRM_TASK_ABI_VERSION);
    ck_assert_uint_eq(T->struct_size, sizeof(hrm_task_iface));
    ck_assert_str_eq(T->name, "maze");
    /* dataset.json of the published build_maze_dataset.py */
    ck_assert_int_eq(T->format.seq_len, 900);
    ck_assert_int_eq(T->format.vocab_size, 6);
    ck_assert_int_eq(T->format.pad_id, 0);
    ck_assert(T->format.has_ignore_label);
    ck_assert_int_eq(T->format.ignore_label_id, 0);
    ck_assert(T->build && T->generate && T->verify_file && T->verify && T->render && T->parse_puzzle);
    ck_assert(!T->eval_begin && !T->eval_add && !T->eval_end);
}
END_TEST

START_TEST(test_encoding) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 3);
    ck_assert_int_eq(train_rec.puzzles, 3);
    ck_assert_int_eq(test_rec.examples, 0);
    ck_assert(!train_rec.named);
    for (int k = 0; k < 3; k++) {
        uint8_t in[N], lab[N];
        tokens_of(fix_q[k], in);
        tokens_of(fix_a[k], lab);
        ck_assert_mem_eq(train_rec.input[k], in, N);
        ck_assert_mem_eq(train_rec.label[k], lab, N);
        ck_assert_int_eq(count(in, S), 1);
        ck_assert_int_eq(count(in, G), 1);
        ck_assert_int_eq(count(in, ROUTE), 0);
        ck_assert_int_eq(count(in, WALL) + count(in, OPEN) + 2, N);
        /* the rating is the route's length in cells, start and goal included */
        ck_assert_int_eq(count(lab, ROUTE) + 2, fix_rating[k]);
        ck_assert_int_eq(t_distance(in) + 1, fix_rating[k]);
        uint8_t route[N];
        t_data_route(in, route);
        ck_assert_mem_eq(route, lab, N);
    }
    ck_assert_int_eq(train_rec.input[0][0], OPEN); /* row 1 starts with spaces, then "##" */
    ck_assert_int_eq(train_rec.input[0][9], WALL);
}
END_TEST

/* ---- splits ----------------------------------------------------------------------------------- */

static int fixture_row(const uint8_t *input) {
    for (int k = 0; k < 3; k++) {
        uint8_t in[N];
        tokens_of(fix_q[k], in);
        if (!memcmp(in, input, N)) return k;
    }
    return -1;
}

START_TEST(test_splits) {
    char err[256], seed[8];
    bool held[3] = {0};
    for (int s = 0; s < 12; s++) {
        snprintf(seed, sizeof seed, "%d", s);
        ck_assert_int_eq(build(err, "--train", FIXTURE, "--holdout", "1", "--seed", seed, NULL), HRM_OK);
        ck_assert_int_eq(train_rec.groups, 2);
        ck_assert_int_eq(test_rec.groups, 1);
        int t = fixture_row(test_rec.input[0]);
        ck_assert(t >= 0 && t != fixture_row(train_rec.input[0]) && t != fixture_row(train_rec.input[1]));
        held[t] = true;
    }
    ck_assert(held[0] + held[1] + held[2] >= 2);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--subsample", "2", "--seed", "5", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 2);
    uint8_t first[N];
    memcpy(first, train_rec.input[1], N);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--subsample", "2", "--seed", "5", NULL), HRM_OK);
    ck_assert_mem_eq(first, train_rec.input[1], N);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--test", FIXTURE, NULL), HRM_OK);
    ck_assert_int_eq(test_rec.groups, 3);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--aug", "1", NULL), HRM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--aug"));
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--holdout", "3", NULL), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(build(err, "--test", FIXTURE, NULL), HRM_ERR_USAGE);
}
END_TEST

/* ---- malformed rows --------------------------------------------------------------------------- */

typedef struct bad_row {
    const char *name, *expect;
    void (*edit)(char *q, char *a);
    bool fields; /* edit makes the row's fields; else the row is "s,q,a,rating" */
} bad_row;

/* An open cell of fixture row 0 that is not on its route, and one that is. */
static int off_route(const char *a) {
    for (int i = 0; i < N; i++)
        if (a[i] == ' ') return i;
    return -1;
}

static int on_route(const char *a) { return (int)(strchr(a, 'o') - a); }

static void route_in_question(char *q, char *a) { q[off_route(a)] = 'o'; }

static void short_question(char *q, char *a) {
    (void)a;
    q[N - 1] = '\0';
}

static void bad_answer_char(char *q, char *a) {
    (void)q;
    a[off_route(a)] = 'x';
}

static void gap_in_route(char *q, char *a) {
    (void)q;
    a[on_route(a)] = ' ';
}

static void stray_route(char *q, char *a) {
    (void)q;
    a[off_route(a)] = 'o';
}

static void two_starts(char *q, char *a) {
    int i = off_route(a);
    q[i] = a[i] = 'S';
}

static void no_goal(char *q, char *a) {
    q[strchr(q, 'G') - q] = ' ';
    a[strchr(a, 'G') - a] = ' ';
}

static void wall_opened(char *q, char *a) {
    (void)q;
    a[strchr(a, '#') - a] = ' ';
}

static void three_fields(char *q, char *a) {
    /* "s,q" + a: the question and answer run together */
    memmove(q + N, a, N + 1);
}

static const bad_row bad_rows[] = {
    {"short question", "question has 899 characters", short_question, false},
    {"route in question", "is 'o', expected one of '# SG'", route_in_question, false},
    {"bad answer character", "is 'x', expected one of '# SGo'", bad_answer_char, false},
    {"gap in route", "do not join", gap_in_route, false},
    {"stray route cell", "the route has 109 cells between start and goal, a shortest one 108", stray_route, false},
    {"two starts", "2 starts and 1 goals", two_starts, false},
    {"no goal", "1 starts and 0 goals", no_goal, false},
    {"wall opened", "where the maze has '#'", wall_opened, false},
    {"three fields", "found 3", three_fields, true},
};

static const char *bad_file(const bad_row *b) {
    static char q[2 * N + 2], a[N + 1], text[12 * N];
    strcpy(q, fix_q[0]);
    strcpy(a, fix_a[0]);
    b->edit(q, a);
    char row[4 * N];
    if (b->fields)
        snprintf(row, sizeof row, "s,%s,1", q);
    else
        snprintf(row, sizeof row, "s,%s,%s,1", q, a);
    snprintf(text, sizeof text, HEADER "s,%s,%s,%ld\n%s\ns,%s,%s,%ld\n", fix_q[0], fix_a[0], fix_rating[0], row,
             fix_q[1], fix_a[1], fix_rating[1]);
    return temp_csv(text);
}

START_TEST(test_malformed) {
    const bad_row *b = &bad_rows[_i];
    const char *path = bad_file(b);
    char err[256], want[256];
    ck_assert_int_eq(build(err, "--train", path, NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 2);
    ck_assert_int_eq(warnings, 2);
    snprintf(want, sizeof want, "%s:3: ", path);
    ck_assert_msg(strstr(log_text, want) && strstr(log_text, b->expect), "%s: log was %s", b->name, log_text);
    ck_assert_ptr_nonnull(strstr(log_text, "skipped 1 malformed rows"));

    ck_assert_int_eq(build(err, "--train", path, "--strict", NULL), HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err, want) && strstr(err, b->expect), "%s: error was %s", b->name, err);

    long ok = -1, rejected = -1;
    reset();
    ck_assert_int_eq(T->verify_file(&host, path, &ok, &rejected, err, sizeof err), HRM_OK);
    ck_assert_int_eq(ok, 2);
    ck_assert_int_eq(rejected, 1);
    ck_assert_int_eq(nlines, 1);
    ck_assert_ptr_eq(strstr(lines[0], want), lines[0]);
}
END_TEST

/* ---- verify ----------------------------------------------------------------------------------- */

static int cell(int r, int c) { return r * SIDE + c; }

/* An open 30x30 field with S at (0,0) and G at (3,3). */
static void open_field(uint8_t *in) {
    memset(in, OPEN, N);
    in[cell(0, 0)] = S;
    in[cell(3, 3)] = G;
}

/* in with route cells at the (row, column) pairs rc[0..2n). */
static void with_route(const uint8_t *in, const int *rc, int n, uint8_t *ans) {
    memcpy(ans, in, N);
    for (int k = 0; k < n; k++) ans[cell(rc[2 * k], rc[2 * k + 1])] = ROUTE;
}

START_TEST(test_verify_routes) {
    static const int right_down[] = {0, 1, 0, 2, 0, 3, 1, 3, 2, 3};
    static const int down_right[] = {1, 0, 2, 0, 3, 0, 3, 1, 3, 2};
    static const int detour[] = {1, 0, 2, 0, 3, 0, 4, 0, 4, 1, 4, 2, 4, 3};
    char reason[128];
    uint8_t in[N], ans[N];
    open_field(in);
    with_route(in, right_down, 5, ans);
    ck_assert(verify(in, ans, reason));
    with_route(in, down_right, 5, ans); /* another shortest route: accepted too */
    ck_assert(verify(in, ans, reason));
    with_route(in, detour, 7, ans);
    ck_assert(!verify(in, ans, reason));
    ck_assert_ptr_nonnull(strstr(reason, "the route has 7 cells between start and goal, a shortest one 5"));
    with_route(in, right_down, 4, ans); /* the last cell missing: a gap before G */
    ck_assert(!verify(in, ans, reason));
    ck_assert_ptr_nonnull(strstr(reason, "do not join"));
    with_route(in, right_down, 5, ans);
    ans[cell(20, 20)] = ROUTE;
    ck_assert(!verify(in, ans, reason));
    ck_assert_ptr_nonnull(strstr(reason, "6 cells"));
    memcpy(ans, in, N); /* no route at all */
    ck_assert(!verify(in, ans, reason));

    in[cell(0, 2)] = WALL; /* through a wall */
    with_route(in, right_down, 5, ans);
    ck_assert(!verify(in, ans, reason));
    ck_assert_ptr_nonnull(strstr(reason, "where the maze has '#'"));
    with_route(in, down_right, 5, ans);
    ck_assert(verify(in, ans, reason));
    ans[cell(3, 3)] = ROUTE; /* the goal overwritten */
    ck_assert(!verify(in, ans, reason));
    with_route(in, down_right, 5, ans);
    ans[cell(9, 9)] = 0; /* PAD */
    ck_assert(!verify(in, ans, reason));
}
END_TEST

START_TEST(test_verify_edges) {
    char reason[128];
    uint8_t in[N], ans[N];
    bool ok;
    open_field(in);
    in[cell(0, 1)] = in[cell(1, 0)] = WALL; /* S walled in: no route, so none may be marked */
    memcpy(ans, in, N);
    ck_assert(verify(in, ans, reason));
    ans[cell(2, 2)] = ROUTE;
    ck_assert(!verify(in, ans, reason));
    ck_assert_ptr_nonnull(strstr(reason, "cannot be reached"));
    open_field(in);
    in[cell(3, 3)] = OPEN;
    in[cell(0, 1)] = G; /* S next to G: an empty route */
    memcpy(ans, in, N);
    ck_assert(verify(in, ans, reason));
    in[cell(5, 5)] = S; /* two starts: not a puzzle */
    ck_assert_int_eq(T->verify(in, ans, NULL, &ok, reason, sizeof reason), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(T->verify(in, NULL, NULL, &ok, reason, sizeof reason), HRM_ERR_INVALID_ARG);
    for (int k = 0; k < 3; k++) {
        tokens_of(fix_q[k], in);
        tokens_of(fix_a[k], ans);
        ck_assert(verify(in, ans, reason));
    }
}
END_TEST

START_TEST(test_verify_file) {
    long ok = -1, rejected = -1;
    char err[256];
    ck_assert_int_eq(T->verify_file(&host, FIXTURE, &ok, &rejected, err, sizeof err), HRM_OK);
    ck_assert_int_eq(ok, 3);
    ck_assert_int_eq(rejected, 0);
    ck_assert_int_eq(nlines, 0);
    ck_assert_int_eq(T->verify_file(&host, MAZE_TESTDATA "/README.md", &ok, &rejected, err, sizeof err),
                     HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, ":1: header"));
}
END_TEST

/* ---- render and parse ------------------------------------------------------------------------- */

START_TEST(test_render_parse) {
    static char text[64 * 1024];
    char err[256];
    uint8_t in[N], ans[N], back[N];
    tokens_of(fix_q[0], in);
    tokens_of(fix_a[0], ans);
    ck_assert_int_eq(T->render(in, NULL, false, text, sizeof text), HRM_OK);
    ck_assert_uint_eq(strlen(text), 30 * 31);
    for (int r = 0; r < SIDE; r++) {
        ck_assert_int_eq(text[r * 31 + 30], '\n');
        ck_assert_int_eq(memcmp(text + r * 31, fix_q[0] + r * SIDE, SIDE), 0);
    }
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_OK);
    ck_assert_mem_eq(back, in, N);
    ck_assert_int_eq(T->parse_puzzle(fix_q[0], back, err, sizeof err), HRM_OK); /* one line of 900 */
    ck_assert_mem_eq(back, in, N);

    ck_assert_int_eq(T->render(ans, in, true, text, sizeof text), HRM_OK);
    int routes = 0;
    for (char *p = text; (p = strstr(p, "\x1b[1;33mo\x1b[0m")); p++) routes++;
    ck_assert_int_eq(routes, (int)fix_rating[0] - 2);
    ck_assert_ptr_null(strstr(text, "\x1b[1;41m"));
    ans[find(ans, WALL)] = OPEN; /* a change that is no route is shown apart */
    ck_assert_int_eq(T->render(ans, in, true, text, sizeof text), HRM_OK);
    ck_assert_ptr_nonnull(strstr(text, "\x1b[1;41m \x1b[0m"));
    ck_assert_int_eq(T->render(ans, in, false, text, sizeof text), HRM_OK);
    ck_assert_ptr_null(strchr(text, '\x1b'));
    ck_assert_int_eq(T->render(in, NULL, false, text, 900), HRM_ERR_INVALID_ARG);
}
END_TEST

/* fix_q[0] as 30 lines joined by sep, then tail; row `bad_row` cut to `width` characters. */
static void lines_of(char *text, const char *sep, const char *tail, int rows, int bad_row, int width) {
    size_t len = 0;
    for (int r = 0; r < rows; r++) {
        size_t w = r == bad_row ? (size_t)width : SIDE;
        memcpy(text + len, fix_q[0] + r * SIDE, w);
        strcpy(text + len + w, r < rows - 1 ? sep : tail);
        len = strlen(text);
    }
}

START_TEST(test_parse) {
    static char text[4096];
    char err[256];
    uint8_t in[N], back[N];
    tokens_of(fix_q[0], in);
    lines_of(text, "\r\n", "\r\n\n", SIDE, -1, 0);
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_OK);
    ck_assert_mem_eq(back, in, N);
    lines_of(text, "\n", "", SIDE, -1, 0);
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_OK);
    lines_of(text, "\n", "\n", SIDE - 1, -1, 0);
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "found 29 lines"));
    lines_of(text, "\n", "\n", SIDE, 4, 29); /* an editor ate a trailing space */
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "line 5 has 29 characters"));
    ck_assert_int_eq(T->parse_puzzle(fix_a[0], back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "'o'"));
    snprintf(text, sizeof text, "%s", fix_q[0]);
    text[0] = 'x';
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "line 1 column 1 is 'x'"));
    text[0] = 'G';
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "1 starts and 2 goals"));
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_int_eq(T->parse_puzzle("", back, err, sizeof err), HRM_ERR_INVALID_ARG);
}
END_TEST

/* ---- generate --------------------------------------------------------------------------------- */

/* Checks generated lines: header, source, one S and G, walls within [wmin, wmax] of the cells,
 * a verified answer, rating = route length >= min_length, measured by this file's search. */
static void check_generated(int n, const char *source, int min_length, double wmin, double wmax) {
    ck_assert_int_eq(nlines, n + 1);
    ck_assert_str_eq(lines[0], "source,question,answer,rating");
    for (int k = 1; k <= n; k++) {
        const char *q = strchr(lines[k], ',') + 1, *a = q + N + 1;
        ck_assert_int_eq(strncmp(lines[k], source, strlen(source)), 0);
        ck_assert(q[N] == ',' && a[N] == ',');
        ck_assert_uint_eq(strspn(q, "# SG"), N);
        ck_assert_uint_eq(strspn(a, "# SGo"), N);
        uint8_t in[N], ans[N];
        char reason[128];
        tokens_of(q, in);
        tokens_of(a, ans);
        ck_assert_int_eq(count(in, S), 1);
        ck_assert_int_eq(count(in, G), 1);
        int walls = count(in, WALL);
        ck_assert(walls >= wmin * N - 0.5 && walls <= wmax * N + 0.5);
        long rating = atol(a + N + 1);
        ck_assert_int_eq(rating, t_distance(in) + 1);
        ck_assert_int_ge(rating, min_length);
        ck_assert_int_eq(count(ans, ROUTE), rating - 2);
        ck_assert_msg(verify(in, ans, reason), "maze %d: %s", k, reason);
        uint8_t route[N];
        t_data_route(in, route);
        ck_assert_mem_eq(route, ans, N); /* the route the data would mark */
    }
}

START_TEST(test_generate) {
    char err[256];
    clock_t t0 = clock();
    ck_assert_int_eq(generate(err, "--count", "3", "--seed", "2", NULL), HRM_OK);
    fprintf(stderr, "generate --count 3 (route >= 110): %.2f s CPU\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    check_generated(3, "gen-maze-seed2,", 110, 0.3, 0.5);
    ck_assert_int_eq(generate(err, "--count", "20", "--seed", "9", "--min-length", "30", "--wall-min", "0.2",
                              "--wall-max", "0.25", NULL),
                     HRM_OK);
    check_generated(20, "gen-maze-seed9,", 30, 0.2, 0.25);
    char *first = strdup(lines[1]);
    ck_assert_int_eq(generate(err, "--count", "1", "--seed", "9", "--min-length", "30", "--wall-min", "0.2",
                              "--wall-max", "0.25", NULL),
                     HRM_OK);
    ck_assert_str_eq(lines[1], first);
    ck_assert_int_eq(generate(err, "--count", "1", "--seed", "10", "--min-length", "30", "--wall-min", "0.2",
                              "--wall-max", "0.25", NULL),
                     HRM_OK);
    ck_assert_str_ne(strchr(lines[1], ','), strchr(first, ','));
    free(first);
}
END_TEST

/* Without walls the longest routes join opposite corners (59 cells); --min-length 58 keeps those and
 * the pairs one step short of them, which the bound must not exclude. */
START_TEST(test_generate_bound) {
    char err[256];
    ck_assert_int_eq(generate(err, "--count", "6", "--wall-min", "0", "--wall-max", "0", "--min-length", "58", NULL),
                     HRM_OK);
    check_generated(6, "gen-maze-seed0,", 58, 0, 0);
    int at_bound = 0;
    for (int k = 1; k <= 6; k++) at_bound += atol(strrchr(lines[k], ',') + 1) == 58;
    ck_assert_int_gt(at_bound, 0);
}
END_TEST

/* Start and goal are uniform over the cells: of 200 mazes, no band of 7 rows (23% of the cells)
 * holds more than 40% of the starts or of the goals. */
START_TEST(test_generate_spread) {
    char err[256];
    ck_assert_int_eq(generate(err, "--count", "200", "--seed", "4", "--min-length", "2", NULL), HRM_OK);
    int per_row[2][SIDE] = {{0}};
    for (int k = 1; k <= 200; k++) {
        uint8_t in[N];
        tokens_of(strchr(lines[k], ',') + 1, in);
        per_row[0][find(in, S) / SIDE]++;
        per_row[1][find(in, G) / SIDE]++;
    }
    for (int e = 0; e < 2; e++)
        for (int top = 0; top + 7 <= SIDE; top++) {
            int n = 0;
            for (int r = top; r < top + 7; r++) n += per_row[e][r];
            ck_assert_msg(n <= 80, "%d of 200 %s in rows %d-%d", n, e ? "goals" : "starts", top + 1, top + 7);
        }
}
END_TEST

START_TEST(test_generate_options) {
    char err[256];
    ck_assert_int_eq(generate(err, "--seed", "1", NULL), HRM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--count"));
    ck_assert_int_eq(generate(err, "--count", "1", "--wall-min", "0.6", "--wall-max", "0.5", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", "1", "--wall-max", "0.99", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", "1", "--min-length", "901", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", "1", "--holdout", "1", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", NULL), HRM_ERR_USAGE);
}
END_TEST

static Suite *maze_suite(void) {
    Suite *s = suite_create("task-maze");
    TCase *tc = tcase_create("maze");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_encoding);
    tcase_add_test(tc, test_splits);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
    tcase_add_test(tc, test_verify_routes);
    tcase_add_test(tc, test_verify_edges);
    tcase_add_test(tc, test_verify_file);
    tcase_add_test(tc, test_render_parse);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_generate_bound);
    tcase_add_test(tc, test_generate_spread);
    tcase_add_test(tc, test_generate_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return task_csv_test_main(argc, argv, maze_suite, setup); }
