// SKD and LDRO/GRPO losses: gradients against finite differences, advantage properties, and
// the teacher's sampled decoding.
#include <map>
#include <set>

#include "test_util.hpp"

using namespace dualrerank;

namespace {
template <class F>
void check_logit_gradient(std::vector<double>& Z, const std::vector<double>& dZ, F loss, double tol) {
    for (std::size_t i = 0; i < Z.size(); ++i) {
        const double old = Z[i];
        Z[i] = old + 1e-6;
        const double fp = loss();
        Z[i] = old - 1e-6;
        const double fm = loss();
        Z[i] = old;
        INFO("entry " << i);
        CHECK(std::fabs((fp - fm) / 2e-6 - dZ[i]) < tol);
    }
}
}  // namespace

TEST_CASE("SKD loss gradient matches finite differences", "[skd]") {
    rng g(1);
    const int L = 4, n = 7;
    train::skd_targets<double> tg;
    tg.K = 3;
    tg.L = L;
    tg.n = n;
    tg.slates = {0, 1, 2, 3, 6, 5, 4, 3, 2, 0, 6, 1};
    tg.weight = {0.5, 0.3, 0.2};
    tg.teacher_lp.resize(std::size_t(tg.K) * L * n);
    for (int k = 0; k < tg.K; ++k)
        for (int t = 0; t < L; ++t) {
            std::vector<double> z(n);
            for (auto& v : z) v = g.normal();
            for (int u = 0; u < t; ++u) z[tg.slates[k * L + u]] = -std::numeric_limits<double>::infinity();
            nn::log_softmax_row(z.data(), n, tg.teacher_lp.data() + (std::size_t(k) * L + t) * n);
        }
    for (double tau : {1.0, 2.0}) {
        train::skd_config cfg;
        cfg.tau = tau;
        cfg.lambda_kl = 5;
        std::vector<double> Z(L * n), dZ(L * n, 0.0), scratch(3 * n), w = {1, 0.6, 0.5, 0.4};
        for (auto& v : Z) v = g.normal();
        train::skd_loss(Z.data(), n, tg, w.data(), cfg, 1.0, dZ.data(), scratch.data());
        auto f = [&] {
            std::vector<double> d2(L * n, 0.0);
            return train::skd_loss(Z.data(), n, tg, w.data(), cfg, 1.0, d2.data(), scratch.data());
        };
        check_logit_gradient(Z, dZ, f, 1e-6);
    }
}

TEST_CASE("SKD loss is minimized by the teacher's own conditionals", "[skd]") {
    // With one trajectory and the student equal to the teacher along it, the KL term vanishes.
    const int L = 3, n = 5;
    train::skd_targets<double> tg;
    tg.K = 1;
    tg.L = L;
    tg.n = n;
    tg.slates = {4, 1, 3};
    tg.weight = {1.0};
    std::vector<double> Z = {0.1, 0.5, -1, 2, 3, 1, 2, 0, 0.5, -2, 0, 1, 2, 3, 4};
    tg.teacher_lp.resize(L * n);
    for (int t = 0; t < L; ++t) {
        std::vector<double> z(Z.begin() + t * n, Z.begin() + (t + 1) * n);
        for (int u = 0; u < t; ++u) z[tg.slates[u]] = -std::numeric_limits<double>::infinity();
        nn::log_softmax_row(z.data(), n, tg.teacher_lp.data() + t * n);
    }
    train::skd_config cfg;
    cfg.lambda_kl = 5;
    std::vector<double> dZ(L * n, 0.0), scratch(3 * n);
    const double at_teacher = train::skd_loss(Z.data(), n, tg, static_cast<const double*>(nullptr), cfg, 1.0, dZ.data(), scratch.data());
    cfg.lambda_kl = 0;
    const double ce_only = train::skd_loss(Z.data(), n, tg, static_cast<const double*>(nullptr), cfg, 1.0, dZ.data(), scratch.data());
    CHECK(std::fabs(at_teacher - ce_only) < 1e-12);
}

TEST_CASE("RL loss gradients (LDRO and GRPO) match finite differences", "[rl]") {
    rng g(2);
    const int L = 4, n = 8, G = 5;
    std::vector<double> Z(L * n), Zref(L * n);
    for (auto& v : Z) v = g.normal();
    for (auto& v : Zref) v = g.normal();
    std::vector<int> slates = {0, 1, 2, 3, 7, 6, 5, 4, 1, 3, 5, 7, 2, 4, 6, 0, 3, 2, 1, 0};
    std::vector<double> scratch(3 * n), old_lp(G * L), A(G * L), omega(L);
    // old policy = a perturbed copy, so some ratios leave the clip range
    std::vector<double> Zold = Z;
    for (auto& v : Zold) v += 0.3 * g.normal();
    train::slot_log_probs(Zold.data(), L, n, n, slates.data(), G, old_lp.data(), scratch.data());
    for (auto& a : A) a = g.normal();
    for (auto method : {train::rl_method::ldro, train::rl_method::grpo}) {
        train::rl_config cfg;
        cfg.method = method;
        cfg.rank_decay = method == train::rl_method::ldro;  // omega != 1 in the check
        train::slot_weights(cfg, L, omega.data());
        std::vector<double> dZ(L * n, 0.0);
        train::rl_stats st;
        train::rl_loss(Z.data(), Zref.data(), L, n, n, slates.data(), old_lp.data(), A.data(), omega.data(), G, cfg, 1.0,
                       dZ.data(), scratch.data(), &st);
        CHECK(st.clip_frac > 0);  // the test exercises both branches
        CHECK(st.clip_frac < 1);
        auto f = [&] {
            std::vector<double> d2(L * n, 0.0);
            return train::rl_loss(Z.data(), Zref.data(), L, n, n, slates.data(), old_lp.data(), A.data(), omega.data(), G, cfg, 1.0,
                                  d2.data(), scratch.data());
        };
        check_logit_gradient(Z, dZ, f, 1e-6);
    }
}

TEST_CASE("LDRO and GRPO advantages", "[rl]") {
    const int G = 4, L = 3, O = 2;
    // feedback[g][t][k]
    std::vector<double> fb = {1, 0, 0, 0, 0, 1,  //
                              0, 0, 1, 1, 0, 0,  //
                              0, 0, 0, 0, 0, 0,  //
                              1, 1, 1, 0, 0, 0};
    std::vector<double> w = {1.0, 0.5}, A(G * L);
    train::rl_stream_state st;
    SECTION("GRPO broadcasts one centered page advantage") {
        train::rl_config c;
        c.method = train::rl_method::grpo;
        train::group_advantages(c, fb.data(), G, L, O, w.data(), st, A.data());
        double sum = 0;
        for (int g = 0; g < G; ++g) {
            for (int t = 1; t < L; ++t) CHECK(A[g * L + t] == A[g * L]);
            sum += A[g * L];
        }
        CHECK(std::fabs(sum) < 1e-12);
        CHECK(A[3 * L] > A[0]);  // page 3 has the largest weighted reward (1 + 0.5 + 1 = 2.5)
    }
    SECTION("LDRO: centered per slot, reward-to-go, current weights act at once") {
        train::rl_config c;
        train::group_advantages(c, fb.data(), G, L, O, w.data(), st, A.data());
        for (int t = 0; t < L; ++t) {
            double s = 0;
            for (int g = 0; g < G; ++g) s += A[g * L + t];
            CHECK(std::fabs(s) < 1e-12);
        }
        // slate 0's only reward after slot 1 is a long view at slot 2: slot 2 advantage is positive
        CHECK(A[0 * L + 2] > 0);
        // swapping the objective weights changes the advantages immediately
        std::vector<double> w2 = {0.5, 1.0}, A2(G * L);
        train::rl_stream_state st2 = st;
        train::group_advantages(c, fb.data(), G, L, O, w2.data(), st2, A2.data());
        CHECK(A2 != A);
        // an all-zero group gives zero advantages and the floor keeps the scale finite
        std::vector<double> zeros(G * L * O, 0.0);
        train::group_advantages(c, zeros.data(), G, L, O, w.data(), st, A.data());
        for (double a : A) CHECK(a == 0.0);
    }
    SECTION("rank decay weights have mean one and decrease") {
        train::rl_config c;
        c.rank_decay = true;  // off by default (docs/rl.md)
        std::vector<double> om(6);
        train::slot_weights(c, 6, om.data());
        double s = 0;
        for (int t = 0; t < 6; ++t) {
            s += om[t];
            if (t) CHECK(om[t] < om[t - 1]);
        }
        CHECK(std::fabs(s / 6 - 1) < 1e-12);
        c.rank_decay = false;
        train::slot_weights(c, 6, om.data());
        for (double o : om) CHECK(o == 1.0);
    }
}

TEST_CASE("teacher sampling is reproducible, returns distinct slates, and approaches greedy at low temperature",
          "[inference][teacher][sampling]") {
    auto c = test_util::small_config();
    ar_teacher<double> t(c);
    t.init(4);
    rng g(3);
    auto r = test_util::random_request<double>(c, 12, g);
    const int L = 5, K = 32;
    std::vector<int> a(K * L), b(K * L), other(K * L);
    std::vector<double> lpa(K);
    workspace ws;
    decode::teacher_sample(t, r.view(), L, K, 1.0, counter_key::from_seed(7), 0, a.data(), lpa.data(), ws);
    decode::teacher_sample(t, r.view(), L, K, 1.0, counter_key::from_seed(7), 0, b.data(), static_cast<double*>(nullptr), ws);
    decode::teacher_sample(t, r.view(), L, K, 1.0, counter_key::from_seed(8), 0, other.data(), static_cast<double*>(nullptr), ws);
    CHECK(a == b);
    CHECK(a != other);
    std::vector<double> scores(K);
    t.score_slates(r.view(), K, L, a.data(), static_cast<const double*>(nullptr), scores.data(), ws);
    for (int k = 0; k < K; ++k) {
        std::set<int> s(a.begin() + k * L, a.begin() + (k + 1) * L);
        CHECK(int(s.size()) == L);
        // the returned log-prob is the teacher's (the sampler keeps its running normalizer to ~1e-7 relative)
        CHECK(std::fabs(scores[k] - lpa[k]) < 1e-6);
    }
    std::vector<int> cold(K * L);
    decode::teacher_sample(t, r.view(), L, K, 1e-4, counter_key::from_seed(9), 0, cold.data(), static_cast<double*>(nullptr), ws);
    slate greedy = decode::teacher_greedy(t, r.view(), L, ws);
    for (int k = 0; k < K; ++k) CHECK(std::equal(greedy.begin(), greedy.end(), cold.begin() + k * L));
}

TEST_CASE("run_rl with Polyak averaging returns the bias-corrected average of the iterates", "[rl]") {
    world w{world_config::small(), 5};
    model_config c = test_util::small_config(w.config().feature_dim, w.config().context_dim);
    c.max_slate = w.slate_size();
    c.max_candidates = w.num_candidates();
    c.enc_layers = 1;
    c.dec_layers = 1;
    nar_student<float> anchor(c);
    anchor.init(3);
    train::rl_run_config rc;
    rc.requests = 24;
    rc.requests_per_step = 2;
    rc.rl.group = 4;
    rc.log = nullptr;
    rc.optimizer.lr = 1e-2;  // steps large enough that the average differs from the last iterate
    const std::size_t np = anchor.arena_size();
    for (double a : {0.0, 0.5, 0.9}) {
        nar_student<float> p = anchor;
        stream s(w, drift::none(), 11);
        rc.polyak = a;
        std::vector<double> avg(np, 0.0), last(np);
        double wsum = 0;
        long steps = 0;
        train::run_rl(p, anchor, s, rc, [&](const train::rl_progress&) {
            const float* q = p.params();  // the raw iterate after this step
            for (std::size_t j = 0; j < np; ++j) {
                avg[j] = a * avg[j] + (1 - a) * double(q[j]);
                last[j] = q[j];
            }
            wsum = a * wsum + (1 - a);
            ++steps;
        });
        REQUIRE(steps == 12);
        double max_err = 0, max_move = 0;
        for (std::size_t j = 0; j < np; ++j) {
            const double want = a > 0 ? avg[j] / wsum : last[j];
            max_err = std::max(max_err, std::fabs(double(p.params()[j]) - want));
            max_move = std::max(max_move, std::fabs(last[j] - want));
        }
        INFO("polyak " << a);
        CHECK(max_err < 1e-6);
        if (a > 0) CHECK(max_move > 1e-4);  // the average is not the last iterate
    }
}
