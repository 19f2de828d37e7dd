/* core/npy.h - NumPy .npy files (format versions 1.0, 2.0 and 3.0): the dataset arrays and the
 * dumps of `hrm eval`.
 *
 * Reading refuses, with one line naming the file, what numpy's reader refuses (numpy/lib/format.py,
 * read_magic, _check_version, _read_array_header, read_array):
 *   - a magic other than "\x93NUMPY"; a version other than 1.0, 2.0 or 3.0 (1.1 too);
 *   - a header length over 10000 bytes (numpy's max_header_size, refused before anything is
 *     allocated) or running past the end of the file;
 *   - a header that is not a Python dict literal with exactly the keys 'descr', 'fortran_order'
 *     (True or False) and 'shape' (a tuple of non-negative decimal integers, without leading
 *     zeros; the Python 2 suffix "L" only in versions 1.0 and 2.0); a NUL byte anywhere in it;
 *   - a descr that is not a dtype; less data than the header says.
 * Like numpy it accepts whitespace before and after the dict, and does not require the 64-byte
 * alignment or the final newline that writers produce. It is stricter than numpy, on purpose:
 * fortran_order True is refused ("Fortran-order arrays are not supported"), as are bytes after
 * the data, a repeated key, Python syntax that writers do not produce (comments, "+3", escapes),
 * more than 8 dimensions, and every dtype but these: little-endian dtypes come back as one of
 * three kinds, |u1 as uint8, <f4 as float32, and every other integer type (|i1, <i2, <u2, <i4,
 * <u4, <i8, <u8) as int32, with a range check, since some dataset builders write int64 (<f8,
 * >i4, ... are refused). Writing (|u1, <i4, <f4, version 1.0, numpy's spelling and padding) is
 * atomic: FILE.tmp, fsync, rename. */
#ifndef HRM_CORE_NPY_H
#define HRM_CORE_NPY_H

#include "internal.h"
#include <stddef.h>
#include <stdint.h>

#include "hrm/status.h"
#include "io_util.h"

#define HRM_NPY_MAX_DIMS 8

typedef enum hrm_npy_dtype { HRM_NPY_U8 = 0, HRM_NPY_I32 = 1, HRM_NPY_F32 = 2 } hrm_npy_dtype;

typedef struct hrm_npy_array {
    hrm_npy_dtype dtype; /* the type of data, after any conversion */
    char descr[8];       /* the dtype as the file spelled it ("<i8"), for messages */
    int ndim;
    int64_t shape[HRM_NPY_MAX_DIMS];
    size_t count; /* product of shape */
    void *data;   /* count elements of dtype, C order; malloc'ed, freed by hrm_npy_free */
} hrm_npy_array;

HRM_INTERNAL size_t hrm_npy_dtype_size(hrm_npy_dtype t);      /* 1 or 4 */
HRM_INTERNAL const char *hrm_npy_dtype_name(hrm_npy_dtype t); /* "uint8", "int32", "float32" */

/* Reads path into *out (zeroed first). On failure *out holds nothing to free. */
HRM_INTERNAL hrm_status hrm_npy_read(const char *path, hrm_npy_array *out, char *err, size_t err_size);
HRM_INTERNAL void hrm_npy_free(hrm_npy_array *a);

/* Element i of an integer array (uint8 or int32) as an int. */
HRM_INTERNAL int32_t hrm_npy_int_at(const hrm_npy_array *a, size_t i);

/* Writes data (the product of shape elements of dtype, C order) to path atomically. */
HRM_INTERNAL hrm_status hrm_npy_write(const char *path, hrm_npy_dtype dtype, int ndim, const int64_t *shape,
                                      const void *data, char *err, size_t err_size);

/* The same file written in pieces, for arrays too large to hold: open writes the header for the
 * full shape into path.tmp, append adds data bytes in C order, commit checks that exactly the
 * shape's bytes came and renames path.tmp onto path (path untouched until then). On failure each
 * writes one line and drops path.tmp; abort drops a write in progress (safe on a zeroed writer,
 * twice, or after commit). path must outlive the write. */
typedef struct hrm_npy_writer {
    hrm_atomic_file af;
    size_t remaining; /* data bytes still to come */
} hrm_npy_writer;

HRM_INTERNAL hrm_status hrm_npy_writer_open(hrm_npy_writer *w, const char *path, hrm_npy_dtype dtype, int ndim,
                                            const int64_t *shape, char *err, size_t err_size);
HRM_INTERNAL hrm_status hrm_npy_writer_append(hrm_npy_writer *w, const void *data, size_t bytes, char *err,
                                              size_t err_size);
HRM_INTERNAL hrm_status hrm_npy_writer_commit(hrm_npy_writer *w, char *err, size_t err_size);
HRM_INTERNAL void hrm_npy_writer_abort(hrm_npy_writer *w);

#endif /* HRM_CORE_NPY_H */
