// Small dense kernels shared by the layers: elementwise loops in xsimd lanes, row softmax.
// Everything is row-major; a matrix is (pointer, rows, cols, leading dimension).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../core/simd.hpp"
#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

// Elementwise loops in explicit xsimd lanes: GCC at -O2 (and any compiler unsure about aliasing
// between y and x) leaves the plain loops scalar.

/// y[i] += x[i].
template <class T>
inline void add_inplace(T* y, const T* x, std::size_t n) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    for (; i + W <= n; i += W) (B::load_unaligned(y + i) + B::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] += x[i];
}

/// y[i] += a[i] * b[i].
template <class T>
inline void add_product(T* y, const T* a, const T* b, std::size_t n) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    for (; i + W <= n; i += W)
        xsimd::fma(B::load_unaligned(a + i), B::load_unaligned(b + i), B::load_unaligned(y + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] += a[i] * b[i];
}

/// y[i] = a[i] * b[i].
template <class T>
inline void multiply(T* y, const T* a, const T* b, std::size_t n) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    for (; i + W <= n; i += W) (B::load_unaligned(a + i) * B::load_unaligned(b + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = a[i] * b[i];
}

/// Dot product of a[0..n) and b[0..n).
template <class T>
inline T dot(const T* a, const T* b, std::size_t n) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        B acc = B::load_unaligned(a) * B::load_unaligned(b);
        for (i = W; i + W <= n; i += W) acc = xsimd::fma(B::load_unaligned(a + i), B::load_unaligned(b + i), acc);
        s = simd::reduce_add(acc);
    }
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

/// y[i] += alpha * x[i].
template <class T>
inline void axpy(T* y, T alpha, const T* x, std::size_t n) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    const B va(alpha);
    std::size_t i = 0;
    for (; i + W <= n; i += W) xsimd::fma(va, B::load_unaligned(x + i), B::load_unaligned(y + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] += alpha * x[i];
}

/// Every row r < n of y (m columns, leading dimension ldy) += bias.
template <class T>
inline void add_rows(T* y, int n, int m, std::size_t ldy, const T* bias) noexcept {
    for (int r = 0; r < n; ++r) add_inplace(y + static_cast<std::size_t>(r) * ldy, bias, static_cast<std::size_t>(m));
}

/// g[j] += sum over rows r < n of dy[r][j] (m columns, leading dimension lddy): a bias gradient.
template <class T>
inline void add_column_sums(T* g, const T* dy, int n, int m, std::size_t lddy) noexcept {
    for (int r = 0; r < n; ++r) add_inplace(g, dy + static_cast<std::size_t>(r) * lddy, static_cast<std::size_t>(m));
}

/// Sum of x[0..n).
template <class T>
inline T sum(const T* x, std::size_t n) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        B acc = B::load_unaligned(x);
        for (i = W; i + W <= n; i += W) acc += B::load_unaligned(x + i);
        s = simd::reduce_add(acc);
    }
    for (; i < n; ++i) s += x[i];
    return s;
}

template <class T>
inline void copy(T* y, const T* x, std::size_t n) noexcept {
    std::copy(x, x + n, y);
}

namespace detail {

/// The largest entry of z [n], in xsimd lanes. With simd::fast_partial<T> (AVX-512) the tail is
/// loaded once as one masked batch padded with -inf and handed back in `tail` for
/// exp_shifted_sum; elsewhere the tail is scanned scalar and `tail` is unused.
template <class T>
inline T row_max(const T* z, int n, xsimd::batch<T>& tail) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    constexpr T ninf = -std::numeric_limits<T>::infinity();
    const int full = n / W * W, rest = n - full;
    tail = B(ninf);
    if constexpr (simd::fast_partial<T>)
        if (rest > 0) tail = simd::load_partial(z + full, rest, ninf);
    B mb = tail;
    for (int i = 0; i < full; i += W) mb = xsimd::max(mb, B::load_unaligned(z + i));
    T m = simd::reduce_max(mb);
    if constexpr (!simd::fast_partial<T>)
        for (int i = full; i < n; ++i) m = std::max(m, z[i]);
    return m;
}

/// z[i] = exp(z[i] - m) in place (entries equal to -inf give 0); returns their sum. m finite;
/// `tail` is row_max's. The masked tail costs one vector exp.
template <class T>
inline T exp_shifted_sum(T* z, int n, T m, const xsimd::batch<T>& tail) noexcept {
    using std::exp;
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    const int full = n / W * W, rest = n - full;
    const B mv(m);  // masked entries and padded lanes are -inf: simd::exp_floored
    B sb(T(0));
    for (int i = 0; i < full; i += W) {
        const B e = simd::exp_floored(B(B::load_unaligned(z + i) - mv));
        e.store_unaligned(z + i);
        sb += e;
    }
    T s_tail = 0;
    if (rest > 0) {
        if constexpr (simd::fast_partial<T>) {
            const B te = simd::exp_floored(B(tail - mv));
            sb += te;
            simd::store_partial(z + full, te, rest);
        } else {
            for (int i = full; i < n; ++i) {
                z[i] = exp(z[i] - m);
                s_tail += z[i];
            }
        }
    }
    return simd::reduce_add(sb) + s_tail;
}

}  // namespace detail

/// In-place softmax of one row of length n; entries equal to -inf get probability 0.
/// A row that is entirely -inf becomes all zeros (nothing to attend to). xsimd lanes; with AVX-512
/// the tail is one masked batch padded with -inf (exp gives 0 there), so a short row costs one
/// vector exp; elsewhere the tail is scalar.
template <class T>
inline void softmax_row(T* z, int n) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    const int full = n / W * W, rest = n - full;
    B tail;
    const T m = detail::row_max(z, n, tail);
    if (!(m > -std::numeric_limits<T>::infinity())) {
        std::fill(z, z + n, T(0));
        return;
    }
    const T inv = T(1) / detail::exp_shifted_sum(z, n, m, tail);
    const B iv(inv);
    for (int i = 0; i < full; i += W) (B::load_unaligned(z + i) * iv).store_unaligned(z + i);
    if (rest > 0) {
        if constexpr (simd::fast_partial<T>)
            simd::store_partial(z + full, B(simd::load_partial(z + full, rest, T(0)) * iv), rest);
        else
            for (int i = full; i < n; ++i) z[i] *= inv;
    }
}

/// Softmax backward for one row, in place: ds = p * (ds - <ds, p>) * scale.
template <class T>
inline void softmax_backward_row(T* ds, const T* p, int n, T scale) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    int i = 0;
    T dot = 0;
    if (n >= W) {
        B acc(T(0));
        for (; i + W <= n; i += W) acc = xsimd::fma(B::load_unaligned(ds + i), B::load_unaligned(p + i), acc);
        dot = simd::reduce_add(acc);
    }
    for (; i < n; ++i) dot += ds[i] * p[i];
    const B vd(dot), vs(scale);
    i = 0;
    for (; i + W <= n; i += W)
        (B::load_unaligned(p + i) * (B::load_unaligned(ds + i) - vd) * vs).store_unaligned(ds + i);
    for (; i < n; ++i) ds[i] = p[i] * (ds[i] - dot) * scale;
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
