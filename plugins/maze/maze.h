/* plugins/maze/maze.h - the maze task's grid logic, shared by its plugin table (maze_task.c) and
 * its test: the token encoding, breadth-first distances, the check that an answer marks a shortest
 * route, and the Maze-Hard generator. Grids are 900 tokens, 30 rows of 30, row by row. */
#ifndef HRM_PLUGINS_MAZE_H
#define HRM_PLUGINS_MAZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task_rng.h"

enum { MAZE_SIDE = 30, MAZE_CELLS = MAZE_SIDE * MAZE_SIDE };

/* Tokens as the published dataset/build_maze_dataset.py: PAD, then its CHARSET "# SGo". */
enum { MAZE_PAD, MAZE_WALL, MAZE_OPEN, MAZE_START, MAZE_GOAL, MAZE_ROUTE, MAZE_VOCAB };

/* The token of source character c, or -1. */
int maze_token(char c);
/* The source character of token t, or '?' for PAD and out-of-range tokens. */
char maze_char(uint8_t t);

/* Whether input is a puzzle: walls, open cells and exactly one start and one goal (no route
 * cells); sets *start and *goal, or reason. */
bool maze_check_input(const uint8_t *input, int *start, int *goal, char *reason, size_t reason_size);

/* Whether answer is input (a checked puzzle) with the open cells of one shortest route from start
 * to goal, excluding both, turned into route cells. Any shortest route passes; where the goal cannot
 * be reached the answer must mark no route. */
bool maze_check_answer(const uint8_t *input, const uint8_t *answer, char *reason, size_t reason_size);

/* The Maze-Hard recipe: a wall fraction drawn in [wall_min, wall_max], that many walls at random
 * cells, start and goal on two random open cells, kept when the shortest route is at least
 * min_length cells long (start and goal included; the CSV rating). */
typedef struct maze_gen {
    int min_length;
    double wall_min, wall_max;
} maze_gen;

/* One attempt. Returns the route length and fills input and answer, or 0 when the maze has no route
 * long enough. The answer marks the shortest route that Maze-Hard's answers mark: from the start,
 * always the first step of down, left, right, up that leads one step nearer the goal. */
int maze_generate(task_rng *rng, const maze_gen *g, uint8_t *input, uint8_t *answer);

#endif /* HRM_PLUGINS_MAZE_H */
