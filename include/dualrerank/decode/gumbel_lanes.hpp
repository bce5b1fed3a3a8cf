// Lane-generic arithmetic of the Gumbel-Max sampler: the counter hash, the uniform, and a log,
// each written once for a scalar (float, std::uint32_t) and for an xsimd batch.
//
// Why not std::log / xsimd::log: the scalar reference and the SIMD sampler must choose identical
// slates from one seed, so every noise value must be bit-identical in both. The functions below
// use only operations that round the same way in a scalar and in a lane: integer ops, exact
// int -> float conversions, bit casts, selects, and explicit fused multiply-adds (`fmadd`). No
// expression has a product feeding an addition, so the compiler's FMA contraction (GCC contracts
// a*b+c by default in gnu++17 with -march=native, for scalars and for intrinsics alike) cannot make
// the two paths differ. The test suite checks the identity exhaustively over all 2^23 uniforms.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../core/simd.hpp"
#include "../version.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positives in AVX-512 intrinsics
#endif

DUALRERANK_NAMESPACE_BEGIN
namespace decode {
namespace detail {

// ---- scalar / batch primitives -------------------------------------------------------------------

/// Float -> its IEEE bits as int32 (scalar).
inline std::int32_t float_bits(float x) noexcept {
    std::int32_t i;
    std::memcpy(&i, &x, sizeof i);
    return i;
}
/// IEEE bits -> float (scalar).
inline float bits_float(std::int32_t i) noexcept {
    float x;
    std::memcpy(&x, &i, sizeof x);
    return x;
}
inline float to_float(std::int32_t i) noexcept { return static_cast<float>(i); }
inline std::int32_t as_signed(std::uint32_t u) noexcept { return static_cast<std::int32_t>(u); }
inline float select_lane(bool c, float a, float b) noexcept { return c ? a : b; }

/// a * b + c with one rounding exactly when the batch path's xsimd::fma has one rounding, so the
/// scalar and SIMD paths agree on every target. On x86 with FMA (the -march=native build) xsimd
/// uses vfmadd and std::fma is inlined to the same instruction; elsewhere the scalar goes through
/// the very same xsimd::fma (which falls back to a*b+c on targets without FMA).
inline float fmadd(float a, float b, float c) noexcept {
#if defined(__FMA__)
    return std::fma(a, b, c);
#else
    using B = xsimd::batch<float>;
    alignas(64) float out[B::size];
    xsimd::fma(B(a), B(b), B(c)).store_aligned(out);
    return out[0];
#endif
}

template <class A>
inline xsimd::batch<std::int32_t, A> float_bits(const xsimd::batch<float, A>& x) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::bitwise_cast<std::int32_t>(x);
#else
    return xsimd::bitwise_cast<xsimd::batch<std::int32_t, A>>(x);
#endif
}
template <class A>
inline xsimd::batch<float, A> bits_float(const xsimd::batch<std::int32_t, A>& i) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::bitwise_cast<float>(i);
#else
    return xsimd::bitwise_cast<xsimd::batch<float, A>>(i);
#endif
}
template <class A>
inline xsimd::batch<std::int32_t, A> as_signed(const xsimd::batch<std::uint32_t, A>& u) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::bitwise_cast<std::int32_t>(u);
#else
    return xsimd::bitwise_cast<xsimd::batch<std::int32_t, A>>(u);
#endif
}
template <class A>
inline xsimd::batch<float, A> to_float(const xsimd::batch<std::int32_t, A>& i) noexcept {
    return xsimd::batch_cast<float>(i);
}
template <class A>
inline xsimd::batch<float, A> select_lane(const xsimd::batch_bool<float, A>& c, const xsimd::batch<float, A>& a,
                                          const xsimd::batch<float, A>& b) noexcept {
    return xsimd::select(c, a, b);
}
/// Lane-wise a * b + c. With FMA hardware this is the fused instruction, called directly:
/// xsimd 8 implements fma for some architectures as a * b + c, which is only fused when the
/// optimizer contracts it (GCC does at -O2, not at -O1 or -O0), and the scalar path above is
/// always fused.
template <class A>
inline xsimd::batch<float, A> fmadd(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b,
                                    const xsimd::batch<float, A>& c) noexcept {
    using B = xsimd::batch<float, A>;
    if constexpr (B::size == 16) {
#if defined(__AVX512F__)
        return B(_mm512_fmadd_ps(a, b, c));
#endif
    } else if constexpr (B::size == 8) {
#if defined(__FMA__) && defined(__AVX__)
        return B(_mm256_fmadd_ps(a, b, c));
#endif
    } else if constexpr (B::size == 4) {
#if defined(__FMA__) && defined(__SSE__)
        return B(_mm_fmadd_ps(a, b, c));
#endif
    }
    return xsimd::fma(a, b, c);
}

/// The int32 / uint32 types that go with a float type (scalar or batch).
template <class V>
struct lanes_of {
    using i32 = std::int32_t;
    using u32 = std::uint32_t;
};
template <class A>
struct lanes_of<xsimd::batch<float, A>> {
    using i32 = xsimd::batch<std::int32_t, A>;
    using u32 = xsimd::batch<std::uint32_t, A>;
};

// ---- the counter hash ----------------------------------------------------------------------------

/// core/rng.hpp's detail::mix32 (lowbias32) for a scalar or a batch of uint32.
template <class U>
inline U mix32_lanes(U x) noexcept {
    x = x ^ (x >> 16);
    x = x * U(0x21f0aaadU);
    x = x ^ (x >> 15);
    x = x * U(0x735a2d97U);
    x = x ^ (x >> 15);
    return x;
}

/// core/rng.hpp's counter_bits(key, counter), lane by lane.
template <class U>
inline U counter_bits_lanes(U counter, std::uint32_t k0, std::uint32_t k1) noexcept {
    return mix32_lanes(U(mix32_lanes(U(counter ^ U(k0))) + U(k1)));
}

/// ~counter_bits_lanes(counter, k0, k1): the complement folds into the last xor (one ternary
/// logic instruction on AVX-512), for the filtered sampler's bound on 1 - U.
template <class U>
inline U counter_bits_not_lanes(U counter, std::uint32_t k0, std::uint32_t k1) noexcept {
    U x = mix32_lanes(U(counter ^ U(k0))) + U(k1);
    x = x ^ (x >> 16);
    x = x * U(0x21f0aaadU);
    x = x ^ (x >> 15);
    x = x * U(0x735a2d97U);
#if defined(__AVX512F__)
    if constexpr (sizeof(U) == 64) return U(_mm512_ternarylogic_epi32(x, U(x >> 15), x, 0xc3));  // ~(a ^ b)
#endif
    return ~(x ^ (x >> 15));
}

// ---- the uniform and the logs --------------------------------------------------------------------
//
// The uniform of a counter word is U = ((bits >> 9) + 0.5) * 2^-23 = F * 2^-24 with the odd 24-bit
// integer F = (bits >> 8) | 1: 23 random bits, every value exact in float, U in [2^-24, 1 - 2^-24].
// (counter_uniform's 24-bit version cannot be exact in float: m + 0.5 needs 25 bits when m >= 2^23,
// and m = 2^24 - 1 rounds to U = 1.0f.)
//
// Logs reduce x = 2^k r with r in [sqrt(1/2), sqrt(2)) by integer ops on the float's bits (exact),
// then log(r) = f + f^2 S(f), f = r - 1, with a degree-7 polynomial S fitted for relative error
// (max 9.5e-8 measured in float, about 1.6 ulp); -log(r) uses the same polynomial in g = 1 - r.
// Both stay accurate relative to the result near r = 1, where -log(U) is tiny and matters most.

/// Bits of ln 2 rounded to float (error 1.9e-9).
inline constexpr float ln2_f = 0.693147182464599609375f;

/// -log(1 - g) = g + g^2 R(g) for g in [1 - sqrt(2), 1 - sqrt(1/2)].
template <class V>
inline V neg_log1m(const V& g) noexcept {
    const V z = g * g;
    V p = V(8.734840900e-02f);
    p = fmadd(p, g, V(1.430752128e-01f));
    p = fmadd(p, g, V(1.491797417e-01f));
    p = fmadd(p, g, V(1.657050848e-01f));
    p = fmadd(p, g, V(1.996207237e-01f));
    p = fmadd(p, g, V(2.500175536e-01f));
    p = fmadd(p, g, V(3.333395123e-01f));
    p = fmadd(p, g, V(4.999999106e-01f));
    return fmadd(z, p, g);
}

/// log(1 + f) = f + f^2 S(f), S(f) = -R(-f), for f in [sqrt(1/2) - 1, sqrt(2) - 1].
template <class V>
inline V log1p_reduced(const V& f) noexcept {
    const V z = f * f;
    V p = V(8.734840900e-02f);
    p = fmadd(p, f, V(-1.430752128e-01f));
    p = fmadd(p, f, V(1.491797417e-01f));
    p = fmadd(p, f, V(-1.657050848e-01f));
    p = fmadd(p, f, V(1.996207237e-01f));
    p = fmadd(p, f, V(-2.500175536e-01f));
    p = fmadd(p, f, V(3.333395123e-01f));
    p = fmadd(p, f, V(-4.999999106e-01f));
    return fmadd(z, p, f);
}

/// The uniform of a counter word (see above), as float.
template <class V, class U>
inline V uniform_from_bits(const U& bits) noexcept {
    return to_float(as_signed(U(U(bits >> 8) | U(1u)))) * V(0x1.0p-24f);  // exact
}

/// Natural log of a positive, normal, finite float.
template <class V>
inline V log_lanes(const V& x) noexcept {
    using I = typename lanes_of<V>::i32;
    const I ix = I(float_bits(x) + I(0x3f800000 - 0x3f3504f3));      // so that r lands in [sqrt(1/2), sqrt(2))
    const V k = to_float(I(I(ix >> 23) - I(127)));
    const V r = bits_float(I(I(ix & I(0x007fffff)) + I(0x3f3504f3)));
    return fmadd(k, V(ln2_f), log1p_reduced(V(r - V(1.0f))));        // r - 1 is exact (Sterbenz)
}

/// Exponential noise E = -log(U) in [5.96e-8, 16.64] from a counter word: -log(F 2^-24) with F
/// the odd integer above, = (24 - k) ln 2 - log(r) for F = 2^k r.
template <class V, class U>
inline V exp_noise_from_bits(const U& bits) noexcept {
    using I = typename lanes_of<V>::i32;
    const V F = to_float(as_signed(U(U(bits >> 8) | U(1u))));         // exact
    const I ix = I(float_bits(F) + I(0x3f800000 - 0x3f3504f3));
    const V k = to_float(I(I(151) - I(ix >> 23)));                    // 24 - (exponent of F)
    const V r = bits_float(I(I(ix & I(0x007fffff)) + I(0x3f3504f3)));
    return fmadd(k, V(ln2_f), neg_log1m(V(V(1.0f) - r)));             // 1 - r is exact
}

}  // namespace detail
}  // namespace decode
DUALRERANK_NAMESPACE_END

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
