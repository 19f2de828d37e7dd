/* examples/embed/solve.c - a program that embeds libhrm: solves one puzzle with a trained HRM.
 *
 *   embed-solve [--segments M] [--all-segments] [--puzzle-id N] CHECKPOINT [TOKEN...]
 *
 * The puzzle is seq_len integers (the dataset's tokens, as a task plugin encodes them), on the
 * command line or, when none are given there, on stdin separated by white space. Prints the
 * predicted tokens on one line and then "segments: K", "q_halt: X". The backend is $HRM_BACKEND
 * (default: the best one found). Exit status 0 on success, 1 on errors, 2 on bad usage.
 *
 * It uses only the installed headers: cc solve.c $(pkg-config --cflags --libs hrm) */
#include <hrm/hrm.h>
#include <hrm/solver.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "embed-solve";

static int usage(void) {
    fprintf(stderr, "usage: %s [--segments M] [--all-segments] [--puzzle-id N] CHECKPOINT [TOKEN...]\n", prog);
    return 2;
}

/* A whole decimal integer in [lo, hi]: a typo must not become a silent 0. */
static int parse_int(const char *s, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int32_t)v;
    return 1;
}

/* Fills tokens [L] from argv (argc tokens) or, when argc is 0, from stdin. */
static int read_puzzle(int argc, char **argv, int L, int32_t *tokens) {
    char word[64];
    int k = 0;
    if (argc && argc != L) return fprintf(stderr, "%s: %d tokens given, the model takes %d\n", prog, argc, L), 0;
    for (; k < L; k++) {
        const char *text = argc ? argv[k] : word;
        if (!argc && scanf("%63s", word) != 1) break;
        if (!parse_int(text, -2147483647L - 1, 2147483647L, &tokens[k]))
            return fprintf(stderr, "%s: token %d: '%s' is not an integer\n", prog, k, text), 0;
    }
    if (k < L) return fprintf(stderr, "%s: stdin ended after %d tokens, the model takes %d\n", prog, k, L), 0;
    if (!argc && scanf("%63s", word) == 1) return fprintf(stderr, "%s: more than %d tokens on stdin\n", prog, L), 0;
    return 1;
}

int main(int argc, char **argv) {
    int32_t segments = 0, puzzle_id = 0;
    bool all = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (!strcmp(argv[i], "--all-segments"))
            all = true;
        else if (!strcmp(argv[i], "--segments") && i + 1 < argc && parse_int(argv[i + 1], 1, 1 << 16, &segments))
            i++;
        else if (!strcmp(argv[i], "--puzzle-id") && i + 1 < argc && parse_int(argv[i + 1], 0, 1 << 30, &puzzle_id))
            i++;
        else
            return usage();
    }
    if (i >= argc) return usage();

    char err[1024];
    hrm_solver *s;
    /* NULL backend and device: $HRM_BACKEND or the best plugin found, device 0. */
    if (hrm_solver_open(argv[i], NULL, NULL, 1, &s, err, sizeof err)) return fprintf(stderr, "%s: %s\n", prog, err), 1;
    int L, M;
    hrm_solver_info(s, &L, NULL, &M, NULL);
    if (segments > 0) M = segments;

    int32_t *tokens = malloc(2 * (size_t)L * sizeof *tokens), *pred = tokens + L;
    int used = 0, rc = 1;
    float q_halt = 0;
    if (!tokens)
        fprintf(stderr, "%s: out of memory\n", prog);
    else if (!read_puzzle(argc - i - 1, argv + i + 1, L, tokens))
        rc = 1;
    else if (hrm_solver_run(s, 1, tokens, &puzzle_id, M, all, pred, &used, &q_halt, err, sizeof err))
        fprintf(stderr, "%s: %s\n", prog, err); /* bad tokens and identifiers end here too */
    else {
        for (int k = 0; k < L; k++) printf("%d%c", (int)pred[k], k + 1 < L ? ' ' : '\n');
        printf("segments: %d of %d\nq_halt: %.9g\n", used, M, q_halt);
        rc = 0;
    }
    free(tokens);
    hrm_solver_close(s);
    return rc;
}
