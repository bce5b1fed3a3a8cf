// Losses with their gradients w.r.t. the model outputs. The models' backward takes these
// gradients (d loss / d logits) and does the rest, so any loss that can say how the logits
// should move (SKD, LDRO, GRPO, Rerank-DPO) plugs into the same training loop.
//
//  * slot_cross_entropy: sum_t w_t * -log softmax_{i not masked}(Z_t)[y_t]. For the AR teacher the
//    prefix is already masked in Z (teacher forcing); for the NAR student pass mask_prefix = true
//    and the items y_<t are masked here: the slot-order factorization of DESIGN.md section 3.
//  * bce_with_logits: per-slot binary cross-entropy for the list evaluator on observed feedback.
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
