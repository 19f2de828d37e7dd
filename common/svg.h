/* common/svg.h - a small SVG chart writer for the plots of `hrm plot` (training curves) and `hrm
 * bench plot` (benchmark bars): line charts in panels stacked vertically and grouped bar charts,
 * with "nice" axis ticks (1/2/5 x 10^k, decades on log axes), axis labels, a legend and up to 10
 * distinct colours (dash patterns beyond). No library: the file is written here, carefully,
 * because its texts come from users and JSON files and its numbers from training runs.
 *
 * What the output guarantees, whatever the input: well-formed XML (every text escaped, control
 * characters dropped, invalid UTF-8 replaced by U+FFFD, valid non-ASCII kept), no "nan" or "inf"
 * anywhere (non-finite values are gaps or "n/a"; coordinates are clamped), numbers written the same
 * in every locale, and a "no data" note instead of an empty or broken chart. The file is replaced
 * atomically (PATH.tmp + rename): a failed write leaves PATH as it was. */
#ifndef HRM_COMMON_SVG_H
#define HRM_COMMON_SVG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct svg_series {
    const char *name;
    const double *x; /* (n,) */
    const double *y; /* (n,) */
    int n;
} svg_series;

typedef struct svg_panel {
    const char *title, *xlabel, *ylabel;
    const svg_series *series;
    int num_series;
    bool y_log;
} svg_panel;

/* Line charts: panels stacked vertically in one SVG file, written atomically (FILE.tmp + rename).
 * Points whose x or y is not finite (or y <= 0 with y_log) are skipped (a gap in the line); an
 * isolated point is drawn as a dot. Returns 0, or -1 after one line in err. */
int svg_write_lines(const char *path, const char *title, const svg_panel *panels, int num_panels, char *err,
                    size_t err_size);

/* Grouped bar chart: num_groups categories along x, each with one bar per series;
 * values[g * num_series + s]; NAN = missing, drawn as an "n/a" marker rather than a bar (so is
 * an infinite value, and a value <= 0 with y_log). Value labels on bars. Returns 0 or -1 after
 * one line in err. */
int svg_write_bars(const char *path, const char *title, const char *ylabel, const char *const *groups, int num_groups,
                   const char *const *series, int num_series, const double *values, bool y_log, char *err,
                   size_t err_size);

#endif /* HRM_COMMON_SVG_H */
