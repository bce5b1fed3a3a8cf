// The Dual-Rerank pipeline on the built-in world, shared by the demo, the experiment programs
// and the CLI: logs -> teachers (log recipe, search-distilled) -> students (supervised, SKD) ->
// RL (LDRO, GRPO) -> Best-of-N, and the evaluation of any policy on fixed requests.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
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

}  // namespace pipeline
DUALRERANK_NAMESPACE_END
