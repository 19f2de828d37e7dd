/* tests/test_config_keys.c - the key table (core/config_keys.h) against values written here
 * independently: the published defaults (sapientinc/HRM config/cfg_pretrain.yaml and
 * config/arch/hrm_v1.yaml), the field each key sets (named by hand below, so that a table row
 * pointing at the wrong field fails), the hrm.config JSON's key order (what every checkpoint
 * written so far holds), parse errors, and the hrm.train round trip and its refusals. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"

/* The config field of each hrm.config key, named by hand: the oracle for the table's offsets. */
static double config_field(const hrm_config *c, const char *json_name) {
    static const struct {
        const char *name;
        size_t offset;
        char kind; /* i: int, d: double, p: hrm_pos_encoding, a: hrm_arch */
    } fields[] = {
        {"hidden_size", offsetof(hrm_config, hidden_size), 'i'},
        {"num_heads", offsetof(hrm_config, num_heads), 'i'},
        {"H_layers", offsetof(hrm_config, H_layers), 'i'},
        {"L_layers", offsetof(hrm_config, L_layers), 'i'},
        {"H_cycles", offsetof(hrm_config, H_cycles), 'i'},
        {"L_cycles", offsetof(hrm_config, L_cycles), 'i'},
        {"expansion", offsetof(hrm_config, expansion), 'd'},
        {"puzzle_emb_ndim", offsetof(hrm_config, puzzle_emb_ndim), 'i'},
        {"pos_encodings", offsetof(hrm_config, pos_encodings), 'p'},
        {"rope_theta", offsetof(hrm_config, rope_theta), 'd'},
        {"rms_norm_eps", offsetof(hrm_config, rms_norm_eps), 'd'},
        {"halt_max_steps", offsetof(hrm_config, halt_max_steps), 'i'},
        {"halt_exploration_prob", offsetof(hrm_config, halt_exploration_prob), 'd'},
        {"vocab_size", offsetof(hrm_config, vocab_size), 'i'},
        {"seq_len", offsetof(hrm_config, seq_len), 'i'},
        {"num_puzzle_identifiers", offsetof(hrm_config, num_puzzle_identifiers), 'i'},
        {"arch", offsetof(hrm_config, arch), 'a'},
        {"puzzle_emb_len", offsetof(hrm_config, puzzle_emb_len), 'i'},
        {"mlp_t", offsetof(hrm_config, mlp_t), 'i'},
        {"no_ACT_continue", offsetof(hrm_config, no_ACT_continue), 'i'},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        if (strcmp(fields[i].name, json_name)) continue;
        const char *f = (const char *)c + fields[i].offset;
        return fields[i].kind == 'i'   ? *(const int *)f
               : fields[i].kind == 'd' ? *(const double *)f
               : fields[i].kind == 'a' ? (double)*(const hrm_arch *)f
                                       : (double)*(const hrm_pos_encoding *)f;
    }
    ck_abort_msg("hrm.config key %s is not one of the 16 HRM and 4 TRM ones", json_name);
    return NAN;
}

/* The same for the training settings, by the command-line name. */
static double settings_field(const hrm_train_settings *s, const char *name) {
    if (!strcmp(name, "global_batch_size")) return s->global_batch_size;
    if (!strcmp(name, "lr")) return s->lr;
    if (!strcmp(name, "lr_min_ratio")) return s->lr_min_ratio;
    if (!strcmp(name, "lr_warmup_steps")) return (double)s->lr_warmup_steps;
    if (!strcmp(name, "weight_decay")) return s->weight_decay;
    if (!strcmp(name, "beta1")) return s->beta1;
    if (!strcmp(name, "beta2")) return s->beta2;
    if (!strcmp(name, "puzzle_emb_lr")) return s->puzzle_emb_lr;
    if (!strcmp(name, "puzzle_emb_weight_decay")) return s->puzzle_emb_weight_decay;
    if (!strcmp(name, "arch.loss.loss_type")) return s->loss_type;
    if (!strcmp(name, "seed")) return (double)s->seed;
    if (!strcmp(name, "ema")) return s->ema;
    if (!strcmp(name, "ema_rate")) return s->ema_rate;
    ck_abort_msg("training key %s has a field this test does not know", name);
    return NAN;
}

START_TEST(test_published_defaults) {
    hrm_config c = hrm_config_default();
    ck_assert_int_eq(c.hidden_size, 512);
    ck_assert_int_eq(c.num_heads, 8);
    ck_assert_int_eq(c.H_layers, 4);
    ck_assert_int_eq(c.L_layers, 4);
    ck_assert_int_eq(c.H_cycles, 2);
    ck_assert_int_eq(c.L_cycles, 2);
    ck_assert(c.expansion == 4.0);
    ck_assert_int_eq(c.puzzle_emb_ndim, 512);
    ck_assert(c.pos_encodings == HRM_POS_ROPE);
    ck_assert(c.rope_theta == 10000.0 && c.rms_norm_eps == 1e-5);
    ck_assert_int_eq(c.halt_max_steps, 16);
    ck_assert(c.halt_exploration_prob == 0.1);
    ck_assert(c.vocab_size == 0 && c.seq_len == 0 && c.num_puzzle_identifiers == 0); /* from the dataset */
    hrm_train_settings s = hrm_train_settings_default();
    ck_assert_int_eq(s.global_batch_size, 768);
    ck_assert(s.lr == 1e-4 && s.lr_min_ratio == 1.0 && s.lr_warmup_steps == 2000 && s.total_steps == 0);
    ck_assert(s.weight_decay == 0.1 && s.beta1 == 0.9 && s.beta2 == 0.95);
    ck_assert(s.puzzle_emb_lr == 1e-2 && s.puzzle_emb_weight_decay == 0.1);
    ck_assert(!s.ema && s.ema_rate == 0.999); /* cfg_pretrain.yaml */
    ck_assert(s.loss_type == HRM_LOSS_STABLEMAX && s.seed == 0);
}
END_TEST

/* Every hrm.config key sets its own field and no other; every training key likewise. */
START_TEST(test_fields) {
    int n, nc, seen = 0;
    const hrm_key *keys = hrm_keys(&n);
    const hrm_key *const *ck = hrm_config_keys(&nc);
    ck_assert_int_eq(nc, 20);
    ck_assert_int_eq(HRM_CONFIG_KEYS_HRM, 16);
    for (int i = 0; i < nc; i++) {
        hrm_config c, zero;
        memset(&c, 0, sizeof c);
        memset(&zero, 0, sizeof zero);
        double v = ck[i]->field == HRM_FIELD_POS                                      ? HRM_POS_LEARNED
                   : ck[i]->field == HRM_FIELD_ARCH || ck[i]->field == HRM_FIELD_BOOL ? 1
                                                                                      : 3 + i;
        hrm_key_set(ck[i], &c, v);
        ck_assert_msg(hrm_key_get(ck[i], &c) == v, "%s: get after set", ck[i]->name);
        for (int j = 0; j < nc; j++) {
            const char *name = hrm_key_config_name(ck[j]);
            double want = j == i ? v : 0;
            ck_assert_msg(config_field(&c, name) == want, "setting %s changed %s to %g", ck[i]->name, name,
                          config_field(&c, name));
        }
        (void)zero;
    }
    for (int i = 0; i < n; i++) {
        const hrm_key *k = &keys[i];
        ck_assert_ptr_eq(hrm_key_find(k->name), k);
        ck_assert_int_eq(hrm_key_index(k), i);
        if (k->store != HRM_STORE_TRAIN || k->field == HRM_FIELD_NONE) continue;
        hrm_train_settings s;
        memset(&s, 0, sizeof s);
        double v = k->field == HRM_FIELD_LOSS ? HRM_LOSS_SOFTMAX : k->field == HRM_FIELD_BOOL ? 1 : 5 + i;
        hrm_key_set(k, &s, v);
        ck_assert_msg(settings_field(&s, k->name) == v, "%s does not set its own field", k->name);
        seen++;
    }
    ck_assert_int_eq(seen, 13);                      /* every field of hrm_train_settings but total_steps */
    ck_assert_ptr_null(hrm_key_find("arch.nosuch")); /* no name falls through to another key */
    ck_assert_ptr_null(hrm_key_find("hidden_size")); /* the command line says arch.hidden_size */
}
END_TEST

/* The hrm.config of every checkpoint written so far: this order, these spellings. */
START_TEST(test_config_json_order) {
    hrm_config c = hrm_config_default();
    c.vocab_size = 11, c.seq_len = 81, c.num_puzzle_identifiers = 1;
    char *json = hrm_config_to_json(&c);
    ck_assert_str_eq(json, "{\"hidden_size\":512,\"num_heads\":8,\"H_layers\":4,\"L_layers\":4,\"H_cycles\":2,"
                           "\"L_cycles\":2,\"expansion\":4.0,\"puzzle_emb_ndim\":512,\"pos_encodings\":\"rope\","
                           "\"rope_theta\":10000.0,\"rms_norm_eps\":1.0000000000000001e-5,\"halt_max_steps\":16,"
                           "\"halt_exploration_prob\":0.10000000000000001,\"vocab_size\":11,\"seq_len\":81,"
                           "\"num_puzzle_identifiers\":1}");
    free(json);
}
END_TEST

static const hrm_key *key(const char *name) {
    const hrm_key *k = hrm_key_find(name);
    ck_assert_msg(k != NULL, "no key %s", name);
    return k;
}

START_TEST(test_parse) {
    static const struct {
        const char *key, *text, *err; /* err NULL: accepted */
        double num;
    } cases[] = {
        {"lr", "3e-4", NULL, 3e-4},
        {"lr", "x", "lr: 'x' is not a number in [0, 1000]", 0},
        {"lr", "nan", "lr: 'nan' is not a number in [0, 1000]", 0},
        {"global_batch_size", "768", NULL, 768},
        {"global_batch_size", "0", "global_batch_size: '0' is not an integer in [1, 1048576]", 0},
        {"global_batch_size", "1.5", "global_batch_size: '1.5' is not an integer in [1, 1048576]", 0},
        {"arch.rope_theta", "0", "arch.rope_theta: '0' is not a number > 0 and <= 1e+15", 0},
        {"data_shuffle", "False", NULL, 0},
        {"data_shuffle", "yes", NULL, 1},
        {"data_shuffle", "maybe", "data_shuffle: 'maybe' is not true or false", 0},
        {"arch.pos_encodings", "learned", NULL, HRM_POS_LEARNED},
        {"arch.pos_encodings", "none", NULL, HRM_POS_NONE},
        {"arch.pos_encodings", "alibi", "arch.pos_encodings: 'alibi' is not rope, learned or none", 0},
        {"arch", "trm", NULL, HRM_ARCH_TRM},
        {"arch", "hrm_v1", NULL, HRM_ARCH_HRM},
        {"arch", "hrm", "arch: 'hrm' is not hrm_v1 or trm", 0},
        {"arch.mlp_t", "True", NULL, 1},
        {"arch.loss.loss_type", "softmax_cross_entropy", NULL, HRM_LOSS_SOFTMAX},
        {"arch.loss.loss_type", "mse",
         "arch.loss.loss_type: 'mse' is not stablemax_cross_entropy or softmax_cross_entropy", 0},
        {"matmul_precision", "medium", NULL, HRM_PRECISION_MEDIUM},
        {"matmul_precision", "low", "matmul_precision: 'low' is not highest, high or medium", 0},
        {"arch.name", "HierarchicalReasoningModel_ACTV1", NULL, HRM_ARCH_HRM},
        {"arch.name", "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", NULL, HRM_ARCH_TRM},
        {"arch.name", "TinyRecursiveReasoningModel_ACTV1", NULL, HRM_ARCH_TRM},
        {"arch.name", "TRM",
         "arch.name: 'TRM' is not HierarchicalReasoningModel_ACTV1 or TinyRecursiveReasoningModel_ACTV1", 0},
        {"eval_save_outputs", "[]", NULL, 0},
        {"data_path", "", "data_path: empty value", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[256] = "";
        double num = -1;
        int ok = hrm_key_parse(key(cases[i].key), cases[i].text, &num, err, sizeof err) == HRM_OK;
        if (!cases[i].err) {
            ck_assert_msg(ok, "%s=%s refused: %s", cases[i].key, cases[i].text, err);
            ck_assert_msg(num == cases[i].num, "%s=%s gave %g", cases[i].key, cases[i].text, num);
        } else {
            ck_assert_msg(!ok, "%s=%s accepted", cases[i].key, cases[i].text);
            ck_assert_str_eq(err, cases[i].err);
        }
    }
}
END_TEST

START_TEST(test_train_json) {
    char err[512];
    hrm_key_values a, b;
    ck_assert(hrm_key_values_init(&a, err, sizeof err) == HRM_OK);
    ck_assert(hrm_key_values_give(&a, key("data_path"), "data/sudoku", err, sizeof err) == HRM_OK);
    ck_assert(hrm_key_values_give(&a, key("lr"), "7e-5", err, sizeof err) == HRM_OK);
    ck_assert(hrm_key_values_give(&a, key("data_shuffle"), "false", err, sizeof err) == HRM_OK);
    ck_assert(hrm_key_values_give(&a, key("arch.loss.loss_type"), "softmax_cross_entropy", err, sizeof err) == HRM_OK);
    ck_assert(hrm_key_values_give(&a, key("max_steps"), "9", err, sizeof err) == HRM_OK); /* not stored */
    ck_assert(hrm_key_values_give(&a, key("beta1"), "1", err, sizeof err) == HRM_ERR_INVALID_ARG);
    ck_assert_str_eq(err, "beta1: '1' is not a number in [0, 0.999999]");
    char *json = hrm_train_json(&a, 12, 40);
    ck_assert_str_eq(
        json, "{\"data_path\":\"data/sudoku\",\"global_batch_size\":768,\"epochs\":100000,\"lr\":6.9999999999999994e-5,"
              "\"lr_min_ratio\":1.0,\"lr_warmup_steps\":2000,\"weight_decay\":0.10000000000000001,"
              "\"puzzle_emb_lr\":0.01,\"puzzle_emb_weight_decay\":0.10000000000000001,\"beta1\":0.90000000000000002,"
              "\"beta2\":0.94999999999999996,\"seed\":0,\"data_shuffle\":false,\"checkpoint_every_eval\":true,"
              "\"arch.loss.loss_type\":\"softmax_cross_entropy\",\"matmul_precision\":\"highest\",\"step\":12,"
              "\"total_steps\":40}");
    /* read back: what was not given comes from the file; what was given wins */
    ck_assert(hrm_key_values_init(&b, err, sizeof err) == HRM_OK);
    ck_assert(hrm_key_values_give(&b, key("lr"), "1e-3", err, sizeof err) == HRM_OK);
    ck_assert_msg(hrm_train_json_restore(&b, json, err, sizeof err) == HRM_OK, "%s", err);
    ck_assert(b.num[hrm_key_index(key("lr"))] == 1e-3);
    ck_assert_str_eq(b.text[hrm_key_index(key("data_path"))], "data/sudoku");
    ck_assert(b.num[hrm_key_index(key("data_shuffle"))] == 0);
    hrm_train_settings s = hrm_key_values_settings(&b);
    ck_assert(s.loss_type == HRM_LOSS_SOFTMAX && s.lr == 1e-3 && s.global_batch_size == 768);
    hrm_key_values_free(&b);
    ck_assert(hrm_train_json_settings(json, &s, err, sizeof err) == HRM_OK);
    ck_assert(s.loss_type == HRM_LOSS_SOFTMAX && s.lr == 7e-5);
    ck_assert(hrm_train_json_settings(NULL, &s, err, sizeof err) == HRM_OK);
    ck_assert(s.loss_type == HRM_LOSS_STABLEMAX && s.lr == 1e-4);
    free(json);
    hrm_key_values_free(&a);

    /* refusals: one line naming the key */
    static const struct {
        const char *json, *err;
    } bad[] = {
        {"[1]", "no valid hrm.train metadata (not written by hrm train)"},
        {"{\"lr\": \"fast\"}", "hrm.train has a bad lr (lr: 'fast' is not a number in [0, 1000])"},
        {"{\"arch.loss.loss_type\": \"mse\"}", "hrm.train has a bad arch.loss.loss_type (arch.loss.loss_type: 'mse' is "
                                               "not stablemax_cross_entropy or softmax_cross_entropy)"},
        {"{\"seed\": [0]}", "hrm.train has a bad seed (not a string, boolean or number)"},
        {"{\"global_batch_size\": 0}", "hrm.train has a bad global_batch_size (global_batch_size: '0' is not an "
                                       "integer in [1, 1048576])"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert(hrm_key_values_init(&b, err, sizeof err) == HRM_OK);
        ck_assert_msg(hrm_train_json_restore(&b, bad[i].json, err, sizeof err) == HRM_ERR_INVALID_ARG, "%s accepted",
                      bad[i].json);
        ck_assert_str_eq(err, bad[i].err);
        hrm_key_values_free(&b);
        ck_assert(hrm_train_json_settings(bad[i].json, &s, err, sizeof err) == HRM_ERR_INVALID_ARG);
    }
    /* keys it does not know (a newer writer's) are ignored, null means "not recorded" */
    ck_assert(hrm_train_json_settings("{\"future_key\": 1, \"lr\": null}", &s, err, sizeof err) == HRM_OK);
    ck_assert(s.lr == 1e-4);
}
END_TEST

int main(void) {
    Suite *s = suite_create("config_keys");
    TCase *tc = tcase_create("config_keys");
    tcase_add_test(tc, test_published_defaults);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_config_json_order);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_train_json);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
