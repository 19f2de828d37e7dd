/* fuzz/fuzz_task.c - a task plugin's parsers, through its iface as `hrm` calls them. The plugin's
 * sources are compiled in (fuzz/meson.build), and one of these modes is chosen at compile time:
 *
 *   FUZZ_TASK_CSV     the input is a source CSV: verify_file (`hrm data verify TASK --csv F`), then
 *                     build --train F (`hrm data build TASK`) into sinks that check every example
 *                     (tokens in [0, vocab_size), labels also ignore_label_id) and keep nothing;
 *   FUZZ_TASK_PUZZLE  the input is a typed puzzle (`hrm solve TASK --puzzle TEXT`): parse_puzzle,
 *                     then, for an accepted one, its tokens are checked and rendered and it is
 *                     verified as an answer to itself, as solve does with a prediction;
 *   FUZZ_TASK_ARC     the input is one ARC task file (JSON): arc_task_load, the reader of
 *                     `hrm data build arc`, and every grid it accepts is checked. */
#include "fuzz_util.h"
#include "hrm/task.h"
#ifdef FUZZ_TASK_ARC
#include "arc.h"
#endif

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const hrm_task_iface *hrm_task_entry(void);

static const hrm_task_iface *task(void) {
    static const hrm_task_iface *t;
    if (!t) t = hrm_task_entry();
    return t;
}

#ifdef FUZZ_TASK_CSV
static hrm_status discard(void *user, const char *line) {
    (void)user, (void)line;
    return HRM_OK;
}
static hrm_status begin_group(void *user) {
    (void)user;
    return HRM_OK;
}
static hrm_status begin_puzzle(void *user, const char *name) {
    (void)user, (void)name;
    return HRM_OK;
}
static hrm_status add_example(void *user, const uint8_t *input, const uint8_t *label) {
    (void)user;
    const hrm_task_format *f = &task()->format;
    for (int i = 0; i < f->seq_len; i++) {
        if (input[i] >= f->vocab_size) abort();
        if (label[i] >= f->vocab_size && !(f->has_ignore_label && label[i] == f->ignore_label_id)) abort();
    }
    return HRM_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const hrm_task_iface *t = task();
    const char *path = fuzz_write("source.csv", data, size);
    hrm_task_host host = {.struct_size = sizeof host, .emit = discard};
    char err[512];
    long accepted = 0, rejected = 0;
    if (t->verify_file && !t->verify_file(&host, path, &accepted, &rejected, err, sizeof err) &&
        (accepted < 0 || rejected < 0))
        abort();
    hrm_task_sink sink = {.begin_group = begin_group, .begin_puzzle = begin_puzzle, .add_example = add_example};
    char *argv[] = {(char *)t->name, "--train", (char *)path, "--holdout", "1", NULL};
    (void)t->build(&host, 5, argv, &sink, &sink, err, sizeof err);
    return 0;
}
#endif

#ifdef FUZZ_TASK_PUZZLE
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const hrm_task_iface *t = task();
    char *text = malloc(size + 1); /* parse_puzzle takes a string, as solve reads it */
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int n = t->format.seq_len;
    uint8_t *input = malloc((size_t)n);
    char err[512], out[1 << 16], reason[256];
    if (input && !t->parse_puzzle(text, input, err, sizeof err)) {
        for (int i = 0; i < n; i++)
            if (input[i] >= t->format.vocab_size) abort();
        (void)t->render(input, NULL, false, out, sizeof out);
        (void)t->render(input, input, true, out, sizeof out);
        bool accepted;
        (void)t->verify(input, input, input, &accepted, reason, sizeof reason);
    }
    free(input);
    free(text);
    return 0;
}
#endif

#ifdef FUZZ_TASK_ARC
static void check_grid(const arc_grid *g) {
    if (g->h < 1 || g->h > ARC_MAX || g->w < 1 || g->w > ARC_MAX) abort();
    for (int i = 0; i < g->h * g->w; i++)
        if (g->c[i] >= ARC_COLORS) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)task();
    arc_task t;
    char why[512];
    if (!arc_task_load(fuzz_write("task.json", data, size), &t, why, sizeof why)) return 0;
    for (int i = 0; i < t.n_train + t.n_test; i++) check_grid(&t.pairs[i].in), check_grid(&t.pairs[i].out);
    arc_task_free(&t);
    return 0;
}
#endif
