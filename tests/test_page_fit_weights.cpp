// Weighted fits of the page evaluator (train/evaluator_fit.hpp): per-page and per-slot weights in
// the loss and gradient (weights of 1 bit-identical to no weights, a weight of 2 equal to a
// duplicated page, finite differences of the slot-weighted loss), a fit that follows its weights,
// and the importance weights toward a target policy (hand-computed two-slot cases, the cap and the
// self-normalization, the student's slot log-probabilities against its sampler's).
#include "catch.hpp"
#include "grad_check.hpp"
#include "test_header.hpp"
#include "test_util.hpp"

namespace dualrerank_test_page_fit_weights {

using namespace dualrerank;

namespace {

using test_util::odd_config;
using test_util::random_request;

std::vector<float> random_labels(int L, int O, rng& g) {
    std::vector<float> lab(std::size_t(L) * O);
    for (int t = 0; t < L; ++t) {
        const float c = float(g.uniform() < 0.5);
        lab[std::size_t(t) * O] = c;
        for (int o = 1; o < O; ++o) lab[std::size_t(t) * O + o] = c > 0 && g.uniform() < 0.5 ? 1.0f : 0.0f;
    }
    return lab;
}

template <class T>
page_evaluator<T> random_evaluator(std::uint64_t seed) {
    page_evaluator<T> ev(odd_config());
    ev.init(seed);
    rng g(seed + 100);
    for (const auto& t : ev.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = T(0.4 * g.normal());
    return ev;
}

template <class T>
train::page_example<T> random_page(int n, int L, rng& g) {
    const page_evaluator_config c = odd_config();
    train::page_example<T> p;
    p.req = random_request<T>(n, c.features, c.context, g);
    p.shown.resize(std::size_t(L));
    std::vector<int> perm(static_cast<std::size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    for (int i = n - 1; i > 0; --i) std::swap(perm[std::size_t(i)], perm[g.below(std::uint64_t(i) + 1)]);
    std::copy_n(perm.begin(), L, p.shown.begin());
    p.labels = random_labels(L, c.objectives, g);
    return p;
}

}  // namespace

TEST_CASE("page weights of 1 are bit-identical to no weights (loss and gradient)", "[page_evaluator][weights]") {
    const page_evaluator<float> ev = random_evaluator<float>(3);
    rng g(5);
    workspace ws;
    std::vector<float> buf;
    for (int k = 0; k < 5; ++k) {
        train::page_example<float> p = random_page<float>(11, 5, g);
        std::vector<float> G0(ev.arena_size(), 0.0f), G1(ev.arena_size(), 0.0f), G2(ev.arena_size(), 0.0f);
        const double l0 = ev.page_loss(p.req.view(), 5, p.shown.data(), p.labels.data(), G0.data(), 0.125f, ws);
        p.weight = 1.0;  // the default, explicit
        const double l1 = train::detail::weighted_page_loss(ev, p, G1.data(), 0.125f, buf, ws);
        CHECK(l1 == l0);
        CHECK(G1 == G0);
        // slot weights of 1: the gradient bit-identical, the loss equal up to the summation order
        p.slot_weights.assign(5, 1.0f);
        const double l2 = train::detail::weighted_page_loss(ev, p, G2.data(), 0.125f, buf, ws);
        CHECK(l2 == Approx(l0).epsilon(1e-12));
        CHECK(G2 == G0);
    }
}

TEST_CASE("a page weight of 2 equals the page twice; slot weights are linear in the slots", "[page_evaluator][weights]") {
    const page_evaluator<double> ev = random_evaluator<double>(7);
    rng g(8);
    workspace ws;
    std::vector<double> buf;
    train::page_example<double> p = random_page<double>(9, 5, g);
    std::vector<double> Gd(ev.arena_size(), 0.0), Gw(ev.arena_size(), 0.0);
    const double once = ev.page_loss(p.req.view(), 5, p.shown.data(), p.labels.data(), Gd.data(), 0.5, ws);
    ev.page_loss(p.req.view(), 5, p.shown.data(), p.labels.data(), Gd.data(), 0.5, ws);
    p.weight = 2.0;
    const double twice = train::detail::weighted_page_loss(ev, p, Gw.data(), 0.5, buf, ws);
    CHECK(twice == Approx(2 * once).epsilon(1e-14));
    double norm = 0;
    for (std::size_t i = 0; i < Gd.size(); ++i) {
        CHECK(Gw[i] == Approx(Gd[i]).margin(1e-14));
        norm += Gd[i] * Gd[i];
    }
    CHECK(norm > 0);
    // slot weights (and a page weight on top): the sum over slots of each slot alone, times its weight
    const std::vector<double> sw = {0.5, 2.0, 0.0, 1.5, 3.0};
    p.weight = 1.5;
    p.slot_weights = sw;
    std::vector<double> G(ev.arena_size(), 0.0), Gsum(ev.arena_size(), 0.0);
    const double weighted = train::detail::weighted_page_loss(ev, p, G.data(), 1.0, buf, ws);
    double sum = 0;
    for (int t = 0; t < 5; ++t) {
        std::vector<double> one(5, 0.0);
        one[std::size_t(t)] = 1.0;
        std::vector<double> Gt(ev.arena_size(), 0.0);
        const double lt = ev.page_loss(p.req.view(), 5, p.shown.data(), p.labels.data(), Gt.data(), 1.0, ws, one.data());
        CHECK(lt > 0);
        sum += 1.5 * sw[std::size_t(t)] * lt;
        for (std::size_t i = 0; i < Gt.size(); ++i) Gsum[i] += 1.5 * sw[std::size_t(t)] * Gt[i];
    }
    CHECK(weighted == Approx(sum).epsilon(1e-12));
    for (std::size_t i = 0; i < G.size(); ++i) CHECK(G[i] == Approx(Gsum[i]).margin(1e-12));
    // bad weights are refused
    p.slot_weights = {1, 1, -1, 1, 1};
    CHECK_THROWS_AS(train::detail::weighted_page_loss(ev, p, G.data(), 1.0, buf, ws), input_error);
    p.slot_weights = {1, 1, 1};
    CHECK_THROWS_AS(train::detail::weighted_page_loss(ev, p, G.data(), 1.0, buf, ws), input_error);
    p.slot_weights.clear();
    p.weight = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_AS(train::detail::weighted_page_loss(ev, p, G.data(), 1.0, buf, ws), input_error);
}

TEST_CASE("the slot-weighted page loss's gradient matches finite differences (double, odd sizes)", "[gradients][page_evaluator][weights]") {
    page_evaluator<double> ev = random_evaluator<double>(11);
    rng g(12);
    const train::page_example<double> p = random_page<double>(13, 5, g);
    const std::vector<double> sw = {0.3, 1.7, 2.9, 0.0, 1.1};
    workspace ws;
    std::vector<double> G(ev.arena_size(), 0.0);
    ev.page_loss(p.req.view(), 5, p.shown.data(), p.labels.data(), G.data(), 1.0, ws, sw.data());
    auto f = [&]() {
        return ev.page_loss(p.req.view(), 5, p.shown.data(), p.labels.data(), static_cast<double*>(nullptr), 0.0, ws, sw.data());
    };
    for (const auto& t : ev.table().tensors()) {
        std::vector<double> a(G.begin() + std::ptrdiff_t(t.offset), G.begin() + std::ptrdiff_t(t.offset + t.size));
        const auto res = grad_check::check(ev.params() + t.offset, t.size, a, f, 1e-6, 1, t.name);
        INFO(t.name << " " << res.worst);
        CHECK(res.max_rel < 1e-5);
    }
}

TEST_CASE("a fit with all weights 1 is bit-identical to an unweighted fit; a weighted fit follows its weights",
          "[page_evaluator][weights][fit]") {
    page_evaluator_config c = odd_config();
    c.objectives = 2;
    rng g(21);
    // two populations: pages whose top slot is always clicked (context[0] = +1 ... any features), and
    // pages whose top slot never is
    std::vector<train::page_example<float>> pages;
    for (int i = 0; i < 400; ++i) {
        train::page_example<float> p = random_page<float>(6, 3, g);
        p.labels.assign(6, 0.0f);
        if (i % 2 == 0) p.labels[0] = 1.0f;  // slot 0 clicked
        pages.push_back(p);
    }
    auto source = [&](int mode) {  // 0 plain, 1 explicit ones (page and slot), 2 weight 0 on the unclicked pages
        train::page_source<float> s;
        s.count = pages.size();
        s.get = [&pages, mode](std::size_t i, train::page_example<float>& p) {
            p = pages[i];
            if (mode == 1) {
                p.weight = 1.0;
                p.slot_weights.assign(3, 1.0f);
            } else if (mode == 2) {
                p.weight = i % 2 == 0 ? 2.0 : 0.0;
            }
        };
        return s;
    };
    train::page_fit_config fc;
    fc.steps = 2000;
    fc.batch = 32;
    fc.lr = 0.05;
    fc.eval_every = 500;
    page_evaluator<float> a(c), b(c), w(c);
    a.init(1);
    b.init(1);
    w.init(1);
    const auto ra = train::fit_page_evaluator(a, source(0), source(0), fc);
    const auto rb = train::fit_page_evaluator(b, source(1), source(1), fc);
    CHECK(std::equal(a.params(), a.params() + a.arena_size(), b.params()));
    CHECK(rb.best_valid_loss == Approx(ra.best_valid_loss).epsilon(1e-12));
    CHECK(rb.best_step == ra.best_step);
    train::fit_page_evaluator(w, source(2), source(2), fc);
    // predicted top-slot click rate over the pages: about 1/2 unweighted, near 1 when only the clicked pages weigh
    auto top_rate = [&](const page_evaluator<float>& ev) {
        workspace ws;
        double sum = 0;
        std::vector<float> out(3 * 2);
        for (const auto& p : pages) {
            ev.predict(p.req.view(), 1, 3, p.shown.data(), out.data(), ws);
            sum += out[0];
        }
        return sum / double(pages.size());
    };
    CHECK(top_rate(a) == Approx(0.5).margin(0.1));
    CHECK(top_rate(w) > 0.8);
    // the weighted held-out loss: a weight of 2 on a page counts it twice
    workspace ws;
    train::page_source<float> one = source(0), dup = source(0), heavy = source(0);
    one.count = dup.count = heavy.count = 2;
    dup.count = 3;
    dup.get = [&pages](std::size_t i, train::page_example<float>& p) { p = pages[i == 2 ? 1 : i]; };  // 0, 1, 1
    heavy.get = [&pages](std::size_t i, train::page_example<float>& p) {
        p = pages[i];
        p.weight = i == 1 ? 2.0 : 1.0;
    };
    CHECK(train::page_source_loss(a, heavy, ws) * 2 == Approx(train::page_source_loss(a, dup, ws) * 3).epsilon(1e-6));
    CHECK(train::page_source_loss(a, heavy, ws) != Approx(train::page_source_loss(a, one, ws)).epsilon(1e-6));
}

TEST_CASE("importance weights on a hand-computed two-slot case", "[weights]") {
    // two-slot slates over 3 items; slot probabilities target / logging (slot 0, slot 1 given slot 0):
    //   page 0: (0.5 / 0.25) (0.5 / 0.5)  ratio 2 * 1 = 2
    //   page 1: (0.2 / 0.4)  (1.0 / 0.5)  ratio 0.5 * 2 = 1
    //   page 2: (0.3 / 0.3)  (0.25 / 0.5) ratio 1 * 0.5 = 0.5
    //   page 3: (0.1 / 0.1)  (0.5 / 1.0)  ratio 0.5
    const double pt[4][2] = {{0.5, 0.5}, {0.2, 1.0}, {0.3, 0.25}, {0.1, 0.5}};
    const double pl[4][2] = {{0.25, 0.5}, {0.4, 0.5}, {0.3, 0.5}, {0.1, 1.0}};
    std::vector<double> slot_ratio(8), page_ratio(4);
    for (int i = 0; i < 4; ++i) {
        for (int t = 0; t < 2; ++t) slot_ratio[std::size_t(i * 2 + t)] = std::log(pt[i][t]) - std::log(pl[i][t]);
        page_ratio[std::size_t(i)] = slot_ratio[std::size_t(i * 2)] + slot_ratio[std::size_t(i * 2 + 1)];
    }
    train::importance_weight_config ic;
    ic.cap = std::numeric_limits<double>::infinity();
    std::vector<double> w(4);
    // uncapped, alpha 1: the ratios 2, 1, 0.5, 0.5 already have mean 1
    auto s = train::importance_weights(page_ratio.data(), 4, ic, w.data());
    CHECK(w[0] == Approx(2.0));
    CHECK(w[1] == Approx(1.0));
    CHECK(w[2] == Approx(0.5));
    CHECK(w[3] == Approx(0.5));
    CHECK(s.ess == Approx(16.0 / 5.5));  // (sum w)^2 / sum w^2 = 16 / (4 + 1 + 0.25 + 0.25)
    CHECK(s.capped == 0);
    // cap 1.5: page 0 at the cap, the rest scaled by (4 - 1.5) / 2 = 1.25
    ic.cap = 1.5;
    s = train::importance_weights(page_ratio.data(), 4, ic, w.data());
    CHECK(w[0] == Approx(1.5));
    CHECK(w[1] == Approx(1.25));
    CHECK(w[2] == Approx(0.625));
    CHECK(w[3] == Approx(0.625));
    CHECK(s.capped == 1);
    CHECK(s.max_weight == Approx(1.5));
    CHECK(s.ess == Approx(16.0 / (2.25 + 1.5625 + 2 * 0.390625)));
    CHECK(s.ess_uncapped == Approx(16.0 / 5.5));
    // cap 1.1: pages 0 and 1 at the cap (s = (4 - 1.1) / 1 = 2.9 would put page 1 at 2.9), the rest (4 - 2.2) / 1
    ic.cap = 1.1;
    train::importance_weights(page_ratio.data(), 4, ic, w.data());
    CHECK(w[0] == Approx(1.1));
    CHECK(w[1] == Approx(1.1));
    CHECK(w[2] == Approx(0.9));
    CHECK(w[3] == Approx(0.9));
    // alpha 0.5: square roots of the ratios, normalized to mean 1
    ic.cap = std::numeric_limits<double>::infinity();
    ic.alpha = 0.5;
    train::importance_weights(page_ratio.data(), 4, ic, w.data());
    const double z = (std::sqrt(2.0) + 1.0 + 2 * std::sqrt(0.5)) / 4;
    CHECK(w[0] == Approx(std::sqrt(2.0) / z));
    CHECK(w[1] == Approx(1.0 / z));
    CHECK(w[2] == Approx(std::sqrt(0.5) / z));
    // prefix weights: slot 0 by the first slot's ratio (2, 0.5, 1, 1: mean 1.125), slot 1 by the page's
    ic.alpha = 1.0;
    std::vector<double> pw(8);
    const auto sums = train::prefix_importance_weights(slot_ratio.data(), 4, 2, ic, pw.data());
    REQUIRE(sums.size() == 2);
    CHECK(pw[0] == Approx(2.0 / 1.125));
    CHECK(pw[2] == Approx(0.5 / 1.125));
    CHECK(pw[4] == Approx(1.0 / 1.125));
    CHECK(pw[6] == Approx(1.0 / 1.125));
    for (int i = 0; i < 4; ++i) CHECK(pw[std::size_t(i * 2 + 1)] == Approx(std::exp(page_ratio[std::size_t(i)])));  // mean 1 already
    CHECK(sums[0].ess > sums[1].ess);  // the first slot's ratios vary less than the page's
}

TEST_CASE("importance weights: mean 1, never above the cap, proportional below it; bad settings refused", "[weights]") {
    rng g(31);
    const std::size_t N = 1000;
    std::vector<double> lr(N), w(N);
    for (auto& v : lr) v = 2.0 * g.normal();  // heavy-tailed ratios
    train::importance_weight_config uncapped;
    uncapped.alpha = 0.75;
    uncapped.cap = std::numeric_limits<double>::infinity();
    const double max_uncapped = train::importance_weights(lr.data(), N, uncapped, w.data()).max_weight;
    for (double cap : {1.0, 2.0, 5.0, 50.0, 1e6}) {
        train::importance_weight_config ic;
        ic.alpha = 0.75;
        ic.cap = cap;
        const auto s = train::importance_weights(lr.data(), N, ic, w.data());
        double mean = 0, mx = 0;
        for (double x : w) {
            mean += x / double(N);
            mx = std::max(mx, x);
        }
        INFO("cap " << cap);
        CHECK(mean == Approx(1.0).epsilon(1e-12));
        CHECK(mx <= cap * (1 + 1e-12));
        CHECK(s.max_weight == Approx(mx));
        CHECK((s.capped > 0) == (max_uncapped > cap));  // the cap binds exactly when a mean-1 weight exceeds it
        if (max_uncapped <= cap) CHECK(s.ess == Approx(s.ess_uncapped));
        // below the cap the weights are one multiple of exp(alpha log ratio)
        double k = -1;
        for (std::size_t i = 0; i < N; ++i)
            if (w[i] < cap * (1 - 1e-9)) {
                const double ki = w[i] / std::exp(ic.alpha * lr[i]);
                if (k < 0) k = ki;
                CHECK(ki == Approx(k).epsilon(1e-9));
            }
        if (cap == 1.0)
            for (double x : w) CHECK(x == Approx(1.0));
        CHECK(s.ess <= double(N) + 1e-9);
        CHECK(s.ess >= s.ess_uncapped);  // capping only evens the weights out
    }
    // the stride: every second entry
    std::vector<double> strided(2 * N, 0.0), ws(2 * N, -7.0);
    for (std::size_t i = 0; i < N; ++i) strided[2 * i] = lr[i];
    train::importance_weight_config ic;
    train::importance_weights(lr.data(), N, ic, w.data());
    train::importance_weights(strided.data(), N, ic, ws.data(), 2);
    for (std::size_t i = 0; i < N; ++i) {
        CHECK(ws[2 * i] == w[i]);
        CHECK(ws[2 * i + 1] == -7.0);
    }
    ic.alpha = 0;
    CHECK_THROWS_AS(train::importance_weights(lr.data(), N, ic, w.data()), input_error);
    ic.alpha = 1.5;
    CHECK_THROWS_AS(train::importance_weights(lr.data(), N, ic, w.data()), input_error);
    ic.alpha = 1;
    ic.cap = 0.5;
    CHECK_THROWS_AS(train::importance_weights(lr.data(), N, ic, w.data()), input_error);
    ic.cap = 10;
    lr[3] = std::numeric_limits<double>::infinity();
    CHECK_THROWS_AS(train::importance_weights(lr.data(), N, ic, w.data()), input_error);
}

TEST_CASE("student_slot_log_probs sum to the sampler's slate log-probabilities", "[weights]") {
    world w(world_config::small(), 5);
    model_config c = test_util::small_config(w.config().feature_dim, w.config().context_dim);
    c.max_slate = w.slate_size();
    c.max_candidates = w.num_candidates();
    nar_student<float> student(c);
    student.init(4);
    const int L = w.slate_size(), K = 8;
    sim_request r;
    workspace ws;
    for (std::uint64_t q = 0; q < 3; ++q) {
        w.make_request(q, r);
        for (double tau : {0.5, 1.0}) {
            std::vector<int> slates(std::size_t(K) * L);
            std::vector<float> lp(static_cast<std::size_t>(K));
            decode::student_sample(student, r.observed.view(), L, K, tau, counter_key::from_seed(q + 1), 0, slates.data(), lp.data(), ws);
            for (int k = 0; k < K; ++k) {
                std::vector<double> slot(static_cast<std::size_t>(L));
                train::student_slot_log_probs(student, r.observed.view(), L, slates.data() + std::size_t(k) * L, tau, slot.data(), ws);
                double sum = 0;
                for (double v : slot) {
                    CHECK(v <= 0);
                    sum += v;
                }
                CHECK(sum == Approx(double(lp[std::size_t(k)])).margin(1e-4));
            }
        }
    }
    std::vector<int> bad(std::size_t(L), 0);  // a repeated item
    std::vector<double> out(static_cast<std::size_t>(L));
    CHECK_THROWS_AS(train::student_slot_log_probs(student, r.observed.view(), L, bad.data(), 0.5, out.data(), ws), input_error);
    std::vector<int> ok(static_cast<std::size_t>(L));
    std::iota(ok.begin(), ok.end(), 0);
    CHECK_THROWS_AS(train::student_slot_log_probs(student, r.observed.view(), L, ok.data(), 0.0, out.data(), ws), input_error);
}

}  // namespace dualrerank_test_page_fit_weights
