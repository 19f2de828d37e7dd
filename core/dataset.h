/* core/dataset.h - puzzle datasets in the published HRM layout (docs/ARCHITECTURE.md "Dataset layout").
 *
 *   DIR/identifiers.json              ["<blank>", "name1", ...]: one name per puzzle identifier
 *   DIR/SPLIT/dataset.json            pad_id, ignore_label_id (or null), blank_identifier_id,
 *                                     vocab_size, seq_len, num_puzzle_identifiers, total_groups,
 *                                     mean_puzzle_examples, sets (["all"])
 *   DIR/SPLIT/all__inputs.npy         (N, seq_len) uint8 or any integer type that fits
 *   DIR/SPLIT/all__labels.npy         (N, seq_len), same shape
 *   DIR/SPLIT/all__puzzle_identifiers.npy  int32 (P,)    identifier of each puzzle
 *   DIR/SPLIT/all__puzzle_indices.npy      int32 (P+1,)  examples of puzzle p: [idx[p], idx[p+1])
 *   DIR/SPLIT/all__group_indices.npy       int32 (G+1,)  puzzles of group g: [idx[g], idx[g+1])
 *
 * A group is an original puzzle, its puzzles are augmented variants (each with its own
 * identifier), and a puzzle's examples are input/label pairs. Loading checks every array's dtype
 * and shape, the index arrays (start at 0, non-decreasing, end at the next level's count), tokens
 * (inputs in [0, vocab_size); labels too, or equal to ignore_label_id), identifiers (in [0,
 * num_puzzle_identifiers)) and total_groups == G; the first problem found is one error line
 * naming the file. Writing produces the same layout, each file atomically. */
#ifndef HRM_CORE_DATASET_H
#define HRM_CORE_DATASET_H

#include "internal.h"
#include <stdbool.h>
#include <stdint.h>

#include "npy.h"

/* dataset.json, with the published field names. */
typedef struct hrm_dataset_meta {
    int pad_id;
    bool has_ignore_label; /* false when ignore_label_id is null */
    int ignore_label_id;
    int blank_identifier_id;
    int vocab_size;
    int seq_len;
    int num_puzzle_identifiers;
    int total_groups;
    double mean_puzzle_examples;
} hrm_dataset_meta;

typedef struct hrm_dataset {
    hrm_dataset_meta meta;
    int num_examples;            /* N */
    int num_puzzles;             /* P */
    int num_groups;              /* G */
    hrm_npy_array inputs;        /* (N, seq_len) uint8 or int32 */
    hrm_npy_array labels;        /* (N, seq_len) uint8 or int32 */
    int32_t *puzzle_identifiers; /* (P,) */
    int32_t *puzzle_indices;     /* (P+1,) */
    int32_t *group_indices;      /* (G+1,) */
    char **identifiers;          /* (num_identifiers,) from DIR/identifiers.json; may be NULL for writing */
    int num_identifiers;
} hrm_dataset;

/* Loads and checks DIR/split (split is "train" or "test") and DIR/identifiers.json. On failure
 * *out holds nothing to free. */
HRM_INTERNAL hrm_status hrm_dataset_load(const char *dir, const char *split, hrm_dataset *out, char *err,
                                         size_t err_size);
HRM_INTERNAL void hrm_dataset_free(hrm_dataset *ds);
/* Loads only DIR/identifiers.json into out->identifiers / num_identifiers (the rest zero), for a
 * caller that needs the names of a dataset's puzzles, not its examples. Free with
 * hrm_dataset_free; on failure *out holds nothing to free. */
HRM_INTERNAL hrm_status hrm_dataset_load_identifiers(const char *dir, hrm_dataset *out, char *err, size_t err_size);

/* The checks of hrm_dataset_load on a dataset in memory; errors name the file that would hold
 * the offending array under DIR/split. */
HRM_INTERNAL hrm_status hrm_dataset_validate(const hrm_dataset *ds, const char *dir, const char *split, char *err,
                                             size_t err_size);

/* Checks ds, then writes DIR/split (creating DIR and DIR/split) and, when ds->identifiers is
 * set, DIR/identifiers.json. Each file is replaced atomically. */
HRM_INTERNAL hrm_status hrm_dataset_write(const hrm_dataset *ds, const char *dir, const char *split, char *err,
                                          size_t err_size);

/* Token at example row, position col. */
static inline int32_t hrm_dataset_input(const hrm_dataset *ds, int row, int col) {
    return hrm_npy_int_at(&ds->inputs, (size_t)row * (size_t)ds->meta.seq_len + (size_t)col);
}
static inline int32_t hrm_dataset_label(const hrm_dataset *ds, int row, int col) {
    return hrm_npy_int_at(&ds->labels, (size_t)row * (size_t)ds->meta.seq_len + (size_t)col);
}

/* The puzzle that example row belongs to (binary search in puzzle_indices). */
HRM_INTERNAL int hrm_dataset_puzzle_of(const hrm_dataset *ds, int row);

#endif /* HRM_CORE_DATASET_H */
