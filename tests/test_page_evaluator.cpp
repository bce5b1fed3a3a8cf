// The page evaluator (model/page_evaluator.hpp), its fit (train/evaluator_fit.hpp) and the search
// on it (decode/page_search.hpp): loss gradients against central finite differences in double
// with odd sizes, the accumulation contract, causality, exhaustive-search agreement, recovery of a
// known model from its own sampled logs, and the typed errors on bad input.
#include "catch.hpp"
#include "grad_check.hpp"
#include "test_header.hpp"
#include "test_util.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_page_evaluator {

using namespace dualrerank;

namespace {

using test_util::odd_config;
using test_util::random_request;

/// Soft labels with v <= c per slot, or 0/1 labels when `binary`.
std::vector<float> random_labels(int L, int O, rng& g, bool binary) {
    std::vector<float> lab(std::size_t(L) * O);
    for (int t = 0; t < L; ++t) {
        const float c = binary ? float(g.uniform() < 0.5) : float(g.uniform());
        lab[std::size_t(t) * O] = c;
        for (int o = 1; o < O; ++o) lab[std::size_t(t) * O + o] = binary ? (c > 0 && g.uniform() < 0.5 ? 1.0f : 0.0f) : c * float(g.uniform());
    }
    return lab;
}

}  // namespace

TEST_CASE("page_evaluator loss gradients match finite differences (double, odd sizes; every centering)",
          "[gradients][page_evaluator]") {
    for (page_centering mode : {page_centering::none, page_centering::request, page_centering::logs}) {
        page_evaluator_config c = odd_config();
        c.centering = mode;
        page_evaluator<double> ev(c);
        ev.init(3);
        rng g(mode == page_centering::none ? 11 : 13);
        // larger random parameters than init so every term matters
        for (const auto& t : ev.table().tensors())
            for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = 0.4 * g.normal();
        if (mode != page_centering::none) {
            std::vector<double> center(std::size_t(c.features));
            for (auto& m : center) m = 0.5 * g.normal();
            ev.set_page_center(center.data());
        }
        const request<double> r = random_request<double>(11, c.features, c.context, g);
        const int L = 5;
        const std::vector<int> y = {7, 2, 9, 0, 4};
        for (bool binary : {false, true}) {
            const std::vector<float> lab = random_labels(L, c.objectives, g, binary);
            workspace ws;
            std::vector<double> G(ev.arena_size(), 0.0);
            ev.page_loss(r.view(), L, y.data(), lab.data(), G.data(), 1.0, ws);
            auto f = [&]() { return ev.page_loss(r.view(), L, y.data(), lab.data(), static_cast<double*>(nullptr), 0.0, ws); };
            for (const auto& t : ev.table().tensors()) {
                std::vector<double> a(G.begin() + std::ptrdiff_t(t.offset), G.begin() + std::ptrdiff_t(t.offset + t.size));
                const auto res = grad_check::check(ev.params() + t.offset, t.size, a, f, 1e-6, 1, t.name);
                INFO(t.name << (binary ? " (0/1 labels), centering " : " (soft labels), centering ") << int(mode) << " "
                            << res.worst);
                CHECK(res.max_rel < 1e-5);
            }
        }
    }
}

TEST_CASE("centered page context: the loss and the scoring path agree, and no slot slope sits in the page terms",
          "[page_evaluator]") {
    for (page_centering mode : {page_centering::request, page_centering::logs}) {
        page_evaluator_config c = odd_config();
        c.centering = mode;
        page_evaluator_config raw_config = c;
        raw_config.centering = page_centering::none;
        page_evaluator<double> ev(c), raw(raw_config);
        ev.init(7);
        rng g(21);
        for (const auto& t : ev.table().tensors())
            for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = 0.4 * g.normal();
        std::copy(ev.params(), ev.params() + ev.arena_size(), raw.params());
        // features 0..2 are a one-hot (a category): they sum to 1 for every candidate
        request<double> r = random_request<double>(10, c.features, c.context, g);
        for (int i = 0; i < r.n; ++i)
            for (int f = 0; f < 3; ++f) r.features[std::size_t(i) * c.features + f] = f == i % 3 ? 1.0 : 0.0;
        // a fixed center whose one-hot part sums to 1, as the logs' mean candidate's does
        std::vector<double> center = {0.2, 0.5, 0.3};
        for (int f = 3; f < c.features; ++f) center.push_back(0.3 * g.normal());
        ev.set_page_center(center.data());
        raw.set_page_center(center.data());  // unused by the raw model
        const int L = 5, O = c.objectives;
        const std::vector<int> y = {3, 8, 1, 6, 0};
        const std::vector<float> lab = random_labels(L, O, g, false);
        workspace ws;
        // the page's NLL from predict (the terms path) equals page_loss (the training path)
        auto nll_from_predict = [&](const page_evaluator<double>& e) {
            std::vector<double> pred(std::size_t(L) * O);
            e.predict(r.view(), 1, L, y.data(), pred.data(), ws);
            double nll = 0;
            for (int t = 0; t < L; ++t) {
                const double p = pred[std::size_t(t) * O], cl = lab[std::size_t(t) * O];
                nll += -cl * std::log(p) - (1 - cl) * std::log(1 - p);
                for (int o = 1; o < O; ++o) {
                    const double q = pred[std::size_t(t) * O + o] / p, v = lab[std::size_t(t) * O + o];
                    nll += -v * std::log(q) - (cl - v) * std::log(1 - q);
                }
            }
            return nll;
        };
        const double centered_loss = ev.page_loss(r.view(), L, y.data(), lab.data(), static_cast<double*>(nullptr), 0.0, ws);
        CHECK(nll_from_predict(ev) == Approx(centered_loss).epsilon(1e-10));
        const double raw_loss = raw.page_loss(r.view(), L, y.data(), lab.data(), static_cast<double*>(nullptr), 0.0, ws);
        CHECK(nll_from_predict(raw) == Approx(raw_loss).epsilon(1e-10));
        CHECK(std::fabs(centered_loss - raw_loss) > 1e-3);  // the option changes the model
        // adding v 1_cat^T to A and P (a slope x_i^T v * t and a step x_i^T v * [t > 0] in the slot) changes the
        // raw model's predictions, and not the centered one's
        std::vector<double> before(std::size_t(L) * O), after(before.size()), raw_before(before.size()), raw_after(before.size());
        ev.predict(r.view(), 1, L, y.data(), before.data(), ws);
        raw.predict(r.view(), 1, L, y.data(), raw_before.data(), ws);
        for (const char* name : {"page.above", "page.prev"})
            for (int f = 0; f < c.features; ++f)
                for (int k = 0; k < 3; ++k) {
                    const double v = 0.3 * double(f % 4) - 0.4;
                    ev.tensor(name)[std::size_t(f) * c.features + k] += v;
                    raw.tensor(name)[std::size_t(f) * c.features + k] += v;
                }
        ev.predict(r.view(), 1, L, y.data(), after.data(), ws);
        raw.predict(r.view(), 1, L, y.data(), raw_after.data(), ws);
        double raw_change = 0;
        for (std::size_t i = 0; i < before.size(); ++i) {
            CHECK(after[i] == Approx(before[i]).epsilon(1e-12));
            raw_change = std::max(raw_change, std::fabs(raw_after[i] - raw_before[i]));
        }
        CHECK(raw_change > 1e-3);
    }
}

TEST_CASE("fit_page_evaluator sets the logs centering's center to the training pages' mean candidate", "[page_evaluator][fit]") {
    page_evaluator_config c = odd_config();
    c.centering = page_centering::logs;
    page_evaluator<double> ev(c);
    ev.init(1);
    rng g(31);
    std::vector<request<double>> reqs;
    for (int k = 0; k < 6; ++k) reqs.push_back(random_request<double>(6 + k, c.features, c.context, g));
    train::page_source<double> src;
    src.count = reqs.size();
    src.get = [&](std::size_t i, train::page_example<double>& p) {
        p.req = reqs[i];
        p.shown = {0, 1, 2};
        p.labels.assign(std::size_t(3) * c.objectives, 0.0f);
    };
    train::page_fit_config fc;
    fc.steps = 2;
    fc.batch = 2;
    train::fit_page_evaluator(ev, src, src, fc);
    std::vector<double> mean(std::size_t(c.features), 0.0);
    double rows = 0;
    for (const auto& r : reqs) {
        for (int i = 0; i < r.n; ++i)
            for (int f = 0; f < c.features; ++f) mean[std::size_t(f)] += r.features[std::size_t(i) * c.features + f];
        rows += r.n;
    }
    for (int f = 0; f < c.features; ++f) CHECK(ev.page_center()[std::size_t(f)] == Approx(mean[std::size_t(f)] / rows).margin(1e-12));
    const double nan = std::nan("");
    std::vector<double> bad(std::size_t(c.features), 0.0);
    bad[2] = nan;
    CHECK_THROWS_AS(ev.set_page_center(bad.data()), input_error);
}

TEST_CASE("page_weight_decay shrinks the page terms only", "[page_evaluator][fit]") {
    const page_evaluator_config c = odd_config();
    rng g(41);
    std::vector<request<double>> reqs;
    std::vector<std::vector<float>> labels;
    for (int k = 0; k < 16; ++k) {
        reqs.push_back(random_request<double>(8, c.features, c.context, g));
        labels.push_back(random_labels(4, c.objectives, g, true));
    }
    train::page_source<double> src;
    src.count = reqs.size();
    src.get = [&](std::size_t i, train::page_example<double>& p) {
        p.req = reqs[i];
        p.shown = {0, 1, 2, 3};
        p.labels = labels[i];
    };
    auto fit = [&](double page_decay) {
        page_evaluator<double> ev(c);
        ev.init(3);
        train::page_fit_config fc;
        fc.steps = 300;
        fc.batch = 4;
        fc.lr = 0.01;
        fc.eval_every = 1000;
        fc.average_tail = 0;
        fc.page_weight_decay = page_decay;
        train::fit_page_evaluator(ev, src, src, fc);
        return ev;
    };
    const page_evaluator<double> plain = fit(0), decayed = fit(30);
    auto norm = [](const page_evaluator<double>& ev, const char* name) {
        const tensor_spec* t = ev.table().find(name);
        double s2 = 0;
        for (std::size_t i = 0; i < t->size; ++i) s2 += ev.params()[t->offset + i] * ev.params()[t->offset + i];
        return std::sqrt(s2);
    };
    CHECK(norm(decayed, "page.above") < 0.5 * norm(plain, "page.above"));
    CHECK(norm(decayed, "page.prev") < 0.5 * norm(plain, "page.prev"));
    CHECK(norm(decayed, "appeal.user") > 0.5 * norm(plain, "appeal.user"));  // the user-item term is not the target
    train::page_fit_config fc;
    fc.page_weight_decay = -1;
    CHECK_THROWS_AS(fc.validate(), input_error);
}

TEST_CASE("page_evaluator loss accumulates gradients and scales them", "[gradients][page_evaluator]") {
    const page_evaluator_config c = odd_config();
    page_evaluator<double> ev(c);
    ev.init(5);
    rng g(2);
    const request<double> r = random_request<double>(9, c.features, c.context, g);
    const std::vector<int> y = {1, 8, 3};
    const std::vector<float> lab = random_labels(3, c.objectives, g, true);
    workspace ws;
    std::vector<double> G1(ev.arena_size(), 0.0), G2(ev.arena_size(), 0.0);
    ev.page_loss(r.view(), 3, y.data(), lab.data(), G1.data(), 0.5, ws);
    ev.page_loss(r.view(), 3, y.data(), lab.data(), G2.data(), 0.25, ws);
    ev.page_loss(r.view(), 3, y.data(), lab.data(), G2.data(), 0.25, ws);
    double norm = 0;
    for (std::size_t i = 0; i < G1.size(); ++i) {
        CHECK(G2[i] == Approx(G1[i]).margin(1e-12));
        norm += G1[i] * G1[i];
    }
    CHECK(norm > 0);
}

TEST_CASE("page_evaluator is causal and its score, predict and prefix utility agree", "[page_evaluator]") {
    const page_evaluator_config c = odd_config();
    page_evaluator<float> ev(c);
    ev.init(7);
    rng g(4);
    for (const auto& t : ev.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = float(0.3 * g.normal());
    const request<float> r = random_request<float>(12, c.features, c.context, g);
    const int L = 4, O = c.objectives;
    const std::vector<int> slates = {0, 5, 2, 9, /**/ 0, 5, 2, 11, /**/ 3, 1, 4, 6};
    std::vector<float> pred(3 * L * O), u(3);
    workspace ws;
    ev.predict(r.view(), 3, L, slates.data(), pred.data(), ws);
    // slates 0 and 1 share their first three items: those slots' predictions are identical
    for (int t = 0; t < 3; ++t)
        for (int o = 0; o < O; ++o) CHECK(pred[std::size_t(t) * O + o] == pred[std::size_t(L + t) * O + o]);
    ev.score(r.view(), 3, L, slates.data(), nullptr, u.data(), ws);
    for (int k = 0; k < 3; ++k) {
        float s = 0;
        for (int t = 0; t < L; ++t)
            for (int o = 0; o < O; ++o) s += pred[(std::size_t(k) * L + t) * O + o];
        CHECK(u[std::size_t(k)] == Approx(s).epsilon(1e-5));
        CHECK(pred[std::size_t(k) * L * O] <= 1.0f);  // slot 0 is examined with probability 1
    }
    // objective weights: (1, 0, 0) scores the expected clicks
    const float w[3] = {1, 0, 0};
    ev.score(r.view(), 1, L, slates.data(), w, u.data(), ws);
    float clicks = 0;
    for (int t = 0; t < L; ++t) clicks += pred[std::size_t(t) * O];
    CHECK(u[0] == Approx(clicks).epsilon(1e-5));
}

TEST_CASE("page_beam_search finds the exhaustive optimum on a small request", "[page_evaluator][search]") {
    page_evaluator_config c = odd_config();
    c.objectives = 2;
    page_evaluator<double> ev(c);
    ev.init(9);
    rng g(8);
    for (const auto& t : ev.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = 0.5 * g.normal();
    const request<double> r = random_request<double>(6, c.features, c.context, g);
    const int L = 3;
    workspace ws;
    double best = -1;
    for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b)
            for (int d = 0; d < 6; ++d) {
                if (a == b || a == d || b == d) continue;
                const int y[3] = {a, b, d};
                double u;
                ev.score(r.view(), 1, L, y, nullptr, &u, ws);
                best = std::max(best, u);
            }
    decode::page_search_options opt;
    opt.width = 6 * 5 * 4;  // every prefix kept: the beam is exhaustive
    opt.polish = false;
    double got = 0;
    const slate y = decode::page_beam_search(ev, r.view(), L, opt, ws, static_cast<const double*>(nullptr), &got);
    CHECK(got == Approx(best).epsilon(1e-12));
    double check = 0;
    ev.score(r.view(), 1, L, y.data(), nullptr, &check, ws);
    CHECK(check == Approx(got).epsilon(1e-12));
    // a narrow beam with the polish never reports more than the optimum and never less than width 1 alone
    opt.width = 1;
    double narrow = 0;
    decode::page_beam_search(ev, r.view(), L, opt, ws, static_cast<const double*>(nullptr), &narrow);
    opt.polish = true;
    double polished = 0;
    decode::page_beam_search(ev, r.view(), L, opt, ws, static_cast<const double*>(nullptr), &polished);
    CHECK(polished >= narrow - 1e-12);
    CHECK(polished <= best + 1e-12);
}

/// A known page evaluator (features 6, context 3, 4 slots, 10 candidates, click + long view) with
/// examination 0.73 / 0.5 / 0.27 below slot 0, and its logged pages: uniformly random slates (an
/// exploration bucket), clicks and long views sampled from it; page i of a source is seeded by first + i.
struct known_world {
    static constexpr int N = 10, L = 4;
    page_evaluator_config c;
    page_evaluator<double> truth;

    known_world() : c(make_config()), truth(c) {
        truth.init(1);
        rng g(21);
        for (const auto& t : truth.table().tensors())
            for (std::size_t i = 0; i < t.size; ++i) truth.params()[t.offset + i] = 0.4 * g.normal();
        const double exam_logits[3] = {1.0, 0.0, -1.0};
        std::copy(exam_logits, exam_logits + 3, truth.tensor("exam_logit"));
        truth.tensor("appeal.bias")[0] = -0.5;
    }
    static page_evaluator_config make_config() {
        page_evaluator_config c;
        c.features = 6;
        c.context = 3;
        c.max_slate = L;
        c.max_candidates = N;
        c.objectives = 2;
        return c;
    }
    train::page_source<double> pages(std::uint64_t first, std::size_t count) const {
        train::page_source<double> s;
        s.count = count;
        s.get = [this, first](std::size_t i, train::page_example<double>& p) {
            rng rg(first + i);
            p.req = random_request<double>(N, c.features, c.context, rg);
            p.shown = random_slate(N, L, rg);
            std::vector<double> pr(std::size_t(L) * 2);
            workspace w2;
            truth.predict(p.req.view(), 1, L, p.shown.data(), pr.data(), w2);
            p.labels.assign(std::size_t(L) * 2, 0.0f);
            for (int t = 0; t < L; ++t) {
                const bool click = rg.uniform() < pr[std::size_t(t) * 2];
                p.labels[std::size_t(t) * 2] = click ? 1.0f : 0.0f;
                if (click && rg.uniform() < pr[std::size_t(t) * 2 + 1] / pr[std::size_t(t) * 2]) p.labels[std::size_t(t) * 2 + 1] = 1.0f;
            }
        };
        return s;
    }
};

TEST_CASE("fit_page_evaluator recovers a known page evaluator from its own sampled logs", "[page_evaluator][fit]") {
    const known_world kw;
    const auto& c = kw.c;
    const auto& truth = kw.truth;
    const int L = known_world::L;
    const auto train_src = kw.pages(1000, 30000), valid_src = kw.pages(900000, 3000);
    page_evaluator<double> fit(c);
    fit.init(2);
    train::page_fit_config fc;
    fc.steps = 3000;
    fc.eval_every = 500;
    fc.lr = 0.02;
    fc.average_tail = 0;  // the plain fit (the tail average has its own test)
    const auto res = train::fit_page_evaluator(fit, train_src, valid_src, fc);
    CHECK(res.averaged_steps == 0);
    workspace ws;
    const double truth_loss = train::page_source_loss(truth, valid_src, ws);
    INFO("fitted held-out NLL " << res.best_valid_loss << ", truth " << truth_loss << ", start " << res.initial_valid_loss);
    CHECK(res.best_valid_loss < res.initial_valid_loss);
    CHECK(res.best_valid_loss < truth_loss + 0.01 * (res.initial_valid_loss - truth_loss) + 0.01);
    for (int t = 1; t < L; ++t) CHECK(fit.examination(t) == Approx(truth.examination(t)).margin(0.08));
    // calibration: per-slot predicted click rate within 0.02 of the observed one on held-out pages
    const auto rep = train::page_fit_evaluation(fit, valid_src);
    REQUIRE(rep.slots == L);
    for (int t = 0; t < L; ++t) {
        CHECK(rep.at(t, 0).predicted == Approx(rep.at(t, 0).observed).margin(0.02));
        CHECK(rep.at(t, 0).auc > 0.6);
    }
}

TEST_CASE("fit_page_evaluator's tail average lowers the held-out NLL of a noisy fit", "[page_evaluator][fit]") {
    // A fit whose last iterates jitter (small batches, a high step size that decays only to 10%):
    // the average of the last half of its iterates is closer to the optimum (measured: 40% of the
    // plain fit's excess NLL over the truth removed; 38% and 50% with batch-order seeds 2 and 3).
    const known_world kw;
    const auto train_src = kw.pages(1000, 20000), valid_src = kw.pages(900000, 3000);
    train::page_fit_config fc;
    fc.steps = 3000;
    fc.batch = 16;
    fc.lr = 0.05;
    fc.min_lr_ratio = 0.1;
    fc.eval_every = 375;
    fc.patience = 100;
    auto run = [&](double tail, page_evaluator<double>& ev) {
        ev.init(2);
        fc.average_tail = tail;
        return train::fit_page_evaluator(ev, train_src, valid_src, fc);
    };
    page_evaluator<double> plain(kw.c), averaged(kw.c);
    const auto off = run(0, plain), on = run(0.5, averaged);
    workspace ws;
    const double truth_loss = train::page_source_loss(kw.truth, valid_src, ws);
    INFO("held-out NLL: last iterate " << off.best_valid_loss << " (step " << off.best_step << "), tail average "
                                       << on.best_valid_loss << " (step " << on.best_step << ", " << on.averaged_steps
                                       << " iterates), truth " << truth_loss);
    CHECK(on.initial_valid_loss == off.initial_valid_loss);
    // the kept parameters are the average of the tail's iterates up to the kept step
    CHECK(on.averaged_steps > 0);
    CHECK(on.averaged_steps == on.best_step - 1500);
    CHECK(train::page_source_loss(averaged, valid_src, ws) == Approx(on.best_valid_loss).epsilon(1e-12));
    // and they fit better: at least a third of the plain fit's excess over the truth is gone
    CHECK(on.best_valid_loss < off.best_valid_loss - (off.best_valid_loss - truth_loss) / 3);
}

TEST_CASE("PEV-01: page_evaluator rejects bad configs, labels and slates with input_error", "[page_evaluator][bad_input]") {
    page_evaluator_config bad = odd_config();
    bad.max_slate = 1;
    CHECK_THROWS_AS(page_evaluator<float>(bad), input_error);
    bad = odd_config();
    bad.objectives = 0;
    CHECK_THROWS_AS(page_evaluator<float>(bad), input_error);
    bad = odd_config();
    bad.features = 1 << 14;
    bad.context = 1 << 14;
    CHECK_THROWS_AS(page_evaluator<float>(bad), input_error);
    const page_evaluator_config c = odd_config();
    page_evaluator<float> ev(c);
    ev.init(1);
    CHECK_THROWS_AS(page_evaluator<float>(c, 10), input_error);  // more parameters than allowed
    rng g(3);
    const request<float> r = random_request<float>(8, c.features, c.context, g);
    const std::vector<int> y = {0, 1, 2};
    workspace ws;
    std::vector<float> lab(3 * 3, 0.0f);
    lab[0] = 1.5f;  // click label outside [0, 1]
    CHECK_THROWS_AS(ev.page_loss(r.view(), 3, y.data(), lab.data(), static_cast<float*>(nullptr), 0.0f, ws), input_error);
    lab[0] = 0.0f;
    lab[1] = 1.0f;  // objective 1 without a click
    CHECK_THROWS_AS(ev.page_loss(r.view(), 3, y.data(), lab.data(), static_cast<float*>(nullptr), 0.0f, ws), input_error);
    const std::vector<int> dup = {0, 0, 2};
    float u = 0;
    CHECK_THROWS_AS(ev.score(r.view(), 1, 3, dup.data(), nullptr, &u, ws), input_error);
    CHECK_THROWS_AS(ev.score(r.view(), 1, 6, y.data(), nullptr, &u, ws), input_error);  // L > max_slate
    train::page_fit_config fc;
    fc.lr = -1;
    CHECK_THROWS_AS(fc.validate(), input_error);
    fc = train::page_fit_config{};
    fc.average_tail = 1.5;
    CHECK_THROWS_AS(fc.validate(), input_error);
    fc.average_tail = -0.1;
    CHECK_THROWS_AS(fc.validate(), input_error);
    fc = train::page_fit_config{};
    fc.min_lr_ratio = 2;
    CHECK_THROWS_AS(fc.validate(), input_error);
    fc.min_lr_ratio = std::nan("");
    CHECK_THROWS_AS(fc.validate(), input_error);
}

TEST_CASE("PEV-02: page evaluator files round-trip with their trust record and refuse another kind", "[page_evaluator][io][bad_input]") {
    const page_evaluator_config c = odd_config();
    page_evaluator<float> ev(c);
    ev.init(4);
    ev.validation = scorer_validation{"rank_correlation", 0.64, 100};
    const std::string path = "page_evaluator_roundtrip.safetensors";
    io::save_page_evaluator(ev, path);
    const page_evaluator<float> back = io::load_page_evaluator<float>(path);
    CHECK(back.config() == c);
    CHECK(back.validation.check == "rank_correlation");
    CHECK(back.validation.value == Approx(0.64));
    CHECK(back.validation.requests == 100);
    for (std::size_t i = 0; i < ev.arena_size(); ++i) CHECK(back.params()[i] == ev.params()[i]);
    // a file of another kind is refused
    CHECK_THROWS_AS(io::load_model<list_evaluator<float>>(path), format_error);
    // without a record: none after loading
    page_evaluator<float> plain(c);
    plain.init(5);
    io::save_page_evaluator(plain, path);
    CHECK(io::load_page_evaluator<float>(path).validation.requests == 0);
    // a malformed record is refused
    io::save_page_evaluator(plain, path, {{"validation", "[1, 2]"}});
    CHECK_THROWS_AS(io::load_page_evaluator<float>(path), format_error);
    io::save_page_evaluator(plain, path, {{"validation", "{\"check\": \"x\", \"value\": 0.7}"}});
    CHECK_THROWS_AS(io::load_page_evaluator<float>(path), format_error);
    std::remove(path.c_str());
}

TEST_CASE("PEV-03: a centered page evaluator's file carries the option; a file without it is the raw model", "[page_evaluator][io][bad_input]") {
    page_evaluator_config c = odd_config();
    c.centering = page_centering::request;
    page_evaluator<float> ev(c);
    ev.init(4);
    rng g(5);
    for (const auto& t : ev.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = float(0.4 * g.normal());
    const std::string path = "page_evaluator_centered.safetensors", edited = "page_evaluator_centered_edited.safetensors";
    io::save_page_evaluator(ev, path);
    const page_evaluator<float> back = io::load_page_evaluator<float>(path);
    CHECK(back.config() == c);
    CHECK(back.config().centering == page_centering::request);
    {  // logs centering: the fixed center travels with the model as page.center
        page_evaluator_config cl = c;
        cl.centering = page_centering::logs;
        page_evaluator<float> el(cl);
        std::copy(ev.params(), ev.params() + ev.arena_size(), el.params());
        std::vector<float> center(std::size_t(c.features));
        for (auto& m : center) m = float(g.normal());
        el.set_page_center(center.data());
        const std::string lp = "page_evaluator_logs_centered.safetensors";
        io::save_page_evaluator(el, lp);
        const page_evaluator<float> lb = io::load_page_evaluator<float>(lp);
        CHECK(lb.config().centering == page_centering::logs);
        for (std::size_t f = 0; f < center.size(); ++f) CHECK(lb.page_center()[f] == center[f]);
        // without its page.center the file is refused
        const io::safetensors_file lf = io::safetensors_file::from_file(lp);
        std::vector<io::tensor_write> kept;
        for (const auto& t : lf.tensors())
            if (t.name != "page.center") kept.push_back({t.name, t.type, t.shape, lf.raw(t)});
        std::map<std::string, std::string> meta;
        for (const auto& kv : lf.metadata())
            if (kv.first.rfind("dualrerank.", 0) != 0) meta[kv.first] = kv.second;
        io::write_safetensors_file(edited, kept, meta);
        CHECK_THROWS_AS(io::load_page_evaluator<float>(edited), format_error);
        std::remove(lp.c_str());
    }
    // rewrite the file with another config value: absent (what a writer before the option wrote: the raw
    // model, so the self-test of these centered parameters fails) or not a boolean
    const io::safetensors_file f = io::safetensors_file::from_file(path);
    std::vector<io::tensor_write> tensors;
    for (const auto& t : f.tensors()) tensors.push_back({t.name, t.type, t.shape, f.raw(t)});
    auto rewrite = [&](const std::string& config) {
        std::map<std::string, std::string> meta;
        for (const auto& kv : f.metadata())
            if (kv.first.rfind("dualrerank.", 0) != 0) meta[kv.first] = kv.second;
        meta["config"] = config;
        io::write_safetensors_file(edited, tensors, meta);
    };
    io::json j = io::page_evaluator_config_to_json(c);
    CHECK(j.find("page_centering") != nullptr);
    CHECK(io::page_evaluator_config_to_json(odd_config()).find("page_centering") == nullptr);  // default: not written
    rewrite(j.dump());
    CHECK(io::load_page_evaluator<float>(edited).config().centering == page_centering::request);
    j["page_centering"] = std::string("mean");
    rewrite(j.dump());
    CHECK_THROWS_AS(io::load_page_evaluator<float>(edited), format_error);
    rewrite(io::page_evaluator_config_to_json(odd_config()).dump());
    CHECK_THROWS_AS(io::load_page_evaluator<float>(edited), format_error);  // self-test: the raw model predicts otherwise
    std::remove(path.c_str());
    std::remove(edited.c_str());
}

TEST_CASE("BON-05: best_of_n serves greedy unless the scorer's trust record passes the gate", "[page_evaluator][best_of_n][bad_input]") {
    model_config mc;
    mc.features = 7;
    mc.context = 5;
    mc.d = 16;
    mc.heads = 2;
    mc.enc_layers = 1;
    mc.dec_layers = 1;
    mc.ffn = 32;
    mc.max_slate = 5;
    mc.max_candidates = 40;
    nar_student<float> s(mc);
    s.init(3);
    page_evaluator<float> ev(odd_config());
    ev.init(6);
    rng g(12);
    for (const auto& t : ev.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = float(0.5 * g.normal());
    const request<float> r = random_request<float>(14, 7, 5, g);
    const int L = 4;
    workspace ws;
    const slate greedy = decode::greedy(s, r.view(), L, ws);
    decode::best_of_n_config cfg;
    cfg.n = 16;
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(static_cast<std::size_t>(L));
    const decode::page_evaluator_scorer<float> sc{&ev};
    // no record: greedy, the scorer is not asked
    CHECK(decode::best_of_n(s, sc, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw) == 0);
    CHECK_FALSE(bw.gate_open);
    CHECK(slate(out.begin(), out.end()) == greedy);
    // a record below the gate: greedy
    ev.validation = scorer_validation{"rank_correlation", 0.3, 100};
    decode::best_of_n(s, sc, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw);
    CHECK_FALSE(bw.gate_open);
    CHECK(slate(out.begin(), out.end()) == greedy);
    // a record above it: the evaluator's best of the 16 candidates
    ev.validation.value = 0.7;
    const int win = decode::best_of_n(s, sc, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw);
    CHECK(bw.gate_open);
    std::vector<float> u(16);
    ev.score(r.view(), 16, L, bw.slates.data(), nullptr, u.data(), ws);
    const int best = int(std::max_element(u.begin(), u.end()) - u.begin());
    CHECK(win == best);
    CHECK(std::equal(out.begin(), out.end(), bw.slates.begin() + std::ptrdiff_t(best) * L));
    // the gate is a setting; a record with no requests never passes
    cfg.gate = 0.8;
    decode::best_of_n(s, sc, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw);
    CHECK_FALSE(bw.gate_open);
    cfg.gate = 0.5;
    ev.validation.requests = 0;
    decode::best_of_n(s, sc, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw);
    CHECK_FALSE(bw.gate_open);
    // a plain callable is never trusted; validated_scorer attaches a record
    int calls = 0;
    auto count = [&](const request_view<float>&, int K, int, const int*, float* scores, workspace&) {
        ++calls;
        for (int k = 0; k < K; ++k) scores[k] = float(k);
    };
    decode::best_of_n(s, count, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw);
    CHECK(calls == 0);
    const decode::validated_scorer<decltype(count)> vs{count, scorer_validation{"held_out_log", 0.9, 50}};
    CHECK(decode::best_of_n(s, vs, r.view(), L, cfg, counter_key::from_seed(2), 0, out.data(), bw) == 15);
    CHECK(calls == 1);
}

TEST_CASE("SRV-PEV: serving loads a page-evaluator file as the Best-of-N scorer, gated by its trust record", "[page_evaluator][serve]") {
    model_config mc;
    mc.features = 7;
    mc.context = 5;
    mc.d = 16;
    mc.heads = 2;
    mc.enc_layers = 1;
    mc.dec_layers = 1;
    mc.ffn = 32;
    mc.max_slate = 5;
    mc.max_candidates = 40;
    nar_student<float> s(mc);
    s.init(3);
    page_evaluator<float> ev(odd_config());
    ev.init(6);
    rng g(12);
    for (const auto& t : ev.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) ev.params()[t.offset + i] = float(0.5 * g.normal());
    const std::string student_path = "serve_pev_student.safetensors", ev_path = "serve_pev_evaluator.safetensors";
    io::save_model(s, student_path);
    io::save_page_evaluator(ev, ev_path);  // no trust record

    const serving::any_model a = serving::load_any_model(ev_path);
    CHECK(a.kind == model_kind::page_evaluator);
    CHECK(std::string(a.kind_name()) == "page_evaluator");
    REQUIRE(a.page_eval);
    CHECK((!a.teacher && !a.student && !a.evaluator && !a.empty()));
    CHECK((a.config.features == 7 && a.config.context == 5 && a.config.max_slate == 5 && a.config.max_candidates == 40));
    CHECK(a.page_eval->validation.requests == 0);

    serving::reranker_options bo;
    bo.decoder = serving::decoder_kind::best_of_n;
    bo.best_of = 16;
    bo.slate_length = 4;
    bo.seed = 9;
    // a page evaluator scores slates but cannot make them
    CHECK_THROWS_AS(serving::reranker(ev_path), input_error);
    CHECK_THROWS_AS(serving::reranker(serving::load_any_model(ev_path), bo, serving::load_any_model(student_path)), input_error);

    std::vector<request<float>> reqs;
    for (int i = 0; i < 12; ++i) reqs.push_back(random_request<float>(8 + i, 7, 5, g));
    const int L = 4;
    workspace ws;
    decode::best_of_n_workspace<float> bw;
    {  // no record: the gate serves greedy and scores nothing
        const serving::reranker untrusted(student_path, bo, ev_path);
        CHECK_FALSE(untrusted.scorer_trusted());
        serving::session se(untrusted);
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            float score = 0;
            const slate y = se.rerank(reqs[i].view(), i, &score);
            CHECK(y == decode::greedy(s, reqs[i].view(), L, ws));
            CHECK(std::isnan(score));
            CHECK(se.last_proposals().count == 0);
        }
    }
    // a record above the gate (0.5): the evaluator's best of the 16 proposals, as decode::best_of_n
    ev.validation = scorer_validation{"rank_correlation", 0.64, 100};
    io::save_page_evaluator(ev, ev_path);
    const serving::reranker trusted(student_path, bo, ev_path);
    CHECK(trusted.scorer_trusted());
    CHECK(trusted.scorer().page_eval->validation.value == Approx(0.64));
    serving::session se(trusted);
    int not_greedy = 0;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        const request_view<float> r = reqs[i].view();
        float score = 0;
        const slate y = se.rerank(r, i, &score);
        std::vector<int> ref(static_cast<std::size_t>(L));
        const int best = decode::best_of_n(s, decode::page_evaluator_scorer<float>{&ev}, r, L, decode::best_of_n_config{16},
                                           serving::request_key(9, i), 0, ref.data(), bw);
        CHECK(bw.gate_open);
        CHECK(y == slate(ref.begin(), ref.end()));
        CHECK(score == bw.scores[std::size_t(best)]);
        const serving::proposals& p = se.last_proposals();
        CHECK(p.count == 16);
        CHECK(p.chosen == best);
        // the served slate is the highest page utility among the proposals
        std::vector<float> u(16);
        ev.score(r, 16, L, p.slates, nullptr, u.data(), ws);
        CHECK(u[std::size_t(best)] == *std::max_element(u.begin(), u.end()));
        not_greedy += y != decode::greedy(s, r, L, ws);
    }
    CHECK(not_greedy > 0);  // the scorer is actually used
    // a record below the gate closes it again
    ev.validation.value = 0.3;
    io::save_page_evaluator(ev, ev_path);
    CHECK_FALSE(serving::reranker(student_path, bo, ev_path).scorer_trusted());
    // a scorer with other inputs is refused
    page_evaluator_config wide = odd_config();
    wide.features = 8;
    page_evaluator<float> ev8(wide);
    ev8.init(1);
    CHECK_THROWS_AS(serving::reranker(serving::load_any_model(student_path), bo, serving::make_any_model(std::move(ev8), "wide")),
                    input_error);
    std::remove(student_path.c_str());
    std::remove(ev_path.c_str());
}

}  // namespace dualrerank_test_page_evaluator
