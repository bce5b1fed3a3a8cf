// The streaming RL loop of the student against the built-in world (or any source of per-slot
// feedback): per request, sample a group of G slates from the student (one forward pass, the
// vectorized Gumbel-Max sampler), collect per-slot feedback for each, compute LDRO or GRPO
// advantages with the stream's CURRENT objective weights, and take the clipped policy-gradient
// step with the entropy bonus and the KL to the anchor (the SKD student).
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "stream.hpp"
#include "../decode/gumbel.hpp"
#include "../train/rl.hpp"
#include "../train/trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

struct rl_run_config {
    rl_config rl;
    long requests = 30000;        ///< requests drawn from the stream
    int requests_per_step = 4;    ///< requests (groups) per optimizer step
    bool expected_feedback = false; ///< reward mode: closed-form expected feedback (noise-free) vs sampled
    std::uint64_t seed = 1;
    adamw_config optimizer = [] {
        adamw_config o;
        o.lr = 1e-4;  // DESIGN.md says 3e-3; on a strong SKD start that destroys the policy (see docs/rl.md)
        o.warmup_steps = 0;
        o.weight_decay = 0.0;
        o.clip_norm = 1.0;
        return o;
    }();
    /// Polyak averaging: > 0 makes the policy run_rl returns the exponential moving average of
    /// its parameters over the optimizer steps (weight `polyak` on the past, bias-corrected), which
    /// smooths the step-to-step noise of sampled feedback; training itself uses the raw
    /// parameters. 0 (the default): the policy is the last iterate. Must be in [0, 1).
    double polyak = 0.0;
    int log_every = 0;            ///< progress every k steps (0: never)
    std::FILE* log = stderr;
};

struct rl_progress {
    long requests = 0;
    double mean_reward = 0;  ///< running mean of the weighted page reward of the sampled slates
    rl_stats stats;
};

/// Runs `cfg.requests` requests of the stream. `on_step(progress)` is called after every
/// optimizer step (e.g. to evaluate every k requests). The anchor is frozen.
template <class T>
void run_rl(nar_student<T>& policy, const nar_student<T>& anchor, stream& s, const rl_run_config& cfg,
            const std::function<void(const rl_progress&)>& on_step = {}) {
    const int L = s.simulator().slate_size();
    const int G = cfg.rl.group;
    if (G < 2 || G > limits::max_samples)
        dualrerank::detail::throw_input("run_rl: the group must hold 2 to " + std::to_string(limits::max_samples) +
                                        " slates, got " + std::to_string(G));
    // requests_per_step = 0 used to divide by zero (SIGFPE) below
    if (cfg.requests < 0 || cfg.requests_per_step < 1 || cfg.requests_per_step > (1 << 16))
        dualrerank::detail::throw_input("run_rl: requests must be >= 0 and requests_per_step in [1, 65536]");
    const rl_config& rc = cfg.rl;
    if (!(std::isfinite(rc.clip_eps) && rc.clip_eps >= 0) || !(std::isfinite(rc.beta) && rc.beta >= 0) ||
        !(std::isfinite(rc.eta) && rc.eta >= 0) || !(std::isfinite(rc.floor_const) && rc.floor_const >= 0) ||
        !(std::isfinite(rc.floor_ema_frac) && rc.floor_ema_frac >= 0) || !(rc.ema_decay >= 0 && rc.ema_decay <= 1))
        dualrerank::detail::throw_input("run_rl: clip_eps, beta, eta, floor_const, floor_ema_frac must be finite and "
                                        ">= 0, ema_decay in [0, 1]");
    if (!(std::isfinite(rc.sample_tau) && rc.sample_tau > 0))
        dualrerank::detail::throw_input("run_rl: sample_tau must be finite and > 0");
    if (!(cfg.polyak >= 0 && cfg.polyak < 1))
        dualrerank::detail::throw_input("run_rl: polyak must be in [0, 1)");
    trainer_config tc;
    tc.optimizer = cfg.optimizer;
    tc.batch_size = cfg.requests_per_step;
    tc.seed = cfg.seed;
    tc.log_every = 0;
    trainer<nar_student<T>> tr(policy, tc);
    rl_stream_state st;
    std::vector<double> omega(static_cast<std::size_t>(L));
    slot_weights(cfg.rl, L, omega.data());
    std::vector<int> slates(std::size_t(G) * L);
    std::vector<T> old_lp(std::size_t(G) * L);
    std::vector<double> fb(std::size_t(G) * L * 2), A(std::size_t(G) * L);
    std::vector<request<T>> batch(static_cast<std::size_t>(cfg.requests_per_step));
    const counter_key key = counter_key::from_seed(cfg.seed ^ 0xa5a5a5a5ULL);
    workspace aws;
    rl_progress prog;
    double reward_sum = 0;
    long reward_count = 0;
    const long steps = (cfg.requests + cfg.requests_per_step - 1) / cfg.requests_per_step;
    auto fn = [&](T* grads, workspace& ws) {
            double loss = 0;
            for (int q = 0; q < cfg.requests_per_step; ++q) {
                const sim_request& r = s.next();
                request<T>& req = batch[q];
                req.n = r.observed.n;
                req.f = r.observed.f;
                req.features.assign(r.observed.features.begin(), r.observed.features.end());
                req.context.assign(r.observed.context.begin(), r.observed.context.end());
                req.upstream_rank = r.observed.upstream_rank;
                auto v = req.view();
                const int n = req.n;
                auto c = policy.forward(&v, 1, L, ws);
                const std::uint32_t base = std::uint32_t(std::uint64_t(s.step()) * std::uint64_t(G) * L * n);
                decode::sample_slates(c.Z, L, n, n, cfg.rl.sample_tau, key, base, G, slates.data(), static_cast<T*>(nullptr), ws);
                T* scratch = ws.alloc<T>(3 * std::size_t(n));
                slot_log_probs(c.Z, L, n, n, slates.data(), G, old_lp.data(), scratch);
                const conditions cond = s.current_conditions();
                for (int g = 0; g < G; ++g) {
                    slate y(slates.begin() + std::size_t(g) * L, slates.begin() + std::size_t(g + 1) * L);
                    const page_feedback f = cfg.expected_feedback ? s.expected_feedback(y) : s.feedback(y);
                    for (int t = 0; t < L; ++t) {
                        fb[(std::size_t(g) * L + t) * 2 + 0] = f.clicks[t];
                        fb[(std::size_t(g) * L + t) * 2 + 1] = f.long_views[t];
                    }
                    reward_sum += f.reward(cond.weights);
                    ++reward_count;
                }
                const double w[2] = {cond.weights.click, cond.weights.long_view};
                group_advantages(cfg.rl, fb.data(), G, L, 2, w, st, A.data());
                aws.reset();
                auto cref = anchor.forward(&v, 1, L, aws);
                T* dZ = ws.alloc_zero<T>(std::size_t(L) * n);
                loss += double(rl_loss(c.Z, cref.Z, L, n, n, slates.data(), old_lp.data(), A.data(), omega.data(), G, cfg.rl,
                                       T(1) / T(cfg.requests_per_step), dZ, scratch, &prog.stats));
                policy.backward(c, dZ, grads, ws);
                ++prog.requests;
            }
            return loss / cfg.requests_per_step;
    };
    const std::size_t np = policy.arena_size();
    std::vector<double> avg(cfg.polyak > 0 ? np : 0, 0.0);
    double avg_weight = 0;  // 1 - polyak^steps: the bias correction of the zero-started average
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < steps; ++i) {
        tr.step(fn);
        if (cfg.polyak > 0) {
            const T* p = policy.params();
            for (std::size_t j = 0; j < np; ++j) avg[j] = cfg.polyak * avg[j] + (1.0 - cfg.polyak) * double(p[j]);
            avg_weight = cfg.polyak * avg_weight + (1.0 - cfg.polyak);
        }
        prog.mean_reward = reward_count ? reward_sum / double(reward_count) : 0.0;
        if (on_step) on_step(prog);
        if (cfg.log && cfg.log_every > 0 && ((i + 1) % cfg.log_every == 0 || i + 1 == steps)) {
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::fprintf(cfg.log, "\r[%s] request %ld/%ld  reward %.4f  entropy %.3f  kl %.4f  %.0f req/s  ETA %.0fs   ",
                         cfg.rl.method == rl_method::ldro ? "ldro" : "grpo", prog.requests, steps * cfg.requests_per_step,
                         prog.mean_reward, prog.stats.entropy, prog.stats.kl, double(prog.requests) / std::max(secs, 1e-9),
                         secs / double(i + 1) * double(steps - i - 1));
            if (i + 1 == steps) std::fprintf(cfg.log, "\n");
            std::fflush(cfg.log);
        }
    }
    if (cfg.polyak > 0 && avg_weight > 0) {
        T* p = policy.params();
        for (std::size_t j = 0; j < np; ++j) p[j] = T(avg[j] / avg_weight);
    }
}

}  // namespace train
DUALRERANK_NAMESPACE_END
