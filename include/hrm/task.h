/* hrm/task.h - the task plugin ABI: what a puzzle family (Sudoku, mazes, ARC, ...) gives the
 * engine.
 *
 * A task is a shared module named hrm-task-NAME.so that exports one C symbol,
 * HRM_TASK_ENTRY_SYMBOL, a function returning a pointer to a static hrm_task_iface table. As with
 * backends (hrm/backend.h), the host checks abi_version first and never reads a slot past
 * struct_size: the table is append-only within one major version. A host accepts any struct_size
 * of at least the ABI 1.0 table (which ends at eval_end), and treats a slot appended later that a
 * plugin's struct_size does not cover as absent (NULL); so an appended slot must be optional.
 *
 * A task knows its token encoding and nothing of the model: it turns its source files (CSV, JSON,
 * a generator) into examples of seq_len tokens, which it hands to the host through a sink; the
 * host (libhrm) writes them in the published dataset layout. It verifies answers, renders grids
 * as text, parses a puzzle typed by a user, and may score a whole evaluation (ARC's pass@2).
 *
 * Rules, as for backends: a task never calls exit() or abort(), never writes to stdout or stderr
 * (it reports through the host's callbacks), and returns one line in its err buffers. Every
 * function may be called from one host thread at a time. Tokens are uint8 (vocab_size <= 256).
 *
 * Option errors and data errors: build and generate parse the user's options themselves, so they
 * tell the host which kind of failure it is. HRM_ERR_USAGE (ABI 1.1) means the options are wrong
 * whatever the files hold: an unknown option, a missing value or required option, a value that
 * does not parse or lies outside the option's range, options that exclude each other. The host
 * reports it as bad usage (`hrm` exits 2); a 1.0 host, which does not name the status, reports it
 * as any failure. Everything found only by reading the sources or running the task (a file that
 * cannot be opened, a bad header or row, a count larger than the file's usable rows, no usable
 * rows, a generator that finds no puzzle) is HRM_ERR_INVALID_ARG (or another failure status),
 * as are a host's own faults (NULL argv or sinks, no emit callback). */
#ifndef HRM_TASK_H
#define HRM_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hrm/status.h" /* hrm_status, hrm_log_level, HRM_ABI_MAJOR_OF, HRM_EXPORT */

#ifdef __cplusplus
extern "C" {
#endif

/* Major: incompatible change; a host refuses any other major. Minor: append-only additions, which
 * a host of a lower minor still loads (it checks the major only):
 *   1.1  build and generate may return HRM_ERR_USAGE (a status appended to hrm_status) for bad
 *        options; a 1.0 host treats it as any other failure. The table is unchanged. */
#define HRM_TASK_ABI_MAJOR 1
#define HRM_TASK_ABI_MINOR 1
#define HRM_TASK_ABI_VERSION ((uint32_t)((HRM_TASK_ABI_MAJOR << 16) | HRM_TASK_ABI_MINOR))

/* The one exported symbol; its type is hrm_task_entry_fn. */
#define HRM_TASK_ENTRY_SYMBOL "hrm_task_entry"
#define HRM_TASK_EXPORT HRM_EXPORT

/* The dataset format of a task: the fields of the published dataset.json that the task fixes. */
typedef struct hrm_task_format {
    int seq_len;    /* tokens per example, e.g. 81 (Sudoku), 900 (maze, ARC) */
    int vocab_size; /* e.g. 11, 6, 12 */
    int pad_id;     /* 0 in every published task */
    bool has_ignore_label;
    int ignore_label_id; /* label value that is not scored (published: 0 = PAD), if has_ignore_label */
} hrm_task_format;

/* What the host gives a task for one call. Read only fields below struct_size. */
typedef struct hrm_task_host {
    uint32_t struct_size;
    void *user;
    /* Diagnostics (skipped rows, progress): one line, no trailing newline. May be NULL. */
    void (*log)(void *user, hrm_log_level level, const char *task, const char *message);
    /* Text output of `hrm data generate` (one CSV line, no trailing newline) and of
     * `hrm data verify` (one rejected row per call). Returns HRM_OK or an error status after
     * which the task stops and returns that status. May be NULL where the call makes no output. */
    hrm_status (*emit)(void *user, const char *line);
} hrm_task_host;

/* Where a builder puts one split's examples. A builder may interleave calls to its two sinks;
 * identifiers are numbered in order of first use across both. The structure is the published one: a group is an
 * original puzzle, its puzzles are variants of it (augmentations), and a puzzle has one or more
 * examples (input/label pairs). Call order: begin_group, then per variant begin_puzzle followed
 * by its add_example calls. A group or puzzle with no examples is dropped by the host.
 * Every call returns HRM_OK or an error status (disk full, bad token) with a line in the host's
 * error; the builder then stops and returns that status. */
typedef struct hrm_task_sink {
    void *user;
    hrm_status (*begin_group)(void *user);
    /* name: the puzzle identifier's name; NULL or "" for the blank identifier 0 (Sudoku and
     * mazes use it for every puzzle). Equal names get equal identifiers, in both splits. */
    hrm_status (*begin_puzzle)(void *user, const char *name);
    /* input, label: seq_len tokens each, in [0, vocab_size) (label may be ignore_label_id). */
    hrm_status (*add_example)(void *user, const uint8_t *input, const uint8_t *label);
} hrm_task_sink;

/* A name/value result of a task's own evaluation (e.g. {"pass@2", 0.41}). */
typedef struct hrm_task_metric {
    char name[48];
    double value;
} hrm_task_metric;

typedef struct hrm_task_eval hrm_task_eval; /* opaque, defined by each task */

typedef struct hrm_task_iface {
    uint32_t abi_version; /* HRM_TASK_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(hrm_task_iface) as the plugin compiled it */
    const char *name;     /* "sudoku": the name on the command line */
    const char *summary;  /* one line for `hrm data --help` */
    hrm_task_format format;

    /* ---- datasets -------------------------------------------------------------------------- */
    /* `hrm data build NAME ARGS...`: argv[0] is NAME, argv[1..argc) the task's own options
     * (everything but --out and --force, which the host takes). build_usage is its help text
     * (options, one per line). The task reads its sources and feeds train and test; a test split
     * left empty is not written (with a warning). On bad options it returns HRM_ERR_USAGE, on bad
     * input HRM_ERR_INVALID_ARG (see the top of this file), with one line in err either way. */
    const char *build_usage;
    hrm_status (*build)(const hrm_task_host *host, int argc, char **argv, const hrm_task_sink *train,
                        const hrm_task_sink *test, char *err, size_t err_size);

    /* `hrm data generate NAME ARGS...` (optional, NULL if none): argv as for build (argv[0] is
     * NAME; --out is the host's); writes new puzzles as CSV lines in the task's source format
     * (header first) through host->emit. Bad options: HRM_ERR_USAGE, as for build; a failure to
     * generate what the options ask for: HRM_ERR_INVALID_ARG. One line in err either way. */
    const char *generate_usage;
    hrm_status (*generate)(const hrm_task_host *host, int argc, char **argv, char *err, size_t err_size);

    /* `hrm data verify NAME --csv FILE` (optional): runs the verifier on every row's
     * answer of a source file. Each rejected or malformed row goes to host->emit as
     * "FILE:LINE: reason"; the counts come back. A malformed row counts as rejected. Returns
     * HRM_OK when the file could be read (whatever the verdicts), an error after one line in err
     * otherwise (cannot open, not this task's format). It takes no options (the host parses
     * --csv), so it never returns HRM_ERR_USAGE. */
    hrm_status (*verify_file)(const hrm_task_host *host, const char *path, long *accepted, long *rejected, char *err,
                              size_t err_size);

    /* ---- single puzzles -------------------------------------------------------------------- */
    /* Verifies `answer` (seq_len tokens: a model's prediction or a label) as a solution of
     * `input`. label (may be NULL) is the dataset's label, for tasks that cannot verify without
     * it (ARC: the answer must equal it). Sets *accepted; when rejected, reason (NULL allowed)
     * gets one short line. Returns HRM_ERR_INVALID_ARG only when `input` is not a puzzle of the
     * task (bad tokens, two starts) or a label it needs is missing: a wrong answer is a rejection,
     * not an error. */
    hrm_status (*verify)(const uint8_t *input, const uint8_t *answer, const uint8_t *label, bool *accepted,
                         char *reason, size_t reason_size);

    /* Renders tokens as a grid of text lines into out (NUL-terminated, a final newline optional;
     * HRM_ERR_INVALID_ARG if it does not fit). With `input` (may be NULL), cells that differ from it are marked (ANSI colour
     * when color is true). */
    hrm_status (*render)(const uint8_t *tokens, const uint8_t *input, bool color, char *out, size_t out_size);

    /* Parses a puzzle as a user types it (a Sudoku line of 81 characters, a maze of 900, an ARC
     * grid as JSON; surrounding whitespace and newlines are the task's to define) into seq_len
     * input tokens. HRM_ERR_INVALID_ARG with one line in err when it is not one. */
    hrm_status (*parse_puzzle)(const char *text, uint8_t *input, char *err, size_t err_size);

    /* ---- evaluation over a split (optional: all three NULL or all three set) --------------- */
    /* identifiers: the dataset's identifiers.json names (index = puzzle identifier). */
    hrm_status (*eval_begin)(const char *const *identifiers, int num_identifiers, hrm_task_eval **out, char *err,
                             size_t err_size);
    /* One test example: its puzzle identifier, input, label, the model's prediction, and the
     * model's halting logit q_halt after the last segment (a confidence, for voting). A task keeps
     * the first error it meets, returns it from every later eval_add, and reports it from eval_end
     * in err. */
    hrm_status (*eval_add)(hrm_task_eval *e, int32_t puzzle_identifier, const uint8_t *input, const uint8_t *label,
                           const uint8_t *prediction, float q_halt);
    /* Writes up to max metrics, sets *count, and frees e (also on error). */
    hrm_status (*eval_end)(hrm_task_eval *e, hrm_task_metric *metrics, int max, int *count, char *err, size_t err_size);
} hrm_task_iface;

typedef const hrm_task_iface *(*hrm_task_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* HRM_TASK_H */
