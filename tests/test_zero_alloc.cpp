// After one warm-up call of the largest shape, inference allocates nothing: this test counts
// every heap allocation of the calling thread (malloc and friends, which also catches operator
// new and Eigen's internal buffers) around repeated inference calls.
//
// The counter interposes glibc's malloc family, which the sanitizers also intercept, so the
// test is compiled only without them (the ASan/TSan jobs run everything else).
#include "test_util.hpp"

#include <dualrerank/eigen.hpp>

// clang's __has_feature in its own #if: GCC before 14 has no __has_feature and rejects the call
// even behind `defined(__has_feature) &&` (Eigen used to define a fallback for it).
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DUALRERANK_UNDER_SANITIZER 1
#endif
#endif
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(DUALRERANK_UNDER_SANITIZER)
#define DUALRERANK_COUNT_MALLOC 1
#endif

#ifdef DUALRERANK_COUNT_MALLOC
#include <cstddef>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
thread_local bool g_counting = false;
thread_local long g_allocations = 0;
inline void note() noexcept {
    if (g_counting) ++g_allocations;
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
    note();
    return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) {
    note();
    return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) {
    note();
    return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
    note();
    return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
    note();
    return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
    note();
    void* p = __libc_memalign(a, n);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}

using namespace dualrerank;

namespace {
struct counting_scope {
    counting_scope() {
        g_allocations = 0;
        g_counting = true;
    }
    ~counting_scope() { g_counting = false; }
    long count() const { return g_allocations; }
};
}  // namespace

TEST_CASE("the allocation counter sees allocations", "[alloc]") {
    long n = 0;
    {
        counting_scope scope;
        std::vector<int>* v = new std::vector<int>(100);
        delete v;
        n = scope.count();
    }
    CHECK(n >= 2);
}

TEST_CASE("inference allocates nothing after warm-up", "[alloc]") {
    auto c = test_util::small_config();
    c.max_candidates = 256;
    nar_student<float> s(c);
    ar_teacher<float> t(c);
    list_evaluator<float> e(c);
    s.init(1);
    t.init(2);
    e.init(3);
    rng g(4);
    std::vector<request<float>> reqs;
    for (int n : {200, 50, 7, 120, 200}) reqs.push_back(test_util::random_request<float>(c, n, g));
    std::vector<request_view<float>> views;
    for (auto& r : reqs) views.push_back(r.view());
    const int L = 6, K = 8;
    std::vector<int> out(views.size() * L), slates(K * L);
    for (int k = 0; k < K; ++k)
        for (int i = 0; i < L; ++i) slates[k * L + i] = (k + i * 3) % 7;
    std::vector<float> Z(views.size() * L * 200), util(K);
    workspace ws;
    auto run_all = [&] {
        for (auto& v : views) {
            decode::greedy(s, v, L, out.data(), ws);
            decode::confident(s, v, L, out.data(), ws);
            decode::teacher_greedy(t, v, L, out.data(), ws);
            decode::teacher_beam(t, v, L, 4, out.data(), ws);
            e.score(v, K, L, slates.data(), nullptr, util.data(), ws);
        }
        decode::greedy_batch(s, views.data(), int(views.size()), L, out.data(), ws);
        s.logits_batch(views.data(), int(views.size()), L, Z.data(), ws);
    };
    run_all();  // warm-up: the workspace grows to its peak here
    run_all();  // a second pass lets the arena merge its blocks into one
    long n = 0;
    {
        counting_scope scope;
        run_all();
        run_all();
        n = scope.count();
    }
    CHECK(n == 0);
}
TEST_CASE("a training step allocates nothing after the first", "[alloc][training]") {
    auto c = test_util::small_config();
    rng g(5);
    train::slate_dataset<float> data;
    data.L = 4;
    for (int q = 0; q < 40; ++q) {
        data.requests.push_back(test_util::random_request<float>(c, 6 + int(g.below(10)), g));
        data.targets.push_back({0, 3, 1, 5});
    }
    nar_student<float> s(c);
    ar_teacher<float> t(c);
    s.init(1);
    t.init(2);
    train::trainer_config tc;
    tc.batch_size = 8;
    train::trainer<nar_student<float>> ts(s, tc);
    train::trainer<ar_teacher<float>> tt(t, tc);
    std::vector<request_view<float>> views(8);
    std::vector<int> targets(8 * 4);
    std::vector<int> idx;
    auto batch = [&](rng& gen) {
        train::draw_batch(gen, data.size(), 8, idx);
        for (int b = 0; b < 8; ++b) {
            views[b] = data.requests[idx[b]].view();
            std::copy(data.targets[idx[b]].begin(), data.targets[idx[b]].end(), targets.begin() + b * 4);
        }
    };
    auto step_s = [&](float* gr, workspace& ws) {
        return train::student_ce_step(s, views.data(), 8, 4, targets.data(), static_cast<const float*>(nullptr), gr, ws);
    };
    auto step_t = [&](float* gr, workspace& ws) {
        return train::teacher_ce_step(t, views.data(), 8, 4, targets.data(), static_cast<const float*>(nullptr), gr, ws);
    };
    // warm-up with the largest batch shapes
    rng gen(3);
    for (int i = 0; i < 20; ++i) {
        batch(gen);
        ts.step(step_s);
        tt.step(step_t);
    }
    long n = 0;
    {
        counting_scope scope;
        for (int i = 0; i < 10; ++i) {
            batch(gen);
            ts.step(step_s);
            tt.step(step_t);
        }
        n = scope.count();
    }
    CHECK(n == 0);
}
TEST_CASE("the reranker allocates nothing after warm-up, for every decoder", "[alloc][serve]") {
    auto c = test_util::small_config();
    c.max_candidates = 256;
    nar_student<float> s0(c);
    ar_teacher<float> t0(c);
    list_evaluator<float> e0(c);
    s0.init(1);
    t0.init(2);
    e0.init(3);
    const serving::any_model s = serving::make_any_model(std::move(s0));
    const serving::any_model t = serving::make_any_model(std::move(t0));
    const serving::any_model e = serving::make_any_model(std::move(e0));
    auto opt = [](serving::decoder_kind d) {
        serving::reranker_options o;
        o.decoder = d;
        o.best_of = 8;
        return o;
    };
    std::vector<serving::reranker> rankers;
    rankers.emplace_back(s, opt(serving::decoder_kind::greedy));
    rankers.emplace_back(s, opt(serving::decoder_kind::confident));
    rankers.emplace_back(s, opt(serving::decoder_kind::sample));
    rankers.emplace_back(s, opt(serving::decoder_kind::best_of_n), t);
    rankers.emplace_back(s, opt(serving::decoder_kind::best_of_n), e);
    rankers.emplace_back(t, opt(serving::decoder_kind::greedy));
    rankers.emplace_back(t, opt(serving::decoder_kind::beam));
    rankers.emplace_back(t, opt(serving::decoder_kind::sample));
    rng g(4);
    std::vector<request<float>> reqs;
    for (int n : {200, 50, 7, 120, 200}) reqs.push_back(test_util::random_request<float>(c, n, g));
    std::vector<serving::session> sessions;
    for (const auto& r : rankers) sessions.emplace_back(r);
    int slate[16];
    float score = 0;
    std::vector<float> Z(std::size_t(c.max_slate) * 200);
    // Eigen inputs: a column-major copy of each request goes through the caller's request_buffer
    std::vector<Eigen::MatrixXf> cols;
    for (const auto& q : reqs) cols.push_back(eigen::const_row_matrix_map(q.features.data(), q.n, q.f));
    const Eigen::VectorXf ctx = Eigen::Map<const Eigen::VectorXf>(reqs[0].context.data(), c.context);
    eigen::request_buffer buf;
    std::uint64_t id = 0;
    auto run_all = [&] {
        for (std::size_t k = 0; k < sessions.size(); ++k)
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                sessions[k].rerank(reqs[i].view(), id++, slate, 16, &score);
                sessions[k].rerank(buf.view(cols[i], ctx), id++, slate, 16);
            }
        for (const auto& q : reqs) sessions[0].logits(q.view(), Z.data(), Z.size());
    };
    run_all();  // warm-up: the workspaces grow to their peak here
    run_all();  // a second pass lets the arenas merge their blocks
    long n = 0;
    {
        counting_scope scope;
        run_all();
        run_all();
        n = scope.count();
    }
    CHECK(n == 0);
    CHECK(buf.copied());  // the column-major path really copied (into the warmed-up buffer)
}
#endif  // DUALRERANK_COUNT_MALLOC: under the sanitizers this file has no tests
