// List-wise RL for the NAR student: LDRO (ours; docs/design.md section 4), the GRPO baseline and
// GoalRank's group-relative reference policy (docs/design.md section 10.5).
//
// Per request a group of G slates is sampled from the student (vectorized Gumbel-Max at temperature
// tau), each with per-slot feedback c[g][t][k] for objectives k (any number; the world has clicks and
// long views). The feedback is a user's (the world's idealized mode) or an evaluator's prediction
// (the realistic online mode, train/online.hpp). Advantages:
//  * GRPO (DeepSeekMath form): R_g = sum_k w_k sum_t c[g][t][k]; A_g = (R_g - mean) / (std + 1e-6),
//    broadcast to every slot; omega_t = 1.
//  * LDRO, streaming double-decoupling:
//      objectives decoupled: the streaming statistics are kept per objective (an EMA of the
//        covariance C of the objectives' page returns) and recombined with the CURRENT weights w at
//        every request (scale floor sqrt(w^T C w)), so a weight change takes effect at once, with
//        no re-learning of the scale of a mixed reward; the deviations stay in the reward's units;
//      slots decoupled: slot t's advantage uses the weighted reward-to-go
//        x[g][t] = sum_k w_k sum_{t' >= t} c[g][t'][k], centered by the group mean at that slot;
//      rank decay (off by default, rank_decay): slot t's policy term weighted by
//        omega_t = 1/log2(t + 2), normalized to mean 1;
//      rtg_discount < 1 discounts the rewards after slot t (1, the default: the reward-to-go);
//      slot baseline (rl_config::baseline, issue #14's baseline study, docs/rl.md): the group mean
//        of the return at slot t (group_mean, the default), or conditioned on the slate's own
//        prefix: d_t = (r_t - b_t) + (tail_{t+1} - group mean), b_t = sum_a q_t(a | y_<t) r_t(y_<t, a)
//        from every candidate's predicted reward at slot t (prefix_baselines), tail the sampled
//        reward-to-go (prefix) or the later slots' b (prefix_expected); optionally the immediate
//        term in all-action form (all_action_loss).
//    Scale (scale_mode::pooled_slot_std, the default since issue #14's advantage measurement,
//    docs/rl.md): max(sqrt(mean over slots of the slots' variances of x), floor_const +
//    floor_ema_frac * sqrt(w^T C w)): one scale for the page, so each slot keeps its own size
//    (a rarely examined bottom slot stays small, as its true advantage is).
//    Every mode is guarded per slot: the scale is at least the slot's own std, which bounds every
//    advantage by sqrt(G - 1): a group whose pages tie in total but differ by slot (page std 0)
//    can no longer blow up (issue #14 (c)). Other modes replace the page-level part:
//    max(std of the page return, floor) (scale_mode::group_std_floor, the earlier default), the
//    EMA alone (scale_mode::ema) or the plain page std (scale_mode::group_std). Without objective
//    decoupling the EMA tracks the std of the combined reward (stale after a weight change).
//    Then (unit_mean_square, the default) the group's advantages are rescaled to unit mean square
//    over its slates and slots, GRPO's size: the scale above sets the slots' relative sizes, the
//    policy term weighs against the KL and entropy terms as GRPO's does.
//  * GoalRank: pi_ref(l | B) = softmax over the group of (r(l) - mean_B) / std_B; the policy is
//    trained by cross-entropy to it (goalrank_loss).
// Objective of LDRO and GRPO (minimized), every distribution at the sampling temperature tau:
//   (1/G) sum_g [ -sum_t omega_t min(rho A, clip(rho, 1-eps, 1+eps) A) - eta sum_t H_t + beta sum_t KL(q_t || r_t) ]
// with q_t = softmax(Z_t / tau) masked along slate g's prefix, r_t the reference's (SKD anchor) at
// the same tau, and rho = exp(log q_t(y_t) - old log-prob). The old log-prob must come from the
// policy that SAMPLED the slate (the serving policy's logged propensity); it equals the current
// policy's only when nothing has been learned since sampling, and then rho = 1 and the clip is inert.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../nn/ops.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

enum class rl_method { ldro, grpo, goalrank };
enum class scale_mode { group_std_floor, ema, group_std, pooled_slot_std, slot_std };

/// LDRO, group term: what slot t's return is centered by (docs/rl.md, "A prefix-conditioned
/// baseline"). r_t is slot t's weighted reward, R_t = sum_{t' >= t} gamma^(t' - t) r_t' its
/// reward-to-go, q_t(a | y_<t) the policy's masked slot-t distribution at the sampling temperature.
enum class slot_baseline {
    /// R_t minus the group mean of R_t (not conditioned on the slate's prefix y_<t)
    group_mean,
    /// (r_t - b_t) + (R_{t+1} - group mean of R_{t+1}), b_t = sum_a q_t(a | y_<t) r_t(y_<t, a): the
    /// expected immediate reward given the slate's own prefix (needs every candidate's predicted
    /// reward at slot t below that prefix: a causal scorer, slate_scorer::predict_candidates)
    prefix,
    /// (r_t - b_t) + (B_{t+1} - group mean of B_{t+1}), B_{t+1} = sum_{t' > t} gamma^(t' - t) b_t':
    /// the later slots' rewards replaced by their expectations given their prefixes (unbiased for
    /// the scorer's reward: r_t' - b_t' has mean 0 given y_<t', which contains y_t)
    prefix_expected,
};

struct rl_config {
    rl_method method = rl_method::ldro;
    int group = 16;          ///< G slates per request
    double clip_eps = 0.2;
    double beta = 0.02;      ///< KL to the reference (SKD anchor)
    double eta = 0.05;       ///< entropy bonus: not optional in practice (docs/design.md section 9)
    double sample_tau = 1.0; ///< sampling temperature; log-probs, ratios, entropy and KL use it too
    // LDRO switches (ablations)
    bool decouple_objectives = true;
    bool decouple_slots = true;
    /// omega_t = 1/log2(t + 2) on slot t's policy term. Off by default since issue #14's advantage
    /// measurement: it moved LDRO's gradient away from the true one (docs/rl.md).
    bool rank_decay = false;
    /// LDRO's scale (default: the slots' deviations pooled, docs/rl.md); the other modes ablate it.
    scale_mode scale = scale_mode::pooled_slot_std;
    double floor_const = 0.02;
    double floor_ema_frac = 0.25;
    double ema_decay = 0.99;
    /// LDRO, group term: slot t's return is sum_{t' >= t} rtg_discount^(t' - t) r_t' (1: the
    /// reward-to-go; 0: the slot's own reward).
    double rtg_discount = 1.0;
    /// LDRO, shown term: the same discount on the shown slate's residual return (real minus predicted).
    double shown_discount = 1.0;
    /// LDRO, group term: rescale each group's advantages to unit mean square over its slates and
    /// slots, the size GRPO's standardized, broadcast advantage has (on by default since issue #14's
    /// step-size screen, docs/rl.md: without it LDRO's policy term was about 0.6 of GRPO's against the
    /// same KL and entropy terms, less as the policy sharpened and the floor bound). The scale, the
    /// floor and the per-slot guard then set only the slots' relative sizes, not the step; every
    /// advantage is bounded by sqrt(G L).
    bool unit_mean_square = true;
    /// LDRO, group term, with unit_mean_square: divide by the root of a streaming EMA (ema_decay)
    /// of the groups' mean squares instead of each group's own, so the advantages have unit mean
    /// square over the stream, not in every group: a request whose slates differ more (in the
    /// scorer's utility) gets a larger step than one whose slates nearly tie, as in the plain
    /// policy gradient of the expected utility. Per-group standardization (GRPO's, and
    /// unit_mean_square alone) weighs every request alike, so near-ties, where the scorer's
    /// differences are mostly its own error, get a full-size step. A group is still bounded: its
    /// factor is at most stream_ms_cap times its own unit-mean-square factor.
    bool stream_mean_square = false;
    double stream_ms_cap = 4.0;
    /// LDRO and GRPO, group term: lambda in [0, 1] of the served slate's baseline. The baseline
    /// becomes (1 - lambda) * the group mean + lambda * the return of the policy's greedy slate
    /// (scored by the same scorer; at slot t its reward-to-go for LDRO, its page return for GRPO),
    /// the self-critical baseline of Rennie et al. (2017): a sampled slate is pushed up only where
    /// it beats the slate serving would show, so the update moves the greedy slate (what the
    /// table scores and serving shows) rather than sharpening the sampled policy around it.
    /// 0 (the default) is the group mean alone. Not with a prefix baseline; GoalRank ignores it.
    double greedy_baseline = 0.0;
    /// LDRO, group term: slot t's baseline (slot_baseline; group_mean before issue #14's baseline
    /// study). The prefix baselines need per-candidate predictions (online_trainer falls back to
    /// group_mean for a logged group or a scorer without them, and counts it).
    slot_baseline baseline = slot_baseline::group_mean;
    /// LDRO with a prefix baseline: the immediate term r_t - b_t in all-action form, the exact
    /// expectation over slot t's choice given the prefix, sum_a q_t(a) (r_t(a) - b_t) grad log q_t(a)
    /// (all_action_loss), instead of its one sampled action; the tail term stays sampled.
    bool all_action = false;
};

/// input_error unless every rl_config field is in range (group in [2, max_group]).
inline void validate(const rl_config& rc, const char* fn, int max_group = 1 << 12) {
    if (rc.group < 2 || rc.group > max_group)
        dualrerank::detail::throw_input(std::string(fn) + ": the group must hold 2 to " + std::to_string(max_group) +
                                        " slates, got " + std::to_string(rc.group));
    if (!(std::isfinite(rc.clip_eps) && rc.clip_eps >= 0) || !(std::isfinite(rc.beta) && rc.beta >= 0) ||
        !(std::isfinite(rc.eta) && rc.eta >= 0) || !(std::isfinite(rc.floor_const) && rc.floor_const >= 0) ||
        !(std::isfinite(rc.floor_ema_frac) && rc.floor_ema_frac >= 0) || !(rc.ema_decay >= 0 && rc.ema_decay <= 1) ||
        !(rc.rtg_discount >= 0 && rc.rtg_discount <= 1) || !(rc.shown_discount >= 0 && rc.shown_discount <= 1))
        dualrerank::detail::throw_input(std::string(fn) + ": clip_eps, beta, eta, floor_const, floor_ema_frac must be finite and "
                                        ">= 0, ema_decay, rtg_discount and shown_discount in [0, 1]");
    if (!(std::isfinite(rc.sample_tau) && rc.sample_tau > 0))
        dualrerank::detail::throw_input(std::string(fn) + ": sample_tau must be finite and > 0");
    if (rc.baseline != slot_baseline::group_mean && !rc.decouple_slots)
        dualrerank::detail::throw_input(std::string(fn) + ": a prefix baseline is per slot: it needs decouple_slots");
    if (!(rc.greedy_baseline >= 0 && rc.greedy_baseline <= 1))
        dualrerank::detail::throw_input(std::string(fn) + ": greedy_baseline must be in [0, 1]");
    if (rc.greedy_baseline > 0 && rc.baseline != slot_baseline::group_mean)
        dualrerank::detail::throw_input(std::string(fn) + ": greedy_baseline needs slot_baseline::group_mean");
    if (!(std::isfinite(rc.stream_ms_cap) && rc.stream_ms_cap > 0))
        dualrerank::detail::throw_input(std::string(fn) + ": stream_ms_cap must be finite and > 0");
    if (rc.all_action && rc.baseline == slot_baseline::group_mean)
        dualrerank::detail::throw_input(std::string(fn) + ": all_action needs a prefix baseline (slot_baseline::prefix or prefix_expected)");
}

/// Streaming state of the advantages: the EMAs behind the LDRO scale floor (group_advantages) and
/// the off-policy residual's running mean and covariance (shown_advantages).
struct rl_stream_state {
    std::vector<double> ema;      ///< [1] EMA of the combined page-return std (GRPO; LDRO without objective decoupling)
    std::vector<double> cov;      ///< [objectives x objectives] EMA covariance of the page returns (LDRO)
    std::vector<double> ema_off;  ///< [L x objectives^2] EMA covariance of the centered shown-slate residuals
    std::vector<double> off_mean; ///< [L x objectives] running mean of the residual (the evaluator's bias)
    double ms_ema = 0;            ///< EMA of the groups' advantage mean squares (rl_config::stream_mean_square)
    long updates = 0;
    long off_updates = 0;
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
/// log softmax(z / tau) over the candidates not in the prefix y[0..t) (the slot-t distribution of
/// a slate model, masked along the slate's prefix) into lq [n], -inf for the prefix's items; tmp:
/// n values (may not alias lq).
template <class T>
void masked_log_softmax(const T* z, int n, const int* y, int t, T inv_tau, T* tmp, T* lq) {
    for (int i = 0; i < n; ++i) tmp[i] = z[i] * inv_tau;
    for (int u = 0; u < t; ++u) tmp[y[u]] = -std::numeric_limits<T>::infinity();
    nn::log_softmax_row(tmp, n, lq);
}

inline double mean_std(const double* x, int G, double& sd) {
    double m = 0;
    for (int g = 0; g < G; ++g) m += x[g];
    m /= G;
    double v = 0;
    for (int g = 0; g < G; ++g) v += (x[g] - m) * (x[g] - m);
    sd = std::sqrt(v / G);
    return m;
}

/// One slate's weighted return from each slot on, out[t] = sum_{t' >= t} gamma^(t' - t) sum_k
/// w_k f[t'][k], for feedback f [L x O]; out[0] is the page return when gamma = 1.
inline void weighted_return_to_go(const double* f, int L, int O, const double* w, double gamma, double* out) {
    double acc = 0;
    for (int t = L - 1; t >= 0; --t) {
        double v = 0;
        for (int k = 0; k < O; ++k) v += w[k] * f[std::size_t(t) * O + k];
        acc = v + gamma * acc;
        out[t] = acc;
    }
}
/// The page-level scale; the streaming EMA is updated first (per request), then floored.
inline double floored_scale(const rl_config& c, double group_sd, double& ema, long updates) {
    ema = updates == 0 ? group_sd : c.ema_decay * ema + (1.0 - c.ema_decay) * group_sd;
    switch (c.scale) {
        case scale_mode::ema: return std::max(ema, c.floor_const);
        case scale_mode::group_std: return group_sd + 1e-6;
        case scale_mode::group_std_floor:
        default: return std::max(group_sd, c.floor_const + c.floor_ema_frac * ema);
    }
}
}  // namespace detail

/// Advantages A [G x L] from feedback c [G x L x O] and current objective weights w [O]; LDRO with
/// a prefix baseline (rl_config::baseline) also needs base [G x L x O], the expected immediate
/// feedback of each slot given its slate's prefix (prefix_baselines), per objective; otherwise base
/// may be null. slot_factor [L] (optional, LDRO): the factor each slot's unscaled deviation was
/// multiplied by (1 / its scale, then the unit-mean-square factor); with rl_config::all_action, A
/// holds only the tail term times it, and all_action_loss applies the same factor to the
/// immediate term (the scale itself is computed on the sampled form of both).
inline void group_advantages(const rl_config& c, const double* fb, const double* base, int G, int L, int O, const double* w,
                             rl_stream_state& st, double* A, double* slot_factor = nullptr, const double* greedy_fb = nullptr) {
    if (G < 2) dualrerank::detail::throw_input("group_advantages: need at least 2 slates per group");
    if (L < 1 || O < 1) dualrerank::detail::throw_input("group_advantages: need L >= 1 and at least one objective");
    const bool prefix = c.method == rl_method::ldro && c.baseline != slot_baseline::group_mean;
    if (prefix && !base) dualrerank::detail::throw_input("group_advantages: a prefix baseline needs the expected immediate feedback (base)");
    const double lam = c.method == rl_method::goalrank ? 0.0 : c.greedy_baseline;
    if (lam > 0 && !greedy_fb) dualrerank::detail::throw_input("group_advantages: greedy_baseline needs the greedy slate's feedback");
    if (lam > 0 && prefix) dualrerank::detail::throw_input("group_advantages: greedy_baseline needs slot_baseline::group_mean");
    std::vector<double> R(static_cast<std::size_t>(G)), tmp(static_cast<std::size_t>(G));
    auto cfb = [&](int g, int t, int k) { return fb[(std::size_t(g) * L + t) * O + k]; };
    if (c.method != rl_method::ldro) {  // GRPO (and GoalRank's group statistics): page level
        for (int g = 0; g < G; ++g) {
            double r = 0;
            for (int t = 0; t < L; ++t)
                for (int k = 0; k < O; ++k) r += w[k] * cfb(g, t, k);
            R[g] = r;
        }
        double sd;
        const double m = detail::mean_std(R.data(), G, sd);
        if (st.ema.size() != 1) st.ema.assign(1, 0.0);
        st.ema[0] = st.updates == 0 ? sd : c.ema_decay * st.ema[0] + (1.0 - c.ema_decay) * sd;
        ++st.updates;
        double b = m;
        if (lam > 0) {
            std::vector<double> xg(static_cast<std::size_t>(L));
            detail::weighted_return_to_go(greedy_fb, L, O, w, 1.0, xg.data());
            b = (1.0 - lam) * m + lam * xg[0];
        }
        for (int g = 0; g < G; ++g)
            for (int t = 0; t < L; ++t) A[std::size_t(g) * L + t] = (R[g] - b) / (sd + 1e-6);
        return;
    }
    // LDRO. Objectives decoupled: the streaming statistics are kept per objective (the EMA of the
    // covariance of the objectives' page returns), and the current weights recombine them at every
    // request, so a weight change moves the scale at once: scale floor = sqrt(w^T C_ema w). The
    // deviations themselves stay in the reward's units (w_k times objective k's deviation): an
    // earlier version standardized each objective by its own group std first, which reweights the
    // objectives by 1/std_k and measurably hurt (docs/rl.md, design log).
    const std::size_t GL = std::size_t(G) * L;
    std::vector<double> rtg(GL * std::size_t(O));
    for (int g = 0; g < G; ++g)
        for (int k = 0; k < O; ++k) {
            double acc = 0;
            for (int t = L - 1; t >= 0; --t) {
                acc = cfb(g, t, k) + c.rtg_discount * acc;
                rtg[(std::size_t(g) * L + t) * O + k] = acc;
            }
        }
    std::vector<double> x(GL);  // combined reward-to-go with the current weights
    for (std::size_t i = 0; i < GL; ++i) {
        double v = 0;
        for (int k = 0; k < O; ++k) v += w[k] * rtg[i * O + k];
        x[i] = v;
    }
    for (int g = 0; g < G; ++g) R[g] = x[std::size_t(g) * L];
    double page_sd;
    detail::mean_std(R.data(), G, page_sd);
    double ema_sd;
    const double d = st.updates == 0 ? 0.0 : c.ema_decay;
    if (c.decouple_objectives) {
        if (int(st.cov.size()) != O * O) st.cov.assign(std::size_t(O) * O, 0.0);
        std::vector<double> m(static_cast<std::size_t>(O), 0.0);
        for (int g = 0; g < G; ++g)
            for (int k = 0; k < O; ++k) m[std::size_t(k)] += rtg[std::size_t(g) * L * O + k] / G;
        double q = 0;
        for (int k = 0; k < O; ++k)
            for (int l = 0; l < O; ++l) {
                double cv = 0;
                for (int g = 0; g < G; ++g)
                    cv += (rtg[std::size_t(g) * L * O + k] - m[std::size_t(k)]) * (rtg[std::size_t(g) * L * O + l] - m[std::size_t(l)]);
                double& e = st.cov[std::size_t(k) * O + l];
                e = d * e + (1.0 - d) * cv / G;
                q += w[k] * w[l] * e;
            }
        ema_sd = std::sqrt(std::max(q, 0.0));
    } else {
        if (st.ema.size() != 1) st.ema.assign(1, 0.0);
        st.ema[0] = d * st.ema[0] + (1.0 - d) * page_sd;
        ema_sd = st.ema[0];
    }
    // the unscaled deviations dev [G x L] and each slot's spread (std, or root mean square for the
    // prefix baselines, whose deviations need not sum to 0 over the group)
    std::vector<double> dev(GL), tail(GL), slot_spread(static_cast<std::size_t>(L));
    if (prefix) {
        // tail [g][t]: R_{t+1} (prefix) or B_{t+1} (prefix_expected), weighted, discounted
        for (int g = 0; g < G; ++g) {
            double acc = 0;
            for (int t = L - 1; t >= 0; --t) {
                tail[std::size_t(g) * L + t] = c.rtg_discount * acc;
                double v = 0;
                for (int k = 0; k < O; ++k)
                    v += w[k] * (c.baseline == slot_baseline::prefix ? cfb(g, t, k) : base[(std::size_t(g) * L + t) * O + k]);
                acc = v + c.rtg_discount * acc;
            }
        }
        for (int t = 0; t < L; ++t) {
            double mt = 0;
            for (int g = 0; g < G; ++g) mt += tail[std::size_t(g) * L + t] / G;
            double ss = 0;
            for (int g = 0; g < G; ++g) {
                double imm = 0;
                for (int k = 0; k < O; ++k) imm += w[k] * (cfb(g, t, k) - base[(std::size_t(g) * L + t) * O + k]);
                double& tc = tail[std::size_t(g) * L + t];
                tc -= mt;
                const double dv = imm + tc;
                dev[std::size_t(g) * L + t] = dv;
                ss += dv * dv;
            }
            slot_spread[std::size_t(t)] = std::sqrt(ss / G);
        }
    } else {
        std::vector<double> xg;  // the greedy slate's weighted return from slot t on
        if (lam > 0) {
            xg.resize(std::size_t(L));
            detail::weighted_return_to_go(greedy_fb, L, O, w, c.rtg_discount, xg.data());
        }
        for (int t = 0; t < L; ++t) {
            for (int g = 0; g < G; ++g) tmp[g] = c.decouple_slots ? x[std::size_t(g) * L + t] : R[g];
            double slot_sd;
            const double mt = detail::mean_std(tmp.data(), G, slot_sd);
            const double bt = lam > 0 ? (1.0 - lam) * mt + lam * (c.decouple_slots ? xg[std::size_t(t)] : xg[0]) : mt;
            double ss = 0;
            for (int g = 0; g < G; ++g) {
                const double dv = tmp[g] - bt;
                dev[std::size_t(g) * L + t] = dv;
                ss += dv * dv;
            }
            // the spread around the baseline: the std for the group mean, the root mean square otherwise
            slot_spread[std::size_t(t)] = lam > 0 ? std::sqrt(ss / G) : slot_sd;
        }
    }
    double page_scale;
    switch (c.scale) {
        case scale_mode::ema: page_scale = std::max(ema_sd, c.floor_const); break;
        case scale_mode::group_std: page_scale = page_sd + 1e-6; break;
        case scale_mode::pooled_slot_std: {  // the slots' deviations pooled: sqrt(mean_t var_t), floored
            double v = 0;
            for (int t = 0; t < L; ++t) v += slot_spread[std::size_t(t)] * slot_spread[std::size_t(t)] / L;
            page_scale = std::max(std::sqrt(v), c.floor_const + c.floor_ema_frac * ema_sd);
            break;
        }
        case scale_mode::slot_std:  // each slot standardized by its own spread (below), floored
            page_scale = c.floor_const + c.floor_ema_frac * ema_sd;
            break;
        case scale_mode::group_std_floor:
        default: page_scale = std::max(page_sd, c.floor_const + c.floor_ema_frac * ema_sd);
    }
    std::vector<double> factor(static_cast<std::size_t>(L));
    for (int t = 0; t < L; ++t) {
        // per-slot guard: never divide a slot's deviations by less than their own spread
        const double scale = std::max(page_scale, slot_spread[std::size_t(t)]);
        factor[std::size_t(t)] = 1.0 / scale;
        for (int g = 0; g < G; ++g) A[std::size_t(g) * L + t] = dev[std::size_t(g) * L + t] / scale;
    }
    if (c.unit_mean_square) {
        double ms = 0;
        for (std::size_t i = 0; i < GL; ++i) ms += A[i] * A[i];
        ms /= double(GL);
        double div = std::sqrt(ms);
        if (c.stream_mean_square) {  // the group's size in reward units relative to the stream's
            double raw = 0;
            for (std::size_t i = 0; i < GL; ++i) raw += dev[i] * dev[i];
            raw /= double(GL);
            st.ms_ema = st.updates == 0 ? raw : c.ema_decay * st.ms_ema + (1.0 - c.ema_decay) * raw;
            if (st.ms_ema > 1e-12) div /= std::min(std::sqrt(raw / st.ms_ema), c.stream_ms_cap);
        }
        if (ms > 1e-12) {
            for (std::size_t i = 0; i < GL; ++i) A[i] /= div;
            for (double& f : factor) f /= div;
        }
    }
    if (prefix && c.all_action)  // the immediate term goes through all_action_loss
        for (int g = 0; g < G; ++g)
            for (int t = 0; t < L; ++t) A[std::size_t(g) * L + t] = tail[std::size_t(g) * L + t] * factor[std::size_t(t)];
    if (slot_factor) std::copy(factor.begin(), factor.end(), slot_factor);
    ++st.updates;
}

/// group_advantages without a prefix baseline (rl_config::baseline must be group_mean for LDRO).
inline void group_advantages(const rl_config& c, const double* fb, int G, int L, int O, const double* w, rl_stream_state& st,
                             double* A) {
    group_advantages(c, fb, nullptr, G, L, O, w, st, A);
}

/// The prefix-conditioned expected immediate feedback (slot_baseline::prefix, prefix_expected):
/// base [G x L x O], base[g][t][k] = sum_a q_t(a | y_g,<t) cand[g][t][a][k], with q_t =
/// softmax(Z_t / tau) masked along slate g's prefix and cand [G x L x n x O] every candidate's
/// predicted feedback at slot t below slate g's prefix (slate_scorer::predict_candidates; the
/// prefix's own entries are ignored). Z: [L x n] logits (ld). scratch: 2n values.
template <class T>
void prefix_baselines(const T* Z, int L, int n, int ld, const int* slates, int G, const double* cand, int O, double tau, double* base,
                      T* scratch) {
    using std::exp;
    const T ninf = -std::numeric_limits<T>::infinity();
    const T inv_tau = T(1.0 / tau);
    T* tmp = scratch;
    T* lq = scratch + n;
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            detail::masked_log_softmax(z, n, y, t, inv_tau, tmp, lq);
            double* b = base + (std::size_t(g) * L + t) * O;
            for (int k = 0; k < O; ++k) b[k] = 0;
            const double* cg = cand + (std::size_t(g) * L + t) * std::size_t(n) * O;
            for (int i = 0; i < n; ++i) {
                if (lq[i] == ninf) continue;
                const double q = double(exp(lq[i]));
                for (int k = 0; k < O; ++k) b[k] += q * cg[std::size_t(i) * O + k];
            }
        }
    }
}

/// Off-policy advantages A [L] of ONE shown slate from its real feedback fb [L x O] and the
/// evaluator's prediction for it pred [L x O] (the baseline, docs/design.md section 10.5): per
/// objective and slot the residual reward-to-go (real minus predicted) minus its running mean (a
/// biased evaluator would otherwise push every shown slate down, or up), combined with the
/// current weights w [O] and divided by a streaming scale: sqrt(w^T C w) with C the EMA covariance
/// of the objectives' centered residuals at that slot (LDRO; floored by floor_const), or the EMA
/// of the combined residual's square when objectives are not decoupled. With
/// scale_mode::pooled_slot_std the slots share one scale (the root of the mean over slots of those
/// variances), each slot still guarded by its own spread: a slot whose residual barely varies (a
/// rarely examined bottom slot) is no longer blown up to unit size. GRPO and GoalRank: one
/// page-level residual broadcast to every slot.
inline void shown_advantages(const rl_config& c, const double* fb, const double* pred, int L, int O, const double* w,
                             rl_stream_state& st, double* A) {
    if (L < 1 || O < 1) dualrerank::detail::throw_input("shown_advantages: need L >= 1 and at least one objective");
    const bool ldro = c.method == rl_method::ldro;
    const bool dec_obj = ldro && c.decouple_objectives;
    const int nslot = ldro && c.decouple_slots ? L : 1;
    const int nobj = dec_obj ? O : 1;
    if (st.off_mean.size() != std::size_t(nslot) * O || st.ema_off.size() != std::size_t(nslot) * nobj * nobj) {
        st.off_mean.assign(std::size_t(nslot) * O, 0.0);
        st.ema_off.assign(std::size_t(nslot) * nobj * nobj, 0.0);
    }
    const double d = st.off_updates == 0 ? 0.0 : c.ema_decay;
    std::vector<double> res(std::size_t(L) * O), cen(static_cast<std::size_t>(O));
    for (int k = 0; k < O; ++k) {
        double acc = 0;
        for (int t = L - 1; t >= 0; --t) {
            acc = fb[std::size_t(t) * O + k] - pred[std::size_t(t) * O + k] + (ldro ? c.shown_discount : 1.0) * acc;
            res[std::size_t(t) * O + k] = acc;
        }
    }
    // pooled_slot_std (LDRO, slots decoupled): one scale for the slots, sqrt of the mean over slots
    // of the residual variance (EMA, recombined with the current weights), each slot still guarded
    // by its own spread; otherwise each slot is standardized on its own
    const bool pooled = ldro && c.decouple_slots && c.scale == scale_mode::pooled_slot_std;
    std::vector<double> comb(static_cast<std::size_t>(nslot)), sd(static_cast<std::size_t>(nslot));
    for (int u = 0; u < nslot; ++u) {  // the cells: each slot, or the page (slot 0) broadcast below
        const bool update = true;
        double combined = 0;
        for (int k = 0; k < O; ++k) {
            double& m = st.off_mean[std::size_t(u) * O + k];
            cen[std::size_t(k)] = res[std::size_t(u) * O + k] - m;  // minus the evaluator's running bias
            combined += w[k] * cen[std::size_t(k)];
        }
        double var = 0;
        double* C = st.ema_off.data() + std::size_t(u) * nobj * nobj;
        if (dec_obj) {  // per-objective residual covariance, recombined with the current weights
            for (int k = 0; k < O; ++k)
                for (int l = 0; l < O; ++l) {
                    if (update) C[std::size_t(k) * O + l] = d * C[std::size_t(k) * O + l] + (1.0 - d) * cen[std::size_t(k)] * cen[std::size_t(l)];
                    var += w[k] * w[l] * C[std::size_t(k) * O + l];
                }
        } else {
            if (update) C[0] = d * C[0] + (1.0 - d) * combined * combined;
            var = C[0];
        }
        comb[std::size_t(u)] = combined;
        sd[std::size_t(u)] = std::sqrt(std::max(var, 0.0));
        if (update)
            for (int k = 0; k < O; ++k) {
                double& m = st.off_mean[std::size_t(u) * O + k];
                m = d * m + (1.0 - d) * res[std::size_t(u) * O + k];
            }
    }
    double pool = 0;
    for (int u = 0; u < nslot; ++u) pool += sd[std::size_t(u)] * sd[std::size_t(u)] / nslot;
    pool = std::sqrt(pool);
    for (int u = 0; u < nslot; ++u)
        A[u] = comb[std::size_t(u)] / std::max(pooled ? std::max(pool, sd[std::size_t(u)]) : sd[std::size_t(u)], std::max(c.floor_const, 1e-6));
    for (int t = 1; t < L && nslot == 1; ++t) A[t] = A[0];
    ++st.off_updates;
}

/// GoalRank's group-relative reference policy: p [G] = softmax_g((r_g - mean) / std) over the
/// group's rewards r [G] (std floored at 1e-6: a tied group gives the uniform distribution).
inline void goalrank_reference(const double* r, int G, double* p) {
    if (G < 1) dualrerank::detail::throw_input("goalrank_reference: need at least one slate");
    double sd;
    const double m = detail::mean_std(r, G, sd);
    sd = std::max(sd, 1e-6);
    double mx = -std::numeric_limits<double>::infinity();
    for (int g = 0; g < G; ++g) mx = std::max(mx, (r[g] - m) / sd);
    double s = 0;
    for (int g = 0; g < G; ++g) s += (p[g] = std::exp((r[g] - m) / sd - mx));
    for (int g = 0; g < G; ++g) p[g] /= s;
}

struct rl_stats {
    double policy = 0, entropy = 0, kl = 0, clip_frac = 0;
};

/// The RL loss of one request. Z, Zref: [L x n] student and reference logits (ld); slates [G x L];
/// old_lp [G x L] per-slot log-probs of the SAMPLING policy at c.sample_tau; A [G x L]; omega [L].
/// Every distribution is taken at c.sample_tau (log q = log softmax(Z / tau)). The gradient (times
/// scale) is added to dZ [L x n]. scratch: 3n values. Returns the loss (unscaled).
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
    const T inv_tau = T(1.0 / c.sample_tau);
    const T invG = T(1) / T(G);
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            T* dz = dZ + std::size_t(t) * ld;
            detail::masked_log_softmax(z, n, y, t, inv_tau, tmp, lq);
            const T* zr = Zref + std::size_t(t) * ld;
            for (int i = 0; i < n; ++i) tmp[i] = lq[i] == ninf ? ninf : zr[i] * inv_tau;
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
            // gradients w.r.t. z_t = tau * (gradients w.r.t. z_t / tau)
            const T s = scale * invG * inv_tau;
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

/// LDRO's immediate term in all-action form (rl_config::all_action): for every slate g and slot t,
/// the exact expectation over slot t's choice given slate g's prefix of the sampled immediate term
/// (r_t(a) - b_gt) grad log q_t(a), with r_t(a) = sum_k w_k cand[g][t][a][k] (cand as in
/// prefix_baselines, w [O] the current weights) and b_gt = sum_k w_k base[g][t][k] held fixed:
///   loss = -(1/G) sum_g sum_t omega_t f_t sum_a q_t(a) (r_t(a) - b_gt),   f = slot_factor [L]
/// (group_advantages' per-slot factor, so this term and the tail term in A keep the sampled form's
/// relative sizes). d loss / d z_ti = -(1/G) omega_t f_t q_t(i) (r_t(i) - sum_a q_t(a) r_t(a)) / tau.
/// The group was sampled by the parameters being trained (ratio 1), so there is no clip. The
/// gradient (times scale) is added to dZ [L x n]. scratch: 2n values. Returns the loss (unscaled).
template <class T>
T all_action_loss(const T* Z, int L, int n, int ld, const int* slates, int G, const double* cand, const double* base, int O,
                  const double* w, const double* slot_factor, const double* omega, double tau, T scale, T* dZ, T* scratch) {
    using std::exp;
    const T ninf = -std::numeric_limits<T>::infinity();
    const T inv_tau = T(1.0 / tau);
    T* tmp = scratch;
    T* lq = scratch + n;
    double total = 0;
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            T* dz = dZ + std::size_t(t) * ld;
            detail::masked_log_softmax(z, n, y, t, inv_tau, tmp, lq);
            const double* cg = cand + (std::size_t(g) * L + t) * std::size_t(n) * O;
            double b = 0;
            for (int k = 0; k < O; ++k) b += w[k] * base[(std::size_t(g) * L + t) * O + k];
            double er = 0;  // sum_a q(a) r(a)
            for (int i = 0; i < n; ++i) {
                if (lq[i] == ninf) continue;
                double r = 0;
                for (int k = 0; k < O; ++k) r += w[k] * cg[std::size_t(i) * O + k];
                er += double(exp(lq[i])) * r;
            }
            const double f = omega[t] * slot_factor[t];
            total -= f * (er - b) / G;
            const double s = double(scale) * f / G / tau;
            for (int i = 0; i < n; ++i) {
                if (lq[i] == ninf) continue;
                double r = 0;
                for (int k = 0; k < O; ++k) r += w[k] * cg[std::size_t(i) * O + k];
                dz[i] -= T(s * double(exp(lq[i])) * (r - er));
            }
        }
    }
    return T(total);
}

/// GoalRank's cross-entropy to the reference p [G] over the group's slates [G x L]:
/// -sum_g p_g sum_t log q_t(y_gt), q_t = softmax(Z_t / tau) masked along the prefix. The gradient
/// (times scale) is added to dZ [L x n]. scratch: 2n values. Returns the loss (unscaled).
template <class T>
T goalrank_loss(const T* Z, int L, int n, int ld, const int* slates, const double* p, int G, double tau, T scale, T* dZ,
                T* scratch) {
    using std::exp;
    const T ninf = -std::numeric_limits<T>::infinity();
    T* lq = scratch;
    T* tmp = scratch + n;
    const T inv_tau = T(1.0 / tau);
    T total = 0;
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        const T pg = T(p[g]);
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            T* dz = dZ + std::size_t(t) * ld;
            detail::masked_log_softmax(z, n, y, t, inv_tau, tmp, lq);
            total -= pg * lq[y[t]];
            const T s = scale * pg * inv_tau;
            for (int i = 0; i < n; ++i)
                if (lq[i] > ninf) dz[i] += s * exp(lq[i]);
            dz[y[t]] -= s;
        }
    }
    return total;
}

/// Per-slot log-probs [G x L] of slates under logits Z at temperature tau (log softmax(Z / tau)
/// masked along the prefix). Used for the sampling policy's propensities: call it on the logits
/// of the policy that sampled the slates. scratch: 2n values.
template <class T>
void slot_log_probs(const T* Z, int L, int n, int ld, const int* slates, int G, T* out, T* scratch, double tau = 1.0) {
    const T inv_tau = T(1.0 / tau);
    for (int g = 0; g < G; ++g) {
        const int* y = slates + std::size_t(g) * L;
        for (int t = 0; t < L; ++t) {
            const T* z = Z + std::size_t(t) * ld;
            detail::masked_log_softmax(z, n, y, t, inv_tau, scratch, scratch + n);
            out[std::size_t(g) * L + t] = scratch[n + y[t]];
        }
    }
}

}  // namespace train
DUALRERANK_NAMESPACE_END
