// The built-in world: determinism, closed form vs Monte Carlo, context effects, reference policies,
// behaviour-policy propensities, logs and the drifting stream.
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

using namespace dualrerank;

namespace {

// All permutations of length l over n items (for brute-force checks on tiny worlds).
void all_slates(int n, int l, slate& cur, std::vector<char>& used, std::vector<slate>& out) {
    if (static_cast<int>(cur.size()) == l) {
        out.push_back(cur);
        return;
    }
    for (int i = 0; i < n; ++i) {
        if (used[i]) continue;
        used[i] = 1;
        cur.push_back(i);
        all_slates(n, l, cur, used, out);
        cur.pop_back();
        used[i] = 0;
    }
}
std::vector<slate> all_slates(int n, int l) {
    std::vector<slate> out;
    slate cur;
    std::vector<char> used(n, 0);
    all_slates(n, l, cur, used, out);
    return out;
}

// A hand-built request: categories and base logits chosen by the test.
sim_request hand_request(const std::vector<int>& category, const std::vector<double>& base,
                         const std::vector<double>& long_prob) {
    sim_request r;
    const int n = static_cast<int>(category.size());
    r.observed.n = n;
    r.category = category;
    r.base_logit = base;
    r.long_view_prob = long_prob;
    r.upstream_score = base;
    r.quality.assign(n, 0.0);
    r.affinity.assign(n, 0.0);
    return r;
}

}  // namespace

TEST_CASE("world: requests are reproducible from (seed, index) and well formed", "[simulator]") {
    const world w(world_config{}, 42);
    const auto& cfg = w.config();
    const sim_request a = w.make_request(7);
    w.make_request(3);  // generating other requests in between changes nothing
    const sim_request b = w.make_request(7);
    REQUIRE(a.observed.features == b.observed.features);
    REQUIRE(a.observed.context == b.observed.context);
    REQUIRE(a.observed.upstream_rank == b.observed.upstream_rank);
    REQUIRE(a.base_logit == b.base_logit);

    const sim_request c = w.make_request(8);
    CHECK(c.observed.features != a.observed.features);
    const world other(world_config{}, 43);
    CHECK(other.make_request(7).observed.features != a.observed.features);

    REQUIRE(a.observed.n == cfg.num_candidates);
    REQUIRE(a.observed.f == cfg.feature_dim);
    REQUIRE(static_cast<int>(a.observed.features.size()) == cfg.num_candidates * cfg.feature_dim);
    REQUIRE(static_cast<int>(a.observed.context.size()) == cfg.context_dim);

    // upstream rank is a permutation that orders the upstream score
    std::vector<int> rank = a.observed.upstream_rank;
    std::vector<int> sorted = rank;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < a.n(); ++i) REQUIRE(sorted[i] == i);
    for (int i = 0; i < a.n(); ++i)
        for (int j = 0; j < a.n(); ++j)
            if (rank[i] < rank[j]) REQUIRE(a.upstream_score[i] >= a.upstream_score[j]);

    // feature layout: upstream score, normalized rank, one-hot category, zero padding
    const feature_layout& lay = w.layout();
    REQUIRE(lay.used == 3 + cfg.num_categories + cfg.latent_dim);
    for (int i = 0; i < a.n(); ++i) {
        const float* row = &a.observed.features[static_cast<std::size_t>(i) * cfg.feature_dim];
        CHECK(row[lay.upstream_score] == static_cast<float>(a.upstream_score[i]));
        CHECK_THAT(row[lay.upstream_rank], Catch::Matchers::WithinAbs(rank[i] / double(a.n() - 1), 1e-6));
        float onehot = 0.0f;
        for (int c = 0; c < cfg.num_categories; ++c) onehot += row[lay.category + c];
        CHECK(onehot == 1.0f);
        CHECK(row[lay.category + a.category[i]] == 1.0f);
        for (int j = lay.used; j < cfg.feature_dim; ++j) CHECK(row[j] == 0.0f);
    }
    // appeal logit without effects = bias + affinity + quality
    for (int i = 0; i < a.n(); ++i)
        CHECK_THAT(a.base_logit[i], Catch::Matchers::WithinAbs(cfg.click_bias + a.affinity[i] + a.quality[i], 1e-12));

    // truncated feature width keeps a prefix of the layout
    world_config narrow;
    narrow.feature_dim = 5;
    const world wn(narrow, 1);
    const sim_request rn = wn.make_request(0);
    REQUIRE(rn.observed.f == 5);
    REQUIRE(wn.layout().category_width == 2);
    REQUIRE(wn.layout().latent_width == 0);
}

TEST_CASE("world: examination decays and is cut after the viewport", "[simulator]") {
    const world w(world_config{}, 1);
    const auto& e = w.examination();
    REQUIRE(static_cast<int>(e.size()) == w.slate_size());
    REQUIRE(e[0] == 1.0);
    for (std::size_t t = 1; t < e.size(); ++t) REQUIRE(e[t] < e[t - 1]);
    const int v = w.config().viewport;
    // the step across the viewport is sharper than the steps inside it
    CHECK(e[v] / e[v - 1] < e[v - 1] / e[v - 2] - 0.1);
}

TEST_CASE("world: closed-form utility equals the Monte Carlo mean of sampled feedback", "[simulator]") {
    // Stated tolerance: every compared mean (per slate, per slot, aggregate) is within 4.5 standard
    // errors of the closed form (false-alarm rate per comparison < 1e-5), and the aggregate over
    // 40 slates x 20k pages within 1% relative (its standard error is about 0.2-0.3%).
    const world w(world_config{}, 5);
    rng g(99);
    const int L = w.slate_size();
    conditions cond;
    SECTION("default conditions") {}
    SECTION("low engagement, other weights") {
        cond.engagement = 0.3;
        cond.weights = {0.7, 2.0};
    }
    const int slates = 40, samples = 20000;  // 800k sampled pages
    bool consistent = true;  // a long view needs a click, a click needs examination
    double sum_cf = 0.0, sum_mc = 0.0, var_mc = 0.0;
    std::vector<double> slot_click_cf(L, 0.0), slot_click_mc(L, 0.0), slot_long_cf(L, 0.0), slot_long_mc(L, 0.0);
    page_feedback fb;
    for (int s = 0; s < slates; ++s) {
        const sim_request r = w.make_request(1000 + s / 4);
        const slate y = random_slate(r.n(), L, g);
        const double u = w.expected_utility(r, y, cond);
        const page_feedback ex = w.expected_feedback(r, y, cond);
        CHECK_THAT(ex.reward(cond.weights), Catch::Matchers::WithinAbs(u, 1e-5));
        double m = 0.0, m2 = 0.0;
        for (int k = 0; k < samples; ++k) {
            w.sample_feedback(r, y, g, cond, fb);
            const double rew = fb.reward(cond.weights);
            m += rew;
            m2 += rew * rew;
            for (int t = 0; t < L; ++t) {
                slot_click_mc[t] += fb.clicks[t];
                slot_long_mc[t] += fb.long_views[t];
                consistent = consistent && fb.long_views[t] <= fb.clicks[t] && fb.clicks[t] <= fb.examined[t];
            }
        }
        for (int t = 0; t < L; ++t) {
            slot_click_cf[t] += ex.clicks[t] * samples;
            slot_long_cf[t] += ex.long_views[t] * samples;
        }
        m /= samples;
        const double var = m2 / samples - m * m;
        const double se = std::sqrt(var / samples);
        CHECK(std::abs(m - u) <= 4.5 * se + 1e-9);
        sum_cf += u;
        sum_mc += m;
        var_mc += var / samples;
    }
    CHECK(consistent);
    CHECK(std::abs(sum_mc - sum_cf) <= 4.5 * std::sqrt(var_mc));
    CHECK(std::abs(sum_mc - sum_cf) <= 0.01 * sum_cf);
    // per slot: Bernoulli counts, standard error sqrt(sum p(1-p)) <= sqrt(expected count)
    for (int t = 0; t < L; ++t) {
        CHECK(std::abs(slot_click_mc[t] - slot_click_cf[t]) <= 4.5 * std::sqrt(slot_click_cf[t]) + 1.0);
        CHECK(std::abs(slot_long_mc[t] - slot_long_cf[t]) <= 4.5 * std::sqrt(slot_long_cf[t]) + 1.0);
    }
}

TEST_CASE("world: exact random-slate utility matches brute force and sampling", "[simulator]") {
    SECTION("brute force over every slate of a tiny world") {
        world_config cfg;
        cfg.num_candidates = 6;
        cfg.slate_size = 4;
        cfg.num_categories = 3;  // pair (0,1) and an unpaired category 2
        cfg.viewport = 2;
        const world w(cfg, 3);
        conditions cond;
        cond.engagement = 1.7;  // exercises the min(1, .) cap too
        for (std::uint64_t q = 0; q < 5; ++q) {
            const sim_request r = w.make_request(q);
            const auto slates = all_slates(6, 4);
            double mean = 0.0;
            for (const slate& y : slates) mean += w.expected_utility(r, y, cond);
            mean /= static_cast<double>(slates.size());
            CHECK_THAT(w.random_utility(r, cond), Catch::Matchers::WithinAbs(mean, 1e-12));
        }
    }
    SECTION("sampling on the default world") {
        const world w(world_config{}, 11);
        const sim_request r = w.make_request(0);
        rng g(5);
        double m = 0.0, m2 = 0.0;
        const int k = 20000;
        for (int s = 0; s < k; ++s) {
            const double u = w.expected_utility(r, random_slate(r.n(), w.slate_size(), g));
            m += u;
            m2 += u * u;
        }
        m /= k;
        const double se = std::sqrt((m2 / k - m * m) / k);
        CHECK(std::abs(m - w.random_utility(r)) <= 4.5 * se);
    }
}

TEST_CASE("world: context effects decide between interleaving and appeal sort", "[simulator]") {
    // Six items, categories 0 and 1 are complementary; the three category-0 items appeal most.
    const sim_request r = hand_request({0, 0, 0, 1, 1, 1}, {-1.0, -1.1, -1.2, -1.3, -1.4, -1.5},
                                       std::vector<double>(6, 0.3));
    world_config cfg;
    cfg.num_candidates = 6;
    cfg.slate_size = 6;
    cfg.num_categories = 2;
    const world on(cfg, 1);
    const world off(cfg.without_context_effects(), 1);
    const slate appeal = appeal_sort(on, r);
    REQUIRE(appeal == slate{0, 1, 2, 3, 4, 5});
    const slate interleaved{0, 3, 1, 4, 2, 5};

    CHECK(on.expected_utility(r, interleaved) > on.expected_utility(r, appeal) + 0.05);
    CHECK(off.expected_utility(r, appeal) > off.expected_utility(r, interleaved));

    // the oracle finds the interleaving gain with effects on, and equals appeal sort without them
    double u_on = 0.0, u_off = 0.0;
    beam_search(on, r, {}, {}, &u_on);
    const slate y_off = beam_search(off, r, {}, {}, &u_off);
    CHECK(u_on >= on.expected_utility(r, interleaved) - 1e-12);
    CHECK(y_off == appeal);
    CHECK_THAT(u_off, Catch::Matchers::WithinAbs(off.expected_utility(r, appeal), 1e-12));

    // on generated worlds: without effects beam == appeal sort on every request; with effects the
    // oracle is clearly better than appeal sort on average
    for (const world_config& base : {world_config{}, world_config::small()}) {
        const world w_on(base, 2), w_off(base.without_context_effects(), 2);
        double gain = 0.0;
        for (std::uint64_t q = 0; q < 30; ++q) {
            const sim_request rr = w_off.eval_request(q);
            double ub = 0.0;
            beam_search(w_off, rr, {}, {}, &ub);
            CHECK_THAT(ub, Catch::Matchers::WithinAbs(w_off.expected_utility(rr, appeal_sort(w_off, rr)), 1e-12));
            const sim_request ro = w_on.eval_request(q);
            beam_search(w_on, ro, {}, {}, &ub);
            gain += ub - w_on.expected_utility(ro, appeal_sort(w_on, ro));
        }
        CHECK(gain / 30 > 0.05);
    }
}

TEST_CASE("world: beam search reaches the brute-force optimum on a tiny world", "[simulator]") {
    world_config cfg;
    cfg.num_candidates = 7;
    cfg.slate_size = 4;
    cfg.num_categories = 4;
    const world w(cfg, 8);
    const auto slates = all_slates(7, 4);
    for (std::uint64_t q = 0; q < 10; ++q) {
        const sim_request r = w.make_request(q);
        double best = 0.0;
        for (const slate& y : slates) best = std::max(best, w.expected_utility(r, y));
        double u = 0.0;
        const slate y = beam_search(w, r, {}, {256, true, 50}, &u);
        CHECK_THAT(u, Catch::Matchers::WithinAbs(best, 1e-12));
        CHECK_THAT(w.expected_utility(r, y), Catch::Matchers::WithinAbs(u, 1e-12));
        // a narrow beam plus polish is never worse than appeal sort, and never better than the optimum
        double u1 = 0.0;
        beam_search(w, r, {}, {1, true, 50}, &u1);
        CHECK(u1 <= best + 1e-12);
        CHECK(u1 >= w.expected_utility(r, appeal_sort(w, r)) - 1e-12);
    }
}

TEST_CASE("world: reference policies are ordered upstream < appeal < oracle", "[simulator]") {
    for (const world_config& cfg : {world_config{}, world_config::small()}) {
        for (std::uint64_t seed = 1; seed <= 3; ++seed) {
            const world w(cfg, seed);
            const reference_utilities ref = evaluate_reference_policies(w, world::eval_base, 100);
            const double beh = ref.normalized(ref.behaviour), up = ref.normalized(ref.upstream),
                         app = ref.normalized(ref.appeal);
            CHECK(ref.normalized(ref.oracle) == 1.0);
            CHECK(ref.normalized(ref.random) == 0.0);
            CHECK(beh > 0.3);
            CHECK(beh < up);
            CHECK(up < app - 0.08);
            CHECK(app < 0.9);  // context effects are worth at least 10% of the oracle gap
            // about 15% clicks per examined slot under the behaviour policy
            CHECK(ref.clicks_per_examined_slot > 0.12);
            CHECK(ref.clicks_per_examined_slot < 0.18);
        }
    }
}

TEST_CASE("world: Plackett-Luce behaviour policy propensities", "[simulator]") {
    const std::vector<double> scores{0.3, -1.0, 1.2, 0.0};
    const double tau = 0.7;
    const auto slates = all_slates(4, 2);
    double total = 0.0;
    for (const slate& y : slates) total += std::exp(plackett_luce_log_prob(scores, y, tau));
    CHECK_THAT(total, Catch::Matchers::WithinAbs(1.0, 1e-12));

    // hand-computed: P(2 then 0) = e^{1.2/.7}/Z1 * e^{.3/.7}/Z2
    const double e0 = std::exp(0.3 / tau), e1 = std::exp(-1.0 / tau), e2 = std::exp(1.2 / tau), e3 = std::exp(0.0);
    const double p = e2 / (e0 + e1 + e2 + e3) * e0 / (e0 + e1 + e3);
    CHECK_THAT(plackett_luce_log_prob(scores, slate{2, 0}, tau), Catch::Matchers::WithinAbs(std::log(p), 1e-12));

    // sampling frequencies match the probabilities (and the returned log-propensity is exact)
    rng g(17);
    const int k = 60000;
    std::vector<int> count(16, 0);
    for (int s = 0; s < k; ++s) {
        double lp = 0.0;
        const slate y = plackett_luce_sample(scores, 2, tau, g, &lp);
        REQUIRE_THAT(lp, Catch::Matchers::WithinAbs(plackett_luce_log_prob(scores, y, tau), 1e-12));
        ++count[y[0] * 4 + y[1]];
    }
    for (const slate& y : slates) {
        const double pr = std::exp(plackett_luce_log_prob(scores, y, tau));
        const double se = std::sqrt(pr * (1 - pr) / k);
        CHECK(std::abs(count[y[0] * 4 + y[1]] / double(k) - pr) <= 4.5 * se);
    }
}

TEST_CASE("world: logs carry exact propensities and are reproducible", "[simulator]") {
    const world w(world_config::small(), 4);
    const behaviour_policy pol;
    const auto logs = generate_logs(w, 100, 50, pol, 7);
    const auto again = generate_logs(w, 100, 50, pol, 7);
    REQUIRE(logs.size() == 50);
    std::set<slate> distinct;
    double clicks = 0.0;
    for (std::size_t p = 0; p < logs.size(); ++p) {
        const logged_page& page = logs[p];
        REQUIRE(page.request_index == 100 + p);
        REQUIRE(page.shown == again[p].shown);
        REQUIRE(page.feedback.clicks == again[p].feedback.clicks);
        REQUIRE(static_cast<int>(page.feedback.clicks.size()) == w.slate_size());
        const sim_request r = w.make_request(page.request_index);
        CHECK_THAT(page.log_propensity, Catch::Matchers::WithinAbs(pol.log_propensity(r, page.shown), 1e-9));
        CHECK(page.log_propensity < 0.0);
        distinct.insert(page.shown);
        clicks += page.feedback.total_clicks();
    }
    CHECK(distinct.size() > 40);  // exploratory
    CHECK(clicks > 0.0);
    const auto other = generate_logs(w, 100, 50, pol, 8);
    int differ = 0;
    for (std::size_t p = 0; p < logs.size(); ++p) differ += logs[p].shown != other[p].shown;
    CHECK(differ > 25);
}

TEST_CASE("world: schedules and the drifting stream", "[simulator]") {
    SECTION("schedules") {
        const schedule c = schedule::constant(0.4);
        CHECK(c(0) == 0.4);
        CHECK(c(1000000) == 0.4);
        const schedule s = schedule::step(1.0, 0.2, 100);
        CHECK(s(99) == 1.0);
        CHECK(s(100) == 0.2);
        const schedule m = schedule::smooth(1.0, 3.0, 10, 20);
        CHECK(m(10) == 1.0);
        CHECK_THAT(m(20), Catch::Matchers::WithinAbs(2.0, 1e-12));
        CHECK(m(30) == 3.0);
        for (int t = 10; t < 30; ++t) CHECK(m(t + 1) >= m(t));
        const schedule p = schedule::periodic(1.0, 0.5, 40);
        CHECK_THAT(p(10), Catch::Matchers::WithinAbs(1.5, 1e-12));
        CHECK_THAT(p(30), Catch::Matchers::WithinAbs(0.5, 1e-12));
    }
    SECTION("stream follows the drift") {
        const world w(world_config::small(), 9);
        drift d = drift::weight_swap(5);
        d.engagement = schedule::step(1.0, 0.0, 8);
        stream st(w, d, 3, 500);
        CHECK_THROWS_AS(st.feedback(slate{0, 1, 2, 3, 4, 5}), input_error);
        double clicks_after = 0.0;
        for (int k = 0; k < 10; ++k) {
            const sim_request& r = st.next();
            REQUIRE(st.step() == k);
            REQUIRE(r.index == 500u + static_cast<std::uint64_t>(k));
            const conditions& c = st.current_conditions();
            CHECK(c.weights.click == (k < 5 ? 1.0 : 0.0));
            CHECK(c.weights.long_view == (k < 5 ? 0.0 : 1.0));
            const slate y = upstream_sort(w, r);
            CHECK(st.expected_utility(y) == w.expected_utility(r, y, c));
            for (int g = 0; g < 20; ++g) {  // a group of feedback draws on one request
                const page_feedback fb = st.feedback(y);
                if (k >= 8) clicks_after += fb.total_clicks();
            }
            if (k >= 8) CHECK(st.expected_utility(y) == 0.0);
        }
        CHECK(clicks_after == 0.0);
        // the request sequence depends only on the step; the feedback on the seed
        stream st2(w, d, 3, 500);
        st2.next();
        CHECK(st2.current().observed.features == w.make_request(500).observed.features);
        // checkpoint and resume: the continuation is identical
        st2.next();
        const auto state = st2.feedback_rng().state();
        const slate y = upstream_sort(w, st2.current());
        const page_feedback f1 = st2.feedback(y);
        const sim_request& n1 = st2.next();
        const std::vector<float> feat1 = n1.observed.features;
        stream st3(w, d, 999, 500);
        st3.restore(1, state);
        CHECK(st3.current().index == 501u);
        const page_feedback f3 = st3.feedback(y);
        CHECK(f3.examined == f1.examined);
        CHECK(f3.clicks == f1.clicks);
        CHECK(st3.next().observed.features == feat1);
        CHECK(st3.current_conditions().weights.click == st2.current_conditions().weights.click);
    }
}

TEST_CASE("world: invalid slates and configs are rejected", "[simulator]") {
    const world w(world_config::small(), 1);
    const sim_request r = w.make_request(0);
    CHECK_THROWS_AS(w.expected_utility(r, slate{0, 1, 2}), input_error);              // wrong length
    CHECK_THROWS_AS(w.expected_utility(r, slate{0, 1, 2, 3, 4, 4}), input_error);     // duplicate
    CHECK_THROWS_AS(w.expected_utility(r, slate{0, 1, 2, 3, 4, 20}), input_error);    // out of range
    CHECK_THROWS_AS(w.expected_utility(r, slate{-1, 1, 2, 3, 4, 5}), input_error);
    world_config bad = world_config::small();
    bad.slate_size = 21;
    CHECK_THROWS_AS(world(bad, 1), input_error);
    bad = world_config{};
    bad.exam_decay = 0.0;
    CHECK_THROWS_AS(world(bad, 1), input_error);
    bad = world_config{};
    bad.upstream_noise = -1.0;
    CHECK_THROWS_AS(world(bad, 1), input_error);
    rng g(1);
    CHECK_THROWS_AS(random_slate(3, 4, g), input_error);
}
