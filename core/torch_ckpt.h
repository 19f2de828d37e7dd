/* core/torch_ckpt.h - reads a PyTorch state dict written by torch.save (torch >= 1.6), so that a
 * published HRM checkpoint can be converted to ours (core/convert.h, `hrm convert`).
 *
 * Such a file is a ZIP archive of STORED (uncompressed) entries under one top folder, ARCHIVE/:
 *   ARCHIVE/data.pkl     a pickle (protocol 2) of the state dict: an OrderedDict of name ->
 *                        torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
 *                        requires_grad, backward_hooks), where each storage is a persistent id
 *                        ('storage', torch.FloatStorage, key, location, numel)
 *   ARCHIVE/data/<key>   the raw little-endian bytes of each storage
 *   ARCHIVE/version      the archive format version; ARCHIVE/byteorder ("little"), when present
 *
 * The pickle reader is a small, strict stack machine for the opcodes torch writes for a state
 * dict (protocols 2-5) and the few globals a state dict uses; anything else is an error. Memory
 * is linear in the file size and nothing recurses, so a hostile file costs at most an error
 * line. Tensors must be contiguous; float32, bfloat16 and float16 are widened to float32; other
 * dtypes are listed with no data (a state dict may hold integer buffers the caller skips). */
#ifndef HRM_CORE_TORCH_CKPT_H
#define HRM_CORE_TORCH_CKPT_H

#include "internal.h"
#include <stddef.h>
#include <stdint.h>

#include "hrm/status.h"

#define HRM_TORCH_MAX_DIMS 8

typedef enum hrm_torch_dtype {
    HRM_TORCH_F32 = 0,
    HRM_TORCH_BF16 = 1,
    HRM_TORCH_F16 = 2,
    HRM_TORCH_OTHER = 3, /* float64, integers, bool: listed, not loaded */
} hrm_torch_dtype;

typedef struct hrm_torch_tensor {
    char *name; /* the state-dict key, as stored (prefixes such as _orig_mod. kept) */
    hrm_torch_dtype dtype;
    const char *dtype_name; /* "float32", "bfloat16", "float16", "int64", ... */
    int ndim;
    int64_t shape[HRM_TORCH_MAX_DIMS];
    size_t count; /* product of shape (1 for a scalar) */
    float *data;  /* (count,) widened to float32; NULL for HRM_TORCH_OTHER */
} hrm_torch_tensor;

typedef struct hrm_torch_file {
    hrm_torch_tensor *tensors; /* (count,) in the state dict's order */
    int count;
} hrm_torch_file;

/* Reads and checks a torch.save'd state dict; on failure writes one line "path: problem" and
 * *out holds nothing to free. */
HRM_INTERNAL hrm_status hrm_torch_read(const char *path, hrm_torch_file *out, char *err, size_t err_size);
HRM_INTERNAL const hrm_torch_tensor *hrm_torch_find(const hrm_torch_file *f, const char *name); /* NULL when absent */
HRM_INTERNAL void hrm_torch_free(hrm_torch_file *f);

/* ---- the ZIP layer, also for tests that take an archive apart -------------------------- */

typedef struct hrm_zip hrm_zip;

/* Opens a ZIP archive (ZIP64 included) and checks its central directory: every entry STORED,
 * inside the file, names unique. */
HRM_INTERNAL hrm_status hrm_zip_open(const char *path, hrm_zip **out, char *err, size_t err_size);
HRM_INTERNAL int hrm_zip_count(const hrm_zip *z);
HRM_INTERNAL const char *hrm_zip_name(const hrm_zip *z, int i);
HRM_INTERNAL uint64_t hrm_zip_size(const hrm_zip *z, int i);
HRM_INTERNAL int hrm_zip_find(const hrm_zip *z, const char *name); /* index, or -1 */
/* Reads entry i (hrm_zip_size bytes) into dst and checks its CRC-32. */
HRM_INTERNAL hrm_status hrm_zip_read(hrm_zip *z, int i, void *dst, char *err, size_t err_size);
HRM_INTERNAL void hrm_zip_close(hrm_zip *z);

/* The CRC-32 of ZIP (polynomial 0xEDB88320): start with crc = 0, chain over pieces. */
HRM_INTERNAL uint32_t hrm_crc32(uint32_t crc, const void *data, size_t bytes);

#endif /* HRM_CORE_TORCH_CKPT_H */
