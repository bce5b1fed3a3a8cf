// The posterior scorer (sim/posterior.hpp, an oracle diagnostic): with noise-free features it is
// the closed form; its importance-sampled posterior means match a quadrature of the world's
// generative model on a tiny world (and ignoring the weights does not); draws are deterministic in
// (seed, request) and independent of what was scored before.
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "test_header.hpp"

using namespace dualrerank;

namespace dualrerank_test_posterior_scorer {

std::vector<int> random_slates(int n, int K, int L, rng& g) {
    std::vector<int> out;
    for (int k = 0; k < K; ++k) {
        const slate y = random_slate(n, L, g);
        out.insert(out.end(), y.begin(), y.end());
    }
    return out;
}

double normal_pdf(double x, double mean, double var) {
    return std::exp(-0.5 * (x - mean) * (x - mean) / var) / std::sqrt(6.283185307179586 * var);
}

// Posterior means of u and of each a_i by quadrature of the generative model (k = 1): the prior
// densities times the likelihoods of the observed features, with q integrated out analytically
// (N(s; beta a, sq^2 + su^2)). For fixed u the items are independent, so the integral over
// (u, v_1..v_n) is a 1-D integral over u of a product of 1-D integrals over each v_i.
struct quadrature_result {
    double u_mean = 0;
    std::vector<double> a_mean;
};
quadrature_result quadrature(const world& w, const sim_request& r) {
    const world_config& c = w.config();
    const feature_layout& lay = w.layout();
    const int n = r.n();
    const double alpha = c.affinity_scale / std::sqrt(double(c.latent_dim));
    const double V = c.quality_std * c.quality_std + c.upstream_noise * c.upstream_noise;
    const int G = 1601;
    const double lo = -8.0, h = 16.0 / (G - 1);
    const double xc = r.observed.context[0];
    double Z = 0, Zu = 0;
    std::vector<double> Za(std::size_t(n), 0.0);
    std::vector<double> Gi(static_cast<std::size_t>(n)), Gai(static_cast<std::size_t>(n));
    for (int gu = 0; gu < G; ++gu) {
        const double u = lo + h * gu;
        const double pu = normal_pdf(u, 0.0, 1.0) * normal_pdf(xc, u, c.context_noise * c.context_noise);
        double prod = pu;
        for (int i = 0; i < n; ++i) {
            const float* row = &r.observed.features[std::size_t(i) * std::size_t(c.feature_dim)];
            const double m = w.centroid(r.category[std::size_t(i)])[0];
            const double x = row[lay.latent], s = row[lay.upstream_score];
            double g0 = 0, g1 = 0;
            for (int gv = 0; gv < G; ++gv) {
                const double v = lo + h * gv;
                const double a = alpha * u * v;
                const double p = normal_pdf(v, std::sqrt(c.category_share) * m, 1.0 - c.category_share) *
                                 normal_pdf(x, v, c.latent_noise * c.latent_noise) *
                                 normal_pdf(s, c.upstream_affinity_share * a, V);
                g0 += p;
                g1 += p * a;
            }
            Gi[std::size_t(i)] = g0;
            Gai[std::size_t(i)] = g1;
            prod *= g0;
        }
        Z += prod;
        Zu += prod * u;
        for (int i = 0; i < n; ++i) Za[std::size_t(i)] += prod / Gi[std::size_t(i)] * Gai[std::size_t(i)];
    }
    quadrature_result q;
    q.u_mean = Zu / Z;
    for (int i = 0; i < n; ++i) q.a_mean.push_back(Za[std::size_t(i)] / Z);
    return q;
}

}  // namespace dualrerank_test_posterior_scorer

using namespace dualrerank_test_posterior_scorer;

TEST_CASE("posterior scorer: noise-free features give the closed form", "[simulator]") {
    world_config c = world_config::small();
    c.latent_noise = c.context_noise = c.depth_noise = c.upstream_noise = 0.0;
    const world w(c, 3);
    const int K = 8, L = w.slate_size();
    rng g(11);
    for (auto target : {posterior_target::expected_utility, posterior_target::plug_in, posterior_target::expected_rank}) {
        posterior_stats stats;
        posterior_scorer ps{&w, posterior_options{64, 5}, target, conditions{}, &stats};
        workspace ws;
        for (int i = 0; i < 10; ++i) {
            const sim_request r = w.eval_request(std::uint64_t(i));
            const std::vector<int> y = random_slates(r.n(), K, L, g);
            std::vector<float> score(std::size_t(K), 0.0f);
            ps(r.observed.view(), K, L, y.data(), score.data(), ws);
            std::vector<double> u;
            for (int k = 0; k < K; ++k) u.push_back(w.utility_unchecked(r, y.data() + std::size_t(k) * L, L, conditions{}));
            if (target == posterior_target::expected_rank) {
                const std::vector<double> rank = eval::average_ranks(u);
                for (int k = 0; k < K; ++k) REQUIRE(double(score[std::size_t(k)]) == Approx(rank[std::size_t(k)]).margin(1e-4));
            } else {
                for (int k = 0; k < K; ++k) REQUIRE(double(score[std::size_t(k)]) == Approx(u[std::size_t(k)]).epsilon(1e-5).margin(1e-6));
            }
        }
        // every draw is the truth, so every weight is 1/M
        REQUIRE(stats.requests == 10);
        REQUIRE(stats.ess_min == Approx(64.0).epsilon(1e-9));
    }
}

TEST_CASE("posterior scorer: world::set_item_terms reproduces the request's hidden terms", "[simulator]") {
    const world w(world_config::small(), 2);
    const sim_request r = w.make_request(17);
    sim_request h = r;
    const auto& c = w.config();
    for (int i = 0; i < r.n(); ++i) {
        const double p = r.long_view_prob[std::size_t(i)];
        const double d = std::log(p / (1 - p)) - c.long_bias - c.long_quality * r.quality[std::size_t(i)];
        std::fill(h.affinity.begin(), h.affinity.end(), 0.0);
        w.set_item_terms(h, i, r.quality[std::size_t(i)], d);
        REQUIRE(h.affinity[std::size_t(i)] == Approx(r.affinity[std::size_t(i)]).margin(1e-12));
        REQUIRE(h.base_logit[std::size_t(i)] == Approx(r.base_logit[std::size_t(i)]).margin(1e-12));
        REQUIRE(h.long_view_prob[std::size_t(i)] == Approx(p).margin(1e-12));
    }
}

TEST_CASE("posterior scorer: importance-sampled posterior means match quadrature", "[simulator]") {
    // a tiny world whose upstream score says much about the affinity (share 1, little noise), and
    // noisy context and latent features, so the importance weights move the posterior far
    world_config c;
    c.num_candidates = 3;
    c.slate_size = 2;
    c.latent_dim = 1;
    c.num_categories = 2;
    c.feature_dim = 3 + 2 + 1;
    c.context_dim = 1;
    c.affinity_scale = 2.0;
    c.upstream_affinity_share = 1.0;
    c.upstream_noise = 0.3;
    c.context_noise = 1.0;
    c.latent_noise = 1.0;
    const world w(c, 4);
    const int M = 20000;
    const double gain = 1.0 / (1.0 + 0.09);  // sq^2 / (sq^2 + su^2)
    double worst_unweighted = 0;
    for (std::uint64_t idx = 0; idx < 4; ++idx) {
        const sim_request r = w.make_request(idx);
        const quadrature_result exact = quadrature(w, r);
        posterior_draws d;
        sample_posterior(w, r.observed.view(), posterior_options{M, 9}, d);
        REQUIRE(d.samples() == M);
        REQUIRE(d.ess >= 1.0);
        REQUIRE(d.ess <= M * (1 + 1e-9));
        // self-normalized IS: estimate sum w f, standard error sqrt(sum w^2 (f - estimate)^2)
        auto check = [&](auto f, double truth) {
            double est = 0, plain = 0;
            for (int m = 0; m < M; ++m) {
                est += d.weights[std::size_t(m)] * f(m);
                plain += f(m) / M;
            }
            double var = 0;
            for (int m = 0; m < M; ++m) var += d.weights[std::size_t(m)] * d.weights[std::size_t(m)] * (f(m) - est) * (f(m) - est);
            const double se = std::sqrt(var);
            INFO("request " << idx << ": IS " << est << " (se " << se << ", ESS " << d.ess << "), quadrature " << truth
                            << ", unweighted " << plain);
            REQUIRE(std::fabs(est - truth) <= 5 * se + 1e-3);
            worst_unweighted = std::max(worst_unweighted, std::fabs(plain - truth) / std::max(se, 1e-3));
        };
        check([&](int m) { return d.states[std::size_t(m)].user[0]; }, exact.u_mean);
        for (int i = 0; i < r.n(); ++i) {
            check([&](int m) { return d.states[std::size_t(m)].affinity[std::size_t(i)]; }, exact.a_mean[std::size_t(i)]);
            // E[q_i | o] = gain (s_i - beta E[a_i | o]): the sampled qualities against it
            const double s = r.observed.features[std::size_t(i) * std::size_t(c.feature_dim)];
            check([&](int m) { return d.states[std::size_t(m)].quality[std::size_t(i)]; }, gain * (s - exact.a_mean[std::size_t(i)]));
        }
        // the plug-in state holds the posterior means
        const sim_request pm = posterior_mean_state(w, d);
        double qbar = 0;
        for (int m = 0; m < M; ++m) qbar += d.weights[std::size_t(m)] * d.states[std::size_t(m)].quality[0];
        REQUIRE(pm.quality[0] == Approx(qbar).margin(1e-12));
    }
    // the weights matter here: the proposal alone (equal weights) misses by many standard errors
    INFO("largest |unweighted - quadrature| / se: " << worst_unweighted);
    REQUIRE(worst_unweighted > 10.0);
}

TEST_CASE("posterior scorer: deterministic in (seed, request), independent of order", "[simulator]") {
    const world w(world_config::small(), 1);
    const int K = 6, L = w.slate_size();
    rng g(3);
    const sim_request a = w.eval_request(0), b = w.eval_request(1);
    const std::vector<int> ya = random_slates(a.n(), K, L, g), yb = random_slates(b.n(), K, L, g);
    workspace ws;
    auto score = [&](std::uint64_t seed, const sim_request& r, const std::vector<int>& y) {
        posterior_scorer ps{&w, posterior_options{300, seed}};
        std::vector<float> s(static_cast<std::size_t>(K));
        ps(r.observed.view(), K, L, y.data(), s.data(), ws);
        return s;
    };
    const auto a1 = score(7, a, ya);
    const auto b1 = score(7, b, yb);
    const auto b2 = score(7, b, yb);
    const auto a2 = score(7, a, ya);
    REQUIRE(a1 == a2);
    REQUIRE(b1 == b2);
    REQUIRE(score(8, a, ya) != a1);

    posterior_draws d1, d2;
    sample_posterior(w, a.observed.view(), posterior_options{50, 7}, d1);
    sample_posterior(w, a.observed.view(), posterior_options{50, 7}, d2);
    REQUIRE(d1.weights == d2.weights);
    REQUIRE(d1.states[49].latent == d2.states[49].latent);
}

TEST_CASE("posterior scorer: bad input throws", "[simulator]") {
    const world w(world_config::small(), 1);
    const sim_request r = w.eval_request(0);
    posterior_draws d;
    REQUIRE_THROWS_AS(sample_posterior(w, r.observed.view(), posterior_options{0, 1}, d), input_error);
    request_view<float> v = r.observed.view();
    v.f = 31;
    REQUIRE_THROWS_AS(sample_posterior(w, v, posterior_options{10, 1}, d), input_error);
    request<float> broken = r.observed;
    broken.features[std::size_t(w.layout().category)] = 0.5f;  // candidate 0: no one-hot
    broken.features[std::size_t(w.layout().category + 1)] = 0.5f;
    REQUIRE_THROWS_AS(sample_posterior(w, broken.view(), posterior_options{10, 1}, d), input_error);
    world_config cut = world_config::small();
    cut.feature_dim = 12;  // the item latent does not fit
    const world wc(cut, 1);
    const sim_request rc = wc.eval_request(0);
    REQUIRE_THROWS_AS(sample_posterior(wc, rc.observed.view(), posterior_options{10, 1}, d), input_error);
    posterior_scorer ps{&w, posterior_options{10, 1}};
    workspace ws;
    std::vector<int> y = {0, 1, 2, 3, 4, 4};  // a repeat
    float s = 0;
    REQUIRE_THROWS_AS(ps(r.observed.view(), 1, 6, y.data(), &s, ws), input_error);
}

TEST_CASE("posterior scorer: posterior means are calibrated on the small world", "[simulator]") {
    // E[truth | posterior mean] = posterior mean: regressing the true quality, affinity and appeal
    // logit on their posterior means gives slope 1 and intercept 0 (a wrong prior, gain or noise
    // level bends the slope)
    const world w(world_config::small(), 1);
    struct fit {
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int n = 0;
        void add(double x, double y) {
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            ++n;
        }
        double slope() const { return (sxy / n - sx / n * sy / n) / (sxx / n - sx / n * sx / n); }
        double intercept() const { return sy / n - slope() * sx / n; }
    };
    fit fq, fa, fz;
    posterior_draws d;
    for (int i = 0; i < 80; ++i) {
        const sim_request r = w.eval_request(std::uint64_t(200000 + i));
        sample_posterior(w, r.observed.view(), posterior_options{400, 3}, d);
        for (int j = 0; j < r.n(); ++j) {
            double q = 0, a = 0, z = 0;
            for (int m = 0; m < d.samples(); ++m) {
                const double wm = d.weights[std::size_t(m)];
                q += wm * d.states[std::size_t(m)].quality[std::size_t(j)];
                a += wm * d.states[std::size_t(m)].affinity[std::size_t(j)];
                z += wm * d.states[std::size_t(m)].base_logit[std::size_t(j)];
            }
            fq.add(q, r.quality[std::size_t(j)]);
            fa.add(a, r.affinity[std::size_t(j)]);
            fz.add(z, r.base_logit[std::size_t(j)]);
        }
    }
    for (const fit* f : {&fq, &fa, &fz}) {
        INFO("slope " << f->slope() << ", intercept " << f->intercept() << " over " << f->n << " candidates");
        REQUIRE(std::fabs(f->slope() - 1.0) < 0.06);
        REQUIRE(std::fabs(f->intercept()) < 0.06);
    }
}
