// gemm_nn / gemm_nt / gemm_tn against a naive triple loop in double.
//
// Tolerance, per element of C: |C - ref| <= tol * scale, where
//   scale = |beta * C0| + |alpha| * sum_p |op(A)_ip * op(B)_pj|   (the magnitude that rounding acts on)
//   tol   = 4 * k * 2^-24 (float: a sum of k products rounded in float, any order), 1e-12 (double).
// Each case also checks that nothing outside the m x n block of C is written (the leading-dimension
// padding of C holds a sentinel), and the operands' padding holds NaN, so reading it would show.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include <dualrerank/nn/gemm.hpp>

namespace {

enum class variant { nn, nt, tn };

const char* name(variant v) { return v == variant::nn ? "nn" : v == variant::nt ? "nt" : "tn"; }

// Stored shapes: A is [m x k] (nn, nt) or [k x m] (tn); B is [k x n] (nn, tn) or [n x k] (nt).
struct problem {
    variant v;
    int m, n, k;
    int lda, ldb, ldc;
    int a_rows() const { return v == variant::tn ? k : m; }
    int a_cols() const { return v == variant::tn ? m : k; }
    int b_rows() const { return v == variant::nt ? n : k; }
    int b_cols() const { return v == variant::nt ? k : n; }
};

template <class T>
struct operands {
    std::vector<T> A, B, C0;
};

// Logical entries random in [-1, 1]; padding NaN (A, B) or a sentinel (C).
template <class T>
operands<T> make_operands(const problem& p, std::uint64_t seed) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    const T nan = std::numeric_limits<T>::quiet_NaN();
    operands<T> o;
    o.A.assign(std::size_t(std::max(1, p.a_rows())) * p.lda, nan);
    o.B.assign(std::size_t(std::max(1, p.b_rows())) * p.ldb, nan);
    o.C0.assign(std::size_t(std::max(1, p.m)) * p.ldc, T(777));
    for (int i = 0; i < p.a_rows(); ++i)
        for (int j = 0; j < p.a_cols(); ++j) o.A[std::size_t(i) * p.lda + j] = T(u(g));
    for (int i = 0; i < p.b_rows(); ++i)
        for (int j = 0; j < p.b_cols(); ++j) o.B[std::size_t(i) * p.ldb + j] = T(u(g));
    for (int i = 0; i < p.m; ++i)
        for (int j = 0; j < p.n; ++j) o.C0[std::size_t(i) * p.ldc + j] = T(u(g));
    return o;
}

template <class T>
void run(const problem& p, T alpha, const T* A, const T* B, T beta, T* C) {
    using namespace dualrerank::nn;
    switch (p.v) {
        case variant::nn: gemm_nn<T>(p.m, p.n, p.k, alpha, A, p.lda, B, p.ldb, beta, C, p.ldc); break;
        case variant::nt: gemm_nt<T>(p.m, p.n, p.k, alpha, A, p.lda, B, p.ldb, beta, C, p.ldc); break;
        case variant::tn: gemm_tn<T>(p.m, p.n, p.k, alpha, A, p.lda, B, p.ldb, beta, C, p.ldc); break;
    }
}

template <class T>
double op_a(const problem& p, const std::vector<T>& A, int i, int q) {
    return p.v == variant::tn ? double(A[std::size_t(q) * p.lda + i]) : double(A[std::size_t(i) * p.lda + q]);
}
template <class T>
double op_b(const problem& p, const std::vector<T>& B, int q, int j) {
    return p.v == variant::nt ? double(B[std::size_t(j) * p.ldb + q]) : double(B[std::size_t(q) * p.ldb + j]);
}

std::string describe(const problem& p, double alpha, double beta) {
    std::ostringstream s;
    s << "gemm_" << name(p.v) << " m=" << p.m << " n=" << p.n << " k=" << p.k << " lda=" << p.lda
      << " ldb=" << p.ldb << " ldc=" << p.ldc << " alpha=" << alpha << " beta=" << beta;
    return s.str();
}

/// The exact product and its magnitude, once per problem: s = op(A) op(B), mag = |op(A)| |op(B)|.
template <class T>
struct reference {
    std::vector<double> s, mag;
};

template <class T>
reference<T> make_reference(const problem& p, const operands<T>& o) {
    reference<T> r;
    r.s.assign(std::size_t(p.m) * p.n, 0.0);
    r.mag.assign(std::size_t(p.m) * p.n, 0.0);
    for (int i = 0; i < p.m; ++i)
        for (int j = 0; j < p.n; ++j) {
            double s = 0, mag = 0;
            for (int q = 0; q < p.k; ++q) {
                const double t = op_a(p, o.A, i, q) * op_b(p, o.B, q, j);
                s += t;
                mag += std::abs(t);
            }
            r.s[std::size_t(i) * p.n + j] = s;
            r.mag[std::size_t(i) * p.n + j] = mag;
        }
    return r;
}

/// Runs one case and returns the number of mismatching entries (0 = pass); reports the first.
/// With nan_c, C starts as NaN (only meaningful with beta == 0).
template <class T>
int check(const problem& p, const operands<T>& o, const reference<T>& r, T alpha, T beta, bool nan_c) {
    std::vector<T> C = o.C0;
    if (nan_c)
        for (int i = 0; i < p.m; ++i)
            for (int j = 0; j < p.n; ++j) C[std::size_t(i) * p.ldc + j] = std::numeric_limits<T>::quiet_NaN();
    run<T>(p, alpha, o.A.data(), o.B.data(), beta, C.data());
    const double tol = std::is_same<T, float>::value ? 4.0 * std::max(1, p.k) * std::ldexp(1.0, -24) : 1e-12;
    int bad = 0;
    for (int i = 0; i < p.m; ++i) {
        for (int j = 0; j < p.ldc; ++j) {
            const std::size_t at = std::size_t(i) * p.ldc + j;
            const double got = double(C[at]);
            double ref = double(o.C0[at]), scale = 0;  // padding beyond n: must be untouched
            if (j < p.n) {
                const double c0 = beta == T(0) ? 0.0 : double(o.C0[at]);
                ref = double(beta) * c0 + double(alpha) * r.s[std::size_t(i) * p.n + j];
                scale = std::abs(double(beta) * c0) + std::abs(double(alpha)) * r.mag[std::size_t(i) * p.n + j];
            }
            const double err = std::abs(got - ref);
            if (!(err <= tol * scale + std::numeric_limits<double>::min())) {
                if (bad == 0)
                    UNSCOPED_INFO(describe(p, alpha, beta) << (nan_c ? " (C NaN)" : "") << ": C(" << i << "," << j
                                                           << ") = " << got << ", expected " << ref
                                                           << ", tolerance " << tol * scale);
                ++bad;
            }
        }
    }
    return bad;
}

/// alpha in {1, 0.5} x beta in {0, 1}, beta = 0 over a NaN-filled C, and a general (-1.5, 0.25).
template <class T>
int check_all_scalars(const problem& p, std::uint64_t seed) {
    const operands<T> o = make_operands<T>(p, seed);
    const reference<T> r = make_reference(p, o);
    int bad = 0;
    for (const T alpha : {T(1), T(0.5)})
        for (const T beta : {T(0), T(1)}) bad += check<T>(p, o, r, alpha, beta, false);
    bad += check<T>(p, o, r, T(1), T(0), true);
    bad += check<T>(p, o, r, T(-1.5), T(0.25), false);
    return bad;
}

problem make_problem(variant v, int m, int n, int k, int pad) {
    problem p{v, m, n, k, 0, 0, 0};
    p.lda = std::max(1, p.a_cols() + pad);
    p.ldb = std::max(1, p.b_cols() + pad);
    p.ldc = std::max(1, n + pad);
    return p;
}

const variant all_variants[] = {variant::nn, variant::nt, variant::tn};

}  // namespace

TEMPLATE_TEST_CASE("gemm: all variants match a naive loop on odd sizes", "[gemm]", float, double) {
    const int sizes[] = {1, 3, 7, 13, 17, 33, 65};
    std::uint64_t seed = 1;
    int bad = 0, cases = 0;
    for (const variant v : all_variants)
        for (const int m : sizes)
            for (const int n : sizes)
                for (const int k : sizes) {
                    // Leading dimensions: tight, or padded (pad varies so both occur for every size).
                    const int pad = (m + n + k) % 3 == 0 ? 0 : 5;
                    bad += check_all_scalars<TestType>(make_problem(v, m, n, k, pad), seed);
                    seed += 8;
                    ++cases;
                }
    INFO(cases << " shapes x 6 (alpha, beta, NaN C) combinations");
    REQUIRE(bad == 0);
}

TEMPLATE_TEST_CASE("gemm: larger and model shapes", "[gemm]", float, double) {
    struct shape {
        int m, n, k;
    };
    const shape shapes[] = {
        {100, 257, 33},  {257, 100, 65},  {33, 65, 257},   {100, 100, 100}, {257, 17, 257},  {13, 257, 100},
        {50, 192, 64},   {50, 64, 64},    {50, 256, 64},   {50, 64, 256},   {10, 192, 64},   {10, 256, 64},
        {10, 64, 256},   {1, 192, 64},    {1, 64, 256},    {2, 256, 64},    {3, 64, 64},     {4, 192, 64},
        {5, 64, 64},     {16, 192, 64},   {50, 50, 16},    {50, 16, 50},    {10, 50, 64},    {64, 64, 1600},
        {256, 64, 1600}, {64, 256, 1600}, {192, 64, 1600}, {1600, 64, 64},  {300, 768, 40},  {7, 768, 768},
        {1, 1, 1000},    {2, 3, 1025},    {1600, 1, 64},   {50, 2, 64},     {37, 1, 9},
    };
    std::uint64_t seed = 100000;
    int bad = 0;
    for (const variant v : all_variants)
        for (const shape& s : shapes)
            for (const int pad : {0, 3}) {
                bad += check_all_scalars<TestType>(make_problem(v, s.m, s.n, s.k, pad), seed);
                seed += 8;
            }
    REQUIRE(bad == 0);
}

TEMPLATE_TEST_CASE("gemm: strided attention operands (lda = 3 d)", "[gemm]", float, double) {
    // Per-head views into a [n x 3d] qkv buffer (d = 64, head dim 16): Q K^T and P V.
    int bad = 0;
    std::uint64_t seed = 500000;
    for (const int n : {1, 7, 50}) {
        problem qk{variant::nt, n, n, 16, 192, 192, n};
        bad += check_all_scalars<TestType>(qk, seed += 8);
        problem pv{variant::nn, n, 16, n, n, 192, 64};
        bad += check_all_scalars<TestType>(pv, seed += 8);
        problem dk{variant::tn, n, 16, n, n, 192, 192};  // dK += dS^T Q into a strided gradient buffer
        bad += check_all_scalars<TestType>(dk, seed += 8);
    }
    REQUIRE(bad == 0);
}

TEMPLATE_TEST_CASE("gemm: empty dimensions", "[gemm]", float, double) {
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (const variant v : all_variants) {
        SECTION(std::string("k == 0 scales C: ") + name(v)) {
            problem p = make_problem(v, 5, 7, 0, 2);
            std::vector<T> A(64, nan), B(64, nan), C(std::size_t(p.m) * p.ldc, T(2));
            run<T>(p, T(1), A.data(), B.data(), T(0.5), C.data());
            for (int i = 0; i < p.m; ++i)
                for (int j = 0; j < p.ldc; ++j) REQUIRE(C[std::size_t(i) * p.ldc + j] == (j < p.n ? T(1) : T(2)));
            std::fill(C.begin(), C.end(), nan);
            run<T>(p, T(1), A.data(), B.data(), T(0), C.data());
            for (int i = 0; i < p.m; ++i)
                for (int j = 0; j < p.n; ++j) REQUIRE(C[std::size_t(i) * p.ldc + j] == T(0));
        }
        SECTION(std::string("m == 0 or n == 0 touches nothing: ") + name(v)) {
            std::vector<T> A(64, T(1)), B(64, T(1)), C(64, T(3));
            run<T>(make_problem(v, 0, 7, 5, 0), T(1), A.data(), B.data(), T(0), C.data());
            run<T>(make_problem(v, 7, 0, 5, 0), T(1), A.data(), B.data(), T(0), C.data());
            for (const T c : C) REQUIRE(c == T(3));
        }
        SECTION(std::string("alpha == 0 reads neither A nor B: ") + name(v)) {
            problem p = make_problem(v, 6, 9, 11, 0);
            std::vector<T> A(std::size_t(p.a_rows()) * p.lda, nan), B(std::size_t(p.b_rows()) * p.ldb, nan);
            std::vector<T> C(std::size_t(p.m) * p.ldc, T(4));
            run<T>(p, T(0), A.data(), B.data(), T(1), C.data());
            for (const T c : C) REQUIRE(c == T(4));
        }
    }
}

TEMPLATE_TEST_CASE("gemm: beta == 1 accumulates across calls", "[gemm]", float, double) {
    using T = TestType;
    for (const variant v : all_variants) {
        problem p = make_problem(v, 13, 65, 33, 1);
        const operands<T> o = make_operands<T>(p, 42);
        std::vector<T> once(o.C0.size(), T(0)), twice(o.C0.size(), T(0));
        run<T>(p, T(2), o.A.data(), o.B.data(), T(0), once.data());
        run<T>(p, T(1), o.A.data(), o.B.data(), T(0), twice.data());
        run<T>(p, T(1), o.A.data(), o.B.data(), T(1), twice.data());
        for (int i = 0; i < p.m; ++i)
            for (int j = 0; j < p.n; ++j) {
                const std::size_t at = std::size_t(i) * p.ldc + j;
                REQUIRE(twice[at] == once[at]);  // x + x == 2 x exactly, same summation order
            }
    }
}

TEST_CASE("gemm: concurrent calls from several threads agree with serial ones", "[gemm]") {
    // No static scratch: threads running different shapes at once must not disturb each other.
    std::vector<problem> ps;
    for (const variant v : all_variants) {
        ps.push_back(make_problem(v, 50, 192, 64, 0));
        ps.push_back(make_problem(v, 3, 100, 257, 1));
    }
    std::vector<operands<float>> ops;
    std::vector<std::vector<float>> serial;
    for (std::size_t t = 0; t < ps.size(); ++t) {
        ops.push_back(make_operands<float>(ps[t], 1000 + t));
        serial.push_back(ops.back().C0);
        run<float>(ps[t], 1.0f, ops[t].A.data(), ops[t].B.data(), 0.0f, serial[t].data());
    }
    std::vector<std::vector<float>> parallel(ps.size());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < ps.size(); ++t)
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 50; ++rep) {
                parallel[t] = ops[t].C0;
                run<float>(ps[t], 1.0f, ops[t].A.data(), ops[t].B.data(), 0.0f, parallel[t].data());
            }
        });
    for (auto& th : threads) th.join();
    for (std::size_t t = 0; t < ps.size(); ++t) REQUIRE(parallel[t] == serial[t]);
}

TEMPLATE_TEST_CASE("gemm: both gemm_nt paths (dot products, packed B^T) on the same shapes", "[gemm]", float,
                   double) {
    // gemm_nt picks one path by shape; run each explicitly so both stay covered whatever the crossover.
    using T = TestType;
    namespace g = dualrerank::nn::detail::gemm;
    int bad = 0;
    std::uint64_t seed = 900000;
    for (const int m : {1, 2, 3, 4, 5, 13, 24, 41})
        for (const int k : {1, 7, 16, 33, 64, 257})
            for (const int n : {1, 2, 3, 17, 50}) {
                const problem p = make_problem(variant::nt, m, n, k, 2);
                const operands<T> o = make_operands<T>(p, seed++);
                const reference<T> r = make_reference(p, o);
                for (const bool dot : {true, false}) {
                    std::vector<T> C = o.C0;
                    if (dot)
                        g::dot_nt<T>(m, n, k, T(1), o.A.data(), p.lda, o.B.data(), p.ldb, T(1), C.data(), p.ldc);
                    else
                        g::blocked<T, false, true>(m, n, k, T(1), o.A.data(), p.lda, o.B.data(), p.ldb, T(1),
                                                   C.data(), p.ldc);
                    const double tol = std::is_same<T, float>::value ? 4.0 * k * std::ldexp(1.0, -24) : 1e-12;
                    for (int i = 0; i < m; ++i)
                        for (int j = 0; j < n; ++j) {
                            const std::size_t at = std::size_t(i) * p.ldc + j, rt = std::size_t(i) * n + j;
                            const double ref = double(o.C0[at]) + r.s[rt];
                            const double scale = std::abs(double(o.C0[at])) + r.mag[rt];
                            if (!(std::abs(double(C[at]) - ref) <= tol * scale)) {
                                if (bad == 0)
                                    UNSCOPED_INFO((dot ? "dot" : "packed") << " path " << describe(p, 1, 1) << ": C("
                                                                           << i << "," << j << ") = " << C[at]
                                                                           << ", expected " << ref);
                                ++bad;
                            }
                        }
                }
            }
    REQUIRE(bad == 0);
}
