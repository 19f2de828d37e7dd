/* plugins/maze/maze_grid.c - maze grid logic (see maze.h): encoding, breadth-first search, the
 * shortest-route check and the generator. The check never asks which shortest route the dataset
 * chose: a set of route cells that joins start to goal and has exactly distance - 1 cells is a
 * shortest route, since any path through it needs at least distance - 1 cells of it. The generator
 * marks the one route that the Maze-Hard data marks, so that its labels match the data's. */
#include "maze.h"

#include <stdio.h>
#include <string.h>

static const char maze_charset[] = "# SGo"; /* tokens 1..5 */

int maze_token(char c) {
    const char *p = c ? strchr(maze_charset, c) : NULL;
    return p ? (int)(p - maze_charset) + 1 : -1;
}

char maze_char(uint8_t t) { return t >= MAZE_WALL && t < MAZE_VOCAB ? maze_charset[t - 1] : '?'; }

/* Searches run on a copy of the grid framed by walls, FRAME_SIDE x FRAME_SIDE, so that a step needs
 * no bounds check: the generator runs tens of thousands of searches per kept maze. */
enum { FRAME_SIDE = MAZE_SIDE + 2, FRAME_CELLS = FRAME_SIDE * FRAME_SIDE };

static const int frame_step[4] = {-FRAME_SIDE, FRAME_SIDE, -1, 1};

static int framed(int cell) { return (cell / MAZE_SIDE + 1) * FRAME_SIDE + cell % MAZE_SIDE + 1; }
static int unframed(int f) { return (f / FRAME_SIDE - 1) * MAZE_SIDE + f % FRAME_SIDE - 1; }

/* pass[f] = 1 where the grid's token is passable, 0 elsewhere and on the frame. */
static void frame_grid(const uint8_t *grid, const bool *passable, uint8_t *pass) {
    memset(pass, 0, FRAME_CELLS);
    for (int i = 0; i < MAZE_CELLS; i++) pass[framed(i)] = grid[i] < MAZE_VOCAB && passable[grid[i]];
}

/* Breadth-first distances (framed cells) from `from` through passable cells; stops as soon as
 * `until` is reached, when every cell nearer than it has its distance. Returns dist[until], -1 when
 * it cannot be reached. */
static int search(const uint8_t *pass, int from, int until, int16_t *dist) {
    int16_t queue[FRAME_CELLS];
    int head = 0, tail = 0;
    memset(dist, 0xff, FRAME_CELLS * sizeof *dist); /* -1 everywhere */
    dist[from] = 0;
    queue[tail++] = (int16_t)from;
    while (head < tail) {
        int u = queue[head++];
        for (int k = 0; k < 4; k++) {
            int v = u + frame_step[k];
            if (!pass[v] || dist[v] >= 0) continue;
            dist[v] = (int16_t)(dist[u] + 1);
            if (v == until) return dist[v];
            queue[tail++] = (int16_t)v;
        }
    }
    return -1;
}

static const bool not_wall[MAZE_VOCAB] = {
    [MAZE_OPEN] = true, [MAZE_START] = true, [MAZE_GOAL] = true, [MAZE_ROUTE] = true};

bool maze_check_input(const uint8_t *input, int *start, int *goal, char *reason, size_t reason_size) {
    int starts = 0, goals = 0;
    for (int i = 0; i < MAZE_CELLS; i++) {
        uint8_t t = input[i];
        if (t == MAZE_START) {
            *start = i;
            starts++;
        }
        if (t == MAZE_GOAL) {
            *goal = i;
            goals++;
        }
        if (t < MAZE_WALL || t > MAZE_GOAL) {
            snprintf(reason, reason_size, "cell r%dc%d holds token %d, not one of '# SG'", i / MAZE_SIDE + 1,
                     i % MAZE_SIDE + 1, t);
            return false;
        }
    }
    if (starts == 1 && goals == 1) return true;
    snprintf(reason, reason_size, "%d starts and %d goals, expected one of each", starts, goals);
    return false;
}

/* Whether answer keeps every cell of input but open cells, which may become route cells. */
static bool keeps_input(const uint8_t *input, const uint8_t *answer, char *reason, size_t reason_size) {
    for (int i = 0; i < MAZE_CELLS; i++) {
        if (answer[i] == input[i] || (input[i] == MAZE_OPEN && answer[i] == MAZE_ROUTE)) continue;
        snprintf(reason, reason_size, "cell r%dc%d is '%c' where the maze has '%c'", i / MAZE_SIDE + 1,
                 i % MAZE_SIDE + 1, maze_char(answer[i]), maze_char(input[i]));
        return false;
    }
    return true;
}

bool maze_check_answer(const uint8_t *input, const uint8_t *answer, char *reason, size_t reason_size) {
    static const bool on_route[MAZE_VOCAB] = {[MAZE_ROUTE] = true, [MAZE_GOAL] = true};
    int start = 0, goal = 0, marked = 0;
    uint8_t pass[FRAME_CELLS];
    int16_t dist[FRAME_CELLS];
    if (!maze_check_input(input, &start, &goal, reason, reason_size)) return false;
    if (!keeps_input(input, answer, reason, reason_size)) return false;
    for (int i = 0; i < MAZE_CELLS; i++) marked += answer[i] == MAZE_ROUTE;
    frame_grid(input, not_wall, pass);
    int shortest = search(pass, framed(start), framed(goal), dist);
    if (shortest < 0) {
        if (marked == 0) return true;
        snprintf(reason, reason_size, "the goal cannot be reached, yet %d route cells are marked", marked);
        return false;
    }
    frame_grid(answer, on_route, pass);
    if (search(pass, framed(start), framed(goal), dist) < 0) {
        snprintf(reason, reason_size, "the route cells do not join the start to the goal");
        return false;
    }
    if (marked != shortest - 1) {
        snprintf(reason, reason_size, "the route has %d cells between start and goal, a shortest one %d", marked,
                 shortest - 1);
        return false;
    }
    return true;
}

/* Marks the route that Maze-Hard's answers follow (every row of maze30_hard_train_1k.csv): from the
 * start, step each time to the first neighbour, in the order down, left, right, up, that is one step
 * nearer the goal. The label is then a function of the maze, which exact-match scoring needs.
 * to_goal: framed distances to the goal, complete for the cells nearer than the start. */
static void mark_route(const int16_t *to_goal, int start, int goal, uint8_t *answer) {
    static const int order[4] = {FRAME_SIDE, -1, 1, -FRAME_SIDE};
    for (int u = start;;) {
        int k = 0;
        while (to_goal[u + order[k]] != to_goal[u] - 1) k++;
        u += order[k];
        if (u == goal) return;
        answer[unframed(u)] = MAZE_ROUTE;
    }
}

/* Uniform in [0, n) from the top 32 bits by multiply-shift: this loop draws hundreds of numbers per
 * attempt and tens of thousands of attempts per kept maze, and a 64-bit division per draw was most
 * of its time; the bias, n / 2^32, is far below anything a maze shows. */
static int below(task_rng *rng, int n) { return (int)(((task_rng_next(rng) >> 32) * (uint64_t)n) >> 32); }

/* The tokens of a generated maze, from its frame of open cells. */
static void maze_tokens(const uint8_t *pass, int start, int goal, uint8_t *input) {
    for (int i = 0; i < MAZE_CELLS; i++) input[i] = pass[framed(i)] ? MAZE_OPEN : MAZE_WALL;
    input[unframed(start)] = MAZE_START;
    input[unframed(goal)] = MAZE_GOAL;
}

int maze_generate(task_rng *rng, const maze_gen *g, uint8_t *input, uint8_t *answer) {
    int order[MAZE_CELLS]; /* framed cells */
    uint8_t pass[FRAME_CELLS];
    int16_t dist[FRAME_CELLS];
    double fraction = g->wall_min + (g->wall_max - g->wall_min) * task_rng_uniform(rng);
    int walls = (int)(fraction * MAZE_CELLS + 0.5);
    for (int i = 0; i < MAZE_CELLS; i++) order[i] = framed(i);
    /* A partial Fisher-Yates shuffle: order[0, walls) are the walls, then start, then goal. */
    for (int k = 0; k < walls + 2; k++) {
        int j = k + below(rng, MAZE_CELLS - k), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    memset(pass, 0, sizeof pass);
    for (int r = 1; r <= MAZE_SIDE; r++) memset(pass + r * FRAME_SIDE + 1, 1, MAZE_SIDE);
    for (int k = 0; k < walls; k++) pass[order[k]] = 0;
    int start = order[walls], goal = order[walls + 1];
    int d = search(pass, goal, start, dist);
    if (d < 0 || d + 1 < g->min_length) return 0;
    maze_tokens(pass, start, goal, input);
    memcpy(answer, input, MAZE_CELLS);
    mark_route(dist, start, goal, answer);
    return d + 1;
}
