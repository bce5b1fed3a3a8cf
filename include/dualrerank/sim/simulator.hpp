// The built-in world (simulator), docs/design.md section 7. One include for all of it:
//
//   world.hpp     world_config (defaults, small() preset), the generative model, closed-form
//                 expected utility, sampled and expected per-slot feedback, exact random-slate utility
//   policies.hpp  reference policies (random, upstream sort, true-appeal sort, beam search + polish)
//                 and the exploratory Plackett-Luce behaviour policy with log-propensities
//   stream.hpp    logs (generate_logs) and the streaming mode with drift (schedule, drift, stream)
//
// plus `evaluate_reference_policies`, the table of reference utilities on a fixed set of requests.
// The generative model is documented at the top of world.hpp and in docs/simulator.md.
//
// Typical use:
//
//   dualrerank::world w(dualrerank::world_config::small(), /*seed=*/7);
//   dualrerank::sim_request r = w.eval_request(0);       // r.observed is a request<float>
//   dualrerank::slate y = dualrerank::beam_search(w, r);  // oracle slate
//   double u = w.expected_utility(r, y);                  // closed form
//   dualrerank::rng g(1);
//   dualrerank::page_feedback fb = w.sample_feedback(r, y, g);  // per-slot clicks / long views
#pragma once

#include <cstdint>
#include <vector>

#include "policies.hpp"
#include "stream.hpp"
#include "world.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Mean expected utilities of the reference policies over a set of requests.
struct reference_utilities {
    int requests = 0;
    double random = 0.0;     ///< exact expectation over uniformly random slates
    double behaviour = 0.0;  ///< Plackett-Luce behaviour policy (Monte Carlo over its samples)
    double upstream = 0.0;   ///< upstream-score sort
    double appeal = 0.0;     ///< true-appeal sort
    double oracle = 0.0;     ///< beam search (+ polish) on the closed form
    double clicks_per_examined_slot = 0.0;  ///< behaviour policy: sum_t P(click_t) / sum_t exam_t

    /// (u - random) / (oracle - random).
    double normalized(double u) const noexcept {
        const double gap = oracle - random;
        return gap > 0.0 ? (u - random) / gap : 0.0;
    }
};

struct reference_options {
    beam_options beam{};
    behaviour_policy behaviour{};
    int behaviour_samples = 8;   ///< Plackett-Luce samples per request for the behaviour mean
    std::uint64_t seed = 12345;  ///< for the behaviour samples
    conditions cond{};
};

/// Reference utilities on requests first_request .. first_request + count - 1 (means over requests;
/// normalized utilities are ratios of these means).
inline reference_utilities evaluate_reference_policies(const world& w, std::uint64_t first_request, int count,
                                                       const reference_options& opt = {}) {
    if (count < 1) detail::throw_input("evaluate_reference_policies: count must be >= 1");
    if (opt.behaviour_samples < 1) detail::throw_input("evaluate_reference_policies: behaviour_samples must be >= 1");
    reference_utilities out;
    out.requests = count;
    rng g(opt.seed);
    sim_request r;
    double exam_sum = 0.0, click_sum = 0.0;
    for (int q = 0; q < count; ++q) {
        w.make_request(first_request + static_cast<std::uint64_t>(q), r);
        out.random += w.random_utility(r, opt.cond);
        out.upstream += w.expected_utility(r, upstream_sort(w, r), opt.cond);
        out.appeal += w.expected_utility(r, appeal_sort(w, r, opt.cond), opt.cond);
        double u_or = 0.0;
        beam_search(w, r, opt.cond, opt.beam, &u_or);
        out.oracle += u_or;
        for (int s = 0; s < opt.behaviour_samples; ++s) {
            const slate y = opt.behaviour.sample(w, r, g);
            out.behaviour += w.expected_utility(r, y, opt.cond) / opt.behaviour_samples;
            const page_feedback fb = w.expected_feedback(r, y, opt.cond);
            for (int t = 0; t < fb.slots(); ++t) {
                exam_sum += fb.examined[t];
                click_sum += fb.clicks[t];
            }
        }
    }
    out.random /= count;
    out.behaviour /= count;
    out.upstream /= count;
    out.appeal /= count;
    out.oracle /= count;
    out.clicks_per_examined_slot = exam_sum > 0.0 ? click_sum / exam_sum : 0.0;
    return out;
}

DUALRERANK_NAMESPACE_END
