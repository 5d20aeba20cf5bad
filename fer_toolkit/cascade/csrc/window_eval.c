/* Window evaluation of a boosted cascade (fer_toolkit/cascade/_scan_kernels.py calls
 * these through ctypes; the arithmetic is described in that module and in model.py).
 *
 * Every exported function does the serial work of a range [begin, end) of its parallel
 * index (blocks of windows, image rows, parts of bands); the caller runs the ranges on
 * its threads and hands each range its own scratch buffers.
 *
 * The arithmetic follows OpenCV's detector (and opencv_traincascade) to the bit, so the
 * float32 steps are written as float32: a rectangle sum is converted to float, times a
 * float weight, the terms added in float as (t0 + t1) + t2; the detector compares
 * float(value * factor) < float threshold, the trainer float(value / norm) <= float
 * threshold; stage sums are double, in tree order. Build with -ffp-contract=off (no FMA).
 *
 * Model arrays (Cascade._flat in model.py): stage_bounds (S + 1) int64, the trees of
 * each stage; stage_thr (S) double, reject below; roots (T) int64, each tree's first
 * node; feature (N) int64; node_thr (N) float; subsets (N, 8) int64, 32 bits per word;
 * left, right (N) int64, child c >= 0 is node c, c < 0 leaf -c - 1; leaves double.
 * Features: offsets int64, the corners of each Haar feature's 3 rectangles (F, 3, 4) or
 * each LBP feature's 4 x 4 grid of cell corners (F, 4, 4); weights (F, 3) float; tilted
 * (F) bool (one byte). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What fer_run_windows writes (RUN, STAGE_SUMS, FEATURE_VALUES in _scan_kernels.py). */
enum { RUN = 0, STAGE_SUMS = 1, FEATURE_VALUES = 2 };

/* Code bit of each cell of an LBP 3x3 block, row by row (the centre has none). */
static const int CELL_BITS[9] = {128, 64, 32, 1, 0, 16, 2, 4, 8};

typedef struct {
    const int64_t *stage_bounds;
    const double *stage_thr;
    int64_t n_stages;
    const int64_t *roots;
    const int64_t *feature;
    const float *node_thr;
    const int64_t *subsets;
    const int64_t *left;
    const int64_t *right;
    const double *leaves;
    int lbp;
} Model;

typedef struct {
    const int64_t *offsets; /* (F, 3, 4) Haar, (F, 4, 4) LBP */
    const float *weights;
    const uint8_t *tilted;
} Features;

/* (window valid, factor or norm) from the inner rectangle's sum and squared sum.
 * Detector (HaarEvaluator::setWindow): nf = area * sqsum - sum^2, factor
 * float(1 / sqrt(nf)) (1 when nf <= 0), valid when nf > 0 and area * factor < 0.1.
 * Trainer: norm float(sqrt(nf)), always valid. */
static inline int window_scale(double vsum, double vsqsum, int64_t area, int training,
                               float *scale) {
    double nf = (double)area * vsqsum - vsum * vsum;
    if (training) {
        *scale = (float)sqrt(nf);
        return 1;
    }
    if (nf > 0) {
        float factor = (float)(1.0 / sqrt(nf));
        *scale = factor;
        return (double)area * (double)factor < 0.1;
    }
    *scale = 1.0f;
    return 0;
}

/* The evaluator over integral tables of element type T (int64 tables built here, or
 * double tables from cv2.integral3), functions suffixed SUF:
 * haar_raw: weighted rectangle sum of feature f at base (float, OpenCV's order);
 * lbp_code: LBP code (0-255) of feature f at base;
 * stage_sum: sum of stage s's leaf values (scale: the detector's factor, or the
 *   trainer's norm when training);
 * run: (stages passed, last stage sum) of one window, with early rejection. */
#define DEFINE_EVALUATOR(SUF, T)                                                              \
    static inline T rect_##SUF(const T *t, int64_t base, const int64_t *o) {                   \
        return t[base + o[0]] - t[base + o[1]] - t[base + o[2]] + t[base + o[3]];              \
    }                                                                                           \
                                                                                                \
    static inline float haar_raw_##SUF(const T *table, const T *tilted_table, int64_t base,     \
                                       int64_t f, const Features *ft) {                         \
        const T *t = ft->tilted[f] ? tilted_table : table;                                      \
        const int64_t *o = ft->offsets + f * 12;                                                \
        const float *w = ft->weights + f * 3;                                                   \
        float value = (float)rect_##SUF(t, base, o) * w[0];                                     \
        value = value + (float)rect_##SUF(t, base, o + 4) * w[1];                               \
        if (w[2] != 0.0f) /* a two-rectangle feature: its third term is 0 */                   \
            value = value + (float)rect_##SUF(t, base, o + 8) * w[2];                           \
        return value;                                                                           \
    }                                                                                           \
                                                                                                \
    static inline T cell_##SUF(const T *t, int64_t base, const int64_t *o, int r, int c) {      \
        return t[base + o[r * 4 + c]] - t[base + o[r * 4 + c + 1]] -                            \
               t[base + o[(r + 1) * 4 + c]] + t[base + o[(r + 1) * 4 + c + 1]];                 \
    }                                                                                           \
                                                                                                \
    static inline int lbp_code_##SUF(const T *table, int64_t base, int64_t f,                   \
                                     const Features *ft) {                                      \
        const int64_t *o = ft->offsets + f * 16;                                                \
        T centre = cell_##SUF(table, base, o, 1, 1);                                            \
        int code = 0;                                                                           \
        for (int r = 0; r < 3; r++)                                                             \
            for (int c = 0; c < 3; c++) {                                                       \
                int bit = CELL_BITS[r * 3 + c];                                                 \
                if (bit != 0 && cell_##SUF(table, base, o, r, c) >= centre) code |= bit;        \
            }                                                                                   \
        return code;                                                                            \
    }                                                                                           \
                                                                                                \
    static inline double stage_sum_##SUF(int64_t s, const T *table, const T *tilted_table,      \
                                         int64_t base, float scale, int training,               \
                                         const Model *m, const Features *ft) {                  \
        double total = 0.0;                                                                     \
        for (int64_t t = m->stage_bounds[s]; t < m->stage_bounds[s + 1]; t++) {                \
            int64_t node = m->roots[t];                                                         \
            for (;;) {                                                                          \
                int64_t f = m->feature[node];                                                   \
                int left;                                                                       \
                if (m->lbp) {                                                                   \
                    int code = lbp_code_##SUF(table, base, f, ft);                              \
                    left = (int)((m->subsets[node * 8 + (code >> 5)] >> (code & 31)) & 1);      \
                } else {                                                                        \
                    float value = haar_raw_##SUF(table, tilted_table, base, f, ft);             \
                    if (training) {                                                             \
                        value = scale == 0.0f ? 0.0f : value / scale;                           \
                        left = value <= m->node_thr[node];                                      \
                    } else {                                                                    \
                        float scaled = value * scale;                                           \
                        left = scaled < m->node_thr[node];                                      \
                    }                                                                           \
                }                                                                               \
                int64_t child = left ? m->left[node] : m->right[node];                          \
                if (child < 0) {                                                                \
                    total += m->leaves[-child - 1];                                             \
                    break;                                                                      \
                }                                                                               \
                node = child;                                                                   \
            }                                                                                   \
        }                                                                                       \
        return total;                                                                           \
    }                                                                                           \
                                                                                                \
    static inline int64_t run_##SUF(const T *table, const T *tilted_table, int64_t base,        \
                                    int valid, float scale, int training, const Model *m,       \
                                    const Features *ft, double *score) {                        \
        *score = NAN;                                                                           \
        if (!valid) return -1;                                                                  \
        for (int64_t s = 0; s < m->n_stages; s++) {                                             \
            *score = stage_sum_##SUF(s, table, tilted_table, base, scale, training, m, ft);     \
            if (*score < m->stage_thr[s]) return s;                                             \
        }                                                                                       \
        return m->n_stages;                                                                     \
    }

DEFINE_EVALUATOR(i64, int64_t)
DEFINE_EVALUATOR(f64, double)

#define MODEL_PARAMS                                                                          \
    const int64_t *stage_bounds, const double *stage_thr, int64_t n_stages,                    \
        const int64_t *roots, const int64_t *feature, const float *node_thr,                  \
        const int64_t *subsets, const int64_t *left, const int64_t *right,                    \
        const double *leaves, int64_t lbp
#define MODEL_INIT                                                                            \
    {stage_bounds, stage_thr, n_stages, roots, feature, node_thr, subsets, left, right,       \
     leaves, (int)lbp}

/* Integral tables of one h x w uint8 window into flat buffers; writes the inner
 * rectangle's sum and squared sum (the latter 0 unless need_sq).
 * table: (h + 1) * (w + 1) entries, its first row and column zero (never written). The
 * tilted table is computed over h + 1 zero columns on both sides, where OpenCV's
 * recurrence T[Y, X] = T[Y-1, X-1] + T[Y-1, X+1] - T[Y-2, X] + I[Y-1, X-1] + I[Y-2, X-1]
 * needs no clipping: padded (h * wide, wide = w + 2 * (h + 1), zero outside the window)
 * holds the window in columns h + 1 ..., tilted_table ((h + 1) * wide, first row zero)
 * the table, column X at X + h. Row Y is computed only where later rows or the result
 * read it (within h - Y columns of the window), so entries farther out hold stale
 * values. */
static void window_tables(const uint8_t *window, int64_t h, int64_t w, int64_t *table,
                          int64_t *padded, int64_t *tilted_table, int need_sq, int need_tilted,
                          int64_t *vsum, int64_t *vsqsum) {
    int64_t stride = w + 1;
    for (int64_t y = 0; y < h; y++) {
        int64_t row = 0;
        int64_t above = y * stride + 1, here = above + stride;
        for (int64_t x = 0; x < w; x++) {
            row += window[y * w + x];
            table[here + x] = table[above + x] + row;
        }
    }
    int64_t a = stride + 1, b = stride + w - 1;
    int64_t c = (h - 1) * stride + 1, d = (h - 1) * stride + w - 1;
    *vsum = table[a] - table[b] - table[c] + table[d];
    *vsqsum = 0;
    if (need_sq) {
        int64_t sq = 0;
        for (int64_t y = 1; y < h - 1; y++)
            for (int64_t x = 1; x < w - 1; x++) {
                int64_t p = window[y * w + x];
                sq += p * p;
            }
        *vsqsum = sq;
    }
    if (need_tilted) {
        int64_t pad = h + 1, wide = w + 2 * pad;
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) padded[y * wide + pad + x] = window[y * w + x];
        for (int64_t j = 1; j < wide - 1; j++) tilted_table[wide + j] = padded[j];
        for (int64_t y = 2; y < h + 1; y++) {
            int64_t row = y * wide, reach = h - y + 1;
            for (int64_t j = pad - reach; j < pad + w + reach; j++) {
                int64_t v = tilted_table[row - wide + j - 1] + tilted_table[row - wide + j + 1];
                v += padded[row - wide + j] + padded[row - 2 * wide + j];
                tilted_table[row + j] = v - tilted_table[row - 2 * wide + j];
            }
        }
    }
}

/* Evaluate the windows of blocks [begin, end) of a stack of n (h, w) uint8 windows (block
 * b: windows b * n / n_blocks to (b + 1) * n / n_blocks) into out (n, out_cols) double:
 * RUN: (passed, score); STAGE_SUMS: every stage's sum; FEATURE_VALUES: the value of every
 * feature (value * scale, or the LBP code). Scratch: table ((h + 1) * (w + 1)), padded
 * (h * wide) and tilted_table ((h + 1) * wide) int64, zeroed, wide = w + 2 * (h + 1)
 * (the last two unused unless need_tilted, when the offsets of tilted features index
 * tilted_table). */
void fer_run_windows(const uint8_t *windows, int64_t n, int64_t h, int64_t w, int64_t training,
                     int64_t need_tilted, MODEL_PARAMS, const int64_t *offsets,
                     const float *weights, const uint8_t *tilted, int64_t what, int64_t n_blocks,
                     double *out, int64_t out_cols, int64_t *table, int64_t *padded,
                     int64_t *tilted_table, int64_t begin, int64_t end) {
    const Model m = MODEL_INIT;
    const Features ft = {offsets, weights, tilted};
    int64_t area = (w - 2) * (h - 2);
    int64_t first = begin * n / n_blocks, last = end * n / n_blocks;
    for (int64_t i = first; i < last; i++) {
        int64_t vsum, vsqsum;
        window_tables(windows + i * h * w, h, w, table, padded, tilted_table, !m.lbp,
                      (int)need_tilted, &vsum, &vsqsum);
        int valid = 1;
        float scale = 1.0f;
        if (!m.lbp)
            valid = window_scale((double)vsum, (double)vsqsum, area, (int)training, &scale);
        double *o = out + i * out_cols;
        if (what == RUN) {
            double score;
            int64_t passed = run_i64(table, tilted_table, 0, valid, scale, (int)training, &m,
                                     &ft, &score);
            o[0] = (double)passed;
            o[1] = score;
        } else if (what == STAGE_SUMS) {
            for (int64_t s = 0; s < out_cols; s++)
                o[s] = stage_sum_i64(s, table, tilted_table, 0, scale, (int)training, &m, &ft);
        } else {
            for (int64_t f = 0; f < out_cols; f++) {
                if (m.lbp) {
                    o[f] = (double)lbp_code_i64(table, 0, f, &ft);
                } else {
                    float value = haar_raw_i64(table, tilted_table, 0, f, &ft) * scale;
                    o[f] = (double)value;
                }
            }
        }
    }
}

/* Evaluate, as the detector, rows [begin, end) of the (ny, nx) grid of windows of one
 * image, the window at (j * step, i * step) into passed[i, j] and score[i, j]. table,
 * sqsum, tilted_table: the image's integral tables (double, row length stride; sqsum
 * unused by LBP, tilted_table without tilted features); size w x h. */
void fer_run_grid(const double *table, const double *sqsum, const double *tilted_table,
                  int64_t stride, int64_t w, int64_t h, int64_t step, MODEL_PARAMS,
                  const int64_t *offsets, const float *weights, const uint8_t *tilted,
                  int64_t nx, int64_t *passed, double *score, int64_t begin, int64_t end) {
    const Model m = MODEL_INIT;
    const Features ft = {offsets, weights, tilted};
    int64_t area = (w - 2) * (h - 2);
    const int64_t inner[4] = {stride + 1, stride + w - 1, (h - 1) * stride + 1,
                              (h - 1) * stride + w - 1};
    for (int64_t i = begin; i < end; i++) {
        for (int64_t j = 0; j < nx; j++) {
            int64_t base = i * step * stride + j * step;
            int valid = 1;
            float scale = 1.0f;
            if (!m.lbp)
                valid = window_scale(rect_f64(table, base, inner), rect_f64(sqsum, base, inner),
                                     area, 0, &scale);
            passed[i * nx + j] = run_f64(table, tilted_table, base, valid, scale, 0, &m, &ft,
                                         &score[i * nx + j]);
        }
    }
}

/* Integral tables of the rows x cols uint8 image at pixels + start into flat buffers of
 * row length cols + 1 (first row and column zero); the squared-sum table only when
 * need_sq. */
static void band_tables(const uint8_t *pixels, int64_t start, int64_t cols, int64_t rows,
                        int64_t *table, int64_t *sqsum, int need_sq) {
    int64_t stride = cols + 1;
    memset(table, 0, (size_t)stride * sizeof(int64_t));
    if (need_sq) memset(sqsum, 0, (size_t)stride * sizeof(int64_t));
    for (int64_t y = 0; y < rows; y++) {
        int64_t here = (y + 1) * stride, above = y * stride;
        const uint8_t *src = pixels + start + y * cols;
        int64_t row = 0;
        table[here] = 0;
        for (int64_t x = 0; x < cols; x++) {
            row += src[x];
            table[here + x + 1] = table[above + x + 1] + row;
        }
        if (need_sq) {
            sqsum[here] = 0;
            row = 0;
            for (int64_t x = 0; x < cols; x++) {
                int64_t p = src[x];
                row += p * p;
                sqsum[here + x + 1] = sqsum[above + x + 1] + row;
            }
        }
    }
}

/* Corner offsets for tables of row length stride: corner_rows * stride + corner_cols. */
static void offsets_for(const int64_t *corner_rows, const int64_t *corner_cols, int64_t count,
                        int64_t stride, int64_t *offsets) {
    for (int64_t k = 0; k < count; k++) offsets[k] = corner_rows[k] * stride + corner_cols[k];
}

/* Evaluate parts [begin, end) of the bands of images in one flat uint8 buffer (part p:
 * jobs parts[p] to parts[p + 1] - 1). Each row of jobs (9 int64) is a band (start, cols,
 * rows, x0, dx, nx, dy, ny, at): the rows x cols pixels at pixels + start and its windows
 * at (x0 + ix * dx, iy * dy), row by row, window k writing passed[at + k] (stages
 * passed, as fer_run_windows' RUN). Features without tilted ones: corner_rows and
 * corner_cols (n_corners) give the offsets for each band's row length. Scratch: table
 * and sqsum (the largest (rows + 1) * (cols + 1) of the range's bands; sqsum unused by
 * LBP) and offsets (n_corners) int64. */
void fer_run_bands(const uint8_t *pixels, const int64_t *jobs, const int64_t *parts, int64_t w,
                   int64_t h, int64_t training, MODEL_PARAMS, const int64_t *corner_rows,
                   const int64_t *corner_cols, int64_t n_corners, const float *weights,
                   const uint8_t *tilted, int64_t *passed, int64_t *table, int64_t *sqsum,
                   int64_t *offsets, int64_t begin, int64_t end) {
    const Model m = MODEL_INIT;
    const Features ft = {offsets, weights, tilted};
    int64_t area = (w - 2) * (h - 2);
    for (int64_t p = begin; p < end; p++) {
        /* The bands of one image follow each other and share its row length. */
        int64_t stride = jobs[parts[p] * 9 + 1] + 1;
        offsets_for(corner_rows, corner_cols, n_corners, stride, offsets);
        for (int64_t j = parts[p]; j < parts[p + 1]; j++) {
            const int64_t *job = jobs + j * 9;
            int64_t start = job[0], cols = job[1], rows = job[2], x0 = job[3], dx = job[4];
            int64_t nx = job[5], dy = job[6], ny = job[7], at = job[8];
            band_tables(pixels, start, cols, rows, table, sqsum, !m.lbp);
            if (cols + 1 != stride) {
                stride = cols + 1;
                offsets_for(corner_rows, corner_cols, n_corners, stride, offsets);
            }
            const int64_t inner[4] = {stride + 1, stride + w - 1, (h - 1) * stride + 1,
                                      (h - 1) * stride + w - 1};
            for (int64_t iy = 0; iy < ny; iy++) {
                for (int64_t ix = 0; ix < nx; ix++) {
                    int64_t base = iy * dy * stride + x0 + ix * dx;
                    int valid = 1;
                    float scale = 1.0f;
                    if (!m.lbp)
                        valid = window_scale((double)rect_i64(table, base, inner),
                                             (double)rect_i64(sqsum, base, inner), area,
                                             (int)training, &scale);
                    double score;
                    passed[at + iy * nx + ix] = run_i64(table, table, base, valid, scale,
                                                        (int)training, &m, &ft, &score);
                }
            }
        }
    }
}
