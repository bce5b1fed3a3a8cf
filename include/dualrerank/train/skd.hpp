// Sequential Knowledge Distillation (ours; docs/design.md section 4).
//
// Per request the teacher decodes its greedy slate plus K sampled slates (decoded once and
// cached: `make_skd_targets`). Along each teacher trajectory yhat, the student's masked
// distribution at slot t is q_S(. | t) = softmax_{i not in yhat_<t}(Z_t), and the loss is
//   sum_k pi_k sum_t w_t [ -log q_S(yhat_t | t) + lambda_kl * tau^2 * KL(p_T^tau(. | yhat_<t) || q_S^tau(. | t)) ]
// where pi_k is the trajectory's teacher probability, self-normalized over the distinct
// trajectories (duplicates merged), p_T^tau the teacher's step distribution at temperature tau.
// Because masking is free, the student learns the teacher's conditionals along the trajectory
// at NAR cost: that is what "sequential" means here. Gradient w.r.t. Z_t:
//   CE: q_i - [i = yhat_t];   KL: tau * (q^tau_i - p^tau_i)     (both on unmasked items).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "../decode/greedy.hpp"
#include "../decode/sample.hpp"
#include "losses.hpp"
#include "trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

struct skd_config {
    int samples = 15;          ///< K teacher samples per request (plus the greedy slate)
    double sample_tau = 1.0;   ///< temperature of the teacher's sampling
    double lambda_kl = 5.0;
    double tau = 1.0;          ///< distillation temperature of the KL term
    double lambda_gt = 0.0;    ///< weight of the supervised loss toward logged targets (when given)
};

/// input_error unless samples is in [0, limits::max_samples] and the temperatures and weights
/// are finite (temperatures > 0, weights >= 0). Returns c.
inline const skd_config& validate(const skd_config& c) {
    auto bad = [](const std::string& m) { dualrerank::detail::throw_input("invalid skd_config: " + m); };
    if (c.samples < 0 || c.samples > limits::max_samples)
        bad("samples = " + std::to_string(c.samples) + " outside [0, " + std::to_string(limits::max_samples) + "]");
    if (!(std::isfinite(c.sample_tau) && c.sample_tau > 0) || !(std::isfinite(c.tau) && c.tau > 0))
        bad("sample_tau and tau must be finite and > 0");
    if (!(std::isfinite(c.lambda_kl) && c.lambda_kl >= 0) || !(std::isfinite(c.lambda_gt) && c.lambda_gt >= 0))
        bad("lambda_kl and lambda_gt must be finite and >= 0");
    return c;
}

/// Cached teacher targets of one request.
template <class T>
struct skd_targets {
    int K = 0, L = 0, n = 0;
    std::vector<int> slates;    ///< [K x L] distinct trajectories, greedy first
    std::vector<T> weight;      ///< [K] pi_k, sums to 1
    std::vector<T> teacher_lp;  ///< [K x L x n] log p_T^tau(. | yhat_<t), -inf on the prefix
    std::vector<T> top1;        ///< [K x L] teacher's max step probability at tau = 1 (diagnostic)
};

/// Decode the teacher's greedy slate and `samples` sampled slates and cache its step distributions.
/// A request with N < L candidates gets trajectories of min(L, N) slots (tg.L), so it is used too.
template <class T>
skd_targets<T> make_skd_targets(const ar_teacher<T>& teacher, const request_view<T>& r, int L, const skd_config& cfg,
                                std::uint64_t seed, workspace& ws) {
    validate(cfg);
    if (L < 1 || L > teacher.config().max_slate)
        dualrerank::detail::throw_input("make_skd_targets: slate length L = " + std::to_string(L) + " outside [1, " +
                                        std::to_string(teacher.config().max_slate) + "]");
    const int n = r.n;
    if (n >= 1) L = std::min(L, n);  // fewer candidates than L: trajectories of min(L, N) slots (a bad n: the decoder's error)
    std::vector<int> all(std::size_t(cfg.samples + 1) * L);
    decode::teacher_greedy(teacher, r, L, all.data(), ws);
    if (cfg.samples > 0)
        decode::teacher_sample(teacher, r, L, cfg.samples, cfg.sample_tau, counter_key::from_seed(seed), 0u,
                               all.data() + L, static_cast<T*>(nullptr), ws);
    // distinct trajectories
    skd_targets<T> tg;
    tg.L = L;
    tg.n = n;
    for (int k = 0; k <= cfg.samples; ++k) {
        const int* y = all.data() + std::size_t(k) * L;
        bool seen = false;
        for (int j = 0; j < tg.K && !seen; ++j) seen = std::equal(y, y + L, tg.slates.data() + std::size_t(j) * L);
        if (seen) continue;
        tg.slates.insert(tg.slates.end(), y, y + L);
        ++tg.K;
    }
    ws.reset();
    auto c = teacher.forward_slates(r, tg.K, L, tg.slates.data(), ws);
    tg.teacher_lp.assign(std::size_t(tg.K) * L * n, T(0));
    tg.top1.assign(std::size_t(tg.K) * L, T(0));
    tg.weight.assign(std::size_t(tg.K), T(0));
    std::vector<T> row(n), lp1(n);
    std::vector<double> seq(std::size_t(tg.K), 0.0);
    const T inv_tau = T(1.0 / cfg.tau);
    for (int k = 0; k < tg.K; ++k)
        for (int t = 0; t < L; ++t) {
            const T* z = c.Z + (std::size_t(k) * L + t) * n;
            nn::log_softmax_row(z, n, lp1.data());
            seq[k] += double(lp1[tg.slates[std::size_t(k) * L + t]]);
            T mx = -std::numeric_limits<T>::infinity();
            for (int i = 0; i < n; ++i) mx = std::max(mx, lp1[i]);
            tg.top1[std::size_t(k) * L + t] = std::exp(mx);
            for (int i = 0; i < n; ++i) row[i] = z[i] * inv_tau;
            nn::log_softmax_row(row.data(), n, tg.teacher_lp.data() + (std::size_t(k) * L + t) * n);
        }
    const double m = *std::max_element(seq.begin(), seq.end());
    double s = 0;
    for (int k = 0; k < tg.K; ++k) s += std::exp(seq[k] - m);
    for (int k = 0; k < tg.K; ++k) tg.weight[k] = T(std::exp(seq[k] - m) / s);
    return tg;
}

/// SKD loss of one request given the student's logits Z [L x n] (leading dimension ld); the
/// gradient (times `scale`) is added to dZ. w [L] slot weights (null = 1). scratch: 3n values.
template <class T>
T skd_loss(const T* Z, int ld, const skd_targets<T>& tg, const T* w, const skd_config& cfg, T scale, T* dZ, T* scratch) {
    using std::exp;
    const int n = tg.n, L = tg.L;
    const T ninf = -std::numeric_limits<T>::infinity();
    T* q = scratch;           // log q_S (tau = 1)
    T* qt = scratch + n;      // log q_S^tau
    T* tmp = scratch + 2 * n;
    const T tau = T(cfg.tau), inv_tau = T(1.0 / cfg.tau), lam = T(cfg.lambda_kl);
    T total = 0;
    for (int k = 0; k < tg.K; ++k) {
        const int* y = tg.slates.data() + std::size_t(k) * L;
        const T pk = tg.weight[k];
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            T* g = dZ + std::size_t(t) * ld;
            for (int i = 0; i < n; ++i) tmp[i] = z[i];
            for (int u = 0; u < t; ++u) tmp[y[u]] = ninf;
            nn::log_softmax_row(tmp, n, q);
            for (int i = 0; i < n; ++i) tmp[i] = tmp[i] * inv_tau;
            nn::log_softmax_row(tmp, n, qt);
            const T* p = tg.teacher_lp.data() + (std::size_t(k) * L + t) * n;
            const T wt = (w ? w[t] : T(1)) * pk;
            T kl = 0;
            for (int i = 0; i < n; ++i)
                if (p[i] > ninf) kl += exp(p[i]) * (p[i] - qt[i]);
            total += wt * (-q[y[t]] + lam * tau * tau * kl);
            const T c = wt * scale;
            for (int i = 0; i < n; ++i) {
                if (q[i] == ninf) continue;
                const T pi = p[i] > ninf ? exp(p[i]) : T(0);
                g[i] += c * (exp(q[i]) + lam * tau * (exp(qt[i]) - pi));
            }
            g[y[t]] -= c;
        }
    }
    return total;
}

}  // namespace train
DUALRERANK_NAMESPACE_END

DUALRERANK_NAMESPACE_BEGIN
namespace train {

/// Decode and cache the teacher's SKD targets for every request of `requests` (progress to log).
template <class T>
std::vector<skd_targets<T>> cache_skd_targets(const ar_teacher<T>& teacher, const std::vector<request<T>>& requests, int L,
                                              const skd_config& cfg, std::uint64_t seed, std::FILE* log = nullptr) {
    std::vector<skd_targets<T>> out;
    out.reserve(requests.size());
    workspace ws;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        out.push_back(make_skd_targets(teacher, requests[i].view(), L, cfg, seed * 1000003ULL + i, ws));
        if (log && ((i + 1) % 1000 == 0 || i + 1 == requests.size())) {
            std::fprintf(log, "\r[skd] teacher targets %zu/%zu   ", i + 1, requests.size());
            if (i + 1 == requests.size()) std::fprintf(log, "\n");
            std::fflush(log);
        }
    }
    return out;
}

/// Train the student with SKD on cached targets (plus lambda_gt times the supervised loss toward
/// `data.targets` when lambda_gt > 0). Every request is used: one with N < L candidates trains on
/// min(L, N) slots (its targets from make_skd_targets have that many; the batch is split into
/// groups of equal slot count, one forward/backward each, summed into one step, as fit_supervised).
template <class T>
void fit_skd(trainer<nar_student<T>>& tr, const slate_dataset<T>& data, const std::vector<skd_targets<T>>& targets,
             const skd_config& cfg, long steps, const std::string& label = "skd") {
    validate(cfg);
    if (data.size() == 0 || targets.size() != data.size()) dualrerank::detail::throw_input("fit_skd: dataset and targets differ");
    const int B = tr.config().batch_size, L = data.L;
    if (L < 1 || L > tr.model().config().max_slate)
        dualrerank::detail::throw_input("fit_skd: slate length L = " + std::to_string(L) + " outside [1, max_slate]");
    for (std::size_t i = 0; i < data.size(); ++i) {
        const int Li = std::min(L, data.requests[i].n);
        if (targets[i].n != data.requests[i].n || targets[i].L != Li)
            dualrerank::detail::throw_input("fit_skd: targets do not match the request (request " + std::to_string(i) +
                                            ": expected min(L, N) = " + std::to_string(Li) + " slots over its " +
                                            std::to_string(data.requests[i].n) + " candidates)");
        if (cfg.lambda_gt > 0 && data.targets[i].size() < std::size_t(Li))
            dualrerank::detail::throw_input("fit_skd: target slate of request " + std::to_string(i) +
                                            " shorter than min(L, N) = " + std::to_string(Li));
    }
    std::vector<int> idx, perm;
    std::vector<request_view<T>> views(static_cast<std::size_t>(B));
    auto slots = [&](int b) { return std::min(L, data.requests[std::size_t(idx[std::size_t(b)])].n); };
    tr.run(
        steps,
        [&](T* g, workspace& ws, rng& gen) {
            draw_batch(gen, data.size(), B, idx);
            // groups of equal slot count min(L, N), one forward/backward each (one group when every
            // request has N >= L)
            perm.resize(std::size_t(B));
            std::iota(perm.begin(), perm.end(), 0);
            std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) { return slots(a) < slots(b); });
            double loss = 0;
            for (int s = 0; s < B;) {
                const int Lg = slots(perm[std::size_t(s)]);
                int e = s;
                while (e < B && slots(perm[std::size_t(e)]) == Lg) ++e;
                const int cnt = e - s;
                for (int b = 0; b < cnt; ++b) views[std::size_t(b)] = data.requests[std::size_t(idx[std::size_t(perm[std::size_t(s + b)])])].view();
                auto c = tr.model().forward(views.data(), cnt, Lg, ws);
                T* dZ = ws.alloc_zero<T>(std::size_t(cnt) * Lg * c.n);
                T* scratch = ws.alloc<T>(3 * std::size_t(c.n));
                for (int b = 0; b < cnt; ++b) {
                    const std::size_t i = std::size_t(idx[std::size_t(perm[std::size_t(s + b)])]);
                    const skd_targets<T>& tg = targets[i];
                    T* Zb = c.Z + std::size_t(b) * Lg * c.n;
                    T* dZb = dZ + std::size_t(b) * Lg * c.n;
                    loss += double(skd_loss(Zb, c.n, tg, static_cast<const T*>(nullptr), cfg, T(1) / T(B), dZb, scratch));
                    if (cfg.lambda_gt > 0)
                        loss += cfg.lambda_gt * double(slot_cross_entropy(Zb, Lg, tg.n, c.n, data.targets[i].data(), true,
                                                                          static_cast<const T*>(nullptr), T(cfg.lambda_gt / B),
                                                                          dZb, scratch));
                }
                if (!std::isfinite(loss)) return loss;
                tr.model().backward(c, dZ, g, ws);
                s = e;
            }
            return loss / B;
        },
        label);
}

}  // namespace train
DUALRERANK_NAMESPACE_END
