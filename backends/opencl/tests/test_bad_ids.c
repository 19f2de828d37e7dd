/* backends/opencl/tests/test_bad_ids.c - ids and labels outside their tables, on every usable
 * backend of the build tree: embedding tokens and puzzle ids (forward and backward), SignSGD row
 * ids and cross-entropy labels. The ABI lets a backend find such an id either when the op is
 * called (the CPU backend checks on the host) or on the device, reporting it at the next
 * synchronisation point (the OpenCL backend: its ids never travel to the host inside a segment).
 * Either way the caller must get HRM_ERR_INVALID_ARG with one line naming the op, the tensor,
 * the position and the id, exactly once, and the device must keep working afterwards.
 * Each case runs in its own forked process (check's default); main() only holds the plugins'
 * names and paths. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "hrm/hrm.h"

static hrm_ctx C;
static hrm_buffer *bufs[64]; /* every buffer of the open backend, freed by close_backend */
static int num_bufs;

static void no_log(void *user, hrm_log_level level, const char *backend, const char *message) {
    (void)user, (void)level, (void)backend, (void)message;
}

static hrm_host quiet_host;

/* The usable plugins of the build tree ($HRM_TEST_PLUGIN: that file only), found by a child
 * process (tests/discover.h): this one must not initialise a driver before check forks. */
static found_plugin found[8];
static int num_found;

static void find_backends(void) {
    quiet_host = *hrm_default_host();
    quiet_host.log = no_log;
    num_found = discover_plugins(&quiet_host, "bad_ids", found, 8);
}

static void open_backend(int i) {
    char err[1024];
    ck_assert_msg(hrm_ctx_open(found[i].path, 0, &quiet_host, &C, err, sizeof err) == HRM_OK, "%s: %s", found[i].name,
                  err);
}

static void close_backend(void) {
    while (num_bufs > 0) C.f->buffer_free(bufs[--num_bufs]);
    hrm_ctx_close(&C);
}

static hrm_ptr buffer(const void *data, size_t elems) {
    hrm_buffer *b = NULL;
    ck_assert_int_lt(num_bufs, 64);
    ck_assert_int_eq(C.f->buffer_alloc(C.dev, elems * 4, &b), HRM_OK);
    bufs[num_bufs++] = b;
    if (data)
        ck_assert_int_eq(C.f->buffer_write(b, 0, data, elems * 4), HRM_OK);
    else
        ck_assert_int_eq(C.f->buffer_fill(b, 0, elems, 0.25f), HRM_OK);
    return (hrm_ptr){b, 0};
}

/* The status of the op itself or, when it was accepted, of the next synchronisation: a read of
 * `out` (read_out) or finish. */
static hrm_status op_then_sync(hrm_status op, hrm_ptr out, int read_out) {
    if (op != HRM_OK) return op;
    float first;
    return read_out ? C.f->buffer_read(out.buf, out.off * 4, &first, sizeof first) : C.f->finish(C.dev);
}

static void expect_bad_id(const char *backend, hrm_status s, const char *want) {
    const char *e = C.f->last_error(C.be);
    ck_assert_msg(s == HRM_ERR_INVALID_ARG, "%s: %s: got %s, want invalid argument", backend, want, hrm_status_str(s));
    ck_assert_msg(e && e[0] && !strchr(e, '\n'), "%s: last_error '%s' is not one line", backend, e ? e : "(null)");
    ck_assert_msg(strstr(e, want) != NULL, "%s: last_error '%s' does not say '%s'", backend, e, want);
    /* reported once: the device is clean and working again */
    ck_assert_msg(C.f->finish(C.dev) == HRM_OK, "%s: finish after '%s': %s", backend, want, C.f->last_error(C.be));
    printf("%s: %s\n", backend, e);
}

/* embedding: batch 2, seq 3, prefix 1, dim 4, vocab 5, 2 puzzle ids of width 4 */
static hrm_embedding_args embedding(const int *tokens, const int *pids) {
    return (hrm_embedding_args){.batch = 2,
                                .seq_len = 3,
                                .prefix = 1,
                                .dim = 4,
                                .vocab = 5,
                                .num_puzzle_ids = 2,
                                .puzzle_width = 4,
                                .scale = 1,
                                .tokens = buffer(tokens, 6),
                                .puzzle_ids = buffer(pids, 2),
                                .token_table = buffer(NULL, 20),
                                .puzzle_table = buffer(NULL, 8),
                                .out = buffer(NULL, 32)};
}

START_TEST(test_embedding_ids) {
    open_backend(_i);
    const char *n = found[_i].name;
    const int good[6] = {0, 1, 2, 3, 4, 0}, pids[2] = {0, 1};
    hrm_embedding_args e = embedding(good, pids);
    ck_assert_int_eq(op_then_sync(C.f->embedding_forward(C.dev, &e), e.out, 1), HRM_OK);

    const int high[6] = {0, 1, 2, 3, 5, 0};
    e = embedding(high, pids);
    expect_bad_id(n, op_then_sync(C.f->embedding_forward(C.dev, &e), e.out, 1),
                  "embedding_forward: tokens[4] = 5 is outside [0, 5)");
    const int negative[6] = {0, 1, 2, 3, 4, -1};
    e = embedding(negative, pids);
    expect_bad_id(n, op_then_sync(C.f->embedding_forward(C.dev, &e), e.out, 0),
                  "embedding_forward: tokens[5] = -1 is outside [0, 5)");
    const int bad_pids[2] = {0, 2};
    e = embedding(good, bad_pids);
    expect_bad_id(n, op_then_sync(C.f->embedding_forward(C.dev, &e), e.out, 1),
                  "embedding_forward: puzzle_ids[1] = 2 is outside [0, 2)");

    /* backward: only the token-table gradient reads the tokens */
    e = embedding(high, pids);
    e.d_out = e.out, e.d_token_table = buffer(NULL, 20);
    expect_bad_id(n, op_then_sync(C.f->embedding_backward(C.dev, &e), e.d_token_table, 1),
                  "embedding_backward: tokens[4] = 5 is outside [0, 5)");
    e.d_token_table.buf = NULL, e.d_pos = buffer(NULL, 16);
    ck_assert_int_eq(op_then_sync(C.f->embedding_backward(C.dev, &e), e.d_pos, 1), HRM_OK);
    close_backend();
}
END_TEST

START_TEST(test_signsgd_ids) {
    open_backend(_i);
    const int good[2] = {2, 0}, bad[2] = {0, 3};
    hrm_signsgd_args a = {.batch = 2,
                          .width = 4,
                          .num_rows = 3,
                          .lr = 1e-2f,
                          .ids = buffer(good, 2),
                          .grads = buffer(NULL, 8),
                          .weights = buffer(NULL, 12)};
    ck_assert_int_eq(op_then_sync(C.f->signsgd_rows(C.dev, &a), a.weights, 1), HRM_OK);
    a.ids = buffer(bad, 2);
    expect_bad_id(found[_i].name, op_then_sync(C.f->signsgd_rows(C.dev, &a), a.weights, 1),
                  "signsgd_rows: ids[1] = 3 is outside [0, 3)");
    close_backend();
}
END_TEST

START_TEST(test_xent_labels) {
    open_backend(_i);
    const char *n = found[_i].name;
    /* [2, 3, 4]; -100 is the ignore label and is fine */
    const int good[6] = {0, 1, -100, 3, 2, 1}, bad[6] = {0, 1, 4, 3, 2, 1};
    hrm_xent_args x = {.batch = 2,
                       .seq_len = 3,
                       .vocab = 4,
                       .kind = HRM_LOSS_SOFTMAX,
                       .ignore_label = -100,
                       .logits = buffer(NULL, 24),
                       .labels = buffer(good, 6),
                       .loss = buffer(NULL, 2),
                       .count = buffer(NULL, 2),
                       .correct = buffer(NULL, 2),
                       .grad_scale = 1,
                       .d_logits = buffer(NULL, 24)};
    ck_assert_int_eq(op_then_sync(C.f->xent_forward(C.dev, &x), x.loss, 1), HRM_OK);
    ck_assert_int_eq(op_then_sync(C.f->xent_backward(C.dev, &x), x.d_logits, 1), HRM_OK);
    x.labels = buffer(bad, 6);
    expect_bad_id(n, op_then_sync(C.f->xent_forward(C.dev, &x), x.loss, 1),
                  "xent_forward: labels[2] = 4 is outside [0, 4) and not the ignore label");
    x.kind = HRM_LOSS_STABLEMAX;
    expect_bad_id(n, op_then_sync(C.f->xent_backward(C.dev, &x), x.d_logits, 0),
                  "xent_backward: labels[2] = 4 is outside [0, 4) and not the ignore label");
    close_backend();
}
END_TEST

/* Only the first bad id of a run of ops is reported, at the first synchronisation after it; the
 * ops after it still run, and the next synchronisation is clean. */
START_TEST(test_first_fault_wins) {
    open_backend(_i);
    const int pids[2] = {0, 1}, high[6] = {0, 1, 2, 3, 5, 0}, bad_ids[2] = {7, 0};
    hrm_embedding_args e = embedding(high, pids);
    hrm_signsgd_args a = {.batch = 2,
                          .width = 4,
                          .num_rows = 3,
                          .lr = 1e-2f,
                          .ids = buffer(bad_ids, 2),
                          .grads = buffer(NULL, 8),
                          .weights = buffer(NULL, 12)};
    hrm_status s = C.f->embedding_forward(C.dev, &e);
    if (s == HRM_OK) s = C.f->signsgd_rows(C.dev, &a);
    expect_bad_id(found[_i].name, op_then_sync(s, a.weights, 1), "embedding_forward: tokens[4] = 5 is outside [0, 5)");
    ck_assert_int_eq(op_then_sync(HRM_OK, a.weights, 1), HRM_OK);
    close_backend();
}
END_TEST

int main(void) {
    find_backends();
    if (num_found == 0) return EXIT_FAILURE;
    for (int i = 0; i < num_found; i++) printf("backend %d: %s\n", i, found[i].name);
    Suite *s = suite_create("bad_ids");
    TCase *tc = tcase_create("ids");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_embedding_ids, 0, num_found);
    tcase_add_loop_test(tc, test_signsgd_ids, 0, num_found);
    tcase_add_loop_test(tc, test_xent_labels, 0, num_found);
    tcase_add_loop_test(tc, test_first_fault_wins, 0, num_found);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
