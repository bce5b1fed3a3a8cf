// The xsimd shim: one place that papers over xsimd 8 (Debian bookworm) vs 9+ (vcpkg, Conan).
// Use only batch<T> on the default architecture, load_unaligned/store_unaligned, exp/log/max/
// fma/select, and the wrappers below. Never store a batch in a class member (layout would then
// depend on -m flags); make batches inside function bodies.
#pragma once

#include <xsimd/xsimd.hpp>

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

/// Horizontal max of a batch.
template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_max(b);
#else
    alignas(64) T tmp[xsimd::batch<T, A>::size];
    b.store_aligned(tmp);
    T m = tmp[0];
    for (std::size_t i = 1; i < xsimd::batch<T, A>::size; ++i) m = tmp[i] > m ? tmp[i] : m;
    return m;
#endif
}

/// Name of the instruction set the library was compiled for (for benchmark reports).
inline const char* arch_name() noexcept { return xsimd::default_arch::name(); }

}  // namespace simd
DUALRERANK_NAMESPACE_END
