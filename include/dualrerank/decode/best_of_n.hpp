// Best-of-N serving (docs/design.md section 3): the fast student proposes, a scorer picks.
//
// The student runs once; its greedy slate plus N-1 Gumbel-Max samples (one pass over the one
// logit matrix) are scored in ONE batched pass by a pluggable scorer that encodes the candidates
// once for all N slates:
//  * teacher_scorer: the AR teacher's teacher-forced log-likelihood with rank-decay weights,
//    sum_t omega_t log p_T(y_t | y_<t)  (the default: the slow teacher only scores, in parallel);
//  * evaluator_scorer: the list evaluator's utility sum_t w_t sigmoid(e_t).
// Any callable with the scorer signature works (e.g. the simulator's closed form for analysis).
//  * page_evaluator_scorer: a page evaluator's page utility (model/page_evaluator.hpp).
// A scorer is only worth using when it ranks one request's slates the way true utility does, so
// the gate is enforced here (docs/design.md section 3): best_of_n serves the greedy slate unless
// the scorer carries a trust record (`scorer_validation`: the check it passed, e.g. its
// within-request rank correlation on held-out requests, saved with the model) whose value reaches
// `best_of_n_config::gate` (default 0.5). A callable without a record is never trusted: attach one
// with `validated_scorer`.
#pragma once

#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "../model/ar_teacher.hpp"
#include "../model/evaluator.hpp"
#include "../model/page_evaluator.hpp"
#include "../model/nar_student.hpp"
#include "greedy.hpp"
#include "gumbel.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace decode {

/// Rank-decay slot weights omega_t = 1 / log2(t + 2) (t = 0-based slot).
template <class T>
void rank_decay_weights(int L, T* w) noexcept {
    for (int t = 0; t < L; ++t) w[t] = T(1) / T(std::log2(double(t) + 2.0));
}

template <class T>
struct teacher_scorer {
    const ar_teacher<T>* teacher = nullptr;
    /// Optional, owned by the caller (one per thread): adds the decoder rows (distinct prefixes)
    /// each call decoded, against K * L positions without the prefix trie.
    std::size_t* rows_decoded = nullptr;
    /// The check this teacher passed as a scorer (none by default: Best-of-N serves greedy).
    scorer_validation validation{};
    const scorer_validation* record() const noexcept { return &validation; }
    /// scores[k] for slates [K x L]; ws is the scorer's own workspace (reset here).
    void operator()(const request_view<T>& r, int K, int L, const int* slates, T* scores, workspace& ws) const {
        if (L < 1 || L > limits::max_slate)
            dualrerank::detail::throw_input("teacher_scorer: slate length L = " + std::to_string(L) + " outside [1, " +
                                            std::to_string(limits::max_slate) + "]");
        T w[limits::max_slate];
        rank_decay_weights(L, w);
        const int rows = teacher->score_slates(r, K, L, slates, w, scores, ws);
        if (rows_decoded) *rows_decoded += std::size_t(rows);
    }
};

template <class T>
struct evaluator_scorer {
    const list_evaluator<T>* evaluator = nullptr;
    /// The check this evaluator passed as a scorer (none by default: Best-of-N serves greedy).
    scorer_validation validation{};
    const scorer_validation* record() const noexcept { return &validation; }
    void operator()(const request_view<T>& r, int K, int L, const int* slates, T* scores, workspace& ws) const {
        evaluator->score(r, K, L, slates, static_cast<const T*>(nullptr), scores, ws);
    }
};

/// A page evaluator's page utility (objective weights [O], null: all ones); its trust record is the
/// evaluator's own (`page_evaluator::validation`, saved in its file).
template <class T>
struct page_evaluator_scorer {
    const page_evaluator<T>* evaluator = nullptr;
    const T* weights = nullptr;
    const scorer_validation* record() const noexcept { return evaluator ? &evaluator->validation : nullptr; }
    void operator()(const request_view<T>& r, int K, int L, const int* slates, T* scores, workspace& ws) const {
        evaluator->score(r, K, L, slates, weights, scores, ws);
    }
};

/// Any scorer callable with a trust record attached.
template <class Scorer>
struct validated_scorer {
    Scorer scorer;
    scorer_validation validation{};
    const scorer_validation* record() const noexcept { return &validation; }
    template <class T>
    void operator()(const request_view<T>& r, int K, int L, const int* slates, T* scores, workspace& ws) const {
        scorer(r, K, L, slates, scores, ws);
    }
};

namespace detail {
template <class S, class = void>
struct has_record : std::false_type {};
template <class S>
struct has_record<S, std::void_t<decltype(std::declval<const S&>().record())>> : std::true_type {};
}  // namespace detail

/// The trust record a scorer carries (null when it has none).
template <class Scorer>
const scorer_validation* scorer_record(const Scorer& s) noexcept {
    if constexpr (detail::has_record<Scorer>::value)
        return s.record();
    else
        return nullptr;
}

struct best_of_n_config {
    int n = 16;            ///< slates scored per request (greedy + n-1 samples)
    /// Sampling temperature of the N-1 proposals. 0.5, not 1: on the demo's world (3 seeds, the
    /// teacher scorer, docs/best-of-n.md) Best-of-16 at tau 0.5 beat tau 1 on every seed (+0.003 to
    /// +0.006 normalized utility) and its proposals share more prefixes, so the teacher decodes
    /// about 32% of the 16 * L positions instead of 52%.
    double tau = 0.5;
    bool enabled = true;   ///< false: serve the greedy slate whatever the scorer's record
    /// The gate: the scorer's trust record (scorer_record) must hold a value >= gate, else greedy.
    double gate = 0.5;
};

/// Whether best_of_n will use `scorer` under `cfg` (otherwise it serves the greedy slate).
template <class Scorer>
bool scorer_trusted(const Scorer& s, const best_of_n_config& cfg) noexcept {
    const scorer_validation* v = scorer_record(s);
    return v != nullptr && v->passes(cfg.gate);
}

/// Per-thread buffers of Best-of-N (two workspaces: the student's logits stay valid while the
/// scorer runs). Allocation-free after warm-up.
template <class T>
struct best_of_n_workspace {
    workspace student, scorer;
    std::vector<int> slates;
    std::vector<T> scores;
    bool gate_open = false;  ///< the last call used the scorer (false: greedy by the gate or `enabled`)
};

/// Writes the chosen slate to out [L]; returns the index of the winner among the candidates
/// (0 = the greedy slate). `counter_base` selects the noise (e.g. a request id times N*L*n).
template <class T, class Scorer>
int best_of_n(const nar_student<T>& s, const Scorer& scorer, const request_view<T>& r, int L, const best_of_n_config& cfg,
              counter_key key, std::uint32_t counter_base, int* out, best_of_n_workspace<T>& bw) {
    if (cfg.n < 1 || cfg.n > limits::max_samples)
        dualrerank::detail::throw_input("best_of_n: n = " + std::to_string(cfg.n) + " outside [1, " +
                                        std::to_string(limits::max_samples) + "] (limits::max_samples)");
    bw.student.reset();
    {
        workload w;
        w.n = r.n;
        w.L = L;
        w.samples = cfg.n - 1;
        dualrerank::detail::check_workspace_bound(bw.student, s.workspace_bound(w),
                                                  "best_of_n", w);
    }
    auto c = s.infer(&r, 1, L, bw.student);
    detail::check_logits(c.Z, L, r.n, std::size_t(r.n), "best_of_n");
    const std::size_t need = std::size_t(cfg.n) * L;
    if (bw.slates.size() < need) bw.slates.resize(need);
    if (bw.scores.size() < std::size_t(cfg.n)) bw.scores.resize(std::size_t(cfg.n));
    greedy_slate(c.Z, L, r.n, r.n, bw.slates.data(), bw.student.template alloc<std::uint8_t>(r.n));
    bw.gate_open = cfg.enabled && cfg.n > 1 && scorer_trusted(scorer, cfg);
    if (!bw.gate_open) {
        std::copy(bw.slates.begin(), bw.slates.begin() + L, out);
        return 0;
    }
    sample_slates(c.Z, L, r.n, r.n, cfg.tau, key, counter_base, cfg.n - 1, bw.slates.data() + L, static_cast<T*>(nullptr),
                  bw.student);
    scorer(r, cfg.n, L, bw.slates.data(), bw.scores.data(), bw.scorer);
    int best = 0;
    for (int k = 1; k < cfg.n; ++k)
        if (bw.scores[k] > bw.scores[best]) best = k;
    std::copy(bw.slates.begin() + std::size_t(best) * L, bw.slates.begin() + std::size_t(best + 1) * L, out);
    return best;
}

}  // namespace decode
DUALRERANK_NAMESPACE_END
