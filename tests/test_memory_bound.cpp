// Memory that a server can plan for (issue #17, docs/performance.md "Memory"): the streamed
// attention equals the stored one, inference workspaces stay under the documented bound
// (max_workspace_bytes) at N = 1024 and N = 16384, the bound is checked against the workspace
// budget before any allocation, and a retain limit gives an outlier request's memory back.
// Everything here counts bytes, never time.
#include <algorithm>
#include <cmath>
#include <vector>

#include "test_util.hpp"

using namespace dualrerank;
using test_util::random_requests;
using test_util::small_config;

namespace {

template <class T>
std::vector<T> normal_values(std::size_t n, rng& g) {
    std::vector<T> v(n);
    for (auto& x : v) x = T(g.normal());
    return v;
}

/// Stored (attention_forward) against streamed (attention_forward_streamed) attention on one
/// shape; returns the largest absolute difference of the outputs.
template <class T>
double streamed_vs_stored(int groups, int nq, int nk, int d, int heads, bool causal, bool with_len, bool shared_keys,
                          std::uint64_t seed) {
    rng g(seed);
    const std::vector<T> q = normal_values<T>(std::size_t(groups) * nq * d, g);
    const std::vector<T> kv = normal_values<T>(std::size_t(shared_keys ? 1 : groups) * nk * 2 * d, g);
    std::vector<int> len(static_cast<std::size_t>(groups));
    for (int i = 0; i < groups; ++i) len[std::size_t(i)] = i == 0 ? nk : std::min(nk, int(g.uniform() * (nk + 1)));
    nn::attn_view<T> a;
    a.q = q.data();
    a.ldq = d;
    a.q_gs = std::ptrdiff_t(nq) * d;
    a.k = kv.data();
    a.v = kv.data() + d;
    a.ldk = a.ldv = 2 * d;
    a.k_gs = a.v_gs = shared_keys ? 0 : std::ptrdiff_t(nk) * 2 * d;
    a.groups = groups;
    a.nq = nq;
    a.nk = nk;
    a.d = d;
    a.heads = heads;
    a.causal = causal;
    a.key_len = with_len ? len.data() : nullptr;
    std::vector<T> o1(std::size_t(groups) * nq * d), o2(o1.size(), T(123));
    std::vector<T> probs(std::size_t(groups) * heads * nq * nk);
    std::vector<T> scratch(nn::attention_stream_scratch());
    nn::attention_forward(a, o1.data(), d, std::ptrdiff_t(nq) * d, probs.data());
    nn::attention_forward_streamed(a, o2.data(), d, std::ptrdiff_t(nq) * d, scratch.data());
    double worst = 0;
    for (std::size_t i = 0; i < o1.size(); ++i) {
        if (!std::isfinite(double(o2[i]))) return INFINITY;
        worst = std::max(worst, std::fabs(double(o1[i]) - double(o2[i])));
    }
    return worst;
}

}  // namespace

TEMPLATE_TEST_CASE("streamed attention equals stored attention across tiles, masks and padding", "[memory][attention]",
                   float, double) {
    using T = TestType;
    const double tol = std::is_same<T, float>::value ? 2e-5 : 1e-12;
    struct shape {
        int groups, nq, nk, d, heads;
    };
    // one tile, ragged tiles (nq, nk not multiples of the tile sizes), many key tiles, one query row
    const shape shapes[] = {{1, 7, 7, 16, 4},   {2, 13, 33, 12, 3},  {1, 70, 300, 16, 2},
                            {3, 1, 700, 8, 1},  {1, 130, 1030, 8, 2}, {2, 65, 257, 32, 4}};
    std::uint64_t seed = 1;
    for (const shape& s : shapes)
        for (bool causal : {false, true})
            for (bool with_len : {false, true})
                for (bool shared : {false, true}) {
                    if (causal && s.nk < s.nq) continue;  // causal masks align to the end: nk >= nq
                    INFO("groups " << s.groups << " nq " << s.nq << " nk " << s.nk << " d " << s.d << " heads " << s.heads
                                   << " causal " << causal << " key_len " << with_len << " shared " << shared);
                    CHECK(streamed_vs_stored<T>(s.groups, s.nq, s.nk, s.d, s.heads, causal, with_len, shared, seed++) < tol);
                }
}

TEST_CASE("streamed attention: a padded group with no keys gives zeros, large logits stay finite", "[memory][attention]") {
    // key_len 0 for one group, and scores of +-1e3 whose exp would overflow without the running max
    const int groups = 2, nq = 5, nk = 600, d = 4, heads = 1;
    std::vector<float> q(std::size_t(groups) * nq * d, 30.f), kv(std::size_t(groups) * nk * 2 * d);
    rng g(3);
    for (auto& x : kv) x = float(g.normal()) * 20.f;
    const int len[2] = {0, nk};
    nn::attn_view<float> a;
    a.q = q.data();
    a.ldq = d;
    a.q_gs = std::ptrdiff_t(nq) * d;
    a.k = kv.data();
    a.v = kv.data() + d;
    a.ldk = a.ldv = 2 * d;
    a.k_gs = a.v_gs = std::ptrdiff_t(nk) * 2 * d;
    a.groups = groups;
    a.nq = nq;
    a.nk = nk;
    a.d = d;
    a.heads = heads;
    a.key_len = len;
    std::vector<float> o1(std::size_t(groups) * nq * d), o2(o1.size(), 7.f), probs(std::size_t(groups) * nq * nk);
    std::vector<float> scratch(nn::attention_stream_scratch());
    nn::attention_forward(a, o1.data(), d, std::ptrdiff_t(nq) * d, probs.data());
    nn::attention_forward_streamed(a, o2.data(), d, std::ptrdiff_t(nq) * d, scratch.data());
    for (int i = 0; i < nq * d; ++i) CHECK(o2[std::size_t(i)] == 0.f);
    for (std::size_t i = 0; i < o1.size(); ++i) {
        REQUIRE(std::isfinite(o2[i]));
        CHECK(std::fabs(o1[i] - o2[i]) <= 1e-4f * std::max(1.f, std::fabs(o1[i])));
    }
}

TEST_CASE("inference forwards (streamed) equal the training forwards (stored) of student and teacher",
          "[memory][inference]") {
    auto c = small_config();
    c.max_candidates = 700;
    nar_student<float> s(c);
    s.init(5);
    ar_teacher<float> t(c);
    t.init(6);
    workspace ws;
    for (int n : {9, 300, 700}) {
        auto reqs = random_requests<float>(c, 3, n, std::uint64_t(n));
        const int L = c.max_slate;
        std::vector<request_view<float>> views;
        for (auto& r : reqs) views.push_back(r.view());
        // a padded batch: requests of different N
        reqs[1].n = std::max(L, n / 2);
        reqs[1].features.resize(std::size_t(reqs[1].n) * c.features);
        reqs[1].upstream_rank.resize(std::size_t(reqs[1].n));
        views[1] = reqs[1].view();
        ws.reset();
        auto ct = s.forward(views.data(), 3, L, ws);
        std::vector<float> Zt(ct.Z, ct.Z + std::size_t(3) * L * ct.n);
        ws.reset();
        auto ci = s.infer(views.data(), 3, L, ws);
        REQUIRE(ci.n == ct.n);
        for (std::size_t i = 0; i < Zt.size(); ++i) {
            if (std::isinf(Zt[i])) {
                CHECK(ci.Z[i] == Zt[i]);
                continue;
            }
            CHECK(std::fabs(ci.Z[i] - Zt[i]) <= 1e-4f * std::max(1.f, std::fabs(Zt[i])));
        }
        // the teacher: forward_slates (streamed) against teacher forcing (stored) of the same slates
        std::vector<int> slates(std::size_t(2) * L);
        for (int k = 0; k < 2; ++k)
            for (int p = 0; p < L; ++p) slates[std::size_t(k) * L + p] = (k * 7 + p) % n;
        const request_view<float> v0 = views[0];
        const request_view<float> two[2] = {v0, v0};
        ws.reset();
        auto tt = t.forward(two, 2, L, slates.data(), ws);
        std::vector<float> Zf(tt.Z, tt.Z + std::size_t(2) * L * n);
        ws.reset();
        auto ts = t.forward_slates(v0, 2, L, slates.data(), ws);
        for (std::size_t i = 0; i < Zf.size(); ++i) {
            if (std::isinf(Zf[i])) {
                CHECK(ts.Z[i] == Zf[i]);
                continue;
            }
            CHECK(std::fabs(ts.Z[i] - Zf[i]) <= 1e-4f * std::max(1.f, std::fabs(Zf[i])));
        }
    }
}

namespace {

/// The tiny architecture the N = 16384 tests run (the bound is a formula in the shapes, so a
/// small d keeps the O(N^2 d) attention time to seconds).
model_config tiny_config() {
    model_config c;
    c.features = 4;
    c.context = 2;
    c.d = 8;
    c.heads = 2;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 16;
    c.max_slate = 10;
    c.max_candidates = limits::max_candidates;
    return c;
}

// The large request of the bound tests: the N cap (16384). Under AddressSanitizer or
// ThreadSanitizer (-O1, every load and store checked) the O(N^2) attention at the cap took about
// 3 minutes per test (CI, 2026-12-06: 165, 170 and 181 s for the three tests below), so those builds
// use 4096: the same streamed code (16 key tiles of 256 instead of 64), the same checks of the bound,
// and the Release suite keeps the cap.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int large_n = 4096;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int large_n = 4096;
#else
constexpr int large_n = limits::max_candidates;
#endif
#else
constexpr int large_n = limits::max_candidates;
#endif

}  // namespace

TEST_CASE("inference workspaces stay under max_workspace_bytes at N = 1024 and at the N cap", "[memory][bound]") {
    const model_config c = tiny_config();
    nar_student<float> s(c);
    s.init(1);
    ar_teacher<float> t(c);
    t.init(2);
    const int L = c.max_slate;
    for (int n : {1024, large_n}) {
        auto reqs = random_requests<float>(c, 1, n, std::uint64_t(n));
        workload w;
        w.n = n;
        w.L = L;
        const std::size_t bs = max_workspace_bytes(c, model_kind::student, w);
        const std::size_t bt = max_workspace_bytes(c, model_kind::teacher, w);
        workspace ws_s, ws_t;
        const slate ys = decode::greedy(s, reqs[0].view(), L, ws_s);
        const slate yt = decode::teacher_greedy(t, reqs[0].view(), L, ws_t);
        INFO("N = " << n << ": student peak " << ws_s.peak_bytes() << " of bound " << bs << ", teacher peak "
                    << ws_t.peak_bytes() << " of bound " << bt);
        CHECK(ys.size() == std::size_t(L));
        CHECK(yt.size() == std::size_t(L));
        CHECK(ws_s.peak_bytes() <= bs);
        CHECK(ws_t.peak_bytes() <= bt);
        // the bound is a useful one: within 2x of what the call really used
        CHECK(bs <= 2 * ws_s.peak_bytes());
        CHECK(bt <= 2 * ws_t.peak_bytes());
        // and linear in N: nothing holds N^2 values (N^2 floats alone would be 1 GiB at 16384)
        CHECK(bs <= std::size_t(n) * 1024);
        CHECK(bt <= std::size_t(n) * 1024);
    }
}

TEST_CASE("the reference architecture's bound at the N cap fits the default budget", "[memory][bound]") {
    model_config c;  // bench_common::reference_config: the architecture of the benchmarks
    c.features = 32;
    c.context = 8;
    c.d = 64;
    c.heads = 4;
    c.enc_layers = 2;
    c.dec_layers = 2;
    c.ffn = 256;
    c.max_slate = 10;
    c.max_candidates = limits::max_candidates;
    workload w;
    w.n = limits::max_candidates;
    w.L = 10;
    // docs/performance.md states these: 16,384 candidates in under 256 MiB per workspace
    CHECK(max_workspace_bytes(c, model_kind::student, w) <= (std::size_t(256) << 20));
    CHECK(max_workspace_bytes(c, model_kind::teacher, w) <= (std::size_t(256) << 20));
    CHECK(limits_memory::default_workspace_budget == (std::size_t(1) << 30));
}

TEST_CASE("Best-of-N at the N cap stays under the bound on both of its workspaces", "[memory][bound][best_of_n]") {
    const model_config c = tiny_config();
    nar_student<float> s(c);
    s.init(3);
    ar_teacher<float> t(c);
    t.init(4);
    const int L = c.max_slate, n = large_n, K = 64;
    auto reqs = random_requests<float>(c, 1, n, 9);
    decode::teacher_scorer<float> sc{&t};
    sc.validation.value = 1.0;  // trusted, so the scorer runs
    sc.validation.check = "test";
    sc.validation.requests = 1;
    decode::best_of_n_config cfg;
    cfg.n = K;
    cfg.gate = 0.0;
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(static_cast<std::size_t>(L));
    decode::best_of_n(s, sc, reqs[0].view(), L, cfg, counter_key::from_seed(1), 0, out.data(), bw);
    REQUIRE(bw.gate_open);
    workload ws_student;
    ws_student.n = n;
    ws_student.L = L;
    ws_student.samples = K - 1;
    workload ws_scorer = ws_student;
    ws_scorer.samples = K;
    INFO("student peak " << bw.student.peak_bytes() << ", scorer peak " << bw.scorer.peak_bytes());
    CHECK(bw.student.peak_bytes() <= max_workspace_bytes(c, model_kind::student, ws_student));
    CHECK(bw.scorer.peak_bytes() <= max_workspace_bytes(c, model_kind::teacher, ws_scorer));
    // the scorer holds one block of logits, not K * L * N of them
    CHECK(bw.scorer.peak_bytes() < std::size_t(K) * L * n * sizeof(float));
}

TEST_CASE("the bound is checked against the budget before any allocation", "[memory][bound][bad_input]") {
    const model_config c = tiny_config();
    nar_student<float> s(c);
    s.init(5);
    ar_teacher<float> t(c);
    t.init(6);
    const int L = c.max_slate, n = 2048;
    auto reqs = random_requests<float>(c, 1, n, 10);
    workload w;
    w.n = n;
    w.L = L;
    {
        workspace ws;
        ws.set_budget(max_workspace_bytes(c, model_kind::student, w) - 1);
        try {
            decode::greedy(s, reqs[0].view(), L, ws);
            FAIL("no input_error");
        } catch (const input_error& e) {
            const std::string m = e.what();
            CHECK(m.find("max_workspace_bytes") != std::string::npos);
            CHECK(m.find("workspace::set_budget") != std::string::npos);
        }
        CHECK(ws.capacity_bytes() == 0);  // nothing was allocated
        ws.set_budget(max_workspace_bytes(c, model_kind::student, w));
        CHECK(decode::greedy(s, reqs[0].view(), L, ws).size() == std::size_t(L));  // the bound itself is enough
    }
    {
        workspace ws;
        workload wb = w;
        wb.beams = 4;
        ws.set_budget(max_workspace_bytes(c, model_kind::teacher, wb) - 1);
        CHECK_THROWS_AS(decode::teacher_beam(t, reqs[0].view(), L, 4, ws), input_error);
        CHECK(ws.capacity_bytes() == 0);
        ws.set_budget(max_workspace_bytes(c, model_kind::teacher, wb));
        CHECK(decode::teacher_beam(t, reqs[0].view(), L, 4, ws).size() == std::size_t(L));
    }
    {
        // a wide model at the N cap needs more than the default budget: refused before allocating
        model_config big = tiny_config();
        big.d = 256;
        big.heads = 4;
        big.ffn = 1024;
        big.enc_layers = 8;
        workload wc;
        wc.n = limits::max_candidates;
        wc.L = L;
        REQUIRE(max_workspace_bytes(big, model_kind::student, wc) > limits_memory::default_workspace_budget);
        nar_student<float> sb(big);
        sb.init(7);
        auto rb = random_requests<float>(big, 1, limits::max_candidates, 11);
        workspace ws;
        try {
            decode::greedy(sb, rb[0].view(), L, ws);
            FAIL("no input_error");
        } catch (const input_error& e) {
            CHECK(std::string(e.what()).find("limits_memory::default_workspace_budget") != std::string::npos);
        }
        CHECK(ws.capacity_bytes() == 0);
    }
    // the Best-of-N scorer's K is capped
    workspace ws;
    std::vector<int> slates(std::size_t(limits::max_samples + 1) * L);
    for (std::size_t k = 0; k < slates.size() / L; ++k)
        for (int p = 0; p < L; ++p) slates[k * L + p] = p;
    std::vector<float> scores(slates.size() / L);
    CHECK_THROWS_AS(t.score_slates(reqs[0].view(), limits::max_samples + 1, L, slates.data(), nullptr, scores.data(), ws),
                    input_error);
}

TEST_CASE("after an outlier request a retain limit returns the workspace to it", "[memory][bound]") {
    const model_config c = tiny_config();
    nar_student<float> s(c);
    s.init(8);
    const int L = c.max_slate;
    auto small = random_requests<float>(c, 1, 1024, 12);
    auto big = random_requests<float>(c, 1, large_n, 13);
    workload w;
    w.n = 1024;
    w.L = L;
    const std::size_t limit = max_workspace_bytes(c, model_kind::student, w);
    workspace ws;
    ws.set_retain_limit(limit);
    decode::greedy(s, small[0].view(), L, ws);
    CHECK(ws.capacity_bytes() <= limit);
    decode::greedy(s, big[0].view(), L, ws);  // the outlier
    const std::size_t outlier = ws.capacity_bytes();
    CHECK(outlier > limit);
    decode::greedy(s, small[0].view(), L, ws);  // its reset() gives the outlier's memory back
    CHECK(ws.capacity_bytes() <= limit);
    // and shrink_to does it at once
    decode::greedy(s, big[0].view(), L, ws);
    ws.shrink_to(limit);
    CHECK(ws.capacity_bytes() <= limit);
}

TEST_CASE("list evaluator and pointwise scorer: streamed inference equals the stored forward", "[memory][inference]") {
    auto c = small_config();
    c.max_candidates = 700;
    list_evaluator<float> e(c);
    e.init(9);
    pointwise_scorer<float> p(c);
    p.init(10);
    workspace ws;
    for (int n : {9, 700}) {  // 4 heads x 700^2 > nn::attn_stored_max_values: streamed
        auto reqs = random_requests<float>(c, 1, n, std::uint64_t(n) + 1);
        const request_view<float> v = reqs[0].view();
        const int L = c.max_slate, K = 3;
        std::vector<int> slates(std::size_t(K) * L);
        for (int k = 0; k < K; ++k)
            for (int t = 0; t < L; ++t) slates[std::size_t(k) * L + t] = (k * 5 + t) % n;
        ws.reset();
        auto a = e.forward(v, K, L, slates.data(), ws, false);
        std::vector<float> Ea(a.E, a.E + std::size_t(K) * L * c.outputs);
        ws.reset();
        auto b = e.forward(v, K, L, slates.data(), ws, true);
        for (std::size_t i = 0; i < Ea.size(); ++i) CHECK(std::fabs(b.E[i] - Ea[i]) <= 1e-4f * std::max(1.f, std::fabs(Ea[i])));
        ws.reset();
        auto pa = p.forward(&v, 1, ws, false);
        std::vector<float> fa(pa.f, pa.f + n);
        ws.reset();
        auto pb = p.forward(&v, 1, ws, true);
        for (int i = 0; i < n; ++i) CHECK(std::fabs(pb.f[i] - fa[std::size_t(i)]) <= 1e-4f * std::max(1.f, std::fabs(fa[std::size_t(i)])));
    }
}
