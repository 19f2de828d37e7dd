/* fuzz/fuzz_npy.c - hrm_npy_read on one .npy file (what dataset loading and `hrm eval` dumps go
 * through). An accepted array must hold exactly the product of its shape, and must survive the
 * round trip: hrm_npy_write, then hrm_npy_read again, gives the same dtype, shape and bytes. */
#include "fuzz_util.h"
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hrm_npy_array a, b;
    char err[512];
    if (hrm_npy_read(fuzz_write("a.npy", data, size), &a, err, sizeof err)) return 0;
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++) count *= (size_t)a.shape[i];
    if (count != a.count) abort();
    const char *copy = fuzz_write("copy.npy", NULL, 0);
    if (hrm_npy_write(copy, a.dtype, a.ndim, a.shape, a.data, err, sizeof err) ||
        hrm_npy_read(copy, &b, err, sizeof err)) {
        fprintf(stderr, "fuzz_npy: an array we read does not write and read back: %s\n", err);
        abort();
    }
    if (b.dtype != a.dtype || b.ndim != a.ndim || b.count != a.count ||
        memcmp(b.shape, a.shape, sizeof a.shape[0] * (size_t)a.ndim) ||
        (a.count && memcmp(b.data, a.data, a.count * hrm_npy_dtype_size(a.dtype))))
        abort();
    hrm_npy_free(&b);
    hrm_npy_free(&a);
    return 0;
}
