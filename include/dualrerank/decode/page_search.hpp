// Search on a page evaluator (docs/design.md section 10.3): beam search on its page utility, then
// an optional local-search polish. The evaluator is causal (a slot's predictions depend only on the
// items above), so a prefix's utility is exact and the beam needs no look-ahead. Prefixes with the
// same item set and the same last item have the same future (the page terms see the sum of the
// items above and the item right above), so only the best of them is kept.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../model/page_evaluator.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace decode {

struct page_search_options {
    int width = 32;              ///< beams kept per step
    bool polish = true;          ///< local search after the beam (swap, move, replace)
    int max_polish_rounds = 50;  ///< improving moves at most
};

/// The slate of length L with the highest page utility found; `w` objective weights [O] (null: all
/// ones); `utility`, if given, receives its utility under the evaluator.
template <class T>
slate page_beam_search(const page_evaluator<T>& ev, const request_view<T>& r, int L, const page_search_options& opt,
                       workspace& ws, const T* w = nullptr, T* utility = nullptr) {
    if (opt.width < 1 || opt.width > limits::max_samples)
        dualrerank::detail::throw_input("page_beam_search: width must be in [1, 4096]");
    if (opt.max_polish_rounds < 0) dualrerank::detail::throw_input("page_beam_search: max_polish_rounds must be >= 0");
    ws.reset();
    const dualrerank::detail::page_terms<T> pt = ev.terms(r, L, ws);
    const int n = r.n;
    std::vector<T> value(static_cast<std::size_t>(n));
    std::vector<std::uint64_t> key(static_cast<std::size_t>(n));
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n; ++i) {
        value[std::size_t(i)] = page_evaluator<T>::click_value(pt, i, w);
        key[std::size_t(i)] = splitmix64(state);
    }
    struct beam {
        std::vector<int> y;
        std::uint64_t set = 0;
        T u = 0;
    };
    std::vector<beam> beams(1), next;
    struct cand {
        T u;
        int b, i;
    };
    std::vector<cand> cands;
    std::vector<char> used(static_cast<std::size_t>(n));
    for (int t = 0; t < L; ++t) {
        cands.clear();
        for (int b = 0; b < int(beams.size()); ++b) {
            const beam& bm = beams[std::size_t(b)];
            std::fill(used.begin(), used.end(), 0);
            for (int i : bm.y) used[std::size_t(i)] = 1;
            for (int i = 0; i < n; ++i) {
                if (used[std::size_t(i)]) continue;
                const T gain = pt.exam[t] * dualrerank::detail::stable_sigmoid(page_evaluator<T>::appeal(pt, bm.y.data(), t, i)) * value[std::size_t(i)];
                cands.push_back({bm.u + gain, b, i});
            }
        }
        std::stable_sort(cands.begin(), cands.end(), [](const cand& a, const cand& b) { return a.u > b.u; });
        next.clear();
        std::vector<std::pair<std::uint64_t, int>> seen;  // (set key, last item)
        for (const cand& c : cands) {
            if (int(next.size()) >= opt.width) break;
            const std::uint64_t set = beams[std::size_t(c.b)].set ^ key[std::size_t(c.i)];
            bool dup = false;
            for (const auto& s : seen) dup |= s.first == set && s.second == c.i;
            if (dup) continue;
            seen.push_back({set, c.i});
            beam nb;
            nb.y = beams[std::size_t(c.b)].y;
            nb.y.push_back(c.i);
            nb.set = set;
            nb.u = c.u;
            next.push_back(std::move(nb));
        }
        beams.swap(next);
    }
    slate y = beams.front().y;
    T best = page_evaluator<T>::slate_utility(pt, y.data(), L, w);
    if (opt.polish) {
        slate trial(y);
        for (int round = 0; round < opt.max_polish_rounds; ++round) {
            T best_gain = T(1e-7) * std::max(T(1), best);
            slate best_y;
            auto consider = [&]() {
                const T u = page_evaluator<T>::slate_utility(pt, trial.data(), L, w);
                if (u - best > best_gain) {
                    best_gain = u - best;
                    best_y = trial;
                }
            };
            for (int a = 0; a < L; ++a)
                for (int b = a + 1; b < L; ++b) {
                    trial = y;
                    std::swap(trial[std::size_t(a)], trial[std::size_t(b)]);
                    consider();
                }
            for (int a = 0; a < L; ++a)
                for (int b = 0; b < L; ++b) {
                    if (std::abs(a - b) <= 1) continue;
                    trial = y;
                    const int item = trial[std::size_t(a)];
                    trial.erase(trial.begin() + a);
                    trial.insert(trial.begin() + b, item);
                    consider();
                }
            std::fill(used.begin(), used.end(), 0);
            for (int i : y) used[std::size_t(i)] = 1;
            for (int a = 0; a < L; ++a)
                for (int i = 0; i < n; ++i) {
                    if (used[std::size_t(i)]) continue;
                    trial = y;
                    trial[std::size_t(a)] = i;
                    consider();
                }
            if (best_y.empty()) break;
            y = best_y;
            best = page_evaluator<T>::slate_utility(pt, y.data(), L, w);
        }
    }
    if (utility) *utility = best;
    return y;
}

}  // namespace decode
DUALRERANK_NAMESPACE_END
