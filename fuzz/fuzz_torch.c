/* fuzz/fuzz_torch.c - what `hrm convert` does: hrm_torch_read on one torch.save file (the ZIP
 * archive and the pickle inside it), then, for an accepted state dict, hrm_convert_config (the
 * architecture inferred from the tensors' names and shapes) and hrm_convert_write; a converted
 * checkpoint must read back with hrm_checkpoint_read. */
#include "checkpoint.h"
#include "convert.h"
#include "fuzz_util.h"
#include "torch_ckpt.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.pt", data, size);
    hrm_torch_file f;
    char err[512];
    if (hrm_torch_read(path, &f, err, sizeof err)) return 0;
    volatile float sink = 0;
    for (int i = 0; i < f.count; i++)
        if (f.tensors[i].data && f.tensors[i].count) sink += f.tensors[i].data[f.tensors[i].count - 1];
    (void)sink;
    /* the settings the golden torch_ckpt.pt needs (tests/golden/README.md); rope positions say
     * nothing of seq_len, so it is a setting here as `hrm convert ... seq_len=N` takes it */
    static const char *const settings[] = {"arch.num_heads=2", "seq_len=16"};
    hrm_config c;
    hrm_convert_summary summary;
    const char *out = fuzz_write("model.safetensors", NULL, 0);
    if (!hrm_convert_config(&f, path, settings, 2, &c, err, sizeof err) &&
        !hrm_convert_write(&f, path, &c, out, &summary, err, sizeof err)) {
        hrm_checkpoint ck;
        if (hrm_checkpoint_read(out, &ck, err, sizeof err)) {
            fprintf(stderr, "fuzz_torch: a converted checkpoint does not read back: %s\n", err);
            abort();
        }
        hrm_checkpoint_free(&ck);
    }
    hrm_torch_free(&f);
    return 0;
}
