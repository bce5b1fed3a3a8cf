// The built-in world as one feedback source behind the online RL API (train/online.hpp; docs/rl.md).
//
// run_rl drives a stream: per request, a serving thread's online_server samples from the published
// policy version, the world's simulated user answers, the answer reaches the feedback_joiner after
// a random delay (0..max_delay requests, so out of order) or never (drop_rate), and the
// online_trainer consumes the joined records and publishes new versions every publish_every steps.
// Two modes:
//  * rl_feedback::realistic: one shown slate per request, one user; the group is model-based
//    (G slates of the trainer's policy scored by a slate_scorer, e.g. an evaluator refreshed
//    online), plus the off-policy term on the shown slate (docs/design.md section 10.5);
//  * rl_feedback::user_group: the idealized simulation of earlier versions: G slates served per
//    request, each to its own simulated user (sampled, or the closed form with expected_feedback);
//    the logged group replaces the model-based one. Only a simulator can do this.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <queue>
#include <vector>

#include "stream.hpp"
#include "../decode/gumbel.hpp"
#include "../train/online.hpp"
#include "../train/rl.hpp"
#include "../train/trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

enum class rl_feedback { user_group, realistic };

struct rl_run_config {
    rl_config rl;
    rl_feedback mode = rl_feedback::user_group;
    long requests = 30000;        ///< requests drawn from the stream
    int requests_per_step = 4;    ///< records (requests) per optimizer step
    bool expected_feedback = false; ///< user_group: closed-form expected feedback (noise-free) vs sampled
    std::uint64_t seed = 1;
    adamw_config optimizer = [] {
        adamw_config o;
        o.lr = 1e-4;  // docs/design.md section 4 says 3e-3; on a strong SKD start that destroys the policy (see docs/rl.md)
        o.warmup_steps = 0;
        o.weight_decay = 0.0;
        o.clip_norm = 1.0;
        return o;
    }();
    /// Polyak averaging: > 0 makes the policy run_rl returns (and the versions it publishes) the
    /// bias-corrected exponential average of the parameters over the optimizer steps (weight
    /// `polyak` on the past); training itself uses the raw parameters. Must be in [0, 1).
    double polyak = 0.0;
    int publish_every = 1;        ///< optimizer steps between published versions (the serving lag)
    int max_delay = 0;            ///< feedback arrives 0..max_delay requests after serving (uniform)
    double drop_rate = 0.0;       ///< share of requests whose feedback never arrives
    double group_weight = 1.0;    ///< the group term (0: off)
    double shown_weight = 0.1;    ///< realistic mode: the off-policy term on the shown slate (0: off; docs/rl.md: 0.5 cost alignment)
    long eval_every = 0;          ///< guard rail: held-out evaluation every k records (0: never)
    int holdout = 64;             ///< guard rail: held-out requests
    double publish_margin = 0.02; ///< guard rail: publish only while not worse than the anchor by more
    /// What run_rl hands back in `policy` (during on_step and at the end): false, the trainer's
    /// iterate (the Polyak average at the end); true, the version serving runs, i.e. the last one
    /// published (the guard rail held back the others).
    bool served_result = false;
    int log_every = 0;            ///< progress line every k optimizer steps (0: never)
    std::FILE* log = stderr;
};

struct rl_progress {
    long requests = 0;       ///< requests served so far
    long records = 0;        ///< records the trainer consumed
    double mean_reward = 0;  ///< running mean of the shown slates' weighted real reward
    rl_stats stats;          ///< the group term's last stats (entropy, KL)
    double clip_frac = 0;    ///< the clip fraction of the last ratio-weighted term (shown slate, or the logged group)
    std::uint64_t version = 0;  ///< the serving version
    long held_back = 0;      ///< publications the guard rail held back
    double eval_policy = 0, eval_anchor = 0;  ///< the guard rail's last held-out estimate
};

/// The world's closed form as a scorer: expected per-slot feedback (clicks, long views) of a
/// request of the stream under that step's conditions (a perfect evaluator; held-out ids at or
/// above `holdout_base` are scored under the conditions of step `now`).
template <class T>
class world_scorer : public slate_scorer<T> {
public:
    static constexpr std::uint64_t holdout_base = std::uint64_t(1) << 40;
    explicit world_scorer(const stream& s) : s_(&s) {}
    int objectives() const override { return 2; }
    void predict(const request_view<T>&, std::uint64_t id, int K, int L, const int* slates, double* out, workspace&) override {
        const conditions c = load(id);
        for (int k = 0; k < K; ++k) {
            const slate y(slates + std::size_t(k) * L, slates + std::size_t(k + 1) * L);
            const page_feedback f = s_->simulator().expected_feedback(r_, y, c);
            for (int t = 0; t < L; ++t) {
                out[(std::size_t(k) * L + t) * 2] = f.clicks[std::size_t(t)];
                out[(std::size_t(k) * L + t) * 2 + 1] = f.long_views[std::size_t(t)];
            }
        }
    }
    /// The closed form is causal: every candidate's expected per-slot feedback below each prefix
    /// (LDRO's prefix baselines), rounded to float as predict's values are.
    bool predict_candidates(const request_view<T>& rv, std::uint64_t id, int K, int L, const int* slates, double* out,
                            workspace&) override {
        conditions c = load(id);
        c.weights.click = 1.0;  // the utility of a prefix with these weights is its expected clicks
        c.weights.long_view = 0.0;
        const int n = rv.n;
        std::vector<int> y(static_cast<std::size_t>(L));
        for (int k = 0; k < K; ++k)
            for (int t = 0; t < L; ++t) {
                std::copy(slates + std::size_t(k) * L, slates + std::size_t(k) * L + t, y.begin());
                const double u0 = s_->simulator().utility_unchecked(r_, y.data(), t, c);
                for (int a = 0; a < n; ++a) {
                    y[std::size_t(t)] = a;
                    const double pc = s_->simulator().utility_unchecked(r_, y.data(), t + 1, c) - u0;
                    double* o = out + ((std::size_t(k) * L + t) * n + a) * 2;
                    o[0] = double(float(pc));
                    o[1] = double(float(pc * r_.long_view_prob[std::size_t(a)]));
                }
            }
        return true;
    }
    std::int64_t now = 0;

private:
    /// The request behind `id` into r_, and the conditions it is scored under.
    conditions load(std::uint64_t id) {
        const std::int64_t step = id >= holdout_base ? now : std::int64_t(id);
        if (id >= holdout_base) {  // a held-out request: another world index, today's drift
            s_->simulator().make_request(s_->first_request() + id, r_);
            s_->schedules().apply(now, r_);
        } else {
            s_->request_at(step, r_);
        }
        return s_->schedules().at(step);
    }
    const stream* s_;
    sim_request r_;
};

namespace detail {
inline void validate_run(const rl_run_config& cfg, int L) {
    validate(cfg.rl, "run_rl", limits::max_samples);
    // requests_per_step = 0 used to divide by zero (SIGFPE)
    if (cfg.requests < 0 || cfg.requests_per_step < 1 || cfg.requests_per_step > (1 << 16))
        dualrerank::detail::throw_input("run_rl: requests must be >= 0 and requests_per_step in [1, 65536]");
    if (!(cfg.polyak >= 0 && cfg.polyak < 1)) dualrerank::detail::throw_input("run_rl: polyak must be in [0, 1)");
    if (cfg.publish_every < 1 || cfg.max_delay < 0 || !(cfg.drop_rate >= 0 && cfg.drop_rate < 1) || cfg.eval_every < 0 ||
        cfg.holdout < 1 || !(cfg.publish_margin >= 0))
        dualrerank::detail::throw_input("run_rl: publish_every >= 1, max_delay >= 0, drop_rate in [0, 1), eval_every >= 0, "
                                        "holdout >= 1 and publish_margin >= 0 required");
    (void)L;
}
}  // namespace detail

/// Runs `cfg.requests` requests of the stream against `scorer` (realistic mode: the model-based
/// group's evaluator; user_group mode: used only by the guard rail). `policy` is updated in place
/// (the raw iterate after every step while on_step runs; the Polyak average at the end when
/// polyak > 0). The anchor is frozen.
template <class T>
void run_rl(nar_student<T>& policy, const nar_student<T>& anchor, stream& s, const rl_run_config& cfg, slate_scorer<T>& scorer,
            const std::function<void(const rl_progress&)>& on_step = {}) {
    const int L = s.simulator().slate_size();
    detail::validate_run(cfg, L);
    const bool ideal = cfg.mode == rl_feedback::user_group;
    online_config oc;
    oc.rl = cfg.rl;
    oc.objectives = {"click", "long_view"};
    oc.requests_per_step = cfg.requests_per_step;
    oc.publish_every = cfg.publish_every;
    oc.group_weight = cfg.group_weight;
    oc.shown_weight = ideal ? 0.0 : cfg.shown_weight;
    oc.polyak = cfg.polyak;
    oc.eval_every = cfg.eval_every;
    oc.publish_margin = cfg.publish_margin;
    oc.seed = cfg.seed;
    oc.optimizer = cfg.optimizer;
    oc.log_every = cfg.log_every;
    oc.log = cfg.log;
    policy_store<T> store(policy);
    online_trainer<T> trainer(policy, anchor, scorer, store, oc);
    if (cfg.eval_every > 0) {
        std::vector<typename online_trainer<T>::holdout> h(static_cast<std::size_t>(cfg.holdout));
        sim_request r;
        for (int i = 0; i < cfg.holdout; ++i) {
            h[std::size_t(i)].id = world_scorer<T>::holdout_base + std::uint64_t(i);
            s.simulator().make_request(s.first_request() + h[std::size_t(i)].id, r);
            h[std::size_t(i)].req = r.observed;
        }
        trainer.set_holdout(std::move(h));
    }
    online_server<T> server(store, cfg.rl.sample_tau, cfg.seed ^ 0x243F6A8885A308D3ULL);
    feedback_joiner<T> joiner(std::size_t(cfg.max_delay) + 1024);
    struct arrival {
        long at;
        std::uint64_t id;
        std::vector<double> fb;
        bool operator>(const arrival& o) const { return at > o.at; }
    };
    std::priority_queue<arrival, std::vector<arrival>, std::greater<arrival>> in_flight;
    struct logged_group {
        std::vector<int> slates;
        std::vector<T> lp;
        std::vector<double> fb;
    };
    std::unordered_map<std::uint64_t, logged_group> groups;
    rng delay_rng(cfg.seed * 0x9E3779B97F4A7C15ULL + 17);
    const int G = cfg.rl.group;
    rl_progress prog;
    trainer.on_step = [&](const online_progress& p) {
        prog.records = p.records;
        prog.mean_reward = p.shown_reward;
        prog.stats = p.group;
        prog.clip_frac = ideal ? p.group.clip_frac : p.shown.clip_frac;
        prog.version = p.published;
        prog.held_back = p.rejected;
        prog.eval_policy = p.eval_policy;
        prog.eval_anchor = p.eval_anchor;
        if (on_step) {
            policy = cfg.served_result ? store.current()->model : trainer.policy();
            on_step(prog);
        }
    };
    auto consume_ready = [&] {
        for (feedback_record<T>& rec : joiner.take_ready()) {
            if (ideal) {
                auto it = groups.find(rec.shown.request_id);
                rec.group = G;
                rec.group_slates = std::move(it->second.slates);
                rec.group_log_propensity = std::move(it->second.lp);
                rec.group_feedback = std::move(it->second.fb);
                groups.erase(it);
            }
            trainer.consume(std::move(rec));
        }
    };
    std::vector<int> gs;
    std::vector<T> glp;
    for (long i = 0; i < cfg.requests; ++i) {
        const sim_request& r = s.next();
        const std::uint64_t id = std::uint64_t(s.step());
        const conditions cond = s.current_conditions();
        trainer.set_weights({cond.weights.click, cond.weights.long_view});
        if (auto* ws = dynamic_cast<world_scorer<T>*>(&scorer)) ws->now = s.step();
        const auto v = r.observed.view();
        shown_slate<T> shown;
        std::vector<double> fb(std::size_t(L) * 2);
        auto fill = [&](const page_feedback& f, double* out) {
            for (int t = 0; t < L; ++t) {
                out[std::size_t(t) * 2] = f.clicks[std::size_t(t)];
                out[std::size_t(t) * 2 + 1] = f.long_views[std::size_t(t)];
            }
        };
        if (ideal) {  // G slates served by the current version, each to its own user
            logged_group lg;
            lg.slates.resize(std::size_t(G) * L);
            lg.lp.resize(std::size_t(G) * L);
            lg.fb.resize(std::size_t(G) * L * 2);
            shown.request_id = id;
            for (int g = 0; g < G; ++g) {
                shown.policy_version = server.serve(v, id * std::uint64_t(limits::max_samples) + std::uint64_t(g), L,
                                                    lg.slates.data() + std::size_t(g) * L, lg.lp.data() + std::size_t(g) * L);
                const slate y(lg.slates.begin() + std::size_t(g) * L, lg.slates.begin() + std::size_t(g + 1) * L);
                fill(cfg.expected_feedback ? s.expected_feedback(y) : s.feedback(y), lg.fb.data() + std::size_t(g) * L * 2);
            }
            shown.items.assign(lg.slates.begin(), lg.slates.begin() + L);
            shown.log_propensity.assign(lg.lp.begin(), lg.lp.begin() + L);
            std::copy(lg.fb.begin(), lg.fb.begin() + std::ptrdiff_t(L) * 2, fb.begin());
            groups.emplace(id, std::move(lg));
        } else {
            shown = server.serve(v, id, L);
            const slate y(shown.items.begin(), shown.items.end());
            fill(s.feedback(y), fb.data());
        }
        joiner.log_shown(r.observed, std::move(shown));
        if (cfg.drop_rate > 0 && delay_rng.uniform() < cfg.drop_rate) {
            groups.erase(id);  // the feedback never comes; the joiner expires the entry
        } else {
            const long d = cfg.max_delay > 0 ? long(delay_rng.below(std::uint64_t(cfg.max_delay) + 1)) : 0;
            in_flight.push(arrival{i + d, id, std::move(fb)});
        }
        while (!in_flight.empty() && in_flight.top().at <= i) {
            joiner.deliver(in_flight.top().id, in_flight.top().fb);
            in_flight.pop();
        }
        prog.requests = i + 1;
        consume_ready();
    }
    while (!in_flight.empty()) {
        joiner.deliver(in_flight.top().id, in_flight.top().fb);
        in_flight.pop();
    }
    consume_ready();
    trainer.flush();
    if (cfg.served_result) policy = store.current()->model;
    else trainer.averaged(policy);
}

/// run_rl in the user_group mode (G simulated users per request, no evaluator needed); the
/// guard rail, when on, evaluates with the world's closed form.
template <class T>
void run_rl(nar_student<T>& policy, const nar_student<T>& anchor, stream& s, const rl_run_config& cfg,
            const std::function<void(const rl_progress&)>& on_step = {}) {
    if (cfg.mode != rl_feedback::user_group)
        dualrerank::detail::throw_input("run_rl: the realistic mode needs a slate_scorer (an evaluator)");
    world_scorer<T> ws(s);
    run_rl(policy, anchor, s, cfg, ws, on_step);
}

}  // namespace train
DUALRERANK_NAMESPACE_END
