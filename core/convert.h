/* core/convert.h - a published PyTorch HRM state dict (core/torch_ckpt.h) to our checkpoint
 * (safetensors, docs/ARCHITECTURE.md "Checkpoint weights"): what `hrm convert` does, here so tests can reach it.
 *
 * Names lose their `_orig_mod.` prefix (torch.compile'd models). The architecture comes from the
 * tensors where their shapes tell it (hidden_size, vocab_size, H_layers, L_layers,
 * num_puzzle_identifiers and puzzle_emb_ndim, learned positions and then seq_len, the SwiGLU
 * width and so the expansion) and from settings for the rest (num_heads, cycles, halting, ...,
 * with the published defaults); a setting that contradicts a shape is an error. */
#ifndef HRM_CORE_CONVERT_H
#define HRM_CORE_CONVERT_H

#include "internal.h"
#include <stddef.h>
#include <stdint.h>

#include "params.h"
#include "torch_ckpt.h"

/* Infers the config of the state dict f read from path. settings[n] are "key=value" with the
 * published config names, optionally as "arch.key" (arch.name and arch.loss.* are accepted and
 * ignored: training settings); a key given twice is an error. On failure writes one line. */
HRM_INTERNAL hrm_status hrm_convert_config(const hrm_torch_file *f, const char *path, const char *const *settings,
                                           int n, hrm_config *out, char *err, size_t err_size);

typedef struct hrm_convert_summary {
    int tensors;        /* written */
    int64_t parameters; /* hrm_params_count: the published model's parameter count */
    int64_t values;     /* floats written, buffers included */
    int skipped;        /* known non-parameters left out (rotary caches, puzzle_emb.local_*) */
    int from_bf16, from_f16;
} hrm_convert_summary;

/* Checks that f holds exactly the tensors of c's parameter table with their shapes (known
 * non-parameter buffers aside) and writes them as float32 with hrm.config metadata to out_path,
 * atomically. Errors name in_path (or out_path for a failed write) and the tensor. */
HRM_INTERNAL hrm_status hrm_convert_write(const hrm_torch_file *f, const char *in_path, const hrm_config *c,
                                          const char *out_path, hrm_convert_summary *summary, char *err,
                                          size_t err_size);

/* The state-dict name without its leading `_orig_mod.` prefixes. */
HRM_INTERNAL const char *hrm_convert_strip(const char *name);

#endif /* HRM_CORE_CONVERT_H */
