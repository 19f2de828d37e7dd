/* core/config_keys.h - the one table of every model and training key: its name (the published
 * pretrain.py override name), type, range, default, help line and where it is stored. It drives
 * hrm_config_default and hrm_train_settings_default, the hrm.config JSON of a checkpoint
 * (params.c), the hrm.train JSON (written by `hrm train`, read back on resume and by `hrm eval`),
 * and `hrm train`'s key=value overrides and --help (tools/cmd_train.c).
 *
 * Where a key is stored:
 *   HRM_STORE_SHAPE  hrm.config; fixes the parameter shapes (a checkpoint's value wins)
 *   HRM_STORE_ARCH   hrm.config; no shape depends on it (init_checkpoint's may be overridden)
 *   HRM_STORE_DATA   hrm.config; taken from the dataset, never given on a command line
 *   HRM_STORE_TRAIN  hrm.train; a training setting, restored on resume
 *   HRM_STORE_RUN    nowhere: this invocation only
 * A key of hrm.config is named there without its "arch." prefix. */
#ifndef HRM_CORE_CONFIG_KEYS_H
#define HRM_CORE_CONFIG_KEYS_H

#include "internal.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act.h"
#include "params.h"

typedef enum hrm_key_type {
    HRM_KEY_INT,        /* an integer in [lo, hi] */
    HRM_KEY_REAL,       /* a finite number in [lo, hi] */
    HRM_KEY_POSITIVE,   /* a finite number in (lo, hi] */
    HRM_KEY_BOOL,       /* true/false (also True/False, 1/0, yes/no) */
    HRM_KEY_STRING,     /* any non-empty text */
    HRM_KEY_POS,        /* rope | learned | none */
    HRM_KEY_ARCH,       /* hrm_v1 | trm (the published config groups) */
    HRM_KEY_ARCH_NAME,  /* the published model class, with or without its "module@": sets arch */
    HRM_KEY_LOSS,       /* stablemax_cross_entropy | softmax_cross_entropy */
    HRM_KEY_PRECISION,  /* highest | high | medium */
    HRM_KEY_ONLY,       /* the default, or its part after '@': a published key with one value here */
    HRM_KEY_EMPTY_LIST, /* only "[]" */
} hrm_key_type;

typedef enum hrm_key_store {
    HRM_STORE_SHAPE,
    HRM_STORE_ARCH,
    HRM_STORE_DATA,
    HRM_STORE_TRAIN,
    HRM_STORE_RUN,
} hrm_key_store;

/* The C field a key sets, in hrm_config (the hrm.config keys) or hrm_train_settings. */
typedef enum hrm_field_kind {
    HRM_FIELD_NONE,
    HRM_FIELD_INT,
    HRM_FIELD_I64,
    HRM_FIELD_U64,
    HRM_FIELD_DOUBLE,
    HRM_FIELD_POS,  /* hrm_pos_encoding */
    HRM_FIELD_LOSS, /* hrm_loss_kind */
    HRM_FIELD_ARCH, /* hrm_arch */
    HRM_FIELD_BOOL, /* int 0/1, a JSON boolean */
} hrm_field_kind;

typedef struct hrm_key {
    const char *name; /* as given on the command line and stored in hrm.train: "lr", "arch.hidden_size" */
    hrm_key_type type;
    hrm_key_store store;
    double lo, hi;    /* numeric range */
    const char *def;  /* the default as text; NULL: none (see help) */
    const char *help; /* one line for --help ("" for the arch keys) */
    hrm_field_kind field;
    size_t offset;    /* of the field in hrm_config (SHAPE, ARCH, DATA) or hrm_train_settings (TRAIN) */
    int config_order; /* position in the hrm.config JSON; -1 when not there */
} hrm_key;

/* The table, in `hrm train --help` order (hrm.train's keys come in this order too). */
HRM_INTERNAL const hrm_key *hrm_keys(int *count);

/* The key named `name`, or NULL. */
HRM_INTERNAL const hrm_key *hrm_key_find(const char *name);

/* The index of k in the table. */
HRM_INTERNAL int hrm_key_index(const hrm_key *k);

/* The name a hrm.config key has in the JSON: name without "arch.". */
HRM_INTERNAL const char *hrm_key_config_name(const hrm_key *k);

/* The hrm.config keys in JSON order: out[i] for i < *count (20): HRM's 16 published keys, then
 * TRM's four (HRM_CONFIG_KEYS_HRM marks where they start). */
#define HRM_CONFIG_KEYS_HRM 16
HRM_INTERNAL const hrm_key *const *hrm_config_keys(int *count);

/* The text of an enum value as the key table spells it (pos_encodings, arch, loss). */
HRM_INTERNAL const char *hrm_pos_name(hrm_pos_encoding p);
HRM_INTERNAL const char *hrm_arch_name(hrm_arch a);

/* Parses text as k's value into *num (integers and reals as they are; bool 0/1; rope/learned/none,
 * the architecture, the loss and the precision as their enum values; other types 0). On failure writes one line
 * that starts with the key's name ("lr: 'x' is not a number in [0, 1000]") and returns
 * HRM_ERR_INVALID_ARG. */
HRM_INTERNAL hrm_status hrm_key_parse(const hrm_key *k, const char *text, double *num, char *err, size_t err_size);

/* A key's field in obj (an hrm_config for SHAPE, ARCH and DATA keys, an hrm_train_settings for
 * TRAIN keys with a field), as a double, and its setter. Keys without a field: NAN / no-op. */
HRM_INTERNAL double hrm_key_get(const hrm_key *k, const void *obj);
HRM_INTERNAL void hrm_key_set(const hrm_key *k, void *obj, double v);

/* Every key's value for one invocation: the text (the command line's, a checkpoint's hrm.train,
 * or the default) and its parsed number, indexed as the table. */
#define HRM_KEYS_MAX 64
typedef struct hrm_key_values {
    const char *text[HRM_KEYS_MAX];
    char *owned[HRM_KEYS_MAX]; /* texts made from hrm.train, freed by hrm_key_values_free */
    bool given[HRM_KEYS_MAX];  /* set by hrm_key_values_give (the command line) */
    double num[HRM_KEYS_MAX];
} hrm_key_values;

/* Every key at its default (a key without one has text NULL). Fails only if a default does not
 * parse (a bug in the table), with err set. */
HRM_INTERNAL hrm_status hrm_key_values_init(hrm_key_values *v, char *err, size_t err_size);
HRM_INTERNAL void hrm_key_values_free(hrm_key_values *v);

/* Gives key k the value text (not copied: it must outlive v). HRM_ERR_INVALID_ARG with one line
 * in err when it does not parse; a second value for the same key is the caller's to refuse. */
HRM_INTERNAL hrm_status hrm_key_values_give(hrm_key_values *v, const hrm_key *k, const char *text, char *err,
                                            size_t err_size);

/* hrm.train: the HRM_STORE_TRAIN keys that have a value, with their JSON types, in table order,
 * then "step" and "total_steps". Caller frees; NULL when out of memory. */
HRM_INTERNAL char *hrm_train_json(const hrm_key_values *v, int64_t step, int64_t total_steps);

/* Takes every HRM_STORE_TRAIN key not given from the hrm.train text json. HRM_ERR_INVALID_ARG
 * with one line in err ("no valid hrm.train metadata ...", "hrm.train has a bad KEY (...)") when
 * json is NULL, not an object, or holds a value that does not parse. */
HRM_INTERNAL hrm_status hrm_train_json_restore(hrm_key_values *v, const char *json, char *err, size_t err_size);

/* The training settings of v (every TRAIN key with a field; global_batch_size included);
 * total_steps is left 0 for the caller. */
HRM_INTERNAL hrm_train_settings hrm_key_values_settings(const hrm_key_values *v);

/* The training settings a checkpoint's hrm.train records (json NULL: the defaults), for `hrm
 * eval`. HRM_ERR_INVALID_ARG with one line in err when it is there but broken. */
HRM_INTERNAL hrm_status hrm_train_json_settings(const char *json, hrm_train_settings *out, char *err, size_t err_size);

#endif /* HRM_CORE_CONFIG_KEYS_H */
