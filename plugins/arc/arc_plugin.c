/* plugins/arc/arc_plugin.c - the ARC task plugin's table (include/hrm/task.h) and its single-puzzle
 * slots: verification against the label, rendering, and parsing a grid typed as JSON.
 *
 * The dataset format is the published one (sapientinc/HRM dataset/build_arc_dataset.py, the
 * PuzzleDatasetMetadata it writes): seq_len 900, vocab_size 12, pad_id 0, ignore_label_id 0
 * (PAD cells of a label are not scored), blank_identifier_id 0. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arc.h"

__attribute__((format(printf, 3, 4))) static hrm_status arg_fail(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && err_size) vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return HRM_ERR_INVALID_ARG;
}

/* ---- verify ------------------------------------------------------------------------------ */

static int cells_differing(const arc_grid *a, const arc_grid *b) {
    int n = 0;
    for (int k = 0; k < a->h * a->w; k++) n += a->c[k] != b->c[k];
    return n;
}

/* ARC has no rule to check an answer by: it is right when its grid is the label's. Both are read
 * from where the label's grid starts, so that translated train-split rows verify too; PAD cells
 * beyond the markers are not looked at (the published crop ignores them as well). */
static hrm_status arc_verify(const uint8_t *input, const uint8_t *answer, const uint8_t *label, bool *accepted,
                             char *reason, size_t reason_size) {
    (void)input;
    if (!answer || !accepted) return arg_fail(reason, reason_size, "verify: no answer");
    if (!label) return arg_fail(reason, reason_size, "ARC answers are checked against the label: none given");
    arc_grid want, got;
    int row, col;
    arc_origin(label, &row, &col);
    arc_decode_at(label, row, col, &want);
    if (want.h * want.w == 0) return arg_fail(reason, reason_size, "the label holds no grid");
    arc_decode_at(answer, row, col, &got);
    *accepted = arc_grid_equal(&want, &got);
    if (reason && reason_size) reason[0] = '\0';
    if (*accepted || !reason || !reason_size) return HRM_OK;
    if (want.h != got.h || want.w != got.w)
        snprintf(reason, reason_size, "answer grid is %dx%d, the label's %dx%d", got.h, got.w, want.h, want.w);
    else
        snprintf(reason, reason_size, "%d of %d cells differ from the label", cells_differing(&want, &got),
                 want.h * want.w);
    return HRM_OK;
}

/* ---- render ------------------------------------------------------------------------------ */

/* Background colours of the ARC palette in the xterm 256-colour table: black, blue, red, green,
 * yellow, grey, magenta, orange, azure, maroon; the digit is written in black or white over it. */
static const int PALETTE[ARC_COLORS] = {16, 32, 203, 41, 220, 248, 199, 208, 117, 88};
static const int INK[ARC_COLORS] = {231, 231, 16, 16, 16, 16, 16, 16, 16, 231};

typedef struct text {
    char *out;
    size_t size, len;
    bool full;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = t->full ? -1 : vsnprintf(t->out + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->size - t->len)
        t->full = true;
    else
        t->len += (size_t)n;
}

static void render_cell(text *t, int v, bool changed, bool color, bool diff) {
    if (color)
        put(t, "\x1b[0;48;5;%d;38;5;%d%sm%d", PALETTE[v], INK[v], changed ? ";1;4" : "", v);
    else
        put(t, "%c", diff && !changed ? '.' : '0' + v);
}

/* One character per cell, rows on separate lines (no newline after the last). Given `input`,
 * cells that differ from it (or lie outside its grid) are bold and underlined in colour; in plain
 * text they keep their digit and the others become '.', so that the change stands out. */
static hrm_status arc_render(const uint8_t *tokens, const uint8_t *input, bool color, char *out, size_t out_size) {
    if (!tokens || !out || !out_size) return HRM_ERR_INVALID_ARG;
    arc_grid g, in = {0};
    int row, col;
    text t = {.out = out, .size = out_size};
    arc_origin(tokens, &row, &col);
    arc_decode_at(tokens, row, col, &g);
    if (input) arc_origin(input, &row, &col), arc_decode_at(input, row, col, &in);
    out[0] = '\0';
    if (g.h * g.w == 0) put(&t, "(no grid)");
    for (int i = 0; i < g.h; i++) {
        for (int j = 0; j < g.w; j++) {
            int v = g.c[i * g.w + j];
            bool changed = input && (i >= in.h || j >= in.w || in.c[i * in.w + j] != v);
            render_cell(&t, v, changed, color, input != NULL);
        }
        put(&t, "%s%s", color ? "\x1b[0m" : "", i + 1 < g.h ? "\n" : "");
    }
    return t.full ? HRM_ERR_INVALID_ARG : HRM_OK;
}

/* ---- parse_puzzle -------------------------------------------------------------------------- */

/* A grid as JSON, e.g. [[0,1],[2,3]] (any whitespace), placed top-left with its markers. */
static hrm_status arc_parse_puzzle(const char *text_in, uint8_t *input, char *err, size_t err_size) {
    if (!text_in || !input) return arg_fail(err, err_size, "parse_puzzle: no text");
    json_error_t je;
    json_t *j = json_loads(text_in, 0, &je);
    if (!j) return arg_fail(err, err_size, "not a JSON grid: %s (line %d, column %d)", je.text, je.line, je.column);
    arc_grid g;
    char why[160];
    bool ok = arc_grid_from_json(j, &g, why, sizeof why);
    json_decref(j);
    if (!ok) return arg_fail(err, err_size, "not an ARC grid: %s", why);
    arc_encode(&g, 0, 0, input);
    return HRM_OK;
}

/* ---- the table ------------------------------------------------------------------------------ */

static const hrm_task_iface ARC_IFACE = {
    .abi_version = HRM_TASK_ABI_VERSION,
    .struct_size = sizeof(hrm_task_iface),
    .name = "arc",
    .summary = "ARC-AGI grid puzzles: 30x30 grids of colours 0-9, dihedral and colour augmentation, pass@2",
    .format = {.seq_len = ARC_SEQ_LEN,
               .vocab_size = ARC_VOCAB,
               .pad_id = ARC_PAD,
               .has_ignore_label = true,
               .ignore_label_id = ARC_PAD},
    .build_usage = arc_build_usage,
    .build = arc_build,
    .generate_usage = NULL,
    .generate = NULL,
    .verify_file = NULL,
    .verify = arc_verify,
    .render = arc_render,
    .parse_puzzle = arc_parse_puzzle,
    .eval_begin = arc_eval_begin,
    .eval_add = arc_eval_add,
    .eval_end = arc_eval_end,
};

HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void);
HRM_TASK_EXPORT const hrm_task_iface *hrm_task_entry(void) { return &ARC_IFACE; }
