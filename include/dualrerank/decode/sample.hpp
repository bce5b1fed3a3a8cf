// Sampled decoding with the Gumbel-Max sampler: K slates from the student's logits (one pass,
// see gumbel.hpp) and K slates from the AR teacher step by step, all K prefixes advancing
// together through one KV cache (one batched decoder step per slot).
#pragma once

#include <vector>

#include "../model/ar_teacher.hpp"
#include "../model/nar_student.hpp"
#include "gumbel.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace decode {

/// K teacher slates [K x L] sampled at temperature tau; log_probs [K] (at tau) may be null.
/// The teacher's KV cache holds K prefixes (memory grows with K * L * d per layer).
/// Uses counters counter_base + (k * L + t) * n + i, like sample_slates. Resets ws.
template <class T>
void teacher_sample(const ar_teacher<T>& m, const request_view<T>& r, int L, int K, double tau, counter_key key,
                    std::uint32_t counter_base, int* slates, T* log_probs, workspace& ws) {
    ws.reset();
    if (K < 1 || K > limits::max_samples)
        dualrerank::detail::throw_input("teacher_sample: K = " + std::to_string(K) + " outside [1, " +
                                        std::to_string(limits::max_samples) + "] (limits::max_samples)");
    if (!(tau > 0) || !std::isfinite(tau)) dualrerank::detail::throw_input("teacher_sample: temperature must be finite and > 0");
    if (r.n > 0 && L > 0 && std::uint64_t(K) * std::uint64_t(L) * std::uint64_t(r.n) > (std::uint64_t(1) << 32))
        dualrerank::detail::throw_input("teacher_sample: K * L * N exceeds the 2^32 counters of one key");
    const int n = r.n;
    teacher_state<T> s = m.begin(r, L, K, ws);
    T* logits = ws.alloc<T>(std::size_t(K) * n);
    int* prev = ws.alloc<int>(K);
    std::uint8_t* used = ws.alloc_zero<std::uint8_t>(std::size_t(K) * n);
    if (log_probs) std::fill(log_probs, log_probs + K, T(0));
    const float inv_tau = float(1.0 / tau);
    for (int t = 0; t < L; ++t) {
        for (int k = 0; k < K; ++k) prev[k] = t ? slates[std::size_t(k) * L + t - 1] : 0;
        m.step(s, prev, K, logits, ws);
        for (int k = 0; k < K; ++k) {
            const T* z = logits + std::size_t(k) * n;
            std::uint8_t* u = used + std::size_t(k) * n;
            const std::uint32_t base = slot_counter(counter_base, k, t, L, n);
            if (log_probs) {
                gumbel_pick p = gumbel_sample(z, n, u, inv_tau, key, base);
                slates[std::size_t(k) * L + t] = p.index;
                log_probs[k] += T(p.log_prob);
            } else {
                slates[std::size_t(k) * L + t] = gumbel_argmax(z, n, u, inv_tau, key, base);
            }
            u[slates[std::size_t(k) * L + t]] = 1;
        }
    }
}

/// K student slates [K x L] sampled from one forward pass; log_probs [K] may be null. Resets ws.
template <class T>
void student_sample(const nar_student<T>& m, const request_view<T>& r, int L, int K, double tau, counter_key key,
                    std::uint32_t counter_base, int* slates, T* log_probs, workspace& ws) {
    ws.reset();
    {
        workload w;
        w.n = r.n;
        w.L = L;
        w.samples = K;
        dualrerank::detail::check_workspace_bound(ws, m.workspace_bound(w),
                                                  "student_sample", w);
    }
    auto c = m.infer(&r, 1, L, ws);
    sample_slates(c.Z, L, r.n, r.n, tau, key, counter_base, K, slates, log_probs, ws);
}

}  // namespace decode
DUALRERANK_NAMESPACE_END
