/* core/safetensors.h - safetensors files: the checkpoint format (docs/ARCHITECTURE.md "Checkpoint weights").
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON header (tensor name ->
 * {"dtype", "shape", "data_offsets": [begin, end)} relative to the data section, plus an optional
 * "__metadata__" map of string to string), then the data section: the rest of the file. Reading
 * accepts F32 and BF16 tensors and returns every tensor as float32 (hrm_st_read_mixed also accepts
 * I32 tensors and returns them as int32). It refuses, with one line naming the file, what the
 * reference reader (the Rust crate, SafeTensors::read_metadata and Metadata::validate) refuses:
 *   - a file under 8 bytes; N over 100,000,000 (refused before anything is allocated); N running
 *     past the end of the file;
 *   - a header that is not valid UTF-8 or not one JSON object (JSON whitespace before and after
 *     the object is accepted, as by the reference: writers pad with it);
 *   - a dtype, shape or data_offsets of the wrong type; end < begin; end - begin other than the
 *     shape's element count times the dtype size (a shape with a 0 takes no bytes: [x, x]);
 *   - data offsets that do not tile the data section: sorted by (begin, end) - the order of the
 *     tensors in the JSON does not matter - the first begins at 0, each begins where the one
 *     before ends (no gap, no overlap) and the last ends where the file ends (no trailing bytes;
 *     a file without tensors has an empty data section).
 * It also refuses, on purpose, other dtypes, more than 8 dimensions, repeated JSON keys and
 * \u0000 escapes (jansson's default). Writing produces F32 tensors in the order given, tiling the
 * data section, with the header padded with spaces to a multiple of 8 bytes, atomically
 * (FILE.tmp, fsync, rename). */
#ifndef HRM_CORE_SAFETENSORS_H
#define HRM_CORE_SAFETENSORS_H

#include "internal.h"
#include <stddef.h>
#include <stdint.h>

#include "hrm/status.h"

#define HRM_ST_MAX_DIMS 8

typedef enum hrm_st_dtype { HRM_ST_F32 = 0, HRM_ST_BF16 = 1, HRM_ST_I32 = 2 } hrm_st_dtype;

typedef struct hrm_st_tensor {
    char *name;
    hrm_st_dtype dtype; /* as stored in the file; F32 and BF16 both arrive as float32 */
    int ndim;
    int64_t shape[HRM_ST_MAX_DIMS];
    size_t count;  /* product of shape */
    float *data;   /* F32, BF16: count floats, a slice of the file's one arena; I32: NULL */
    int32_t *ints; /* I32: count int32s, a slice of the same arena; F32, BF16: NULL */
} hrm_st_tensor;

typedef struct hrm_st_file {
    hrm_st_tensor *tensors; /* (count,) in header order */
    int count;
    char **meta_keys;   /* (meta_count,) the __metadata__ map */
    char **meta_values; /* (meta_count,) */
    int meta_count;
    void *arena; /* every tensor's data, 4 bytes a value, one allocation */
} hrm_st_file;

/* Reads and checks path; on failure *out holds nothing to free. */
HRM_INTERNAL hrm_status hrm_st_read(const char *path, hrm_st_file *out, char *err, size_t err_size);
/* hrm_st_read that also accepts I32 tensors (for files that hold more than parameters, such as
 * the test fixtures); callers look at each tensor's dtype. */
HRM_INTERNAL hrm_status hrm_st_read_mixed(const char *path, hrm_st_file *out, char *err, size_t err_size);
HRM_INTERNAL const hrm_st_tensor *hrm_st_find(const hrm_st_file *f, const char *name); /* NULL when absent */
HRM_INTERNAL const char *hrm_st_meta(const hrm_st_file *f, const char *key);           /* NULL when absent */
HRM_INTERNAL void hrm_st_free(hrm_st_file *f);

/* One tensor to write: data holds the product of shape floats (row-major). */
typedef struct hrm_st_entry {
    const char *name;
    int ndim;
    const int64_t *shape; /* (ndim,) */
    const float *data;
} hrm_st_entry;

/* Writes the tensors (F32, in the order given, names unique) and the metadata pairs
 * meta_keys[i] -> meta_values[i] to path atomically. */
HRM_INTERNAL hrm_status hrm_st_write(const char *path, const hrm_st_entry *tensors, int count,
                                     const char *const *meta_keys, const char *const *meta_values, int meta_count,
                                     char *err, size_t err_size);

#endif /* HRM_CORE_SAFETENSORS_H */
