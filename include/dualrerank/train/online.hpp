// Online RL as a production stream runs it (docs/design.md section 10.5; docs/rl.md).
//
// One request, one user, one shown slate. The pieces, independent of any simulator:
//  * policy_store: the published policy versions. Serving threads take the current version with
//    std::atomic_load on a shared_ptr (no lock on the request path); the trainer publishes a new
//    immutable snapshot with std::atomic_store (an RCU-style swap: a thread that still holds the
//    old snapshot keeps using it until its request is done).
//  * online_server: one per serving thread. Samples the shown slate from the current version with
//    Gumbel-Max at temperature tau, under a noise key derived from (seed, 64-bit request id), and
//    logs the per-slot log-propensities and the version that sampled it.
//  * feedback_joiner: shown slates wait for their feedback, which arrives later, in any order, or
//    never (entries older than `max_pending` logged requests are dropped and counted).
//  * slate_scorer: per-slot, per-objective predictions for K slates of one request; a learned
//    evaluator (online_evaluator_scorer wraps model/evaluator.hpp's list_evaluator and refreshes it online
//    from the shown slates' feedback), or any other model that fills the same interface.
//  * online_trainer: consumes complete records (request, shown slate, propensities, feedback
//    [L x objectives]) and publishes new policy versions. Its loss has two terms, each ablatable:
//      group term: G slates sampled from the CURRENT policy and scored by the scorer (a
//        model-based group); LDRO / GRPO advantages on the predictions, or GoalRank's
//        cross-entropy to pi_ref(l | B) = softmax_B((r(l) - mean_B) / std_B);
//      shown term: the shown slate's real feedback minus the scorer's prediction for it
//        (per-slot reward-to-go residuals, train/rl.hpp shown_advantages), importance-weighted by
//        the logged propensity and clipped (the serving version lags the trainer, so rho != 1);
//    or, when a record carries a logged group of G slates with their own feedback (the world's
//    idealized mode: G users per request), that group replaces the model-based one.
//  * Guard rail: the trainer evaluates the policy every `eval_every` consumed records on held-out
//    requests (utility of the greedy slate estimated by the scorer under the current weights) and
//    publishes only while that is not below the anchor's by more than `publish_margin`.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"
#include "../core/rng.hpp"
#include "../core/workspace.hpp"
#include "../decode/greedy.hpp"
#include "../decode/gumbel.hpp"
#include "../model/evaluator.hpp"
#include "../model/nar_student.hpp"
#include "../model/page_evaluator.hpp"
#include "adamw.hpp"
#include "rl.hpp"
#include "trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

/// The Gumbel noise key of one request: a bijection of the 64-bit request id for a fixed seed, so
/// noise never repeats within a stream (counters restart at 0 under each key).
inline counter_key request_noise_key(std::uint64_t seed, std::uint64_t request_id) noexcept {
    return counter_key::from_seed(seed ^ (request_id * 0x9E3779B97F4A7C15ULL));
}

/// One published policy version (immutable once published).
template <class T>
struct policy_snapshot {
    std::uint64_t version = 0;
    nar_student<T> model;
};

/// The published policy versions: lock-free reads for serving threads, swaps by the trainer.
template <class T>
class policy_store {
public:
    explicit policy_store(const nar_student<T>& initial)
        : cur_(std::make_shared<const policy_snapshot<T>>(policy_snapshot<T>{0, initial})) {}

    /// The current version (serving threads; no lock besides the shared_ptr's atomic access).
    std::shared_ptr<const policy_snapshot<T>> current() const noexcept { return std::atomic_load(&cur_); }
    std::uint64_t version() const noexcept { return current()->version; }

    /// Publishes a copy of `m` as the next version; returns the version number.
    std::uint64_t publish(const nar_student<T>& m) {
        std::lock_guard<std::mutex> lock(publish_mu_);  // publishers only: versions stay consecutive
        const std::uint64_t v = std::atomic_load(&cur_)->version + 1;
        std::shared_ptr<const policy_snapshot<T>> next = std::make_shared<const policy_snapshot<T>>(policy_snapshot<T>{v, m});
        std::atomic_store(&cur_, std::move(next));
        return v;
    }

private:
    std::shared_ptr<const policy_snapshot<T>> cur_;
    std::mutex publish_mu_;
};

/// What serving logs for one request.
template <class T>
struct shown_slate {
    std::uint64_t request_id = 0;
    std::uint64_t policy_version = 0;
    std::vector<int> items;           ///< [L] the shown slate
    std::vector<T> log_propensity;    ///< [L] per-slot log-probs of the serving version at tau
};

/// One serving thread's sampler (owns its workspace; the store is shared).
template <class T>
class online_server {
public:
    online_server(const policy_store<T>& store, double tau, std::uint64_t seed) : store_(&store), tau_(tau), seed_(seed) {
        if (!(std::isfinite(tau) && tau > 0)) dualrerank::detail::throw_input("online_server: tau must be finite and > 0");
    }

    /// Samples the shown slate of request `request_id` into slate [L] and its per-slot
    /// log-propensities into log_propensity [L]; returns the version that sampled it. Allocates
    /// only while the largest N seen grows.
    std::uint64_t serve(const request_view<T>& r, std::uint64_t request_id, int L, int* slate, T* log_propensity) {
        const std::shared_ptr<const policy_snapshot<T>> snap = store_->current();
        const std::size_t zn = std::size_t(L) * std::size_t(std::max(r.n, 0));
        if (Z_.size() < zn) Z_.resize(zn);
        snap->model.logits(r, L, Z_.data(), ws_);  // validates r and L
        decode::sample_slates(Z_.data(), L, r.n, r.n, tau_, request_noise_key(seed_, request_id), 0u, 1, slate,
                              static_cast<T*>(nullptr), ws_);
        T* scratch = ws_.alloc<T>(2 * std::size_t(r.n));
        slot_log_probs(Z_.data(), L, r.n, r.n, slate, 1, log_propensity, scratch, tau_);
        return snap->version;
    }

    shown_slate<T> serve(const request_view<T>& r, std::uint64_t request_id, int L) {
        shown_slate<T> s;
        s.request_id = request_id;
        s.items.resize(std::size_t(std::max(L, 0)));
        s.log_propensity.resize(s.items.size());
        s.policy_version = serve(r, request_id, L, s.items.data(), s.log_propensity.data());
        return s;
    }

    double tau() const noexcept { return tau_; }

private:
    const policy_store<T>* store_;
    double tau_;
    std::uint64_t seed_;
    workspace ws_;
    std::vector<T> Z_;
};

/// A complete record for the trainer. `group_*` are optional: a logged group of G slates with
/// their own feedback (only a simulator can show G slates of one request to G users).
template <class T>
struct feedback_record {
    request<T> req;
    shown_slate<T> shown;
    std::vector<double> feedback;  ///< [L x objectives] real per-slot feedback of the shown slate
    int group = 0;
    std::vector<int> group_slates;          ///< [group x L]
    std::vector<T> group_log_propensity;    ///< [group x L]
    std::vector<double> group_feedback;     ///< [group x L x objectives]
};

/// Joins shown slates with feedback that arrives later, in any order, or never. Thread-safe.
template <class T>
class feedback_joiner {
public:
    /// `max_pending`: a shown slate still without feedback after this many later log_shown calls
    /// is dropped (its feedback never came).
    explicit feedback_joiner(std::size_t max_pending = 100000) : max_pending_(max_pending) {
        if (max_pending < 1) dualrerank::detail::throw_input("feedback_joiner: max_pending must be >= 1");
    }

    /// Logs a shown slate to wait for its feedback; input_error when its request id is still
    /// pending (the first entry is kept).
    void log_shown(request<T> req, shown_slate<T> shown) {
        const std::uint64_t id = shown.request_id;
        if (!try_log_shown(std::move(req), std::move(shown)))
            dualrerank::detail::throw_input("feedback_joiner: request id " + std::to_string(id) + " logged twice");
    }

    /// As log_shown, but false instead of an exception when the request id is still pending
    /// (nothing is logged; the first entry is kept): a server answers a duplicate id without
    /// matching error text.
    bool try_log_shown(request<T> req, shown_slate<T> shown) {
        std::lock_guard<std::mutex> lock(mu_);
        const std::uint64_t id = shown.request_id;
        entry e{std::move(req), std::move(shown), seq_};
        if (!pending_.emplace(id, std::move(e)).second) return false;
        order_.push_back({seq_++, id});
        expire();
        return true;
    }

    /// Feedback [L x objectives] for a logged request; false when the id is unknown (never logged,
    /// expired, or already joined). With `values_per_slot` > 0 the shape is checked against the
    /// shown slate where the feedback arrives (a network boundary): feedback.size() must be
    /// L x values_per_slot (L the shown slate's length), else input_error naming both, and the
    /// entry stays pending (a corrected delivery can still join it).
    bool deliver(std::uint64_t request_id, std::vector<double> feedback, std::size_t values_per_slot = 0) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = pending_.find(request_id);
        if (it == pending_.end()) {
            ++unmatched_;
            return false;
        }
        if (values_per_slot > 0) {
            const std::size_t L = it->second.shown.items.size();
            if (feedback.size() != L * values_per_slot)
                dualrerank::detail::throw_input("feedback_joiner: request id " + std::to_string(request_id) + " showed " +
                                                std::to_string(L) + " slots, so its feedback needs " + std::to_string(L) + " x " +
                                                std::to_string(values_per_slot) + " values, got " + std::to_string(feedback.size()));
        }
        feedback_record<T> r;
        r.req = std::move(it->second.req);
        r.shown = std::move(it->second.shown);
        r.feedback = std::move(feedback);
        pending_.erase(it);
        ready_.push_back(std::move(r));
        return true;
    }

    /// Moves the complete records out (in delivery order).
    std::vector<feedback_record<T>> take_ready() {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<feedback_record<T>> out;
        out.swap(ready_);
        return out;
    }

    std::size_t pending() const {
        std::lock_guard<std::mutex> lock(mu_);
        return pending_.size();
    }
    long dropped() const {
        std::lock_guard<std::mutex> lock(mu_);
        return dropped_;
    }
    long unmatched() const {
        std::lock_guard<std::mutex> lock(mu_);
        return unmatched_;
    }

private:
    struct entry {
        request<T> req;
        shown_slate<T> shown;
        std::uint64_t seq;
    };
    // Drops what was logged max_pending_ or more calls ago and is still pending: the log order
    // is a FIFO of (seq, id), so each call pops what fell out of the window, O(1) amortized (a scan
    // of the whole map per call made a server that logs faster than feedback arrives O(max_pending)
    // per request under the lock). Joined entries are popped without counting.
    void expire() {
        while (!order_.empty() && order_.front().seq + max_pending_ < seq_) {
            const auto it = pending_.find(order_.front().id);
            if (it != pending_.end() && it->second.seq == order_.front().seq) {
                pending_.erase(it);
                ++dropped_;
            }
            order_.pop_front();
        }
    }
    struct logged {
        std::uint64_t seq, id;
    };
    std::deque<logged> order_;  ///< [<= max_pending] the last max_pending log_shown calls
    mutable std::mutex mu_;
    std::unordered_map<std::uint64_t, entry> pending_;
    std::vector<feedback_record<T>> ready_;
    std::size_t max_pending_;
    std::uint64_t seq_ = 0;
    long dropped_ = 0, unmatched_ = 0;
};

/// Per-slot, per-objective predictions for slates of one request (the trainer's only user).
template <class T>
class slate_scorer {
public:
    virtual ~slate_scorer() = default;
    virtual int objectives() const = 0;
    /// out [K x L x objectives]: predicted per-slot feedback of each slate.
    virtual void predict(const request_view<T>& r, std::uint64_t request_id, int K, int L, const int* slates, double* out,
                         workspace& ws) = 0;
    /// A shown slate's real feedback, for online refresh (default: ignored).
    virtual void observe(const feedback_record<T>&) {}
    /// Per-slot predictions of every candidate below each slate's prefix (LDRO's prefix baselines,
    /// rl_config::baseline): out [K x L x n x objectives], out[k][t][a] = the predicted feedback of
    /// slot t if candidate a were placed there below slates[k][0..t). Only a causal scorer (a
    /// slot's prediction depends on the items above it, not below) can; the default returns false
    /// and leaves out untouched.
    virtual bool predict_candidates(const request_view<T>&, std::uint64_t, int, int, const int*, double*, workspace&) { return false; }
};

/// The list evaluator (model/evaluator.hpp) as a scorer: predictions sigmoid(e_{k,t,o}), one output
/// per objective. With refresh on, every observed record goes into a replay buffer of the last
/// `capacity` records and every `update_every` records one AdamW step of per-slot BCE is taken on a
/// batch drawn from it: the evaluator follows a reward shift from the shown slates alone.
template <class T>
class online_evaluator_scorer : public slate_scorer<T> {
public:
    struct config {
        bool refresh = true;
        std::size_t capacity = 4096;
        int update_every = 4;
        int batch = 16;
        /// the refresh's step size: 1e-4 (5e-4 until issue #14's screens, docs/rl.md: with an evaluator
        /// fitted well, 5e-4 degraded it and cost every method gain; 1e-4 still follows a drift)
        double lr = 1e-4;
        std::uint64_t seed = 7;
    };

    online_evaluator_scorer(const list_evaluator<T>& ev, config c) : ev_(std::make_unique<list_evaluator<T>>(ev)), cfg_(c) {
        if (c.capacity < 1 || c.update_every < 1 || c.batch < 1 || !(std::isfinite(c.lr) && c.lr > 0))
            dualrerank::detail::throw_input("online_evaluator_scorer: capacity, update_every, batch must be >= 1 and lr > 0");
        trainer_config tc;
        tc.batch_size = c.batch;
        tc.seed = c.seed;
        tc.optimizer.lr = c.lr;
        tc.optimizer.warmup_steps = 0;
        tc.optimizer.weight_decay = 0.0;
        tc.log_every = 0;
        tr_ = std::make_unique<trainer<list_evaluator<T>>>(*ev_, tc);
    }

    int objectives() const override { return ev_->config().outputs; }

    void predict(const request_view<T>& r, std::uint64_t, int K, int L, const int* slates, double* out, workspace& ws) override {
        const auto c = ev_->forward(r, K, L, slates, ws);
        const std::size_t cnt = std::size_t(K) * L * ev_->config().outputs;
        for (std::size_t i = 0; i < cnt; ++i) out[i] = 1.0 / (1.0 + std::exp(-double(c.E[i])));
    }

    void observe(const feedback_record<T>& rec) override {
        if (!cfg_.refresh) return;
        if (buf_.size() < cfg_.capacity) buf_.push_back(rec);
        else buf_[next_++ % cfg_.capacity] = rec;
        if (++seen_ % cfg_.update_every != 0) return;
        const int B = cfg_.batch;
        std::vector<T> labels;
        tr_->step([&](T* g, workspace& ws) {
            double loss = 0;
            for (int b = 0; b < B; ++b) {
                const feedback_record<T>& p = buf_[std::size_t(tr_->random().below(buf_.size()))];
                labels.assign(p.feedback.begin(), p.feedback.end());
                const double l = evaluator_bce_step(*ev_, p.req.view(), 1, int(p.shown.items.size()), p.shown.items.data(),
                                                    labels.data(), g, ws, T(1) / T(B));
                if (!std::isfinite(l)) return l;
                loss += l;
            }
            return loss / B;
        });
    }

    const list_evaluator<T>& evaluator() const noexcept { return *ev_; }
    long updates() const noexcept { return seen_ / cfg_.update_every; }

private:
    std::unique_ptr<list_evaluator<T>> ev_;
    config cfg_;
    std::unique_ptr<trainer<list_evaluator<T>>> tr_;
    std::vector<feedback_record<T>> buf_;
    std::size_t next_ = 0;
    long seen_ = 0;
};

/// The page evaluator (model/page_evaluator.hpp: examination per position times appeal, page
/// context terms; fitted on logs by train/evaluator_fit.hpp) as a scorer: predictions are its
/// per-slot P(click), P(objective o at the slot). With refresh on, observed records fill a replay
/// buffer and every `update_every` records one AdamW step of its page likelihood is taken on a
/// batch from it (the feedback labels [L x O] must satisfy objective o <= click, as the world's do).
template <class T>
class online_page_evaluator_scorer : public slate_scorer<T> {
public:
    using config = typename online_evaluator_scorer<T>::config;

    online_page_evaluator_scorer(const page_evaluator<T>& ev, config c) : ev_(std::make_unique<page_evaluator<T>>(ev)), cfg_(c) {
        if (c.capacity < 1 || c.update_every < 1 || c.batch < 1 || !(std::isfinite(c.lr) && c.lr > 0))
            dualrerank::detail::throw_input("online_page_evaluator_scorer: capacity, update_every, batch must be >= 1 and lr > 0");
        adamw_config oc;
        oc.lr = c.lr;
        oc.warmup_steps = 0;
        oc.weight_decay = 0.0;
        oc.clip_norm = 0;
        opt_ = std::make_unique<adamw<T>>(ev_->table(), oc);
        grads_.assign(ev_->arena_size(), T(0));
        gen_.seed(c.seed);
    }

    int objectives() const override { return ev_->config().objectives; }

    void predict(const request_view<T>& r, std::uint64_t, int K, int L, const int* slates, double* out, workspace& ws) override {
        const std::size_t cnt = std::size_t(K) * L * ev_->config().objectives;
        if (tmp_.size() < cnt) tmp_.resize(cnt);
        ev_->predict(r, K, L, slates, tmp_.data(), ws);
        for (std::size_t i = 0; i < cnt; ++i) out[i] = double(tmp_[i]);
    }

    /// The page evaluator is causal (a slot's prediction depends on the items above it only): every
    /// candidate's per-slot prediction below each prefix, P(click) = e_t sigmoid(appeal(prefix, a))
    /// and P(objective o) = P(click) sigmoid(objective logit of a), as predict gives for a slate
    /// with a at slot t. O(K L n (L + O)) after the per-request terms.
    bool predict_candidates(const request_view<T>& r, std::uint64_t, int K, int L, const int* slates, double* out,
                            workspace& ws) override {
        ws.reset();
        for (int k = 0; k < K; ++k) dualrerank::detail::validate_slate(slates + std::size_t(k) * L, L, r.n, "predict_candidates");
        const dualrerank::detail::page_terms<T> pt = ev_->terms(r, L, ws);
        const int O = ev_->config().objectives, n = r.n;
        for (int k = 0; k < K; ++k) {
            const int* y = slates + std::size_t(k) * L;
            for (int t = 0; t < L; ++t)
                for (int a = 0; a < n; ++a) {
                    const T p = pt.exam[t] * dualrerank::detail::stable_sigmoid(page_evaluator<T>::appeal(pt, y, t, a));
                    double* o = out + ((std::size_t(k) * L + t) * n + a) * O;
                    o[0] = double(p);
                    for (int j = 1; j < O; ++j)
                        o[j] = double(p * dualrerank::detail::stable_sigmoid(pt.base[std::size_t(j) * pt.n + a]));
                }
        }
        return true;
    }

    void observe(const feedback_record<T>& rec) override {
        if (!cfg_.refresh) return;
        if (buf_.size() < cfg_.capacity) buf_.push_back(rec);
        else buf_[next_++ % cfg_.capacity] = rec;
        if (++seen_ % cfg_.update_every != 0) return;
        std::fill(grads_.begin(), grads_.end(), T(0));
        const T scale = T(1) / T(cfg_.batch);
        for (int b = 0; b < cfg_.batch; ++b) {
            const feedback_record<T>& p = buf_[std::size_t(gen_.below(buf_.size()))];
            labels_.assign(p.feedback.begin(), p.feedback.end());
            ws_.reset();
            ev_->page_loss(p.req.view(), int(p.shown.items.size()), p.shown.items.data(), labels_.data(), grads_.data(), scale, ws_);
        }
        opt_->step(ev_->params(), grads_.data());
    }

    const page_evaluator<T>& evaluator() const noexcept { return *ev_; }

private:
    std::unique_ptr<page_evaluator<T>> ev_;
    config cfg_;
    std::unique_ptr<adamw<T>> opt_;
    aligned_vector<T> grads_;
    std::vector<T> tmp_;
    std::vector<float> labels_;
    std::vector<feedback_record<T>> buf_;
    std::size_t next_ = 0;
    long seen_ = 0;
    rng gen_;
    workspace ws_;
};

struct online_config {
    rl_config rl;
    std::vector<std::string> objectives = {"click", "long_view"};  ///< names; weights via set_weights
    int requests_per_step = 8;    ///< records per optimizer step
    int publish_every = 4;        ///< optimizer steps between publications (the serving lag)
    double group_weight = 1.0;    ///< the model-based group term (0: off)
    double shown_weight = 0.1;    ///< the off-policy term on the shown slate (0: off; docs/rl.md: 0.5 cost alignment)
    double polyak = 0.0;          ///< > 0: publish the bias-corrected EMA of the parameters
    long eval_every = 0;          ///< records between held-out evaluations (0: never)
    double publish_margin = 0.02; ///< publish only while eval >= anchor eval - margin (needs a held-out set)
    std::uint64_t seed = 1;
    adamw_config optimizer = [] {
        adamw_config o;
        o.lr = 1e-4;  // docs/rl.md: 3e-3 destroys a strong SKD start
        o.warmup_steps = 0;
        o.weight_decay = 0.0;
        o.clip_norm = 1.0;
        return o;
    }();
    int log_every = 0;            ///< progress line every k optimizer steps (0: never)
    std::FILE* log = stderr;
};

/// Running figures of the trainer (progress lines, tests, experiments).
struct online_progress {
    long records = 0;             ///< records consumed
    long steps = 0;               ///< optimizer steps
    std::uint64_t published = 0;  ///< last published version
    long rejected = 0;            ///< publications held back by the guard rail
    double shown_reward = 0;      ///< running mean of the shown slates' weighted real reward
    rl_stats group;               ///< last group term's stats
    rl_stats shown;               ///< last shown term's stats (its clip_frac is the live clip)
    double clip_frac_mean = 0;    ///< mean clip fraction of the shown term over the run
    double eval_policy = 0, eval_anchor = 0;  ///< last held-out evaluation (scorer's utility)
    long evals = 0;
    /// group terms that fell back to the group-mean baseline although rl_config::baseline asks for
    /// a prefix baseline (a logged group, or a scorer without predict_candidates)
    long baseline_fallbacks = 0;
};

/// The trainer side of online RL.
template <class T>
class online_trainer {
public:
    /// A held-out request for the guard rail (the scorer sees `id`).
    struct holdout {
        request<T> req;
        std::uint64_t id = 0;
    };

    online_trainer(const nar_student<T>& initial, const nar_student<T>& anchor, slate_scorer<T>& scorer, policy_store<T>& store,
                   online_config cfg)
        : policy_(std::make_unique<nar_student<T>>(initial)), anchor_(&anchor), scorer_(&scorer), store_(&store), cfg_(std::move(cfg)) {
        validate(cfg_.rl, "online_trainer", limits::max_samples);
        const int O = int(cfg_.objectives.size());
        if (O < 1) dualrerank::detail::throw_input("online_trainer: need at least one objective");
        if (scorer.objectives() != O)
            dualrerank::detail::throw_input("online_trainer: the scorer predicts " + std::to_string(scorer.objectives()) +
                                            " objectives, the config names " + std::to_string(O));
        if (cfg_.requests_per_step < 1 || cfg_.requests_per_step > (1 << 16) || cfg_.publish_every < 1)
            dualrerank::detail::throw_input("online_trainer: requests_per_step in [1, 65536] and publish_every >= 1");
        if (!(cfg_.group_weight >= 0 && std::isfinite(cfg_.group_weight)) || !(cfg_.shown_weight >= 0 && std::isfinite(cfg_.shown_weight)))
            dualrerank::detail::throw_input("online_trainer: group_weight and shown_weight must be finite and >= 0");
        if (!(cfg_.polyak >= 0 && cfg_.polyak < 1)) dualrerank::detail::throw_input("online_trainer: polyak must be in [0, 1)");
        if (cfg_.eval_every < 0 || !(cfg_.publish_margin >= 0))
            dualrerank::detail::throw_input("online_trainer: eval_every and publish_margin must be >= 0");
        weights_.assign(std::size_t(O), 1.0);
        trainer_config tc;
        tc.optimizer = cfg_.optimizer;
        tc.batch_size = cfg_.requests_per_step;
        tc.seed = cfg_.seed;
        tc.log_every = 0;
        tr_ = std::make_unique<trainer<nar_student<T>>>(*policy_, tc);
        if (cfg_.polyak > 0) avg_.assign(policy_->arena_size(), 0.0);
    }
    online_trainer(const online_trainer&) = delete;
    online_trainer& operator=(const online_trainer&) = delete;

    /// The current objective weights (named by cfg.objectives); take effect at the next step.
    void set_weights(const std::vector<double>& w) {
        if (w.size() != weights_.size())
            dualrerank::detail::throw_input("online_trainer::set_weights: expected " + std::to_string(weights_.size()) + " weights");
        weights_ = w;  // non-finite weights make the steps non-finite: skipped, then training_error
    }
    const std::vector<double>& weights() const noexcept { return weights_; }

    /// Held-out requests for the guard rail's evaluation.
    void set_holdout(std::vector<holdout> h) { holdout_ = std::move(h); }

    /// Consumes one complete record: the scorer observes it (online refresh), and every
    /// requests_per_step records one optimizer step is taken; every publish_every steps the
    /// policy is published (unless the guard rail holds it back).
    void consume(feedback_record<T> rec) {
        check_record(rec);
        double r = 0;
        const int L = int(rec.shown.items.size()), O = int(weights_.size());
        for (int t = 0; t < L; ++t)
            for (int k = 0; k < O; ++k) r += weights_[std::size_t(k)] * rec.feedback[std::size_t(t) * O + k];
        reward_sum_ += r;
        scorer_->observe(rec);
        batch_.push_back(std::move(rec));
        ++prog_.records;
        if (int(batch_.size()) >= cfg_.requests_per_step) step();
        // evaluate before publishing, so the guard rail judges the candidate about to be published
        if (cfg_.eval_every > 0 && prog_.records % cfg_.eval_every == 0) evaluate();
        if (publish_due_) {
            publish_due_ = false;
            publish();
        }
        if (stepped_) {
            stepped_ = false;
            report();
        }
    }

    /// Scorer-estimated mean utility of the greedy slates of `m` on the held-out requests under
    /// the current weights.
    double holdout_utility(const nar_student<T>& m) {
        if (holdout_.empty()) return 0.0;
        const int O = int(weights_.size());
        double sum = 0;
        for (const holdout& h : holdout_) {
            const auto v = h.req.view();
            const int L = m.config().max_slate;
            greedy_.resize(std::size_t(L));
            decode::greedy(m, v, L, greedy_.data(), ews_);
            pred_.resize(std::size_t(L) * O);
            ews_.reset();
            scorer_->predict(v, h.id, 1, L, greedy_.data(), pred_.data(), ews_);
            for (int t = 0; t < L; ++t)
                for (int k = 0; k < O; ++k) sum += weights_[std::size_t(k)] * pred_[std::size_t(t) * O + k];
        }
        return sum / double(holdout_.size());
    }

    /// Evaluates the policy and the anchor on the held-out set now (also called every eval_every records).
    void evaluate() {
        if (holdout_.empty()) return;
        prog_.eval_policy = holdout_utility(*policy_);
        prog_.eval_anchor = holdout_utility(*anchor_);
        ++prog_.evals;
        gate_open_ = prog_.eval_policy >= prog_.eval_anchor - cfg_.publish_margin;
        if (on_eval) on_eval(prog_);
    }

    /// Publishes the policy now (the Polyak average when polyak > 0), unless the guard rail's last
    /// evaluation found it worse than the anchor by more than publish_margin. Returns whether it did.
    bool publish() {
        if (!gate_open_) {
            ++prog_.rejected;
            return false;
        }
        if (cfg_.polyak > 0 && avg_weight_ > 0) {
            nar_student<T> m = *policy_;
            T* p = m.params();
            for (std::size_t j = 0; j < avg_.size(); ++j) p[j] = T(avg_[j] / avg_weight_);
            prog_.published = store_->publish(m);
        } else {
            prog_.published = store_->publish(*policy_);
        }
        return true;
    }

    /// Trains on the records still in the batch (end of stream).
    void flush() {
        if (batch_.empty()) return;
        step();
        if (publish_due_) {
            publish_due_ = false;
            publish();
        }
        stepped_ = false;
        report();
    }

    /// The trainer's current (raw) parameters.
    const nar_student<T>& policy() const noexcept { return *policy_; }
    /// Writes the Polyak average into `out` (or the raw parameters when polyak is 0).
    void averaged(nar_student<T>& out) const {
        out = *policy_;
        if (cfg_.polyak > 0 && avg_weight_ > 0) {
            T* p = out.params();
            for (std::size_t j = 0; j < avg_.size(); ++j) p[j] = T(avg_[j] / avg_weight_);
        }
    }
    const online_progress& progress() const noexcept { return prog_; }
    const online_config& config() const noexcept { return cfg_; }

    std::function<void(const online_progress&)> on_step;  ///< after every optimizer step
    std::function<void(const online_progress&)> on_eval;  ///< after every held-out evaluation

private:
    void check_record(const feedback_record<T>& rec) const {
        const std::size_t L = rec.shown.items.size(), O = weights_.size();
        if (L < 1 || rec.shown.log_propensity.size() != L || rec.feedback.size() != L * O)
            dualrerank::detail::throw_input("online_trainer: a record needs L >= 1 items, L log-propensities and L x " +
                                            std::to_string(O) + " feedback values");
        if (rec.group != 0 && (rec.group < 2 || rec.group > limits::max_samples || rec.group_slates.size() != std::size_t(rec.group) * L ||
                               rec.group_log_propensity.size() != std::size_t(rec.group) * L ||
                               rec.group_feedback.size() != std::size_t(rec.group) * L * O))
            dualrerank::detail::throw_input("online_trainer: a logged group needs 2..max_samples slates with L propensities and L x O feedback each");
        for (double x : rec.feedback)
            if (!std::isfinite(x)) dualrerank::detail::throw_input("online_trainer: feedback must be finite");
    }

    void step() {
        const int B = int(batch_.size());
        const rl_config& rc = cfg_.rl;
        const int O = int(weights_.size());
        auto fn = [&](T* grads, workspace& ws) {
            double loss = 0;
            for (feedback_record<T>& rec : batch_) {
                const auto v = rec.req.view();
                const int L = int(rec.shown.items.size());
                const int n = v.n;
                omega_.resize(std::size_t(L));
                slot_weights(rc, L, omega_.data());
                auto c = policy_->forward(&v, 1, L, ws);
                aws_.reset();
                auto cref = anchor_->forward(&v, 1, L, aws_);
                T* dZ = ws.alloc_zero<T>(std::size_t(L) * n);
                T* scratch = ws.alloc<T>(3 * std::size_t(n));
                const T scale = T(1) / T(B);
                bool regularized = false;
                // group term: the record's logged group (idealized mode) or a model-based one
                const int G = rec.group > 0 ? rec.group : rc.group;
                if (cfg_.group_weight > 0) {
                    const int* slates;
                    const T* old_lp;
                    const double* fb;
                    if (rec.group > 0) {
                        slates = rec.group_slates.data();
                        old_lp = rec.group_log_propensity.data();
                        fb = rec.group_feedback.data();
                    } else {
                        slates_.resize(std::size_t(G) * L);
                        lp_.resize(std::size_t(G) * L);
                        fb_.resize(std::size_t(G) * L * O);
                        decode::sample_slates(c.Z, L, n, n, rc.sample_tau, request_noise_key(cfg_.seed ^ 0x5bd1e995ULL, sample_count_++),
                                              0u, G, slates_.data(), static_cast<T*>(nullptr), ws);
                        slot_log_probs(c.Z, L, n, n, slates_.data(), G, lp_.data(), scratch, rc.sample_tau);
                        sws_.reset();
                        scorer_->predict(v, rec.shown.request_id, G, L, slates_.data(), fb_.data(), sws_);
                        slates = slates_.data();
                        old_lp = lp_.data();
                        fb = fb_.data();
                    }
                    A_.resize(std::size_t(G) * L);
                    const T gs = scale * T(cfg_.group_weight);
                    if (rc.method == rl_method::goalrank) {
                        r_.resize(std::size_t(G));
                        p_.resize(std::size_t(G));
                        for (int g = 0; g < G; ++g) {
                            double s = 0;
                            for (int t = 0; t < L; ++t)
                                for (int k = 0; k < O; ++k) s += weights_[std::size_t(k)] * fb[(std::size_t(g) * L + t) * O + k];
                            r_[std::size_t(g)] = s;
                        }
                        goalrank_reference(r_.data(), G, p_.data());
                        loss += double(cfg_.group_weight) *
                                double(goalrank_loss(c.Z, L, n, n, slates, p_.data(), G, rc.sample_tau, gs, dZ, scratch));
                        std::fill(A_.begin(), A_.end(), 0.0);  // entropy bonus and KL through rl_loss
                    } else {
                        // LDRO's prefix baseline: every candidate's predicted reward below each
                        // slate's prefix (model-based group and a causal scorer only)
                        bool prefix = false;
                        if (rc.method == rl_method::ldro && rc.baseline != slot_baseline::group_mean) {
                            cand_.resize(std::size_t(G) * L * std::size_t(n) * O);
                            sws_.reset();
                            prefix = rec.group == 0 &&
                                     scorer_->predict_candidates(v, rec.shown.request_id, G, L, slates, cand_.data(), sws_);
                            if (!prefix) ++prog_.baseline_fallbacks;
                        }
                        if (prefix) {
                            base_.resize(std::size_t(G) * L * O);
                            factor_.resize(std::size_t(L));
                            prefix_baselines(c.Z, L, n, n, slates, G, cand_.data(), O, rc.sample_tau, base_.data(), scratch);
                            group_advantages(rc, fb, base_.data(), G, L, O, weights_.data(), st_, A_.data(), factor_.data());
                            if (rc.all_action)
                                loss += double(cfg_.group_weight) *
                                        double(all_action_loss(c.Z, L, n, n, slates, G, cand_.data(), base_.data(), O, weights_.data(),
                                                               factor_.data(), omega_.data(), rc.sample_tau, gs, dZ, scratch));
                        } else {
                            rl_config gm = rc;
                            gm.baseline = slot_baseline::group_mean;
                            gm.all_action = false;
                            const double* gfb = nullptr;
                            if (rc.greedy_baseline > 0) {  // the served (greedy) slate, scored like the group
                                greedy_.resize(std::size_t(L));
                                decode::greedy_slate(c.Z, L, n, n, greedy_.data(), ws.alloc<std::uint8_t>(std::size_t(n)));
                                gfb_.resize(std::size_t(L) * O);
                                sws_.reset();
                                scorer_->predict(v, rec.shown.request_id, 1, L, greedy_.data(), gfb_.data(), sws_);
                                gfb = gfb_.data();
                            }
                            group_advantages(gm, fb, nullptr, G, L, O, weights_.data(), st_, A_.data(), nullptr, gfb);
                        }
                    }
                    loss += double(cfg_.group_weight) * double(rl_loss(c.Z, cref.Z, L, n, n, slates, old_lp, A_.data(), omega_.data(), G,
                                                                       rc, gs, dZ, scratch, &prog_.group));
                    regularized = true;
                }
                if (cfg_.shown_weight > 0) {
                    pred_.resize(std::size_t(L) * O);
                    sws_.reset();
                    scorer_->predict(v, rec.shown.request_id, 1, L, rec.shown.items.data(), pred_.data(), sws_);
                    As_.resize(std::size_t(L));
                    shown_advantages(rc, rec.feedback.data(), pred_.data(), L, O, weights_.data(), st_, As_.data());
                    rl_config sc = rc;
                    if (regularized) sc.beta = sc.eta = 0.0;  // the group term carries them
                    loss += double(cfg_.shown_weight) * double(rl_loss(c.Z, cref.Z, L, n, n, rec.shown.items.data(),
                                                                       rec.shown.log_propensity.data(), As_.data(), omega_.data(), 1,
                                                                       sc, scale * T(cfg_.shown_weight), dZ, scratch, &prog_.shown));
                    clip_sum_ += prog_.shown.clip_frac;
                    ++clip_count_;
                }
                policy_->backward(c, dZ, grads, ws);
            }
            return loss / B;
        };
        tr_->step(fn);
        batch_.clear();
        ++prog_.steps;
        if (cfg_.polyak > 0) {
            const T* p = policy_->params();
            for (std::size_t j = 0; j < avg_.size(); ++j) avg_[j] = cfg_.polyak * avg_[j] + (1.0 - cfg_.polyak) * double(p[j]);
            avg_weight_ = cfg_.polyak * avg_weight_ + (1.0 - cfg_.polyak);
        }
        prog_.shown_reward = prog_.records ? reward_sum_ / double(prog_.records) : 0.0;
        prog_.clip_frac_mean = clip_count_ ? clip_sum_ / double(clip_count_) : 0.0;
        publish_due_ = prog_.steps % cfg_.publish_every == 0;
        stepped_ = true;
    }

    void report() {
        if (cfg_.log && cfg_.log_every > 0 && prog_.steps % cfg_.log_every == 0) {
            const char* m = cfg_.rl.method == rl_method::ldro ? "ldro" : cfg_.rl.method == rl_method::grpo ? "grpo" : "goalrank";
            std::fprintf(cfg_.log,
                         "[%s] records %ld  version %llu  reward %.4f  entropy %.3f  kl %.4f  clip %.3f  eval %.4f (anchor %.4f)  held back %ld\n",
                         m, prog_.records, (unsigned long long)prog_.published, prog_.shown_reward, prog_.group.entropy, prog_.group.kl,
                         prog_.shown.clip_frac, prog_.eval_policy, prog_.eval_anchor, prog_.rejected);
            std::fflush(cfg_.log);
        }
        if (on_step) on_step(prog_);
    }

    std::unique_ptr<nar_student<T>> policy_;
    const nar_student<T>* anchor_;
    slate_scorer<T>* scorer_;
    policy_store<T>* store_;
    online_config cfg_;
    std::unique_ptr<trainer<nar_student<T>>> tr_;
    std::vector<double> weights_;
    std::vector<feedback_record<T>> batch_;
    std::vector<holdout> holdout_;
    rl_stream_state st_;
    online_progress prog_;
    bool gate_open_ = true;
    bool publish_due_ = false, stepped_ = false;
    double reward_sum_ = 0, clip_sum_ = 0;
    long clip_count_ = 0;
    std::uint64_t sample_count_ = 0;
    std::vector<double> avg_;
    double avg_weight_ = 0;
    workspace aws_, sws_, ews_;
    std::vector<int> slates_, greedy_;
    std::vector<double> gfb_;  // the greedy slate's predicted feedback (rl_config::greedy_baseline)
    std::vector<T> lp_;
    std::vector<double> fb_, pred_, A_, As_, omega_, r_, p_, cand_, base_, factor_;
};

}  // namespace train
DUALRERANK_NAMESPACE_END
