// dualrerank::nn::gemm_{nn,nt,tn} vs Eigen (row-major Maps, .noalias() =) at every shape the models
// multiply, for the two model sizes the project ships (docs/performance.md "GEMM: ours vs Eigen",
// the documented reason for keeping an own GEMM):
//   student d 32, 4 heads (head dim 8), FFN 128; teacher d 64, 4 heads (head dim 16), FFN 256;
//   one request of N = 20 or 50 candidates, L = 6 or 10 slots, teacher steps of 1 or 4 beams,
//   Best-of-16 scoring (16 L rows), training batches of 32 requests (32 N and 32 L rows).
//
//   taskset -c 1 ./bench_gemm --benchmark_filter=f32 --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   ./bench_gemm --benchmark_filter='nt/f32'        (one variant and type)
//
// Names: <variant>/<type>/<impl>/<model>.<what>/<m>x<n>x<k>; the GFLOPS counter is 2 m n k per iteration.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <dualrerank/core/simd.hpp>
#include <dualrerank/nn/gemm.hpp>

namespace {

enum class variant { nn, nt, tn };

struct shape {
    variant v;
    std::string what;
    int m, n, k;
    int lda = 0, ldb = 0, ldc = 0;  // 0: tight
};

template <class T>
using rmat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using map = Eigen::Map<rmat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using cmap = Eigen::Map<const rmat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T, bool Ours>
void run(benchmark::State& state, shape s) {
    const bool at = s.v == variant::tn, bt = s.v == variant::nt;
    const int a_rows = at ? s.k : s.m, a_cols = at ? s.m : s.k;
    const int b_rows = bt ? s.n : s.k, b_cols = bt ? s.k : s.n;
    const int lda = s.lda ? s.lda : a_cols, ldb = s.ldb ? s.ldb : b_cols, ldc = s.ldc ? s.ldc : s.n;
    std::mt19937 g(7);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<T> A(std::size_t(a_rows) * lda), B(std::size_t(b_rows) * ldb), C(std::size_t(s.m) * ldc);
    for (auto& x : A) x = T(u(g));
    for (auto& x : B) x = T(u(g));
    cmap<T> Am(A.data(), a_rows, a_cols, Eigen::OuterStride<>(lda));
    cmap<T> Bm(B.data(), b_rows, b_cols, Eigen::OuterStride<>(ldb));
    map<T> Cm(C.data(), s.m, s.n, Eigen::OuterStride<>(ldc));
    for (auto _ : state) {
        if (Ours) {
            using namespace dualrerank::nn;
            switch (s.v) {
                case variant::nn: gemm_nn<T>(s.m, s.n, s.k, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), ldc); break;
                case variant::nt: gemm_nt<T>(s.m, s.n, s.k, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), ldc); break;
                case variant::tn: gemm_tn<T>(s.m, s.n, s.k, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), ldc); break;
            }
        } else {
            switch (s.v) {
                case variant::nn: Cm.noalias() = Am * Bm; break;
                case variant::nt: Cm.noalias() = Am * Bm.transpose(); break;
                case variant::tn: Cm.noalias() = Am.transpose() * Bm; break;
            }
        }
        benchmark::DoNotOptimize(C.data());
        benchmark::ClobberMemory();
    }
    state.counters["GFLOPS"] = benchmark::Counter(2e-9 * s.m * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate);
}

struct model_shape {
    const char* name;
    int d, heads, ffn;
};

std::vector<shape> shapes() {
    std::vector<shape> out;
    std::set<std::tuple<int, int, int, int, int, int, int>> seen;  // one benchmark per distinct product
    auto add = [&](variant v, const std::string& what, int m, int n, int k, int lda = 0, int ldb = 0, int ldc = 0) {
        if (seen.insert({int(v), m, n, k, lda, ldb, ldc}).second) out.push_back({v, what, m, n, k, lda, ldb, ldc});
    };
    const int B = 32;  // requests per training batch
    for (const model_shape& ms : {model_shape{"student", 32, 4, 128}, model_shape{"teacher", 64, 4, 256}}) {
        const std::string p = std::string(ms.name) + ".";
        const int d = ms.d, hd = d / ms.heads, f = ms.ffn;
        // Linear forward y = x W^T (gemm_nt) for every row count a layer sees: N candidates of one
        // request (encoder), L slots (student decoder), 1 and 4 beams (teacher step), 16 L
        // Best-of-16 rows (teacher scoring), and a training batch of B requests.
        for (const int m : {1, 4, 6, 10, 20, 50, 160, B * 10, B * 50}) {
            add(variant::nt, p + "qkv", m, 3 * d, d);
            add(variant::nt, p + "out", m, d, d);
            add(variant::nt, p + "fc1", m, f, d);
            add(variant::nt, p + "fc2", m, d, f);
        }
        for (const int n : {20, 50}) {
            // Self-attention per head on the strided qkv buffer: S = Q K^T and O = P V.
            add(variant::nt, p + "QK^T", n, n, hd, 3 * d, 3 * d, n);
            add(variant::nn, p + "PV", n, hd, n, n, 3 * d, d);
            for (const int L : {6, 10}) {
                // Slot cross-attention to the candidates and the pointer logits Z = G H^T.
                add(variant::nt, p + "cross-QK^T", L, n, hd, d, 2 * d, n);
                add(variant::nn, p + "cross-PV", L, hd, n, n, 2 * d, d);
                add(variant::nt, p + "pointer", L, n, d);
            }
        }
        // Backward over a training batch: dx = dY W (gemm_nn) and dW += dY^T X (gemm_tn).
        for (const int m : {B * 10, B * 50}) {
            add(variant::nn, p + "dx-qkv", m, d, 3 * d);
            add(variant::nn, p + "dx-out", m, d, d);
            add(variant::nn, p + "dx-fc1", m, d, f);
            add(variant::nn, p + "dx-fc2", m, f, d);
            add(variant::tn, p + "dW-qkv", 3 * d, d, m);
            add(variant::tn, p + "dW-out", d, d, m);
            add(variant::tn, p + "dW-fc1", f, d, m);
            add(variant::tn, p + "dW-fc2", d, f, m);
        }
        // Attention backward per head (one request of 50): dK = dS^T Q.
        add(variant::tn, p + "dK", 50, hd, 50, 50, 3 * d, 3 * d);
    }
    return out;
}

const char* vname(variant v) { return v == variant::nn ? "nn" : v == variant::nt ? "nt" : "tn"; }

template <class T>
void register_all(const char* tname) {
    for (const shape& s : shapes()) {
        char dims[64];
        std::snprintf(dims, sizeof dims, "%dx%dx%d", s.m, s.n, s.k);
        const std::string base = std::string(vname(s.v)) + "/" + tname + "/";
        const std::string tail = "/" + s.what + "/" + dims;
        benchmark::RegisterBenchmark((base + "ours" + tail).c_str(), run<T, true>, s);
        benchmark::RegisterBenchmark((base + "eigen" + tail).c_str(), run<T, false>, s);
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::AddCustomContext("simd", dualrerank::simd::arch_name());
    register_all<float>("f32");
    register_all<double>("f64");
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
