/* core/tool-api/hrm_internal.h - the internal API of the hrm program: the one header through which
 * tools/ (the `hrm` program), bench/ (its benchmark) and common/ (their option parser and SVG
 * writer) reach the core's private declarations. Their meson.build files put include/ and this
 * folder in the include path, never core/ itself: besides the public headers (include/hrm: hrm.h,
 * solver.h, task.h), which they use wherever those suffice, this is all they see of the core.
 * fuzz/ compiles some of their files, so its harnesses have this folder in their path too; the
 * tests and the fuzz harnesses themselves test the core's pieces one by one and include core's
 * headers directly.
 *
 * Not installed, and no API: what it offers are the core functions marked HRM_INTERNAL
 * (core/internal.h), exported from libhrm only so that the program and the tests can call them.
 * There is no stable ABI and no version; they change with the core, in the same commit as their
 * callers. A program other than ours uses include/hrm alone (hrm/solver.h for inference).
 *
 * Nothing is declared here: it includes the core headers that declare what it offers, each of
 * which documents its part. Grouped by purpose:
 *
 *   Configuration and model   core/params.h: hrm_config (hrm_config_default, _validate, the derived
 *                             sizes _intermediate, _prefix, _full_seq), the parameter table
 *                             (hrm_params_count). core/model.h: the model on a backend context
 *                             (hrm_model_create, _free, _error, _init_params, _set_params,
 *                             _get_params, _set_matmul_precision, _activation_buffers, ...).
 *   Training loop             core/act.h: the ACT state (hrm_act_create, _free, _error,
 *                             hrm_act_train_step, hrm_act_eval_segment), hrm_train_settings and
 *                             HRM_IGNORE_LABEL. core/sampler.h: the training sampler and batches
 *                             (hrm_sampler_init, _next, _free; hrm_batch_alloc, _gather, _free).
 *   Evaluation                core/evaluate.h: a whole split (hrm_evaluate, hrm_eval_dump,
 *                             hrm_eval_report).
 *   Checkpoints and files     core/checkpoint.h: weights and training-state files
 *                             (hrm_checkpoint_read, _write, _free, _check_dataset;
 *                             hrm_train_state_save, _load). core/npy.h: .npy files (hrm_npy_write,
 *                             the streaming hrm_npy_writer). core/io_util.h: one-line file errors
 *                             (hrm_io_fail) and atomic replacement of a file (hrm_atomic_*).
 *   Datasets                  core/dataset.h: the published layout (hrm_dataset_load, _free,
 *                             _load_identifiers, _puzzle_of, _input, _label).
 *                             core/dataset_builder.h: `hrm data build`'s writer (hrm_dsb_*).
 *   Conversion                core/torch_ckpt.h: torch.save files (hrm_torch_read, _free).
 *                             core/convert.h: a published state dict to our checkpoint
 *                             (hrm_convert_config, hrm_convert_write).
 *   Task plugins              core/task_loader.h: finding and loading hrm-task-*.so
 *                             (hrm_task_scan, _find, _match, hrm_task_list_free). Their ABI is
 *                             public (hrm/task.h), as is all of backend plugins (hrm/hrm.h).
 *   Config keys               core/config_keys.h: the table of every model and training key
 *                             (hrm_keys, hrm_key_find, _index, _get, _set, _config_name), parsed
 *                             overrides (hrm_key_values_*) and the hrm.train JSON (hrm_train_json,
 *                             _restore, _settings).
 *   Error convention          core/status.h: TRY, and how the core reports failures.
 *
 * Those headers also bring core/internal.h (HRM_INTERNAL), core/rng.h (the generator in the ACT
 * state) and core/ops.h (the call layer the ACT state embeds as hrm_ops; its op_* functions are
 * hidden in libhrm, not for the program). The core's other private headers are not reachable from
 * here: core/model_internal.h (the hrm_model struct and the model files' helpers), optim.h,
 * init.h, safetensors.h and plugin_dirs.h. */
#ifndef HRM_TOOL_API_INTERNAL_H
#define HRM_TOOL_API_INTERNAL_H

#include "hrm/hrm.h"
#include "hrm/task.h"

/* configuration and model */
#include "../model.h"
#include "../params.h"
/* training loop */
#include "../act.h"
#include "../sampler.h"
/* evaluation */
#include "../evaluate.h"
/* checkpoints and files */
#include "../checkpoint.h"
#include "../io_util.h"
#include "../npy.h"
/* datasets */
#include "../dataset.h"
#include "../dataset_builder.h"
/* conversion */
#include "../convert.h"
#include "../torch_ckpt.h"
/* task plugins */
#include "../task_loader.h"
/* config keys */
#include "../config_keys.h"
/* error convention */
#include "../status.h"

#endif /* HRM_TOOL_API_INTERNAL_H */
