// Small dense kernels shared by the layers: Eigen maps over row-major spans, GEMM wrappers, row
// softmax. Everything is row-major; a matrix is (pointer, rows, cols, leading dimension).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../core/simd.hpp"
#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using mat = Eigen::Map<row_matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using cmat = Eigen::Map<const row_matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using vec = Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>;
template <class T>
using cvec = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

template <class T>
inline mat<T> as_mat(T* p, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld) noexcept {
    return mat<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}
template <class T>
inline mat<T> as_mat(T* p, Eigen::Index rows, Eigen::Index cols) noexcept {
    return as_mat(p, rows, cols, cols);
}
template <class T>
inline cmat<T> as_cmat(const T* p, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld) noexcept {
    return cmat<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}
template <class T>
inline cmat<T> as_cmat(const T* p, Eigen::Index rows, Eigen::Index cols) noexcept {
    return as_cmat(p, rows, cols, cols);
}

template <class T>
inline void add_inplace(T* y, const T* x, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
}

template <class T>
inline void copy(T* y, const T* x, std::size_t n) noexcept {
    std::copy(x, x + n, y);
}

/// In-place softmax of one row of length n; entries equal to -inf get probability 0.
/// A row that is entirely -inf becomes all zeros (nothing to attend to). xsimd lanes + tail.
template <class T>
inline void softmax_row(T* z, int n) noexcept {
    using std::exp;
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    T m = -std::numeric_limits<T>::infinity();
    int i = 0;
    if (n >= W) {
        B mb = B::load_unaligned(z);
        for (i = W; i + W <= n; i += W) mb = xsimd::max(mb, B::load_unaligned(z + i));
        m = simd::reduce_max(mb);
    }
    for (; i < n; ++i) m = std::max(m, z[i]);
    if (!(m > -std::numeric_limits<T>::infinity())) {
        std::fill(z, z + n, T(0));
        return;
    }
    T s = 0;
    i = 0;
    if (n >= W) {
        const B mv(m);
        B sb(T(0));
        for (; i + W <= n; i += W) {
            const B e = xsimd::exp(B::load_unaligned(z + i) - mv);
            e.store_unaligned(z + i);
            sb += e;
        }
        s = simd::reduce_add(sb);
    }
    for (; i < n; ++i) {
        z[i] = exp(z[i] - m);
        s += z[i];
    }
    const T inv = T(1) / s;
    i = 0;
    const B iv(inv);
    for (; i + W <= n; i += W) (B::load_unaligned(z + i) * iv).store_unaligned(z + i);
    for (; i < n; ++i) z[i] *= inv;
}

/// log-softmax of one row into out (masked entries, -inf in z, stay -inf). Returns log-sum-exp.
template <class T>
inline T log_softmax_row(const T* z, int n, T* out) noexcept {
    using std::exp;
    using std::log;
    T m = -std::numeric_limits<T>::infinity();
    for (int i = 0; i < n; ++i) m = std::max(m, z[i]);
    if (!(m > -std::numeric_limits<T>::infinity())) {
        std::fill(out, out + n, -std::numeric_limits<T>::infinity());
        return m;
    }
    T s = 0;
    for (int i = 0; i < n; ++i) s += exp(z[i] - m);
    const T lse = m + log(s);
    for (int i = 0; i < n; ++i) out[i] = z[i] - lse;
    return lse;
}

}  // namespace nn
DUALRERANK_NAMESPACE_END
