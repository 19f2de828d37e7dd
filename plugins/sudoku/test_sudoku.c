/* plugins/sudoku/test_sudoku.c - tests of the Sudoku task plugin, called through the table that
 * hrm_task_entry() returns, with a recording host and sink: the encoding of known rows, the
 * augmentation, the splits, seeds, malformed rows, the verifier, render/parse, and the generator,
 * whose puzzles are checked by a solver of this file (independent of the plugin's). With
 * HRM_SHARED_DATA set to the benchmark data folder, every row of hard_train_1k.csv must verify. */
#include <check.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hrm/task.h"
#include "sudoku.h"

const hrm_task_iface *hrm_task_entry(void);

#define FIXTURE SUDOKU_TESTDATA "/hard_train_5.csv"
#define HEADER "source,question,answer,rating\n"

enum { MAX_EXAMPLES = 4096, MAX_LINES = 2048, N = 81 };

/* The fixture's rows (hard_train_1k.csv lines 2-6). */
static const char *const fix_q[5] = {
    "6..2.......1.75..3....9..8..6.....17.......35..51.78..2...4...8...9.......3..8.5.",
    "...3....1.8...9.6.....2...5..1..7.9....5....4.6..3.....192......78...4..6....8.1.",
    ".5...9.7.1...8.3....76...4.7......13..2...7......7..8..6.5.......9..4...2...1.8..",
    "...7...3...7.5.....4...9..8..8..249..2.....1.4..5....2.8...5..93..8..6....1.6....",
    "....9..2.7..6...5.....7.3...8.7...4......19..5...4...246......385..1...4..74..58.",
};
static const char *const fix_a[5] = {
    "637281549891475623524396781968534217712869435345127896259743168186952374473618952",
    "746385921582149367193726845431867592827591634965432178319254786278613459654978213",
    "358249671146785392927631548785496213412358769693172485861527934539864127274913856",
    "962784135837251964145639278578312496629478513413596782786145329394827651251963847",
    "635194827729683451148275369381729645274561938596348712462857193853916274917432586",
};

#define TR_TASK "sudoku"
#define TR_SHARED_CSV "sudoku/hard_train_1k.csv" /* under $HRM_SHARED_DATA: task_test_main.h */
#include "task_test_rec.h"
#include "task_test_main.h"

static void setup(void) {
    T = hrm_task_entry();
    reset();
}

/* ---- encodings and an independent solver ----------------------------------------------------- */

static void tokens_of(const char *s, uint8_t *t) {
    for (int i = 0; i < N; i++) t[i] = (uint8_t)(s[i] == '.' ? 1 : s[i] - '0' + 1);
}

static bool can_place(const uint8_t *g, int i, int d) {
    int r = i / 9, c = i % 9, br = r / 3 * 3, bc = c / 3 * 3;
    for (int k = 0; k < 9; k++)
        if (g[r * 9 + k] == d || g[k * 9 + c] == d || g[(br + k / 3) * 9 + bc + k % 3] == d) return false;
    return true;
}

/* Counts solutions of g (digits, 0 blank) up to limit, most constrained blank first; *guesses
 * counts digits placed in cells with two or more candidates (the rating's definition). */
static int t_solve(uint8_t *g, int limit, long *guesses, uint8_t *first) {
    int best = -1, best_n = 10;
    for (int i = 0; i < N; i++) {
        if (g[i]) continue;
        int n = 0;
        for (int d = 1; d <= 9; d++) n += can_place(g, i, d);
        if (n < best_n) {
            best = i;
            best_n = n;
        }
    }
    if (best < 0) {
        if (first) memcpy(first, g, N);
        return 1;
    }
    int found = 0;
    for (int d = 1; d <= 9 && found < limit; d++) {
        if (!can_place(g, best, d)) continue;
        if (best_n > 1) ++*guesses;
        g[best] = (uint8_t)d;
        found += t_solve(g, limit - found, guesses, found ? NULL : first);
        g[best] = 0;
    }
    return found;
}

static bool t_valid_grid(const uint8_t *g) {
    uint8_t copy[N];
    memcpy(copy, g, N);
    for (int i = 0; i < N; i++) {
        if (copy[i] < 1 || copy[i] > 9) return false;
        int d = copy[i];
        copy[i] = 0;
        if (!can_place(copy, i, d)) return false;
        copy[i] = (uint8_t)d;
    }
    return true;
}

static void digits_of_tokens(const uint8_t *t, uint8_t *g) {
    for (int i = 0; i < N; i++) g[i] = (uint8_t)(t[i] - 1);
}

/* ---- format and encoding ---------------------------------------------------------------------- */

START_TEST(test_table) {
    ck_assert_uint_eq(T->abi_version, HRM_TASK_ABI_VERSION);
    ck_assert_uint_eq(T->struct_size, sizeof(hrm_task_iface));
    ck_assert_str_eq(T->name, "sudoku");
    /* dataset.json of the published build_sudoku_dataset.py */
    ck_assert_int_eq(T->format.seq_len, 81);
    ck_assert_int_eq(T->format.vocab_size, 11);
    ck_assert_int_eq(T->format.pad_id, 0);
    ck_assert(T->format.has_ignore_label);
    ck_assert_int_eq(T->format.ignore_label_id, 0);
    ck_assert(T->build && T->generate && T->verify_file && T->verify && T->render && T->parse_puzzle);
    ck_assert(!T->eval_begin && !T->eval_add && !T->eval_end);
    ck_assert_ptr_nonnull(strstr(T->build_usage, "--aug"));
}
END_TEST

START_TEST(test_encoding) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 5);
    ck_assert_int_eq(train_rec.puzzles, 5);
    ck_assert_int_eq(train_rec.examples, 5);
    ck_assert_int_eq(test_rec.examples, 0);
    ck_assert(!train_rec.named);
    for (int k = 0; k < 5; k++) {
        uint8_t in[N], lab[N];
        tokens_of(fix_q[k], in);
        tokens_of(fix_a[k], lab);
        ck_assert_mem_eq(train_rec.input[k], in, N);
        ck_assert_mem_eq(train_rec.label[k], lab, N);
        ck_assert_int_eq(train_rec.puzzle_group[k], k);
    }
    /* "6..2..." -> 7 1 1 3; the answer "637..." -> 7 4 8 */
    ck_assert_int_eq(train_rec.input[0][0], 7);
    ck_assert_int_eq(train_rec.input[0][1], 1);
    ck_assert_int_eq(train_rec.input[0][3], 3);
    ck_assert_int_eq(train_rec.label[0][1], 4);
    ck_assert_int_eq(train_rec.label[0][2], 8);
}
END_TEST

START_TEST(test_crlf_and_zero_blanks) {
    char text[2048], err[256];
    snprintf(text, sizeof text, "source,question,answer,rating\r\nx,%s,%s,3\r\n", fix_q[0], fix_a[0]);
    char *q = strstr(text, fix_q[0]);
    for (int i = 0; i < N; i++)
        if (q[i] == '.') q[i] = '0';
    ck_assert_int_eq(build(err, "--train", temp_csv(text), NULL), HRM_OK);
    ck_assert_int_eq(train_rec.examples, 1);
    uint8_t in[N];
    tokens_of(fix_q[0], in);
    ck_assert_mem_eq(train_rec.input[0], in, N);
    ck_assert_int_eq(warnings, 0);
}
END_TEST

/* ---- augmentation ----------------------------------------------------------------------------- */

START_TEST(test_aug_build) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--aug", "3", "--holdout", "1", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 4);
    ck_assert_int_eq(train_rec.puzzles, 16);
    ck_assert_int_eq(train_rec.examples, 16);
    ck_assert_int_eq(test_rec.puzzles, 1); /* the test split is never augmented */
    for (int p = 0; p < 16; p++) {
        ck_assert_int_eq(train_rec.example_puzzle[p], p);
        ck_assert_int_eq(train_rec.puzzle_group[p], p / 4);
        uint8_t g[N], s[N], orig[N];
        digits_of_tokens(train_rec.input[p], g);
        digits_of_tokens(train_rec.label[p], s);
        ck_assert(t_valid_grid(s));
        int givens = 0, orig_givens = 0;
        digits_of_tokens(train_rec.input[p / 4 * 4], orig);
        for (int i = 0; i < N; i++) {
            if (g[i]) ck_assert_int_eq(g[i], s[i]); /* the label agrees with its own input */
            givens += g[i] != 0;
            orig_givens += orig[i] != 0;
        }
        ck_assert_int_eq(givens, orig_givens);
        if (p % 4) ck_assert_mem_ne(train_rec.input[p], train_rec.input[p / 4 * 4], N);
    }
}
END_TEST

/* Every augmentation: digit and cell maps are bijections, rows map to rows or columns and boxes to
 * boxes, a valid grid stays valid; and about half of them transpose. */
START_TEST(test_aug_maps) {
    task_rng rng;
    task_rng_seed(&rng, 11);
    uint8_t grid[N], out[N];
    tokens_of(fix_a[0], grid);
    for (int i = 0; i < N; i++) grid[i]--;
    int transposed = 0;
    for (int k = 0; k < 2000; k++) {
        sudoku_aug a;
        sudoku_aug_draw(&rng, &a);
        ck_assert_int_eq(a.digit[0], 0);
        bool seen_d[10] = {0}, seen_c[N] = {0};
        for (int d = 1; d <= 9; d++) {
            ck_assert(a.digit[d] >= 1 && a.digit[d] <= 9 && !seen_d[a.digit[d]]);
            seen_d[a.digit[d]] = true;
        }
        for (int i = 0; i < N; i++) {
            ck_assert(a.src[i] < N && !seen_c[a.src[i]]);
            seen_c[a.src[i]] = true;
        }
        /* row 0 of the output comes from one old row, or (transposed) one old column */
        bool row = true, col = true;
        for (int c = 0; c < 9; c++) {
            row &= a.src[c] / 9 == a.src[0] / 9;
            col &= a.src[c] % 9 == a.src[0] % 9;
        }
        ck_assert(row != col);
        transposed += col;
        for (int b = 0; b < 9; b++) {
            int first = (b / 3) * 27 + (b % 3) * 3, box0 = (a.src[first] / 27) * 3 + (a.src[first] % 9) / 3;
            for (int k2 = 0; k2 < 9; k2++) {
                int i = first + (k2 / 3) * 9 + k2 % 3;
                ck_assert_int_eq((a.src[i] / 27) * 3 + (a.src[i] % 9) / 3, box0);
            }
        }
        sudoku_aug_apply(&a, grid, out);
        ck_assert(t_valid_grid(out));
        for (int i = 0; i < N; i++) ck_assert_int_eq(out[i], a.digit[grid[a.src[i]]]);
    }
    ck_assert(transposed > 900 && transposed < 1100);
}
END_TEST

/* ---- splits and seeds ------------------------------------------------------------------------- */

/* Which fixture row an encoded input is; -1 for none. */
static int fixture_row(const uint8_t *input) {
    for (int k = 0; k < 5; k++) {
        uint8_t in[N];
        tokens_of(fix_q[k], in);
        if (!memcmp(in, input, N)) return k;
    }
    return -1;
}

START_TEST(test_holdout) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--holdout", "2", "--seed", "4", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 3);
    ck_assert_int_eq(test_rec.groups, 2);
    ck_assert_int_eq(test_rec.examples, 2);
    int seen[5] = {0}, last = -1;
    for (int k = 0; k < 3; k++) {
        int row = fixture_row(train_rec.input[k]);
        ck_assert_int_gt(row, last); /* file order kept */
        last = row;
        seen[row]++;
    }
    for (int k = 0; k < 2; k++) seen[fixture_row(test_rec.input[k])]++;
    for (int k = 0; k < 5; k++) ck_assert_int_eq(seen[k], 1);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--holdout", "5", NULL), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "--holdout"));
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--test", FIXTURE, "--holdout", "1", NULL), HRM_ERR_USAGE);
}
END_TEST

/* The rows a split holds, as a bit mask of fixture rows. */
static int rows_mask(const split_rec *r) {
    int mask = 0;
    for (long k = 0; k < r->examples; k++) mask |= 1 << fixture_row(r->input[k]);
    return mask;
}

/* --holdout and --subsample draw their rows from the seed: ten seeds give several selections. */
START_TEST(test_split_seeds) {
    char err[256], seed[8];
    bool held[32] = {0}, kept[32] = {0};
    int n_held = 0, n_kept = 0;
    for (int s = 0; s < 10; s++) {
        snprintf(seed, sizeof seed, "%d", s);
        ck_assert_int_eq(build(err, "--train", FIXTURE, "--holdout", "2", "--seed", seed, NULL), HRM_OK);
        n_held += !held[rows_mask(&test_rec)];
        held[rows_mask(&test_rec)] = true;
        ck_assert_int_eq(build(err, "--train", FIXTURE, "--subsample", "2", "--seed", seed, NULL), HRM_OK);
        n_kept += !kept[rows_mask(&train_rec)];
        kept[rows_mask(&train_rec)] = true;
    }
    ck_assert_int_ge(n_held, 3);
    ck_assert_int_ge(n_kept, 3);
}
END_TEST

START_TEST(test_subsample) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--subsample", "3", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 3);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--subsample", "9", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 5);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--holdout", "1", "--subsample", "2", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 2);
    ck_assert_int_eq(test_rec.groups, 1);
    int t = fixture_row(test_rec.input[0]);
    for (int k = 0; k < 2; k++) ck_assert_int_ne(fixture_row(train_rec.input[k]), t);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--subsample", "x", NULL), HRM_ERR_USAGE);
}
END_TEST

START_TEST(test_test_file) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--test", FIXTURE, "--aug", "2", NULL), HRM_OK);
    ck_assert_int_eq(train_rec.puzzles, 15);
    ck_assert_int_eq(test_rec.groups, 5);
    ck_assert_int_eq(test_rec.puzzles, 5);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(fixture_row(test_rec.input[k]), k);
}
END_TEST

static bool same_split(const split_rec *a, const split_rec *b) {
    size_t n = (size_t)a->examples * N;
    return a->groups == b->groups && a->puzzles == b->puzzles && a->examples == b->examples &&
           !memcmp(a->input, b->input, n) && !memcmp(a->label, b->label, n);
}

START_TEST(test_seed) {
    static split_rec first_train, first_test;
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--aug", "2", "--holdout", "2", "--seed", "7", NULL), HRM_OK);
    memcpy(&first_train, &train_rec, sizeof train_rec);
    memcpy(&first_test, &test_rec, sizeof test_rec);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--aug", "2", "--holdout", "2", "--seed", "7", NULL), HRM_OK);
    ck_assert(same_split(&first_train, &train_rec));
    ck_assert(same_split(&first_test, &test_rec));
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--aug", "2", "--holdout", "2", "--seed", "8", NULL), HRM_OK);
    ck_assert(!same_split(&first_train, &train_rec));
}
END_TEST

START_TEST(test_min_rating) {
    char err[256];
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--min-rating", "25", NULL), HRM_OK); /* ratings 51 29 22 20 12 */
    ck_assert_int_eq(train_rec.groups, 2);
    ck_assert_int_eq(fixture_row(train_rec.input[0]), 0);
    ck_assert_int_eq(fixture_row(train_rec.input[1]), 1);
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--min-rating", "100", NULL), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "no usable rows"));
}
END_TEST

START_TEST(test_bad_options) {
    char err[256];
    ck_assert_int_eq(build(err, NULL), HRM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--train"));
    ck_assert_int_eq(build(err, "--train", FIXTURE, "--bogus", NULL), HRM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--bogus"));
    ck_assert_int_eq(build(err, "--train", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(build(err, "--train", "/nonexistent/x.csv", NULL), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.csv"));
    ck_assert_int_eq(build(err, "--train", temp_csv("source,question,answer\n"), NULL), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, ":1: header"));
    ck_assert_int_eq(build(err, "--train", temp_csv(""), NULL), HRM_ERR_INVALID_ARG);
}
END_TEST

/* ---- malformed rows --------------------------------------------------------------------------- */

/* A malformed row: built from fixture row 0 by edit, and what the error must say. */
typedef struct bad_row {
    const char *name, *expect;
    void (*edit)(char *q, char *a, char *row, size_t size);
} bad_row;

static void short_question(char *q, char *a, char *row, size_t n) { snprintf(row, n, "s,%.80s,%s,1", q, a); }
static void plain_row(char *q, char *a, char *row, size_t n) { snprintf(row, n, "s,%s,%s,1", q, a); }
static void bad_question_char(char *q, char *a, char *row, size_t n) {
    q[5] = 'x';
    plain_row(q, a, row, n);
}
static void blank_in_answer(char *q, char *a, char *row, size_t n) {
    a[7] = '.';
    plain_row(q, a, row, n);
}
static void zero_in_answer(char *q, char *a, char *row, size_t n) {
    a[7] = '0';
    plain_row(q, a, row, n);
}
static void long_answer(char *q, char *a, char *row, size_t n) { snprintf(row, n, "s,%s,%s1,1", q, a); }
static void three_fields(char *q, char *a, char *row, size_t n) { snprintf(row, n, "s,%s%s,1", q, a); }
static void five_fields(char *q, char *a, char *row, size_t n) { snprintf(row, n, "s,%s,%s,1,2", q, a); }
static void bad_rating(char *q, char *a, char *row, size_t n) { snprintf(row, n, "s,%s,%s,hard", q, a); }
static void empty_line(char *q, char *a, char *row, size_t n) {
    (void)q;
    (void)a;
    (void)n;
    row[0] = '\0';
}

/* Cell 1 is blank in the question; a digit there that repeats in its row spoils the grid. */
static void invalid_grid(char *q, char *a, char *row, size_t n) {
    a[1] = a[2];
    plain_row(q, a, row, n);
}

/* Digits 2 and 7 swapped everywhere: a valid grid that disagrees with the given 2 of cell 3. */
static void given_disagrees(char *q, char *a, char *row, size_t n) {
    for (int i = 0; i < N; i++) a[i] = a[i] == '2' ? '7' : a[i] == '7' ? '2' : a[i];
    plain_row(q, a, row, n);
}

static const bad_row bad_rows[] = {
    {"short question", "question has 80 characters", short_question},
    {"bad question character", "question character 6 is 'x'", bad_question_char},
    {"blank in answer", "answer character 8 is '.'", blank_in_answer},
    {"zero in answer", "answer character 8 is '0'", zero_in_answer},
    {"long answer", "answer has 82 characters", long_answer},
    {"three fields", "found 3", three_fields},
    {"five fields", "found 5", five_fields},
    {"bad rating", "rating 'hard'", bad_rating},
    {"empty line", "found 1", empty_line},
    {"invalid grid", "repeats digit", invalid_grid},
    {"given disagrees", "the puzzle gives 2", given_disagrees},
};

/* Fixture rows 0 and 1 around the bad row: the bad row is on line 3. */
static const char *bad_file(const bad_row *b) {
    char q[N + 1], a[N + 1], row[512], text[2048];
    strcpy(q, fix_q[0]);
    strcpy(a, fix_a[0]);
    b->edit(q, a, row, sizeof row);
    snprintf(text, sizeof text, HEADER "s,%s,%s,5\n%s\ns,%s,%s,6\n", fix_q[0], fix_a[0], row, fix_q[1], fix_a[1]);
    return temp_csv(text);
}

START_TEST(test_malformed) {
    const bad_row *b = &bad_rows[_i];
    const char *path = bad_file(b);
    char err[256], want[256];
    ck_assert_int_eq(build(err, "--train", path, NULL), HRM_OK);
    ck_assert_int_eq(train_rec.groups, 2);
    ck_assert_int_eq(warnings, 2); /* the row, then the count */
    snprintf(want, sizeof want, "%s:3: ", path);
    ck_assert_msg(strstr(log_text, want) && strstr(log_text, b->expect), "%s: log was %s", b->name, log_text);
    ck_assert_ptr_nonnull(strstr(log_text, "skipped 1 malformed rows"));

    ck_assert_int_eq(build(err, "--train", path, "--strict", NULL), HRM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err, want) && strstr(err, b->expect), "%s: error was %s", b->name, err);
    ck_assert_int_eq(train_rec.examples, 0);

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

static bool verify(const uint8_t *in, const uint8_t *ans, char *reason) {
    bool ok = false;
    ck_assert_int_eq(T->verify(in, ans, NULL, &ok, reason, 128), HRM_OK);
    return ok;
}

/* The token of the next digit, 9 wrapping to 1. */
static uint8_t next_digit(uint8_t token) { return (uint8_t)((token - 1) % 9 + 2); }

START_TEST(test_verify) {
    char reason[128];
    for (int k = 0; k < 5; k++) {
        uint8_t in[N], ans[N], bad[N];
        tokens_of(fix_q[k], in);
        tokens_of(fix_a[k], ans);
        ck_assert(verify(in, ans, reason));
        int blank = (int)(strchr(fix_q[k], '.') - fix_q[k]), given = (int)strspn(fix_q[k], ".");
        memcpy(bad, ans, N); /* one wrong digit in a blank cell */
        bad[blank] = next_digit(bad[blank]);
        ck_assert(!verify(in, bad, reason));
        ck_assert_ptr_nonnull(strstr(reason, "repeats"));
        for (int i = 0; i < N; i++) /* a given changed: digits relabelled, still a valid grid */
            bad[i] = next_digit(ans[i]);
        ck_assert(!verify(in, bad, reason));
        ck_assert_ptr_nonnull(strstr(reason, "the puzzle gives"));
        memcpy(bad, ans, N); /* incomplete */
        bad[blank] = 1;
        ck_assert(!verify(in, bad, reason));
        ck_assert_ptr_nonnull(strstr(reason, "blank"));
        bad[blank] = 0; /* PAD is no digit either */
        ck_assert(!verify(in, bad, reason));
        memcpy(bad, ans, N);
        bad[given] = next_digit(bad[given]);
        ck_assert(!verify(in, bad, reason));
    }
    /* each kind of unit alone: two cells swapped within a row and box break two columns only,
     * within a column and box two rows only; a cyclic Latin square breaks only boxes */
    uint8_t in[N], ans[N], bad[N];
    memset(in, 1, N);
    tokens_of(fix_a[0], ans);
    memcpy(bad, ans, N);
    bad[0] = ans[1];
    bad[1] = ans[0];
    ck_assert(!verify(in, bad, reason));
    ck_assert_ptr_nonnull(strstr(reason, "column 1 repeats"));
    memcpy(bad, ans, N);
    bad[0] = ans[9];
    bad[9] = ans[0];
    ck_assert(!verify(in, bad, reason));
    ck_assert_ptr_nonnull(strstr(reason, "row 1 repeats"));
    for (int i = 0; i < N; i++) bad[i] = (uint8_t)((i / 9 + i % 9) % 9 + 2);
    ck_assert(!verify(in, bad, reason));
    ck_assert_ptr_nonnull(strstr(reason, "box 1 repeats"));
    tokens_of(fix_q[0], in);
    in[4] = 11;
    bool ok;
    ck_assert_int_eq(T->verify(in, ans, NULL, &ok, reason, sizeof reason), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(T->verify(NULL, ans, NULL, &ok, reason, sizeof reason), HRM_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_verify_file) {
    long ok = -1, rejected = -1;
    char err[256];
    ck_assert_int_eq(T->verify_file(&host, FIXTURE, &ok, &rejected, err, sizeof err), HRM_OK);
    ck_assert_int_eq(ok, 5);
    ck_assert_int_eq(rejected, 0);
    ck_assert_int_eq(nlines, 0);
    ck_assert_int_eq(T->verify_file(&host, "/nonexistent.csv", &ok, &rejected, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(T->verify_file(&host, SUDOKU_TESTDATA "/README.md", &ok, &rejected, err, sizeof err),
                     HRM_ERR_INVALID_ARG); /* not this format */
}
END_TEST

/* ---- render and parse ------------------------------------------------------------------------- */

START_TEST(test_render_parse) {
    char text[4096], err[256];
    uint8_t in[N], ans[N], back[N];
    for (int k = 0; k < 5; k++) {
        tokens_of(fix_q[k], in);
        tokens_of(fix_a[k], ans);
        ck_assert_int_eq(T->render(in, NULL, false, text, sizeof text), HRM_OK);
        ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_OK);
        ck_assert_mem_eq(back, in, N);
        ck_assert_int_eq(T->render(ans, NULL, false, text, sizeof text), HRM_OK);
        ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_OK);
        ck_assert_mem_eq(back, ans, N);
        ck_assert_int_eq(T->parse_puzzle(fix_q[k], back, err, sizeof err), HRM_OK);
        ck_assert_mem_eq(back, in, N);
    }
    tokens_of(fix_q[0], in);
    tokens_of(fix_a[0], ans);
    ck_assert_int_eq(T->render(in, NULL, false, text, sizeof text), HRM_OK);
    ck_assert_int_eq(strncmp(text, "+-------+-------+-------+\n| 6 . . | 2 . . | . . . |\n", 52), 0);
    int nl = 0;
    for (char *p = text; *p; p++) nl += *p == '\n';
    ck_assert_int_eq(nl, 13);
    /* filled-in cells are marked, givens are not; a changed given is marked apart */
    int blanks = 0;
    for (int i = 0; i < N; i++) blanks += fix_q[0][i] == '.';
    ans[0] = 9;
    ck_assert_int_eq(T->render(ans, in, false, text, sizeof text), HRM_OK);
    int stars = 0, bangs = 0;
    for (char *p = text; *p; p++) {
        stars += *p == '*';
        bangs += *p == '!';
    }
    ck_assert_int_eq(stars, blanks);
    ck_assert_int_eq(bangs, 1);
    ck_assert_ptr_null(strchr(text, '\x1b'));
    ck_assert_int_eq(T->render(ans, in, true, text, sizeof text), HRM_OK);
    ck_assert_ptr_nonnull(strstr(text, "\x1b[1;31m8\x1b[0m"));
    ck_assert_ptr_null(strchr(text, '*'));
    ck_assert_int_eq(T->render(in, NULL, false, text, 100), HRM_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_parse_errors) {
    char err[256], text[256];
    uint8_t back[N];
    snprintf(text, sizeof text, " %.40s\n%s \r\n", fix_q[0], fix_q[0] + 40);
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_OK);
    ck_assert_int_eq(T->parse_puzzle("123", back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "found 3 cells"));
    snprintf(text, sizeof text, "%s1", fix_q[0]);
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "82"));
    snprintf(text, sizeof text, "%.10sx%s", fix_q[0], fix_q[0] + 11);
    ck_assert_int_eq(T->parse_puzzle(text, back, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "character 11 is 'x'"));
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* ---- generate --------------------------------------------------------------------------------- */

/* Checks generated CSV lines[1..]: the header, unique solutions equal to the answer, ratings as
 * this file's solver counts them, the source name; returns the sum of the givens. */
static long check_generated(int count, const char *source) {
    ck_assert_int_eq(nlines, count + 1);
    ck_assert_str_eq(lines[0], "source,question,answer,rating");
    long givens = 0;
    for (int k = 1; k <= count; k++) {
        char src[64], q[N + 1], a[N + 1];
        long rating, guesses = 0;
        ck_assert_int_eq(sscanf(lines[k], "%63[^,],%81[^,],%81[^,],%ld", src, q, a, &rating), 4);
        ck_assert_str_eq(src, source);
        uint8_t g[N], sol[N], want[N];
        for (int i = 0; i < N; i++) {
            g[i] = (uint8_t)(q[i] == '.' ? 0 : q[i] - '0');
            want[i] = (uint8_t)(a[i] - '0');
            givens += g[i] != 0;
        }
        ck_assert_int_eq(t_solve(g, 2, &guesses, sol), 1);
        ck_assert_mem_eq(sol, want, N);
        guesses = 0;
        t_solve(g, 1, &guesses, NULL);
        ck_assert_int_eq(rating, guesses);
    }
    return givens;
}

START_TEST(test_generate) {
    char err[256];
    ck_assert_int_eq(generate(err, "--count", "40", "--seed", "3", "--givens", "30", NULL), HRM_OK);
    ck_assert_int_eq(check_generated(40, "gen-sudoku-seed3"), 40 * 30);
    char *first = strdup(lines[1]);
    ck_assert_int_eq(generate(err, "--count", "1", "--seed", "3", "--givens", "30", NULL), HRM_OK);
    ck_assert_str_eq(lines[1], first);
    ck_assert_int_eq(generate(err, "--count", "1", "--seed", "4", "--givens", "30", NULL), HRM_OK);
    ck_assert_str_ne(strchr(lines[1], ','), strchr(first, ','));
    free(first);
}
END_TEST

/* Without --givens the puzzles are minimal: no given can go without a second solution. */
START_TEST(test_generate_minimal) {
    char err[256];
    ck_assert_int_eq(generate(err, "--count", "8", "--seed", "5", NULL), HRM_OK);
    check_generated(8, "gen-sudoku-seed5");
    for (int k = 1; k <= 8; k++) {
        uint8_t g[N];
        long guesses = 0;
        const char *q = strchr(lines[k], ',') + 1;
        for (int i = 0; i < N; i++) g[i] = (uint8_t)(q[i] == '.' ? 0 : q[i] - '0');
        for (int i = 0; i < N; i++) {
            if (!g[i]) continue;
            uint8_t d = g[i];
            g[i] = 0;
            ck_assert_int_eq(t_solve(g, 2, &guesses, NULL), 2);
            g[i] = d;
        }
    }
}
END_TEST

START_TEST(test_generate_ratings) {
    char err[256];
    ck_assert_int_eq(generate(err, "--count", "15", "--seed", "1", "--min-rating", "5", "--max-rating", "12", NULL),
                     HRM_OK);
    check_generated(15, "gen-sudoku-seed1");
    for (int k = 1; k <= 15; k++) {
        long r = atol(strrchr(lines[k], ',') + 1);
        ck_assert(r >= 5 && r <= 12);
    }
    ck_assert_int_eq(generate(err, "--seed", "1", NULL), HRM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--count"));
    ck_assert_int_eq(generate(err, "--count", "1", "--givens", "82", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", "1", "--min-rating", "9", "--max-rating", "3", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", "1", "--what", "3", NULL), HRM_ERR_USAGE);
    ck_assert_int_eq(generate(err, "--count", "1", "--verbose", NULL), HRM_ERR_USAGE);
    ck_assert_str_eq(err, "unknown option '--verbose'");
    /* a host without emit, or one whose table ends before it, gets no output: an error */
    hrm_task_host mute = {.struct_size = sizeof mute}, old = host;
    old.struct_size = offsetof(hrm_task_host, emit);
    char *argv[] = {"sudoku", "--count", "1"};
    ck_assert_int_eq(T->generate(&mute, 3, argv, err, sizeof err), HRM_ERR_INVALID_ARG);
    ck_assert_int_eq(T->generate(&old, 3, argv, err, sizeof err), HRM_ERR_INVALID_ARG);
}
END_TEST

/* The speed the brief asks for: 1000 puzzles of 30 givens in a few seconds; all checked. */
START_TEST(test_generate_1000) {
    char err[256];
    clock_t t0 = clock();
    ck_assert_int_eq(generate(err, "--count", "1000", "--givens", "30", NULL), HRM_OK);
    double seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    fprintf(stderr, "generate --count 1000 --givens 30: %.2f s CPU\n", seconds);
    ck_assert_int_eq(check_generated(1000, "gen-sudoku-seed0"), 1000 * 30);
}
END_TEST

static Suite *sudoku_suite(void) {
    Suite *s = suite_create("task-sudoku");
    TCase *tc = tcase_create("sudoku");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_encoding);
    tcase_add_test(tc, test_crlf_and_zero_blanks);
    tcase_add_test(tc, test_aug_build);
    tcase_add_test(tc, test_aug_maps);
    tcase_add_test(tc, test_holdout);
    tcase_add_test(tc, test_subsample);
    tcase_add_test(tc, test_split_seeds);
    tcase_add_test(tc, test_test_file);
    tcase_add_test(tc, test_seed);
    tcase_add_test(tc, test_min_rating);
    tcase_add_test(tc, test_bad_options);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
    tcase_add_test(tc, test_verify);
    tcase_add_test(tc, test_verify_file);
    tcase_add_test(tc, test_render_parse);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_generate_minimal);
    tcase_add_test(tc, test_generate_ratings);
    tcase_add_test(tc, test_generate_1000);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return task_csv_test_main(argc, argv, sudoku_suite, setup); }
