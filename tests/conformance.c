/* tests/conformance.c - the backend conformance suite: every op of every usable plugin (or only
 * $HRM_TEST_PLUGIN) against naive double-precision references (for the CPU backend) or against
 * the CPU backend (for any other), plus finite-difference checks of every backward op.
 * This file: main(), the device and buffer tests, and the bad-argument tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "ops_precision.h"
#include "suites.h"
#include "test_util.h"

TCase *plugin_tcase(const char *name) {
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, NULL, dut_close);
    /* Each test takes well under 10 s even under ASan; a hung backend fails at 120 s (scale it
     * with CK_TIMEOUT_MULTIPLIER for valgrind). */
    tcase_set_timeout(tc, 120);
    return tc;
}

/* ---- device ------------------------------------------------------------------------------- */

START_TEST(test_device) {
    dut_open(_i);
    const hrm_backend_iface *f = T.dut.f;
    hrm_device_info info;
    ck_assert_uint_eq(HRM_ABI_MAJOR_OF(f->abi_version), HRM_BACKEND_ABI_MAJOR);
    ck_assert_msg(f->struct_size >= HRM_IFACE_END(signsgd_rows), "%s: table of %u bytes", T.name, f->struct_size);
    int n = f->device_count(T.dut.be);
    ck_assert_msg(n >= 1, "%s: device_count %d", T.name, n);
    memset(&info, 0x55, sizeof info);
    CALL_OK(&T.dut, f->device_info(T.dut.be, 0, &info), "device_info(0)");
    ck_assert_msg(memchr(info.name, 0, sizeof info.name) && info.name[0], "%s: device name empty or unterminated",
                  T.name);
    ck_assert_msg(memchr(info.vendor, 0, sizeof info.vendor) && memchr(info.driver, 0, sizeof info.driver) &&
                      memchr(info.note, 0, sizeof info.note),
                  "%s: device_info strings unterminated", T.name);
    ck_assert_msg(info.validated >= -1 && info.validated <= 1, "%s: validated = %d", T.name, info.validated);
    ck_assert_msg(info.compute_units >= 1, "%s: compute_units = %d", T.name, info.compute_units);
    ck_assert_msg(f->device_info(T.dut.be, n, &info) != HRM_OK, "%s: device_info(%d) of %d devices succeeded", T.name,
                  n, n);
    const char *e = f->last_error(T.dut.be);
    ck_assert_msg(e != NULL && e[0] && !strchr(e, '\n'), "%s: last_error after a bad device index: '%s'", T.name,
                  e ? e : "(null)");
    CALL_OK(&T.dut, f->finish(T.dut.dev), "finish");
}
END_TEST

/* ---- buffers ------------------------------------------------------------------------------ */

static void fill_bytes(rng *r, uint8_t *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (uint8_t)rng_next(r);
}

static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: %s: byte %zu is 0x%02x, want 0x%02x", T.name, what, i, got[i], want[i]);
}

/* write/read at byte offsets that are not multiples of 4, and up to the last byte. */
START_TEST(test_buffer_write_read) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    rng r = {11};
    uint8_t want[1000], got[1000], part[37];
    hrm_buffer *b = raw_alloc(c, sizeof want);
    fill_bytes(&r, want, sizeof want);
    CALL_OK(c, c->f->buffer_write(b, 0, want, sizeof want), "buffer_write");
    CALL_OK(c, c->f->buffer_read(b, 0, got, sizeof got), "buffer_read");
    expect_bytes(got, want, sizeof want, "whole-buffer round trip");

    fill_bytes(&r, part, sizeof part);
    CALL_OK(c, c->f->buffer_write(b, 3, part, sizeof part), "buffer_write at byte 3");
    memcpy(want + 3, part, sizeof part);
    CALL_OK(c, c->f->buffer_write(b, 999, part, 1), "buffer_write of the last byte");
    want[999] = part[0];
    memset(got, 0, sizeof got);
    CALL_OK(c, c->f->buffer_read(b, 0, got, sizeof got), "buffer_read");
    expect_bytes(got, want, sizeof want, "write at an offset");
    memset(got, 0, sizeof got);
    CALL_OK(c, c->f->buffer_read(b, 5, got, 10), "buffer_read at byte 5");
    expect_bytes(got, want + 5, 10, "read at an offset");
    CALL_OK(c, c->f->buffer_read(b, 998, got, 2), "buffer_read of the last bytes");
    expect_bytes(got, want + 998, 2, "read of the last bytes");
}
END_TEST

START_TEST(test_buffer_copy) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    rng r = {12};
    uint8_t pa[1000], pb[600], got[600];
    hrm_buffer *a = raw_alloc(c, sizeof pa), *b = raw_alloc(c, sizeof pb);
    fill_bytes(&r, pa, sizeof pa);
    fill_bytes(&r, pb, sizeof pb);
    CALL_OK(c, c->f->buffer_write(a, 0, pa, sizeof pa), "buffer_write");
    CALL_OK(c, c->f->buffer_write(b, 0, pb, sizeof pb), "buffer_write");
    CALL_OK(c, c->f->buffer_copy(b, 13, a, 7, 101), "buffer_copy 101 bytes, 7 -> 13");
    memcpy(pb + 13, pa + 7, 101);
    CALL_OK(c, c->f->buffer_copy(b, 500, a, 900, 100), "buffer_copy up to both ends");
    memcpy(pb + 500, pa + 900, 100);
    CALL_OK(c, c->f->buffer_copy(b, 200, a, 0, 8), "buffer_copy, aligned");
    memcpy(pb + 200, pa, 8);
    CALL_OK(c, c->f->buffer_read(b, 0, got, sizeof got), "buffer_read");
    expect_bytes(got, pb, sizeof pb, "buffer_copy result");
    uint8_t again[1000];
    CALL_OK(c, c->f->buffer_read(a, 0, again, sizeof again), "buffer_read");
    expect_bytes(again, pa, sizeof pa, "buffer_copy source left alone");
}
END_TEST

START_TEST(test_buffer_fill) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    uint32_t want[64], got[64];
    const int32_t seven = 7; /* int data is filled through the float's bits (a denormal here) */
    float f_seven, nzero = -0.0f, one_half = 1.5f;
    memcpy(&f_seven, &seven, 4);
    hrm_buffer *b = raw_alloc(c, sizeof want);
    CALL_OK(c, c->f->buffer_fill(b, 0, 64, 1.5f), "buffer_fill all");
    CALL_OK(c, c->f->buffer_fill(b, 10, 20, -0.0f), "buffer_fill 10..30 with -0");
    CALL_OK(c, c->f->buffer_fill(b, 40, 3, f_seven), "buffer_fill 40..43 with int 7");
    CALL_OK(c, c->f->buffer_fill(b, 63, 1, -2.0f), "buffer_fill of the last element");
    for (int i = 0; i < 64; i++) {
        float v = i >= 10 && i < 30 ? nzero : i >= 40 && i < 43 ? f_seven : i == 63 ? -2.0f : one_half;
        memcpy(&want[i], &v, 4);
    }
    CALL_OK(c, c->f->buffer_read(b, 0, got, sizeof got), "buffer_read");
    for (int i = 0; i < 64; i++)
        ck_assert_msg(got[i] == want[i], "%s: buffer_fill: element %d is 0x%08x, want 0x%08x", T.name, i, got[i],
                      want[i]);
}
END_TEST

START_TEST(test_memory_usage) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    const size_t big = 4u << 20;
    uint64_t cur0, peak0, cur1, peak1, cur2, peak2;
    hrm_buffer *b = NULL;
    CALL_OK(c, c->f->memory_usage(c->dev, &cur0, &peak0), "memory_usage");
    CALL_OK(c, c->f->buffer_alloc(c->dev, big, &b), "buffer_alloc 4 MiB");
    hrm_status s1 = c->f->memory_usage(c->dev, &cur1, &peak1);
    c->f->buffer_free(b);
    hrm_status s2 = c->f->memory_usage(c->dev, &cur2, &peak2);
    ck_assert(s1 == HRM_OK && s2 == HRM_OK);
    ck_assert_msg(peak0 >= cur0, "%s: peak %llu < current %llu", T.name, (unsigned long long)peak0,
                  (unsigned long long)cur0);
    ck_assert_msg(cur1 >= cur0 + big, "%s: current went %llu -> %llu over a 4 MiB alloc", T.name,
                  (unsigned long long)cur0, (unsigned long long)cur1);
    ck_assert_msg(peak1 >= cur1, "%s: peak %llu < current %llu", T.name, (unsigned long long)peak1,
                  (unsigned long long)cur1);
    ck_assert_msg(cur2 == cur0, "%s: current is %llu after freeing, was %llu before the alloc", T.name,
                  (unsigned long long)cur2, (unsigned long long)cur0);
    ck_assert_msg(peak2 >= cur1, "%s: peak fell from %llu to %llu", T.name, (unsigned long long)peak1,
                  (unsigned long long)peak2);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------------------ */

/* An op given a tensor that runs past its buffer must say HRM_ERR_INVALID_ARG, with one line. */
static void expect_invalid(hrm_status s, const char *what) {
    const char *e = T.dut.f->last_error(T.dut.be);
    ck_assert_msg(s == HRM_ERR_INVALID_ARG, "%s: %s returned %s, want invalid argument", T.name, what,
                  hrm_status_str(s));
    ck_assert_msg(e != NULL && e[0] && !strchr(e, '\n'), "%s: %s: last_error is '%s', want one non-empty line", T.name,
                  what, e ? e : "(null)");
}

static hrm_ptr raw_ptr(size_t floats) { return (hrm_ptr){raw_alloc(&T.dut, floats * 4), 0}; }

START_TEST(test_bad_buffer_args) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    uint8_t tmp[64] = {0};
    hrm_buffer *a = raw_alloc(c, 40), *b = raw_alloc(c, 40);
    expect_invalid(c->f->buffer_write(a, 30, tmp, 11), "buffer_write past the end");
    expect_invalid(c->f->buffer_read(a, 41, tmp, 0 + 1), "buffer_read past the end");
    expect_invalid(c->f->buffer_read(a, 0, tmp, 44), "buffer_read longer than the buffer");
    expect_invalid(c->f->buffer_copy(b, 0, a, 20, 21), "buffer_copy from past the source's end");
    expect_invalid(c->f->buffer_copy(b, 39, a, 0, 2), "buffer_copy to past the destination's end");
    expect_invalid(c->f->buffer_fill(a, 5, 6, 0.0f), "buffer_fill past the end");
    CALL_OK(c, c->f->buffer_read(a, 0, tmp, 40), "buffer_read after errors");
}
END_TEST

START_TEST(test_bad_matmul_args) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    hrm_device *dev = c->dev;
    const hrm_backend_iface *f = c->f;

    /* matmul 4x5x6 */
    hrm_matmul_args mm = {.m = 4,
                          .n = 5,
                          .k = 6,
                          .alpha = 1,
                          .beta = 0,
                          .a = raw_ptr(24),
                          .lda = 6,
                          .b = raw_ptr(30),
                          .ldb = 5,
                          .c = raw_ptr(20),
                          .ldc = 5,
                          .batch = 1};
    CALL_OK(c, f->buffer_fill(mm.a.buf, 0, 24, 1.0f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(mm.b.buf, 0, 30, 1.0f), "buffer_fill");
    CALL_OK(c, f->matmul(dev, &mm), "matmul within bounds");
    hrm_matmul_args bad = mm;
    bad.m = 5;
    expect_invalid(f->matmul(dev, &bad), "matmul with A [5,6] in 24 floats");
    bad = mm;
    bad.c.off = 1;
    expect_invalid(f->matmul(dev, &bad), "matmul with C at offset 1 of 20 floats");
    bad = mm;
    bad.batch = 2, bad.stride_a = 24, bad.stride_b = 0, bad.stride_c = 0;
    expect_invalid(f->matmul(dev, &bad), "matmul with a second batch past A's end");
    bad = mm;
    bad.trans_b = 1, bad.ldb = 6; /* B stored [5, 6] = 30 floats: fits */
    CALL_OK(c, f->matmul(dev, &bad), "matmul trans_b within bounds");
    bad.ldb = 7;
    expect_invalid(f->matmul(dev, &bad), "matmul with B^T rows of 7 in 30 floats");
    bad = mm;
    bad.a.buf = NULL;
    ck_assert_msg(f->matmul(dev, &bad) == HRM_ERR_INVALID_ARG, "%s: matmul with no A", T.name);

    /* the device still works after the rejected calls */
    CALL_OK(c, f->matmul(dev, &mm), "matmul after rejected calls");
    CALL_OK(c, f->finish(dev), "finish after rejected calls");
}
END_TEST

START_TEST(test_bad_attention_args) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    hrm_device *dev = c->dev;
    const hrm_backend_iface *f = c->f;

    /* attention, packed qkv [1, 4, 3, 16] */
    hrm_attention_args at = {.batch = 1,
                             .seq = 4,
                             .heads = 1,
                             .head_dim = 16,
                             .scale = 0.25f,
                             .qkv_row_stride = 48,
                             .o_row_stride = 16,
                             .lse = raw_ptr(4),
                             .o = raw_ptr(64)};
    at.q = raw_ptr(192), at.k = at.q, at.v = at.q;
    at.k.off = 16, at.v.off = 32;
    CALL_OK(c, f->buffer_fill(at.q.buf, 0, 192, 0.5f), "buffer_fill");
    CALL_OK(c, f->attention_forward(dev, &at), "attention_forward within bounds");
    hrm_attention_args bat = at;
    bat.seq = 5;
    expect_invalid(f->attention_forward(dev, &bat), "attention_forward with 5 tokens in a 4-token qkv");
    bat = at;
    bat.lse.off = 1;
    expect_invalid(f->attention_forward(dev, &bat), "attention_forward with lse past its end");
    bat = at;
    bat.d_o = at.o, bat.dq = raw_ptr(192), bat.dqkv_row_stride = 48;
    bat.dk = bat.dq, bat.dv = bat.dq, bat.dk.off = 16, bat.dv.off = 33;
    expect_invalid(f->attention_backward(dev, &bat), "attention_backward with dv one past the end");
    bat = at;
    bat.head_dim = 130, bat.seq = 1, bat.qkv_row_stride = 390, bat.o_row_stride = 130;
    bat.q = raw_ptr(390), bat.k = bat.q, bat.v = bat.q, bat.o = raw_ptr(130);
    bat.k.off = 130, bat.v.off = 260;
    CALL_OK(c, f->buffer_fill(bat.q.buf, 0, 390, 0.5f), "buffer_fill");
    hrm_status s = f->attention_forward(dev, &bat);
    ck_assert_msg(s == HRM_ERR_INVALID_ARG || s == HRM_ERR_UNSUPPORTED, "%s: attention with head_dim 130 gave %s",
                  T.name, hrm_status_str(s));
}
END_TEST

START_TEST(test_bad_rowwise_args) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    hrm_device *dev = c->dev;
    const hrm_backend_iface *f = c->f;

    /* rope on x [1, 4, 2, 8] */
    hrm_rope_args ro = {.batch = 1,
                        .seq = 4,
                        .heads = 2,
                        .head_dim = 8,
                        .row_stride = 16,
                        .x = raw_ptr(64),
                        .cos = raw_ptr(16),
                        .sin = raw_ptr(16)};
    ro.out = ro.x;
    CALL_OK(c, f->buffer_fill(ro.x.buf, 0, 64, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(ro.cos.buf, 0, 16, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(ro.sin.buf, 0, 16, 0.5f), "buffer_fill");
    CALL_OK(c, f->rope_forward(dev, &ro), "rope_forward within bounds");
    hrm_rope_args bro = ro;
    bro.seq = 5;
    expect_invalid(f->rope_forward(dev, &bro), "rope_forward with 5 tokens in 4");
    bro = ro;
    bro.sin.off = 1;
    expect_invalid(f->rope_backward(dev, &bro), "rope_backward with sin past its end");

    /* add */
    hrm_add_args ad = {.n = 10, .out = raw_ptr(10), .a = raw_ptr(10), .b = raw_ptr(10)};
    CALL_OK(c, f->buffer_fill(ad.a.buf, 0, 10, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(ad.b.buf, 0, 10, 0.5f), "buffer_fill");
    CALL_OK(c, f->add(dev, &ad), "add within bounds");
    hrm_add_args bad_add = ad;
    bad_add.n = 11;
    expect_invalid(f->add(dev, &bad_add), "add of 11 elements in 10");
    bad_add = ad;
    bad_add.c = raw_ptr(9);
    expect_invalid(f->add(dev, &bad_add), "add with c of 9 elements");

    /* rmsnorm [3, 8] */
    hrm_rmsnorm_args rn = {.rows = 3, .dim = 8, .eps = 1e-5f, .x = raw_ptr(24), .y = raw_ptr(24), .rstd = raw_ptr(3)};
    CALL_OK(c, f->buffer_fill(rn.x.buf, 0, 24, 0.5f), "buffer_fill");
    CALL_OK(c, f->rmsnorm_forward(dev, &rn), "rmsnorm_forward within bounds");
    hrm_rmsnorm_args brn = rn;
    brn.rows = 4;
    expect_invalid(f->rmsnorm_forward(dev, &brn), "rmsnorm_forward of 4 rows in 3");
    brn = rn;
    brn.rstd.off = 1;
    expect_invalid(f->rmsnorm_forward(dev, &brn), "rmsnorm_forward with rstd past its end");
    brn = rn;
    brn.dy = rn.x, brn.dh = raw_ptr(23);
    expect_invalid(f->rmsnorm_backward(dev, &brn), "rmsnorm_backward with dh of 23 floats");

    /* swiglu [2, 2*4] */
    hrm_swiglu_args sw = {.rows = 2, .inter = 4, .gu = raw_ptr(16), .out = raw_ptr(8)};
    CALL_OK(c, f->buffer_fill(sw.gu.buf, 0, 16, 0.5f), "buffer_fill");
    CALL_OK(c, f->swiglu_forward(dev, &sw), "swiglu_forward within bounds");
    hrm_swiglu_args bsw = sw;
    bsw.rows = 3;
    expect_invalid(f->swiglu_forward(dev, &bsw), "swiglu_forward of 3 rows in 2");
    bsw = sw;
    bsw.d_out = sw.out, bsw.d_gu = raw_ptr(15);
    expect_invalid(f->swiglu_backward(dev, &bsw), "swiglu_backward with d_gu of 15 floats");
}
END_TEST

START_TEST(test_bad_embedding_xent_args) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    hrm_device *dev = c->dev;
    const hrm_backend_iface *f = c->f;

    /* embedding: batch 2, seq 3, prefix 1, dim 4, vocab 5, 2 puzzle ids of width 4 */
    hrm_embedding_args em = {.batch = 2,
                             .seq_len = 3,
                             .prefix = 1,
                             .dim = 4,
                             .vocab = 5,
                             .num_puzzle_ids = 2,
                             .puzzle_width = 4,
                             .scale = 1,
                             .tokens = raw_ptr(6),
                             .puzzle_ids = raw_ptr(2),
                             .token_table = raw_ptr(20),
                             .puzzle_table = raw_ptr(8),
                             .out = raw_ptr(32)};
    CALL_OK(c, f->buffer_fill(em.tokens.buf, 0, 6, 0.0f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(em.puzzle_ids.buf, 0, 2, 0.0f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(em.token_table.buf, 0, 20, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(em.puzzle_table.buf, 0, 8, 0.5f), "buffer_fill");
    CALL_OK(c, f->embedding_forward(dev, &em), "embedding_forward within bounds");
    hrm_embedding_args bem = em;
    bem.out.off = 1;
    expect_invalid(f->embedding_forward(dev, &bem), "embedding_forward with out past its end");
    bem = em;
    bem.vocab = 6;
    expect_invalid(f->embedding_forward(dev, &bem), "embedding_forward with a 6-row table in 20 floats");
    bem = em;
    bem.d_out = em.out, bem.d_pos = raw_ptr(15);
    expect_invalid(f->embedding_backward(dev, &bem), "embedding_backward with d_pos of 15 floats");
    bem = em;
    bem.puzzle_width = 3;
    CALL_OK(c, f->embedding_forward(dev, &bem), "embedding_forward with puzzle_width 3 < prefix*dim");
    bem.puzzle_width = 0;
    expect_invalid(f->embedding_forward(dev, &bem), "embedding_forward with puzzle_width 0");
    bem.puzzle_width = 5;
    expect_invalid(f->embedding_forward(dev, &bem), "embedding_forward with puzzle_width 5 > prefix*dim");
    bem.num_puzzle_ids = 3, bem.puzzle_width = 3;
    expect_invalid(f->embedding_forward(dev, &bem), "embedding_forward with a 3x3 puzzle table in 8 floats");
    bem = em;
    bem.prefix = 0, bem.puzzle_width = 0;
    CALL_OK(c, f->embedding_forward(dev, &bem), "embedding_forward with prefix 0 and puzzle_width 0");
    bem = em;
    bem.d_out = em.out, bem.d_puzzle_rows = raw_ptr(6), bem.puzzle_width = 3;
    CALL_OK(c, f->embedding_backward(dev, &bem), "embedding_backward with d_puzzle_rows [2, 3]");
    bem.puzzle_width = 0;
    expect_invalid(f->embedding_backward(dev, &bem), "embedding_backward with puzzle_width 0");
    bem.puzzle_width = 5;
    expect_invalid(f->embedding_backward(dev, &bem), "embedding_backward with puzzle_width 5 > prefix*dim");
    bem.puzzle_width = 4;
    expect_invalid(f->embedding_backward(dev, &bem), "embedding_backward with [2, 4] d_puzzle_rows in 6 floats");

    /* xent [2, 3, 4] */
    hrm_xent_args xe = {.batch = 2,
                        .seq_len = 3,
                        .vocab = 4,
                        .kind = HRM_LOSS_SOFTMAX,
                        .ignore_label = -100,
                        .logits = raw_ptr(24),
                        .labels = raw_ptr(6),
                        .loss = raw_ptr(2),
                        .count = raw_ptr(2),
                        .correct = raw_ptr(2),
                        .grad_scale = 1};
    CALL_OK(c, f->buffer_fill(xe.logits.buf, 0, 24, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(xe.labels.buf, 0, 6, 0.0f), "buffer_fill");
    CALL_OK(c, f->xent_forward(dev, &xe), "xent_forward within bounds");
    hrm_xent_args bxe = xe;
    bxe.logits.off = 1;
    expect_invalid(f->xent_forward(dev, &bxe), "xent_forward with logits past their end");
    bxe = xe;
    bxe.preds = raw_ptr(5);
    expect_invalid(f->xent_forward(dev, &bxe), "xent_forward with preds of 5 ints");
    bxe = xe;
    bxe.d_logits = raw_ptr(23);
    expect_invalid(f->xent_backward(dev, &bxe), "xent_backward with d_logits of 23 floats");
}
END_TEST

START_TEST(test_bad_optimizer_args) {
    dut_open(_i);
    hrm_ctx *c = &T.dut;
    hrm_device *dev = c->dev;
    const hrm_backend_iface *f = c->f;

    /* optimizers */
    hrm_adam_args ada = {.n = 100,
                         .step = 1,
                         .lr = 1e-3f,
                         .beta1 = 0.9f,
                         .beta2 = 0.95f,
                         .param = raw_ptr(100),
                         .grad = raw_ptr(100),
                         .m = raw_ptr(100),
                         .v = raw_ptr(100)};
    CALL_OK(c, f->buffer_fill(ada.param.buf, 0, 100, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(ada.grad.buf, 0, 100, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(ada.m.buf, 0, 100, 0.0f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(ada.v.buf, 0, 100, 0.0f), "buffer_fill");
    CALL_OK(c, f->adam_atan2(dev, &ada), "adam_atan2 within bounds");
    hrm_adam_args bada = ada;
    bada.n = 101;
    expect_invalid(f->adam_atan2(dev, &bada), "adam_atan2 of 101 elements in 100");
    bada = ada;
    bada.v.off = 1;
    expect_invalid(f->adam_atan2(dev, &bada), "adam_atan2 with v past its end");

    hrm_signsgd_args sg = {.batch = 2,
                           .width = 4,
                           .num_rows = 3,
                           .lr = 1e-2f,
                           .ids = raw_ptr(2),
                           .grads = raw_ptr(8),
                           .weights = raw_ptr(12)};
    CALL_OK(c, f->buffer_fill(sg.ids.buf, 0, 2, 0.0f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(sg.grads.buf, 0, 8, 0.5f), "buffer_fill");
    CALL_OK(c, f->buffer_fill(sg.weights.buf, 0, 12, 0.5f), "buffer_fill");
    CALL_OK(c, f->signsgd_rows(dev, &sg), "signsgd_rows within bounds");
    hrm_signsgd_args bsg = sg;
    bsg.num_rows = 4;
    expect_invalid(f->signsgd_rows(dev, &bsg), "signsgd_rows with 4 rows of weights in 12 floats");
    bsg = sg;
    bsg.batch = 3;
    expect_invalid(f->signsgd_rows(dev, &bsg), "signsgd_rows with 3 slots of grads in 8 floats");
}
END_TEST

/* Work submitted the moment a backend is opened must complete: a thread pool whose workers are
 * still starting must not lose that first job. Opened and closed a few times to hit the window. */
START_TEST(test_op_right_after_open) {
    const size_t n = 1u << 20;
    float *a = fbuf(n), *b = fbuf(n), *got = fbuf(n);
    for (size_t i = 0; i < n; i++) a[i] = (float)(i % 1000), b[i] = 1.0f;
    for (int round = 0; round < 20; round++) {
        dut_open(_i);
        hrm_ctx *c = &T.dut;
        hrm_buffer *ba = raw_alloc(c, n * 4), *bb = raw_alloc(c, n * 4);
        CALL_OK(c, c->f->buffer_write(ba, 0, a, n * 4), "buffer_write");
        CALL_OK(c, c->f->buffer_write(bb, 0, b, n * 4), "buffer_write");
        hrm_add_args p = {.n = (int64_t)n, .out = {ba, 0}, .a = {ba, 0}, .b = {bb, 0}};
        CALL_OK(c, c->f->add(c->dev, &p), "add right after open");
        CALL_OK(c, c->f->buffer_read(ba, 0, got, n * 4), "buffer_read");
        for (size_t i = 0; i < n; i += 4097)
            ck_assert_msg(got[i] == a[i] + 1.0f, "%s: add right after open: element %zu is %g", T.name, i, got[i]);
        dut_close(); /* frees the host buffers too: make them again */
        a = fbuf(n), b = fbuf(n), got = fbuf(n);
        for (size_t i = 0; i < n; i++) a[i] = (float)(i % 1000), b[i] = 1.0f;
    }
}
END_TEST

void add_buffer_tests(Suite *s, int plugins) {
    TCase *tc = plugin_tcase("startup");
    tcase_add_loop_test(tc, test_op_right_after_open, 0, plugins);
    suite_add_tcase(s, tc);
    tc = plugin_tcase("device_and_buffers");
    tcase_add_loop_test(tc, test_device, 0, plugins);
    tcase_add_loop_test(tc, test_buffer_write_read, 0, plugins);
    tcase_add_loop_test(tc, test_buffer_copy, 0, plugins);
    tcase_add_loop_test(tc, test_buffer_fill, 0, plugins);
    tcase_add_loop_test(tc, test_memory_usage, 0, plugins);
    suite_add_tcase(s, tc);
    tc = plugin_tcase("bad_arguments");
    tcase_add_loop_test(tc, test_bad_buffer_args, 0, plugins);
    tcase_add_loop_test(tc, test_bad_matmul_args, 0, plugins);
    tcase_add_loop_test(tc, test_bad_attention_args, 0, plugins);
    tcase_add_loop_test(tc, test_bad_rowwise_args, 0, plugins);
    tcase_add_loop_test(tc, test_bad_embedding_xent_args, 0, plugins);
    tcase_add_loop_test(tc, test_bad_optimizer_args, 0, plugins);
    suite_add_tcase(s, tc);
}

int main(void) {
    /* one plugin file under test ($HRM_TEST_PLUGIN): skipped where it finds no device */
    const char *only = getenv("HRM_TEST_PLUGIN");
    if (only && only[0]) {
        int need = discover_require(hrm_default_host(), "conformance", only);
        if (need) return need;
    }
    int n = plugins_discover();
    if (!n) return EXIT_FAILURE;
    for (int i = 0; i < n; i++) fprintf(stderr, "conformance: testing backend %d: %s\n", i, plugin_name(i));
    Suite *s = suite_create("conformance");
    add_buffer_tests(s, n);
    add_dense_tests(s, n);
    add_precision_tests(s, n);
    add_elem_tests(s, n);
    add_optim_tests(s, n);
    add_gradcheck_tests(s, n);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
