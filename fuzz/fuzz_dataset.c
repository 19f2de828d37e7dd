/* fuzz/fuzz_dataset.c - hrm_dataset_load on a dataset folder, as `hrm train`, `eval` and `solve`
 * load one: DIR/identifiers.json and DIR/test/{dataset.json, all__*.npy}. The input is those seven
 * files cut at FUZZ_SEPARATOR, in the order of `parts` below; a missing part is a missing file.
 * An accepted dataset is walked the way training reads it. */
#include "dataset.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <sys/stat.h>

static const char *const parts[] = {
    "ds/test/dataset.json",
    "ds/identifiers.json",
    "ds/test/all__inputs.npy",
    "ds/test/all__labels.npy",
    "ds/test/all__puzzle_identifiers.npy",
    "ds/test/all__puzzle_indices.npy",
    "ds/test/all__group_indices.npy",
};
#define NUM_PARTS (int)(sizeof parts / sizeof parts[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[4096];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/ds", fuzz_dir());
        char test[4200];
        snprintf(test, sizeof test, "%s/test", dir);
        if (mkdir(dir, 0777) || mkdir(test, 0777)) abort();
    }
    size_t off[NUM_PARTS], len[NUM_PARTS];
    int n = fuzz_split(data, size, NUM_PARTS, off, len);
    for (int i = 0; i < NUM_PARTS; i++) {
        if (i < n)
            fuzz_write(parts[i], data + off[i], len[i]);
        else
            fuzz_remove(parts[i]);
    }
    hrm_dataset ds;
    char err[512];
    if (!hrm_dataset_load(dir, "test", &ds, err, sizeof err)) {
        int64_t sum = 0;
        for (int g = 0; g < ds.num_groups; g++)
            for (int p = ds.group_indices[g]; p < ds.group_indices[g + 1]; p++) {
                sum += ds.puzzle_identifiers[p];
                if (ds.puzzle_identifiers[p] < ds.num_identifiers) sum += ds.identifiers[ds.puzzle_identifiers[p]][0];
                for (int r = ds.puzzle_indices[p]; r < ds.puzzle_indices[p + 1]; r++)
                    sum += hrm_dataset_input(&ds, r, 0) + hrm_dataset_label(&ds, r, ds.meta.seq_len - 1) +
                           hrm_dataset_puzzle_of(&ds, r);
            }
        (void)sum;
        hrm_dataset_free(&ds);
    }
    if (!hrm_dataset_load_identifiers(dir, &ds, err, sizeof err)) hrm_dataset_free(&ds);
    return 0;
}
