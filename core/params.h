/* core/params.h - the HRM architecture (hrm.config) and its parameter table.
 *
 * Every tensor of the model lives in one flat float buffer, carved by a table of named slices
 * with the published checkpoint names and shapes (docs/MODEL.md "Parameters"). The order is
 * chosen for the optimizers: first every AdamATan2 parameter (one contiguous range, so one
 * adam_atan2 call updates them all), then the puzzle embedding (SignSGD rows), then H_init and
 * L_init (fixed, never trained). */
#ifndef HRM_CORE_PARAMS_H
#define HRM_CORE_PARAMS_H

#include "internal.h"
#include <stddef.h>
#include <stdint.h>

#include "hrm/status.h"

/* pos_encodings: rope, learned, or none (the published code adds no position information for
 * any other value; TRM's MLP form runs with none). */
typedef enum hrm_pos_encoding { HRM_POS_ROPE = 0, HRM_POS_LEARNED = 1, HRM_POS_NONE = 2 } hrm_pos_encoding;

/* The architecture: HRM (docs/MODEL.md) or TRM, the Tiny Recursive Model (docs/TRM.md), by the
 * published config group names hrm_v1 and trm. */
typedef enum hrm_arch { HRM_ARCH_HRM = 0, HRM_ARCH_TRM = 1 } hrm_arch;

/* The architecture, with the published config names (docs/MODEL.md "Configuration", docs/TRM.md
 * "Configuration"; stored as docs/ARCHITECTURE.md "Checkpoint weights" says). The first 16 fields
 * are HRM's; the last four are TRM's (arch.yaml trm) and keep their HRM values (hrm, 0, false,
 * false) in an HRM config. For TRM, H_cycles is T, L_cycles n, L_layers the one network's blocks,
 * and H_layers is ignored, as published. */
typedef struct hrm_config {
    int hidden_size, num_heads, H_layers, L_layers, H_cycles, L_cycles;
    double expansion;
    int puzzle_emb_ndim;
    hrm_pos_encoding pos_encodings;
    double rope_theta, rms_norm_eps;
    int halt_max_steps;
    double halt_exploration_prob;
    int vocab_size, seq_len, num_puzzle_identifiers;
    hrm_arch arch;
    int puzzle_emb_len;  /* prefix rows; 0: ceil(puzzle_emb_ndim / hidden_size) */
    int mlp_t;           /* 1: TRM's MLP form (token mixing by a SwiGLU across the sequence) */
    int no_ACT_continue; /* 1: halt on q_halt > 0, no continue target or loss */
} hrm_config;

/* The published defaults (docs/MODEL.md "Configuration"), from the key table (config_keys.c); the
 * dataset fields are left 0. */
HRM_INTERNAL hrm_config hrm_config_default(void);
/* The published defaults of an architecture: HRM's, or for TRM those of config/arch/trm.yaml
 * (H_layers 0, L_layers 2, H_cycles 3, L_cycles 6, puzzle_emb_len 16, no_ACT_continue). */
HRM_INTERNAL hrm_config hrm_config_default_arch(hrm_arch arch);

/* Derived sizes. */
HRM_INTERNAL int hrm_config_head_dim(const hrm_config *c);           /* hidden_size / num_heads */
HRM_INTERNAL int hrm_config_intermediate(const hrm_config *c);       /* I of the SwiGLU */
HRM_INTERNAL int hrm_config_token_intermediate(const hrm_config *c); /* It of TRM's token SwiGLU (S wide) */
HRM_INTERNAL int hrm_config_prefix(const hrm_config *c);             /* P: puzzle_emb_len, or ceil(ndim / hidden) */
HRM_INTERNAL int hrm_config_full_seq(const hrm_config *c);           /* S = P + seq_len */

/* Checks ranges and divisibility; on failure writes one line and returns HRM_ERR_INVALID_ARG. */
HRM_INTERNAL hrm_status hrm_config_validate(const hrm_config *c, char *err, size_t err_size);

/* Serialises to the JSON object stored under hrm.config (caller frees). */
HRM_INTERNAL char *hrm_config_to_json(const hrm_config *c);

/* Parses a stored hrm.config (a checkpoint's): every one of HRM's 16 published keys is required;
 * TRM's four (arch, puzzle_emb_len, mlp_t, no_ACT_continue) are written only for TRM and read as
 * HRM's values when absent. Keys this version does not know are ignored (newer writers stay readable). On a missing key, a
 * wrong type or value, writes one line naming the key, without an "hrm.config:" prefix (the
 * caller names the file and the source), and returns HRM_ERR_INVALID_ARG. */
HRM_INTERNAL hrm_status hrm_config_parse(const char *json, hrm_config *c, char *err, size_t err_size);

/* The lenient form, for settings layered on defaults (hrm convert's key=value list, where the
 * user gives only what differs from the published config): keys present override *c, missing
 * keys keep the value already in *c. Never for a stored config: use hrm_config_parse. */
HRM_INTERNAL hrm_status hrm_config_apply_json(const char *json, hrm_config *c, char *err, size_t err_size);

typedef enum hrm_param_role {
    HRM_PARAM_ADAM = 0,   /* trained by AdamATan2 */
    HRM_PARAM_PUZZLE = 1, /* puzzle embedding: SignSGD on the rows a batch uses */
    HRM_PARAM_FIXED = 2,  /* H_init, L_init: never trained */
} hrm_param_role;

typedef enum hrm_param_init {
    HRM_INIT_TRUNC_NORMAL = 0, /* std in init_value */
    HRM_INIT_CONST = 1,        /* every element = init_value (0 for zeros) */
} hrm_param_init;

typedef struct hrm_param {
    char name[96]; /* checkpoint name, e.g. model.inner.L_level.layers.0.mlp.down_proj.weight */
    int ndim;
    int64_t shape[2];
    int64_t offset, numel; /* in floats, within the flat buffer */
    hrm_param_role role;
    hrm_param_init init;
    double init_value;
} hrm_param;

typedef struct hrm_param_table {
    hrm_param *params;
    int count;
    int64_t total;      /* floats in the flat buffer */
    int64_t adam_total; /* floats in [0, adam_total): the AdamATan2 range */
} hrm_param_table;

/* Builds the table of a validated config; HRM_ERR_OUT_OF_MEMORY on allocation failure. */
HRM_INTERNAL hrm_status hrm_params_build(const hrm_config *c, hrm_param_table *t);
HRM_INTERNAL void hrm_params_free(hrm_param_table *t);
HRM_INTERNAL const hrm_param *hrm_params_find(const hrm_param_table *t, const char *name);

/* The published model's parameter count: its nn.Parameters, i.e. the AdamATan2 range (the
 * puzzle embedding and H_init/L_init are buffers there). 27,275,266 for the Sudoku model. */
HRM_INTERNAL int64_t hrm_params_count(const hrm_param_table *t);

#endif /* HRM_CORE_PARAMS_H */
