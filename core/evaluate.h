/* core/evaluate.h - evaluation of a whole dataset split, as the published pretrain.py evaluate()
 * does it: every example once, in file order, in batches of the eval state's B slots, each batch
 * run for M segments from a fresh carry; the metrics of the last segment summed over the real
 * examples (padding slots of the last batch are left out of every sum, losses included).
 *
 * Reported (hrm_eval_report): count = examples with at least one valid label; accuracy,
 * exact_accuracy, q_halt_accuracy, steps and the losses divided by max(count, 1), the published
 * evaluation's normalisation. */
#ifndef HRM_CORE_EVALUATE_H
#define HRM_CORE_EVALUATE_H

#include "internal.h"
#include <stdbool.h>
#include <stdint.h>

#include "act.h"
#include "dataset.h"

/* What a caller may want back per example (each may be NULL); N = ds->num_examples. The logits
 * and predictions of a whole split are large (1.5 GB of logits for the Sudoku test set), so they
 * come batch by batch, in file order, through `rows`; the Q values are small and kept whole. */
typedef struct hrm_eval_dump {
    float *q_halt;     /* [M, N] */
    float *q_continue; /* [M, N] */
    /* Called after each batch with its real examples [first, first + valid): logits
     * [valid, seq_len, vocab] after the last segment and predictions [valid, seq_len] (argmax,
     * vocab <= 256). Returns HRM_OK, or an error status after one line in err (which stops the
     * evaluation with that status). */
    hrm_status (*rows)(void *user, int64_t first, int valid, const float *logits, const uint8_t *predictions, char *err,
                       size_t err_size);
    /* Called after each batch (may be NULL, and costs no logits transfer): predictions
     * [valid, seq_len] and q_halt [valid] of the last segment, for a task's verifier and scoring. */
    hrm_status (*predictions)(void *user, int64_t first, int valid, const uint8_t *predictions, const float *q_halt,
                              char *err, size_t err_size);
    void *user;
} hrm_eval_dump;

/* Sampled inference (docs/TRM.md "Sampled inference"): every batch runs `samples` times, the
 * first plain, each further run with noise of standard deviation `noise` on the recurrent state
 * (hrm_model_set_noise; run k of batch j draws from a stream of seed, j and k). Per example the
 * run whose final predictions `accept` accepts (may be NULL) and, among those (or among all where
 * it accepts none), the highest final q_halt wins; ties go to the earlier run. The metrics, the
 * dump and the predictions callback then see the winning run of each example, as if it had been
 * the only one. */
typedef struct hrm_eval_sampling {
    int samples;
    float noise;
    uint64_t seed;
    /* example: index in the split; prediction [seq_len] uint8 */
    bool (*accept)(void *user, int64_t example, const uint8_t *prediction);
    void *user;
} hrm_eval_sampling;

/* Sums over the real examples; divide with hrm_eval_report. */
typedef struct hrm_eval_sums {
    int64_t examples, count;
    double accuracy, exact_accuracy, q_halt_accuracy, steps, lm_loss, q_halt_loss;
} hrm_eval_sums;

typedef struct hrm_eval_report {
    int64_t examples, count;
    int segments;
    double accuracy, exact_accuracy, q_halt_accuracy, steps, lm_loss, q_halt_loss, loss;
} hrm_eval_report;

/* a: an evaluation state (training false) on the model; M <= 0 means halt_max_steps; sampling
 * NULL (or 1 sample, or noise 0): the plain evaluation. On failure writes one line (the act's or
 * the model's error). */
HRM_INTERNAL hrm_status hrm_evaluate(hrm_act *a, const hrm_dataset *ds, int M, const hrm_eval_sampling *sampling,
                                     hrm_eval_dump *dump, hrm_eval_report *out, char *err, size_t err_size);

#endif /* HRM_CORE_EVALUATE_H */
