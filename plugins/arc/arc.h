/* plugins/arc/arc.h - internals of the ARC task plugin, shared by its files and its test.
 *
 * The recipe is the published HRM one (sapientinc/HRM dataset/build_arc_dataset.py, dataset/common.py,
 * evaluators/arc.py): a grid of colours 0-9, at most 30x30, becomes 900 tokens (PAD 0, end-of-grid
 * marker 1, colour c as c+2) with markers along the row below and the column right of the grid; a
 * puzzle is augmented by one of the 8 dihedral transforms and a permutation of colours 1-9, and the
 * variant's name "TASK|||tT|||MMMMMMMMMM" records how, so that evaluation can map answers back. */
#ifndef HRM_PLUGINS_ARC_H
#define HRM_PLUGINS_ARC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hrm/task.h"

#define ARC_MAX 30                      /* grids are 1x1 up to ARC_MAX x ARC_MAX */
#define ARC_SEQ_LEN (ARC_MAX * ARC_MAX) /* tokens per example */
#define ARC_COLORS 10
#define ARC_VOCAB (ARC_COLORS + 2)
#define ARC_DIHEDRAL 8
#define ARC_NAME_SEP "|||" /* published PuzzleIdSeparator */
#define ARC_NAME_MAX 256

enum { ARC_PAD = 0, ARC_EOS = 1, ARC_COLOR0 = 2 };

typedef struct arc_grid {
    int h, w;
    uint8_t c[ARC_SEQ_LEN]; /* c is (h,w) row-major, colours 0-9 */
} arc_grid;

typedef struct arc_pair {
    arc_grid in, out;
} arc_pair;

/* One task file: its demonstration ("train") pairs, then its test pairs. */
typedef struct arc_task {
    char id[ARC_NAME_MAX]; /* the file name without .json */
    int n_train, n_test;
    arc_pair *pairs; /* pairs is (n_train + n_test) */
} arc_task;

/* An augmentation: dihedral transform `trans` of the grid after colour c became map[c] (map[0] = 0). */
typedef struct arc_aug {
    int trans;
    uint8_t map[ARC_COLORS];
} arc_aug;

/* ---- arc_grid.c: transforms, token encoding, names ---------------------------------------- */
void arc_aug_identity(arc_aug *a);
int arc_dihedral_inverse(int trans);
void arc_dihedral(const arc_grid *src, int trans, arc_grid *dst);
void arc_augment(const arc_grid *src, const arc_aug *a, arc_grid *dst);
void arc_unaugment(const arc_grid *src, const arc_aug *a, arc_grid *dst);
bool arc_grid_equal(const arc_grid *a, const arc_grid *b);
#define ARC_HASH_INIT 0xcbf29ce484222325ull /* FNV-1a offset basis */
uint64_t arc_hash_bytes(uint64_t h, const void *data, size_t n);
uint64_t arc_hash_mix(uint64_t h);
uint64_t arc_grid_hash(const arc_grid *g);

/* tokens is (30,30). encode places g with its top-left cell at (row, col). */
void arc_encode(const arc_grid *g, int row, int col, uint8_t *tokens);
/* Where a grid starts: the first colour cell in row-major order, (0,0) if there is none. */
void arc_origin(const uint8_t *tokens, int *row, int *col);
/* The published crop: the largest rectangle of colour cells whose top-left corner is (row, col)
 * and that stops at the first non-colour cell of each row; may be 0x0. */
void arc_decode_at(const uint8_t *tokens, int row, int col, arc_grid *g);

/* "TASK" for the original, "TASK|||tT|||M0M1...M9" for a variant. Returns false if it does not fit. */
bool arc_name_format(char *out, size_t size, const char *task, const arc_aug *a);
/* Splits a name into the task (written to task, NUL-terminated) and its augmentation; a name
 * without the separator is an original. Returns false for a malformed augmentation. */
bool arc_name_parse(const char *name, char *task, size_t task_size, arc_aug *a);

/* ---- arc_load.c: task files and typed grids (jansson) -------------------------------------- */
/* Reads a grid (a list of rows of integers 0-9). On failure why gets the reason. */
bool arc_grid_from_json(const json_t *j, arc_grid *g, char *why, size_t why_size);
/* The task id of a file: its name without .json (false if empty or too long). */
bool arc_task_id(const char *path, char *id, size_t id_size);
/* Loads one task file; on failure returns false with the reason (without the path) in why. */
bool arc_task_load(const char *path, arc_task *t, char *why, size_t why_size);
void arc_task_free(arc_task *t);

/* ---- arc_build.c, arc_eval.c: the iface slots ---------------------------------------------- */
extern const char arc_build_usage[];
hrm_status arc_build(const hrm_task_host *host, int argc, char **argv, const hrm_task_sink *train,
                     const hrm_task_sink *test, char *err, size_t err_size);
hrm_status arc_eval_begin(const char *const *identifiers, int num_identifiers, hrm_task_eval **out, char *err,
                          size_t err_size);
hrm_status arc_eval_add(hrm_task_eval *e, int32_t puzzle_identifier, const uint8_t *input, const uint8_t *label,
                        const uint8_t *prediction, float q_halt);
hrm_status arc_eval_end(hrm_task_eval *e, hrm_task_metric *metrics, int max, int *count, char *err, size_t err_size);

#endif /* HRM_PLUGINS_ARC_H */
