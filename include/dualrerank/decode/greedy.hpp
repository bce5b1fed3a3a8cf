// Deterministic decoders.
//
// From a student's logit matrix Z [L x N] (all read the one matrix, no re-run):
//  * greedy_slate: slot 1..L in order, masked argmax (never a duplicate; ties -> lowest index);
//  * confident_slate (UniRank's commit policy): repeatedly commit the (slot, item) pair with the
//    highest probability among free slots and unused items, where slot t's distribution is the
//    softmax of Z_t over the still-unused items (ties -> lowest slot, then lowest item).
// From the AR teacher (incremental, KV cache): teacher_greedy and teacher_beam (width B, sum of
// masked log-softmax scores, ties -> earlier beam, lower item).
// And the one probability definition everything uses (docs/design.md section 3):
//   log pi(y) = sum_t log softmax_{i not in y_<t}(Z_t)[y_t].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../model/ar_teacher.hpp"
#include "../model/nar_student.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace decode {

/// Masked greedy decoding of Z [L x n] (leading dimension ld) into out [L]. `used` is scratch [n].
template <class T>
void greedy_slate(const T* Z, int L, int n, int ld, int* out, std::uint8_t* used) noexcept {
    std::fill(used, used + n, std::uint8_t(0));
    for (int t = 0; t < L; ++t) {
        const T* z = Z + std::size_t(t) * ld;
        int best = -1;
        T bv = -std::numeric_limits<T>::infinity();
        for (int i = 0; i < n; ++i)
            if (!used[i] && (best < 0 || z[i] > bv)) {
                best = i;
                bv = z[i];
            }
        out[t] = best;
        used[best] = 1;
    }
}

/// Confidence-ordered decoding of Z [L x n] into out [L]. Scratch: used [n], lse [L].
template <class T>
void confident_slate(const T* Z, int L, int n, int ld, int* out, std::uint8_t* used, T* lse) noexcept {
    using std::exp;
    using std::log;
    std::fill(used, used + n, std::uint8_t(0));
    std::fill(out, out + L, -1);
    for (int step = 0; step < L; ++step) {
        // log-normaliser of each free slot over unused items
        for (int t = 0; t < L; ++t) {
            if (out[t] >= 0) continue;
            const T* z = Z + std::size_t(t) * ld;
            T m = -std::numeric_limits<T>::infinity();
            for (int i = 0; i < n; ++i)
                if (!used[i]) m = std::max(m, z[i]);
            T s = 0;
            for (int i = 0; i < n; ++i)
                if (!used[i] && z[i] > -std::numeric_limits<T>::infinity()) s += exp(z[i] - m);
            lse[t] = m + log(s);
        }
        int bt = -1, bi = -1;
        T bp = -std::numeric_limits<T>::infinity();
        for (int t = 0; t < L; ++t) {
            if (out[t] >= 0) continue;
            const T* z = Z + std::size_t(t) * ld;
            for (int i = 0; i < n; ++i) {
                if (used[i]) continue;
                const T lp = z[i] - lse[t];
                if (bt < 0 || lp > bp) {
                    bt = t;
                    bi = i;
                    bp = lp;
                }
            }
        }
        out[bt] = bi;
        used[bi] = 1;
    }
}

/// log pi(y) under the slot-order factorization with masking, for a slate y [L] and Z [L x n].
template <class T>
T slate_log_prob(const T* Z, int L, int n, int ld, const int* y) noexcept {
    using std::exp;
    using std::log;
    T total = 0;
    for (int t = 0; t < L; ++t) {
        const T* z = Z + std::size_t(t) * ld;
        T m = -std::numeric_limits<T>::infinity();
        for (int i = 0; i < n; ++i) {
            bool taken = false;
            for (int u = 0; u < t; ++u) taken |= (y[u] == i);
            if (!taken) m = std::max(m, z[i]);
        }
        T s = 0;
        for (int i = 0; i < n; ++i) {
            bool taken = false;
            for (int u = 0; u < t; ++u) taken |= (y[u] == i);
            if (!taken && z[i] > -std::numeric_limits<T>::infinity()) s += exp(z[i] - m);
        }
        total += z[y[t]] - (m + log(s));
    }
    return total;
}

namespace detail {

/// Non-finite logits of real candidates (impossible with features within limits unless the
/// weights themselves are extreme) would make a decoder return an arbitrary slate (NaN compares
/// false, ties go to the lowest index): input_error instead.
template <class T>
void check_logits(const T* Z, int rows, int n, std::size_t ld, const char* who) {
    for (int t = 0; t < rows; ++t)
        for (int i = 0; i < n; ++i) {
            const T z = Z[std::size_t(t) * ld + i];
            if (!std::isfinite(z))
                ::dualrerank::detail::throw_input(std::string(who) + ": logit [" + std::to_string(t) + "][" +
                                                  std::to_string(i) + "] is " + (std::isnan(z) ? "NaN" : "infinite") +
                                                  " (the model's arithmetic overflowed on this request)");
        }
}

/// Size of the slate a slate-returning overload allocates before the call validates L: never
/// more than the model's max_slate (an L above it is rejected, so the slate is never written).
inline std::size_t slate_capacity(int L, const model_config& c) noexcept {
    return std::size_t(std::min(std::max(L, 0), c.max_slate));
}

}  // namespace detail

// ------------------------------------------------------------------------- student decoders

/// Student greedy: out [L]. Resets ws; allocation-free after warm-up.
template <class T>
void greedy(const nar_student<T>& s, const request_view<T>& r, int L, int* out, workspace& ws) {
    ws.reset();
    auto c = s.infer(&r, 1, L, ws);
    detail::check_logits(c.Z, L, r.n, std::size_t(r.n), "greedy");
    greedy_slate(c.Z, L, r.n, r.n, out, ws.alloc<std::uint8_t>(r.n));
}

template <class T>
slate greedy(const nar_student<T>& s, const request_view<T>& r, int L, workspace& ws) {
    slate y(detail::slate_capacity(L, s.config()));
    greedy(s, r, L, y.data(), ws);
    return y;
}

/// Student confidence-ordered decoding: out [L]. Resets ws.
template <class T>
void confident(const nar_student<T>& s, const request_view<T>& r, int L, int* out, workspace& ws) {
    ws.reset();
    auto c = s.infer(&r, 1, L, ws);
    detail::check_logits(c.Z, L, r.n, std::size_t(r.n), "confident");
    confident_slate(c.Z, L, r.n, r.n, out, ws.alloc<std::uint8_t>(r.n), ws.alloc<T>(L));
}

template <class T>
slate confident(const nar_student<T>& s, const request_view<T>& r, int L, workspace& ws) {
    slate y(detail::slate_capacity(L, s.config()));
    confident(s, r, L, y.data(), ws);
    return y;
}

/// Batched student greedy over B requests (padded to the largest N): out [B x L]. Resets ws.
template <class T>
void greedy_batch(const nar_student<T>& s, const request_view<T>* reqs, int B, int L, int* out, workspace& ws) {
    ws.reset();
    auto c = s.infer(reqs, B, L, ws);
    for (int b = 0; b < B; ++b)
        detail::check_logits(c.Z + std::size_t(b) * L * c.n, L, reqs[b].n, std::size_t(c.n), "greedy_batch");
    std::uint8_t* used = ws.alloc<std::uint8_t>(c.n);
    for (int b = 0; b < B; ++b)
        greedy_slate(c.Z + std::size_t(b) * L * c.n, L, reqs[b].n, c.n, out + std::size_t(b) * L, used);
}

// ------------------------------------------------------------------------- teacher decoders

/// Teacher beam search of width `beam` (1 = greedy): out [L]; returns the slate's log-prob.
template <class T>
T teacher_beam(const ar_teacher<T>& m, const request_view<T>& r, int L, int beam, int* out, workspace& ws) {
    ws.reset();
    if (beam < 1) dualrerank::detail::throw_input("teacher_beam: beam width must be >= 1");
    const int n = r.n;
    const int B = std::min(beam, n);  // more beams than candidates cannot differ at step 1
    teacher_state<T> s = m.begin(r, L, B, ws);
    T* logits = ws.alloc<T>(std::size_t(B) * n);
    int* prefix = ws.alloc<int>(std::size_t(B) * L);
    int* next_prefix = ws.alloc<int>(std::size_t(B) * L);
    T* score = ws.alloc<T>(B);
    T* next_score = ws.alloc<T>(B);
    int* parent = ws.alloc<int>(B);
    int* item = ws.alloc<int>(B);
    int* prev = ws.alloc<int>(B);
    std::uint8_t* used = ws.alloc<std::uint8_t>(std::size_t(B) * n);
    std::uint8_t* next_used = ws.alloc<std::uint8_t>(std::size_t(B) * n);  // two sets, swapped per step
    T* lsm = ws.alloc<T>(n);
    std::fill(used, used + std::size_t(B) * n, std::uint8_t(0));
    int live = 1;
    score[0] = 0;
    for (int t = 0; t < L; ++t) {
        for (int b = 0; b < live; ++b) prev[b] = t ? prefix[std::size_t(b) * L + t - 1] : 0;
        m.step(s, prev, live, logits, ws);
        detail::check_logits(logits, live, n, std::size_t(n), "teacher_beam");
        // candidates (score, beam, item): keep the best B with a small insertion list
        int kept = 0;
        for (int b = 0; b < live; ++b) {
            T* z = logits + std::size_t(b) * n;
            const std::uint8_t* u = used + std::size_t(b) * n;
            for (int i = 0; i < n; ++i)
                if (u[i]) z[i] = -std::numeric_limits<T>::infinity();
            nn::log_softmax_row(z, n, lsm);
            for (int i = 0; i < n; ++i) {
                if (u[i]) continue;
                const T sc = score[b] + lsm[i];
                if (kept == B && !(sc > next_score[B - 1])) continue;
                int pos = kept < B ? kept++ : B - 1;
                while (pos > 0 && sc > next_score[pos - 1]) {
                    next_score[pos] = next_score[pos - 1];
                    parent[pos] = parent[pos - 1];
                    item[pos] = item[pos - 1];
                    --pos;
                }
                next_score[pos] = sc;
                parent[pos] = b;
                item[pos] = i;
            }
        }
        for (int k = 0; k < kept; ++k) {
            std::copy(prefix + std::size_t(parent[k]) * L, prefix + std::size_t(parent[k]) * L + t, next_prefix + std::size_t(k) * L);
            next_prefix[std::size_t(k) * L + t] = item[k];
        }
        std::swap(prefix, next_prefix);
        std::swap(score, next_score);
        // used-sets follow their parents
        for (int k = 0; k < kept; ++k) {
            std::copy(used + std::size_t(parent[k]) * n, used + std::size_t(parent[k] + 1) * n, next_used + std::size_t(k) * n);
            next_used[std::size_t(k) * n + item[k]] = 1;
        }
        std::swap(used, next_used);
        if (B > 1) m.reorder(s, parent, kept);
        live = kept;
    }
    std::copy(prefix, prefix + L, out);
    return score[0];
}

template <class T>
T teacher_greedy(const ar_teacher<T>& m, const request_view<T>& r, int L, int* out, workspace& ws) {
    return teacher_beam(m, r, L, 1, out, ws);
}

template <class T>
slate teacher_greedy(const ar_teacher<T>& m, const request_view<T>& r, int L, workspace& ws) {
    slate y(detail::slate_capacity(L, m.config()));
    teacher_beam(m, r, L, 1, y.data(), ws);
    return y;
}

template <class T>
slate teacher_beam(const ar_teacher<T>& m, const request_view<T>& r, int L, int beam, workspace& ws) {
    slate y(detail::slate_capacity(L, m.config()));
    teacher_beam(m, r, L, beam, y.data(), ws);
    return y;
}

}  // namespace decode
DUALRERANK_NAMESPACE_END
