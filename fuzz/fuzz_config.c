/* fuzz/fuzz_config.c - the small text formats inside checkpoints: hrm_config_parse (a stored
 * "hrm.config", as every reader of a checkpoint parses it), hrm_config_apply_json (the lenient form
 * `hrm convert` layers on the published defaults), hrm_train_json_restore (a checkpoint's
 * "hrm.train", as `hrm train` reads it on resume and `hrm eval` for the loss type) and
 * hrm_sampler_state_parse (the "hrm.sampler" line of a training state). What parses must survive
 * the round trip through its writer (hrm_config_to_json, hrm_train_json, hrm_sampler_state_format)
 * unchanged. */
#include "config_keys.h"
#include "fuzz_util.h"
#include "params.h"
#include "sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void config_round_trip(const hrm_config *c) {
    char err[512];
    char *json = hrm_config_to_json(c);
    if (!json) return; /* out of memory */
    hrm_config again;
    memset(&again, 0, sizeof again);
    if (hrm_config_parse(json, &again, err, sizeof err) || !fuzz_same_config(c, &again)) {
        fprintf(stderr, "fuzz_config: a config we parsed does not write and parse back: %s\n%s\n", err, json);
        abort();
    }
    free(json);
}

/* hrm.train: what restores must write and restore to the same values. */
static void train_round_trip(const char *text) {
    char err[512];
    hrm_key_values v, again;
    if (hrm_key_values_init(&v, err, sizeof err)) abort();
    if (!hrm_train_json_restore(&v, text, err, sizeof err)) {
        char *json = hrm_train_json(&v, 1, 2);
        if (hrm_key_values_init(&again, err, sizeof err)) abort();
        int n, ok = json && !hrm_train_json_restore(&again, json, err, sizeof err);
        const hrm_key *keys = hrm_keys(&n);
        for (int i = 0; ok && i < n; i++) {
            if (keys[i].store != HRM_STORE_TRAIN) continue;
            bool same_text =
                (!v.text[i] && !again.text[i]) ||
                (v.text[i] && again.text[i] && (keys[i].type != HRM_KEY_STRING || !strcmp(v.text[i], again.text[i])));
            ok = same_text && v.num[i] == again.num[i];
        }
        if (json && !ok) {
            fprintf(stderr, "fuzz_config: an hrm.train we restored does not write and restore back: %s\n%s\n", err,
                    json);
            abort();
        }
        free(json);
        hrm_key_values_free(&again);
    }
    hrm_key_values_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char err[512];
    hrm_config c;
    memset(&c, 0, sizeof c);
    if (!hrm_config_parse(text, &c, err, sizeof err) && !hrm_config_validate(&c, err, sizeof err))
        config_round_trip(&c);
    c = hrm_config_default();
    if (!hrm_config_apply_json(text, &c, err, sizeof err) && !hrm_config_validate(&c, err, sizeof err))
        config_round_trip(&c);
    train_round_trip(text);
    hrm_sampler_state st, again;
    if (!hrm_sampler_state_parse(text, &st, err, sizeof err)) {
        char line[512];
        int n = hrm_sampler_state_format(&st, line, sizeof line);
        if (n < 0 || (size_t)n >= sizeof line || hrm_sampler_state_parse(line, &again, err, sizeof err) ||
            memcmp(&st, &again, sizeof st)) {
            fprintf(stderr, "fuzz_config: a sampler state we parsed does not format and parse back: %s\n", line);
            abort();
        }
    }
    free(text);
    return 0;
}
