/* fuzz/fuzz_util.h - what every libFuzzer harness shares (fuzz/README.md).
 *
 * Our parsers read files by name, as the program does, so a harness writes its input to a file
 * in a private temporary folder (removed at exit) and calls the same library function that the
 * `hrm` command calls on that path. Harnesses that need several files (a dataset folder) cut one
 * input into parts at FUZZ_SEPARATOR: a mutation can then change one file, drop one or add one. */
#ifndef HRM_FUZZ_UTIL_H
#define HRM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"

/* Between the parts of a multi-file input; a line of its own, so that text parts stay text. */
#define FUZZ_SEPARATOR "\n--8<-- fuzz part --8<--\n"

/* The harness's private folder (created on first use, removed with its contents at exit). */
const char *fuzz_dir(void);
/* Writes data[size] to fuzz_dir()/name and returns the path (static storage, valid until the next
 * call with the same name). Aborts when the file cannot be written: a broken harness, not a
 * finding. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* Removes fuzz_dir()/name (a file or a folder and everything in it) when it exists. */
void fuzz_remove(const char *name);
/* Cuts data at FUZZ_SEPARATOR into at most max parts: part i is data[off[i], off[i] + len[i]).
 * Returns the number of parts (at least 1). Text past the last allowed separator stays in the
 * last part. */
int fuzz_split(const uint8_t *data, size_t size, int max, size_t *off, size_t *len);

/* Runs an `hrm` subcommand (prog, argc, argv) with stdout and stderr sent to /dev/null (its
 * warnings and "wrote F" lines would flood the log), then restores them; sanitizer reports still
 * go to the real stderr. */
void fuzz_quiet(int (*cmd)(const char *prog, int argc, char **argv), const char *prog, int argc, char **argv);

/* Every field of a and b equal (a memcmp would also compare the struct's padding). */
int fuzz_same_config(const hrm_config *a, const hrm_config *b);

#endif /* HRM_FUZZ_UTIL_H */
