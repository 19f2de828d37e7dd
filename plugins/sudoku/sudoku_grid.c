/* plugins/sudoku/sudoku_grid.c - Sudoku grid logic (see sudoku.h): answer checks, a bitmask
 * backtracking solver that counts solutions, rates puzzles and fills random grids, the generator's
 * digging, and the published augmentation. The solver picks the blank with the fewest candidates
 * at every step, which keeps uniqueness checks of generated puzzles in the microsecond range. */
#include "sudoku.h"

#include <stdio.h>
#include <string.h>

enum { ALL_DIGITS = 0x3fe }; /* bits 1..9 */

static int box_of(int cell) { return (cell / 27) * 3 + (cell % 9) / 3; }

static int bit_count(unsigned m) {
    int n = 0;
    for (; m; m &= m - 1) n++;
    return n;
}

/* ---- checking an answer ----------------------------------------------------------------------- */

/* The cells of unit u: rows 0-8, columns 9-17, boxes 18-26. */
static int unit_cell(int u, int k) {
    if (u < 9) return u * 9 + k;
    if (u < 18) return k * 9 + (u - 9);
    int b = u - 18;
    return (b / 3) * 27 + (b % 3) * 3 + (k / 3) * 9 + k % 3;
}

static const char *const unit_kind[3] = {"row", "column", "box"};

bool sudoku_check(const uint8_t *givens, const uint8_t *answer, char *reason, size_t reason_size) {
    for (int i = 0; i < SUDOKU_CELLS; i++) {
        if (answer[i] < 1 || answer[i] > 9) {
            snprintf(reason, reason_size, "cell r%dc%d is blank", i / 9 + 1, i % 9 + 1);
            return false;
        }
        if (givens[i] && givens[i] != answer[i]) {
            snprintf(reason, reason_size, "cell r%dc%d is %d but the puzzle gives %d", i / 9 + 1, i % 9 + 1, answer[i],
                     givens[i]);
            return false;
        }
    }
    for (int u = 0; u < 27; u++) {
        unsigned seen = 0;
        for (int k = 0; k < 9; k++) {
            unsigned bit = 1u << answer[unit_cell(u, k)];
            if (seen & bit) {
                snprintf(reason, reason_size, "%s %d repeats digit %d", unit_kind[u / 9], u % 9 + 1,
                         answer[unit_cell(u, k)]);
                return false;
            }
            seen |= bit;
        }
    }
    return true;
}

/* ---- the solver ------------------------------------------------------------------------------- */

typedef struct solver {
    uint8_t cell[SUDOKU_CELLS];
    unsigned row[9], col[9], box[9]; /* digits used, bit d for digit d */
    int limit, found;
    long guesses;
    task_rng *rng;     /* candidates in random order when set, increasing otherwise */
    uint8_t *solution; /* first solution, when set */
} solver;

/* Flips digit d of cell i in the masks of its row, column and box. */
static void toggle(solver *s, int i, int d) {
    s->row[i / 9] ^= 1u << d;
    s->col[i % 9] ^= 1u << d;
    s->box[box_of(i)] ^= 1u << d;
}

static void place(solver *s, int i, int d) {
    s->cell[i] = (uint8_t)d;
    toggle(s, i, d);
}

static void unplace(solver *s, int i) {
    toggle(s, i, s->cell[i]);
    s->cell[i] = 0;
}

/* Loads grid; false when its givens already clash. */
static bool solver_init(solver *s, const uint8_t *grid, int limit) {
    memset(s, 0, sizeof *s);
    s->limit = limit;
    for (int i = 0; i < SUDOKU_CELLS; i++) {
        int d = grid[i];
        if (!d) continue;
        unsigned bit = 1u << d;
        if ((s->row[i / 9] | s->col[i % 9] | s->box[box_of(i)]) & bit) return false;
        place(s, i, d);
    }
    return true;
}

/* The blank with the fewest candidates (-1 when the grid is full) and its candidate mask. */
static int most_constrained(const solver *s, unsigned *mask) {
    int best = -1, best_n = 10;
    for (int i = 0; i < SUDOKU_CELLS && best_n > 1; i++) {
        if (s->cell[i]) continue;
        unsigned m = ALL_DIGITS & ~(s->row[i / 9] | s->col[i % 9] | s->box[box_of(i)]);
        int n = bit_count(m);
        if (n < best_n) {
            best = i;
            best_n = n;
            *mask = m;
        }
    }
    return best;
}

static void search(solver *s) {
    unsigned mask = 0;
    int i = most_constrained(s, &mask);
    if (i < 0) {
        if (s->found++ == 0 && s->solution) memcpy(s->solution, s->cell, SUDOKU_CELLS);
        return;
    }
    int digits[9], n = 0;
    for (int d = 1; d <= 9; d++)
        if (mask & (1u << d)) digits[n++] = d;
    if (s->rng) task_rng_shuffle(s->rng, digits, n);
    for (int k = 0; k < n && s->found < s->limit; k++) {
        if (n > 1) s->guesses++;
        place(s, i, digits[k]);
        search(s);
        unplace(s, i);
    }
}

int sudoku_count_solutions(const uint8_t *grid, int limit) {
    solver s;
    if (!solver_init(&s, grid, limit)) return 0;
    search(&s);
    return s.found;
}

long sudoku_rating(const uint8_t *puzzle) {
    solver s;
    if (!solver_init(&s, puzzle, 1)) return -1;
    search(&s);
    return s.found ? s.guesses : -1;
}

void sudoku_random_solution(task_rng *rng, uint8_t *grid) {
    static const uint8_t empty[SUDOKU_CELLS];
    solver s;
    solver_init(&s, empty, 1);
    s.rng = rng;
    s.solution = grid;
    search(&s); /* an empty grid always has a solution */
}

int sudoku_dig(task_rng *rng, const uint8_t *solution, int min_givens, uint8_t *puzzle) {
    int order[SUDOKU_CELLS], givens = SUDOKU_CELLS;
    for (int i = 0; i < SUDOKU_CELLS; i++) order[i] = i;
    task_rng_shuffle(rng, order, SUDOKU_CELLS);
    memcpy(puzzle, solution, SUDOKU_CELLS);
    /* One pass is enough: blanking cells only adds solutions, so a cell that could not go earlier
     * cannot go later either. */
    for (int k = 0; k < SUDOKU_CELLS && givens > min_givens; k++) {
        int i = order[k];
        puzzle[i] = 0;
        if (sudoku_count_solutions(puzzle, 2) == 1)
            givens--;
        else
            puzzle[i] = solution[i];
    }
    return givens;
}

/* ---- augmentation ----------------------------------------------------------------------------- */

/* perm[0..9) = the lines of 3 bands (or stacks) in shuffled band order, shuffled within each. */
static void draw_line_perm(task_rng *rng, int *perm) {
    int bands[3] = {0, 1, 2};
    task_rng_shuffle(rng, bands, 3);
    for (int b = 0; b < 3; b++) {
        int lines[3] = {0, 1, 2};
        task_rng_shuffle(rng, lines, 3);
        for (int k = 0; k < 3; k++) perm[b * 3 + k] = bands[b] * 3 + lines[k];
    }
}

void sudoku_aug_draw(task_rng *rng, sudoku_aug *aug) {
    int digits[9], rows[9], cols[9];
    for (int d = 0; d < 9; d++) digits[d] = d + 1;
    task_rng_shuffle(rng, digits, 9);
    aug->digit[0] = 0;
    for (int d = 1; d <= 9; d++) aug->digit[d] = (uint8_t)digits[d - 1];
    bool transpose = task_rng_uniform(rng) < 0.5;
    draw_line_perm(rng, rows);
    draw_line_perm(rng, cols);
    /* As published: transpose first, then new (r, c) = transposed (rows[r], cols[c]). */
    for (int i = 0; i < SUDOKU_CELLS; i++) {
        int r = rows[i / 9], c = cols[i % 9];
        aug->src[i] = (uint8_t)(transpose ? c * 9 + r : r * 9 + c);
    }
}

void sudoku_aug_apply(const sudoku_aug *aug, const uint8_t *grid, uint8_t *out) {
    for (int i = 0; i < SUDOKU_CELLS; i++) out[i] = aug->digit[grid[aug->src[i]]];
}
