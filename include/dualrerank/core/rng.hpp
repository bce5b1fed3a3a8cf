// Random numbers.
//
// * `rng`: xoshiro256** stream for simulators, initialisation and shuffling; 32 bytes of state that
//   checkpoints save and restore exactly.
// * `counter_uniform`: a counter-based generator (a keyed integer hash of a 32-bit counter), so the
//   i-th draw of a stream needs no state and SIMD lanes or threads can draw independently and
//   reproducibly. The Gumbel-Max sampler's scalar and xsimd paths both use exactly this definition.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN

inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
class rng {
public:
    using result_type = std::uint64_t;
    explicit rng(std::uint64_t seed = 0x5eed) noexcept { this->seed(seed); }
    void seed(std::uint64_t seed) noexcept {
        for (auto& w : s_) w = splitmix64(seed);
    }
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    result_type operator()() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    /// Uniform in [0, 1) with 53 random bits.
    double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
    /// Uniform in (0, 1): never exactly 0, so log() is finite.
    double uniform_open() noexcept { return (static_cast<double>((*this)() >> 11) + 0.5) * 0x1.0p-53; }
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
    /// Uniform integer in [0, n) (Lemire's multiply-shift, bias < 2^-32 for the sizes used here).
    std::uint64_t below(std::uint64_t n) noexcept { return mul_high64((*this)(), n); }
    /// The high 64 bits of the 128-bit product a * b, in portable C++ (no `unsigned __int128`,
    /// which -Wpedantic rejects and MSVC lacks); exact, so streams are unchanged.
    static constexpr std::uint64_t mul_high64(std::uint64_t a, std::uint64_t b) noexcept {
        const std::uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
        const std::uint64_t lo_lo = a_lo * b_lo, lo_hi = a_lo * b_hi, hi_lo = a_hi * b_lo, hi_hi = a_hi * b_hi;
        const std::uint64_t mid = (lo_lo >> 32) + (lo_hi & 0xffffffffu) + (hi_lo & 0xffffffffu);
        return hi_hi + (lo_hi >> 32) + (hi_lo >> 32) + (mid >> 32);
    }
    /// Standard normal (Box-Muller, one value per call, no cached state so the state stays 32 bytes).
    double normal() noexcept {
        const double u1 = uniform_open(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
    }
    double normal(double mean, double stddev) noexcept { return mean + stddev * normal(); }
    bool bernoulli(double p) noexcept { return uniform() < p; }
    /// A new independent stream derived from this one (advances this stream once).
    rng split() noexcept { return rng((*this)() ^ 0x6a09e667f3bcc909ULL); }

    std::array<std::uint64_t, 4> state() const noexcept { return s_; }
    void set_state(const std::array<std::uint64_t, 4>& s) noexcept { s_ = s; }
    friend bool operator==(const rng& a, const rng& b) noexcept { return a.s_ == b.s_; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::array<std::uint64_t, 4> s_{};
};

namespace detail {
/// 32-bit integer finalizer (Wellons' lowbias32 constants); bijective on uint32.
constexpr std::uint32_t mix32(std::uint32_t x) noexcept {
    x ^= x >> 16;
    x *= 0x21f0aaadU;
    x ^= x >> 15;
    x *= 0x735a2d97U;
    x ^= x >> 15;
    return x;
}
}  // namespace detail

/// Key of a counter-based stream: two 32-bit words derived from a 64-bit seed.
struct counter_key {
    std::uint32_t k0 = 0, k1 = 0;
    static counter_key from_seed(std::uint64_t seed) noexcept {
        std::uint64_t s = seed;
        const std::uint64_t a = splitmix64(s);
        return {static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(a >> 32)};
    }
};

/// The counter-th 32-bit word of stream `key`.
constexpr std::uint32_t counter_bits(counter_key key, std::uint32_t counter) noexcept {
    return detail::mix32(detail::mix32(counter ^ key.k0) + key.k1);
}

/// Uniform in (0, 1) from the top 23 bits: ((bits >> 9) + 0.5) * 2^-23, exact in float and never
/// 0 or 1 (with 24 bits the largest value would round to 1.0f). The Gumbel-Max sampler uses this.
inline float counter_uniform(counter_key key, std::uint32_t counter) noexcept {
    return (static_cast<float>(counter_bits(key, counter) >> 9) + 0.5f) * 0x1.0p-23f;
}

DUALRERANK_NAMESPACE_END
