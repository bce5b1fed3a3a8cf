// The information ceiling of a logs-only slate scorer on the built-in world (docs/evaluator.md,
// "The information ceiling"). An ORACLE DIAGNOSTIC, not oracle-free: it uses the world's parameters
// (category centroids m_c, noise levels, every weight of world_config), which no model fitted on
// logs is given. It sees only a request's observed features, so it bounds what any scorer of those
// features can reach, learned or not.
//
// Given the observed features o of a request, the hidden latents h = (u, v_i, q_i, d_i) have the
// posterior p(h | o) of the generative model in world.hpp. The Bayes scorer of a slate is
// E[U(y) | o] = integral of U(y; h) p(h | o) dh, U the world's closed form (world::utility_unchecked
// on a sim_request that holds the sampled h; world::set_item_terms turns latents into the terms
// the closed form reads, so nothing of the world's formula is repeated here).
//
// Sampler: self-normalized importance sampling, exact as M grows. With beta =
// upstream_affinity_share, sq = quality_std, su = upstream_noise:
//   proposal  u_j  ~ p(u_j | context feature j)               N(0, 1) prior, noise context_noise
//             v_ij ~ p(v_ij | latent feature, category c_i)    N(sqrt(s) m_c, 1 - s) prior, noise latent_noise
//             d_i  ~ p(d_i | depth feature)                    N(0, depth_std^2) prior, noise depth_noise
//             q_i  ~ p(q_i | s_i, a_i)                         N(0, sq^2) prior, s_i - beta a_i = q_i + N(0, su^2)
//             (a_i = affinity_scale u . v_i / sqrt(k), from the sampled u and v_i)
//   weight    prod_i N(s_i; beta a_i, sq^2 + su^2)   (what the upstream scores say about u and the v_i,
//                                                     which the proposal ignored)
// Each factor is a conjugate Gaussian update; the joint posterior is proposal x weight up to a
// constant. Categories are observed exactly (one-hot), and the upstream rank is a function of the
// upstream scores, so it adds nothing. Context dimensions the request does not carry (context
// width < k) keep their prior.
//
// The draws of a request depend only on (posterior_options::seed, the request's observed values),
// so a scorer gives the same scores whatever it scored before, and all K slates of a request are
// scored on the same draws (common random numbers).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../core/workspace.hpp"
#include "../eval/metrics.hpp"
#include "../model/config.hpp"
#include "world.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// How many draws, from which seed.
struct posterior_options {
    int samples = 2000;       ///< M draws per request, in [1, 2^20]
    std::uint64_t seed = 1;   ///< the draws depend on (seed, the request's observed values) only
};

/// M weighted draws of one request's hidden state.
struct posterior_draws {
    /// [M] hidden states: user, latent, category, quality, affinity, base_logit, long_view_prob and
    /// upstream_score (the observed one) are set, and observed.n (so every world method that takes a
    /// sim_request, e.g. expected_utility, accepts a state); the observed features are left empty.
    std::vector<sim_request> states;
    std::vector<double> depth;    ///< [M x n] sampled depth d_i (a state keeps only P(long | click))
    std::vector<double> weights;  ///< [M] self-normalized importance weights (sum 1)
    double ess = 0.0;             ///< effective sample size 1 / sum w^2, in [1, M]

    int samples() const noexcept { return static_cast<int>(weights.size()); }
    int n() const noexcept { return states.empty() ? 0 : static_cast<int>(states.front().category.size()); }
};

namespace detail {

struct gaussian_moments {
    double mean = 0.0, sd = 0.0;
};

/// Posterior of z ~ N(prior_mean, prior_var) after observing x = z + N(0, noise_var).
inline gaussian_moments gaussian_update(double prior_mean, double prior_var, double x, double noise_var) noexcept {
    const double total = prior_var + noise_var;
    if (!(total > 0.0)) return {prior_mean, 0.0};
    return {prior_mean + prior_var / total * (x - prior_mean), std::sqrt(prior_var * noise_var / total)};
}

/// FNV-1a over the bytes of the request's observed values (features, context, shape).
inline std::uint64_t observed_hash(const request_view<float>& r) noexcept {
    std::uint64_t h = 1469598103934665603ULL;
    auto mix = [&h](const void* p, std::size_t bytes) {
        const unsigned char* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < bytes; ++i) {
            h ^= b[i];
            h *= 1099511628211ULL;
        }
    };
    const std::int64_t shape[3] = {r.n, r.f, r.fc};
    mix(shape, sizeof shape);
    if (r.features) mix(r.features, sizeof(float) * static_cast<std::size_t>(r.n) * static_cast<std::size_t>(r.f));
    if (r.context && r.fc > 0) mix(r.context, sizeof(float) * static_cast<std::size_t>(r.fc));
    return h;
}

}  // namespace detail

/// Draws M hidden states of request `r` (observed features of world `w`'s layout) from their
/// posterior by self-normalized importance sampling (header comment). Throws input_error when the
/// request does not have the world's feature width, a category one-hot is not exactly one column,
/// the world's feature layout cuts an informative column (needs feature_dim >= 3 + C + k), the
/// posterior has no density (quality_std = upstream_noise = 0), or M is outside [1, 2^20] or
/// M * n * (k + 8) exceeds 2^27 values (1 GiB).
inline void sample_posterior(const world& w, const request_view<float>& r, const posterior_options& o, posterior_draws& out) {
    const world_config& cfg = w.config();
    const feature_layout& lay = w.layout();
    const int n = r.n, k = cfg.latent_dim, C = cfg.num_categories, M = o.samples;
    if (M < 1 || M > (1 << 20)) detail::throw_input("sample_posterior: samples must be in [1, 2^20], got " + std::to_string(M));
    if (n < 1 || n > (1 << 16)) detail::throw_input("sample_posterior: the request has " + std::to_string(n) + " candidates");
    if (r.f != cfg.feature_dim || !r.features)
        detail::throw_input("sample_posterior: the request has " + std::to_string(r.f) + " features per candidate, the world " +
                            std::to_string(cfg.feature_dim));
    if (lay.upstream_score < 0 || lay.depth < 0 || lay.category_width != C || lay.latent_width != k)
        detail::throw_input("sample_posterior: the world's feature_dim cuts an informative column (needs >= 3 + C + k = " +
                            std::to_string(3 + C + k) + ")");
    if (static_cast<double>(M) * n * (k + 8) > static_cast<double>(std::int64_t(1) << 27))
        detail::throw_input("sample_posterior: samples * n * (k + 8) must be <= 2^27");
    const double sq2 = cfg.quality_std * cfg.quality_std, su2 = cfg.upstream_noise * cfg.upstream_noise;
    const double V = sq2 + su2;
    if (!(V > 0.0)) detail::throw_input("sample_posterior: quality_std = upstream_noise = 0, the posterior has no density");
    const double beta = cfg.upstream_affinity_share;

    // observed values and the moments that do not depend on a draw
    const std::size_t F = static_cast<std::size_t>(r.f);
    std::vector<int> cat(static_cast<std::size_t>(n));
    std::vector<double> s(static_cast<std::size_t>(n));
    std::vector<detail::gaussian_moments> v_post(static_cast<std::size_t>(n) * k), d_post(static_cast<std::size_t>(n)),
        u_post(static_cast<std::size_t>(k));
    const double share = cfg.category_share, a_cat = std::sqrt(share);
    for (int i = 0; i < n; ++i) {
        const float* row = r.features + static_cast<std::size_t>(i) * F;
        int c = -1, ones = 0;
        for (int j = 0; j < C; ++j)
            if (row[lay.category + j] != 0.0f) {
                c = j;
                ++ones;
            }
        if (ones != 1 || row[lay.category + c] != 1.0f)
            detail::throw_input("sample_posterior: candidate " + std::to_string(i) + " has no one-hot category");
        cat[static_cast<std::size_t>(i)] = c;
        s[static_cast<std::size_t>(i)] = row[lay.upstream_score];
        const double* m = w.centroid(c);
        for (int j = 0; j < k; ++j)
            v_post[static_cast<std::size_t>(i) * k + j] = detail::gaussian_update(
                a_cat * m[j], 1.0 - share, row[lay.latent + j], cfg.latent_noise * cfg.latent_noise);
        d_post[static_cast<std::size_t>(i)] =
            detail::gaussian_update(0.0, cfg.depth_std * cfg.depth_std, row[lay.depth], cfg.depth_noise * cfg.depth_noise);
    }
    for (int j = 0; j < k; ++j)
        u_post[static_cast<std::size_t>(j)] = j < r.fc && r.context
                                                  ? detail::gaussian_update(0.0, 1.0, r.context[j], cfg.context_noise * cfg.context_noise)
                                                  : detail::gaussian_moments{0.0, 1.0};

    rng g(o.seed ^ detail::observed_hash(r));
    detail::normal_source normal(g);
    out.states.resize(static_cast<std::size_t>(M));
    out.depth.resize(static_cast<std::size_t>(M) * n);
    out.weights.resize(static_cast<std::size_t>(M));
    for (int m = 0; m < M; ++m) {
        sim_request& h = out.states[static_cast<std::size_t>(m)];
        h.observed.n = n;
        h.user.resize(static_cast<std::size_t>(k));
        h.latent.resize(static_cast<std::size_t>(n) * k);
        h.category = cat;
        h.upstream_score = s;
        h.quality.resize(static_cast<std::size_t>(n));
        h.affinity.resize(static_cast<std::size_t>(n));
        h.base_logit.resize(static_cast<std::size_t>(n));
        h.long_view_prob.resize(static_cast<std::size_t>(n));
        for (int j = 0; j < k; ++j) h.user[j] = u_post[j].mean + u_post[j].sd * normal();
        double log_w = 0.0;
        for (int i = 0; i < n; ++i) {
            for (int j = 0; j < k; ++j) {
                const auto& p = v_post[static_cast<std::size_t>(i) * k + j];
                h.latent[static_cast<std::size_t>(i) * k + j] = p.mean + p.sd * normal();
            }
            const double d = d_post[i].mean + d_post[i].sd * normal();
            out.depth[static_cast<std::size_t>(m) * n + i] = d;
            w.set_item_terms(h, i, 0.0, d);  // a_i first (it does not depend on q_i)
            const double a = h.affinity[i];
            const double resid = s[i] - beta * a;
            const auto q = detail::gaussian_update(0.0, sq2, resid, su2);
            w.set_item_terms(h, i, q.mean + q.sd * normal(), d);
            log_w -= 0.5 * resid * resid / V;
        }
        out.weights[static_cast<std::size_t>(m)] = log_w;
    }
    const double mx = *std::max_element(out.weights.begin(), out.weights.end());
    double sum = 0.0;
    for (double& x : out.weights) sum += (x = std::exp(x - mx));
    double sum2 = 0.0;
    for (double& x : out.weights) {
        x /= sum;
        sum2 += x * x;
    }
    out.ess = 1.0 / sum2;
}

/// The hidden state at the posterior means of the latents (u, v_i, q_i, d_i), turned into the
/// closed form's terms by world::set_item_terms: the "plug-in" scorer, which ignores that U is
/// nonlinear in the latents.
inline sim_request posterior_mean_state(const world& w, const posterior_draws& d) {
    if (d.states.empty()) detail::throw_input("posterior_mean_state: no draws");
    const sim_request& first = d.states.front();
    const int n = d.n(), M = d.samples();
    sim_request h = first;
    std::fill(h.user.begin(), h.user.end(), 0.0);
    std::fill(h.latent.begin(), h.latent.end(), 0.0);
    std::vector<double> q(static_cast<std::size_t>(n), 0.0), dep(static_cast<std::size_t>(n), 0.0);
    for (int m = 0; m < M; ++m) {
        const double wm = d.weights[static_cast<std::size_t>(m)];
        const sim_request& s = d.states[static_cast<std::size_t>(m)];
        for (std::size_t j = 0; j < h.user.size(); ++j) h.user[j] += wm * s.user[j];
        for (std::size_t j = 0; j < h.latent.size(); ++j) h.latent[j] += wm * s.latent[j];
        for (int i = 0; i < n; ++i) {
            q[static_cast<std::size_t>(i)] += wm * s.quality[static_cast<std::size_t>(i)];
            dep[static_cast<std::size_t>(i)] += wm * d.depth[static_cast<std::size_t>(m) * n + i];
        }
    }
    for (int i = 0; i < n; ++i) w.set_item_terms(h, i, q[static_cast<std::size_t>(i)], dep[static_cast<std::size_t>(i)]);
    return h;
}

/// What the posterior scorer returns for a slate.
enum class posterior_target {
    expected_utility,  ///< E[U(y) | observed]: the Bayes scorer of the utility (least squares)
    expected_rank,     ///< E[rank of U(y) among the K slates | observed]: maximizes the expected
                       ///< within-request Spearman correlation (rearrangement inequality)
    plug_in            ///< U(y) at the posterior means of the latents (posterior_mean_state)
};

/// Effective sample sizes seen by a posterior_scorer, one per scored request.
struct posterior_stats {
    int requests = 0;
    double ess_sum = 0.0;
    double ess_min = std::numeric_limits<double>::infinity();
    void add(double ess) noexcept {
        ++requests;
        ess_sum += ess;
        ess_min = std::min(ess_min, ess);
    }
    double ess_mean() const noexcept { return requests ? ess_sum / requests : 0.0; }
};

/// A slate scorer (the callable of decode::best_of_n and pipeline::scorer_correlation) that scores
/// the K slates of a request from its observed features alone, through the world's posterior. An
/// oracle diagnostic (it knows the world's parameters); it carries no trust record, so best_of_n
/// never serves with it. Scores are in `cond` (default conditions). L may be at most the world's
/// slate size (a prefix). With `stats` set, each request's ESS is added there (then one thread).
struct posterior_scorer {
    const world* w = nullptr;
    posterior_options options{};
    posterior_target target = posterior_target::expected_utility;
    conditions cond{};
    posterior_stats* stats = nullptr;

    void operator()(const request_view<float>& r, int K, int L, const int* slates, float* scores, workspace&) const {
        if (!w) detail::throw_input("posterior_scorer: no world");
        if (K < 1 || L < 1 || L > w->slate_size() || L > r.n)
            detail::throw_input("posterior_scorer: K = " + std::to_string(K) + ", L = " + std::to_string(L) +
                                " (L must be in [1, min(n, the world's slate size)])");
        for (int k = 0; k < K; ++k) detail::validate_slate(slates + static_cast<std::size_t>(k) * L, L, r.n, "posterior_scorer");
        posterior_draws d;
        sample_posterior(*w, r, options, d);
        if (stats) stats->add(d.ess);
        if (target == posterior_target::plug_in) {
            const sim_request h = posterior_mean_state(*w, d);
            for (int k = 0; k < K; ++k)
                scores[k] = static_cast<float>(w->utility_unchecked(h, slates + static_cast<std::size_t>(k) * L, L, cond));
            return;
        }
        std::vector<double> acc(static_cast<std::size_t>(K), 0.0), u(static_cast<std::size_t>(K));
        for (int m = 0; m < d.samples(); ++m) {
            const sim_request& h = d.states[static_cast<std::size_t>(m)];
            for (int k = 0; k < K; ++k)
                u[static_cast<std::size_t>(k)] = w->utility_unchecked(h, slates + static_cast<std::size_t>(k) * L, L, cond);
            const double wm = d.weights[static_cast<std::size_t>(m)];
            if (target == posterior_target::expected_rank) {
                const std::vector<double> rank = eval::average_ranks(u);
                for (int k = 0; k < K; ++k) acc[static_cast<std::size_t>(k)] += wm * rank[static_cast<std::size_t>(k)];
            } else {
                for (int k = 0; k < K; ++k) acc[static_cast<std::size_t>(k)] += wm * u[static_cast<std::size_t>(k)];
            }
        }
        for (int k = 0; k < K; ++k) scores[k] = static_cast<float>(acc[static_cast<std::size_t>(k)]);
    }
};

DUALRERANK_NAMESPACE_END
