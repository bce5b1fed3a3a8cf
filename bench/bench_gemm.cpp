// dualrerank::nn::gemm_{nn,nt,tn} vs Eigen (row-major Maps, .noalias() =) on the model's shapes.
//
//   ./bench_gemm --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   ./bench_gemm --benchmark_filter='nt/f32'        (one variant and type)
//
// Names: <variant>/<type>/<impl>/<what>/<m>x<n>x<k>; the GFLOPS counter is 2 m n k per iteration.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <dualrerank/core/simd.hpp>
#include <dualrerank/nn/gemm.hpp>

namespace {

enum class variant { nn, nt, tn };

struct shape {
    variant v;
    const char* what;
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

std::vector<shape> shapes() {
    std::vector<shape> out;
    // Linear forward y = x W^T (gemm_nt), d = 64: qkv, out, fc1, fc2, for every row count we see.
    for (const int m : {1, 4, 10, 16, 50, 1600}) {
        out.push_back({variant::nt, "qkv", m, 192, 64});
        out.push_back({variant::nt, "out", m, 64, 64});
        out.push_back({variant::nt, "fc1", m, 256, 64});
        out.push_back({variant::nt, "fc2", m, 64, 256});
    }
    // Attention per head (head dim 16) on the strided qkv buffer: S = Q K^T and O = P V.
    out.push_back({variant::nt, "QK^T", 50, 50, 16, 192, 192, 50});
    out.push_back({variant::nn, "PV", 50, 16, 50, 50, 192, 64});
    // Pointer logits: slots x candidates. A scalar head (d -> 1) over a batch.
    out.push_back({variant::nt, "pointer", 10, 50, 64});
    out.push_back({variant::nt, "head", 1600, 1, 64});
    // Linear backward dx = dY W (gemm_nn).
    out.push_back({variant::nn, "dx-qkv", 50, 64, 192});
    out.push_back({variant::nn, "dx-fc2", 50, 256, 64});
    out.push_back({variant::nn, "dx-fc1", 1600, 64, 256});
    // Weight gradients dW += dY^T X (gemm_tn) over a batch of 1600 rows, and over one request.
    out.push_back({variant::tn, "dW-out", 64, 64, 1600});
    out.push_back({variant::tn, "dW-qkv", 192, 64, 1600});
    out.push_back({variant::tn, "dW-fc1", 256, 64, 1600});
    out.push_back({variant::tn, "dW-fc2", 64, 256, 1600});
    out.push_back({variant::tn, "dW-qkv", 192, 64, 50});
    out.push_back({variant::tn, "dK", 50, 16, 50, 50, 192, 192});
    return out;
}

const char* vname(variant v) { return v == variant::nn ? "nn" : v == variant::nt ? "nt" : "tn"; }

template <class T>
void register_all(const char* tname) {
    for (const shape& s : shapes()) {
        char dims[64];
        std::snprintf(dims, sizeof dims, "%dx%dx%d", s.m, s.n, s.k);
        const std::string base = std::string(vname(s.v)) + "/" + tname + "/";
        const std::string tail = std::string("/") + s.what + "/" + dims;
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
