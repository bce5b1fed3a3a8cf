// Full rankings: an order of all N candidates from a pointer model, for learning-to-rank use
// (NDCG@k for any k, per-document scores).
//
//  * Student: greedy over the first L = min(slots, N) slot rows of Z (decode::greedy_slate), then
//    the candidates no slot placed, by the last slot's logits Z_{L-1} (descending, ties to the
//    lower index). The last slot was trained to pick the best of the candidates left after the
//    slots before it, so its logits are the model's own ranking of the rest; ListMLE
//    (train/losses.hpp) trains exactly this order.
//  * Teacher: greedy decoding for L = min(slots, N) steps (slots up to its max_slate), then the
//    rest by the logits of the last decoded step (the same rule).
//
// Per-document scores: the log-probability of each document at its place in the order, under the
// step distribution that placed it (its row's softmax over the candidates not placed before it;
// positions past L use row L-1). Their sum over the first L positions is the slate's
// log-probability (decode::slate_log_prob); the order is the ranking (the scores of the
// documents after L fall as their logits do, but the slate's scores need not be sorted).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "greedy.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace decode {

/// The full order from L slot rows Z [L x n] (leading dimension ld), 1 <= L <= n: out [n] gets
/// the order, doc_score [n] (indexed by candidate; may be null) the per-document log-probability.
/// Scratch: used [n], row [n].
template <class T>
void full_order_from_rows(const T* Z, int L, int n, int ld, int* out, T* doc_score, std::uint8_t* used, T* row) noexcept {
    greedy_slate(Z, L, n, ld, out, used);  // marks the slate's items in `used`
    const T* last = Z + std::size_t(L - 1) * ld;
    int m = L;
    for (int i = 0; i < n; ++i)
        if (!used[i]) out[m++] = i;
    std::stable_sort(out + L, out + n, [&](int a, int b) { return last[a] > last[b]; });
    if (!doc_score) return;
    std::fill(used, used + n, std::uint8_t(0));
    for (int t = 0; t < n; ++t) {
        const T* z = Z + std::size_t(t < L ? t : L - 1) * ld;
        for (int i = 0; i < n; ++i) row[i] = used[i] ? -std::numeric_limits<T>::infinity() : z[i];
        nn::log_softmax_row(row, n, row);
        doc_score[out[t]] = row[out[t]];
        used[out[t]] = 1;
    }
}

/// Student full order of all r.n candidates over min(slots, N) slots: out [N], doc_score [N]
/// (may be null). Resets ws; allocation-free after warm-up.
template <class T>
void student_full_order(const nar_student<T>& s, const request_view<T>& r, int slots, int* out, T* doc_score, workspace& ws) {
    ws.reset();
    const int L = std::min(slots, r.n);
    auto c = s.infer(&r, 1, L, ws);
    detail::check_logits(c.Z, L, r.n, std::size_t(r.n), "student_full_order");
    full_order_from_rows(c.Z, L, r.n, r.n, out, doc_score, ws.alloc<std::uint8_t>(r.n), ws.alloc<T>(r.n));
}

/// Teacher full order: greedy for min(slots, N) steps, then the rest by the last step's logits.
/// out [N], doc_score [N] (may be null). Resets ws.
template <class T>
void teacher_full_order(const ar_teacher<T>& m, const request_view<T>& r, int slots, int* out, T* doc_score, workspace& ws) {
    ws.reset();
    const int n = r.n;
    const int L = std::min(slots, n);
    teacher_state<T> s = m.begin(r, L, 1, ws);
    T* logits = ws.alloc<T>(std::size_t(n));
    T* rows = ws.alloc<T>(std::size_t(L) * n);  // the step logits, as a student's Z
    std::uint8_t* used = ws.alloc<std::uint8_t>(std::size_t(n));
    std::fill(used, used + n, std::uint8_t(0));
    int prev = 0;
    for (int t = 0; t < L; ++t) {
        m.step(s, &prev, 1, logits, ws);
        detail::check_logits(logits, 1, n, std::size_t(n), "teacher_full_order");
        int best = -1;
        for (int i = 0; i < n; ++i)
            if (!used[i] && (best < 0 || logits[i] > logits[best])) best = i;
        std::copy(logits, logits + n, rows + std::size_t(t) * n);
        used[best] = 1;
        prev = best;
    }
    // the rows are masked by the teacher's own prefix; greedy over them reproduces the steps
    full_order_from_rows(rows, L, n, n, out, doc_score, used, ws.alloc<T>(std::size_t(n)));
}

}  // namespace decode
DUALRERANK_NAMESPACE_END
