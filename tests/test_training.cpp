// The manual-gradient trainer: loss gradients, AdamW, determinism, the bad-batch policy, and a
// learning test that can fail (targets are a fixed function of the features).
#include <algorithm>
#include <numeric>

#include "grad_check.hpp"
#include "test_util.hpp"

using namespace dualrerank;

namespace {

/// Requests whose correct slate is the top-L candidates by a hidden linear score of the features.
train::slate_dataset<float> hidden_score_data(const model_config& c, int count, int n, int L, std::uint64_t seed) {
    rng g(seed);
    rng wg(12345);  // the hidden scorer is the same for every split
    std::vector<double> w(std::size_t(c.features));
    for (auto& v : w) v = wg.normal();
    train::slate_dataset<float> d;
    d.L = L;
    for (int q = 0; q < count; ++q) {
        auto r = test_util::random_request<float>(c, n, g);
        std::vector<double> s(std::size_t(n), 0.0);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < c.features; ++j) s[i] += w[j] * r.features[std::size_t(i) * c.features + j];
        slate y(static_cast<std::size_t>(n));
        std::iota(y.begin(), y.end(), 0);
        std::stable_sort(y.begin(), y.end(), [&](int a, int b) { return s[a] > s[b]; });
        y.resize(std::size_t(L));
        d.requests.push_back(std::move(r));
        d.targets.push_back(std::move(y));
    }
    return d;
}

model_config learning_config() {
    model_config c;
    c.features = 8;
    c.context = 0;
    c.d = 32;
    c.heads = 4;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 64;
    c.max_slate = 4;
    c.max_candidates = 16;
    return c;
}

template <class Decode>
double slot_accuracy(const train::slate_dataset<float>& test, Decode decode) {
    long hit = 0, total = 0;
    for (std::size_t q = 0; q < test.size(); ++q) {
        slate y = decode(test.requests[q]);
        for (int t = 0; t < test.L; ++t) {
            hit += (y[t] == test.targets[q][t]);
            ++total;
        }
    }
    return double(hit) / double(total);
}

}  // namespace

TEST_CASE("slot cross-entropy and BCE gradients match finite differences", "[training][losses]") {
    rng g(3);
    const int L = 4, n = 7;
    std::vector<double> Z(L * n), w = {1.0, 0.63, 0.5, 0.43};
    for (auto& z : Z) z = g.normal();
    std::vector<int> y = {3, 0, 6, 2};
    std::vector<double> scratch(n);
    for (bool mask : {true, false}) {
        std::vector<double> Zm = Z;
        if (!mask)  // teacher-style: prefix already masked in Z
            for (int t = 1; t < L; ++t)
                for (int u = 0; u < t; ++u) Zm[t * n + y[u]] = -std::numeric_limits<double>::infinity();
        std::vector<double> dZ(L * n, 0.0);
        train::slot_cross_entropy(Zm.data(), L, n, n, y.data(), mask, w.data(), 1.0, dZ.data(), scratch.data());
        for (std::size_t i = 0; i < Zm.size(); ++i) {
            if (!std::isfinite(Zm[i])) {
                CHECK(dZ[i] == 0.0);
                continue;
            }
            auto f = [&](double v) {
                std::vector<double> Zp = Zm, d2(L * n, 0.0);
                Zp[i] = v;
                return train::slot_cross_entropy(Zp.data(), L, n, n, y.data(), mask, w.data(), 1.0, d2.data(), scratch.data());
            };
            const double num = (f(Zm[i] + 1e-6) - f(Zm[i] - 1e-6)) / 2e-6;
            CHECK(std::fabs(num - dZ[i]) < 1e-7);
        }
    }
    std::vector<double> E = {-3.0, -0.2, 0.0, 0.7, 5.0, 40.0, -40.0}, lab = {0, 1, 1, 0, 1, 0, 1};
    std::vector<double> dE(E.size(), 0.0);
    train::bce_with_logits(E.data(), lab.data(), E.size(), static_cast<const double*>(nullptr), 1.0, dE.data());
    for (std::size_t i = 0; i < E.size(); ++i) {
        auto f = [&](double v) {
            std::vector<double> Ep = E, d2(E.size(), 0.0);
            Ep[i] = v;
            return train::bce_with_logits(Ep.data(), lab.data(), E.size(), static_cast<const double*>(nullptr), 1.0, d2.data());
        };
        CHECK(std::fabs((f(E[i] + 1e-6) - f(E[i] - 1e-6)) / 2e-6 - dE[i]) < 1e-6);
    }
}

TEST_CASE("AdamW follows torch.optim.AdamW's update, decays only flagged tensors, clips the global norm",
          "[training][adamw]") {
    tensor_table t;
    t.add("w", {3}, true);
    t.add("b", {2}, false);
    std::vector<double> p(t.total(), 0.0), g(t.total(), 0.0);
    p[0] = 1.0, p[1] = -2.0, p[2] = 0.5, p[16] = 0.3, p[17] = -0.1;
    train::adamw_config cfg;
    cfg.lr = 0.1;
    cfg.weight_decay = 0.5;
    cfg.warmup_steps = 0;
    cfg.clip_norm = 0;
    train::adamw<double> opt(t, cfg);
    std::vector<double> ref = p, m(t.total(), 0.0), v(t.total(), 0.0);
    for (int step = 1; step <= 3; ++step) {
        for (std::size_t i : {0, 1, 2, 16, 17}) g[i] = 0.1 * double(i + 1) * step;
        for (std::size_t i : {0, 1, 2, 16, 17}) {
            const double wd = i < 16 ? 0.5 : 0.0;
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
            ref[i] *= 1 - 0.1 * wd;
            ref[i] -= 0.1 / (1 - std::pow(0.9, step)) * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, step)) + 1e-8);
        }
        auto r = opt.step(p.data(), g.data());
        REQUIRE(r.applied);
        for (std::size_t i : {0, 1, 2, 16, 17}) CHECK(std::fabs(p[i] - ref[i]) < 1e-12);
    }
    // clipping scales the gradient to the clip norm
    cfg.clip_norm = 1.0;
    train::adamw<double> clipped(t, cfg);
    std::fill(g.begin(), g.end(), 0.0);
    g[0] = 30.0, g[1] = 40.0;  // norm 50
    auto r = clipped.step(p.data(), g.data());
    CHECK_THAT(r.grad_norm, Catch::Matchers::WithinRel(50.0, 1e-9));
    CHECK_THAT(clipped.first_moment()[0], Catch::Matchers::WithinRel(0.1 * 30.0 / 50.0, 1e-9));
    // schedule: warmup then cosine to min_lr_ratio
    train::adamw_config s;
    s.lr = 1.0;
    s.warmup_steps = 10;
    s.total_steps = 110;
    s.min_lr_ratio = 0.1;
    CHECK_THAT(train::learning_rate(s, 0), Catch::Matchers::WithinRel(0.1, 1e-9));
    CHECK_THAT(train::learning_rate(s, 9), Catch::Matchers::WithinRel(1.0, 1e-9));
    CHECK_THAT(train::learning_rate(s, 60), Catch::Matchers::WithinRel(0.55, 1e-9));
    CHECK_THAT(train::learning_rate(s, 110), Catch::Matchers::WithinRel(0.1, 1e-9));
}

TEST_CASE("non-finite steps are skipped, counted, and stop training after too many in a row", "[training][bad_input]") {
    auto c = learning_config();
    nar_student<float> s(c);
    s.init(1);
    train::trainer_config tc;
    tc.max_bad_steps = 3;
    train::trainer<nar_student<float>> tr(s, tc);
    std::vector<float> before(s.params(), s.params() + s.arena_size());
    auto nan_loss = [](float*, workspace&) { return std::numeric_limits<double>::quiet_NaN(); };
    auto nan_grad = [](float* g, workspace&) {
        g[0] = std::numeric_limits<float>::infinity();
        return 1.0;
    };
    CHECK_FALSE(tr.step(nan_loss).applied);
    CHECK_FALSE(tr.step(nan_grad).applied);
    CHECK(std::equal(before.begin(), before.end(), s.params()));
    CHECK(tr.bad_steps() == 2);
    CHECK(tr.optimizer().skipped() == 1);  // the NaN loss never reached the optimizer
    CHECK_THROWS_AS(tr.step(nan_loss), training_error);
    // a good step resets the run of bad steps
    train::trainer<nar_student<float>> tr2(s, tc);
    tr2.step(nan_loss);
    tr2.step(nan_loss);
    CHECK(tr2.step([](float*, workspace&) { return 0.5; }).applied);
    tr2.step(nan_loss);
    CHECK_NOTHROW(tr2.step(nan_loss));
}

TEST_CASE("training is deterministic from a seed (bit for bit)", "[training][determinism]") {
    auto c = learning_config();
    auto data = hidden_score_data(c, 64, 9, 4, 7);
    auto run = [&](std::uint64_t seed) {
        nar_student<float> s(c);
        s.init(seed);
        train::trainer_config tc;
        tc.batch_size = 8;
        tc.seed = seed;
        train::trainer<nar_student<float>> tr(s, tc);
        train::fit_supervised(tr, data, 20);
        return std::vector<float>(s.params(), s.params() + s.arena_size());
    };
    const auto a = run(5), b = run(5), other = run(6);
    CHECK(a == b);
    CHECK(a != other);
}

TEST_CASE("teacher and student learn a hidden sorting rule (>= 95% exact-slot accuracy held out)", "[training][learning]") {
    auto c = learning_config();
    auto train_set = hidden_score_data(c, 3000, 10, 4, 1);
    auto test_set = hidden_score_data(c, 300, 10, 4, 2);
    train::trainer_config tc;
    tc.batch_size = 32;
    tc.optimizer.lr = 3e-3;
    tc.optimizer.warmup_steps = 50;
    tc.optimizer.total_steps = 1500;
    tc.optimizer.weight_decay = 0.0;
    workspace ws;

    ar_teacher<float> t(c);
    t.init(11);
    train::trainer<ar_teacher<float>> tt(t, tc);
    train::fit_supervised(tt, train_set, 1500);
    const double acc_t = slot_accuracy(test_set, [&](const request<float>& r) { return decode::teacher_greedy(t, r.view(), 4, ws); });

    nar_student<float> s(c);
    s.init(12);
    train::trainer<nar_student<float>> ts(s, tc);
    train::fit_supervised(ts, train_set, 1500);
    const double acc_s = slot_accuracy(test_set, [&](const request<float>& r) { return decode::greedy(s, r.view(), 4, ws); });
    INFO("teacher accuracy " << acc_t << ", student accuracy " << acc_s);
    CHECK(acc_t >= 0.95);
    CHECK(acc_s >= 0.95);
}
