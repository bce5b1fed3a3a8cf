// Logs from the exploratory behaviour policy, and the streaming mode with drift (docs/design.md section 7).
//
// * generate_logs: pages shown by the behaviour policy (Plackett-Luce over upstream scores), each
//   with its log-propensity and sampled feedback. A logged page stores the request *index*; the
//   request itself is `world::make_request(index)` (cheap, and keeps 100k-page logs small).
// * stream: requests one after another under drifting `conditions`; the engagement scale and the
//   two objective weights each follow a `schedule` (constant, step, smooth cosine ramp, periodic).
//   For each request the caller may ask for sampled feedback on any number of slates (a group of
//   G slates for group-relative RL: each slate gets its own independent simulated user response),
//   and for the closed-form expected utility (evaluation).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "policies.hpp"
#include "world.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// A scalar that changes with the stream step (request counter, 0-based).
struct schedule {
    enum class shape { constant, step, smooth, periodic };
    shape kind = shape::constant;
    double before = 1.0;         ///< value before the change (constant: the value; periodic: the mean)
    double after = 1.0;          ///< value after the change (periodic: the amplitude)
    std::int64_t at = 0;         ///< first step of the change (periodic: phase offset)
    std::int64_t duration = 1;   ///< smooth: ramp length in steps; periodic: period in steps

    static schedule constant(double v) { return {shape::constant, v, v, 0, 1}; }
    /// `before` for steps < at, `after` from step `at` on.
    static schedule step(double before, double after, std::int64_t at) { return {shape::step, before, after, at, 1}; }
    /// Cosine ramp from `before` (step <= start) to `after` (step >= start + duration).
    static schedule smooth(double before, double after, std::int64_t start, std::int64_t duration) {
        if (duration < 1) detail::throw_input("schedule::smooth: duration must be >= 1");
        return {shape::smooth, before, after, start, duration};
    }
    /// mean + amplitude * sin(2 pi (step - offset) / period).
    static schedule periodic(double mean, double amplitude, std::int64_t period, std::int64_t offset = 0) {
        if (period < 1) detail::throw_input("schedule::periodic: period must be >= 1");
        return {shape::periodic, mean, amplitude, offset, period};
    }

    double operator()(std::int64_t t) const noexcept {
        switch (kind) {
            case shape::constant: return before;
            case shape::step: return t < at ? before : after;
            case shape::smooth: {
                if (t <= at) return before;
                if (t >= at + duration) return after;
                const double x = static_cast<double>(t - at) / static_cast<double>(duration);
                return before + (after - before) * 0.5 * (1.0 - std::cos(3.14159265358979323846 * x));
            }
            case shape::periodic:
                return before + after * std::sin(6.283185307179586476925 * static_cast<double>(t - at) /
                                                 static_cast<double>(duration));
        }
        return before;
    }
};

/// Schedules of everything that drifts.
struct drift {
    schedule engagement = schedule::constant(1.0);
    schedule click_weight = schedule::constant(1.0);
    schedule long_view_weight = schedule::constant(1.0);
    /// Long-view propensity shift: a logit offset on P(long view | click), +value for items of
    /// even categories and -value for odd ones (0: none), so which items earn long views changes.
    schedule long_view_shift = schedule::constant(0.0);

    conditions at(std::int64_t t) const noexcept {
        conditions c;
        c.engagement = std::max(0.0, engagement(t));
        c.weights.click = click_weight(t);
        c.weights.long_view = long_view_weight(t);
        return c;
    }
    /// Applies the request-level drift of step t to a request made by the world (the long-view
    /// propensity shift). The stream calls it on every request it hands out.
    void apply(std::int64_t t, sim_request& r) const {
        const double s = long_view_shift(t);
        if (s == 0.0) return;
        for (std::size_t i = 0; i < r.long_view_prob.size(); ++i) {
            const double p = std::min(std::max(r.long_view_prob[i], 1e-9), 1.0 - 1e-9);
            const double z = std::log(p / (1.0 - p)) + (r.category[i] % 2 == 0 ? s : -s);
            r.long_view_prob[i] = 1.0 / (1.0 + std::exp(-z));
        }
    }
    /// No drift.
    static drift none() { return {}; }
    /// The objective-weight swap of the prototype: (1, 0) -> (0, 1) at step `at`.
    static drift weight_swap(std::int64_t at) {
        drift d;
        d.click_weight = schedule::step(1.0, 0.0, at);
        d.long_view_weight = schedule::step(0.0, 1.0, at);
        return d;
    }
};

/// One page of the logs.
struct logged_page {
    std::uint64_t request_index = 0;  ///< world::make_request(request_index) gives the request
    slate shown;                      ///< the behaviour policy's slate
    double log_propensity = 0.0;      ///< log pi_b(shown)
    page_feedback feedback;           ///< sampled, per slot
};

/// `count` pages for requests first_request .. first_request + count - 1, shown by `policy`
/// under conditions `c`. Reproducible from (world, first_request, seed).
inline std::vector<logged_page> generate_logs(const world& w, std::uint64_t first_request, std::size_t count,
                                              const behaviour_policy& policy, std::uint64_t seed,
                                              const conditions& c = {}) {
    std::vector<logged_page> logs(count);
    rng g(seed);
    sim_request r;
    for (std::size_t p = 0; p < count; ++p) {
        logged_page& page = logs[p];
        page.request_index = first_request + p;
        w.make_request(page.request_index, r);
        page.shown = policy.sample(w, r, g, &page.log_propensity);
        w.sample_feedback(r, page.shown, g, c, page.feedback);
    }
    return logs;
}

/// Streaming mode: requests under drifting conditions.
///
///     stream s(w, drift::weight_swap(20000), seed);
///     for (...) {
///         const sim_request& r = s.next();          // a new request (r.observed for the model)
///         page_feedback fb = s.feedback(my_slate);   // sampled, under s.current_conditions()
///         double u = s.expected_utility(my_slate);   // closed form, for evaluation
///     }
class stream {
public:
    stream(world w, drift d, std::uint64_t seed, std::uint64_t first_request = 0)
        : world_(std::move(w)), drift_(std::move(d)), rng_(seed), first_(first_request) {}

    /// Advance to the next request and return it (valid until the next call).
    const sim_request& next() {
        ++step_;
        world_.make_request(first_ + static_cast<std::uint64_t>(step_), current_);
        drift_.apply(step_, current_);
        cond_ = drift_.at(step_);
        return current_;
    }

    /// The current request (call next() first).
    const sim_request& current() const {
        require_started();
        return current_;
    }
    /// Requests handed out so far minus one: the step of the current request (-1 before next()).
    std::int64_t step() const noexcept { return step_; }
    const conditions& current_conditions() const noexcept { return cond_; }
    const world& simulator() const noexcept { return world_; }
    const drift& schedules() const noexcept { return drift_; }
    /// The world index of step 0's request.
    std::uint64_t first_request() const noexcept { return first_; }
    /// The request of any step (as next() made it, drift applied) without moving the stream.
    void request_at(std::int64_t step, sim_request& out) const {
        if (step < 0) detail::throw_input("stream::request_at: step must be >= 0");
        world_.make_request(first_ + static_cast<std::uint64_t>(step), out);
        drift_.apply(step, out);
    }

    /// Sampled per-slot feedback for slate y on the current request (independent user draws on
    /// every call, so a group of slates can be scored on the same request).
    page_feedback feedback(const slate& y) {
        require_started();
        return world_.sample_feedback(current_, y, rng_, cond_);
    }
    /// Expected per-slot feedback (the "expected feedback" reward mode).
    page_feedback expected_feedback(const slate& y) const {
        require_started();
        return world_.expected_feedback(current_, y, cond_);
    }
    /// Closed-form expected utility of y under the current conditions.
    double expected_utility(const slate& y) const {
        require_started();
        return world_.expected_utility(current_, y, cond_);
    }

    /// Feedback generator state (checkpoints); the request sequence depends only on the step.
    rng& feedback_rng() noexcept { return rng_; }

    /// Resume from a checkpoint: make `step` the current request (-1: before the first) and restore
    /// the feedback generator, so the continuation equals the original run.
    void restore(std::int64_t step, const std::array<std::uint64_t, 4>& rng_state) {
        if (step < -1) detail::throw_input("stream::restore: step must be >= -1");
        step_ = step;
        rng_.set_state(rng_state);
        if (step_ >= 0) {
            world_.make_request(first_ + static_cast<std::uint64_t>(step_), current_);
            drift_.apply(step_, current_);
            cond_ = drift_.at(step_);
        } else {
            cond_ = conditions{};
        }
    }

private:
    void require_started() const {
        if (step_ < 0) detail::throw_input("stream: call next() before asking for feedback");
    }

    world world_;
    drift drift_;
    rng rng_;
    std::uint64_t first_ = 0;
    std::int64_t step_ = -1;
    sim_request current_;
    conditions cond_{};
};

DUALRERANK_NAMESPACE_END
