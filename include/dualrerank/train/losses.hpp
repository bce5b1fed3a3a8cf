// Losses with their gradients w.r.t. the model outputs. The models' backward takes these
// gradients (d loss / d logits) and does the rest, so any loss that can say how the logits
// should move (SKD, LDRO, GRPO, Rerank-DPO) plugs into the same training loop.
//
//  * slot_cross_entropy: sum_t w_t * -log softmax_{i not masked}(Z_t)[y_t]. For the AR teacher the
//    prefix is already masked in Z (teacher forcing); for the NAR student pass mask_prefix = true
//    and the items y_<t are masked here: the slot-order factorization of docs/design.md section 3.
//  * bce_with_logits: per-slot binary cross-entropy for the list evaluator on observed feedback.
//
// Listwise learning-to-rank losses for the pointer models (teacher and student alike), given a
// full label-consistent order y [n] of the request's n candidates and their graded labels:
//  * listmle_loss: ListMLE (Xia et al. 2008), the Plackett-Luce negative log-likelihood of the whole
//    order: sum_{t < n} -log softmax_{i not in y_<t}(Z_{min(t, L-1)})[y_t]. The first L factors are
//    the slot cross-entropy; positions past the last slot read the last slot's logits, which is how
//    the full-order decoder ranks the documents the slots do not place (decode/full_order.hpp).
//  * approx_ndcg_loss: ApproxNDCG (Qin, Liu and Li 2010) per slot: slot t's logits over the
//    candidates not in y_<t are a score vector s; the approximate position of candidate i is
//    pi_i = 1 + sum_{j != i} sigmoid(alpha (s_j - s_i)), and the loss is
//    sum_t w_t (1 - sum_i g_i / log2(1 + pi_i) / IDCG_t), g = 2^label - 1, IDCG_t over the same
//    candidates (a slot whose remaining candidates are all irrelevant adds nothing).
//  * tied_slot_cross_entropy: the slot cross-entropy with ties as one target. Slot t's target is
//    the set G_t of remaining candidates (not in y_<t) whose label equals y_t's, the best label
//    left; the loss is sum_t -log sum_{i in G_t} softmax_{i not in y_<t}(Z_t)[i], the probability
//    that slot t picks any candidate of the best grade left. Equal labels never compete (the slot
//    cross-entropy pushes the other members of G_t down, toward whichever of them the random tie
//    order drew), and a slot whose remaining candidates all share one label adds nothing.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "../core/error.hpp"
#include "../nn/ops.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

/// Z [L x n] (leading dimension ld), target slate y [L]; w [L] slot weights (null = 1); the
/// gradient is ADDED to dZ (same layout, scaled by `scale`). Returns the weighted loss (unscaled).
/// `scratch` holds n values.
template <class T>
T slot_cross_entropy(const T* Z, int L, int n, int ld, const int* y, bool mask_prefix, const T* w, T scale, T* dZ,
                     T* scratch) noexcept {
    using std::exp;
    T total = 0;
    for (int t = 0; t < L; ++t) {
        const T* z = Z + std::size_t(t) * ld;
        T* g = dZ + std::size_t(t) * ld;
        for (int i = 0; i < n; ++i) scratch[i] = z[i];
        if (mask_prefix)
            for (int u = 0; u < t; ++u) scratch[y[u]] = -std::numeric_limits<T>::infinity();
        const T lse = nn::log_softmax_row(scratch, n, scratch);  // scratch = log-probs
        (void)lse;
        const T wt = w ? w[t] : T(1);
        total += -wt * scratch[y[t]];
        const T c = wt * scale;
        for (int i = 0; i < n; ++i)
            if (scratch[i] > -std::numeric_limits<T>::infinity()) g[i] += c * exp(scratch[i]);
        g[y[t]] -= c;
    }
    return total;
}

/// ListMLE over a full order y [n] (a permutation of 0..n-1) with L slot rows of Z [L x n]
/// (leading dimension ld): position t reads row min(t, L-1), the candidates y_<t masked. The
/// gradient is ADDED to dZ (scaled by `scale`); returns the loss (nats, summed over the n
/// positions). `scratch` holds n values, `used` n flags.
template <class T>
T listmle_loss(const T* Z, int L, int n, int ld, const int* y, T scale, T* dZ, T* scratch, unsigned char* used) noexcept {
    using std::exp;
    for (int i = 0; i < n; ++i) used[i] = 0;
    T total = 0;
    for (int t = 0; t < n; ++t) {
        const int row = t < L ? t : L - 1;
        const T* z = Z + std::size_t(row) * ld;
        T* g = dZ + std::size_t(row) * ld;
        for (int i = 0; i < n; ++i) scratch[i] = used[i] ? -std::numeric_limits<T>::infinity() : z[i];
        nn::log_softmax_row(scratch, n, scratch);
        total += -scratch[y[t]];
        for (int i = 0; i < n; ++i)
            if (!used[i]) g[i] += scale * exp(scratch[i]);
        g[y[t]] -= scale;
        used[y[t]] = 1;
    }
    return total;
}

/// ApproxNDCG per slot (see the header comment): Z [L x n], order y [n] (the prefix y_<t is masked
/// for slot t), labels [n], slot weights w [L] (null = 1), temperature alpha > 0. The gradient is
/// ADDED to dZ (scaled by `scale`); returns sum_t w_t (1 - ApproxNDCG_t). `scratch` holds 3 n
/// values, `used` n flags.
template <class T>
T approx_ndcg_loss(const T* Z, int L, int n, int ld, const int* y, const T* labels, const T* w, T alpha, T scale, T* dZ,
                   T* scratch, unsigned char* used) noexcept {
    using std::exp;
    using std::log;
    using std::log2;
    T* pos = scratch;          // pi_i
    T* coef = scratch + n;     // d NDCG / d pi_i
    T* gains = scratch + 2 * n;
    for (int i = 0; i < n; ++i) {
        used[i] = 0;
        gains[i] = std::exp2(labels[i]) - T(1);
    }
    T total = 0;
    for (int t = 0; t < L && t < n; ++t) {
        if (t > 0) used[y[t - 1]] = 1;
        // IDCG over the remaining candidates: their gains, best first (y is label-consistent)
        T idcg = 0;
        for (int p = t, r = 0; p < n; ++p, ++r) idcg += gains[y[p]] / log2(T(r + 2));
        if (!(idcg > T(0))) continue;
        const T* z = Z + std::size_t(t) * ld;
        T* g = dZ + std::size_t(t) * ld;
        for (int i = 0; i < n; ++i) {
            if (used[i]) continue;
            T p = 1;
            for (int j = 0; j < n; ++j)
                if (j != i && !used[j]) p += T(1) / (T(1) + exp(-alpha * (z[j] - z[i])));
            pos[i] = p;
        }
        T dcg = 0;
        const T ln2 = T(0.6931471805599453);
        for (int i = 0; i < n; ++i) {
            if (used[i]) continue;
            const T l = log(T(1) + pos[i]);
            dcg += gains[i] * ln2 / l;
            coef[i] = -gains[i] * ln2 / ((T(1) + pos[i]) * l * l) / idcg;  // d NDCG / d pi_i
        }
        const T wt = w ? w[t] : T(1);
        total += wt * (T(1) - dcg / idcg);
        // loss = -wt NDCG: d/ds_j = -wt sum_i coef_i d pi_i / d s_j
        const T c = -wt * scale;
        for (int i = 0; i < n; ++i) {
            if (used[i] || coef[i] == T(0)) continue;
            for (int j = 0; j < n; ++j) {
                if (j == i || used[j]) continue;
                const T sg = T(1) / (T(1) + exp(-alpha * (z[j] - z[i])));
                const T a = alpha * sg * (T(1) - sg) * coef[i] * c;
                g[j] += a;
                g[i] -= a;
            }
        }
    }
    return total;
}

/// Slot cross-entropy with ties as one target (see the header comment): Z [L x n] (leading
/// dimension ld), a label-consistent order y (at least L entries; the prefix y_<t is masked for
/// slot t), labels [n]. The gradient is ADDED to dZ (scaled by `scale`); returns the loss (nats,
/// summed over the L slots). `scratch` holds n values, `used` n flags.
template <class T>
T tied_slot_cross_entropy(const T* Z, int L, int n, int ld, const int* y, const T* labels, T scale, T* dZ, T* scratch,
                          unsigned char* used) noexcept {
    using std::exp;
    using std::log;
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int i = 0; i < n; ++i) used[i] = 0;
    T total = 0;
    for (int t = 0; t < L && t < n; ++t) {
        if (t > 0) used[y[t - 1]] = 1;
        const T top = labels[y[t]];
        int left = 0, group = 0;
        for (int i = 0; i < n; ++i)
            if (!used[i]) {
                ++left;
                group += labels[i] == top;
            }
        if (group == left) continue;  // all that is left ties: no loss, no gradient
        const T* z = Z + std::size_t(t) * ld;
        T* g = dZ + std::size_t(t) * ld;
        for (int i = 0; i < n; ++i) scratch[i] = used[i] ? ninf : z[i];
        nn::log_softmax_row(scratch, n, scratch);  // log-probs over the remaining candidates
        // log sum over the target group, stable: its largest log-prob first
        T mx = ninf;
        for (int i = 0; i < n; ++i)
            if (!used[i] && labels[i] == top && scratch[i] > mx) mx = scratch[i];
        T s = 0;
        for (int i = 0; i < n; ++i)
            if (!used[i] && labels[i] == top) s += exp(scratch[i] - mx);
        const T lg = mx + log(s);  // log P(slot t picks the group)
        total += -lg;
        for (int i = 0; i < n; ++i) {
            if (used[i]) continue;
            const T p = exp(scratch[i]);
            g[i] += scale * (labels[i] == top ? p - exp(scratch[i] - lg) : p);
        }
    }
    return total;
}

/// Binary cross-entropy with logits: sum_i w_i [softplus(e_i) - label_i e_i]; dE += scale * w_i (sigmoid(e_i) - label_i).
template <class T>
T bce_with_logits(const T* E, const T* labels, std::size_t m, const T* w, T scale, T* dE) noexcept {
    using std::exp;
    using std::log1p;
    T total = 0;
    for (std::size_t i = 0; i < m; ++i) {
        const T e = E[i], y = labels[i], wi = w ? w[i] : T(1);
        const T sp = e > 0 ? e + log1p(exp(-e)) : log1p(exp(e));  // softplus, stable
        total += wi * (sp - y * e);
        const T sig = e >= 0 ? T(1) / (T(1) + exp(-e)) : exp(e) / (T(1) + exp(e));
        dE[i] += scale * wi * (sig - y);
    }
    return total;
}

/// True when every value is finite.
template <class T>
bool all_finite(const T* x, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i])) return false;
    return true;
}

}  // namespace train
DUALRERANK_NAMESPACE_END
