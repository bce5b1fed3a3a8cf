// The Dual-Rerank pipeline on the built-in world, shared by the demo, the experiment programs
// and the CLI: logs -> teachers (log recipe, search-distilled) -> students (supervised, SKD) ->
// RL (LDRO, GRPO) -> Best-of-N, and the evaluation of any policy on fixed requests.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "../dualrerank.hpp"
#include "../model/pointwise.hpp"
#include "recipes.hpp"
#include "rl_world.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace pipeline {

/// One row of the results table.
struct row {
    std::string policy;
    double utility = 0;     ///< normalized utility (random 0, oracle 1)
    double ndcg = 0;        ///< NDCG@L against graded true appeal
    double ptar = -1;       ///< agreement with the reference teacher (-1: not applicable)
    double collapse = -1;   ///< graded collapse rate (-1: not applicable)
    double p50_us = 0;      ///< median latency per request
    /// true: the row's training used the world's closed form (search targets on it, or a gate
    /// measured with it); false: logs and sampled feedback only (docs/design.md section 10.1)
    bool oracle = true;
};

/// Fixed evaluation requests with their reference utilities and graded labels.
struct eval_set {
    std::vector<sim_request> requests;
    std::vector<double> u_random, u_oracle;
    std::vector<std::vector<double>> labels;  ///< [n] graded true item value in [0, 4]
    conditions cond;
};

inline eval_set make_eval_set(const world& w, int count, const conditions& cond = {}, std::uint64_t offset = 0) {
    eval_set e;
    e.cond = cond;
    for (int i = 0; i < count; ++i) {
        sim_request r = w.eval_request(offset + std::uint64_t(i));
        e.u_random.push_back(w.random_utility(r, cond));
        double uo = 0;
        beam_search(w, r, cond, beam_options{}, &uo);
        e.u_oracle.push_back(uo);
        std::vector<double> v = true_item_values(r, cond);
        const double mx = *std::max_element(v.begin(), v.end());
        for (auto& x : v) x = mx > 0 ? 4.0 * x / mx : 0.0;
        e.labels.push_back(std::move(v));
        e.requests.push_back(std::move(r));
    }
    return e;
}

using policy_fn = std::function<slate(const sim_request&)>;

/// Evaluate a policy: normalized utility (ratio of means), NDCG@L, p50 latency, and agreement
/// with reference slates (PTAR) when given.
inline row evaluate(const world& w, const eval_set& e, const std::string& name, const policy_fn& policy,
                    const std::vector<slate>* reference = nullptr, std::vector<slate>* out_slates = nullptr) {
    row r;
    r.policy = name;
    double u = 0, ur = 0, uo = 0, nd = 0, agree = 0;
    std::vector<double> lat;
    const int L = w.slate_size();
    for (std::size_t i = 0; i < e.requests.size(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        slate y = policy(e.requests[i]);
        lat.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        u += w.expected_utility(e.requests[i], y, e.cond);
        ur += e.u_random[i];
        uo += e.u_oracle[i];
        nd += eval::ndcg_at_k(y, e.labels[i], L);
        if (reference) agree += eval::ptar(y, (*reference)[i]);
        if (out_slates) out_slates->push_back(std::move(y));
    }
    const double n = double(e.requests.size());
    r.utility = (u - ur) / std::max(uo - ur, 1e-12);
    r.ndcg = nd / n;
    if (reference) r.ptar = agree / n;
    std::nth_element(lat.begin(), lat.begin() + lat.size() / 2, lat.end());
    r.p50_us = lat[lat.size() / 2];
    return r;
}

/// Median latency per request of several policies measured side by side: each request is served
/// by every policy in turn (the order rotating with the request and the round), `rounds` times, so
/// a change in the machine's load hits all of them alike and their ratios stay comparable.
inline std::vector<double> side_by_side_p50(const eval_set& e, const std::vector<policy_fn>& policies, int rounds) {
    const std::size_t P = policies.size();
    std::vector<std::vector<double>> lat(P);
    for (int round = 0; round < rounds; ++round)
        for (std::size_t i = 0; i < e.requests.size(); ++i)
            for (std::size_t k = 0; k < P; ++k) {
                const std::size_t j = (k + i + std::size_t(round)) % P;
                const auto t0 = std::chrono::steady_clock::now();
                const slate y = policies[j](e.requests[i]);
                lat[j].push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
                if (y.empty()) throw error("side_by_side_p50: a policy returned an empty slate");
            }
    std::vector<double> p50(P, 0.0);
    for (std::size_t j = 0; j < P; ++j) {
        if (lat[j].empty()) continue;
        std::nth_element(lat[j].begin(), lat[j].begin() + lat[j].size() / 2, lat[j].end());
        p50[j] = lat[j][lat[j].size() / 2];
    }
    return p50;
}

/// Graded collapse of a student over the evaluation requests.
inline double collapse(const nar_student<float>& s, const eval_set& e, int L) {
    workspace ws;
    double c = 0;
    for (const auto& r : e.requests) {
        std::vector<float> Z(std::size_t(L) * r.n());
        s.logits(r.observed.view(), L, Z.data(), ws);
        c += eval::collapse_rate(Z.data(), L, r.n());
    }
    return c / double(e.requests.size());
}

/// Requests first .. first+count-1 of the world as model inputs.
inline std::vector<request<float>> requests_of(const world& w, std::uint64_t first, std::size_t count) {
    std::vector<request<float>> out;
    out.reserve(count);
    sim_request r;
    for (std::size_t i = 0; i < count; ++i) {
        w.make_request(first + i, r);
        out.push_back(r.observed);
    }
    return out;
}

// ---------------------------------------------------------------- logs for the page evaluator

/// Logged pages of the world as a page source for train::fit_page_evaluator: pages
/// logs[begin .. end), labels per slot (click, long view given click). `expected_labels` (a
/// diagnostic, not oracle-free) uses the closed-form per-slot probabilities of the shown slate
/// instead of the sampled feedback. The page evaluator's loss reads only the shown items, so each
/// page is kept compactly in memory as its shown rows (a request of L candidates shown in order)
/// when the pages fit in `cache_floats` values (default 2^28, 1 GiB: 1M pages of the small world);
/// beyond that the requests are regenerated from the world by index on every read.
inline train::page_source<float> log_source(const world& w, const std::vector<logged_page>& logs, std::size_t begin,
                                            std::size_t end, bool expected_labels = false,
                                            std::size_t cache_floats = std::size_t(1) << 28) {
    if (begin > end || end > logs.size()) throw input_error("pipeline::log_source: range outside the logs");
    const int L = w.slate_size(), F = w.config().feature_dim, Fc = w.config().context_dim;
    auto fill = [&w, &logs, begin, expected_labels, L, F](std::size_t i, train::page_example<float>& p, sim_request& sr) {
        const logged_page& lp = logs[begin + i];
        w.make_request(lp.request_index, sr);
        p.req.n = L;
        p.req.f = F;
        p.req.features.resize(std::size_t(L) * F);
        for (int t = 0; t < L; ++t)
            std::copy_n(sr.observed.features.begin() + std::ptrdiff_t(lp.shown[std::size_t(t)]) * F, F,
                        p.req.features.begin() + std::ptrdiff_t(t) * F);
        p.req.context.assign(sr.observed.context.begin(), sr.observed.context.end());
        p.req.upstream_rank.clear();
        p.shown.resize(std::size_t(L));
        std::iota(p.shown.begin(), p.shown.end(), 0);
        p.log_propensity = lp.log_propensity;
        p.labels.resize(std::size_t(L) * 2);
        const page_feedback fb = expected_labels ? w.expected_feedback(sr, lp.shown) : page_feedback{};
        for (int t = 0; t < L; ++t) {
            const std::size_t k = std::size_t(t);
            p.labels[k * 2] = expected_labels ? fb.clicks[k] : lp.feedback.clicks[k];
            p.labels[k * 2 + 1] = expected_labels ? std::min(fb.long_views[k], fb.clicks[k]) : lp.feedback.long_views[k];
        }
    };
    train::page_source<float> s;
    s.count = end - begin;
    const std::size_t per_page = std::size_t(L) * (F + 2) + std::size_t(Fc);
    if (s.count * per_page <= cache_floats) {
        struct cache {
            std::vector<float> rows, ctx, labels;
            std::vector<double> logp;
        };
        auto c = std::make_shared<cache>();
        c->rows.resize(s.count * std::size_t(L) * F);
        c->ctx.resize(s.count * std::size_t(Fc));
        c->labels.resize(s.count * std::size_t(L) * 2);
        c->logp.resize(s.count);
        sim_request sr;
        train::page_example<float> p;
        for (std::size_t i = 0; i < s.count; ++i) {
            fill(i, p, sr);
            std::copy(p.req.features.begin(), p.req.features.end(), c->rows.begin() + std::ptrdiff_t(i * L * F));
            std::copy(p.req.context.begin(), p.req.context.end(), c->ctx.begin() + std::ptrdiff_t(i * Fc));
            std::copy(p.labels.begin(), p.labels.end(), c->labels.begin() + std::ptrdiff_t(i * L * 2));
            c->logp[i] = p.log_propensity;
        }
        s.get = [c, L, F, Fc](std::size_t i, train::page_example<float>& p) {
            p.req.n = L;
            p.req.f = F;
            p.req.features.assign(c->rows.begin() + std::ptrdiff_t(i * L * F), c->rows.begin() + std::ptrdiff_t((i + 1) * L * F));
            p.req.context.assign(c->ctx.begin() + std::ptrdiff_t(i * Fc), c->ctx.begin() + std::ptrdiff_t((i + 1) * Fc));
            p.req.upstream_rank.clear();
            p.shown.resize(std::size_t(L));
            std::iota(p.shown.begin(), p.shown.end(), 0);
            p.labels.assign(c->labels.begin() + std::ptrdiff_t(i * L * 2), c->labels.begin() + std::ptrdiff_t((i + 1) * L * 2));
            p.log_propensity = c->logp[i];
        };
    } else {
        s.get = [fill](std::size_t i, train::page_example<float>& p) {
            thread_local sim_request sr;
            fill(i, p, sr);
        };
    }
    return s;
}

/// Logging buckets, as a production system splits its traffic: most requests are served by the
/// current reranker with Gumbel-Max exploration at `serving_tau` (its propensity logged), a share
/// `explore_share` by an exploration bucket (Plackett-Luce over the upstream score at
/// `explore_temperature`). Without a serving reranker every request goes to the exploration bucket.
struct logging_buckets {
    const nar_student<float>* serving = nullptr;
    double serving_tau = 0.5;
    double explore_share = 0.2;
    double explore_temperature = 0.4;
};

/// `count` logged pages for requests first .. first + count - 1 under the buckets; reproducible
/// from (world, first, seed).
inline std::vector<logged_page> bucket_logs(const world& w, std::uint64_t first, std::size_t count, const logging_buckets& b,
                                            std::uint64_t seed) {
    if (!(b.explore_share >= 0 && b.explore_share <= 1)) throw input_error("logging_buckets: explore_share must be in [0, 1]");
    std::vector<logged_page> logs(count);
    rng g(seed);
    sim_request r;
    workspace ws;
    const int L = w.slate_size();
    behaviour_policy explore;
    explore.temperature = b.explore_temperature;
    std::vector<int> y(static_cast<std::size_t>(L));
    const counter_key key = counter_key::from_seed(seed * 3 + 1);
    for (std::size_t p = 0; p < count; ++p) {
        logged_page& page = logs[p];
        page.request_index = first + p;
        w.make_request(page.request_index, r);
        if (!b.serving || g.uniform() < b.explore_share) {
            page.shown = explore.sample(w, r, g, &page.log_propensity);
        } else {
            float lp = 0;
            decode::student_sample(*b.serving, r.observed.view(), L, 1, b.serving_tau, key,
                                   std::uint32_t(p) * std::uint32_t(L * r.n()), y.data(), &lp, ws);
            page.shown.assign(y.begin(), y.end());
            page.log_propensity = double(lp);
        }
        w.sample_feedback(r, page.shown, g, conditions{}, page.feedback);
    }
    return logs;
}

/// Where the K slates of a request come from when a scorer's within-request correlation is measured.
enum class slate_distribution { logged, random, proposals };

/// Within-request rank correlation of `scorer` with the closed-form utility over `requests` held-out
/// requests (indices eval_base + 100000 + i, as the demo's gate), K slates each: the student's
/// greedy + K-1 Gumbel-Max proposals at `tau` (proposals), Plackett-Luce behaviour samples (logged),
/// or uniformly random slates (random). `before(r)` is called before each request is scored.
template <class Scorer, class Before>
eval::rank_correlation_summary scorer_correlation(const world& w, const Scorer& scorer, Before before, slate_distribution dist,
                                                  const nar_student<float>* student, int requests, int K, double tau,
                                                  std::uint64_t seed) {
    const int L = w.slate_size();
    std::vector<std::vector<float>> sc;
    std::vector<std::vector<double>> ut;
    workspace ws_student, ws_scorer;
    std::vector<int> slates(std::size_t(K) * L);
    std::vector<float> scores(static_cast<std::size_t>(K));
    rng g(seed * 13 + 5);
    behaviour_policy logged;
    for (int i = 0; i < requests; ++i) {
        sim_request r = w.eval_request(100000 + std::uint64_t(i));
        before(r);
        if (dist == slate_distribution::proposals) {
            if (!student) throw input_error("scorer_correlation: proposals need a student");
            decode::student_sample(*student, r.observed.view(), L, K, tau, counter_key::from_seed(seed), 0, slates.data(),
                                   static_cast<float*>(nullptr), ws_student);
        } else {
            for (int k = 0; k < K; ++k) {
                const slate y = dist == slate_distribution::logged ? logged.sample(w, r, g) : random_slate(r.n(), L, g);
                std::copy(y.begin(), y.end(), slates.begin() + std::ptrdiff_t(k) * L);
            }
        }
        scorer(r.observed.view(), K, L, slates.data(), scores.data(), ws_scorer);
        std::vector<double> u;
        for (int k = 0; k < K; ++k)
            u.push_back(w.utility_unchecked(r, slates.data() + std::size_t(k) * L, L, conditions{}));
        sc.emplace_back(scores.begin(), scores.end());
        ut.push_back(std::move(u));
    }
    return eval::scorer_rank_correlation(sc, ut);
}

/// How good GReF's Rerank-DPO pairs are as preferences, measured with the closed form (analysis
/// only; docs/logs.md): over the logged pages whose winner differs from the shown slate, the
/// winner Y_w is the shown slate re-sorted by S_i = alpha / P_i + gamma * U_i (U_i: the click, plus
/// `long_view_weight` times the long view), the loser Y_l the shown order.
struct dpo_pair_quality {
    std::size_t pages = 0, pairs = 0;
    double winner_better = 0;   ///< share of pairs with U(Y_w) > U(Y_l) (true expected utility)
    double winner_worse = 0;    ///< share with U(Y_w) < U(Y_l)
    double mean_gain = 0;       ///< mean U(Y_w) - U(Y_l) over the pairs
    double mean_loser = 0;      ///< mean U(Y_l) over the pairs
    double mean_best_gain = 0;  ///< mean U(best order of the shown items) - U(Y_l): what a perfect winner would gain
};

inline dpo_pair_quality dpo_pair_report(const world& w, const std::vector<logged_page>& logs, std::size_t count, double alpha = 1.0,
                                        double gamma = 1.0, double long_view_weight = 0.0) {
    dpo_pair_quality q;
    sim_request r;
    std::vector<float> u;
    for (std::size_t i = 0; i < std::min(count, logs.size()); ++i) {
        const logged_page& p = logs[i];
        ++q.pages;
        const std::size_t L = p.shown.size();
        u.assign(L, 0.0f);
        for (std::size_t t = 0; t < L; ++t)
            u[t] = p.feedback.clicks[t] + float(long_view_weight) * p.feedback.long_views[t];
        const slate yw = train::rerank_dpo_winner(p.shown, u.data(), alpha, gamma);
        if (yw == p.shown) continue;
        w.make_request(p.request_index, r);
        const double uw = w.expected_utility(r, yw), ul = w.expected_utility(r, p.shown);
        // the best order of the shown items (L! orders; L = 6 on the small world)
        slate perm = p.shown;
        std::sort(perm.begin(), perm.end());
        double best = -1e300;
        if (L <= 8) {
            do best = std::max(best, w.expected_utility(r, perm));
            while (std::next_permutation(perm.begin(), perm.end()));
        } else {
            best = std::max(uw, ul);
        }
        ++q.pairs;
        q.winner_better += uw > ul;
        q.winner_worse += uw < ul;
        q.mean_gain += uw - ul;
        q.mean_loser += ul;
        q.mean_best_gain += best - ul;
    }
    if (q.pairs > 0) {
        const double n = double(q.pairs);
        q.winner_better /= n;
        q.winner_worse /= n;
        q.mean_gain /= n;
        q.mean_loser /= n;
        q.mean_best_gain /= n;
    }
    return q;
}

}  // namespace pipeline
DUALRERANK_NAMESPACE_END
