// List-wise RL for the NAR student: LDRO (ours; DESIGN.md section 4) and the GRPO baseline.
//
// Per request a group of G slates is sampled from the student (vectorized Gumbel-Max), each with
// per-slot feedback c[g][t][k] for objectives k (clicks, long views). Advantages:
//  * GRPO (DeepSeekMath form): R_g = sum_k w_k sum_t c[g][t][k]; A_g = (R_g - mean) / (std + 1e-6),
//    broadcast to every slot; omega_t = 1.
//  * LDRO, streaming double-decoupling:
//      objectives decoupled: each objective is normalized on its own, then combined with the
//        CURRENT weights w_k, so a weight change takes effect at once;
//      slots decoupled: slot t's advantage uses the reward-to-go R[g][t][k] = sum_{t' >= t} c[g][t'][k],
//        centered by the group mean at that slot;
//      rank decay: slot t's policy term is weighted by omega_t = 1/log2(t + 2), normalized to mean 1.
//    Scale per objective: the group's std of the page return, floored by
//      floor_const + floor_ema_frac * EMA(group std)   (EMA updated per request),
//    or, as an option, the EMA alone (scale_mode::ema).
// Objective (minimized): (1/G) sum_g [ -sum_t omega_t min(rho A, clip(rho, 1-eps, 1+eps) A)
//                                      - eta sum_t H_t + beta sum_t KL(q_t || r_t) ]
// with rho = exp(log q_t(y_t) - old log-prob), q_t the student's masked slot distribution along
// slate g's prefix, r_t the reference (SKD anchor) student's.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../nn/ops.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

enum class rl_method { ldro, grpo };
enum class scale_mode { group_std_floor, ema, group_std };

struct rl_config {
    rl_method method = rl_method::ldro;
    int group = 16;          ///< G slates per request
    double clip_eps = 0.2;
    double beta = 0.02;      ///< KL to the reference (SKD anchor)
    double eta = 0.05;       ///< entropy bonus: not optional in practice (DESIGN.md section 9)
    double sample_tau = 1.0; ///< sampling temperature
    // LDRO switches (ablations)
    bool decouple_objectives = true;
    bool decouple_slots = true;
    bool rank_decay = true;
    scale_mode scale = scale_mode::group_std_floor;
    double floor_const = 0.02;
    double floor_ema_frac = 0.25;
    double ema_decay = 0.99;
};

/// Streaming state of the LDRO scale (per objective EMA of the group std).
struct rl_stream_state {
    std::vector<double> ema;  ///< per objective (or one entry when objectives are not decoupled)
    long updates = 0;
};

/// Slot weights omega [L]: rank decay 1/log2(t+2) normalized to mean 1, or all ones.
inline void slot_weights(const rl_config& c, int L, double* omega) {
    double s = 0;
    for (int t = 0; t < L; ++t) {
        omega[t] = (c.method == rl_method::ldro && c.rank_decay) ? 1.0 / std::log2(double(t) + 2.0) : 1.0;
        s += omega[t];
    }
    for (int t = 0; t < L; ++t) omega[t] *= double(L) / s;
}

namespace detail {
inline double mean_std(const double* x, int G, double& sd) {
    double m = 0;
    for (int g = 0; g < G; ++g) m += x[g];
    m /= G;
    double v = 0;
    for (int g = 0; g < G; ++g) v += (x[g] - m) * (x[g] - m);
    sd = std::sqrt(v / G);
    return m;
}
inline double floored_scale(const rl_config& c, double group_sd, double& ema, long updates) {
    // update the streaming EMA first (per request), then floor
    ema = updates == 0 ? group_sd : c.ema_decay * ema + (1.0 - c.ema_decay) * group_sd;
    switch (c.scale) {
        case scale_mode::ema: return std::max(ema, c.floor_const);
        case scale_mode::group_std: return group_sd + 1e-6;
        case scale_mode::group_std_floor:
        default: return std::max(group_sd, c.floor_const + c.floor_ema_frac * ema);
    }
}
}  // namespace detail

/// Advantages A [G x L] from feedback c [G x L x O] and current objective weights w [O].
inline void group_advantages(const rl_config& c, const double* fb, int G, int L, int O, const double* w,
                             rl_stream_state& st, double* A) {
    if (G < 2) dualrerank::detail::throw_input("group_advantages: need at least 2 slates per group");
    std::vector<double> R(static_cast<std::size_t>(G)), tmp(static_cast<std::size_t>(G));
    auto cfb = [&](int g, int t, int k) { return fb[(std::size_t(g) * L + t) * O + k]; };
    if (c.method == rl_method::grpo) {
        for (int g = 0; g < G; ++g) {
            double r = 0;
            for (int t = 0; t < L; ++t)
                for (int k = 0; k < O; ++k) r += w[k] * cfb(g, t, k);
            R[g] = r;
        }
        double sd;
        const double m = detail::mean_std(R.data(), G, sd);
        for (int g = 0; g < G; ++g)
            for (int t = 0; t < L; ++t) A[std::size_t(g) * L + t] = (R[g] - m) / (sd + 1e-6);
        return;
    }
    const int nobj = c.decouple_objectives ? O : 1;
    if (int(st.ema.size()) != nobj) st.ema.assign(std::size_t(nobj), 0.0);
    std::fill(A, A + std::size_t(G) * L, 0.0);
    // per (objective or combined) reward stream
    std::vector<double> rtg(std::size_t(G) * L);
    for (int j = 0; j < nobj; ++j) {
        auto reward = [&](int g, int t) {
            if (c.decouple_objectives) return cfb(g, t, j);
            double r = 0;
            for (int k = 0; k < O; ++k) r += w[k] * cfb(g, t, k);
            return r;
        };
        for (int g = 0; g < G; ++g) {
            double acc = 0;
            for (int t = L - 1; t >= 0; --t) {
                acc += reward(g, t);
                rtg[std::size_t(g) * L + t] = acc;
            }
        }
        for (int g = 0; g < G; ++g) R[g] = rtg[std::size_t(g) * L];
        double sd;
        detail::mean_std(R.data(), G, sd);
        const double scale = detail::floored_scale(c, sd, st.ema[j], st.updates);
        const double wj = c.decouple_objectives ? w[j] : 1.0;
        for (int t = 0; t < L; ++t) {
            for (int g = 0; g < G; ++g) tmp[g] = c.decouple_slots ? rtg[std::size_t(g) * L + t] : R[g];
            double dummy;
            const double m = detail::mean_std(tmp.data(), G, dummy);
            for (int g = 0; g < G; ++g) A[std::size_t(g) * L + t] += wj * (tmp[g] - m) / scale;
        }
    }
    ++st.updates;
}

struct rl_stats {
    double policy = 0, entropy = 0, kl = 0, clip_frac = 0;
};

/// The RL loss of one request. Z, Zref: [L x n] student and reference logits (ld); slates [G x L];
/// old_lp [G x L] per-slot log-probs of the sampling policy; A [G x L]; omega [L]. The gradient
/// (times scale) is added to dZ [L x n]. scratch: 3n values. Returns the loss (unscaled).
template <class T>
T rl_loss(const T* Z, const T* Zref, int L, int n, int ld, const int* slates, const T* old_lp, const double* A, const double* omega,
          int G, const rl_config& c, T scale, T* dZ, T* scratch, rl_stats* stats = nullptr) {
    using std::exp;
    const T ninf = -std::numeric_limits<T>::infinity();
    T* lq = scratch;
    T* lr = scratch + n;
    T* tmp = scratch + 2 * n;
    T total = 0;
    double ent_sum = 0, kl_sum = 0, pol_sum = 0;
    long clipped = 0;
    const T eps = T(c.clip_eps), beta = T(c.beta), eta = T(c.eta);
    const T invG = T(1) / T(G);
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            T* dz = dZ + std::size_t(t) * ld;
            for (int i = 0; i < n; ++i) tmp[i] = z[i];
            for (int u = 0; u < t; ++u) tmp[y[u]] = ninf;
            nn::log_softmax_row(tmp, n, lq);
            const T* zr = Zref + std::size_t(t) * ld;
            for (int i = 0; i < n; ++i) tmp[i] = lq[i] == ninf ? ninf : zr[i];
            nn::log_softmax_row(tmp, n, lr);
            T H = 0, KL = 0;
            for (int i = 0; i < n; ++i)
                if (lq[i] > ninf) {
                    const T q = exp(lq[i]);
                    H -= q * lq[i];
                    KL += q * (lq[i] - lr[i]);
                }
            const T a = T(A[std::size_t(g) * L + t]);
            const T om = T(omega[t]);
            const T rho = exp(lq[y[t]] - old_lp[std::size_t(g) * L + t]);
            const T unclipped = rho * a;
            const T cl = std::min(std::max(rho, T(1) - eps), T(1) + eps) * a;
            const bool use_clip = cl < unclipped;
            const T pol = -om * std::min(unclipped, cl);
            if (use_clip) ++clipped;
            total += invG * (pol - eta * H + beta * KL);
            pol_sum += double(pol);
            ent_sum += double(H);
            kl_sum += double(KL);
            // gradients w.r.t. z_t
            const T s = scale * invG;
            const T gp = use_clip ? T(0) : -om * a * rho;  // d pol / d log q(y)
            for (int i = 0; i < n; ++i) {
                if (lq[i] == ninf) continue;
                const T q = exp(lq[i]);
                T gi = -gp * q;                                  // policy: gp * ([i=y] - q)
                gi += eta * q * (lq[i] + H);                     // -eta * dH
                gi += beta * q * ((lq[i] - lr[i]) - KL);         // beta * dKL
                dz[i] += s * gi;
            }
            dz[y[t]] += s * gp;
        }
    }
    if (stats) {
        stats->policy = pol_sum / G;
        stats->entropy = ent_sum / (double(G) * L);
        stats->kl = kl_sum / (double(G) * L);
        stats->clip_frac = double(clipped) / (double(G) * L);
    }
    return total;
}

/// Per-slot log-probs [G x L] of slates under logits Z (the "old" policy at sampling time).
template <class T>
void slot_log_probs(const T* Z, int L, int n, int ld, const int* slates, int G, T* out, T* scratch) {
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            for (int i = 0; i < n; ++i) scratch[i] = z[i];
            for (int u = 0; u < t; ++u) scratch[y[u]] = ninf;
            nn::log_softmax_row(scratch, n, scratch + n);
            out[std::size_t(g) * L + t] = scratch[n + y[t]];
        }
    }
}

}  // namespace train
DUALRERANK_NAMESPACE_END
