/* fuzz/fuzz_checkpoint.c - hrm_checkpoint_read on one weights file, as `hrm eval`, `solve` and a
 * resumed `train` read it: the safetensors container, the "hrm.config" JSON and the parameter
 * table it implies. An accepted checkpoint must survive the round trip: hrm_checkpoint_write,
 * then hrm_checkpoint_read again, gives the same config, parameters (bit for bit) and hrm.train. */
#include "checkpoint.h"
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hrm_checkpoint ck, again;
    char err[512];
    if (hrm_checkpoint_read(fuzz_write("step_1.safetensors", data, size), &ck, err, sizeof err)) return 0;
    const char *copy = fuzz_write("step_2.safetensors", NULL, 0);
    if (hrm_checkpoint_write(copy, &ck.cfg, &ck.table, ck.params, ck.train_json, err, sizeof err) ||
        hrm_checkpoint_read(copy, &again, err, sizeof err)) {
        fprintf(stderr, "fuzz_checkpoint: a checkpoint we read does not write and read back: %s\n", err);
        abort();
    }
    if (again.table.total != ck.table.total || !fuzz_same_config(&again.cfg, &ck.cfg) ||
        (ck.table.total && memcmp(again.params, ck.params, ck.table.total * sizeof *ck.params)) ||
        !again.train_json != !ck.train_json || (ck.train_json && strcmp(again.train_json, ck.train_json)))
        abort();
    hrm_checkpoint_free(&again);
    hrm_checkpoint_free(&ck);
    return 0;
}
