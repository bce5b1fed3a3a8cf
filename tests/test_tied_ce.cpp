// The slot cross-entropy with ties as one target (train::tied_slot_cross_entropy, --loss ce-ties):
// its gradient by finite differences, its relation to the slot cross-entropy, what ties and
// all-tied slots contribute, and a student that learns with it through fit_supervised.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <dualrerank/decode/full_order.hpp>

#include "grad_check.hpp"
#include "test_util.hpp"

using namespace dualrerank;

namespace {

double tied_ce(const std::vector<double>& Z, int L, int n, int ld, const std::vector<int>& order,
               const std::vector<double>& labels, double scale, std::vector<double>& dZ) {
    std::vector<double> scratch(static_cast<std::size_t>(n));
    std::vector<unsigned char> used(static_cast<std::size_t>(n));
    return train::tied_slot_cross_entropy(Z.data(), L, n, ld, order.data(), labels.data(), scale, dZ.data(), scratch.data(),
                                          used.data());
}

}  // namespace

TEST_CASE("tied_slot_cross_entropy: finite-difference gradient in double (odd sizes)", "[training][listwise][ties]") {
    rng g(17);
    for (int n : {7, 13, 33}) {
        for (int L : {1, 3, 7}) {
            const int ld = n + 3;  // a leading dimension wider than n
            std::vector<double> Z(std::size_t(L) * ld);
            for (auto& z : Z) z = 2 * g.normal();
            std::vector<double> labels;
            std::vector<int> order;
            test_util::labels_and_order(n, g, labels, order);
            std::vector<double> dZ(Z.size(), 0.0), junk(Z.size());
            tied_ce(Z, L, n, ld, order, labels, 0.5, dZ);
            auto f = [&] { return 0.5 * tied_ce(Z, L, n, ld, order, labels, 1.0, junk); };
            const auto r = grad_check::check(Z.data(), Z.size(), dZ, f, 1e-6);
            INFO("n " << n << " L " << L << " " << r.worst);
            CHECK(r.scaled() < 1e-7);  // against the tensor's gradient scale
            CHECK(r.max_rel < 1e-4);   // entry by entry (the smallest are ~1e-5, where the difference's rounding shows)
            // the padding columns past n get no gradient
            for (int t = 0; t < L; ++t)
                for (int i = n; i < ld; ++i) CHECK(dZ[std::size_t(t) * ld + i] == 0.0);
        }
    }
}

TEST_CASE("tied_slot_cross_entropy: the slot cross-entropy when no labels tie", "[training][listwise][ties]") {
    rng g(21);
    const int n = 9, L = 5;
    std::vector<double> Z(std::size_t(L) * n);
    for (auto& z : Z) z = g.normal();
    std::vector<double> labels(static_cast<std::size_t>(n));
    std::vector<int> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    for (int i = 0; i < n; ++i) labels[std::size_t(order[std::size_t(i)])] = double(n - i);  // distinct grades
    std::vector<double> dZ(Z.size(), 0.0), dZ2(Z.size(), 0.0), scratch(static_cast<std::size_t>(n));
    const double a = tied_ce(Z, L, n, n, order, labels, 1.0, dZ);
    const double b = train::slot_cross_entropy(Z.data(), L, n, n, order.data(), true, (const double*)nullptr, 1.0, dZ2.data(),
                                               scratch.data());
    CHECK(a == Approx(b).epsilon(1e-12));
    for (std::size_t i = 0; i < dZ.size(); ++i) CHECK(dZ[i] == Approx(dZ2[i]).margin(1e-12));
}

TEST_CASE("tied_slot_cross_entropy: a tied group is one target; an all-tied remainder adds nothing", "[training][listwise][ties]") {
    // labels 1, 0, 1, 0, 0: slot 0's target is {0, 2}, slot 1's (after 0) is {2}, slot 2's (after 0, 2)
    // is the three zeros, all that is left: no loss and no gradient there
    const int n = 5, L = 3;
    std::vector<double> labels = {1, 0, 1, 0, 0};
    std::vector<int> order = {0, 2, 1, 3, 4};
    std::vector<double> Z = {0.3, -0.2, 1.1, 0.5, -1.0,  //
                             0.7, 0.1, -0.4, 0.2, 0.9,   //
                             1.5, -0.3, 0.4, 0.8, -0.6};
    std::vector<double> dZ(Z.size(), 0.0);
    const double loss = tied_ce(Z, L, n, n, order, labels, 1.0, dZ);
    auto lse = [&](int t, std::initializer_list<int> ids) {
        double s = 0;
        for (int i : ids) s += std::exp(Z[std::size_t(t) * n + i]);
        return std::log(s);
    };
    const double slot0 = lse(0, {0, 1, 2, 3, 4}) - lse(0, {0, 2});
    const double slot1 = lse(1, {1, 2, 3, 4}) - lse(1, {2});
    CHECK(loss == Approx(slot0 + slot1).epsilon(1e-12));
    for (int i = 0; i < n; ++i) CHECK(dZ[std::size_t(2) * n + i] == 0.0);
    // within the group only the group's share matters: moving mass from 0 to 2 at slot 0 keeps
    // its loss (the slot cross-entropy toward candidate 0 would rise)
    const double g0 = dZ[0], g2 = dZ[2];
    CHECK(g0 < 0);
    CHECK(g2 < 0);
    CHECK(g0 / g2 == Approx(std::exp(Z[0] - Z[2])).epsilon(1e-12));  // each pulled up by its share of the group
    // swapping the tie order of the group at slot 0 changes slot 0's term not at all
    std::vector<int> order2 = {2, 0, 1, 3, 4};
    std::vector<double> junk(Z.size(), 0.0);
    const double loss2 = tied_ce(Z, 1, n, n, order2, labels, 1.0, junk);
    CHECK(loss2 == Approx(slot0).epsilon(1e-12));
}

TEST_CASE("fit_supervised with ce-ties: a student learns to put a relevant candidate first; the loss needs labels",
          "[training][letor][ties]") {
    model_config c;
    c.features = 8;
    c.d = 32;
    c.heads = 4;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 64;
    c.max_slate = 4;
    c.max_candidates = 16;
    rng g(31);
    train::slate_dataset<float> d;
    d.L = 4;
    // the relevant candidates (label 1, two or three per request) are those whose feature 0 is largest
    for (int q = 0; q < 24; ++q) {
        const int n = 5 + q % 4;
        auto r = test_util::random_request<float>(c, n, g);
        std::vector<int> idx(static_cast<std::size_t>(n));
        std::iota(idx.begin(), idx.end(), 0);
        std::sort(idx.begin(), idx.end(), [&](int a, int b) { return r.features[std::size_t(a) * 8] > r.features[std::size_t(b) * 8]; });
        std::vector<float> lab(static_cast<std::size_t>(n), 0.f);
        for (int k = 0; k < 2 + q % 2; ++k) lab[std::size_t(idx[std::size_t(k)])] = 1.f;
        d.requests.push_back(std::move(r));
        d.labels.push_back(lab);
    }
    nar_student<float> s(c);
    s.init(5);
    train::trainer_config tc;
    tc.batch_size = 8;
    tc.optimizer.lr = 3e-3;
    tc.optimizer.warmup_steps = 0;
    tc.optimizer.total_steps = 400;
    train::trainer<nar_student<float>> tr(s, tc);
    train::supervised_config sc;
    sc.loss = train::parse_supervised_loss("ce-ties");
    CHECK(std::string(train::to_string(sc.loss)) == "ce-ties");
    std::vector<double> losses;
    train::fit_supervised(tr, d, 400, sc, 100, [&](const train::fit_check& f) {
        losses.push_back(f.train_loss);
        return true;
    });
    REQUIRE(losses.size() == 4);
    CHECK(losses.back() < 0.5 * losses.front());
    workspace ws;
    int first_relevant = 0;
    for (std::size_t q = 0; q < d.size(); ++q) {
        const auto v = d.requests[q].view();
        slate order(std::size_t(v.n));
        decode::student_full_order(s, v, 4, order.data(), (float*)nullptr, ws);
        first_relevant += d.labels[q][std::size_t(order[0])] > 0.f;
    }
    CHECK(first_relevant >= 22);  // of 24
    // without labels the loss cannot be formed
    train::slate_dataset<float> e = d;
    e.labels.clear();
    e.targets.assign(e.requests.size(), slate{0, 1, 2, 3});
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, e, 1, sc, 1, [](const train::fit_check&) { return true; }),
                      "the ce-ties loss needs graded labels");
}
