/* core/dataset_builder.h - writes what a task plugin's builder produces (hrm_task_sink calls) as
 * a dataset in the published layout (dataset.h), for `hrm data build`.
 *
 * Examples stream to temporary files, so a build is not limited by memory (the published ARC set
 * with 1000 augmentations is gigabytes); indices and identifier names stay in memory. Everything
 * is written under OUT.partial and renamed onto OUT only when both splits are complete and pass
 * hrm_dataset_validate: an interrupted or failed build leaves OUT as it was. An existing OUT is
 * replaced only with `replace` set. Identifiers are shared by the splits (one identifiers.json),
 * 0 being "<blank>".
 *
 * A build holds an exclusive flock() on OUT.partial.lock (which names its pid) from open to commit
 * or abort, and removes the file then. A second build of the same OUT is refused while the first
 * lives; the lock dies with its process however that ends (SIGKILL, a crash), so an OUT.partial
 * that the next open finds with its lock free (or with no lock file, from an older version) was
 * left by an interrupted build and is removed, with a warning, before anything else. Replacing an
 * existing OUT renames it to OUT.partial.old, renames OUT.partial onto OUT, then removes the old
 * copy; a build that died between the two renames left no OUT, so the next open renames
 * OUT.partial.old back onto OUT (and one that died after them left a copy it removes), with a
 * warning. */
#ifndef HRM_CORE_DATASET_BUILDER_H
#define HRM_CORE_DATASET_BUILDER_H

#include "internal.h"
#include <stdbool.h>
#include <stdint.h>

#include "hrm/task.h"

typedef struct hrm_dataset_builder hrm_dataset_builder;

enum { HRM_SPLIT_TRAIN = 0, HRM_SPLIT_TEST = 1 };

/* Starts a build of `out` for a task of format fmt. Fails with one line in err, touching nothing of
 * another build's, when another build of out is running ("OUT.partial: another `hrm data build` is
 * writing OUT (pid N)"), when out exists and replace is false, or when OUT.partial cannot be
 * created. warn gets one line ("removed OUT.partial left by an interrupted build", "restored OUT
 * from the copy an interrupted replacing build left", joined by "; ") when it cleaned up after an
 * interrupted build, also when the open then fails; "" otherwise. */
HRM_INTERNAL hrm_status hrm_dsb_open(const char *out, const hrm_task_format *fmt, bool replace, hrm_dataset_builder **b,
                                     char *warn, size_t warn_size, char *err, size_t err_size);

/* The sink of one split (HRM_SPLIT_TRAIN or HRM_SPLIT_TEST). A sink call that fails leaves one line
 * that hrm_dsb_error returns. */
HRM_INTERNAL hrm_task_sink hrm_dsb_sink(hrm_dataset_builder *b, int split);
HRM_INTERNAL const char *hrm_dsb_error(const hrm_dataset_builder *b);

/* Counts so far, for the closing summary. */
typedef struct hrm_dsb_counts {
    int64_t examples, puzzles, groups;
} hrm_dsb_counts;
HRM_INTERNAL hrm_dsb_counts hrm_dsb_counts_of(const hrm_dataset_builder *b, int split);
HRM_INTERNAL int hrm_dsb_identifiers(const hrm_dataset_builder *b);

/* Writes both splits (a split without examples is left out, with a warning line in warn), checks
 * them, and renames OUT.partial onto OUT. Frees b and releases the lock, also on failure (which
 * removes OUT.partial). */
HRM_INTERNAL hrm_status hrm_dsb_commit(hrm_dataset_builder *b, char *warn, size_t warn_size, char *err,
                                       size_t err_size);

/* Drops a build: removes OUT.partial and the lock, frees b. Safe with NULL. */
HRM_INTERNAL void hrm_dsb_abort(hrm_dataset_builder *b);

#endif /* HRM_CORE_DATASET_BUILDER_H */
