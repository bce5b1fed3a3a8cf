// Threads: one teacher and one student (created from a seed, then round-tripped through save/load)
// shared read-only by 8 threads that serve greedy, confidence-ordered, beam, sampled (teacher and
// student, each request with its own counter key) and Best-of-N requests concurrently, each thread
// with its own workspaces and its own RNG stream choosing the order. Every result must equal the
// single-thread result bit for bit. The TSan job (tools/test.sh --tsan --filter '^threads') runs the
// tests tagged [threads].
#include "test_util.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace dualrerank;

namespace {

constexpr int num_threads = 8;

struct served {
    slate greedy, confident, teacher_greedy, beam, best_of_n, batch;
    std::vector<int> teacher_samples, student_samples, shared_ws_samples;
    std::vector<float> teacher_lp, student_lp, shared_ws_lp;
    int best_index = -1;
    bool operator==(const served& o) const {
        // log-probs compared as bits: the same arithmetic must give the same floats on every thread
        auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
            return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
        };
        return greedy == o.greedy && confident == o.confident && teacher_greedy == o.teacher_greedy && beam == o.beam &&
               best_of_n == o.best_of_n && batch == o.batch && teacher_samples == o.teacher_samples &&
               student_samples == o.student_samples && shared_ws_samples == o.shared_ws_samples && same(teacher_lp, o.teacher_lp) &&
               same(student_lp, o.student_lp) && same(shared_ws_lp, o.shared_ws_lp) && best_index == o.best_index;
    }
};

/// Per-thread state: workspaces only (the models are shared and const).
struct server {
    workspace ws, ws2;
    decode::best_of_n_workspace<float> bw;
    std::vector<float> Z;
};

constexpr int L = 5;
constexpr int teacher_K = 4, student_K = 9;

/// Serve every kind of request for request i (its noise comes from keys derived from i alone).
served serve(const ar_teacher<float>& t, const nar_student<float>& s, const std::vector<request<float>>& reqs, std::size_t i,
             server& sv) {
    served out;
    const request_view<float> r = reqs[i].view();
    out.greedy = decode::greedy(s, r, L, sv.ws);
    out.confident = decode::confident(s, r, L, sv.ws);
    out.teacher_greedy = decode::teacher_greedy(t, r, L, sv.ws);
    out.beam = decode::teacher_beam(t, r, L, 3, sv.ws);
    out.teacher_samples.resize(std::size_t(teacher_K) * L);
    out.teacher_lp.resize(teacher_K);
    decode::teacher_sample(t, r, L, teacher_K, 0.8, counter_key::from_seed(1000 + i), 7u, out.teacher_samples.data(),
                           out.teacher_lp.data(), sv.ws);
    out.student_samples.resize(std::size_t(student_K) * L);
    out.student_lp.resize(student_K);
    decode::student_sample(s, r, L, student_K, 1.0, counter_key::from_seed(2000 + i), 0u, out.student_samples.data(),
                           out.student_lp.data(), sv.ws);
    out.best_of_n.resize(L);
    out.best_index = decode::best_of_n(s, decode::teacher_scorer<float>{&t}, r, L, decode::best_of_n_config{8},
                                       counter_key::from_seed(3000 + i), std::uint32_t(i) * 8u * L * 64u, out.best_of_n.data(), sv.bw);
    // the sampler's overload with a thread_local workspace
    sv.Z.resize(std::size_t(L) * r.n);
    s.logits(r, L, sv.Z.data(), sv.ws2);
    out.shared_ws_samples.resize(std::size_t(student_K) * L);
    out.shared_ws_lp.resize(student_K);
    decode::sample_slates(sv.Z.data(), L, r.n, r.n, 1.3, counter_key::from_seed(4000 + i), 0u, student_K, out.shared_ws_samples.data(),
                          out.shared_ws_lp.data());
    // a batch of three consecutive requests (different N: padded)
    const request_view<float> three[3] = {r, reqs[(i + 1) % reqs.size()].view(), reqs[(i + 2) % reqs.size()].view()};
    out.batch.resize(3 * L);
    decode::greedy_batch(s, three, 3, L, out.batch.data(), sv.ws);
    return out;
}

struct shared_models {
    model_config c;
    ar_teacher<float> teacher;
    nar_student<float> student;
    std::vector<request<float>> reqs;
    std::filesystem::path dir;

    static model_config config() {
        model_config c = test_util::small_config(11, 3);
        c.d = 24;
        c.heads = 4;
        c.ffn = 48;
        c.max_slate = 6;
        c.max_candidates = 40;
        return c;
    }
    shared_models() : c(config()), teacher(c), student(c) {
        teacher.init(101);
        student.init(202);
        rng g(303);
        for (int i = 0; i < 24; ++i) reqs.push_back(test_util::random_request<float>(c, 6 + int(g.below(30)), g));
        dir = std::filesystem::temp_directory_path() /
              ("dualrerank_threads_" + std::to_string(static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count())));
        std::filesystem::create_directories(dir);
    }
    ~shared_models() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string file(const char* name) const { return (dir / name).string(); }
};

}  // namespace

TEST_CASE("threads: 8 threads share one loaded teacher and student and get the single-thread results", "[threads]") {
    shared_models sm;
    io::save_model(sm.teacher, sm.file("teacher.safetensors"));
    io::save_model(sm.student, sm.file("student.safetensors"));
    const auto teacher = io::load_model<ar_teacher<float>>(sm.file("teacher.safetensors"));
    const auto student = io::load_model<nar_student<float>>(sm.file("student.safetensors"));

    // single-thread reference; the loaded models serve exactly what the originals do
    std::vector<served> ref;
    server one;
    for (std::size_t i = 0; i < sm.reqs.size(); ++i) {
        ref.push_back(serve(teacher, student, sm.reqs, i, one));
        CHECK(serve(sm.teacher, sm.student, sm.reqs, i, one) == ref.back());
    }
    // the requests really differ in what they exercise: samples are not all the greedy slate
    int distinct = 0;
    for (const auto& r : ref) distinct += slate(r.student_samples.begin(), r.student_samples.begin() + L) != r.greedy;
    CHECK(distinct > 0);

    std::atomic<int> mismatches{0}, served_count{0};
    std::vector<std::thread> pool;
    for (int th = 0; th < num_threads; ++th)
        pool.emplace_back([&, th] {
            server sv;                              // this thread's workspaces
            rng order(std::uint64_t(th) * 7919 + 1);  // this thread's RNG stream: its own request order
            for (int round = 0; round < 3; ++round) {
                std::vector<std::size_t> idx(sm.reqs.size());
                for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
                for (std::size_t k = idx.size(); k > 1; --k) std::swap(idx[k - 1], idx[order.below(k)]);
                for (std::size_t i : idx) {
                    if (!(serve(teacher, student, sm.reqs, i, sv) == ref[i])) ++mismatches;
                    ++served_count;
                }
            }
        });
    for (auto& p : pool) p.join();
    CHECK(mismatches.load() == 0);
    CHECK(served_count.load() == num_threads * 3 * int(sm.reqs.size()));
}

TEST_CASE("threads: 8 threads loading the same model files at once get identical models", "[threads]") {
    shared_models sm;
    io::save_model(sm.teacher, sm.file("teacher.safetensors"));
    io::save_model(sm.student, sm.file("student.safetensors"));
    server one;
    const served want = serve(sm.teacher, sm.student, sm.reqs, 3, one);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (int th = 0; th < num_threads; ++th)
        pool.emplace_back([&] {
            const auto t = io::load_model<ar_teacher<float>>(sm.file("teacher.safetensors"));
            const auto s = io::load_model<nar_student<float>>(sm.file("student.safetensors"));
            server sv;
            if (!(serve(t, s, sm.reqs, 3, sv) == want)) ++mismatches;
        });
    for (auto& p : pool) p.join();
    CHECK(mismatches.load() == 0);
}
