/* core/io_util.h - what every file-format reader and writer of the core shares: one-line error
 * messages that name the file, little-endian integer decoding, half and bfloat16 widening, checked
 * size arithmetic, and atomic replacement of a file (write PATH.tmp, fsync, rename), so that a
 * failed or interrupted write never damages what PATH already held.
 *
 * Error convention of the core's I/O: a function returns HRM_OK, or an error status and writes
 * exactly one line "FILE: problem" into err (err may be NULL). HRM_ERR_INVALID_ARG means bad
 * contents or arguments, HRM_ERR_NOT_AVAILABLE a file that cannot be opened, read or written,
 * HRM_ERR_OUT_OF_MEMORY a failed host allocation. */
#ifndef HRM_CORE_IO_UTIL_H
#define HRM_CORE_IO_UTIL_H

#include "internal.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hrm/status.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the core's file formats are little-endian and are read with memcpy: big-endian hosts are not supported"
#endif

/* Writes "file: <formatted message>" into err (newlines replaced by spaces); returns status. */
HRM_INTERNAL hrm_status hrm_io_fail(char *err, size_t err_size, hrm_status status, const char *file, const char *fmt,
                                    ...) __attribute__((format(printf, 5, 6)));

HRM_INTERNAL uint16_t hrm_le16(const unsigned char *p);
HRM_INTERNAL uint32_t hrm_le32(const unsigned char *p);
HRM_INTERNAL uint64_t hrm_le64(const unsigned char *p);
HRM_INTERNAL void hrm_put_le64(unsigned char *p, uint64_t v);

/* IEEE half and bfloat16 bit patterns to float. */
HRM_INTERNAL float hrm_f16_to_f32(uint16_t h);
HRM_INTERNAL float hrm_bf16_to_f32(uint16_t b);

/* *out = a * b; false when the product overflows size_t (a predicate, not an error status). */
HRM_INTERNAL bool hrm_mul_size(size_t a, size_t b, size_t *out);

/* Formats a shape as "1000 x 81" ("scalar" for ndim 0) into buf. */
HRM_INTERNAL const char *hrm_shape_str(char *buf, size_t size, int ndim, const int64_t *shape);

/* Opens path for reading and gets its size; on failure writes the error line. */
HRM_INTERNAL hrm_status hrm_file_open_read(const char *path, FILE **f, uint64_t *size, char *err, size_t err_size);

/* Reads exactly `bytes` at the current position; on a short read writes "truncated" with `what`. */
HRM_INTERNAL hrm_status hrm_file_read(FILE *f, const char *path, void *dst, size_t bytes, const char *what, char *err,
                                      size_t err_size);

/* ---- atomic replacement ------------------------------------------------------------------- */

typedef struct hrm_atomic_file {
    FILE *f;
    const char *path; /* the caller's string, which must outlive the write */
    char *tmp;        /* path + ".tmp" */
} hrm_atomic_file;

/* Creates path.tmp; nothing happens to path until hrm_atomic_commit. */
HRM_INTERNAL hrm_status hrm_atomic_open(hrm_atomic_file *af, const char *path, char *err, size_t err_size);
/* Appends bytes; on failure aborts the write (removes path.tmp) and writes the error line. */
HRM_INTERNAL hrm_status hrm_atomic_write(hrm_atomic_file *af, const void *data, size_t bytes, char *err,
                                         size_t err_size);
/* Flushes, fsyncs and renames path.tmp onto path; on failure removes path.tmp, path untouched. */
HRM_INTERNAL hrm_status hrm_atomic_commit(hrm_atomic_file *af, char *err, size_t err_size);
/* Drops a write in progress (removes path.tmp). Safe to call twice or after commit. */
HRM_INTERNAL void hrm_atomic_abort(hrm_atomic_file *af);

/* Writes a whole file atomically from one buffer. */
HRM_INTERNAL hrm_status hrm_atomic_write_file(const char *path, const void *data, size_t bytes, char *err,
                                              size_t err_size);

#endif /* HRM_CORE_IO_UTIL_H */
