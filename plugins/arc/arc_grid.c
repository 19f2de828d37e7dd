/* plugins/arc/arc_grid.c - ARC grids: the 8 dihedral transforms and colour maps of the published
 * augmentation, the 30x30 token layout with end-of-grid markers, the published crop that reads a
 * grid back, and the variant names that record an augmentation.
 *
 * Sources followed: sapientinc/HRM dataset/common.py (dihedral_transform: numpy rot90/fliplr/
 * flipud/transpose, DIHEDRAL_INVERSE = [0, 3, 2, 1, 4, 5, 6, 7]), dataset/build_arc_dataset.py
 * (np_grid_to_seq_translational_augment, aug/inverse_aug naming "name|||tT|||perm") and
 * evaluators/arc.py (_crop). */
#include <stdio.h>
#include <string.h>

#include "arc.h"

static const int DIHEDRAL_INVERSE[ARC_DIHEDRAL] = {0, 3, 2, 1, 4, 5, 6, 7};

void arc_aug_identity(arc_aug *a) {
    a->trans = 0;
    for (int c = 0; c < ARC_COLORS; c++) a->map[c] = (uint8_t)c;
}

int arc_dihedral_inverse(int trans) { return DIHEDRAL_INVERSE[trans]; }

/* The source cell (r, c) of destination cell (i, j) of a (h,w) grid under `trans`, with numpy's
 * conventions: 1 = rot90 (counter-clockwise), 2 = rot180, 3 = rot270, 4 = fliplr, 5 = flipud,
 * 6 = transpose, 7 = fliplr(rot90) (the anti-diagonal reflection). */
static void dihedral_source(int trans, int h, int w, int i, int j, int *r, int *c) {
    switch (trans) {
    case 1: *r = j, *c = w - 1 - i; break;
    case 2: *r = h - 1 - i, *c = w - 1 - j; break;
    case 3: *r = h - 1 - j, *c = i; break;
    case 4: *r = i, *c = w - 1 - j; break;
    case 5: *r = h - 1 - i, *c = j; break;
    case 6: *r = j, *c = i; break;
    case 7: *r = h - 1 - j, *c = w - 1 - i; break;
    default: *r = i, *c = j; break;
    }
}

/* dst must not be src. Transforms 1, 3, 6 and 7 swap height and width. */
void arc_dihedral(const arc_grid *src, int trans, arc_grid *dst) {
    bool swap = trans == 1 || trans == 3 || trans == 6 || trans == 7;
    dst->h = swap ? src->w : src->h;
    dst->w = swap ? src->h : src->w;
    for (int i = 0; i < dst->h; i++)
        for (int j = 0; j < dst->w; j++) {
            int r, c;
            dihedral_source(trans, src->h, src->w, i, j, &r, &c);
            dst->c[i * dst->w + j] = src->c[r * src->w + c];
        }
}

static void map_colors(arc_grid *g, const uint8_t map[ARC_COLORS]) {
    for (int k = 0; k < g->h * g->w; k++) g->c[k] = map[g->c[k]];
}

/* Published: dihedral_transform(mapping[grid], trans_id); the two commute. */
void arc_augment(const arc_grid *src, const arc_aug *a, arc_grid *dst) {
    arc_dihedral(src, a->trans, dst);
    map_colors(dst, a->map);
}

/* Published inverse_aug: inv_perm[inverse_dihedral_transform(grid, trans_id)]. */
void arc_unaugment(const arc_grid *src, const arc_aug *a, arc_grid *dst) {
    uint8_t inv[ARC_COLORS];
    for (int c = 0; c < ARC_COLORS; c++) inv[a->map[c]] = (uint8_t)c;
    arc_dihedral(src, arc_dihedral_inverse(a->trans), dst);
    map_colors(dst, inv);
}

bool arc_grid_equal(const arc_grid *a, const arc_grid *b) {
    return a->h == b->h && a->w == b->w && !memcmp(a->c, b->c, (size_t)(a->h * a->w));
}

/* FNV-1a, continued from h. */
uint64_t arc_hash_bytes(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The splitmix64 finaliser: spreads FNV's weak low bits, which the hash tables index by. */
uint64_t arc_hash_mix(uint64_t h) {
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* Shape and cells, as the published grid_hash (a 2x4 grid differs from a 4x2 one with the same
 * cells). 64 bits: among the at most millions of grids compared, a collision has a probability
 * under 1e-7. */
uint64_t arc_grid_hash(const arc_grid *g) {
    uint8_t shape[2] = {(uint8_t)g->h, (uint8_t)g->w};
    uint64_t h = arc_hash_bytes(ARC_HASH_INIT, shape, 2);
    return arc_hash_mix(arc_hash_bytes(h, g->c, (size_t)(g->h * g->w)));
}

/* Published np_grid_to_seq_translational_augment for one grid: colours + 2, markers on the row
 * below (under the grid's columns only) and the column right of the grid (beside its rows only),
 * each where it still lies inside the canvas; the corner cell stays PAD. */
void arc_encode(const arc_grid *g, int row, int col, uint8_t *tokens) {
    memset(tokens, ARC_PAD, ARC_SEQ_LEN);
    for (int i = 0; i < g->h; i++) {
        uint8_t *line = tokens + (row + i) * ARC_MAX + col;
        for (int j = 0; j < g->w; j++) line[j] = (uint8_t)(g->c[i * g->w + j] + ARC_COLOR0);
    }
    if (row + g->h < ARC_MAX)
        for (int j = 0; j < g->w; j++) tokens[(row + g->h) * ARC_MAX + col + j] = ARC_EOS;
    if (col + g->w < ARC_MAX)
        for (int i = 0; i < g->h; i++) tokens[(row + i) * ARC_MAX + col + g->w] = ARC_EOS;
}

static bool is_color(uint8_t t) { return t >= ARC_COLOR0 && t < ARC_COLOR0 + ARC_COLORS; }

void arc_origin(const uint8_t *tokens, int *row, int *col) {
    for (int k = 0; k < ARC_SEQ_LEN; k++)
        if (is_color(tokens[k])) {
            *row = k / ARC_MAX, *col = k % ARC_MAX;
            return;
        }
    *row = *col = 0;
}

/* evaluators/arc.py _crop, from (row, col) instead of (0, 0) so that translated grids read back too. */
void arc_decode_at(const uint8_t *tokens, int row, int col, arc_grid *g) {
    int best_area = 0, best_h = 0, best_w = 0, num_c = ARC_MAX - col;
    for (int num_r = 1; row + num_r <= ARC_MAX; num_r++) {
        const uint8_t *line = tokens + (row + num_r - 1) * ARC_MAX + col;
        for (int c = 0; c < num_c; c++)
            if (!is_color(line[c])) {
                num_c = c;
                break;
            }
        if (num_r * num_c > best_area) best_area = num_r * num_c, best_h = num_r, best_w = num_c;
    }
    g->h = best_h, g->w = best_w;
    for (int i = 0; i < best_h; i++) {
        const uint8_t *line = tokens + (row + i) * ARC_MAX + col;
        for (int j = 0; j < best_w; j++) g->c[i * best_w + j] = (uint8_t)(line[j] - ARC_COLOR0);
    }
}

bool arc_name_format(char *out, size_t size, const char *task, const arc_aug *a) {
    int n;
    if (!a)
        n = snprintf(out, size, "%s", task);
    else {
        char digits[ARC_COLORS + 1];
        for (int c = 0; c < ARC_COLORS; c++) digits[c] = (char)('0' + a->map[c]);
        digits[ARC_COLORS] = '\0';
        n = snprintf(out, size, "%s" ARC_NAME_SEP "t%d" ARC_NAME_SEP "%s", task, a->trans, digits);
    }
    return n >= 0 && (size_t)n < size;
}

/* The augmentation part "tT|||DDDDDDDDDD": T in 0-7 and a permutation of the ten digits. */
static bool parse_aug(const char *s, arc_aug *a) {
    const size_t sep = sizeof ARC_NAME_SEP - 1;
    if (s[0] != 't' || s[1] < '0' || s[1] >= '0' + ARC_DIHEDRAL || strncmp(s + 2, ARC_NAME_SEP, sep)) return false;
    const char *digits = s + 2 + sep;
    bool seen[ARC_COLORS] = {false};
    if (strlen(digits) != ARC_COLORS) return false;
    for (int c = 0; c < ARC_COLORS; c++) {
        int d = digits[c] - '0';
        if (d < 0 || d >= ARC_COLORS || seen[d]) return false;
        seen[d] = true;
        a->map[c] = (uint8_t)d;
    }
    a->trans = s[1] - '0';
    return true;
}

bool arc_name_parse(const char *name, char *task, size_t task_size, arc_aug *a) {
    const char *sep = strstr(name, ARC_NAME_SEP);
    size_t len = sep ? (size_t)(sep - name) : strlen(name);
    arc_aug_identity(a);
    if (len >= task_size) return false;
    memcpy(task, name, len);
    task[len] = '\0';
    return !sep || parse_aug(sep + sizeof ARC_NAME_SEP - 1, a);
}
