/* tests/test_params.c - the HRM config and parameter table: the published Sudoku model's
 * parameter count, the layout the optimizers rely on, derived sizes, hrm.config JSON, and how a
 * weights file with a bad hrm.config is refused. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "params.h"
#include "safetensors.h"

/* The published Sudoku-Extreme model: vocab 11, 81 cells, one puzzle identifier. */
static hrm_config sudoku_config(void) {
    hrm_config c = hrm_config_default();
    c.vocab_size = 11;
    c.seq_len = 81;
    c.num_puzzle_identifiers = 1;
    return c;
}

START_TEST(test_sudoku_count) {
    hrm_config c = sudoku_config();
    hrm_param_table t;
    char err[256];
    ck_assert_msg(hrm_config_validate(&c, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(hrm_params_build(&c, &t) == HRM_OK);
    ck_assert_int_eq(hrm_params_count(&t), 27275266); /* published; docs/MODEL.md "Parameters" */
    ck_assert_int_eq(hrm_config_intermediate(&c), 1536);
    ck_assert_int_eq(hrm_config_prefix(&c), 1);
    ck_assert_int_eq(hrm_config_full_seq(&c), 82);
    /* 4 global + 4 x 8 block tensors + puzzle_emb + H_init + L_init */
    ck_assert_int_eq(t.count, 4 + 32 + 3);
    ck_assert_int_eq(t.total, t.adam_total + 512 + 2 * 512);
    hrm_params_free(&t);
}
END_TEST

/* TRM's published parameter counts (docs/TRM.md "Parameter counts", trm_ref.count_params):
 * trm.yaml's defaults on the Sudoku, Maze and ARC datasets, attention and MLP forms. */
START_TEST(test_trm_counts) {
    static const struct {
        int vocab, seq_len, mlp_t;
        int64_t count;
    } cases[] = {
        {11, 81, 1, 5028866}, {11, 81, 0, 6828034}, {6, 900, 0, 6822914}, {12, 900, 0, 6829058}, {6, 900, 1, 18795522}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hrm_config c = hrm_config_default_arch(HRM_ARCH_TRM);
        hrm_param_table t;
        char err[256];
        c.vocab_size = cases[i].vocab;
        c.seq_len = cases[i].seq_len;
        c.num_puzzle_identifiers = 1;
        c.mlp_t = cases[i].mlp_t;
        c.pos_encodings = c.mlp_t ? HRM_POS_NONE : HRM_POS_ROPE;
        ck_assert_msg(hrm_config_validate(&c, err, sizeof err) == HRM_OK, "%s", err);
        ck_assert_int_eq(hrm_config_full_seq(&c), cases[i].seq_len + 16);
        ck_assert(hrm_params_build(&c, &t) == HRM_OK);
        ck_assert_msg(hrm_params_count(&t) == cases[i].count, "case %zu: %lld", i, (long long)hrm_params_count(&t));
        ck_assert_ptr_null(hrm_params_find(&t, "model.inner.H_level.layers.0.mlp.down_proj.weight"));
        ck_assert_ptr_nonnull(hrm_params_find(&t, c.mlp_t ? "model.inner.L_level.layers.1.mlp_t.down_proj.weight"
                                                          : "model.inner.L_level.layers.1.self_attn.o_proj.weight"));
        hrm_params_free(&t);
    }
    hrm_config c = hrm_config_default_arch(HRM_ARCH_TRM);
    ck_assert(c.arch == HRM_ARCH_TRM && c.H_layers == 0 && c.L_layers == 2 && c.H_cycles == 3 && c.L_cycles == 6);
    ck_assert(c.puzzle_emb_len == 16 && c.no_ACT_continue && !c.mlp_t && c.hidden_size == 512);
}
END_TEST

/* TRM's four keys go into hrm.config only for TRM, and come back; an HRM config has none. */
START_TEST(test_trm_json) {
    char err[256];
    hrm_config c = hrm_config_default_arch(HRM_ARCH_TRM), back = {0};
    c.vocab_size = 11, c.seq_len = 81, c.num_puzzle_identifiers = 1;
    c.mlp_t = 1;
    c.pos_encodings = HRM_POS_NONE;
    char *json = hrm_config_to_json(&c);
    ck_assert_ptr_nonnull(strstr(json, "\"pos_encodings\":\"none\""));
    ck_assert_ptr_nonnull(
        strstr(json, "\"arch\":\"trm\",\"puzzle_emb_len\":16,\"mlp_t\":true,\"no_ACT_continue\":true}"));
    ck_assert_msg(hrm_config_parse(json, &back, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(memcmp(&back, &c, sizeof c) == 0 || (back.arch == c.arch && back.mlp_t && back.puzzle_emb_len == 16));
    char *again = hrm_config_to_json(&back);
    ck_assert_str_eq(json, again);
    free(again);
    free(json);
    back = c;
    json = hrm_config_to_json(&(hrm_config){.hidden_size = 8, .num_heads = 2, .H_layers = 1, .L_layers = 1});
    ck_assert_ptr_null(strstr(json, "arch"));
    ck_assert_ptr_null(strstr(json, "mlp_t"));
    ck_assert(hrm_config_parse(json, &back, err, sizeof err) == HRM_OK);
    ck_assert(back.arch == HRM_ARCH_HRM && !back.mlp_t && !back.puzzle_emb_len && !back.no_ACT_continue);
    free(json);
    /* TRM settings on HRM, and TRM's own constraints, are refused */
    c = sudoku_config();
    c.mlp_t = 1;
    ck_assert(hrm_config_validate(&c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_str_eq(err, "puzzle_emb_len, mlp_t and no_ACT_continue are TRM settings (arch=trm)");
    c = hrm_config_default_arch(HRM_ARCH_TRM);
    c.vocab_size = 11, c.seq_len = 81, c.num_puzzle_identifiers = 1;
    c.puzzle_emb_len = 1;
    c.puzzle_emb_ndim = 513;
    ck_assert(hrm_config_validate(&c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_str_eq(err, "puzzle_emb_ndim 513 > puzzle_emb_len 1 x hidden_size 512");
    c.puzzle_emb_ndim = 0;
    ck_assert(hrm_config_validate(&c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_str_eq(err, "puzzle_emb_ndim 0 needs puzzle_emb_len 0");
    ck_assert(hrm_config_parse("{\"arch\": \"hrm\"}", &back, err, sizeof err) == HRM_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_layout) {
    hrm_config c = sudoku_config();
    hrm_param_table t;
    ck_assert(hrm_params_build(&c, &t) == HRM_OK);
    int64_t next = 0;
    int seen_non_adam = 0;
    for (int i = 0; i < t.count; i++) {
        const hrm_param *p = &t.params[i];
        ck_assert_int_eq(p->offset, next); /* contiguous, in table order */
        ck_assert_int_eq(p->numel, p->shape[0] * (p->ndim == 2 ? p->shape[1] : 1));
        next += p->numel;
        if (p->role != HRM_PARAM_ADAM) seen_non_adam = 1;
        ck_assert_msg(!(seen_non_adam && p->role == HRM_PARAM_ADAM), "%s: Adam tensor after the Adam range", p->name);
        for (int j = 0; j < i; j++) ck_assert_str_ne(p->name, t.params[j].name);
    }
    ck_assert_int_eq(next, t.total);
    const hrm_param *down = hrm_params_find(&t, "model.inner.L_level.layers.3.mlp.down_proj.weight");
    ck_assert_ptr_nonnull(down);
    ck_assert_int_eq(down->shape[0], 512);
    ck_assert_int_eq(down->shape[1], 1536);
    const hrm_param *qb = hrm_params_find(&t, "model.inner.q_head.bias");
    ck_assert_ptr_nonnull(qb);
    ck_assert_int_eq(qb->ndim, 1);
    ck_assert(qb->init == HRM_INIT_CONST && qb->init_value == -5);
    ck_assert_int_eq(hrm_params_find(&t, "model.inner.puzzle_emb.weights")->role, HRM_PARAM_PUZZLE);
    ck_assert_int_eq(hrm_params_find(&t, "model.inner.H_init")->role, HRM_PARAM_FIXED);
    ck_assert_ptr_null(hrm_params_find(&t, "model.inner.embed_pos.embedding_weight"));
    hrm_params_free(&t);
}
END_TEST

START_TEST(test_learned_positions_and_no_puzzle) {
    hrm_config c = sudoku_config();
    hrm_param_table rope, learned;
    ck_assert(hrm_params_build(&c, &rope) == HRM_OK);
    c.pos_encodings = HRM_POS_LEARNED;
    ck_assert(hrm_params_build(&c, &learned) == HRM_OK);
    ck_assert_int_eq(hrm_params_count(&learned) - hrm_params_count(&rope), 82 * 512);
    hrm_params_free(&learned);
    c.puzzle_emb_ndim = 0;
    ck_assert_int_eq(hrm_config_prefix(&c), 0);
    ck_assert(hrm_params_build(&c, &learned) == HRM_OK);
    ck_assert_ptr_null(hrm_params_find(&learned, "model.inner.puzzle_emb.weights"));
    ck_assert_int_eq(hrm_params_find(&learned, "model.inner.embed_pos.embedding_weight")->shape[0], 81);
    hrm_params_free(&learned);
    hrm_params_free(&rope);
}
END_TEST

START_TEST(test_intermediate_rounding) {
    hrm_config c = sudoku_config();
    c.hidden_size = 32, c.num_heads = 2, c.expansion = 2;
    ck_assert_int_eq(hrm_config_intermediate(&c), 256); /* round(42.67) = 43 -> 256 */
    c.hidden_size = 1152, c.num_heads = 8, c.expansion = 4;
    ck_assert_int_eq(hrm_config_intermediate(&c), 3072); /* 3072 exactly */
    c.hidden_size = 3, c.num_heads = 1, c.expansion = 1.25;
    ck_assert_int_eq(hrm_config_intermediate(&c), 256); /* round(2.5) = 2 (half to even) */
    c.puzzle_emb_ndim = 7;
    ck_assert_int_eq(hrm_config_prefix(&c), 3);
}
END_TEST

START_TEST(test_validate) {
    char err[256];
    hrm_config c = sudoku_config();
    c.num_heads = 7;
    ck_assert(hrm_config_validate(&c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "num_heads"));
    c = sudoku_config();
    c.vocab_size = 0;
    ck_assert(hrm_config_validate(&c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "vocab_size"));
    c = sudoku_config();
    c.halt_exploration_prob = 1.5;
    ck_assert(hrm_config_validate(&c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "halt_exploration_prob"));
}
END_TEST

START_TEST(test_json_round_trip) {
    char err[256];
    hrm_config c = sudoku_config(), back = {0};
    c.pos_encodings = HRM_POS_LEARNED;
    c.H_cycles = 3;
    c.rms_norm_eps = 1e-6;
    char *json = hrm_config_to_json(&c);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_nonnull(strstr(json, "\"pos_encodings\":\"learned\""));
    ck_assert_msg(hrm_config_parse(json, &back, err, sizeof err) == HRM_OK, "%s", err);
    char *again = hrm_config_to_json(&back); /* every field, without struct padding */
    ck_assert_str_eq(json, again);
    ck_assert(back.pos_encodings == HRM_POS_LEARNED && back.H_cycles == 3 && back.rms_norm_eps == 1e-6);
    free(again);
    free(json);
    /* the lenient form (settings over defaults): unknown keys are ignored; missing keys keep their value */
    back = sudoku_config();
    ck_assert(hrm_config_apply_json("{\"hidden_size\": 64, \"name\": \"hrm_v1\"}", &back, err, sizeof err) == HRM_OK);
    ck_assert_int_eq(back.hidden_size, 64);
    ck_assert_int_eq(back.seq_len, 81);
}
END_TEST

/* json with the entry of `key` cut out (compact JSON of hrm_config_to_json); caller frees. */
static char *without_key(const char *json, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":", key);
    const char *at = strstr(json, quoted);
    ck_assert_msg(at != NULL, "%s not in %s", key, json);
    const char *end = at + strcspn(at, ",}");
    if (*end == ',')
        end++; /* "key":v, -> "" */
    else if (at[-1] == ',')
        at--; /* ,"key":v} -> } */
    char *out = malloc(strlen(json) + 1);
    ck_assert_ptr_nonnull(out);
    snprintf(out, strlen(json) + 1, "%.*s%s", (int)(at - json), json, end);
    return out;
}

/* A stored config must hold every published key: a missing one is named, whichever it is;
 * unknown keys are still ignored (newer writers stay readable). */
START_TEST(test_json_missing_keys) {
    static const char *keys[] = {"hidden_size",
                                 "num_heads",
                                 "H_layers",
                                 "L_layers",
                                 "H_cycles",
                                 "L_cycles",
                                 "expansion",
                                 "puzzle_emb_ndim",
                                 "pos_encodings",
                                 "rope_theta",
                                 "rms_norm_eps",
                                 "halt_max_steps",
                                 "halt_exploration_prob",
                                 "vocab_size",
                                 "seq_len",
                                 "num_puzzle_identifiers"};
    char err[256], want[64];
    hrm_config c = sudoku_config(), back;
    char *json = hrm_config_to_json(&c);
    ck_assert_ptr_nonnull(json);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *cut = without_key(json, keys[i]);
        back = sudoku_config();
        ck_assert_msg(hrm_config_parse(cut, &back, err, sizeof err) == HRM_ERR_INVALID_ARG, "%s accepted without %s",
                      cut, keys[i]);
        snprintf(want, sizeof want, "missing key %s", keys[i]);
        ck_assert_str_eq(err, want);
        back = sudoku_config();
        ck_assert_msg(hrm_config_apply_json(cut, &back, err, sizeof err) == HRM_OK, "lenient form without %s: %s",
                      keys[i], err);
        free(cut);
    }
    size_t n = strlen(json);
    char *more = malloc(n + 32);
    ck_assert_ptr_nonnull(more);
    snprintf(more, n + 32, "%.*s,\"name\":\"hrm_v2\"}", (int)(n - 1), json);
    ck_assert_msg(hrm_config_parse(more, &back, err, sizeof err) == HRM_OK, "%s: %s", more, err);
    free(more);
    free(json);
}
END_TEST

START_TEST(test_json_errors) {
    char err[256];
    hrm_config c = sudoku_config();
    ck_assert(hrm_config_apply_json("{\"hidden_size\": \"big\"}", &c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_str_eq(err, "hidden_size must be a non-negative integer"); /* the caller adds the source */
    ck_assert(hrm_config_apply_json("{\"pos_encodings\": \"sinusoidal\"}", &c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "pos_encodings"));
    ck_assert(hrm_config_apply_json("{\"seq_len\": -3}", &c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "seq_len"));
    ck_assert(hrm_config_parse("[1, 2]", &c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert(hrm_config_apply_json("{\"hidden_size\": 5", &c, err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "not a JSON object"));
}
END_TEST

/* ---- a weights file with a bad hrm.config ---------------------------------------------------- */

static char ckpt_dir[64];

static void ckpt_setup(void) {
    snprintf(ckpt_dir, sizeof ckpt_dir, "/tmp/hrm-test-params-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(ckpt_dir));
}

static void ckpt_teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ckpt_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static hrm_config tiny_config(void) {
    hrm_config c = hrm_config_default();
    c.hidden_size = c.puzzle_emb_ndim = 16;
    c.num_heads = 2;
    c.H_layers = c.L_layers = 1;
    c.vocab_size = 11;
    c.seq_len = 4;
    c.num_puzzle_identifiers = 3;
    return c;
}

/* Writes path: the tensors of tiny_config() (zeros) with `json` as hrm.config. */
static void write_weights(const char *path, const char *json) {
    hrm_config c = tiny_config();
    hrm_param_table t;
    char err[512];
    ck_assert(hrm_params_build(&c, &t) == HRM_OK);
    float *zeros = calloc((size_t)t.total, sizeof *zeros);
    hrm_st_entry *e = calloc((size_t)t.count, sizeof *e);
    ck_assert(zeros && e);
    for (int i = 0; i < t.count; i++)
        e[i] = (hrm_st_entry){t.params[i].name, t.params[i].ndim, t.params[i].shape, zeros + t.params[i].offset};
    const char *key = "hrm.config";
    ck_assert_msg(hrm_st_write(path, e, t.count, &key, &json, 1, err, sizeof err) == HRM_OK, "%s", err);
    free(e);
    free(zeros);
    hrm_params_free(&t);
}

/* Reads path, which must fail with exactly `want` after "PATH: hrm.config: ". */
static void expect_refused(const char *path, const char *want) {
    char err[1024], line[1024];
    hrm_checkpoint ck;
    ck_assert_msg(hrm_checkpoint_read(path, &ck, err, sizeof err) != HRM_OK, "%s accepted (want: %s)", path, want);
    snprintf(line, sizeof line, "%s: hrm.config: %s", path, want);
    ck_assert_str_eq(err, line);
}

START_TEST(test_checkpoint_config) {
    hrm_config c = tiny_config();
    char path[128], err[512];
    char *json = hrm_config_to_json(&c);
    ck_assert_ptr_nonnull(json);
    snprintf(path, sizeof path, "%s/ok.safetensors", ckpt_dir);
    write_weights(path, json);
    hrm_checkpoint ck;
    ck_assert_msg(hrm_checkpoint_read(path, &ck, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert_int_eq(ck.cfg.halt_max_steps, 16);
    hrm_checkpoint_free(&ck);

    const char *missing[] = {"rope_theta", "halt_max_steps", "num_puzzle_identifiers"};
    for (int i = 0; i < 3; i++) {
        char *cut = without_key(json, missing[i]), want[64];
        snprintf(path, sizeof path, "%s/no_%s.safetensors", ckpt_dir, missing[i]);
        write_weights(path, cut);
        snprintf(want, sizeof want, "missing key %s", missing[i]);
        expect_refused(path, want);
        free(cut);
    }
    /* a bad value: one "hrm.config:" prefix, not two */
    const char *at = strstr(json, "\"hidden_size\":16");
    ck_assert_ptr_nonnull(at);
    char bad[1024];
    snprintf(bad, sizeof bad, "%.*s\"hidden_size\":-16%s", (int)(at - json), json, at + strlen("\"hidden_size\":16"));
    snprintf(path, sizeof path, "%s/cfgtype.safetensors", ckpt_dir);
    write_weights(path, bad);
    expect_refused(path, "hidden_size must be a non-negative integer");
    free(json);
}
END_TEST

int main(void) {
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_sudoku_count);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_trm_counts);
    tcase_add_test(tc, test_trm_json);
    tcase_add_test(tc, test_learned_positions_and_no_puzzle);
    tcase_add_test(tc, test_intermediate_rounding);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_json_missing_keys);
    tcase_add_test(tc, test_json_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, ckpt_setup, ckpt_teardown);
    tcase_add_test(tc, test_checkpoint_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
