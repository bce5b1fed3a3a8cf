// The C++ side of bench/compare.sh: the reference models loaded from the same safetensors files
// the PyTorch and ONNX Runtime sides use, on the same inputs.
//
//   bench_compare --data=DIR [--dump=OUT.json] [Google Benchmark flags]
//
// DIR is the output of python/compare_prepare.py (models/*.safetensors, inputs.safetensors).
// Without --data the models get their own random initialization (init(1), init(2), init(3)) and
// generated inputs, so the binary also runs on its own (no cross-check then).
//
// Before the benchmarks run it measures, and writes to --dump (JSON):
//   - every case's logits and slates on all requests (for the cross-check in compare_table.py):
//     NAR greedy: Z [L x N] (nar_student::logits) and decode::greedy's slate; AR greedy: the raw
//     step logits along the greedy path (ar_teacher::begin / step, the KV-cache decoder) and
//     decode::teacher_greedy's slate (which must equal the path's); the batch: logits_batch and
//     greedy_batch;
//   - memory: anonymous resident memory (RssAnon of /proc/self/status) before and after loading
//     each model (kept alive; after one untimed load and release of the same file), and after
//     malloc_trim(0) (glibc: freed loader temporaries returned to the system), against the
//     parameter bytes (parameter_count * sizeof(float));
//   - workspace: capacity_bytes() and peak_bytes() of one thread's workspace after a call of each
//     case at each N.
// Benchmarks (one request per iteration, rotating over the 16 requests of each N):
//   nar_greedy/N, ar_greedy/N (2-layer decoder), ar1_greedy/N (1-layer decoder), nar_batch32/50
//   (one iteration = 32 requests), each also with the medians of single calls (median_wall_us,
//   median_cpu_us), train_teacher/50 and train_student/50 (one training step at batch 32, as in
//   bench_training.cpp, also with per-step medians), and serve_nar/50, serve_ar/50 with ->Threads(1)->Threads(2)
//   (two threads share one model, one workspace each; real time, items_per_second = requests/s),
//   and sgemm_eigen/512 (Eigen's float GEMM, for the machine's practical FLOP rate).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <dualrerank/sim/sim.hpp>

#include "bench_common.hpp"

using namespace dualrerank;

namespace {

constexpr int L = 10;
const int sizes[] = {20, 50, 100, 200};

struct request_set {
    int n = 0;
    std::vector<request<float>> reqs;
    std::vector<request_view<float>> views;
};

struct state_t {
    std::unique_ptr<nar_student<float>> student;
    std::unique_ptr<ar_teacher<float>> teacher, teacher1;
    std::map<int, request_set> sets;  // N -> 16 requests
    request_set batch;                // 32 requests at N = 50
    std::string data;
};
state_t g;

long rss_anon_kb() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("RssAnon:", 0) == 0) return std::atol(line.c_str() + 8);
    return -1;
}

void trim() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

struct memory_row {
    std::string model;
    std::size_t param_bytes = 0;
    long before_kb = 0, after_kb = 0, trimmed_kb = 0;
};
std::vector<memory_row> memory;

template <class Model>
std::unique_ptr<Model> load(const std::string& name, const model_config& fallback, std::uint64_t seed) {
    if (!g.data.empty()) {  // once untimed, so one-time process costs (allocator setup, caches) stay out
        Model warm = io::load_model<Model>(g.data + "/models/" + name + ".safetensors");
        benchmark::DoNotOptimize(warm.params());
    }
    trim();
    memory_row row;
    row.model = name;
    row.before_kb = rss_anon_kb();
    std::unique_ptr<Model> m;
    if (!g.data.empty()) {
        m = std::make_unique<Model>(io::load_model<Model>(g.data + "/models/" + name + ".safetensors"));
    } else {
        m = std::make_unique<Model>(fallback);
        m->init(seed);
    }
    row.after_kb = rss_anon_kb();
    trim();
    row.trimmed_kb = rss_anon_kb();
    row.param_bytes = m->parameter_count() * sizeof(float);
    memory.push_back(row);
    return m;
}

request_set make_set(const io::safetensors_file* f, const std::string& x, const std::string& c, int count, int n,
                     std::uint64_t seed, const model_config& cfg) {
    request_set s;
    s.n = n;
    if (f) {
        const std::size_t F = std::size_t(cfg.features), Fc = std::size_t(cfg.context);
        std::vector<float> X = f->read<float>(x, {std::size_t(count), std::size_t(n), F});
        std::vector<float> C = f->read<float>(c, {std::size_t(count), Fc});
        for (int r = 0; r < count; ++r) {
            request<float> q;
            q.n = n;
            q.f = int(F);
            q.features.assign(X.begin() + std::ptrdiff_t(r * n * F), X.begin() + std::ptrdiff_t((r + 1) * n * F));
            q.context.assign(C.begin() + std::ptrdiff_t(r * Fc), C.begin() + std::ptrdiff_t((r + 1) * Fc));
            s.reqs.push_back(std::move(q));
        }
    } else {
        s.reqs = bench_common::make_requests(cfg, count, n, seed);
    }
    for (auto& q : s.reqs) s.views.push_back(q.view());
    return s;
}

// ------------------------------------------------------------------------------ dump

void put_floats(std::ostream& o, const float* p, std::size_t n) {
    o << '[';
    char buf[32];
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isfinite(p[i])) std::snprintf(buf, sizeof buf, "%.9g", double(p[i]));
        else std::snprintf(buf, sizeof buf, "null");
        o << (i ? "," : "") << buf;
    }
    o << ']';
}

void put_ints(std::ostream& o, const int* p, std::size_t n) {
    o << '[';
    for (std::size_t i = 0; i < n; ++i) o << (i ? "," : "") << p[i];
    o << ']';
}

/// The AR greedy path through begin/step: raw step logits [L x n] and the slate; checks that
/// decode::teacher_greedy picks the same slate.
void ar_path(const ar_teacher<float>& m, const request_view<float>& v, std::vector<float>& Z, std::vector<int>& y,
             workspace& ws) {
    const int n = v.n;
    Z.assign(std::size_t(L) * n, 0.f);
    y.assign(L, 0);
    ws.reset();
    teacher_state<float> st = m.begin(v, L, 1, ws);
    std::vector<std::uint8_t> used(std::size_t(n), 0);
    int prev = 0;
    for (int t = 0; t < L; ++t) {
        float* z = Z.data() + std::size_t(t) * n;
        m.step(st, &prev, 1, z, ws);
        int best = -1;
        for (int i = 0; i < n; ++i)
            if (!used[i] && (best < 0 || z[i] > z[best])) best = i;
        used[best] = 1;
        y[t] = prev = best;
    }
    std::vector<int> dec(L);
    decode::teacher_greedy(m, v, L, dec.data(), ws);
    if (dec != y) {
        std::fprintf(stderr, "bench_compare: decode::teacher_greedy disagrees with the begin/step path\n");
        std::exit(1);
    }
}

void dump(const std::string& path) {
    std::ostringstream o;
    workspace ws;
    std::string data_json = "null";
    if (!g.data.empty()) {
        data_json = "\"";
        for (char ch : g.data) {
            if (ch == '"' || ch == '\\') data_json += '\\';
            if (static_cast<unsigned char>(ch) >= 0x20) data_json += ch;
        }
        data_json += '"';
    }
    o << "{\"data\":" << data_json << ",\"outputs\":{";
    bool first = true;
    auto key = [&](const std::string& k) {
        o << (first ? "" : ",") << '"' << k << "\":";
        first = false;
    };
    std::map<std::string, std::pair<std::size_t, std::size_t>> wsz;  // case -> (capacity, peak)
    for (int N : sizes) {
        const request_set& s = g.sets.at(N);
        std::vector<float> Z(std::size_t(L) * N);
        std::vector<int> y(L);
        key("nar_greedy/" + std::to_string(N));
        o << "{\"slates\":[";
        for (std::size_t r = 0; r < s.views.size(); ++r) {
            decode::greedy(*g.student, s.views[r], L, y.data(), ws);
            o << (r ? "," : "");
            put_ints(o, y.data(), L);
        }
        o << "],\"logits\":[";
        for (std::size_t r = 0; r < s.views.size(); ++r) {
            g.student->logits(s.views[r], L, Z.data(), ws);
            o << (r ? "," : "");
            put_floats(o, Z.data(), Z.size());
        }
        o << "]}";
        {
            workspace w;
            decode::greedy(*g.student, s.views[0], L, y.data(), w);
            wsz["nar_greedy/" + std::to_string(N)] = {w.capacity_bytes(), w.peak_bytes()};
        }
        for (auto [tag, m] : {std::pair<const char*, const ar_teacher<float>*>{"ar", g.teacher.get()},
                              std::pair<const char*, const ar_teacher<float>*>{"ar1", g.teacher1.get()}}) {
            std::vector<std::vector<float>> Zs(s.views.size());
            std::vector<std::vector<int>> ys(s.views.size());
            for (std::size_t r = 0; r < s.views.size(); ++r) ar_path(*m, s.views[r], Zs[r], ys[r], ws);
            key(std::string(tag) + "_greedy/" + std::to_string(N));
            o << "{\"slates\":[";
            for (std::size_t r = 0; r < ys.size(); ++r) {
                o << (r ? "," : "");
                put_ints(o, ys[r].data(), L);
            }
            o << "],\"logits\":[";
            for (std::size_t r = 0; r < Zs.size(); ++r) {
                o << (r ? "," : "");
                put_floats(o, Zs[r].data(), Zs[r].size());
            }
            o << "]}";
            workspace w;
            decode::teacher_greedy(*m, s.views[0], L, y.data(), w);
            wsz[std::string(tag) + "_greedy/" + std::to_string(N)] = {w.capacity_bytes(), w.peak_bytes()};
        }
    }
    {
        const int B = int(g.batch.views.size()), N = g.batch.n;
        std::vector<float> Z(std::size_t(B) * L * N);
        std::vector<int> y(std::size_t(B) * L);
        g.student->logits_batch(g.batch.views.data(), B, L, Z.data(), ws);
        decode::greedy_batch(*g.student, g.batch.views.data(), B, L, y.data(), ws);
        key("nar_batch" + std::to_string(B) + "/" + std::to_string(N));
        o << "{\"slates\":[";
        put_ints(o, y.data(), y.size());
        o << "],\"logits\":[";
        put_floats(o, Z.data(), Z.size());
        o << "]}";
        workspace w;
        decode::greedy_batch(*g.student, g.batch.views.data(), B, L, y.data(), w);
        wsz["nar_batch" + std::to_string(B) + "/" + std::to_string(N)] = {w.capacity_bytes(), w.peak_bytes()};
    }
    o << "},\"workspace\":{";
    first = true;
    for (auto& [k, v] : wsz) {
        key(k);
        o << "{\"capacity_bytes\":" << v.first << ",\"peak_bytes\":" << v.second << "}";
    }
    o << "},\"memory\":[";
    for (std::size_t i = 0; i < memory.size(); ++i) {
        const auto& m = memory[i];
        o << (i ? "," : "") << "{\"model\":\"" << m.model << "\",\"param_bytes\":" << m.param_bytes
          << ",\"rss_anon_before_kb\":" << m.before_kb << ",\"rss_anon_after_kb\":" << m.after_kb
          << ",\"rss_anon_after_trim_kb\":" << m.trimmed_kb << "}";
    }
    o << "]}\n";
    std::ofstream f(path);
    f << o.str();
    if (!f) {
        std::fprintf(stderr, "bench_compare: cannot write %s\n", path.c_str());
        std::exit(1);
    }
}

// ------------------------------------------------------------------------------ benchmarks

// Per-iteration timing, so that the C++ figures are the same statistic as the PyTorch and ONNX
// Runtime ones (medians of single runs): wall clock (steady_clock) and this thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID) around each call, reported as the counters median_wall_us and
// median_cpu_us (per call; averaged over threads in the multi-threaded cases). The clock reads
// cost well under 1 us per call.
double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct iteration_timer {
    std::vector<double> wall, cpu;
    std::chrono::steady_clock::time_point w0;
    double c0 = 0;
    explicit iteration_timer(const benchmark::State& state) {
        wall.reserve(std::size_t(state.max_iterations));
        cpu.reserve(std::size_t(state.max_iterations));
    }
    void start() {
        w0 = std::chrono::steady_clock::now();
        c0 = thread_cpu_s();
    }
    void stop() {
        cpu.push_back(thread_cpu_s() - c0);
        wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
    }
    static double median(std::vector<double>& v) {
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        const std::size_t m = v.size() / 2;
        return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
    }
    void report(benchmark::State& state) {
        state.counters["median_wall_us"] = benchmark::Counter(1e6 * median(wall), benchmark::Counter::kAvgThreads);
        state.counters["median_cpu_us"] = benchmark::Counter(1e6 * median(cpu), benchmark::Counter::kAvgThreads);
    }
};

void bm_nar(benchmark::State& state, int N) {
    const request_set& s = g.sets.at(N);
    workspace ws;
    std::vector<int> out(L);
    decode::greedy(*g.student, s.views[0], L, out.data(), ws);  // warm-up: the workspace grows once
    iteration_timer timer(state);
    std::size_t i = 0;
    for (auto _ : state) {
        timer.start();
        decode::greedy(*g.student, s.views[i++ % s.views.size()], L, out.data(), ws);
        timer.stop();
        benchmark::DoNotOptimize(out.data());
    }
    timer.report(state);
    state.SetItemsProcessed(state.iterations());
}

void bm_ar(benchmark::State& state, const ar_teacher<float>* m, int N) {
    const request_set& s = g.sets.at(N);
    workspace ws;
    std::vector<int> out(L);
    decode::teacher_greedy(*m, s.views[0], L, out.data(), ws);  // warm-up
    iteration_timer timer(state);
    std::size_t i = 0;
    for (auto _ : state) {
        timer.start();
        decode::teacher_greedy(*m, s.views[i++ % s.views.size()], L, out.data(), ws);
        timer.stop();
        benchmark::DoNotOptimize(out.data());
    }
    timer.report(state);
    state.SetItemsProcessed(state.iterations());
}

void bm_batch(benchmark::State& state) {
    const int B = int(g.batch.views.size());
    workspace ws;
    std::vector<int> out(std::size_t(B) * L);
    decode::greedy_batch(*g.student, g.batch.views.data(), B, L, out.data(), ws);  // warm-up
    iteration_timer timer(state);
    for (auto _ : state) {
        timer.start();
        decode::greedy_batch(*g.student, g.batch.views.data(), B, L, out.data(), ws);
        timer.stop();
        benchmark::DoNotOptimize(out.data());
    }
    timer.report(state);
    state.SetItemsProcessed(state.iterations() * B);
}

// One training step (forward, backward, AdamW) at batch 32, N = 50, L = 10: the setup of
// bench/bench_training.cpp (its own random initialization and data: 256 generated requests,
// target slot t of request i = (7 i + t) mod N), timed per step like the inference cases, to
// compare with python/bench_train.py's median step.
template <class Model>
void bm_train(benchmark::State& state) {
    const int B = 32, N = 50, count = 256;
    const model_config c = bench_common::reference_config();
    Model m(c);
    m.init(1);
    train::slate_dataset<float> data;
    data.L = L;
    data.requests = bench_common::make_requests(c, count, N, 5);
    for (int i = 0; i < count; ++i) {
        slate y(static_cast<std::size_t>(L));
        for (int t = 0; t < L; ++t) y[t] = (i * 7 + t) % N;
        data.targets.push_back(y);
    }
    train::trainer_config tc;
    tc.batch_size = B;
    train::trainer<Model> tr(m, tc);
    train::fit_supervised(tr, data, 2);  // warm-up
    iteration_timer timer(state);
    for (auto _ : state) {
        timer.start();
        train::fit_supervised(tr, data, 1);
        timer.stop();
    }
    timer.report(state);
    state.SetItemsProcessed(state.iterations() * B);
}

// The machine's practical single-thread float GEMM rate (the "FLOP floor" of the table divides the
// case FLOPs by it): Eigen's sgemm on 512 x 512 x 512, independent of the library's own kernels.
void bm_sgemm(benchmark::State& state) {
    const int n = int(state.range(0));
    Eigen::MatrixXf A = Eigen::MatrixXf::Random(n, n), B = Eigen::MatrixXf::Random(n, n), C(n, n);
    for (auto _ : state) {
        C.noalias() = A * B;
        benchmark::DoNotOptimize(C.data());
        benchmark::ClobberMemory();
    }
    state.counters["GFLOPS"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::OneK::kIs1000);
    state.counters["GFLOPS"].value /= 1e9;
}

// Each thread of a multi-threaded benchmark runs this function with its own State, so the
// workspace is per thread; the model (g.student / g.teacher) is shared read-only.
void bm_serve_nar(benchmark::State& state) { bm_nar(state, 50); }
void bm_serve_ar(benchmark::State& state) { bm_ar(state, g.teacher.get(), 50); }

}  // namespace

int main(int argc, char** argv) {
    std::string dump_path;
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && std::strncmp(argv[i], "--data=", 7) == 0) g.data = argv[i] + 7;
        else if (i > 0 && std::strncmp(argv[i], "--dump=", 7) == 0) dump_path = argv[i] + 7;
        else rest.push_back(argv[i]);
    }
    int rargc = int(rest.size());
    benchmark::Initialize(&rargc, rest.data());
    if (benchmark::ReportUnrecognizedArguments(rargc, rest.data())) return 1;
    try {
        const model_config c = bench_common::reference_config();
        model_config c1 = c;
        c1.dec_layers = 1;
        g.student = load<nar_student<float>>("nar_student", c, 1);
        g.teacher = load<ar_teacher<float>>("ar_teacher", c, 2);
        g.teacher1 = load<ar_teacher<float>>("ar_teacher_1dec", c1, 3);
        std::unique_ptr<io::safetensors_file> f;
        if (!g.data.empty()) f = std::make_unique<io::safetensors_file>(io::safetensors_file::from_file(g.data + "/inputs.safetensors"));
        for (int N : sizes)
            g.sets[N] = make_set(f.get(), "x." + std::to_string(N), "ctx." + std::to_string(N), 16, N, 2, c);
        g.batch = make_set(f.get(), "batch.x", "batch.ctx", 32, 50, 3, c);
        if (!dump_path.empty()) dump(dump_path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_compare: %s\n", e.what());
        return 1;
    }
    for (int N : sizes) {
        benchmark::RegisterBenchmark(("nar_greedy/" + std::to_string(N)).c_str(), bm_nar, N)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("ar_greedy/" + std::to_string(N)).c_str(), bm_ar, g.teacher.get(), N)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("ar1_greedy/" + std::to_string(N)).c_str(), bm_ar, g.teacher1.get(), N)
            ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark("train_teacher/50", bm_train<ar_teacher<float>>)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("train_student/50", bm_train<nar_student<float>>)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("sgemm_eigen", bm_sgemm)->Arg(512)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("nar_batch32/50", bm_batch)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("serve_nar/50", bm_serve_nar)->Threads(1)->Threads(2)->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("serve_ar/50", bm_serve_ar)->Threads(1)->Threads(2)->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
