// After one warm-up call of the largest shape, inference allocates nothing: this test counts
// every heap allocation of the calling thread (malloc and friends, which also catches operator
// new and Eigen's internal buffers) around repeated inference calls.
//
// The counter interposes glibc's malloc family, which the sanitizers also intercept, so the
// test is compiled only without them (the ASan/TSan jobs run everything else).
#include "test_util.hpp"

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
#endif  // DUALRERANK_COUNT_MALLOC: under the sanitizers this file has no tests
