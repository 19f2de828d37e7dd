/* core/checkpoint.h - the files of a training run (docs/ARCHITECTURE.md "Checkpoint weights", "Training state"):
 *
 *   step_K.safetensors  the weights: every tensor of the parameter table under its published
 *                       name, float32; __metadata__ "hrm.config" (the architecture, params.h JSON)
 *                       and, written by `hrm train`, "hrm.train" (the training settings, JSON).
 *   step_K.state        the rest of a run's state, so that a resumed run continues exactly as an
 *                       uninterrupted one: a safetensors file with the tensors
 *                         adam.m, adam.v [adam_total]       AdamATan2 moments
 *                         carry.zH, carry.zL [B, S, D]      the ACT carry
 *                         slots.steps, slots.halted [B]     per-slot host state,
 *                         slots.inputs, slots.labels [B, L] integers stored exactly as float32
 *                         slots.puzzle_ids [B]              (every value is below 2^24)
 *                       and the metadata "hrm.state" = {"format": "hrm-train-state", "version": 1,
 *                       "step": optimizer steps, "batch": B, "seq_len": L, "rng": [4 hex words]}
 *                       and "hrm.sampler" (hrm_sampler_state_format's line, hrm-sampler-v2, shorter
 *                       than HRM_SAMPLER_STATE_MAX; a shuffled v1 line is refused on resume).
 * Both are written atomically (FILE.tmp, fsync, rename); reading checks every name, shape and
 * the version, and fails with one line naming the file. */
#ifndef HRM_CORE_CHECKPOINT_H
#define HRM_CORE_CHECKPOINT_H

#include "internal.h"
#include <stddef.h>

#include "act.h"
#include "dataset.h"
#include "params.h"
#include "sampler.h"

#define HRM_TRAIN_STATE_VERSION 1

/* A weights file in memory. */
typedef struct hrm_checkpoint {
    hrm_config cfg;
    hrm_param_table table;
    float *params;    /* [table.total] the flat buffer, ready for hrm_model_set_params */
    char *train_json; /* the "hrm.train" metadata, NULL when absent */
} hrm_checkpoint;

/* Reads path: hrm.config (required), then exactly the table's tensors with their shapes. On
 * failure *out holds nothing to free. */
HRM_INTERNAL hrm_status hrm_checkpoint_read(const char *path, hrm_checkpoint *out, char *err, size_t err_size);
HRM_INTERNAL void hrm_checkpoint_free(hrm_checkpoint *ck);

/* Writes the flat buffer params [t->total] as the table's tensors, with hrm.config and (when
 * train_json is not NULL) hrm.train, atomically. */
HRM_INTERNAL hrm_status hrm_checkpoint_write(const char *path, const hrm_config *cfg, const hrm_param_table *t,
                                             const float *params, const char *train_json, char *err, size_t err_size);

/* Checks that the architecture read from ckpt_path fits the dataset DIR/split (vocab_size, seq_len,
 * num_puzzle_identifiers); the error names both files. */
HRM_INTERNAL hrm_status hrm_checkpoint_check_dataset(const hrm_config *cfg, const char *ckpt_path,
                                                     const hrm_dataset_meta *meta, const char *dir, const char *split,
                                                     char *err, size_t err_size);

/* Downloads the training state of a (the optimizer, the carry, the slots, the RNG) and s's state
 * and writes them to path atomically. */
HRM_INTERNAL hrm_status hrm_train_state_save(const char *path, hrm_act *a, const hrm_sampler *s, char *err,
                                             size_t err_size);

/* Reads path, checks it against a (batch, shapes, value ranges) and restores a and s. A failure
 * while reading or checking changes nothing; one while restoring leaves a and s unusable. */
HRM_INTERNAL hrm_status hrm_train_state_load(const char *path, hrm_act *a, hrm_sampler *s, char *err, size_t err_size);

#endif /* HRM_CORE_CHECKPOINT_H */
