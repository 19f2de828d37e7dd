/* plugins/sudoku/sudoku.h - the Sudoku task's grid logic, shared by its plugin table (sudoku_task.c)
 * and its test: checking an answer, a backtracking solver (solution counts and guess ratings), the
 * puzzle generator, and the augmentation of the published builder. A grid here is 81 digits row by
 * row with 0 for a blank; the HRM tokens (blank 1, digit d as d+1) exist only in sudoku_task.c. */
#ifndef HRM_PLUGINS_SUDOKU_H
#define HRM_PLUGINS_SUDOKU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task_rng.h"

enum { SUDOKU_SIDE = 9, SUDOKU_CELLS = 81 };

/* Whether answer is a complete valid grid that keeps every given (non-zero digit) of givens;
 * otherwise reason gets one line naming the first cell, row, column or box at fault. */
bool sudoku_check(const uint8_t *givens, const uint8_t *answer, char *reason, size_t reason_size);

/* Solutions of grid, counted up to limit. */
int sudoku_count_solutions(const uint8_t *grid, int limit);

/* The hardness of a puzzle: how many guesses a plain backtracking solver makes before its first
 * solution, trying the most constrained blank first and its candidates in increasing order. A guess
 * is a digit placed in a cell that had more than one candidate. -1 when there is no solution. */
long sudoku_rating(const uint8_t *puzzle);

/* A random complete grid, by backtracking with candidates in random order. */
void sudoku_random_solution(task_rng *rng, uint8_t *grid);

/* Blanks the cells of solution in random order, each only when the puzzle keeps a unique
 * solution, until min_givens givens are left or no given can go. Returns the givens left. */
int sudoku_dig(task_rng *rng, const uint8_t *solution, int min_givens, uint8_t *puzzle);

/* One augmentation of the published build_sudoku_dataset.py (shuffle_sudoku): a permutation of the
 * digits 1-9 (blank stays 0), a transpose with probability 1/2, and permutations of the bands, of
 * the rows within each band, of the stacks and of the columns within each stack. */
typedef struct sudoku_aug {
    uint8_t digit[10];         /* new digit of digit d; digit[0] = 0 */
    uint8_t src[SUDOKU_CELLS]; /* new cell i takes the value of old cell src[i] */
} sudoku_aug;

void sudoku_aug_draw(task_rng *rng, sudoku_aug *aug);
void sudoku_aug_apply(const sudoku_aug *aug, const uint8_t *grid, uint8_t *out);

#endif /* HRM_PLUGINS_SUDOKU_H */
