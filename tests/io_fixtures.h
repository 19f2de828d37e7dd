/* tests/io_fixtures.h - what the file-format and dataset tests share: a fresh temporary folder
 * per test case, hand-built files (raw .npy and safetensors bytes, for inputs our writers would
 * never produce), a small generated dataset, and the check that an error is one line naming the
 * file and the problem. Nothing here touches the repository. */
#ifndef HRM_TESTS_IO_FIXTURES_H
#define HRM_TESTS_IO_FIXTURES_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* Checked fixture: makes the temporary folder before each test case, removes it after. */
void fx_setup(void);
void fx_teardown(void);
/* DIR/name in the temporary folder (one of 16 rotating buffers). */
const char *fx_path(const char *name);

void fx_write(const char *path, const void *data, size_t bytes);
void *fx_read(const char *path, size_t *bytes); /* malloc'ed; aborts the test when missing */
int fx_exists(const char *path);

/* A .npy file of format version major.0 with exactly this header dict (padded to 64 bytes). */
void fx_npy_raw(const char *path, int major, const char *dict, const void *data, size_t bytes);
/* A safetensors file: the 8-byte length of header, header, then data. */
void fx_st_raw(const char *path, const char *header, const void *data, size_t bytes);

/* Asserts status != HRM_OK and that err is one non-empty line containing file and problem. */
#define FX_EXPECT_ERROR(status, err, file, problem) fx_expect_error((status), (err), (file), (problem), __LINE__)
void fx_expect_error(hrm_status status, const char *err, const char *file, const char *problem, int line);

/* A dataset of `groups` groups of 1-3 puzzles of 1-4 examples each (sizes from seed), with
 * seq_len 4, vocab_size 6 (labels use 0 as ignore_label_id), 5 puzzle identifiers and
 * identifier names; tokens of the given dtype. Free with hrm_dataset_free. */
void fx_dataset(hrm_dataset *ds, int groups, uint64_t seed, hrm_npy_dtype tokens);

#endif /* HRM_TESTS_IO_FIXTURES_H */
