// Reference policies of the built-in world (docs/design.md section 7) and the exploratory behaviour policy.
//
// * random_slate: L distinct candidates uniformly at random (its *expected* utility is exact:
//   world::random_utility).
// * upstream_sort: the upstream ranker's order (sort by upstream score), what a pointwise stage ships.
// * appeal_sort: "true-appeal sort": items sorted by their true expected value if examined, with no
//   context effects: min(1, e sigmoid(bias + a_i + q_i)) * (w_click + w_long p_i). Without context
//   effects this is the optimal slate (rearrangement inequality: exam_t is non-increasing).
// * beam_search: beam search on the closed-form utility (prefix utility is exact because a slot's
//   appeal only depends on the items above it), followed by an optional local-search polish
//   (swap two slots, move one slot, replace a slot's item by an unused candidate; best improvement
//   until none). This is the "oracle" ceiling and the target generator for search-distilled training.
// * Behaviour policy: Plackett-Luce over upstream scores at temperature tau, sampled with the
//   Gumbel-top-L trick, with its exact log-propensity
//     log pi(y) = sum_t [ s_{y_t}/tau - log sum_{j not in y_<t} exp(s_j/tau) ].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "world.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Uniformly random slate of l distinct candidates out of n (partial Fisher-Yates).
inline slate random_slate(int n, int l, rng& g) {
    if (n < 1 || l < 0 || l > n) detail::throw_input("random_slate: need 0 <= l <= n and n >= 1");
    std::vector<int> all(n);
    std::iota(all.begin(), all.end(), 0);
    for (int t = 0; t < l; ++t) {
        const int j = t + static_cast<int>(g.below(static_cast<std::uint64_t>(n - t)));
        std::swap(all[t], all[j]);
    }
    all.resize(l);
    return all;
}

/// Indices of the l largest scores, best first; ties go to the lower index.
template <class T>
inline slate top_l_by_score(const std::vector<T>& score, int l) {
    const int n = static_cast<int>(score.size());
    if (l < 0 || l > n) detail::throw_input("top_l_by_score: l must be in [0, n]");
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + l, idx.end(), [&](int a, int b) {
        return score[a] > score[b] || (score[a] == score[b] && a < b);
    });
    idx.resize(l);
    return idx;
}

/// The upstream ranker's slate: top L by upstream score.
inline slate upstream_sort(const world& w, const sim_request& r) {
    return top_l_by_score(r.upstream_score, w.slate_size());
}

/// True per-item value if examined, without context effects (the key of appeal_sort).
inline std::vector<double> true_item_values(const sim_request& r, const conditions& c = {}) {
    std::vector<double> v(r.n());
    for (int i = 0; i < r.n(); ++i)
        v[i] = world::click_given_exam(r.base_logit[i], c.engagement) * world::item_value(r, i, c.weights);
    return v;
}

/// True-appeal sort: top L by true item value (no context effects).
inline slate appeal_sort(const world& w, const sim_request& r, const conditions& c = {}) {
    return top_l_by_score(true_item_values(r, c), w.slate_size());
}

struct beam_options {
    int width = 32;             ///< beams (distinct states) kept per step
    bool polish = true;         ///< local search after the beam
    int max_polish_rounds = 50; ///< improving moves at most
};

namespace detail {

/// Best-improvement local search on the closed form: swap two slots, move a slot's item to another
/// slot (shifting the ones between), or replace a slot's item by an unused candidate.
inline double polish_slate(const world& w, const sim_request& r, const conditions& c, slate& y, int max_rounds) {
    const int L = static_cast<int>(y.size()), n = r.n();
    double best = w.utility_unchecked(r, y.data(), L, c);
    std::vector<char> used(n, 0);
    for (int i : y) used[i] = 1;
    slate trial(y);
    for (int round = 0; round < max_rounds; ++round) {
        double best_gain = 1e-12;
        slate best_y;
        auto consider = [&]() {
            const double u = w.utility_unchecked(r, trial.data(), L, c);
            if (u - best > best_gain) {
                best_gain = u - best;
                best_y = trial;
            }
        };
        for (int a = 0; a < L; ++a)
            for (int b = a + 1; b < L; ++b) {
                trial = y;
                std::swap(trial[a], trial[b]);
                consider();
            }
        for (int a = 0; a < L; ++a)
            for (int b = 0; b < L; ++b) {
                if (std::abs(a - b) <= 1) continue;  // adjacent moves are swaps
                trial = y;
                const int item = trial[a];
                trial.erase(trial.begin() + a);
                trial.insert(trial.begin() + b, item);
                consider();
            }
        for (int a = 0; a < L; ++a)
            for (int i = 0; i < n; ++i) {
                if (used[i]) continue;
                trial = y;
                trial[a] = i;
                consider();
            }
        if (best_y.empty()) break;
        y = best_y;
        best += best_gain;
        std::fill(used.begin(), used.end(), 0);
        for (int i : y) used[i] = 1;
    }
    return w.utility_unchecked(r, y.data(), L, c);
}

}  // namespace detail

/// Beam search on the closed-form utility (the "oracle" reference and search-distillation target).
///
/// The future of a prefix depends only on its item *set* and the category of its last item (the
/// appeal of a later slot sees same-category counts and the item right above), so prefixes with the
/// same (set, last category) are merged and only the best one is kept: the beam then holds `width`
/// genuinely different states. Deterministic: ties are broken by (beam, candidate) order.
/// `utility`, if given, receives U(y).
inline slate beam_search(const world& w, const sim_request& r, const conditions& c = {},
                         const beam_options& opt = {}, double* utility = nullptr) {
    const int n = r.n(), L = w.slate_size(), C = w.config().num_categories;
    if (opt.width < 1) detail::throw_input("beam_search: width must be >= 1");
    const auto& cfg = w.config();
    const auto& exam = w.examination();
    std::vector<double> value(n);
    std::vector<std::uint64_t> item_key(n);
    std::uint64_t key_state = 0x853c49e6748fea9bULL;
    for (int i = 0; i < n; ++i) {
        value[i] = world::item_value(r, i, c.weights);
        item_key[i] = splitmix64(key_state);
    }

    struct beam {
        slate prefix;
        std::vector<int> counts;  // items per category in the prefix
        std::vector<char> used;
        std::uint64_t set_key = 0;  // xor of the item keys of the prefix
        int last = -1;              // category of the last item
        double score = 0.0;
    };
    std::vector<beam> beams(1);
    beams[0].counts.assign(C, 0);
    beams[0].used.assign(n, 0);
    struct expansion {
        double score;
        int b, i;
    };
    std::vector<expansion> cand;
    std::vector<std::uint64_t> kept_keys;
    for (int t = 0; t < L; ++t) {
        cand.clear();
        for (int b = 0; b < static_cast<int>(beams.size()); ++b) {
            const beam& bm = beams[b];
            const int comp_last = bm.last >= 0 ? w.complement(bm.last) : -2;
            for (int i = 0; i < n; ++i) {
                if (bm.used[i]) continue;
                const int ci = r.category[i];
                double z = r.base_logit[i] - cfg.redundancy * bm.counts[ci];
                if (comp_last == ci) z += cfg.complementarity;
                cand.push_back({bm.score + exam[t] * world::click_given_exam(z, c.engagement) * value[i], b, i});
            }
        }
        const auto better = [](const expansion& x, const expansion& y) {
            if (x.score != y.score) return x.score > y.score;
            if (x.b != y.b) return x.b < y.b;
            return x.i < y.i;
        };
        // sort lazily, in chunks: merged states rarely need more than the first 2 * width
        std::size_t sorted = 0;
        const std::size_t chunk = 2 * static_cast<std::size_t>(opt.width);
        std::vector<beam> next;
        next.reserve(opt.width);
        kept_keys.clear();
        for (std::size_t k = 0; k < cand.size() && static_cast<int>(next.size()) < opt.width; ++k) {
            if (k == sorted) {
                const std::size_t upto = std::min(cand.size(), sorted + chunk);
                std::partial_sort(cand.begin() + sorted, cand.begin() + upto, cand.end(), better);
                sorted = upto;
            }
            const expansion& e = cand[k];
            const int i = e.i;
            const std::uint64_t set_key = beams[e.b].set_key ^ item_key[i];
            const std::uint64_t state_key = set_key ^ (0x9e3779b97f4a7c15ULL * (r.category[i] + 1));
            if (std::find(kept_keys.begin(), kept_keys.end(), state_key) != kept_keys.end()) continue;
            kept_keys.push_back(state_key);
            beam nb = beams[e.b];
            nb.prefix.push_back(i);
            nb.used[i] = 1;
            ++nb.counts[r.category[i]];
            nb.last = r.category[i];
            nb.set_key = set_key;
            nb.score = e.score;
            next.push_back(std::move(nb));
        }
        beams.swap(next);
    }
    slate best = beams.front().prefix;
    double u = beams.front().score;
    if (opt.polish) u = detail::polish_slate(w, r, c, best, opt.max_polish_rounds);
    if (utility) *utility = u;
    return best;
}

/// Log-probability of slate y under Plackett-Luce over `scores / temperature`
/// (the slot-order factorization: each slot a softmax over the candidates not yet placed).
template <class T>
inline double plackett_luce_log_prob(const std::vector<T>& scores, const slate& y, double temperature) {
    if (!(temperature > 0.0)) detail::throw_input("plackett_luce_log_prob: temperature must be > 0");
    const int n = static_cast<int>(scores.size());
    // exp once per candidate, shifted by the overall max; each slot sums the unused ones (no
    // subtraction from a running total, so a tiny remaining mass keeps its precision)
    double mx = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < n; ++j) mx = std::max(mx, static_cast<double>(scores[j]) / temperature);
    std::vector<double> e(n);
    for (int j = 0; j < n; ++j) e[j] = std::exp(static_cast<double>(scores[j]) / temperature - mx);
    std::vector<char> used(n, 0);
    double lp = 0.0;
    for (int i : y) {
        if (i < 0 || i >= n || used[i]) detail::throw_input("plackett_luce_log_prob: invalid slate");
        double s = 0.0;
        for (int j = 0; j < n; ++j)
            if (!used[j]) s += e[j];
        lp += static_cast<double>(scores[i]) / temperature - mx - std::log(s);
        used[i] = 1;
    }
    return lp;
}

/// A Plackett-Luce sample of l items over `scores / temperature` (Gumbel-top-l). If `log_prob`
/// is given it receives the slate's exact log-propensity.
template <class T>
inline slate plackett_luce_sample(const std::vector<T>& scores, int l, double temperature, rng& g,
                                  double* log_prob = nullptr) {
    if (!(temperature > 0.0)) detail::throw_input("plackett_luce_sample: temperature must be > 0");
    const int n = static_cast<int>(scores.size());
    std::vector<double> key(n);
    for (int j = 0; j < n; ++j)
        key[j] = static_cast<double>(scores[j]) / temperature - std::log(-std::log(g.uniform_open()));
    slate y = top_l_by_score(key, l);
    if (log_prob) *log_prob = plackett_luce_log_prob(scores, y, temperature);
    return y;
}

/// The exploratory behaviour policy of the logs: Plackett-Luce over upstream scores.
struct behaviour_policy {
    double temperature = 0.4;

    slate sample(const world& w, const sim_request& r, rng& g, double* log_propensity = nullptr) const {
        return plackett_luce_sample(r.upstream_score, w.slate_size(), temperature, g, log_propensity);
    }
    double log_propensity(const sim_request& r, const slate& y) const {
        return plackett_luce_log_prob(r.upstream_score, y, temperature);
    }
};

DUALRERANK_NAMESPACE_END
