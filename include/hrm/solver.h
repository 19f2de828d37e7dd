/* hrm/solver.h - the libhrm inference API: run puzzles through a trained HRM from any program.
 *
 * A solver holds one checkpoint's weights on one backend device, ready for batches of up to
 * max_batch puzzles. A run goes segment after segment (the ACT halting of the HRM project's docs/MODEL.md) and stops early once
 * every puzzle's learned halting says stop (HRM: q_halt > q_continue; TRM: q_halt > 0), as `hrm solve` does:
 *
 *     hrm_solver *s;
 *     char err[512];
 *     if (hrm_solver_open("step_100.safetensors", NULL, NULL, 1, &s, err, sizeof err)) { puts(err); ... }
 *     hrm_solver_run(s, 1, tokens, NULL, 0, false, prediction, &segments, NULL, err, sizeof err);
 *     hrm_solver_close(s);
 *
 * Tokens are the dataset's integers (the task plugin's encoding), seq_len per puzzle, each in
 * [0, vocab_size). Every failure returns a status and writes one line into err (which may be
 * NULL); nothing aborts or prints. A solver may move between threads but serves one call at a time.
 */
#ifndef HRM_SOLVER_H
#define HRM_SOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hrm/hrm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hrm_solver hrm_solver; /* opaque */

/* Reads checkpoint (safetensors with the hrm.config metadata, as `hrm train` writes it), opens
 * backend spec / device spec as hrm_ctx_open_with does (NULL backend: $HRM_BACKEND, else auto,
 * which also skips a device too small for the model; NULL device: device 0) and uploads the
 * weights, for runs of up to max_batch puzzles (>= 1).
 * The checkpoint is not needed afterwards. On failure *out is NULL. */
HRM_API hrm_status hrm_solver_open(const char *checkpoint, const char *backend, const char *device, int max_batch,
                                   hrm_solver **out, char *err, size_t err_size);

/* The precision of the model's matrix products (hrm_matmul_precision, hrm/backend.h; a new
 * solver runs HRM_PRECISION_HIGHEST). Where the device has no unit for `asked` the next higher
 * precision it has runs; *runs (may be NULL) says which. Never fails on a valid precision. */
HRM_API hrm_status hrm_solver_set_matmul_precision(hrm_solver *s, hrm_matmul_precision asked,
                                                   hrm_matmul_precision *runs);
/* The backend context the solver runs on (its plugin, device), e.g. for messages. */
HRM_API const hrm_ctx *hrm_solver_ctx(const hrm_solver *s);

/* The model's format, from its hrm.config: tokens per puzzle, the vocabulary (tokens lie in
 * [0, vocab_size)), the default segment limit, and the puzzle identifiers (in
 * [0, num_puzzle_identifiers); 0 is the blank identifier of a puzzle not seen in training).
 * Any pointer may be NULL. */
HRM_API void hrm_solver_info(const hrm_solver *s, int *seq_len, int *vocab_size, int *halt_max_steps,
                             int *num_puzzle_identifiers);

/* Solves n puzzles, 1 <= n <= max_batch:
 *   inputs      int32 [n, seq_len]  tokens
 *   puzzle_ids  int32 [n]           NULL: all 0 (blank)
 *   max_segments                    the segment limit M; <= 0: halt_max_steps
 *   all_segments                    false: stop each puzzle at the first segment where
 *                                   the model halts (or at M); true: run all M segments
 *   predictions int32 [n, seq_len]  out: the argmax tokens of the segment where the puzzle stopped
 *   segments_used int [n]           out, may be NULL: that segment's number, 1..M
 *   q_halt      float [n]           out, may be NULL: the Q head's halt logit at that segment
 * The batch runs until its last puzzle stops. A puzzle's answer does not depend on the other
 * puzzles, though another batch size may round differently (the backend may sum in another order),
 * so a q_halt within rounding of q_continue may stop at another segment. Inputs are checked before anything runs: a token or identifier out of range is an
 * HRM_ERR_INVALID_ARG naming it, and leaves the outputs untouched. */
HRM_API hrm_status hrm_solver_run(hrm_solver *s, int n, const int32_t *inputs, const int32_t *puzzle_ids,
                                  int max_segments, bool all_segments, int32_t *predictions, int *segments_used,
                                  float *q_halt, char *err, size_t err_size);

/* Sampled inference (after Probabilistic TRM, arXiv 2605.19943; docs/TRM.md "Sampled inference"):
 * every later hrm_solver_run runs its puzzles `samples` times. The first run is the plain one;
 * each further run adds Gaussian noise of standard deviation `noise` to the recurrent state (z_H
 * and z_L; TRM's y and z) at the start of every cycle, with its own draw from a stream seeded by `seed`. Per puzzle
 * the answer comes from the run whose prediction `accept` accepts (a task's verifier; may be
 * NULL) and, among those (or among all runs where it accepts none), whose Q head is the most
 * confident (the highest q_halt at the segment where the run stopped); ties go to the earlier
 * run. accept(user, puzzle, prediction) gets the puzzle's index in the run and its seq_len
 * predicted tokens. samples 1 or noise 0 is the plain run (the default); samples in [1, 4096],
 * noise >= 0 and finite, else HRM_ERR_INVALID_ARG. */
typedef bool (*hrm_solver_accept_fn)(void *user, int puzzle, const int32_t *prediction);
HRM_API hrm_status hrm_solver_set_sampling(hrm_solver *s, int samples, float noise, uint64_t seed,
                                           hrm_solver_accept_fn accept, void *user);

/* Frees the device memory and closes the backend. NULL is a no-op. */
HRM_API void hrm_solver_close(hrm_solver *s);

#ifdef __cplusplus
}
#endif
#endif /* HRM_SOLVER_H */
