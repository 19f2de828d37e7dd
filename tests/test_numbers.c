/* tests/test_numbers.c - the numbers a user reads, checked against values derived here from the
 * published code rather than by the engine's own accumulation (issue 14):
 *   halting exploration (core/act.c): with a Q head that always says "halt", the halting steps of
 *     4096 training sequences follow the distribution that the published hrm_act_v1.py implies, by
 *     a chi-square goodness-of-fit test at alpha = 0.001 (fixed seed); with exploration off every
 *     sequence halts at step 1; exploration never halts a sequence that the Q head keeps going;
 *   `hrm eval` end to end (tools/cmd_eval.c, core/evaluate.c, the Sudoku task's verifier) with a
 *     hand-built model whose predictions are known exactly: right on some test rows, a valid but
 *     different Sudoku solution on others, wrong on the rest. Every number of the report (verified,
 *     verified_count, accuracy, exact_accuracy, q_halt_accuracy, steps, count, lm_loss,
 *     q_halt_loss, loss) is computed here from the rows and the weights.
 * Runs on the CPU backend; $HRM_EXE names the hrm program (meson sets it). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "act.h"
#include "checkpoint.h"
#include "init.h"
#include "io_fixtures.h"
#include "model.h"

static void ctx_open(hrm_ctx *ctx) {
    char err[512];
    ck_assert_msg(hrm_ctx_open("cpu", 0, hrm_default_host(), ctx, err, sizeof err) == HRM_OK,
                  "cannot open the cpu backend: %s", err);
}

/* ---- halting exploration ------------------------------------------------------------------ */

enum { EXPLORE_SEQUENCES = 4096, EXPLORE_MAX_STEPS = 6, TINY_SEQ = 2, TINY_VOCAB = 4 };

/* The published halting rule at step k of training (hrm_act_v1.py, HierarchicalReasoningModel_ACTV1
 * .forward): halted = (k >= H or q_halt > q_continue) and k >= min_halt_steps, where
 * min_halt_steps is 0 with probability 1 - p and otherwise uniform in {2, ..., H}
 * (torch.randint_like(low=2, high=H+1)), drawn afresh at EVERY segment: it is computed inside
 * forward() and not kept in the carry. So with a Q head that always says halt, a sequence still
 * running at step k halts there with probability
 *     h(k) = (1 - p) + p * P(min_halt_steps <= k) = (1 - p) + p * (k - 1) / (H - 1)  (k < H),
 *     h(H) = 1,
 * and its halting step is k with probability h(k) * prod_{j<k} (1 - h(j)). With p = 1 this is
 * not uniform over 2..H (min_halt_steps is, one draw per segment is not): for H = 6 it is
 * 0.2, 0.32, 0.288, 0.1536, 0.0384 at steps 2..6. prob is [H + 1], prob[0] = 0. */
static void published_halting(double p, int H, double *prob) {
    double alive = 1.0;
    prob[0] = 0.0;
    for (int k = 1; k <= H; k++) {
        double h = k == H ? 1.0 : (1.0 - p) + p * (double)(k - 1) / (double)(H - 1);
        prob[k] = alive * h;
        alive *= 1.0 - h;
    }
}

/* Upper 0.001 quantiles of the chi-square distribution, chi2_{0.999}(df) (NIST/SEMATECH
 * e-Handbook of Statistical Methods, table 1.3.6.7.4; recomputed from the regularised incomplete
 * gamma function: 18.4668, 20.5150). */
static double chi2_critical_001(int df) {
    ck_assert_msg(df == 4 || df == 5, "no critical value for df %d", df);
    return df == 4 ? 18.467 : 20.515;
}

/* A training run of EXPLORE_SEQUENCES slots of a tiny model on the CPU backend whose Q head is
 * constant (weight 0, bias (q_halt, q_continue)), with halt_exploration_prob p: the real
 * hrm_act_train_segment, segment after segment, until every slot's first sequence has halted.
 * halts[k] (k in 0..H) counts the first sequences that halted at step k. No optimizer step is
 * taken, so the Q head stays as set. */
static void halting_steps(double p, float q_halt, float q_continue, uint64_t seed, int64_t *halts) {
    const int N = EXPLORE_SEQUENCES, H = EXPLORE_MAX_STEPS;
    char err[512];
    hrm_ctx ctx;
    ctx_open(&ctx);
    hrm_config c = hrm_config_default();
    c.hidden_size = 8;
    c.num_heads = 2;
    c.H_layers = c.L_layers = 1;
    c.H_cycles = c.L_cycles = 1;
    c.puzzle_emb_ndim = 0;
    c.vocab_size = TINY_VOCAB;
    c.seq_len = TINY_SEQ;
    c.num_puzzle_identifiers = 1;
    c.halt_max_steps = H;
    c.halt_exploration_prob = p;
    hrm_model *m;
    ck_assert_msg(hrm_model_create(&ctx, &c, N, &m, err, sizeof err) == HRM_OK, "%s", err);
    const hrm_param_table *t = hrm_model_params_table(m);
    float *params = malloc((size_t)t->total * sizeof *params);
    ck_assert(params != NULL);
    hrm_init_params(t, params, seed);
    const hrm_param *w = hrm_params_find(t, "model.inner.q_head.weight"),
                    *b = hrm_params_find(t, "model.inner.q_head.bias");
    ck_assert(w && b);
    memset(params + w->offset, 0, (size_t)w->numel * sizeof *params);
    params[b->offset] = q_halt;
    params[b->offset + 1] = q_continue;
    ck_assert_msg(hrm_model_set_params(m, params, t->total) == HRM_OK, "%s", hrm_model_error(m));

    hrm_train_settings ts = hrm_train_settings_default();
    ts.global_batch_size = N;
    ts.seed = seed;
    hrm_act *a;
    ck_assert_msg(hrm_act_create(&ctx, m, N, &ts, true, &a, err, sizeof err) == HRM_OK, "%s", err);
    int32_t *inputs = malloc((size_t)N * TINY_SEQ * sizeof *inputs),
            *labels = malloc((size_t)N * TINY_SEQ * sizeof *labels);
    int32_t *ids = calloc((size_t)N, sizeof *ids);
    uint8_t *done = calloc((size_t)N, 1);
    ck_assert(inputs && labels && ids && done);
    hrm_rng r;
    hrm_rng_seed(&r, seed + 1);
    for (int i = 0; i < N * TINY_SEQ; i++) {
        inputs[i] = (int32_t)hrm_rng_below(&r, TINY_VOCAB);
        labels[i] = 1 + (int32_t)hrm_rng_below(&r, TINY_VOCAB - 1);
    }
    hrm_act_batch batch = {inputs, labels, ids};
    memset(halts, 0, (size_t)(H + 1) * sizeof *halts);
    int left = N;
    for (int s = 0; s < H && left > 0; s++) {
        ck_assert_msg(hrm_act_train_segment(a, &batch, NULL) == HRM_OK, "%s", hrm_act_error(a));
        for (int i = 0; i < N; i++)
            if (!done[i] && a->halted[i]) {
                ck_assert_msg(a->steps[i] >= 1 && a->steps[i] <= H, "slot %d halted at step %d", i, a->steps[i]);
                halts[a->steps[i]]++;
                done[i] = 1;
                left--;
            }
    }
    ck_assert_msg(left == 0, "%d sequences still running after halt_max_steps = %d segments", left, H);
    hrm_act_free(a);
    hrm_model_free(m);
    hrm_ctx_close(&ctx);
    free(params), free(inputs), free(labels), free(ids), free(done);
}

static void print_halts(const char *what, const int64_t *halts, const double *prob, int H, int64_t n) {
    printf("exploration %s: step: observed / expected\n", what);
    for (int k = 1; k <= H; k++) printf("  %d: %lld / %.1f\n", k, (long long)halts[k], prob[k] * (double)n);
    fflush(stdout); /* a failed check ends the forked test before stdio would */
}

/* Pearson's chi-square of the observed halting steps against published_halting(p), over the steps
 * with a nonzero probability (df = their number - 1); a step of probability 0 must see no halt. */
static void expect_published_halting(double p, uint64_t seed) {
    const int H = EXPLORE_MAX_STEPS;
    const int64_t n = EXPLORE_SEQUENCES;
    int64_t halts[EXPLORE_MAX_STEPS + 1];
    double prob[EXPLORE_MAX_STEPS + 1];
    halting_steps(p, 5.0f, -5.0f, seed, halts);
    published_halting(p, H, prob);
    char what[64];
    snprintf(what, sizeof what, "p = %g, Q head says halt", p);
    print_halts(what, halts, prob, H, n);
    double chi2 = 0;
    int cells = 0;
    int64_t impossible = 0;
    for (int k = 1; k <= H; k++) {
        if (prob[k] == 0) {
            impossible += halts[k];
            continue;
        }
        double e = prob[k] * (double)n, d = (double)halts[k] - e;
        ck_assert_msg(e >= 5, "expected count %.1f at step %d: too few sequences for the chi-square test", e, k);
        chi2 += d * d / e;
        cells++;
    }
    int df = cells - 1;
    double crit = chi2_critical_001(df);
    printf("  chi-square %.3f, df %d, critical value at alpha 0.001: %.3f; halts at impossible steps: %lld\n", chi2, df,
           crit, (long long)impossible);
    fflush(stdout);
    ck_assert_msg(chi2 < crit,
                  "p = %g: halting steps do not follow the published rule: chi-square %.2f >= %.3f (df %d, alpha "
                  "0.001, %lld sequences; step 1: %lld halts, expected %.1f)",
                  p, chi2, crit, df, (long long)n, (long long)halts[1], prob[1] * (double)n);
    ck_assert_msg(impossible == 0, "p = %g: %lld sequences halted at a step the published rule never halts at", p,
                  (long long)impossible);
}

/* p = 1: min_halt_steps is drawn every segment; no sequence may halt at step 1. */
START_TEST(test_explore_always) { expect_published_halting(1.0, 14); }
END_TEST

/* p = 0.75: three segments in four explore (the draw u < p), the rest follow the Q head. */
START_TEST(test_explore_partly) { expect_published_halting(0.75, 15); }
END_TEST

/* p = 0: nothing changes, the Q head alone decides: every sequence halts at step 1. */
START_TEST(test_explore_off) {
    int64_t halts[EXPLORE_MAX_STEPS + 1];
    halting_steps(0.0, 5.0f, -5.0f, 16, halts);
    ck_assert_msg(halts[1] == EXPLORE_SEQUENCES, "p = 0: %lld of %d sequences halted at step 1", (long long)halts[1],
                  EXPLORE_SEQUENCES);
}
END_TEST

/* Exploration only delays halting: with a Q head that always says continue, every sequence runs
 * to halt_max_steps, at p = 1 too. */
START_TEST(test_explore_never_forces) {
    int64_t halts[EXPLORE_MAX_STEPS + 1];
    halting_steps(1.0, -5.0f, 5.0f, 17, halts);
    ck_assert_msg(halts[EXPLORE_MAX_STEPS] == EXPLORE_SEQUENCES, "Q says continue, p = 1: %lld of %d halted at step %d",
                  (long long)halts[EXPLORE_MAX_STEPS], EXPLORE_SEQUENCES, EXPLORE_MAX_STEPS);
}
END_TEST

/* ---- `hrm eval` on a model whose predictions are known ------------------------------------ */

/* The model: learned positions, no puzzle embedding, D = 96 = 11 token dimensions + 81 position
 * dimensions (+ 4 unused); token t embeds as unit vector e_t, position p as e_{11+p}; every layer,
 * H_init and L_init zero. Attention and SwiGLU then output 0, every block is rmsnorm(h), and the
 * input x = sqrt(D) * 0.7071 (e_t + e_{11+p}) already has mean square 1 (up to rms_norm_eps, 1e-9
 * here), so zH = x = A (e_t + e_{11+p}) with A = sqrt(D / 2) at every segment. The LM head reads:
 * W[d][d] = 3 for the digit tokens d = 2..10 (a given digit stays), W[g(p)][11+p] = 1 with g(p)
 * the token of digit GRID(p) (a blank at p becomes GRID's digit). The Q head: q_halt = A [input
 * token at cell 0 is blank] - 3, q_continue = 0. */
enum { CELLS = 81, VOCAB = 11, POS0 = 11, DIM = 96, BLANK = 1 };
static const double Q_HALT_BLANK_WEIGHT = 1.0, Q_HALT_BIAS = -3.0, LM_GIVEN = 3.0, LM_FILL = 1.0;

/* A valid Sudoku solution: row r is the base row shifted by 3 (r % 3) + r / 3. */
static int grid_digit(int cell) { return ((cell / 9 % 3) * 3 + cell / 27 + cell % 9) % 9 + 1; }

static void write_model(const char *path) {
    char err[512];
    hrm_config c = hrm_config_default();
    c.hidden_size = DIM;
    c.num_heads = 2;
    c.H_layers = c.L_layers = 1;
    c.H_cycles = c.L_cycles = 1;
    c.expansion = 1.0;
    c.puzzle_emb_ndim = 0;
    c.pos_encodings = HRM_POS_LEARNED;
    c.rms_norm_eps = 1e-9;
    c.halt_max_steps = 2;
    c.halt_exploration_prob = 0;
    c.vocab_size = VOCAB;
    c.seq_len = CELLS;
    c.num_puzzle_identifiers = 1;
    ck_assert_msg(hrm_config_validate(&c, err, sizeof err) == HRM_OK, "%s", err);
    hrm_param_table t;
    ck_assert(hrm_params_build(&c, &t) == HRM_OK);
    float *w = calloc((size_t)t.total, sizeof *w);
    ck_assert(w != NULL);
    const hrm_param *tok = hrm_params_find(&t, "model.inner.embed_tokens.embedding_weight"),
                    *pos = hrm_params_find(&t, "model.inner.embed_pos.embedding_weight"),
                    *lm = hrm_params_find(&t, "model.inner.lm_head.weight"),
                    *qw = hrm_params_find(&t, "model.inner.q_head.weight"),
                    *qb = hrm_params_find(&t, "model.inner.q_head.bias");
    ck_assert(tok && pos && lm && qw && qb);
    for (int v = 0; v < VOCAB; v++) w[tok->offset + v * DIM + v] = 1.0f;
    for (int p = 0; p < CELLS; p++) w[pos->offset + p * DIM + POS0 + p] = 1.0f;
    for (int d = 2; d < VOCAB; d++) w[lm->offset + d * DIM + d] = (float)LM_GIVEN;
    for (int p = 0; p < CELLS; p++) w[lm->offset + (grid_digit(p) + 1) * DIM + POS0 + p] = (float)LM_FILL;
    w[qw->offset + BLANK] = (float)Q_HALT_BLANK_WEIGHT; /* row 0: q_halt */
    w[qb->offset] = (float)Q_HALT_BIAS;
    ck_assert_msg(hrm_checkpoint_write(path, &c, &t, w, NULL, err, sizeof err) == HRM_OK, "%s", err);
    hrm_params_free(&t);
    free(w);
}

/* A test row: question digits (0 = blank) and answer digits. */
typedef struct sudoku_row {
    int question[CELLS], answer[CELLS];
} sudoku_row;

/* answer = GRID with its digits relabelled by perm (perm[d] for d = 1..9), rows a and b swapped
 * (a == b: none) and columns c and d swapped (c == d: none); blank where blank(cell) says. */
static sudoku_row make_row(const int *perm, int ra, int rb, int ca, int cb, int (*blank)(int)) {
    sudoku_row s;
    for (int cell = 0; cell < CELLS; cell++) {
        int r = cell / 9, c = cell % 9;
        r = r == ra ? rb : r == rb ? ra : r;
        c = c == ca ? cb : c == cb ? ca : c;
        s.answer[cell] = perm[grid_digit(r * 9 + c)];
        s.question[cell] = blank(cell) ? 0 : s.answer[cell];
    }
    return s;
}

static int blank_none(int cell) { return (void)cell, 0; }
static int blank_checker(int cell) { return (cell / 9 + cell % 9) % 2 == 0; }
static int blank_col1(int cell) { return cell % 3 == 1; }
static int blank_diagonal(int cell) { return cell / 9 == cell % 9; }
static int blank_rows01(int cell) { return cell / 9 <= 1; }
static int blank_rows45_8(int cell) { return cell / 9 == 4 || cell / 9 == 5 || cell / 9 == 8; }
static int blank_cols68(int cell) { return cell % 9 == 6 || cell % 9 == 8; }
static int blank_row0(int cell) { return cell / 9 == 0; }
static int blank_cell0(int cell) { return cell == 0; }
static int blank_grid5(int cell) { return grid_digit(cell) == 5; }

enum { ROWS = 12 };

/* Twelve rows: five whose prediction is the answer (GRID or a relabelling with no blank), three
 * whose prediction is GRID, a valid solution with the givens, while the answer is GRID with two
 * rows or two columns of a band or stack swapped and those cells blank (verified, not exact),
 * and four whose prediction breaks the rules (not verified). */
static void make_rows(sudoku_row *rows) {
    const int id[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, swap12[10] = {0, 2, 1, 3, 4, 5, 6, 7, 8, 9},
              swap56[10] = {0, 1, 2, 3, 4, 6, 5, 7, 8, 9}, shift[10] = {0, 2, 3, 4, 5, 6, 7, 8, 9, 1};
    int i = 0;
    rows[i++] = make_row(id, 0, 0, 0, 0, blank_checker);
    rows[i++] = make_row(id, 0, 0, 0, 0, blank_col1);
    rows[i++] = make_row(id, 0, 0, 0, 0, blank_none);
    rows[i++] = make_row(id, 0, 0, 0, 0, blank_diagonal);
    rows[i++] = make_row(shift, 0, 0, 0, 0, blank_none);
    rows[i++] = make_row(id, 0, 1, 0, 0, blank_rows01);
    rows[i++] = make_row(id, 4, 5, 0, 0, blank_rows45_8);
    rows[i++] = make_row(id, 0, 0, 6, 8, blank_cols68);
    rows[i++] = make_row(id, 0, 1, 0, 0, blank_row0);
    rows[i++] = make_row(swap12, 0, 0, 0, 0, blank_cell0);
    rows[i++] = make_row(shift, 0, 0, 0, 0, blank_grid5);
    rows[i++] = make_row(swap56, 0, 0, 0, 0, blank_grid5);
    ck_assert_int_eq(i, ROWS);
}

/* The Sudoku rules, written here: every cell a digit, the givens kept, no digit twice in a row,
 * column or box. */
static bool sudoku_solves(const int *question, const int *answer) {
    for (int cell = 0; cell < CELLS; cell++)
        if (answer[cell] < 1 || answer[cell] > 9 || (question[cell] && question[cell] != answer[cell])) return false;
    for (int u = 0; u < 9; u++) {
        unsigned row = 0, col = 0, box = 0;
        for (int k = 0; k < 9; k++) {
            row |= 1u << answer[u * 9 + k];
            col |= 1u << answer[k * 9 + u];
            box |= 1u << answer[(u / 3 * 3 + k / 3) * 9 + u % 3 * 3 + k % 3];
        }
        if (row != 0x3FE || col != 0x3FE || box != 0x3FE) return false;
    }
    return true;
}

/* The model's logits at one cell (see write_model), in double. */
static void cell_logits(int cell, int input_token, double *logits) {
    double A = sqrt(DIM / 2.0);
    for (int v = 0; v < VOCAB; v++) logits[v] = 0;
    if (input_token >= 2) logits[input_token] += A * LM_GIVEN;
    logits[grid_digit(cell) + 1] += A * LM_FILL;
}

/* losses.py stablemax_cross_entropy at one position: s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0);
 * -log(s(x_label) / sum s). */
static double stablemax_ce(const double *x, int label) {
    double sum = 0, s[VOCAB];
    for (int v = 0; v < VOCAB; v++) sum += s[v] = x[v] >= 0 ? x[v] + 1 : 1 / (1 - x[v]);
    return -log(s[label] / sum);
}

static double bce_with_logits(double x, double y) { return fmax(x, 0) - x * y + log1p(exp(-fabs(x))); }

/* The report, from the rows and the weights: argmax (first maximum) per cell, the published
 * per-row numbers (losses.py), divided by the rows with a valid label (all: Sudoku ignores none). */
typedef struct expected_report {
    int verified, exact;
    double accuracy, q_halt_accuracy, lm_loss, q_halt_loss;
} expected_report;

static expected_report expected_numbers(const sudoku_row *rows) {
    expected_report e = {0};
    for (int i = 0; i < ROWS; i++) {
        int pred[CELLS], correct = 0;
        double lm = 0;
        for (int cell = 0; cell < CELLS; cell++) {
            double x[VOCAB];
            cell_logits(cell, rows[i].question[cell] + 1, x);
            int best = 0;
            for (int v = 1; v < VOCAB; v++) best = x[v] > x[best] ? v : best;
            pred[cell] = best - 1;
            correct += pred[cell] == rows[i].answer[cell];
            lm += stablemax_ce(x, rows[i].answer[cell] + 1);
        }
        bool exact = correct == CELLS;
        double q_halt = sqrt(DIM / 2.0) * Q_HALT_BLANK_WEIGHT * (rows[i].question[0] == 0) + Q_HALT_BIAS;
        e.verified += sudoku_solves(rows[i].question, pred);
        e.exact += exact;
        e.accuracy += (double)correct / CELLS;
        e.q_halt_accuracy += (q_halt >= 0) == exact;
        e.lm_loss += lm / CELLS;
        e.q_halt_loss += bce_with_logits(q_halt, exact);
    }
    e.accuracy /= ROWS, e.q_halt_accuracy /= ROWS, e.lm_loss /= ROWS, e.q_halt_loss /= ROWS;
    return e;
}

static void write_csv(const char *path, const sudoku_row *rows, int n) {
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fprintf(f, "source,question,answer,rating\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "numbers-%d,", i);
        for (int c = 0; c < CELLS; c++) fputc(rows[i].question[c] ? '0' + rows[i].question[c] : '.', f);
        fputc(',', f);
        for (int c = 0; c < CELLS; c++) fputc('0' + rows[i].answer[c], f);
        fprintf(f, ",0\n");
    }
    ck_assert(fclose(f) == 0);
}

static int run(const char *cmd) {
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *text_of(const char *path) {
    size_t n;
    char *s = fx_read(path, &n), *t = realloc(s, n + 1);
    ck_assert(t != NULL);
    t[n] = 0;
    return t;
}

static double jnum(json_t *o, const char *key, const char *text) {
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_number(v), "hrm eval: no number %s in %s", key, text);
    return json_number_value(v);
}

static void expect_near(const char *key, double got, double want, double tol, const char *text) {
    printf("  %-16s %.9g (expected %.9g)\n", key, got, want);
    ck_assert_msg(fabs(got - want) <= tol * fmax(1.0, fabs(want)), "hrm eval: %s = %.9g, expected %.9g (+- %g)\n%s",
                  key, got, want, tol, text);
}

START_TEST(test_eval_known_predictions) {
    const char *exe = getenv("HRM_EXE");
    ck_assert_msg(exe && *exe, "HRM_EXE is not set (meson sets it to the hrm program)");
    char cmd[8192];
    sudoku_row rows[ROWS];
    make_rows(rows);
    expected_report e = expected_numbers(rows);
    ck_assert_msg(e.exact == 5 && e.verified == 8, "the fixture: %d exact, %d verified rows, meant 5 and 8", e.exact,
                  e.verified);
    write_csv(fx_path("test.csv"), rows, ROWS);
    write_csv(fx_path("train.csv"), rows, 2);
    snprintf(cmd, sizeof cmd, "'%s' data build sudoku --train '%s' --test '%s' --out '%s' >'%s' 2>&1", exe,
             fx_path("train.csv"), fx_path("test.csv"), fx_path("data"), fx_path("build.log"));
    ck_assert_msg(run(cmd) == 0, "hrm data build failed: %s", text_of(fx_path("build.log")));
    write_model(fx_path("model.safetensors"));
    /* batches of 5: 5 + 5 + 2 rows, the last batch padded */
    snprintf(cmd, sizeof cmd, "'%s' eval --checkpoint '%s' --data '%s' --batch 5 --backend cpu >'%s' 2>'%s'", exe,
             fx_path("model.safetensors"), fx_path("data"), fx_path("eval.json"), fx_path("eval.err"));
    int rc = run(cmd);
    ck_assert_msg(rc == 0, "hrm eval exited %d: %s", rc, text_of(fx_path("eval.err")));
    char *text = text_of(fx_path("eval.json"));
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    ck_assert_msg(o != NULL, "hrm eval printed no JSON (%s): %s", je.text, text);
    const char *task = json_string_value(json_object_get(o, "task"));
    ck_assert_msg(task && !strcmp(task, "sudoku"), "hrm eval did not score with the sudoku task: %s", text);
    printf("hrm eval, %d rows (%d exact, %d verified):\n", ROWS, e.exact, e.verified);
    const double exact_tol = 1e-8, loss_tol = 1e-5; /* the report prints 9 digits; fp32 logits */
    expect_near("examples", jnum(o, "examples", text), ROWS, 0, text);
    expect_near("count", jnum(o, "count", text), ROWS, 0, text);
    expect_near("segments", jnum(o, "segments", text), 2, 0, text);
    expect_near("verified_count", jnum(o, "verified_count", text), e.verified, 0, text);
    expect_near("verified", jnum(o, "verified", text), (double)e.verified / ROWS, exact_tol, text);
    expect_near("exact_accuracy", jnum(o, "exact_accuracy", text), (double)e.exact / ROWS, exact_tol, text);
    expect_near("accuracy", jnum(o, "accuracy", text), e.accuracy, exact_tol, text);
    expect_near("q_halt_accuracy", jnum(o, "q_halt_accuracy", text), e.q_halt_accuracy, exact_tol, text);
    expect_near("steps", jnum(o, "steps", text), 2, exact_tol, text);
    expect_near("lm_loss", jnum(o, "lm_loss", text), e.lm_loss, loss_tol, text);
    expect_near("q_halt_loss", jnum(o, "q_halt_loss", text), e.q_halt_loss, loss_tol, text);
    expect_near("loss", jnum(o, "loss", text), e.lm_loss + 0.5 * e.q_halt_loss, loss_tol, text);
    json_decref(o);
    free(text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("numbers");
    TCase *explore = tcase_create("exploration"), *eval = tcase_create("eval");
    tcase_set_timeout(explore, 300);
    tcase_set_timeout(eval, 120);
    tcase_add_checked_fixture(eval, fx_setup, fx_teardown);
    tcase_add_test(explore, test_explore_always);
    tcase_add_test(explore, test_explore_partly);
    tcase_add_test(explore, test_explore_off);
    tcase_add_test(explore, test_explore_never_forces);
    tcase_add_test(eval, test_eval_known_predictions);
    suite_add_tcase(s, explore);
    suite_add_tcase(s, eval);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
