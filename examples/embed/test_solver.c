/* examples/embed/test_solver.c - unit tests of the public inference API (hrm/solver.h), written
 * against the public headers only:
 *   test_solver CHECKPOINT [--expect-early-halt]
 * meson passes tests/golden/init.safetensors, whose random Q head stops some puzzles before
 * halt_max_steps (--expect-early-halt asserts that it does); examples/embed/test.sh passes a
 * freshly trained one, whose puzzles all run to the limit.
 *
 * Checks: bad input (missing, truncated and garbage checkpoints, max_batch < 1, n outside
 * [1, max_batch], tokens and identifiers out of range) gives an error status and one line, and
 * leaves the outputs untouched; runs are repeatable; all_segments runs exactly M segments;
 * a puzzle's answer is the same alone and in a batch (q_halt to rounding); a puzzle that halts at
 * segment K answers exactly what K segments answer. */
#include <hrm/hrm.h>
#include <hrm/solver.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NP = 3 }; /* puzzles in the batch tests */

static const char *ckpt;
static bool expect_early; /* the checkpoint halts some of make_inputs' puzzles before halt_max_steps */
static hrm_solver *S;
static int L, V, HMAX, NID;
static char err[1024];

static void setup(void) {
    ck_assert_msg(hrm_solver_open(ckpt, NULL, NULL, NP, &S, err, sizeof err) == HRM_OK, "%s", err);
    hrm_solver_info(S, &L, &V, &HMAX, &NID);
    ck_assert(L > 0 && V > 1 && HMAX > 0 && NID > 0);
}

static void teardown(void) {
    hrm_solver_close(S);
    S = NULL;
}

/* Deterministic puzzles that use every token value. */
static int32_t *make_inputs(int n) {
    int32_t *t = malloc((size_t)n * L * sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < n * L; i++) t[i] = (int32_t)((i * 7 + i / L) % V);
    return t;
}

static void assert_one_line(hrm_status st, const char *want) {
    ck_assert_int_ne(st, HRM_OK);
    ck_assert_msg(err[0] && !strchr(err, '\n'), "not one line: '%s'", err);
    ck_assert_msg(strstr(err, want), "'%s' does not mention '%s'", err, want);
}

START_TEST(test_open_errors) {
    hrm_solver *s = (hrm_solver *)1;
    assert_one_line(hrm_solver_open("/nonexistent/x.safetensors", NULL, NULL, 1, &s, err, sizeof err),
                    "/nonexistent/x.safetensors");
    ck_assert_ptr_null(s);
    assert_one_line(hrm_solver_open(ckpt, NULL, NULL, 0, &s, err, sizeof err), "max_batch");
    ck_assert_ptr_null(s);
    ck_assert_int_ne(hrm_solver_open(NULL, NULL, NULL, 1, &s, NULL, 0), HRM_OK); /* err may be NULL */

    /* a truncated copy and a garbage file: errors naming the file, never a crash */
    FILE *in = fopen(ckpt, "rb");
    ck_assert_ptr_nonnull(in);
    static char data[1 << 22];
    size_t n = fread(data, 1, sizeof data, in);
    fclose(in);
    char path[] = "/tmp/test_solver_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const size_t cuts[] = {n / 2, 7};
    for (int c = 0; c < 2; c++) {
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        ck_assert_int_eq(pwrite(fd, data, cuts[c], 0), (ssize_t)cuts[c]);
        assert_one_line(hrm_solver_open(path, NULL, NULL, 1, &s, err, sizeof err), path);
    }
    memset(data, 'x', 4096);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(pwrite(fd, data, 4096, 0), 4096);
    assert_one_line(hrm_solver_open(path, NULL, NULL, 1, &s, err, sizeof err), path);
    close(fd);
    unlink(path);
    assert_one_line(hrm_solver_open(ckpt, "no-such-backend", NULL, 1, &s, err, sizeof err), "no-such-backend");
}
END_TEST

START_TEST(test_run_errors) {
    int32_t *in = make_inputs(NP + 1), *pred = malloc((size_t)(NP + 1) * L * sizeof *pred);
    int32_t ids[NP + 1] = {0};
    ck_assert_ptr_nonnull(pred);
    for (int i = 0; i < (NP + 1) * L; i++) pred[i] = -7;
    assert_one_line(hrm_solver_run(S, NP + 1, in, NULL, 0, false, pred, NULL, NULL, err, sizeof err), "max_batch");
    assert_one_line(hrm_solver_run(S, 0, in, NULL, 0, false, pred, NULL, NULL, err, sizeof err), "max_batch");

    in[L + 3] = V; /* puzzle 1, token 3: one past the vocabulary */
    assert_one_line(hrm_solver_run(S, 2, in, NULL, 0, false, pred, NULL, NULL, err, sizeof err), "token 3 is");
    in[L + 3] = -1;
    assert_one_line(hrm_solver_run(S, 2, in, NULL, 0, false, pred, NULL, NULL, err, sizeof err), "vocabulary");
    in[L + 3] = V - 1; /* the largest token is fine */
    ids[1] = NID;
    assert_one_line(hrm_solver_run(S, 2, in, ids, 0, false, pred, NULL, NULL, err, sizeof err), "identifier");
    ids[1] = -1;
    assert_one_line(hrm_solver_run(S, 2, in, ids, 0, false, pred, NULL, NULL, err, sizeof err), "identifier");
    ck_assert_int_ne(hrm_solver_run(S, 1, in, NULL, 0, false, NULL, NULL, NULL, NULL, 0), HRM_OK);
    for (int i = 0; i < (NP + 1) * L; i++) ck_assert_int_eq(pred[i], -7); /* untouched */

    ids[1] = NID - 1; /* the largest identifier is fine */
    ck_assert_msg(hrm_solver_run(S, 2, in, ids, 0, false, pred, NULL, NULL, err, sizeof err) == HRM_OK, "%s", err);
    for (int i = 0; i < 2 * L; i++) ck_assert(pred[i] >= 0 && pred[i] < V);
    free(in);
    free(pred);
}
END_TEST

START_TEST(test_repeatable) {
    int32_t *in = make_inputs(NP), p1[NP * 256], p2[NP * 256];
    int32_t ids[NP] = {0, NID - 1, NID / 2};
    int u1[NP], u2[NP];
    float q1[NP], q2[NP];
    ck_assert_int_le(L, 256);
    ck_assert_msg(hrm_solver_run(S, NP, in, ids, 0, false, p1, u1, q1, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_msg(hrm_solver_run(S, NP, in, ids, 0, false, p2, u2, q2, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_mem_eq(p1, p2, (size_t)NP * L * sizeof *p1);
    ck_assert_mem_eq(u1, u2, sizeof u1);
    ck_assert_mem_eq(q1, q2, sizeof q1);
    free(in);
}
END_TEST

START_TEST(test_all_segments) {
    int32_t *in = make_inputs(NP), pred[NP * 256];
    int used[NP];
    ck_assert_int_le(L, 256);
    const int limits[] = {1, 3, HMAX + 2, 0};
    for (int c = 0; c < 4; c++) {
        ck_assert_msg(hrm_solver_run(S, NP, in, NULL, limits[c], true, pred, used, NULL, err, sizeof err) == HRM_OK,
                      "%s", err);
        for (int b = 0; b < NP; b++) ck_assert_int_eq(used[b], limits[c] > 0 ? limits[c] : HMAX);
    }
    /* halting mode never runs past the limit */
    ck_assert_msg(hrm_solver_run(S, NP, in, NULL, 2, false, pred, used, NULL, err, sizeof err) == HRM_OK, "%s", err);
    for (int b = 0; b < NP; b++) ck_assert(used[b] >= 1 && used[b] <= 2);
    free(in);
}
END_TEST

/* Each puzzle alone (n = 1) answers what it answers in the batch, and a puzzle that halted at
 * segment K answers what an all_segments run of K segments of the same batch answers, exactly. */
START_TEST(test_batch_and_halting) {
    int32_t *in = make_inputs(NP), ids[NP] = {1 % NID, 0, (NID - 1)};
    int32_t pb[NP * 256], p1[256], pa[NP * 256];
    int ub[NP], u1, ua[NP];
    float qb[NP], q1, qa[NP];
    ck_assert_int_le(L, 256);
    ck_assert_msg(hrm_solver_run(S, NP, in, ids, 0, false, pb, ub, qb, err, sizeof err) == HRM_OK, "%s", err);
    for (int b = 0; b < NP; b++) {
        printf("puzzle %d: halted at segment %d of %d, q_halt %g\n", b, ub[b], HMAX, (double)qb[b]);
        ck_assert_msg(hrm_solver_run(S, 1, in + b * L, ids + b, 0, false, p1, &u1, &q1, err, sizeof err) == HRM_OK,
                      "%s", err);
        /* another batch size may round differently (the backend's GEMM blocking), no more */
        ck_assert_int_eq(u1, ub[b]);
        ck_assert_mem_eq(p1, pb + b * L, (size_t)L * sizeof *p1);
        ck_assert_float_eq_tol(q1, qb[b], 1e-5f * (1.0f + fabsf(qb[b])));
        ck_assert_msg(hrm_solver_run(S, NP, in, ids, ub[b], true, pa, ua, qa, err, sizeof err) == HRM_OK, "%s", err);
        ck_assert_int_eq(ua[b], ub[b]);
        ck_assert_mem_eq(pa + b * L, pb + b * L, (size_t)L * sizeof *pa);
        ck_assert_float_eq(qa[b], qb[b]);
    }
    if (expect_early) /* else a solver that never stops early would pass the checks above */
        ck_assert_msg(ub[0] < HMAX || ub[1] < HMAX || ub[2] < HMAX, "no puzzle halted before segment %d", HMAX);
    free(in);
}
END_TEST

int main(int argc, char **argv) {
    ckpt = argc > 1 ? argv[1] : NULL;
    expect_early = argc > 2 && !strcmp(argv[2], "--expect-early-halt");
    if (!ckpt) {
        fprintf(stderr, "usage: test_solver CHECKPOINT [--expect-early-halt]\n");
        return 1;
    }
    Suite *suite = suite_create("solver");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_run_errors);
    tcase_add_test(tc, test_repeatable);
    tcase_add_test(tc, test_all_segments);
    tcase_add_test(tc, test_batch_and_halting);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
