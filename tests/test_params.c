/* tests/test_params.c - the HRM config and parameter table: the published Sudoku model's
 * parameter count, the layout the optimizers rely on, derived sizes, and hrm.config JSON. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

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
    ck_assert_msg(hrm_config_validate(&c, err, sizeof err), "%s", err);
    ck_assert(hrm_params_build(&c, &t));
    ck_assert_int_eq(hrm_params_count(&t), 27275266); /* HRM_SPEC.md */
    ck_assert_int_eq(hrm_config_intermediate(&c), 1536);
    ck_assert_int_eq(hrm_config_prefix(&c), 1);
    ck_assert_int_eq(hrm_config_full_seq(&c), 82);
    /* 4 global + 4 x 8 block tensors + puzzle_emb + H_init + L_init */
    ck_assert_int_eq(t.count, 4 + 32 + 3);
    ck_assert_int_eq(t.total, t.adam_total + 512 + 2 * 512);
    hrm_params_free(&t);
}
END_TEST

START_TEST(test_layout) {
    hrm_config c = sudoku_config();
    hrm_param_table t;
    ck_assert(hrm_params_build(&c, &t));
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
    ck_assert(hrm_params_build(&c, &rope));
    c.pos_encodings = HRM_POS_LEARNED;
    ck_assert(hrm_params_build(&c, &learned));
    ck_assert_int_eq(hrm_params_count(&learned) - hrm_params_count(&rope), 82 * 512);
    hrm_params_free(&learned);
    c.puzzle_emb_ndim = 0;
    ck_assert_int_eq(hrm_config_prefix(&c), 0);
    ck_assert(hrm_params_build(&c, &learned));
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
    ck_assert(!hrm_config_validate(&c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "num_heads"));
    c = sudoku_config();
    c.vocab_size = 0;
    ck_assert(!hrm_config_validate(&c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "vocab_size"));
    c = sudoku_config();
    c.halt_exploration_prob = 1.5;
    ck_assert(!hrm_config_validate(&c, err, sizeof err));
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
    ck_assert_msg(hrm_config_from_json(json, &back, err, sizeof err), "%s", err);
    char *again = hrm_config_to_json(&back); /* every field, without struct padding */
    ck_assert_str_eq(json, again);
    ck_assert(back.pos_encodings == HRM_POS_LEARNED && back.H_cycles == 3 && back.rms_norm_eps == 1e-6);
    free(again);
    free(json);
    /* unknown keys are ignored; missing keys keep their value */
    back = sudoku_config();
    ck_assert(hrm_config_from_json("{\"hidden_size\": 64, \"name\": \"hrm_v1\"}", &back, err, sizeof err));
    ck_assert_int_eq(back.hidden_size, 64);
    ck_assert_int_eq(back.seq_len, 81);
}
END_TEST

START_TEST(test_json_errors) {
    char err[256];
    hrm_config c = sudoku_config();
    ck_assert(!hrm_config_from_json("{\"hidden_size\": \"big\"}", &c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "hidden_size"));
    ck_assert(!hrm_config_from_json("{\"pos_encodings\": \"sinusoidal\"}", &c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "pos_encodings"));
    ck_assert(!hrm_config_from_json("{\"seq_len\": -3}", &c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "seq_len"));
    ck_assert(!hrm_config_from_json("[1, 2]", &c, err, sizeof err));
    ck_assert(!hrm_config_from_json("{\"hidden_size\": 5", &c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "hrm.config"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_sudoku_count);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_learned_positions_and_no_puzzle);
    tcase_add_test(tc, test_intermediate_rounding);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_json_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
