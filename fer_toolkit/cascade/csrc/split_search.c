/* The cascade trainer's split search and feature values: OpenCV's loops in C.
 *
 * Each split function is one of OpenCV's loops from old_ml_boost.cpp
 * (CvBoostTree::find_split_ord_reg / find_split_ord_class / find_split_cat_reg /
 * find_split_cat_class and calc_node_value), with the same float64 accumulations in
 * the same order, for features [begin, end) of a block: the Python side
 * (fer_toolkit/cascade/_kernels.py) runs disjoint ranges on several threads. Features
 * are independent, and the choice among them is made by the caller, so results do not
 * depend on the number of threads.
 *
 * Nodes are given by node_of: the index of the node each training sample belongs to,
 * -1 for samples in no node being split. A node's samples are visited in increasing
 * sample index, as OpenCV keeps them. Kinds: 0 regression (GAB, LB; the responses are
 * `resp`), 1 Gini (RAB), 2 misclassification (DAB; the labels 0/1 are `lab`).
 *
 * Built with -ffp-contract=off: no multiply-add is fused, so every sum rounds as
 * OpenCV's does. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { REG = 0, GINI = 1, MISCLASS = 2, N_CATEGORIES = 256 };

/* Index of the lowest set bit of a non-zero word. */
#if defined(__GNUC__) || defined(__clang__)
#define lowest_bit(word) __builtin_ctzll(word)
#else
static inline int lowest_bit(uint64_t word) {
    int at = 0;
    for (; !(word & 1); word >>= 1) at++;
    return at;
}
#endif

/* Loops that vectorise over the samples (or over the keys they rank) are also built for
 * AVX2, chosen when the library loads (GCC on x86-64 Linux). Their lanes are independent
 * and no multiply-add is fused, so each value is the same on either path. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SAMPLE_LANES __attribute__((target_clones("avx2", "default")))
#else
#define SAMPLE_LANES
#endif

/* Python's max(a, b): a unless b is larger. */
static inline double py_max(double a, double b) { return b > a ? b : a; }

/* Per node: weight of class 0 and of class 1, summed in sample order. out (n_nodes, 2). */
void fer_class_sums(const int32_t *node_of, int64_t n, int64_t n_nodes, const double *weights,
                    const int64_t *labels, double *out) {
    memset(out, 0, sizeof(double) * 2 * n_nodes);
    for (int64_t i = 0; i < n; i++) {
        int32_t j = node_of[i];
        if (j >= 0) out[2 * j + labels[i]] += weights[i];
    }
}

/* Per node: sum of w, of t * w and of t * t * w, in sample order. out (n_nodes, 3). */
void fer_reg_sums(const int32_t *node_of, int64_t n, int64_t n_nodes, const double *weights,
                  const double *responses, double *out) {
    memset(out, 0, sizeof(double) * 3 * n_nodes);
    for (int64_t i = 0; i < n; i++) {
        int32_t j = node_of[i];
        if (j >= 0) {
            double w = weights[i], t = responses[i];
            out[3 * j] += w;
            out[3 * j + 1] += t * w;
            out[3 * j + 2] += t * t * w;
        }
    }
}

/* The ordered (Haar) split search of feature rows [begin, end), for one index type of
 * `order` (uint16 when there are fewer than 65536 samples, else int32). */
#define ORDERED_SPLITS(NAME, INDEX)                                                          \
    void NAME(const float *values, const INDEX *order, int64_t n, const int32_t *node_of,     \
              int64_t n_nodes, const double *init, const double *weights, const double *resp, \
              const int64_t *lab, int64_t kind, float eps, double *best_q, int64_t *best_k,   \
              int64_t begin, int64_t end) {                                                   \
        for (int64_t f = begin; f < end; f++) {                                               \
            const float *v_f = values + f * n;                                                \
            const INDEX *o_f = order + f * n;                                                 \
            for (int64_t j = 0; j < n_nodes; j++) {                                           \
                double best = -INFINITY;                                                      \
                int64_t best_at = -1, prev_k = 0;                                             \
                int have = 0;                                                                 \
                float prev_v = v_f[0];                                                        \
                if (kind == REG) {                                                            \
                    double left_w = 0.0, right_w = init[2 * j];                               \
                    double lsum = 0.0, rsum = init[2 * j + 1];                                \
                    for (int64_t k = 0; k < n; k++) {                                         \
                        int64_t idx = o_f[k];                                                 \
                        if (node_of[idx] != j) continue;                                      \
                        float v = v_f[k];                                                     \
                        if (have && prev_v + eps < v) {                                       \
                            double val = (lsum * lsum * right_w + rsum * rsum * left_w) /     \
                                         (left_w * right_w);                                  \
                            if (best < val) {                                                 \
                                best = val;                                                   \
                                best_at = prev_k;                                             \
                            }                                                                 \
                        }                                                                     \
                        double w = weights[idx], t = resp[idx] * w;                           \
                        left_w += w;                                                          \
                        right_w -= w;                                                         \
                        lsum += t;                                                            \
                        rsum -= t;                                                            \
                        prev_v = v;                                                           \
                        prev_k = k;                                                           \
                        have = 1;                                                             \
                    }                                                                         \
                } else {                                                                      \
                    double lcw0 = 0.0, lcw1 = 0.0, rcw0 = init[2 * j], rcw1 = init[2 * j + 1]; \
                    double left_w = 0.0, right_w = rcw0 + rcw1;                               \
                    double lsum2 = 0.0, rsum2 = rcw0 * rcw0 + rcw1 * rcw1;                    \
                    for (int64_t k = 0; k < n; k++) {                                         \
                        int64_t idx = o_f[k];                                                 \
                        if (node_of[idx] != j) continue;                                      \
                        float v = v_f[k];                                                     \
                        if (have && prev_v + eps < v) {                                       \
                            double val = kind == GINI ? (lsum2 * right_w + rsum2 * left_w) /  \
                                                            (left_w * right_w)                \
                                                      : py_max(lcw0 + rcw1, lcw1 + rcw0);     \
                            if (best < val) {                                                 \
                                best = val;                                                   \
                                best_at = prev_k;                                             \
                            }                                                                 \
                        }                                                                     \
                        double w = weights[idx];                                              \
                        int positive = lab[idx] == 1;                                         \
                        if (kind == GINI) {                                                   \
                            double w2 = w * w;                                                \
                            left_w += w;                                                      \
                            right_w -= w;                                                     \
                            if (positive) {                                                   \
                                lsum2 += 2 * lcw1 * w + w2;                                   \
                                rsum2 -= 2 * rcw1 * w - w2;                                   \
                            } else {                                                          \
                                lsum2 += 2 * lcw0 * w + w2;                                   \
                                rsum2 -= 2 * rcw0 * w - w2;                                   \
                            }                                                                 \
                        }                                                                     \
                        if (positive) {                                                       \
                            lcw1 += w;                                                        \
                            rcw1 -= w;                                                        \
                        } else {                                                              \
                            lcw0 += w;                                                        \
                            rcw0 -= w;                                                        \
                        }                                                                     \
                        prev_v = v;                                                           \
                        prev_k = k;                                                           \
                        have = 1;                                                             \
                    }                                                                         \
                }                                                                             \
                best_q[f * n_nodes + j] = best;                                               \
                best_k[f * n_nodes + j] = best_at;                                            \
            }                                                                                 \
        }                                                                                     \
    }

ORDERED_SPLITS(fer_ordered_splits_u16, uint16_t)
ORDERED_SPLITS(fer_ordered_splits_i32, int32_t)

/* Stable insertion sort of order[lo..hi) by key (the entries start in index order). */
static inline void insertion_sort(const double *key, int64_t *order, int64_t lo, int64_t hi) {
    for (int64_t i = lo + 1; i < hi; i++) {
        int64_t c = order[i], j = i;
        double k = key[c];
        while (j > lo && key[order[j - 1]] > k) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = c;
    }
}

/* A stable ascending argsort of key[0..n) into order, fast for keys that are mostly 0,
 * the minimum or the maximum (categories of one class, mean response exactly -1 or 1,
 * and empty ones are most of an LBP feature's). Each key falls into one of five groups,
 * in key order: the minimum, other negatives, zeros, other positives, the maximum; the
 * keys are placed group by group in index order without branching, then only the other
 * negatives and positives are sorted, by insertion. Returns -1 when out of memory. */
int fer_stable_order(const double *key, int64_t n, int64_t *order) {
    if (n == 0) return 0;
    unsigned char small[N_CATEGORIES], *group = n <= N_CATEGORIES ? small : malloc(n);
    if (!group) return -1;
    double low = key[0], high = key[0];
    for (int64_t c = 0; c < n; c++) {
        low = key[c] < low ? key[c] : low;
        high = key[c] > high ? key[c] : high;
    }
    /* Counted in registers: a count in memory would wait on its own last store. */
    int64_t n_low = 0, n_neg = 0, n_zero = 0, n_pos = 0;
    for (int64_t c = 0; c < n; c++) {
        double k = key[c];
        int is_low = k == low, is_high = !is_low & (k == high);
        int other = !is_low & !is_high, neg = other & (k < 0), zero = other & (k == 0);
        int pos = other & !neg & !zero;
        group[c] = (unsigned char)(4 * is_high + neg + 2 * zero + 3 * pos);
        n_low += is_low;
        n_neg += neg;
        n_zero += zero;
        n_pos += pos;
    }
    int64_t start[5] = {0, n_low, n_low + n_neg, n_low + n_neg + n_zero, 0};
    start[4] = start[3] + n_pos;
    int64_t fill[5] = {start[0], start[1], start[2], start[3], start[4]};
    for (int64_t c = 0; c < n; c++) order[fill[group[c]]++] = c;
    insertion_sort(key, order, start[1], start[2]);
    insertion_sort(key, order, start[3], start[4]);
    if (group != small) free(group);
    return 0;
}

/* One feature's category sums for node j and the order OpenCV sorts them in.
 *
 * codes: the feature's codes (n samples). Regression: s0 the categories'
 * weights, s1 their mean * weight (OpenCV's "unnormalised" sums), ordered by mean
 * response; totals: weight and raw weighted response. Classification: s0/s1 the
 * class-0/class-1 weights, ordered by class-1 weight; totals: the class totals. Ties
 * keep category order. s0, s1: 256 doubles; order: 256 int64; totals: 2 doubles. */
void fer_category_order(const uint8_t *codes, int64_t n, const int32_t *node_of, int64_t j,
                        const double *weights, const double *resp, const int64_t *lab,
                        int64_t kind, double *s0, double *s1, int64_t *order, double *totals) {
    memset(s0, 0, sizeof(double) * N_CATEGORIES);
    memset(s1, 0, sizeof(double) * N_CATEGORIES);
    for (int64_t i = 0; i < n; i++) {
        if (node_of[i] != j) continue;
        int c = codes[i];
        double w = weights[i];
        if (kind == REG) {
            s1[c] = s1[c] + resp[i] * w;
            s0[c] = s0[c] + w;
        } else if (lab[i] == 1) {
            s1[c] += w;
        } else {
            s0[c] += w;
        }
    }
    double total0 = 0.0, total1 = 0.0;
    for (int c = 0; c < N_CATEGORIES; c++) {
        total0 += s0[c];
        total1 += s1[c];
        if (kind == REG) s1[c] = fabs(s0[c]) > DBL_EPSILON ? s1[c] / s0[c] : 0.0;
    }
    fer_stable_order(s1, N_CATEGORIES, order);
    if (kind == REG)
        for (int c = 0; c < N_CATEGORIES; c++) s1[c] *= s0[c];
    totals[0] = total0;
    totals[1] = total1;
}

/* Features whose category sums are accumulated in one pass over the samples: each
 * category's sum is a chain of dependent additions through memory, and interleaving the
 * chains of several features keeps the CPU busy while one waits. */
enum { GROUP = 4 };

/* at[0..n) in the stable order of key[0..n) into sorted_at: each goes to its rank, the
 * count of keys below its own and of equal keys before it. The count has no branch and
 * vectorises, where an insertion sort mispredicts once per key. key must hold +inf from
 * n up to the next multiple of 4. */
SAMPLE_LANES static void rank_sort(const double *key, const int64_t *at, int64_t n,
                                   int64_t *sorted_at) {
    int64_t padded = (n + 3) & ~(int64_t)3;
    for (int64_t i = 0; i < n; i++) {
        double k = key[i];
        int64_t rank = 0;
        for (int64_t j = 0; j < padded; j++) rank += (key[j] < k) | ((key[j] == k) & (j < i));
        sorted_at[rank] = at[i];
    }
}

/* One feature's scan, from its category sums s0, s1 and the categories present (seen):
 * OpenCV's loop over the categories in their sorted order (see fer_categorical_splits),
 * visiting only those present. Writes the best quality and its position in the full
 * 256-category order; clears s0 and s1 for the next feature.
 *
 * The order is the stable argsort of the keys (fer_stable_order's), built sorting few
 * of them: the keys -1, 0 and 1 (categories of one class, or none, in GAB: most of
 * them) are listed apart, in category order, the order of their ties; only the other
 * negative and the other positive keys are sorted, each apart, then merged with the
 * lists at -1, 0 and 1. A NaN key (no order) takes fer_stable_order's path. */
static void scan_categories(double *s0, double *s1, const uint64_t *seen, int64_t kind,
                            double *best_q, int64_t *best_k) {
    const double eps = FLT_EPSILON;
    double key[N_CATEGORIES];
    int64_t cats[N_CATEGORIES], order[N_CATEGORIES];
    /* Indices into key and cats: of the keys -1, 0, 1 and of the others. */
    int64_t minus[N_CATEGORIES], zero[N_CATEGORIES], plus[N_CATEGORIES];
    int64_t other[N_CATEGORIES];
    int64_t k = 0, n_minus = 0, n_zero = 0, n_one = 0;
    double total0 = 0.0, total1 = 0.0;
    for (int word = 0; word < 4; word++) {
        for (uint64_t bits = seen[word]; bits; bits &= bits - 1) {
            int c = word * 64 + lowest_bit(bits);
            total0 += s0[c];
            total1 += s1[c];
            double kv;
            if (kind == REG)
                kv = fabs(s0[c]) > DBL_EPSILON ? s1[c] / s0[c] : 0.0;
            else
                kv = s1[c];
            /* The key's group from its bits (integer compares take fewer instructions
             * than double ones), the index appended to every list but counted in
             * one: a key's group is as unpredictable as the key. The counts of 1 and
             * of the others follow from the others, which saves registers. */
            uint64_t u;
            memcpy(&u, &kv, sizeof u);
            uint64_t magnitude = u << 1; /* without the sign */
            int64_t is_zero = magnitude == 0;
            int64_t is_one = magnitude == (uint64_t)0x3ff0000000000000 << 1;
            minus[n_minus] = zero[n_zero] = k;
            plus[n_one - n_minus] = other[k - n_zero - n_one] = k;
            n_minus += is_one & (int64_t)(u >> 63);
            n_zero += is_zero;
            n_one += is_one;
            key[k] = kv;
            cats[k++] = c;
        }
    }
    int64_t n_plus = n_one - n_minus, n_other = k - n_zero - n_one;
    /* The other keys, negative and positive apart: two short sorts do less. */
    double neg_key[N_CATEGORIES + 4], pos_key[N_CATEGORIES + 4];
    int64_t neg_at[N_CATEGORIES], pos_at[N_CATEGORIES], n_neg = 0, n_pos = 0;
    int64_t n_below = 0, n_under_one = 0; /* keys below -1; positive keys below 1 */
    int nan = 0;
    for (int64_t i = 0; i < n_other; i++) {
        int64_t at = other[i];
        double kv = key[at];
        neg_key[n_neg] = pos_key[n_pos] = kv;
        neg_at[n_neg] = pos_at[n_pos] = at;
        n_neg += kv < 0.0;
        n_pos += kv > 0.0;
        n_below += kv < -1.0;
        n_under_one += (kv > 0.0) & (kv < 1.0);
        nan |= kv != kv;
    }
    if (!nan) {
        int64_t neg_order[N_CATEGORIES], pos_order[N_CATEGORIES];
        for (int p = 0; p < 4; p++) neg_key[n_neg + p] = pos_key[n_pos + p] = INFINITY;
        rank_sort(neg_key, neg_at, n_neg, neg_order);
        rank_sort(pos_key, pos_at, n_pos, pos_order);
        int64_t r = 0;
#define APPEND(list, count) (memcpy(order + r, (list), sizeof(int64_t) * (count)), r += (count))
        APPEND(neg_order, n_below);
        APPEND(minus, n_minus);
        APPEND(neg_order + n_below, n_neg - n_below);
        APPEND(zero, n_zero);
        APPEND(pos_order, n_under_one);
        APPEND(plus, n_plus);
        APPEND(pos_order + n_under_one, n_pos - n_under_one);
#undef APPEND
    } else {
        fer_stable_order(key, k, order);
    }
    int64_t unseen = N_CATEGORIES - k;
    double best = -INFINITY, left_w = 0.0;
    int64_t best_at = -1;
    double lsum = 0.0, rsum = total1, right_w = total0;
    double lcw0 = 0.0, lcw1 = 0.0, rcw0 = total0, rcw1 = total1;
    if (kind != REG) right_w = rcw0 + rcw1;
    for (int64_t r = 0; r < k; r++) {
        int64_t at = order[r], c = cats[at];
        double kv = key[at];
        /* Position in the full order: the unseen categories (key 0) before c. */
        int64_t pos = r + (kv > 0 ? unseen : kv < 0 ? 0 : c - at);
        if (pos >= N_CATEGORIES - 1) break;
        double val;
        if (kind == REG) {
            double ni = s0[c];
            if (!(ni > eps)) continue;
            double sum = kv * ni;
            lsum += sum;
            left_w += ni;
            rsum -= sum;
            right_w -= ni;
            if (!(left_w > eps && right_w > eps)) continue;
            val = (lsum * lsum * right_w + rsum * rsum * left_w) / (left_w * right_w);
        } else {
            double w0 = s0[c], w1 = s1[c], weight = w0 + w1;
            if (weight < eps) continue;
            lcw0 += w0;
            rcw0 -= w0;
            lcw1 += w1;
            rcw1 -= w1;
            if (kind == GINI) {
                double lsum2 = lcw0 * lcw0 + lcw1 * lcw1;
                double rsum2 = rcw0 * rcw0 + rcw1 * rcw1;
                left_w += weight;
                right_w -= weight;
                if (!(left_w > eps && right_w > eps)) continue;
                val = (lsum2 * right_w + rsum2 * left_w) / (left_w * right_w);
            } else {
                val = py_max(lcw0 + rcw1, lcw1 + rcw0);
            }
        }
        if (best < val) {
            best = val;
            best_at = pos;
        }
    }
    for (int64_t r = 0; r < k; r++) s0[cats[r]] = s1[cats[r]] = 0.0;
    *best_q = best;
    *best_k = best_at;
}

/* Best left subset of every (feature, node) of feature rows [begin, end) of a block of
 * LBP codes (codes (F, n) bytes): the best quality (-inf when none) into best_q and
 * the position in the category order of the last category sent left into best_k
 * (fer_category_order gives that order). Returns -1 when out of memory.
 *
 * The same sums and scan as fer_category_order followed by OpenCV's loop over the 256
 * categories, visiting only the categories some sample of the node has: the others
 * weigh 0, so OpenCV's loop skips them and adding their zero sums changes no total.
 * They hold key 0, so in the stable order they sit after the negative keys and before
 * the positive ones, among the zero keys by category; counting them gives each visited
 * category's position in the full order. Classification adds each sample's weight to
 * its class's sum and +0.0 to the other's, which leaves every sum as it was. */
int fer_categorical_splits(const uint8_t *codes, int64_t n, const int32_t *node_of,
                           int64_t n_nodes, const double *weights, const double *resp,
                           const int64_t *lab, int64_t kind, double *best_q, int64_t *best_k,
                           int64_t begin, int64_t end) {
    /* The samples of each node in increasing index, with what they add to the sums. */
    int64_t *first = calloc(n_nodes + 1, sizeof(int64_t));
    int64_t *members = malloc(sizeof(int64_t) * (n + 1));
    double *add0 = malloc(sizeof(double) * (n + 1)), *add1 = malloc(sizeof(double) * (n + 1));
    double(*s0)[N_CATEGORIES] = calloc(GROUP, sizeof(*s0));
    double(*s1)[N_CATEGORIES] = calloc(GROUP, sizeof(*s1));
    if (!first || !members || !add0 || !add1 || !s0 || !s1) {
        free(first), free(members), free(add0), free(add1), free(s0), free(s1);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        if (node_of[i] >= 0) first[node_of[i] + 1]++;
    for (int64_t j = 0; j < n_nodes; j++) first[j + 1] += first[j];
    for (int64_t i = 0, *fill = first; i < n; i++) {
        int32_t j = node_of[i];
        if (j < 0) continue;
        int64_t at = fill[j]++;
        members[at] = i;
        double w = weights[i];
        if (kind == REG) {
            add0[at] = w;
            add1[at] = resp[i] * w;
        } else {
            add0[at] = lab[i] == 1 ? 0.0 : w;
            add1[at] = lab[i] == 1 ? w : 0.0;
        }
    }
    for (int64_t j = n_nodes; j > 0; j--) first[j] = first[j - 1];
    first[0] = 0;

    for (int64_t f = begin; f < end; f += GROUP) {
        int64_t in_group = end - f < GROUP ? end - f : GROUP;
        /* A short last group repeats its last feature: accumulated, never scanned. */
        const uint8_t *row[GROUP];
        for (int g = 0; g < GROUP; g++) row[g] = codes + (f + (g < in_group ? g : 0)) * n;
        for (int64_t j = 0; j < n_nodes; j++) {
            uint64_t seen[GROUP][4] = {{0}};
            for (int64_t m = first[j]; m < first[j + 1]; m++) {
                int64_t i = members[m];
                double a0 = add0[m], a1 = add1[m];
                for (int g = 0; g < GROUP; g++) {
                    int c = row[g][i];
                    s0[g][c] = s0[g][c] + a0;
                    s1[g][c] = s1[g][c] + a1;
                    seen[g][c >> 6] |= 1ull << (c & 63);
                }
            }
            for (int g = 0; g < GROUP; g++) {
                if (g < in_group)
                    scan_categories(s0[g], s1[g], seen[g], kind, &best_q[(f + g) * n_nodes + j],
                                    &best_k[(f + g) * n_nodes + j]);
                else
                    memset(s0[g], 0, sizeof(s0[g])), memset(s1[g], 0, sizeof(s1[g]));
            }
        }
    }
    free(first), free(members), free(add0), free(add1), free(s0), free(s1);
    return 0;
}

/* Rows [begin, end) of a stable argsort of float32 rows (no NaN): an LSD radix sort on
 * the order-preserving unsigned image of each float (-0.0 taken as 0.0), 8 bits per
 * pass, skipping passes where every key has the same digit. Writes each row's sample
 * order into out and the values in that order into sorted_out (which may be values). */
#define ARGSORT_ROWS(NAME, INDEX)                                                            \
    int NAME(const float *values, int64_t n, INDEX *out, float *sorted_out, int64_t begin,   \
             int64_t end) {                                                                  \
        uint32_t *keys = malloc(sizeof(uint32_t) * 2 * (n + 1));                             \
        int32_t *idx = malloc(sizeof(int32_t) * 2 * (n + 1));                                \
        if (!keys || !idx) {                                                                 \
            free(keys);                                                                      \
            free(idx);                                                                       \
            return -1;                                                                       \
        }                                                                                    \
        uint32_t *spare_keys = keys + n + 1;                                                 \
        int32_t *spare_idx = idx + n + 1;                                                    \
        int64_t counts[4][256];                                                              \
        for (int64_t f = begin; f < end; f++) {                                              \
            const uint32_t *bits = (const uint32_t *)(values + f * n);                       \
            memset(counts, 0, sizeof(counts));                                               \
            for (int64_t i = 0; i < n; i++) {                                                \
                uint32_t u = bits[i];                                                        \
                if (u == 0x80000000u) u = 0;                                                 \
                uint32_t k = (u >> 31) ? ~u : (u | 0x80000000u);                             \
                keys[i] = k;                                                                 \
                idx[i] = (int32_t)i;                                                         \
                for (int p = 0; p < 4; p++) counts[p][(k >> (8 * p)) & 255]++;               \
            }                                                                                \
            uint32_t *src_k = keys, *dst_k = spare_keys;                                     \
            int32_t *src_i = idx, *dst_i = spare_idx;                                        \
            for (int p = 0; p < 4; p++) {                                                    \
                int shift = 8 * p;                                                           \
                if (n == 0 || counts[p][(src_k[0] >> shift) & 255] == n) continue;           \
                int64_t total = 0;                                                           \
                for (int d = 0; d < 256; d++) {                                              \
                    int64_t c = counts[p][d];                                                \
                    counts[p][d] = total;                                                    \
                    total += c;                                                              \
                }                                                                            \
                for (int64_t i = 0; i < n; i++) {                                            \
                    uint32_t k = src_k[i];                                                   \
                    int64_t at = counts[p][(k >> shift) & 255]++;                            \
                    dst_k[at] = k;                                                           \
                    dst_i[at] = src_i[i];                                                    \
                }                                                                            \
                uint32_t *tk = src_k;                                                        \
                src_k = dst_k;                                                               \
                dst_k = tk;                                                                  \
                int32_t *ti = src_i;                                                         \
                src_i = dst_i;                                                               \
                dst_i = ti;                                                                  \
            }                                                                                \
            /* dst_k is free now: gather the values there first (sorted_out may be values). */ \
            for (int64_t i = 0; i < n; i++) dst_k[i] = bits[src_i[i]];                       \
            uint32_t *sorted_bits = (uint32_t *)(sorted_out + f * n);                        \
            for (int64_t i = 0; i < n; i++) {                                                \
                out[f * n + i] = (INDEX)src_i[i];                                            \
                sorted_bits[i] = dst_k[i];                                                   \
            }                                                                                \
        }                                                                                    \
        free(keys);                                                                          \
        free(idx);                                                                           \
        return 0;                                                                            \
    }

ARGSORT_ROWS(fer_argsort_rows_u16, uint16_t)
ARGSORT_ROWS(fer_argsort_rows_i32, int32_t)

/* LBP codes of features rects[begin:end] ((k, 4) int32 x, y, w, h) on integral images
 * sums ((h + 1, w + 1, n) int32, samples last); bits[r * 3 + c] is the code bit of cell
 * (r, c), set when the cell's sum is at least the centre's. Writes out (k, n): bytes for
 * the trainer's cache, float32 for feature values. */
#define LBP_CODES(NAME, OUT)                                                                 \
    SAMPLE_LANES void NAME(const int32_t *sums, int64_t rows, int64_t cols, int64_t n,       \
                           const int32_t *rects, const int64_t *bits, OUT *out,               \
                           int64_t begin, int64_t end) {                                      \
        (void)rows;                                                                          \
        enum { BLOCK = 64 };                                                                 \
        int32_t bit[9], code[BLOCK];                                                         \
        for (int i = 0; i < 9; i++) bit[i] = (int32_t)bits[i];                               \
        for (int64_t f = begin; f < end; f++) {                                              \
            int64_t x = rects[4 * f], y = rects[4 * f + 1];                                  \
            int64_t w = rects[4 * f + 2], h = rects[4 * f + 3];                              \
            /* The 4 x 4 grid of cell corners: each a contiguous run over the samples. */    \
            const int32_t *p[4][4];                                                          \
            for (int i = 0; i < 4; i++)                                                      \
                for (int j = 0; j < 4; j++) p[i][j] = sums + ((y + i * h) * cols + x + j * w) * n; \
            /* Codes as int32 first, then narrowed: the two loops vectorise apart. */        \
            for (int64_t s0 = 0; s0 < n; s0 += BLOCK) {                                      \
                int64_t m = n - s0 < BLOCK ? n - s0 : BLOCK;                                 \
                for (int64_t s = 0; s < m; s++) {                                            \
                    int32_t cell[9];                                                         \
                    for (int r = 0; r < 3; r++)                                              \
                        for (int c = 0; c < 3; c++)                                          \
                            cell[r * 3 + c] = p[r][c][s0 + s] - p[r][c + 1][s0 + s] -        \
                                              p[r + 1][c][s0 + s] + p[r + 1][c + 1][s0 + s]; \
                    int32_t bits_set = 0;                                                    \
                    for (int i = 0; i < 9; i++) bits_set |= cell[i] >= cell[4] ? bit[i] : 0; \
                    code[s] = bits_set;                                                      \
                }                                                                            \
                OUT *dest = out + f * n + s0;                                                \
                for (int64_t s = 0; s < m; s++) dest[s] = (OUT)code[s];                      \
            }                                                                                \
        }                                                                                    \
    }

LBP_CODES(fer_lbp_codes_u8, uint8_t)
LBP_CODES(fer_lbp_codes_f32, float)

/* Haar feature values of the samples whose integral tables are planes ((m, n), samples
 * last, float32 or float64 as coefs). Feature f is the linear map coefs[crow[f] ..
 * crow[f + 1]) over the rows cols[crow[f] .. crow[f + 1]), rounded once to float32 and,
 * with normalize, divided in float32 by norm (value 0 where the norm is 0). Writes
 * feature feats[r] into row r of out ((k, n) float32), for rows r in [begin, end), in
 * blocks of samples so that a block of every table row stays in cache. */
#define HAAR_VALUES(NAME, REAL)                                                              \
    SAMPLE_LANES void NAME(const REAL *planes, int64_t n, const int64_t *crow, const int64_t *cols,        \
             const REAL *coefs, const int64_t *feats, const float *norm, int64_t normalize,  \
             float *out, int64_t begin, int64_t end) {                                       \
        enum { BLOCK = 256 };                                                                \
        REAL acc[BLOCK];                                                                     \
        for (int64_t s0 = 0; s0 < n; s0 += BLOCK) {                                          \
            int64_t m = n - s0 < BLOCK ? n - s0 : BLOCK;                                     \
            for (int64_t r = begin; r < end; r++) {                                          \
                int64_t f = feats[r];                                                        \
                for (int64_t s = 0; s < m; s++) acc[s] = 0;                                  \
                for (int64_t j = crow[f]; j < crow[f + 1]; j++) {                            \
                    REAL c = coefs[j];                                                       \
                    const REAL *row = planes + cols[j] * n + s0;                             \
                    for (int64_t s = 0; s < m; s++) acc[s] += c * row[s];                    \
                }                                                                            \
                float *dest = out + r * n + s0;                                              \
                if (normalize) {                                                             \
                    for (int64_t s = 0; s < m; s++) {                                        \
                        float d = norm[s0 + s];                                              \
                        dest[s] = d != 0 ? (float)acc[s] / d : 0.0f;                         \
                    }                                                                        \
                } else {                                                                     \
                    for (int64_t s = 0; s < m; s++) dest[s] = (float)acc[s];                 \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

HAAR_VALUES(fer_haar_values_f32, float)
HAAR_VALUES(fer_haar_values_f64, double)
