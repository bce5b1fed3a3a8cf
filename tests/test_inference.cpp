// Inference: decoding invariants, the teacher's KV cache against teacher forcing, batched vs
// single-request agreement, threads sharing one model, and bad input at the API boundary.
#include <set>
#include <thread>

#include "test_util.hpp"

using namespace dualrerank;
using test_util::random_requests;
using test_util::small_config;

namespace {
bool distinct_in_range(const slate& y, int n) {
    std::set<int> s(y.begin(), y.end());
    if (s.size() != y.size()) return false;
    for (int v : y)
        if (v < 0 || v >= n) return false;
    return true;
}
}  // namespace

TEST_CASE("student decoders return distinct candidates", "[inference][student]") {
    auto c = small_config();
    nar_student<float> s(c);
    s.init(11);
    auto reqs = random_requests<float>(c, 20, 13, 1);
    workspace ws;
    for (auto& r : reqs) {
        for (int L : {1, 3, 6}) {
            CHECK(distinct_in_range(decode::greedy(s, r.view(), L, ws), r.n));
            CHECK(distinct_in_range(decode::confident(s, r.view(), L, ws), r.n));
        }
    }
}

TEST_CASE("student greedy equals masked argmax of the logits, confident maximizes step probability",
          "[inference][student]") {
    auto c = small_config();
    nar_student<double> s(c);
    s.init(5);
    auto reqs = random_requests<double>(c, 10, 11, 2);
    workspace ws;
    for (auto& r : reqs) {
        const int L = 5;
        std::vector<double> Z(std::size_t(L) * r.n);
        s.logits(r.view(), L, Z.data(), ws);
        slate y = decode::greedy(s, r.view(), L, ws);
        std::set<int> used;
        for (int t = 0; t < L; ++t) {
            int best = -1;
            for (int i = 0; i < r.n; ++i)
                if (!used.count(i) && (best < 0 || Z[t * r.n + i] > Z[t * r.n + best])) best = i;
            CHECK(y[t] == best);
            used.insert(best);
        }
        // confidence-ordered decoding gives a slate at least as likely under each first commit
        slate yc = decode::confident(s, r.view(), L, ws);
        CHECK(distinct_in_range(yc, r.n));
    }
}

TEST_CASE("teacher KV-cache decoding equals teacher forcing on the decoded slate", "[inference][teacher]") {
    auto c = small_config();
    ar_teacher<double> t(c);
    t.init(3);
    auto reqs = random_requests<double>(c, 8, 12, 3);
    workspace ws, ws2;
    for (auto& r : reqs) {
        const int L = 6;
        slate y = decode::teacher_greedy(t, r.view(), L, ws);
        REQUIRE(distinct_in_range(y, r.n));
        // teacher forcing over y: each row's masked argmax must be y[p]
        auto v = r.view();
        auto cache = t.forward(&v, 1, L, y.data(), ws2);
        for (int p = 0; p < L; ++p) {
            int best = 0;
            for (int i = 1; i < r.n; ++i)
                if (cache.Z[p * r.n + i] > cache.Z[p * r.n + best]) best = i;
            CHECK(best == y[p]);
        }
        // and the incremental logits equal the teacher-forced ones
        ws.reset();
        auto st = t.begin(r.view(), L, 1, ws);
        std::vector<double> z(r.n);
        for (int p = 0; p < L; ++p) {
            int prev = p ? y[p - 1] : 0;
            t.step(st, &prev, 1, z.data(), ws);
            for (int i = 0; i < r.n; ++i) {
                const double ref = cache.Z[p * r.n + i];
                if (std::isfinite(ref)) CHECK(std::fabs(z[i] - ref) < 1e-10);
            }
        }
        ws2.reset();
    }
}

TEST_CASE("teacher beam search scores at least as high as greedy", "[inference][teacher]") {
    auto c = small_config();
    ar_teacher<double> t(c);
    t.init(8);
    auto reqs = random_requests<double>(c, 10, 9, 4);
    workspace ws;
    for (auto& r : reqs) {
        const int L = 5;
        std::vector<int> yg(L), yb(L);
        const double sg = decode::teacher_beam(t, r.view(), L, 1, yg.data(), ws);
        const double sb = decode::teacher_beam(t, r.view(), L, 4, yb.data(), ws);
        CHECK(sb >= sg - 1e-12);
        CHECK(distinct_in_range(slate(yb), r.n));
        // the returned score is the slate's log-probability under teacher forcing
        auto v = r.view();
        ws.reset();
        auto cache = t.forward(&v, 1, L, yb.data(), ws);
        double lp = 0;
        std::vector<double> ls(r.n);
        for (int p = 0; p < L; ++p) {
            nn::log_softmax_row(cache.Z + std::size_t(p) * r.n, r.n, ls.data());
            lp += ls[yb[p]];
        }
        CHECK(std::fabs(lp - sb) < 1e-9);
    }
}

TEST_CASE("batched student inference equals single requests, including padding", "[inference][batch]") {
    auto c = small_config();
    nar_student<double> s(c);
    s.init(21);
    rng g(9);
    std::vector<request<double>> reqs;
    for (int n : {7, 12, 9, 12}) reqs.push_back(test_util::random_request<double>(c, n, g));
    std::vector<request_view<double>> views;
    for (auto& r : reqs) views.push_back(r.view());
    const int L = 4;
    workspace ws;
    std::vector<int> out(views.size() * L);
    decode::greedy_batch(s, views.data(), int(views.size()), L, out.data(), ws);
    std::vector<double> Zb(views.size() * L * 12);
    const int nmax = s.logits_batch(views.data(), int(views.size()), L, Zb.data(), ws);
    REQUIRE(nmax == 12);
    for (std::size_t b = 0; b < views.size(); ++b) {
        slate y = decode::greedy(s, views[b], L, ws);
        CHECK(std::equal(y.begin(), y.end(), out.begin() + b * L));
        std::vector<double> Z(std::size_t(L) * views[b].n);
        s.logits(views[b], L, Z.data(), ws);
        for (int t = 0; t < L; ++t)
            for (int i = 0; i < views[b].n; ++i) CHECK(std::fabs(Z[t * views[b].n + i] - Zb[(b * L + t) * 12 + i]) < 1e-10);
    }
}

TEST_CASE("threads sharing one model get exactly the single-thread outputs", "[inference][threads]") {
    auto c = small_config();
    nar_student<float> s(c);
    s.init(1);
    ar_teacher<float> t(c);
    t.init(2);
    auto reqs = random_requests<float>(c, 40, 15, 5);
    const int L = 6;
    std::vector<slate> ref_s, ref_t, ref_b;
    workspace ws;
    for (auto& r : reqs) {
        ref_s.push_back(decode::greedy(s, r.view(), L, ws));
        ref_t.push_back(decode::teacher_greedy(t, r.view(), L, ws));
        ref_b.push_back(decode::teacher_beam(t, r.view(), L, 3, ws));
    }
    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (int th = 0; th < 4; ++th)
        pool.emplace_back([&, th] {
            workspace mine;
            for (int rep = 0; rep < 5; ++rep)
                for (std::size_t i = (th + rep) % reqs.size(), k = 0; k < reqs.size(); ++k, i = (i + 1) % reqs.size()) {
                    if (decode::greedy(s, reqs[i].view(), L, mine) != ref_s[i]) ++mismatches;
                    if (decode::teacher_greedy(t, reqs[i].view(), L, mine) != ref_t[i]) ++mismatches;
                    if (decode::teacher_beam(t, reqs[i].view(), L, 3, mine) != ref_b[i]) ++mismatches;
                }
        });
    for (auto& p : pool) p.join();
    CHECK(mismatches.load() == 0);
}

TEST_CASE("bad input gets a typed input_error with a clear message", "[inference][bad_input]") {
    auto c = small_config();
    nar_student<float> s(c);
    ar_teacher<float> t(c);
    s.init(1);
    t.init(1);
    rng g(1);
    auto r = test_util::random_request<float>(c, 8, g);
    workspace ws;
    auto expect = [&](request_view<float> v, int L, const std::string& needle) {
        bool threw = false;
        try {
            decode::greedy(s, v, L, ws);
        } catch (const input_error& e) {
            threw = true;
            INFO(e.what());
            CHECK(std::string(e.what()).find(needle) != std::string::npos);
        }
        CHECK(threw);
        threw = false;
        try {
            decode::teacher_greedy(t, v, L, ws);
        } catch (const input_error&) {
            threw = true;
        }
        CHECK(threw);
    };
    auto v = r.view();
    SECTION("N = 0") {
        v.n = 0;
        expect(v, 1, "N = 0");
    }
    SECTION("wrong feature width") {
        v.f = c.features + 1;
        expect(v, 3, "feature width");
    }
    SECTION("L > N") { expect(v, 9, "exceeds the number of candidates"); }
    SECTION("L > max_slate") {
        auto big = test_util::random_request<float>(c, 20, g);
        expect(big.view(), 7, "max_slate");
    }
    SECTION("L = 0") { expect(v, 0, "L must be >= 1"); }
    SECTION("N beyond max_candidates") {
        auto big = test_util::random_request<float>(c, 65, g);
        expect(big.view(), 3, "max_candidates");
    }
    SECTION("NaN feature") {
        r.features[5] = std::numeric_limits<float>::quiet_NaN();
        expect(r.view(), 3, "non-finite feature");
    }
    SECTION("Inf context") {
        r.context[1] = std::numeric_limits<float>::infinity();
        expect(r.view(), 3, "non-finite context");
    }
    SECTION("missing context") {
        v.context = nullptr;
        v.fc = 0;
        expect(v, 3, "context features");
    }
    SECTION("invalid target slates for teacher forcing") {
        std::vector<int> dup = {1, 2, 1};
        CHECK_THROWS_AS(t.forward(&v, 1, 3, dup.data(), ws), input_error);
        std::vector<int> out_of_range = {1, 2, 8};
        CHECK_THROWS_AS(t.forward(&v, 1, 3, out_of_range.data(), ws), input_error);
    }
    SECTION("invalid configs") {
        model_config bad = c;
        bad.heads = 3;  // does not divide d = 16
        CHECK_THROWS_AS(nar_student<float>(bad), input_error);
        bad = c;
        bad.max_candidates = 0;
        CHECK_THROWS_AS(ar_teacher<float>(bad), input_error);
    }
}

TEST_CASE("teacher scoring of K slates in one pass equals per-slate teacher forcing", "[inference][teacher]") {
    auto c = small_config();
    ar_teacher<double> t(c);
    t.init(31);
    rng g(7);
    auto r = test_util::random_request<double>(c, 11, g);
    const int K = 5, L = 4;
    std::vector<int> slates = {0, 1, 2, 3, 10, 9, 8, 7, 3, 5, 7, 9, 1, 0, 4, 2, 6, 2, 8, 4};
    std::vector<double> w = {1.0, 0.63, 0.5, 0.43}, scores(K);
    workspace ws, ws2;
    t.score_slates(r.view(), K, L, slates.data(), w.data(), scores.data(), ws);
    auto v = r.view();
    std::vector<double> ls(r.n);
    for (int k = 0; k < K; ++k) {
        ws2.reset();
        auto cache = t.forward(&v, 1, L, slates.data() + k * L, ws2);
        double ref = 0;
        for (int p = 0; p < L; ++p) {
            nn::log_softmax_row(cache.Z + std::size_t(p) * r.n, r.n, ls.data());
            ref += w[p] * ls[slates[k * L + p]];
        }
        CHECK(std::fabs(ref - scores[k]) < 1e-10);
    }
}

TEST_CASE("teacher scoring through the prefix trie equals teacher forcing slate by slate", "[inference][teacher]") {
    auto c = small_config();
    ar_teacher<double> t(c);
    t.init(37);
    rng g(9);
    auto r = test_util::random_request<double>(c, 9, g);
    auto v = r.view();
    const int L = 5;
    // shared first items, a shared 3-prefix, an exact duplicate, a slate sharing nothing
    const std::vector<int> slates = {0, 1, 2, 3, 4,  0, 1, 2, 4, 3,  0, 1, 5, 6, 7,  0, 2, 1, 3, 4,
                                     0, 1, 2, 3, 4,  8, 7, 6, 5, 4,  0, 1, 2, 4, 5,  8, 7, 0, 1, 2};
    const int K = int(slates.size()) / L;
    const std::vector<double> w = {1.0, 0.63, 0.5, 0.43, 0.39};
    std::vector<double> trie(K), flat(K), ls(r.n);
    workspace ws, ws2;
    // trie rows per level (prefix lengths 0..4): 1 + 2 + 3 + 5 + 6
    CHECK(t.score_slates(v, K, L, slates.data(), w.data(), trie.data(), ws) == 17);
    t.score_slates_flat(v, K, L, slates.data(), w.data(), flat.data(), ws);
    for (int k = 0; k < K; ++k) {
        ws2.reset();
        auto cache = t.forward(&v, 1, L, slates.data() + k * L, ws2);
        double ref = 0;
        for (int p = 0; p < L; ++p) {
            nn::log_softmax_row(cache.Z + std::size_t(p) * r.n, r.n, ls.data());
            ref += w[p] * ls[slates[k * L + p]];
        }
        CHECK(std::fabs(ref - trie[k]) < 1e-10);
        CHECK(std::fabs(ref - flat[k]) < 1e-10);
    }
    CHECK(trie[0] == trie[4]);  // the duplicate scores identically
    SECTION("one slate, and all slates equal") {
        std::vector<double> one(1), same(3);
        t.score_slates(v, 1, L, slates.data() + 5 * L, nullptr, one.data(), ws);
        t.score_slates_flat(v, 1, L, slates.data() + 5 * L, nullptr, flat.data(), ws);
        CHECK(std::fabs(one[0] - flat[0]) < 1e-10);
        std::vector<int> rep3;
        for (int i = 0; i < 3; ++i) rep3.insert(rep3.end(), slates.begin() + 5 * L, slates.begin() + 6 * L);
        CHECK(t.score_slates(v, 3, L, rep3.data(), nullptr, same.data(), ws) == L);
        for (double x : same) CHECK(std::fabs(x - one[0]) < 1e-12);
    }
    SECTION("L = 1 and L = N") {
        std::vector<int> firsts = {3, 0, 3, 8};
        std::vector<double> a(4), b(4);
        t.score_slates(v, 4, 1, firsts.data(), nullptr, a.data(), ws);
        t.score_slates_flat(v, 4, 1, firsts.data(), nullptr, b.data(), ws);
        for (int k = 0; k < 4; ++k) CHECK(std::fabs(a[k] - b[k]) < 1e-10);
        auto r6 = test_util::random_request<double>(c, 6, g);  // L = N = max_slate = 6
        std::vector<int> full = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 5, 4};
        std::vector<double> fa(2), fb(2);
        t.score_slates(r6.view(), 2, 6, full.data(), nullptr, fa.data(), ws);
        t.score_slates_flat(r6.view(), 2, 6, full.data(), nullptr, fb.data(), ws);
        for (int k = 0; k < 2; ++k) CHECK(std::fabs(fa[k] - fb[k]) < 1e-10);
        CHECK(std::fabs(fa[0] - fa[1]) > 0);  // only the last two slots differ (the last is forced: log p = 0)
    }
}

TEST_CASE("Best-of-N picks the scorer's best slate among greedy + samples", "[inference][best_of_n]") {
    auto c = small_config();
    nar_student<double> s(c);
    s.init(5);
    ar_teacher<double> t(c);
    t.init(6);
    rng g(11);
    auto r = test_util::random_request<double>(c, 12, g);
    const int L = 5;
    decode::best_of_n_workspace<double> bw;
    decode::best_of_n_config cfg;
    cfg.n = 8;
    std::vector<int> out(L);
    // a scorer that remembers what it saw and prefers the slate with the largest first item
    std::vector<int> seen;
    auto largest_first_fn = [&](const request_view<double>&, int K, int LL, const int* slates, double* scores, workspace&) {
        seen.assign(slates, slates + std::size_t(K) * LL);
        for (int k = 0; k < K; ++k) scores[k] = slates[std::size_t(k) * LL];
    };
    // a scorer is used only with a trust record past the gate (decode::best_of_n_config::gate)
    const decode::validated_scorer<decltype(largest_first_fn)> largest_first{largest_first_fn, {"rank_correlation", 0.9, 10}};
    const int win = decode::best_of_n(s, largest_first, r.view(), L, cfg, counter_key::from_seed(1), 0, out.data(), bw);
    REQUIRE(seen.size() == std::size_t(cfg.n) * L);
    workspace ws;
    slate greedy = decode::greedy(s, r.view(), L, ws);
    CHECK(std::equal(greedy.begin(), greedy.end(), seen.begin()));  // candidate 0 is the greedy slate
    int best = 0;
    for (int k = 1; k < cfg.n; ++k)
        if (seen[k * L] > seen[best * L]) best = k;
    CHECK(win == best);
    CHECK(std::equal(out.begin(), out.end(), seen.begin() + best * L));
    // the teacher scorer: the winner has the highest weighted teacher log-likelihood
    decode::teacher_scorer<double> ts{&t};
    ts.validation = scorer_validation{"rank_correlation", 0.9, 10};
    decode::best_of_n(s, ts, r.view(), L, cfg, counter_key::from_seed(1), 0, out.data(), bw);
    std::vector<double> w(L), scores(cfg.n);
    decode::rank_decay_weights(L, w.data());
    t.score_slates(r.view(), cfg.n, L, seen.data(), w.data(), scores.data(), ws);
    const int tb = int(std::max_element(scores.begin(), scores.end()) - scores.begin());
    CHECK(std::equal(out.begin(), out.end(), seen.begin() + tb * L));
    // disabled (gate failed): greedy
    cfg.enabled = false;
    CHECK(decode::best_of_n(s, ts, r.view(), L, cfg, counter_key::from_seed(1), 0, out.data(), bw) == 0);
    CHECK(std::equal(greedy.begin(), greedy.end(), out.begin()));
}
