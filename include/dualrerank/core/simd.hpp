// The xsimd shim: one place that papers over xsimd 8 (Debian bookworm) vs 9+ (vcpkg, Conan).
// Use only batch<T> on the default architecture, load_unaligned/store_unaligned, exp/log/max/
// fma/select, and the wrappers below. Never store a batch in a class member (layout would then
// depend on -m flags); make batches inside function bodies.
#pragma once

#include "xsimd_include.hpp"
#include <cstddef>
#include <type_traits>

#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace simd {

template <class T>
using batch = xsimd::batch<T>;

template <class T>
inline constexpr std::size_t width = xsimd::batch<T>::size;

/// Horizontal sum of a batch (hadd before xsimd 9, reduce_add after).
template <class T, class A>
inline T reduce_add(const xsimd::batch<T, A>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_add(b);
#else
    return xsimd::hadd(b);
#endif
}

/// exp(x) lane-wise, with x floored at -800 first (exp is 0 there in float and in double). The one
/// exp to call on arguments that may be -inf or hugely negative (masked logits, padded lanes, a
/// tiny temperature): xsimd's exp converts round(x / ln 2) to an integer, which is undefined
/// behaviour for those (UBSan float-cast-overflow, found by fuzzing).
template <class T, class A>
inline xsimd::batch<T, A> exp_floored(const xsimd::batch<T, A>& x) noexcept {
    return xsimd::exp(xsimd::max(x, xsimd::batch<T, A>(T(-800))));
}

/// Horizontal max of a batch.
template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_max(b);
#else
    constexpr std::size_t W = xsimd::batch<T, A>::size;
#if defined(__AVX512F__)
    if constexpr (std::is_same<T, float>::value && W == 16) return _mm512_reduce_max_ps(b);
    if constexpr (std::is_same<T, double>::value && W == 8) return _mm512_reduce_max_pd(b);
#endif
    alignas(64) T tmp[W];
    b.store_aligned(tmp);
    for (std::size_t h = W / 2; h > 0; h /= 2)  // pairwise: a short dependency chain
        for (std::size_t i = 0; i < h; ++i) tmp[i] = tmp[i + h] > tmp[i] ? tmp[i + h] : tmp[i];
    return tmp[0];
#endif
}

/// True when load_partial / store_partial are single masked instructions for T (AVX-512); else
/// they go through memory and a scalar tail loop is usually faster.
template <class T>
inline constexpr bool fast_partial =
#if defined(__AVX512F__)
    (std::is_same<T, float>::value && xsimd::batch<T>::size == 16) ||
    (std::is_same<T, double>::value && xsimd::batch<T>::size == 8);
#else
    false;
#endif

/// The first n (0 < n < width) elements of p in a batch, the other lanes set to `fill`; reads
/// only p[0..n).
template <class T>
inline xsimd::batch<T> load_partial(const T* p, int n, T fill) noexcept {
    using B = xsimd::batch<T>;
#if defined(__AVX512F__)
    if constexpr (std::is_same<T, float>::value && B::size == 16)
        return B(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1u), p));
    if constexpr (std::is_same<T, double>::value && B::size == 8)
        return B(_mm512_mask_loadu_pd(_mm512_set1_pd(fill), static_cast<__mmask8>((1u << n) - 1u), p));
#endif
    alignas(64) T tmp[B::size];
    for (std::size_t i = 0; i < B::size; ++i) tmp[i] = static_cast<int>(i) < n ? p[i] : fill;
    return B::load_aligned(tmp);
}

/// Store the first n (0 < n < width) lanes of v to p[0..n); writes nothing else.
template <class T>
inline void store_partial(T* p, const xsimd::batch<T>& v, int n) noexcept {
    using B = xsimd::batch<T>;
#if defined(__AVX512F__)
    if constexpr (std::is_same<T, float>::value && B::size == 16) {
        _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
        return;
    }
    if constexpr (std::is_same<T, double>::value && B::size == 8) {
        _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1u), v);
        return;
    }
#endif
    alignas(64) T tmp[B::size];
    v.store_aligned(tmp);
    for (int i = 0; i < n; ++i) p[i] = tmp[i];
}

/// Name of the instruction set the library was compiled for (for benchmark reports).
inline const char* arch_name() noexcept { return xsimd::default_arch::name(); }

}  // namespace simd
DUALRERANK_NAMESPACE_END
