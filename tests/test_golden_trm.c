/* tests/test_golden_trm.c - the engine's TRM against the PyTorch reference (tests/golden-trm, made
 * by reference/make_trm_golden.py from reference/trm_ref.py), on every usable backend plugin, for
 * the attention form and the MLP form: K = 4 supervision steps, step k started from the
 * reference's carry k (the MLP form amplifies rounding across free-running steps, docs/TRM.md
 * "Precision"): the new carry (y, z), the logits and both Q logits; then the gradient of step 0
 * under a given upstream gradient (d_logits, d_q) for every AdamATan2 tensor and the per-slot
 * puzzle rows. A float tensor passes when max|got - want| / RMS(want) is under the file's
 * hrm.tolerances bound for it (fp32 against fp64, 10x margin); the test also checks that every
 * compared tensor has a bound, so a fixture without one fails. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "model.h"
#include "safetensors.h"

#define MAX_PLUGINS 8
static found_plugin plugins[MAX_PLUGINS];
static int plugin_count;

typedef struct fixture {
    hrm_st_file f;
    json_t *tol;
    hrm_config cfg;
    int B, K, S, D, L, V;
    int failures;
    char first[512];
} fixture;

static const hrm_st_tensor *get(const fixture *x, const char *name, size_t count) {
    const hrm_st_tensor *t = hrm_st_find(&x->f, name);
    ck_assert_msg(t != NULL, "fixture has no tensor %s", name);
    ck_assert_msg(t->count == count, "fixture tensor %s has %zu values, want %zu", name, t->count, count);
    return t;
}

static void compare(fixture *x, const char *name, const float *got, const float *want, size_t n, const char *what) {
    json_t *b = json_object_get(x->tol, name);
    ck_assert_msg(json_is_number(b), "no tolerance for %s", name);
    double s = 0, worst = 0;
    for (size_t i = 0; i < n; i++) s += (double)want[i] * want[i];
    double rms = sqrt(s / (double)(n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = d; /* NaN counts */
    }
    double err = worst / (rms > 0 ? rms : 1);
    if (getenv("HRM_GOLDEN_VERBOSE")) printf("%s %s: error %.3g, bound %.3g\n", name, what, err, json_number_value(b));
    if (!(err <= json_number_value(b))) {
        if (!x->failures++)
            snprintf(x->first, sizeof x->first, "%s %s: error %.3g of RMS %.3g, bound %.3g", name, what, err, rms,
                     json_number_value(b));
    }
}

static void open_fixture(fixture *x, const char *file) {
    const char *dir = getenv("HRM_GOLDEN_TRM_DIR");
    ck_assert_msg(dir && dir[0], "HRM_GOLDEN_TRM_DIR is not set (meson sets it to tests/golden-trm)");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    memset(x, 0, sizeof *x);
    ck_assert_msg(hrm_st_read_mixed(path, &x->f, err, sizeof err) == HRM_OK, "%s", err);
    const char *cfg = hrm_st_meta(&x->f, "hrm.config"), *tol = hrm_st_meta(&x->f, "hrm.tolerances");
    ck_assert_msg(cfg && tol, "%s: no hrm.config or hrm.tolerances", path);
    ck_assert_msg(hrm_config_parse(cfg, &x->cfg, err, sizeof err) == HRM_OK, "%s: %s", path, err);
    ck_assert_msg(x->cfg.arch == HRM_ARCH_TRM, "%s: not a TRM config", path);
    x->tol = json_loads(tol, 0, NULL);
    ck_assert(x->tol != NULL);
    const hrm_st_tensor *cy = hrm_st_find(&x->f, "carry_y");
    ck_assert(cy && cy->ndim == 4);
    x->K = (int)cy->shape[0], x->B = (int)cy->shape[1], x->S = (int)cy->shape[2], x->D = (int)cy->shape[3];
    x->L = x->cfg.seq_len, x->V = x->cfg.vocab_size;
    ck_assert_int_eq(x->S, hrm_config_full_seq(&x->cfg));
}

static void run(int plugin, const char *file) {
    fixture x;
    open_fixture(&x, file);
    char err[512];
    hrm_ctx ctx;
    ck_assert_msg(hrm_ctx_open(plugins[plugin].path, 0, hrm_default_host(), &ctx, err, sizeof err) == HRM_OK, "%s",
                  err);
    hrm_model *m;
    ck_assert_msg(hrm_model_create(&ctx, &x.cfg, x.B, &m, err, sizeof err) == HRM_OK, "%s", err);
    const hrm_param_table *t = hrm_model_params_table(m);
    float *params = malloc((size_t)t->total * sizeof *params);
    ck_assert(params != NULL);
    for (int i = 0; i < t->count; i++) {
        char name[160];
        snprintf(name, sizeof name, "param.%s", t->params[i].name);
        memcpy(params + t->params[i].offset, get(&x, name, (size_t)t->params[i].numel)->data,
               (size_t)t->params[i].numel * sizeof *params);
    }
    ck_assert(hrm_model_set_params(m, params, t->total) == HRM_OK);

    size_t B = (size_t)x.B, BL = B * x.L, carry = B * x.S * x.D, nlog = BL * x.V;
    hrm_buffer *io;
    ck_assert(ctx.f->buffer_alloc(ctx.dev, (BL + B + 2 * carry) * 4, &io) == HRM_OK);
    hrm_ptr tokens = {io, 0}, ids = {io, BL};
    hrm_carry c = {{io, BL + B}, {io, BL + B + carry}};
    ck_assert(ctx.f->buffer_write(io, 0, get(&x, "inputs", BL)->ints, BL * 4) == HRM_OK);
    ck_assert(ctx.f->buffer_write(io, BL * 4, get(&x, "puzzle_identifiers", B)->ints, B * 4) == HRM_OK);
    float *got = malloc((nlog > carry ? nlog : carry) * sizeof *got), qh[64], qc[64];
    ck_assert(got && B <= 64);
    const float *cy = get(&x, "carry_y", x.K * carry)->data, *cz = get(&x, "carry_z", x.K * carry)->data;
    const float *oy = get(&x, "out_y", x.K * carry)->data, *oz = get(&x, "out_z", x.K * carry)->data;
    const float *lg = get(&x, "logits", x.K * nlog)->data, *rqh = get(&x, "q_halt", x.K * B)->data;
    const float *rqc = get(&x, "q_continue", x.K * B)->data;
    for (int k = x.K - 1; k >= 0; k--) { /* step 0 last: its TRAIN forward feeds the backward */
        char what[32];
        snprintf(what, sizeof what, "step %d", k);
        ck_assert(ctx.f->buffer_write(c.zH.buf, c.zH.off * 4, cy + k * carry, carry * 4) == HRM_OK);
        ck_assert(ctx.f->buffer_write(c.zL.buf, c.zL.off * 4, cz + k * carry, carry * 4) == HRM_OK);
        hrm_forward_mode mode = k == 0 ? HRM_FORWARD_TRAIN : HRM_FORWARD_EVAL;
        if (k == 0) ck_assert(hrm_model_zero_grads(m) == HRM_OK);
        ck_assert_msg(hrm_model_forward(m, mode, x.B, tokens, ids, c, c, qh, qc) == HRM_OK, "%s", hrm_model_error(m));
        ck_assert(ctx.f->buffer_read(c.zH.buf, c.zH.off * 4, got, carry * 4) == HRM_OK);
        compare(&x, "out_y", got, oy + k * carry, carry, what);
        ck_assert(ctx.f->buffer_read(c.zL.buf, c.zL.off * 4, got, carry * 4) == HRM_OK);
        compare(&x, "out_z", got, oz + k * carry, carry, what);
        hrm_ptr pl = hrm_model_logits(m);
        ck_assert(ctx.f->buffer_read(pl.buf, pl.off * 4, got, nlog * 4) == HRM_OK);
        compare(&x, "logits", got, lg + k * nlog, nlog, what);
        compare(&x, "q_halt", qh, rqh + k * B, B, what);
        compare(&x, "q_continue", qc, rqc + k * B, B, what);
    }
    /* the gradient of step 0 under the fixture's upstream gradient */
    hrm_ptr dl = hrm_model_d_logits(m);
    ck_assert(ctx.f->buffer_write(dl.buf, dl.off * 4, get(&x, "d_logits", nlog)->data, nlog * 4) == HRM_OK);
    ck_assert_msg(hrm_model_backward(m, get(&x, "d_q", 2 * B)->data) == HRM_OK, "%s", hrm_model_error(m));
    float *grads = malloc((size_t)t->adam_total * sizeof *grads);
    ck_assert(grads != NULL);
    hrm_ptr gp = hrm_model_grads(m);
    ck_assert(ctx.f->buffer_read(gp.buf, gp.off * 4, grads, (size_t)t->adam_total * 4) == HRM_OK);
    int compared = 0;
    for (int i = 0; i < t->count; i++) {
        const hrm_param *p = &t->params[i];
        if (p->role != HRM_PARAM_ADAM) continue;
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p->name);
        compare(&x, name, grads + p->offset, get(&x, name, (size_t)p->numel)->data, (size_t)p->numel, "step 0");
        compared++;
    }
    int in_file = 0; /* every gradient the reference wrote was compared */
    for (int i = 0; i < x.f.count; i++) in_file += !strncmp(x.f.tensors[i].name, "grad.", 5);
    ck_assert_int_eq(compared, in_file);
    if (x.cfg.puzzle_emb_ndim > 0) {
        size_t n = B * x.cfg.puzzle_emb_ndim;
        hrm_ptr pr = hrm_model_puzzle_grads(m);
        ck_assert(ctx.f->buffer_read(pr.buf, pr.off * 4, got, n * 4) == HRM_OK);
        compare(&x, "grad_puzzle_rows", got, get(&x, "grad_puzzle_rows", n)->data, n, "step 0");
    }
    ck_assert_msg(x.failures == 0, "golden-trm[%s] %s: %d mismatches; first: %s", plugins[plugin].name, file,
                  x.failures, x.first);
    free(grads);
    free(got);
    free(params);
    ctx.f->buffer_free(io);
    hrm_model_free(m);
    hrm_ctx_close(&ctx);
    json_decref(x.tol);
    hrm_st_free(&x.f);
}

START_TEST(golden_trm_attention) { run(_i, "attn.safetensors"); }
END_TEST

START_TEST(golden_trm_mlp) { run(_i, "mlp.safetensors"); }
END_TEST

int main(void) {
    plugin_count = discover_plugins(hrm_default_host(), "golden-trm", plugins, MAX_PLUGINS);
    if (plugin_count == 0) return EXIT_FAILURE;
    Suite *s = suite_create("golden-trm");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, golden_trm_attention, 0, plugin_count);
    tcase_add_loop_test(tc, golden_trm_mlp, 0, plugin_count);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
