// The manual-gradient trainer: loss gradients, AdamW, determinism, the bad-batch policy, and a
// learning test that can fail (targets are a fixed function of the features).
#include <algorithm>
#include <numeric>

#include <dualrerank/decode/full_order.hpp>
#include <dualrerank/train/feature_norm.hpp>

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

TEST_CASE("trainer weight averaging: the ramped moving average of the weights after every applied step",
          "[training][average]") {
    auto c = learning_config();
    nar_student<double> s(c);
    s.init(2);
    const std::size_t n = s.arena_size();
    rng g(4);
    auto noise = [&](double* grad, workspace&) {
        for (std::size_t i = 0; i < n; ++i) grad[i] = g.normal();
        return 1.0;
    };
    {  // off by default: the "average" is the weights themselves
        train::trainer<nar_student<double>> plain(s, train::trainer_config{});
        REQUIRE(plain.step(noise).applied);
        CHECK(plain.averaged_params() == s.params());
    }
    train::trainer_config tc;
    tc.average_decay = 0.9;
    tc.optimizer.lr = 1e-2;
    train::trainer<nar_student<double>> tr(s, tc);
    CHECK(tr.averaged_params() == s.params());  // before any step
    std::vector<double> avg;
    for (int t = 1; t <= 30; ++t) {
        REQUIRE(tr.step(noise).applied);
        if (t == 1) {
            avg.assign(s.params(), s.params() + n);
        } else {
            const double d = std::min(0.9, double(t - 1) / double(t + 9));
            for (std::size_t i = 0; i < n; ++i) avg[i] = d * avg[i] + (1 - d) * s.params()[i];
        }
    }
    REQUIRE(tr.averaged_params() != s.params());
    double moved = 0;
    for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(tr.averaged_params()[i] == Approx(avg[i]).margin(1e-12));
        moved = std::max(moved, std::fabs(avg[i] - s.params()[i]));
    }
    CHECK(moved > 1e-3);  // the average lags the raw weights
    // a skipped step leaves the average alone
    CHECK_FALSE(tr.step([](double*, workspace&) { return std::numeric_limits<double>::quiet_NaN(); }).applied);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(tr.averaged_params()[i] == Approx(avg[i]).margin(1e-12));
    tr.reset_average();
    CHECK(tr.averaged_params() == s.params());
    tc.average_decay = 1.0;
    CHECK_THROWS_AS(train::trainer<nar_student<double>>(s, tc), input_error);
    tc.average_decay = -0.1;
    CHECK_THROWS_AS(train::trainer<nar_student<double>>(s, tc), input_error);
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

// ------------------------------------------------------------------ issue 16: LETOR training

namespace {

/// The first min(L, N) candidates by label (ties by index).
slate target_of(const std::vector<float>& labels, int L) {
    slate y(labels.size());
    std::iota(y.begin(), y.end(), 0);
    std::stable_sort(y.begin(), y.end(), [&](int a, int b) { return labels[a] > labels[b]; });
    y.resize(std::min(y.size(), std::size_t(L)));
    return y;
}

}  // namespace

TEST_CASE("listmle_loss: finite-difference gradient in double (odd sizes)", "[training][listwise]") {
    rng g(5);
    for (int n : {7, 13}) {
        for (int L : {1, 3, 7}) {
            if (L > n) continue;
            const int ld = n + 2;  // a leading dimension wider than n
            std::vector<double> Z(std::size_t(L) * ld);
            for (auto& z : Z) z = g.normal();
            std::vector<double> labels;
            std::vector<int> order;
            test_util::labels_and_order(n, g, labels, order);
            std::vector<double> scratch(static_cast<std::size_t>(n));
            std::vector<unsigned char> used(static_cast<std::size_t>(n));
            std::vector<double> dZ(Z.size(), 0.0);
            train::listmle_loss(Z.data(), L, n, ld, order.data(), 0.5, dZ.data(), scratch.data(), used.data());
            std::vector<double> junk(Z.size());
            auto f = [&] {
                std::fill(junk.begin(), junk.end(), 0.0);
                return 0.5 * train::listmle_loss(Z.data(), L, n, ld, order.data(), 1.0, junk.data(), scratch.data(), used.data());
            };
            const auto r = grad_check::check(Z.data(), Z.size(), dZ, f, 1e-6);
            INFO("n " << n << " L " << L << " " << r.worst);
            CHECK(r.max_rel < 1e-6);
        }
    }
}

TEST_CASE("listmle_loss: the first L factors are the slot cross-entropy; past L the last row ranks the rest",
          "[training][listwise]") {
    rng g(8);
    const int n = 9, L = 4;
    std::vector<double> Z(std::size_t(L) * n);
    for (auto& z : Z) z = g.normal();
    std::vector<int> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::vector<double> scratch(static_cast<std::size_t>(n)), dZ(Z.size(), 0.0), dZ2(Z.size(), 0.0);
    std::vector<unsigned char> used(static_cast<std::size_t>(n));
    const double full = train::listmle_loss(Z.data(), L, n, n, order.data(), 1.0, dZ.data(), scratch.data(), used.data());
    const double ce = train::slot_cross_entropy(Z.data(), L, n, n, order.data(), true, (const double*)nullptr, 1.0, dZ2.data(),
                                                scratch.data());
    // the tail: positions L..n-1 under row L-1, by hand
    double tail = 0;
    std::vector<char> gone(std::size_t(n), 0);
    for (int t = 0; t < L; ++t) gone[order[t]] = 1;
    const double* last = Z.data() + std::size_t(L - 1) * n;
    for (int t = L; t < n; ++t) {
        double s = 0;
        for (int i = 0; i < n; ++i)
            if (!gone[i]) s += std::exp(last[i]);
        tail += std::log(s) - last[order[t]];
        gone[order[t]] = 1;
    }
    CHECK(full == Approx(ce + tail).epsilon(1e-12));
}

TEST_CASE("approx_ndcg_loss: finite-difference gradient in double (odd sizes)", "[training][listwise]") {
    rng g(6);
    for (int n : {7, 13}) {
        for (int L : {1, 3, 7}) {
            const int ld = n + 1;
            std::vector<double> Z(std::size_t(L) * ld);
            for (auto& z : Z) z = g.normal();
            std::vector<double> labels;
            std::vector<int> order;
            test_util::labels_and_order(n, g, labels, order);
            std::vector<double> w(static_cast<std::size_t>(L));
            for (auto& x : w) x = 0.5 + g.uniform();
            std::vector<double> scratch(std::size_t(3) * n);
            std::vector<unsigned char> used(static_cast<std::size_t>(n));
            std::vector<double> dZ(Z.size(), 0.0);
            for (double alpha : {1.0, 2.5}) {
                std::fill(dZ.begin(), dZ.end(), 0.0);
                train::approx_ndcg_loss(Z.data(), L, n, ld, order.data(), labels.data(), w.data(), alpha, 0.5, dZ.data(),
                                        scratch.data(), used.data());
                std::vector<double> junk(Z.size());
                auto f = [&] {
                    return 0.5 * train::approx_ndcg_loss(Z.data(), L, n, ld, order.data(), labels.data(), w.data(), alpha, 1.0,
                                                         junk.data(), scratch.data(), used.data());
                };
                const auto r = grad_check::check(Z.data(), Z.size(), dZ, f, 1e-6);
                INFO("n " << n << " L " << L << " alpha " << alpha << " " << r.worst);
                CHECK(r.max_rel < 1e-5);
            }
        }
    }
}

TEST_CASE("approx_ndcg_loss: near 0 for logits in label order at a sharp temperature, near 1 reversed", "[training][listwise]") {
    const int n = 6, L = 1;
    std::vector<double> labels = {2, 1, 1, 0, 0, 0};
    std::vector<int> order = {0, 1, 2, 3, 4, 5};
    std::vector<double> good = {10, 5, 4.5, 0, -0.5, -1}, bad(good.rbegin(), good.rend());
    std::vector<double> scratch(std::size_t(3) * n), dZ(static_cast<std::size_t>(n));
    std::vector<unsigned char> used(static_cast<std::size_t>(n));
    const double lg = train::approx_ndcg_loss(good.data(), L, n, n, order.data(), labels.data(), (const double*)nullptr, 20.0, 1.0,
                                              dZ.data(), scratch.data(), used.data());
    const double lb = train::approx_ndcg_loss(bad.data(), L, n, n, order.data(), labels.data(), (const double*)nullptr, 20.0, 1.0,
                                              dZ.data(), scratch.data(), used.data());
    // NDCG of the reversed order, by hand: gains 3, 1, 1 at positions 6, 5, 4
    const double idcg = 3 / std::log2(2.0) + 1 / std::log2(3.0) + 1 / std::log2(4.0);
    const double dcg = 3 / std::log2(7.0) + 1 / std::log2(6.0) + 1 / std::log2(5.0);
    CHECK(lg < 0.01);
    CHECK(lb == Approx(1 - dcg / idcg).margin(0.01));
}

TEST_CASE("slate_ce_step: one function for the teacher and the student, the old names forward to it", "[training]") {
    model_config c = learning_config();
    rng g(3);
    std::vector<request<double>> reqs;
    for (int b = 0; b < 3; ++b) reqs.push_back(test_util::random_request<double>(c, 9, g));
    std::vector<request_view<double>> v;
    for (auto& r : reqs) v.push_back(r.view());
    const int L = 3;
    std::vector<int> targets = {0, 1, 2, 5, 4, 3, 8, 0, 7};
    ar_teacher<double> t(c);
    nar_student<double> s(c);
    t.init(1);
    s.init(2);
    workspace ws;
    std::vector<double> g1(t.arena_size(), 0.0), g2(t.arena_size(), 0.0);
    const double a = train::slate_ce_step(t, v.data(), 3, L, targets.data(), (const double*)nullptr, g1.data(), ws);
    ws.reset();
    const double b = train::teacher_ce_step(t, v.data(), 3, L, targets.data(), (const double*)nullptr, g2.data(), ws);
    CHECK(a == b);
    CHECK(g1 == g2);
    std::vector<double> h1(s.arena_size(), 0.0), h2(s.arena_size(), 0.0);
    ws.reset();
    const double c1 = train::slate_ce_step(s, v.data(), 3, L, targets.data(), (const double*)nullptr, h1.data(), ws);
    ws.reset();
    const double c2 = train::student_ce_step(s, v.data(), 3, L, targets.data(), (const double*)nullptr, h2.data(), ws);
    CHECK(c1 == c2);
    CHECK(h1 == h2);
    // and supervised_step's cross-entropy is the same loss (sum, scale 1/B)
    std::vector<double> h3(s.arena_size(), 0.0);
    std::vector<const int*> orders = {targets.data(), targets.data() + 3, targets.data() + 6};
    std::vector<const double*> labels(3, nullptr);
    ws.reset();
    const double c3 = train::supervised_step(s, v.data(), 3, L, orders.data(), labels.data(), train::supervised_config{},
                                             1.0 / 3, h3.data(), ws);
    CHECK(c3 / 3 == Approx(c1).epsilon(1e-12));
    for (std::size_t i = 0; i < h1.size(); ++i) REQUIRE(h3[i] == Approx(h1[i]).margin(1e-12));
}

TEST_CASE("fit_supervised: short requests train on min(L, N) slots (none is dropped)", "[training][letor]") {
    model_config c = learning_config();  // max_slate 4
    rng g(11);
    train::slate_dataset<float> d;
    d.L = 4;
    // requests of 2, 3 and 6 candidates: two of three are shorter than L
    for (int n : {2, 3, 6}) {
        d.requests.push_back(test_util::random_request<float>(c, n, g));
        std::vector<float> lab(std::size_t(n), 0.f);
        lab[std::size_t(n - 1)] = 2.f;  // the last candidate is the relevant one
        d.labels.push_back(lab);
        d.targets.push_back(target_of(lab, 4));
    }
    for (auto loss : {train::supervised_loss::cross_entropy, train::supervised_loss::listmle, train::supervised_loss::approx_ndcg}) {
        nar_student<float> s(c);
        s.init(4);
        train::trainer_config tc;
        tc.batch_size = 6;
        tc.optimizer.lr = 5e-3;
        tc.optimizer.warmup_steps = 0;
        tc.optimizer.total_steps = 300;
        train::trainer<nar_student<float>> tr(s, tc);
        train::supervised_config sc;
        sc.loss = loss;
        std::vector<double> losses;
        const long done = train::fit_supervised(tr, d, 300, sc, 100, [&](const train::fit_check& f) {
            losses.push_back(f.train_loss);
            return true;
        });
        INFO(train::to_string(loss));
        CHECK(done == 300);
        REQUIRE(losses.size() == 3);
        CHECK(losses.back() < losses.front());
        // every request learned: its relevant candidate comes first
        workspace ws;
        for (std::size_t q = 0; q < d.size(); ++q) {
            const auto v = d.requests[q].view();
            slate order(std::size_t(v.n));
            decode::student_full_order(s, v, 4, order.data(), (float*)nullptr, ws);
            CHECK(order[0] == v.n - 1);
        }
    }
    // without labels the stored targets are used; a target shorter than min(L, N) is an error
    train::slate_dataset<float> e = d;
    e.labels.clear();
    e.targets[0] = slate{1};
    nar_student<float> s(c);
    train::trainer<nar_student<float>> tr(s, train::trainer_config{});
    CHECK_THROWS_AS(train::fit_supervised(tr, e, 1), input_error);
    e.targets[0] = slate{1, 0};
    CHECK_NOTHROW(train::fit_supervised(tr, e, 2));
}

TEST_CASE("fit_supervised: the hook sees every check and can stop training; early_stopping restores the best weights",
          "[training][letor]") {
    model_config c = learning_config();
    auto data = hidden_score_data(c, 40, 8, 4, 1);
    nar_student<float> s(c);
    s.init(2);
    train::trainer_config tc;
    tc.batch_size = 4;
    train::trainer<nar_student<float>> tr(s, tc);
    std::vector<long> seen;
    const long done = train::fit_supervised(tr, data, 100, train::supervised_config{}, 30, [&](const train::fit_check& f) {
        seen.push_back(f.step);
        CHECK(std::isfinite(f.train_loss));
        return seen.size() < 2;
    });
    CHECK(done == 60);
    CHECK(seen == std::vector<long>{30, 60});

    train::early_stopping<nar_student<float>> es(2);
    CHECK_FALSE(es.update(s, 1, 0.5));  // best
    const std::vector<float> best(s.params(), s.params() + s.arena_size());
    s.params()[0] += 1.f;
    CHECK_FALSE(es.update(s, 2, 0.4));
    CHECK(es.update(s, 3, 0.5));  // not better than 0.5: the second check without improvement
    es.restore(s);
    CHECK(std::equal(best.begin(), best.end(), s.params()));
    CHECK(es.best_step() == 1);
    CHECK_THROWS_AS(train::early_stopping<nar_student<float>>(-1), input_error);
}

TEST_CASE("full order: the slate first, then the rest by the last slot's logits; per-document log-probabilities",
          "[decode][letor]") {
    // Z rows by hand: n = 5, L = 2
    const int n = 5, L = 2;
    const std::vector<double> Z = {0.1, 3.0, 0.2, 0.3, 0.0,   // slot 0 -> 1
                                   2.0, 9.0, 0.5, -1.0, 1.0};  // slot 1 -> 0 (1 is used); rest by row 1: 4, 2, 3
    std::vector<int> out(static_cast<std::size_t>(n));
    std::vector<double> score(static_cast<std::size_t>(n)), row(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> used(static_cast<std::size_t>(n));
    decode::full_order_from_rows(Z.data(), L, n, n, out.data(), score.data(), used.data(), row.data());
    CHECK(out == std::vector<int>{1, 0, 4, 2, 3});
    // the slate's scores sum to its log-probability
    CHECK(score[1] + score[0] == Approx(decode::slate_log_prob(Z.data(), L, n, n, out.data())).epsilon(1e-12));
    // the last document is certain once all the others are placed
    CHECK(score[3] == Approx(0.0).margin(1e-12));

    // models: the full order is a permutation whose first L entries are the greedy slate
    model_config c = learning_config();
    rng g(2);
    auto r = test_util::random_request<float>(c, 11, g);
    nar_student<float> s(c);
    ar_teacher<float> t(c);
    s.init(1);
    t.init(2);
    workspace ws;
    std::vector<int> so(11), to(11);
    std::vector<float> ss(11);
    decode::student_full_order(s, r.view(), c.max_slate, so.data(), ss.data(), ws);
    decode::teacher_full_order(t, r.view(), c.max_slate, to.data(), (float*)nullptr, ws);
    const slate sg = decode::greedy(s, r.view(), c.max_slate, ws);
    const slate tg = decode::teacher_greedy(t, r.view(), c.max_slate, ws);
    CHECK(std::equal(sg.begin(), sg.begin() + c.max_slate, so.begin()));
    CHECK(std::equal(tg.begin(), tg.begin() + c.max_slate, to.begin()));
    for (auto* o : {&so, &to}) {
        std::vector<int> p = *o;
        std::sort(p.begin(), p.end());
        std::vector<int> id(11);
        std::iota(id.begin(), id.end(), 0);
        CHECK(p == id);
    }
    // a request shorter than the slots: the order still covers all of it
    auto shortr = test_util::random_request<float>(c, 3, g);
    std::vector<int> o3(3);
    decode::student_full_order(s, shortr.view(), c.max_slate, o3.data(), (float*)nullptr, ws);
    std::sort(o3.begin(), o3.end());
    CHECK(o3 == std::vector<int>{0, 1, 2});
}

TEST_CASE("feature_norm: folding the standardization into the input layer gives the same logits on raw features",
          "[training][letor]") {
    model_config c = learning_config();
    rng g(9);
    std::vector<request<double>> reqs;
    for (int i = 0; i < 6; ++i) {
        auto r = test_util::random_request<double>(c, 7, g);
        for (int k = 0; k < r.n; ++k)
            for (int f = 0; f < r.f; ++f) r.features[std::size_t(k) * r.f + f] = 3.0 * f + (f + 1) * r.features[std::size_t(k) * r.f + f];
        reqs.push_back(r);
    }
    reqs[0].features[0] = 5.0;  // feature 0 varies; make feature 1 constant
    for (auto& r : reqs)
        for (int k = 0; k < r.n; ++k) r.features[std::size_t(k) * r.f + 1] = 2.0;
    const train::feature_norm fn = train::fit_feature_norm(reqs);
    CHECK(fn.scale[1] == 1.0);  // constant feature: scale 1
    CHECK(fn.mean[1] == Approx(2.0));
    nar_student<double> s(c);
    s.init(3);
    request<double> normed = reqs[2];
    train::apply_feature_norm(fn, normed);
    workspace ws;
    std::vector<double> z1(std::size_t(c.max_slate) * 7), z2(z1.size());
    s.logits(normed.view(), c.max_slate, z1.data(), ws);
    nar_student<double> folded = s;
    train::fold_feature_norm(folded, fn);
    folded.logits(reqs[2].view(), c.max_slate, z2.data(), ws);
    for (std::size_t i = 0; i < z1.size(); ++i) REQUIRE(z2[i] == Approx(z1[i]).epsilon(1e-9).margin(1e-9));
    const io::json j = train::feature_norm_to_json(fn);
    CHECK(j.at("method").as_string() == "zscore");
    model_config cc = c;
    cc.context = 2;
    nar_student<double> with_context(cc);
    CHECK_THROWS_AS(train::fold_feature_norm(with_context, fn), input_error);
}

TEST_CASE("rng::mul_high64 is the high half of the 128-bit product (no __int128 in the header)", "[training][rng]") {
    rng g(99);
    for (int i = 0; i < 10000; ++i) {
        const std::uint64_t a = g(), b = i % 3 ? g() : std::uint64_t(g.below(1000) + 1);
        __extension__ typedef unsigned __int128 u128;
        REQUIRE(rng::mul_high64(a, b) == std::uint64_t((u128(a) * b) >> 64));
    }
    CHECK(rng::mul_high64(~0ULL, ~0ULL) == ~0ULL - 1);
    CHECK(rng::mul_high64(1ULL << 63, 2) == 1);
}

TEST_CASE("TRN-08/09: listwise supervision and normalization inputs are checked before any step", "[training][letor][bad_input]") {
    model_config c = learning_config();
    rng g(4);
    train::slate_dataset<float> d;
    d.L = 3;
    for (int n : {5, 6}) {
        d.requests.push_back(test_util::random_request<float>(c, n, g));
        d.targets.push_back(slate{0, 1, 2});
    }
    nar_student<float> s(c);
    s.init(1);
    const std::vector<float> before(s.params(), s.params() + s.arena_size());
    train::trainer<nar_student<float>> tr(s, train::trainer_config{});
    auto none = [](const train::fit_check&) { return true; };
    train::supervised_config sc;
    sc.loss = train::supervised_loss::listmle;
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1, sc, 1, none), "the listmle loss needs graded labels");
    d.labels = {std::vector<float>(5, 0.f)};
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1, sc, 1, none), "labels for 1 of 2 requests");
    d.labels.push_back(std::vector<float>(5, 0.f));
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1, sc, 1, none), "request 1 has 5 labels for 6 candidates");
    d.labels[1].push_back(1.f);
    sc.alpha = 0;
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1, sc, 1, none), "alpha must be > 0");
    CHECK(std::equal(before.begin(), before.end(), s.params()));
    CHECK_THROWS_PART(input_error, train::parse_supervised_loss("lambdamart"), "unknown supervised loss");
    CHECK(train::parse_supervised_loss("approx-ndcg") == train::supervised_loss::approx_ndcg);
    train::feature_norm fn;
    fn.mean.assign(3, 0.0);
    fn.scale.assign(3, 1.0);
    CHECK_THROWS_PART(input_error, train::fold_feature_norm(s, fn), "statistics for 3 features");
}
