// Vectorized Gumbel-Max sampling of slates (DESIGN section 5).
//
// Adding Gumbel(0, 1) noise g = -log(-log U) to logits / tau and taking the masked argmax samples
// the masked softmax; repeating slot by slot with the chosen items masked samples the slot-order
// factorization of the student,
//     log pi(y) = sum_t log softmax_{i not in y_<t}(Z_t / tau)[y_t],
// and, for one logit row repeated at every slot, Plackett-Luce sampling without replacement.
//
// Noise. The uniform for (slate k, slot t, candidate i) comes from the counter-based generator of
// core/rng.hpp:
//     counter = counter_base + (k * L + t) * N + i      (mod 2^32)
//     bits    = counter_bits(key, counter)
//     U       = ((bits >> 9) + 0.5) * 2^-23             (23 bits, exact in float, in (0, 1))
// so any slate, slot or candidate can be drawn alone, by any lane or thread, and a call consumes
// exactly K * L * N counters: the next batch from the same key starts at counter_base + K * L * N.
// One call may use at most 2^32 counters (input_error otherwise). Masked items keep their counters
// (the layout never depends on earlier choices). gumbel_argmax uses counter = counter_base + i, so a
// step-by-step decoder passing counter_base + (k * L + t) * N draws the same uniforms.
//
// Arithmetic. With E = -log U (an Exp(1) variable) and s = Z / tau, argmax_i s_i + g_i is
//     argmin_i  E_i * exp(c - s_i)      ("product" form, c = the row's max)   or
//     argmin_i  log(E_i) - s_i          ("log" form, the double log).
// A row whose finite logits span at most 80 tau uses the product form (one log per draw,
// exp(c - s) is computed once per call and shared by all K slates; E * exp(c - s) cannot overflow);
// wider rows (e.g. tiny tau) use the log form, evaluated as tau * log(E_i) + (max Z - Z_i) so it
// cannot overflow either (as tau -> 0 it becomes the greedy masked argmax; when tau * log(E) is
// below float resolution, equal logits tie and the smallest index wins). Both forms pick the same
// item in exact arithmetic.
// The log is our own polynomial (gumbel_lanes.hpp), evaluated identically by the scalar reference
// and by the xsimd lanes, so both give IDENTICAL slates from one seed. Ties (equal keys) go to the
// smallest index. -inf logits are never chosen; NaN / +inf logits, tau <= 0 or non-finite, L > N,
// and a slot t whose row has fewer than t + 1 finite logits are input_error.
//
// SIMD layout. Lanes run over slates (W at a time), so each lane keeps its own running argmin and
// no horizontal reduction is needed; slates left over when K is not a multiple of W (fewer than
// W / 2) use lanes over candidates. Product-form rows use a filtered kernel: candidates are
// visited most likely first, the first few evaluated exactly, the rest in rounds of 32 where
// -log U >= 1 - U bounds every key from below with one multiply-add and the log is evaluated only
// for the candidates whose bound reaches some lane's best key at the start of the round; the
// bound is checked over all 2^23 uniforms, so the choice is still bit-identical to the reference.
//
// Log-probabilities are computed in double: sum_t (s_{t,y_t} - c_t) - log(sum of exp(s_t - c_t)
// over the unmasked items), the normalizer maintained by subtraction from the row total and
// recomputed directly whenever the subtraction could lose more than ~2^-20 relative precision.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/simd.hpp"
#include "../core/workspace.hpp"
#include "../version.hpp"
#include "gumbel_lanes.hpp"

// GCC 12 reports false -W(maybe-)uninitialized inside the AVX-512 intrinsics (_mm512_undefined_*) that
// xsimd uses; silence it for this header only (as nn/gemm.hpp does).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The filtered kernel's round is a lambda called for the full rounds and for the last one; both
// calls must be inlined (an out-of-line call measured 5-15% slower on AVX-512).
#if defined(__GNUC__) || defined(__clang__)
#define DUALRERANK_SAMPLER_INLINE __attribute__((always_inline))
#else
#define DUALRERANK_SAMPLER_INLINE
#endif

DUALRERANK_NAMESPACE_BEGIN
namespace decode {

/// A sampled candidate and its log-probability under the masked softmax at temperature tau.
struct gumbel_pick {
    int index = -1;
    double log_prob = 0.0;
};

/// The uniform the sampler uses for `counter` (documented above; exposed for tests and for
/// callers that want to reproduce a draw).
inline float gumbel_uniform(counter_key key, std::uint32_t counter) noexcept {
    return detail::uniform_from_bits<float>(counter_bits(key, counter));
}

/// The counter of (slate k, slot t, candidate 0) in a K x L x N call.
inline std::uint32_t slot_counter(std::uint32_t counter_base, int k, int t, int L, int N) noexcept {
    return counter_base + static_cast<std::uint32_t>((static_cast<std::uint64_t>(k) * static_cast<std::uint64_t>(L) +
                                                      static_cast<std::uint64_t>(t)) *
                                                     static_cast<std::uint64_t>(N));
}

namespace detail {

inline constexpr float inf_f = std::numeric_limits<float>::infinity();
inline constexpr double inf_d = std::numeric_limits<double>::infinity();
/// Rows whose finite scaled logits span at most this use the product form (E * exp(c - s) <=
/// 16.7 * e^80 < FLT_MAX).
inline constexpr double product_form_range = 80.0;
/// Largest N: candidate indices are tracked in float lanes (exact below 2^24).
inline constexpr int max_candidates = 1 << 24;

inline std::size_t padded(int n) noexcept {
    const std::size_t w = simd::width<float>;
    return (static_cast<std::size_t>(n) + w - 1) / w * w;
}

inline void check_temperature(double tau, const char* fn) {
    if (!(tau > 0.0) || !std::isfinite(tau) || !std::isfinite(1.0 / tau))
        ::dualrerank::detail::throw_input(std::string(fn) + ": temperature must be finite and > 0 (and 1 / tau finite), got " +
                                          std::to_string(tau));
}

/// Lane-wise running argmin -> index (smallest index among equal keys), or -1 if every key is +inf.
template <class B>
inline int lane_argmin(const B& best, const B& best_index) noexcept {
    constexpr std::size_t W = B::size;
    alignas(64) float k[W];
    alignas(64) float id[W];
    best.store_aligned(k);
    best_index.store_aligned(id);
    float bk = k[0], bi = id[0];
    for (std::size_t j = 1; j < W; ++j) {
        if (k[j] < bk || (k[j] == bk && id[j] < bi)) {
            bk = k[j];
            bi = id[j];
        }
    }
    return bk < inf_f ? static_cast<int>(bi) : -1;
}

template <class B>
inline B lane_iota() noexcept {
    alignas(64) float io[B::size];
    for (std::size_t j = 0; j < B::size; ++j) io[j] = static_cast<float>(j);
    return B::load_aligned(io);
}
template <class BU>
inline BU lane_iota_u32() noexcept {
    alignas(64) std::uint32_t io[BU::size];
    for (std::size_t j = 0; j < BU::size; ++j) io[j] = static_cast<std::uint32_t>(j);
    return BU::load_aligned(io);
}

// ---- one row: gumbel_argmax ---------------------------------------------------------------------

template <class T>
inline void check_row_args(const T* logits, int n, float inv_tau, const char* fn) {
    if (n < 1) ::dualrerank::detail::throw_input(std::string(fn) + ": n must be >= 1, got " + std::to_string(n));
    if (n >= max_candidates) ::dualrerank::detail::throw_input(std::string(fn) + ": n too large");
    if (!logits) ::dualrerank::detail::throw_input(std::string(fn) + ": logits is null");
    if (!(inv_tau > 0.0f) || !std::isfinite(inv_tau))
        ::dualrerank::detail::throw_input(std::string(fn) + ": inv_tau must be finite and > 0, got " +
                                          std::to_string(inv_tau));
    for (int i = 0; i < n; ++i) {
        const float v = static_cast<float>(logits[i]);
        if (std::isnan(v) || v == inf_f)
            ::dualrerank::detail::throw_input(std::string(fn) + ": logits[" + std::to_string(i) + "] is " +
                                              (std::isnan(v) ? "NaN" : "+inf (or beyond float range)"));
        if (v != -inf_f && std::fabs(static_cast<double>(v) * inv_tau) > 1e37)
            ::dualrerank::detail::throw_input(std::string(fn) + ": logits[" + std::to_string(i) +
                                              "] * inv_tau overflows float");
    }
}

/// Reference: one candidate at a time, key_i = log(E_i) - logit_i * inv_tau, argmin.
template <class T>
inline int argmax_row_scalar(const T* logits, int n, const std::uint8_t* used, float inv_tau, counter_key key,
                             std::uint32_t counter_base) noexcept {
    float best = inf_f;
    int bi = -1;
    for (int i = 0; i < n; ++i) {
        if (used && used[i]) continue;
        const float e = exp_noise_from_bits<float>(counter_bits(key, counter_base + static_cast<std::uint32_t>(i)));
        const float k = fmadd(-static_cast<float>(logits[i]), inv_tau, log_lanes(e));
        if (k < best) {
            best = k;
            bi = i;
        }
    }
    return bi;
}

template <class T>
inline int argmax_row_simd(const T* logits, int n, const std::uint8_t* used, float inv_tau, counter_key key,
                           std::uint32_t counter_base) noexcept {
    using B = xsimd::batch<float>;
    using BU = xsimd::batch<std::uint32_t>;
    constexpr int W = static_cast<int>(B::size);
    static_assert(BU::size == B::size, "uint32 and float lanes must match");
    const B vinv(inv_tau), vinf(inf_f), vzero(0.0f);
    B best(inf_f), best_index(0.0f), index = lane_iota<B>();
    BU counter = BU(counter_base) + lane_iota_u32<BU>();
    alignas(64) float lbuf[W];
    alignas(64) float mbuf[W];
    for (int i0 = 0; i0 < n; i0 += W) {
        const int m = std::min(W, n - i0);
        B l;
        bool loaded = false;
        if constexpr (std::is_same<T, float>::value) {
            if (m == W) {
                l = B::load_unaligned(logits + i0);
                loaded = true;
            }
        }
        if (!loaded) {
            // loops bounded by m, not a guard inside a loop to W: GCC 12 cannot see the guard and
            // warns (-Warray-bounds) when a short array is inlined into a caller built with -Werror
            for (int j = 0; j < m; ++j) lbuf[j] = static_cast<float>(logits[i0 + j]);
            for (int j = m; j < W; ++j) lbuf[j] = -inf_f;
            l = B::load_aligned(lbuf);
        }
        const B e = exp_noise_from_bits<B>(counter_bits_lanes(counter, key.k0, key.k1));
        B k = fmadd(B(vzero - l), vinv, log_lanes(e));
        if (used) {
            for (int j = 0; j < m; ++j) mbuf[j] = used[i0 + j] ? 1.0f : 0.0f;
            for (int j = m; j < W; ++j) mbuf[j] = 1.0f;
            k = xsimd::select(B::load_aligned(mbuf) != vzero, vinf, k);
        }
        const auto lt = k < best;
        best = xsimd::select(lt, k, best);
        best_index = xsimd::select(lt, index, best_index);
        index = index + B(static_cast<float>(W));
        counter = counter + BU(static_cast<std::uint32_t>(W));
    }
    return lane_argmin(best, best_index);
}

/// log softmax_{unmasked}(logits * inv_tau)[y] in double.
template <class T>
inline double masked_log_softmax(const T* logits, int n, const std::uint8_t* used, float inv_tau, int y) noexcept {
    const double inv = static_cast<double>(inv_tau);
    double mx = -inf_d;
    for (int i = 0; i < n; ++i)
        if (!(used && used[i])) mx = std::max(mx, static_cast<double>(static_cast<float>(logits[i])) * inv);
    double s = 0.0;
    for (int i = 0; i < n; ++i)
        if (!(used && used[i])) s += std::exp(static_cast<double>(static_cast<float>(logits[i])) * inv - mx);
    return static_cast<double>(static_cast<float>(logits[y])) * inv - mx - std::log(s);
}

}  // namespace detail

/// Sample one candidate from softmax(logits * inv_tau) over the items with used[i] == 0 (used may
/// be null: nothing masked), with uniforms counter_base + i. The AR teacher's sampling step.
/// Throws input_error on bad arguments or when no candidate is available.
template <class T>
int gumbel_argmax(const T* logits, int n, const std::uint8_t* used, float inv_tau, counter_key key,
                  std::uint32_t counter_base) {
    detail::check_row_args(logits, n, inv_tau, "gumbel_argmax");
    const int i = detail::argmax_row_simd(logits, n, used, inv_tau, key, counter_base);
    if (i < 0) ::dualrerank::detail::throw_input("gumbel_argmax: every candidate is used or has logit -inf");
    return i;
}

/// Scalar reference of gumbel_argmax (same uniforms, same arithmetic, same result).
template <class T>
int gumbel_argmax_scalar(const T* logits, int n, const std::uint8_t* used, float inv_tau, counter_key key,
                         std::uint32_t counter_base) {
    detail::check_row_args(logits, n, inv_tau, "gumbel_argmax_scalar");
    const int i = detail::argmax_row_scalar(logits, n, used, inv_tau, key, counter_base);
    if (i < 0) ::dualrerank::detail::throw_input("gumbel_argmax_scalar: every candidate is used or has logit -inf");
    return i;
}

/// gumbel_argmax plus the chosen item's log-probability (double) under the masked softmax.
template <class T>
gumbel_pick gumbel_sample(const T* logits, int n, const std::uint8_t* used, float inv_tau, counter_key key,
                          std::uint32_t counter_base) {
    gumbel_pick p;
    p.index = gumbel_argmax(logits, n, used, inv_tau, key, counter_base);
    p.log_prob = detail::masked_log_softmax(logits, n, used, inv_tau, p.index);
    return p;
}

// ---- K slates of L slots -----------------------------------------------------------------------

namespace detail {

/// Per-call tables shared by all K slates (and by the scalar and SIMD paths).
template <class T>
struct slate_tables {
    const T* Z = nullptr;
    std::ptrdiff_t ldz = 0;
    int L = 0, N = 0;
    std::size_t npad = 0;
    double inv_tau = 1.0;
    float tau = 1.0f;                 // log form noise scale
    float* scale = nullptr;           // [L x npad]: product form exp(c_t - s), log form max Z_t - Z; +inf pads
    std::uint8_t* log_form = nullptr; // [L]
    double* zmax = nullptr;           // [L] max finite logit of row t
    double* ex = nullptr;             // [L x npad] exp(s - c_t) (null when log-probs are not wanted)
    double* total = nullptr;          // [L] sum of ex over the row
    const T* row(int t) const noexcept { return Z + static_cast<std::ptrdiff_t>(t) * ldz; }
};

template <class T>
inline void check_slate_args(const T* Z, int L, int N, std::ptrdiff_t ldz, double tau, int K, const int* slates,
                             const char* fn) {
    using ::dualrerank::detail::throw_input;
    const std::string f(fn);
    if (N < 1 || N >= max_candidates) throw_input(f + ": N must be in [1, 2^24), got " + std::to_string(N));
    if (L < 1 || L > N)
        throw_input(f + ": L must be in [1, N] (N = " + std::to_string(N) + "), got " + std::to_string(L));
    if (K < 0) throw_input(f + ": K must be >= 0, got " + std::to_string(K));
    if (ldz != 0 && ldz < N)
        throw_input(f + ": ldz must be 0 (one shared row) or >= N, got " + std::to_string(ldz));
    check_temperature(tau, fn);
    if (!Z) throw_input(f + ": Z is null");
    if (K > 0 && !slates) throw_input(f + ": slates is null");
    const std::uint64_t draws = static_cast<std::uint64_t>(K) * static_cast<std::uint64_t>(L) * static_cast<std::uint64_t>(N);
    if (draws > (std::uint64_t(1) << 32))
        throw_input(f + ": K * L * N = " + std::to_string(draws) + " exceeds the 2^32 counters of one key");
}

/// Largest and smallest finite value and finite count of a row; `bad` if it holds NaN or +inf.
struct row_range {
    double max = -inf_d, min = inf_d;
    int finite = 0;
    bool bad = false;
};

template <class T>
inline row_range scan_row(const T* z, int n) noexcept {
    using BT = xsimd::batch<T>;
    constexpr int W = static_cast<int>(BT::size);
    constexpr T inf = std::numeric_limits<T>::infinity();
    BT mx(-inf), mn(inf), count(T(0));
    auto bad = BT(T(0)) != BT(T(0));
    int i = 0;
    for (; i + W <= n; i += W) {
        const BT v = BT::load_unaligned(z + i);
        bad = bad | (v != v) | (v == BT(inf));
        const auto finite = v != BT(-inf);
        mx = xsimd::max(mx, v);
        mn = xsimd::min(mn, xsimd::select(finite, v, BT(inf)));
        count = count + xsimd::select(finite, BT(T(1)), BT(T(0)));
    }
    row_range r;
    r.bad = xsimd::any(bad);
    r.max = static_cast<double>(simd::reduce_max(mx));
    r.min = -static_cast<double>(simd::reduce_max(BT(-mn)));
    r.finite = static_cast<int>(simd::reduce_add(count));
    for (; i < n; ++i) {
        const double v = static_cast<double>(z[i]);
        r.bad = r.bad || std::isnan(v) || v == inf_d;
        if (v != -inf_d) {
            ++r.finite;
            r.max = std::max(r.max, v);
            r.min = std::min(r.min, v);
        }
    }
    return r;
}

/// Validate Z and build the per-call tables (identical for both paths).
template <class T>
inline slate_tables<T> prepare_slates(const T* Z, int L, int N, std::ptrdiff_t ldz, double tau, bool want_log_probs,
                                      workspace& ws, const char* fn) {
    using ::dualrerank::detail::throw_input;
    using BD = xsimd::batch<double>;
    constexpr std::size_t WD = BD::size;
    slate_tables<T> tb;
    tb.Z = Z;
    tb.ldz = ldz;
    tb.L = L;
    tb.N = N;
    tb.npad = padded(N);
    tb.inv_tau = 1.0 / tau;
    tb.tau = static_cast<float>(std::min(tau, 1e30));
    const std::size_t np = tb.npad;
    tb.scale = ws.alloc<float>(static_cast<std::size_t>(L) * np);
    tb.log_form = ws.alloc<std::uint8_t>(static_cast<std::size_t>(L));
    tb.zmax = ws.alloc<double>(static_cast<std::size_t>(L));
    double* d = ws.alloc<double>(np);
    double* ex = ws.alloc<double>(np);
    if (want_log_probs) {
        tb.ex = ws.alloc<double>(static_cast<std::size_t>(L) * np);
        tb.total = ws.alloc<double>(static_cast<std::size_t>(L));
    }
    for (int t = 0; t < L; ++t) {
        const T* z = tb.row(t);
        const row_range r = scan_row(z, N);
        if (r.bad)
            for (int i = 0; i < N; ++i) {
                const double v = static_cast<double>(z[i]);
                if (std::isnan(v) || v == inf_d)
                    throw_input(std::string(fn) + ": Z[" + std::to_string(t) + "][" + std::to_string(i) + "] is " +
                                (std::isnan(v) ? "NaN" : "+inf"));
            }
        const double mx = r.max, mn = r.min;
        const int finite = r.finite;
        if (finite < t + 1)
            throw_input(std::string(fn) + ": row " + std::to_string(t) + " of Z has " + std::to_string(finite) +
                        " finite logits, slot " + std::to_string(t) + " needs at least " + std::to_string(t + 1));
        tb.zmax[t] = mx;
        const bool log_form = !((mx - mn) * tb.inv_tau <= product_form_range);
        tb.log_form[t] = log_form ? 1 : 0;
        // d <= 0; -inf for masked logits and padding, hugely negative for a tiny tau: simd::exp_floored
        for (int i = 0; i < N; ++i) d[i] = (static_cast<double>(z[i]) - mx) * tb.inv_tau;
        for (std::size_t i = static_cast<std::size_t>(N); i < np; ++i) d[i] = -inf_d;
        float* sc = tb.scale + static_cast<std::size_t>(t) * np;
        if (!log_form || want_log_probs) {
            for (std::size_t i = 0; i < np; i += WD) simd::exp_floored(BD::load_aligned(d + i)).store_aligned(ex + i);
        }
        if (log_form) {
            for (int i = 0; i < N; ++i) {
                const double dz = tb.zmax[t] - static_cast<double>(z[i]);  // >= 0, +inf for -inf logits
                sc[i] = dz == inf_d ? inf_f : static_cast<float>(std::min(dz, 1e38));
            }
            for (std::size_t i = static_cast<std::size_t>(N); i < np; ++i) sc[i] = inf_f;
        } else {
            double* w = d;  // d is not needed any more: w = exp(-d) = 1 / exp(d), +inf where exp(d) = 0
            for (std::size_t i = 0; i < np; i += WD) (BD(1.0) / BD::load_aligned(ex + i)).store_aligned(w + i);
            for (std::size_t i = 0; i < np; ++i) sc[i] = static_cast<float>(w[i]);
        }
        if (want_log_probs) {
            double* er = tb.ex + static_cast<std::size_t>(t) * np;
            double s = 0.0;
            for (std::size_t i = 0; i < np; ++i) {
                er[i] = ex[i];
                s += ex[i];
            }
            tb.total[t] = s;
        }
    }
    return tb;
}

/// log pi(y) of one slate under the tables (shared by both paths, so their log-probs are identical).
/// `used` is N bytes of zeros on entry and on exit.
template <class T>
inline double slate_log_prob(const slate_tables<T>& tb, const int* y, std::uint8_t* used) noexcept {
    double sum = 0.0;   // sum of (s_y - c_t) minus the directly computed log-normalizers
    double prod = 1.0;  // product of the normalizers maintained by subtraction
    for (int t = 0; t < tb.L; ++t) {
        const T* z = tb.row(t);
        sum += (static_cast<double>(z[y[t]]) - tb.zmax[t]) * tb.inv_tau;
        const double* er = tb.ex + static_cast<std::size_t>(t) * tb.npad;
        double rem = tb.total[t];
        for (int j = 0; j < t; ++j) rem -= er[y[j]];
        if (rem > tb.total[t] * 0x1.0p-20) {
            prod *= rem;
            if (prod > 1e200 || prod < 1e-200) {
                sum -= std::log(prod);
                prod = 1.0;
            }
        } else {
            // The chosen items held almost all the mass: recompute the normalizer over the rest.
            double mx = -inf_d;
            for (int i = 0; i < tb.N; ++i)
                if (!used[i]) mx = std::max(mx, static_cast<double>(z[i]));
            double s = 0.0;
            for (int i = 0; i < tb.N; ++i)
                if (!used[i] && static_cast<double>(z[i]) != -inf_d)
                    s += std::exp((static_cast<double>(z[i]) - mx) * tb.inv_tau);
            sum -= (mx - tb.zmax[t]) * tb.inv_tau + std::log(s);
        }
        used[y[t]] = 1;
    }
    for (int t = 0; t < tb.L; ++t) used[y[t]] = 0;
    return sum - std::log(prod);
}

/// Scalar reference for one slot: argmin over the unmasked candidates, one at a time.
template <bool LogForm>
inline int slot_argmin_scalar(const float* scale, const std::uint8_t* used, int N, float tau, std::uint32_t base,
                              counter_key key) noexcept {
    float best = inf_f;
    int bi = -1;
    for (int i = 0; i < N; ++i) {
        if (used[i]) continue;
        const float e = exp_noise_from_bits<float>(counter_bits(key, base + static_cast<std::uint32_t>(i)));
        const float k = LogForm ? fmadd(log_lanes(e), tau, scale[i]) : e * scale[i];
        if (k < best) {
            best = k;
            bi = i;
        }
    }
    return bi;
}

/// SIMD, candidates in lanes (one slate at a time; used for the few slates left over when K is not
/// a multiple of the lane count). scale and mask are padded to a multiple of W (+inf scale in pads).
template <bool LogForm>
inline int slot_argmin_simd(const float* scale, const float* mask, std::size_t npad, float tau, std::uint32_t base,
                            counter_key key) noexcept {
    using B = xsimd::batch<float>;
    using BU = xsimd::batch<std::uint32_t>;
    constexpr std::size_t W = B::size;
    B best(inf_f), best_index(0.0f), index = lane_iota<B>();
    BU counter = BU(base) + lane_iota_u32<BU>();
    const BU step(static_cast<std::uint32_t>(W));
    const B fstep(static_cast<float>(W)), vtau(tau);
    for (std::size_t i0 = 0; i0 < npad; i0 += W) {
        const B e = exp_noise_from_bits<B>(counter_bits_lanes(counter, key.k0, key.k1));
        const B sc = B::load_aligned(scale + i0);
        const B m = B::load_aligned(mask + i0);
        const B k = LogForm ? B(fmadd(log_lanes(e), vtau, sc) + m) : fmadd(e, sc, m);
        const auto lt = k < best;
        best = xsimd::select(lt, k, best);
        best_index = xsimd::select(lt, index, best_index);
        index = index + fstep;
        counter = counter + step;
    }
    return lane_argmin(best, best_index);
}

/// SIMD, slates in lanes: lane j draws slate k0 + j, candidates one after another, so the running
/// argmin is per lane (no horizontal reduction). `lane_mask` is [N x W]: +inf where lane j has used
/// candidate i. Writes y for the `active` first lanes.
template <bool LogForm>
inline void slot_argmin_lanes(const float* scale, const float* lane_mask, int N, float tau,
                              const xsimd::batch<std::uint32_t>& counter0, counter_key key, float* out) noexcept {
    using B = xsimd::batch<float>;
    using BU = xsimd::batch<std::uint32_t>;
    constexpr std::size_t W = B::size;
    B best(inf_f), best_index(0.0f), index(0.0f);
    BU counter = counter0;
    const BU one(1u);
    const B fone(1.0f), vtau(tau);
    for (int i = 0; i < N; ++i) {
        const B e = exp_noise_from_bits<B>(counter_bits_lanes(counter, key.k0, key.k1));
        const B sc(scale[i]);
        const B m = B::load_aligned(lane_mask + static_cast<std::size_t>(i) * W);
        const B k = LogForm ? B(fmadd(log_lanes(e), vtau, sc) + m) : fmadd(e, sc, m);
        const auto lt = k < best;
        best = xsimd::select(lt, k, best);
        best_index = xsimd::select(lt, index, best_index);
        index = index + fone;
        counter = counter + one;
    }
    best_index.store_aligned(out);
}

/// Index of the lowest set bit of x != 0, and the number of set bits of x.
inline int lowest_bit(std::uint32_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctz(x);
#else
    int i = 0;
    for (; !(x & 1u); x >>= 1) ++i;
    return i;
#endif
}
inline int bit_count(std::uint32_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcount(x);
#else
    int c = 0;
    for (; x != 0; x &= x - 1) ++c;
    return c;
#endif
}

/// A product-form row's candidates in visiting order for the filtered kernel: finite logits only
/// (an item with logit -inf is never chosen, so its draw is skipped), likely winners first (three
/// tiers by exp(c - s), each in index order; the order never changes the result).
struct visit_order {
    int n = 0;                      // finite candidates
    int head = 0;                   // the first `head` are evaluated exactly without a test
    const std::uint32_t* index = nullptr;
    const float* index_f = nullptr;
    const float* w = nullptr;       // exp(c - s) of each
    const float* w_lb = nullptr;    // exp(c - s) * 2^-24 (for the lower bound)
};

/// Tier bounds of the visiting order, relative to the smallest w of the row.
inline constexpr float visit_tiers[] = {4.0f, 64.0f, inf_f};
inline constexpr int visit_tier_count = static_cast<int>(sizeof visit_tiers / sizeof visit_tiers[0]);

inline visit_order make_visit_order(const float* w, int N, workspace& ws) {
    using B = xsimd::batch<float>;
    constexpr std::size_t W = B::size;
    const std::size_t np = padded(N);  // w has np entries, +inf pads
    visit_order v;
    B vmin(inf_f), vcount(0.0f);
    for (std::size_t i = 0; i < np; i += W) {
        const B x = B::load_aligned(w + i);
        vmin = xsimd::min(vmin, x);
        vcount = vcount + xsimd::select(x != B(inf_f), B(1.0f), B(0.0f));
    }
    const float wmin = -simd::reduce_max(B(-vmin));
    v.n = static_cast<int>(simd::reduce_add(vcount));
    const std::size_t nv = static_cast<std::size_t>(v.n) + W;  // + W: whole-batch appends
    auto* idx = ws.alloc<std::uint32_t>(nv);
    auto* idf = ws.alloc<float>(nv);
    auto* wo = ws.alloc<float>(nv);
    auto* wl = ws.alloc<float>(nv);
    // Tiers, each in index order: w < 4 wmin (the likely winners), w < 64 wmin, the rest (finite).
    // Branch-free appends: AVX-512 compresses whole batches, elsewhere a scalar pass per tier with
    // unconditional stores.
    int pos = 0;
    for (int r = 0; r < visit_tier_count; ++r) {
        const float lo = r == 0 ? -inf_f : visit_tiers[r - 1] * wmin, hi = visit_tiers[r] * wmin;
#if defined(__AVX512F__)
        if constexpr (W == 16) {
            const __m512i step = _mm512_set1_epi32(16);
            __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            for (std::size_t i = 0; i < np; i += W) {
                const __m512 x = _mm512_load_ps(w + i);
                const __mmask16 in = _mm512_cmp_ps_mask(x, _mm512_set1_ps(lo), _CMP_GE_OQ) &
                                     _mm512_cmp_ps_mask(x, _mm512_set1_ps(hi), _CMP_LT_OQ);
                _mm512_storeu_si512(idx + pos, _mm512_maskz_compress_epi32(in, iota));
                _mm512_storeu_ps(wo + pos, _mm512_maskz_compress_ps(in, x));
                pos += bit_count(in);  // the mask fits 16 bits
                iota = _mm512_add_epi32(iota, step);
            }
            continue;
        }
#endif
        for (int i = 0; i < N; ++i) {
            idx[pos] = static_cast<std::uint32_t>(i);
            wo[pos] = w[i];
            pos += (w[i] >= lo && w[i] < hi) ? 1 : 0;
        }
    }
    for (std::size_t p = static_cast<std::size_t>(v.n); p < nv; ++p) {  // pads: never visited
        idx[p] = 0;
        wo[p] = inf_f;
    }
    for (std::size_t p = 0; p + W <= nv; p += W) {
        const B x = B::load_unaligned(wo + p);
        (x * B(0x1.0p-24f)).store_unaligned(wl + p);  // exact (w >= 1)
        to_float(as_signed(xsimd::batch<std::uint32_t>::load_unaligned(idx + p))).store_unaligned(idf + p);
    }
    for (std::size_t p = nv / W * W; p < nv; ++p) {
        wl[p] = wo[p] * 0x1.0p-24f;
        idf[p] = static_cast<float>(idx[p]);
    }
    v.index = idx;
    v.index_f = idf;
    v.w = wo;
    v.w_lb = wl;
    // Head: candidate p is a lane's new best with probability r = lambda_p / Lambda_p (exponential
    // race, lambda = 1 / w, Lambda_p the sum over the first p + 1, no masks), so some lane of W
    // needs its exact key with probability 1 - (1 - r)^W. While that is at least 1/2, i.e.
    // r >= 1 - 2^(-1/W), the bound would mostly pass anyway: evaluating exactly at once is cheaper
    // and keeps the thresholds fresh. The first candidate is always exact (r = 1).
    const float r_min = W == 16 ? 0.042397f : W == 8 ? 0.082996f : W == 4 ? 0.159104f : 1.0f - std::pow(0.5f, 1.0f / W);
    float* lam = ws.alloc<float>(nv);
    for (std::size_t p = 0; p + W <= nv; p += W)  // covers the first n (nv = n + W)
        (B(1.0f) / B::load_unaligned(wo + p)).store_unaligned(lam + p);
    float lam_sum = 0.0f;
    while (v.head < v.n) {
        const float l = lam[v.head];
        lam_sum += l;
        if (l < r_min * lam_sum) break;
        ++v.head;
    }
    return v;
}

/// (bk, bi) = the lexicographic minimum of (bk, bi) and (k, idx) in the lanes selected by m: a
/// smaller key, or an equal key and a smaller index, wins.
template <class B, class M>
inline void merge_lanes(B& bk, B& bi, const B& k, const B& idx, const M& m) noexcept {
    const auto lt = m & ((k < bk) | ((k == bk) & (idx < bi)));
    bk = xsimd::select(lt, k, bk);
    bi = xsimd::select(lt, idx, bi);
}

/// Candidates per round of the filtered kernel (see below); at most 32 (a bit mask).
inline constexpr int filtered_round = 32;

/// Slates in lanes, product form, with a cheap exact bound and deferred exact evaluation.
///
/// -log U >= 1 - U bounds every key from below: E w >= (1 - U) w, which costs a shift, a
/// conversion and a multiply instead of a log. Candidates are tested in rounds of
/// `filtered_round` against the lanes' best keys at the start of the round (times 1 + 2^-18,
/// covering the log's rounding; the tests check the bound over all 2^23 uniforms); the counter
/// words are kept and a bit records whether some lane passed. Then the exact keys of the
/// candidates that some lane passed are computed (independent logs, no data-dependent branch per
/// candidate) and merged into every lane: a lane that did not pass has an exact key above its
/// best, so it keeps its best; ties go to the smaller index. Thresholds within a round are stale,
/// i.e. larger: more candidates pass, never fewer, so the result equals the unfiltered argmin bit
/// for bit. Visiting likely candidates first makes the best keys small early.
inline void slot_argmin_lanes_filtered(const visit_order& v, const float* lane_mask,
                                       const xsimd::batch<std::uint32_t>& counter0, counter_key key,
                                       float* out) noexcept {
    using B = xsimd::batch<float>;
    using BU = xsimd::batch<std::uint32_t>;
    constexpr std::size_t W = B::size;
    const auto all = B(0.0f) == B(0.0f);
    auto mask_row = [&](std::uint32_t i) { return B::load_aligned(lane_mask + static_cast<std::size_t>(i) * W); };
    B best(inf_f), best_index(0.0f);
    for (int p = 0; p < v.head; ++p) {  // likely winners: exact, no test (see make_visit_order)
        const std::uint32_t i = v.index[p];
        const B e = exp_noise_from_bits<B>(counter_bits_lanes(BU(counter0 + BU(i)), key.k0, key.k1));
        merge_lanes(best, best_index, fmadd(e, B(v.w[p]), mask_row(i)), B(v.index_f[p]), all);
    }
    const B slack(1.0f + 0x1.0p-18f), big(std::numeric_limits<float>::max());
    constexpr int round = filtered_round;
    static_assert(round >= 1 && round <= 32, "one bit per candidate of a round");
    alignas(64) std::uint32_t nbits_of[round * W];  // ~counter words of the round's candidates
    // Exact key (E w, +inf where masked) of candidate p0 + j of the round, from its counter words.
    auto exact_key = [&](int p0, int j) {
        const B e = exp_noise_from_bits<B>(BU(~BU::load_aligned(nbits_of + static_cast<std::size_t>(j) * W)));
        return fmadd(e, B(v.w[p0 + j]), mask_row(v.index[p0 + j]));
    };
    auto run_round = [&](int p0, int c) DUALRERANK_SAMPLER_INLINE {
        // thr <= FLT_MAX: a masked lane (bound +inf) never passes, even before its first finite key.
        const B thr = xsimd::min(best * slack, big);
        std::uint32_t passed = 0;
        for (int j = 0; j < c; ++j) {
            const std::uint32_t i = v.index[p0 + j];
            const BU nbits = counter_bits_not_lanes(BU(counter0 + BU(i)), key.k0, key.k1);
            nbits.store_aligned(nbits_of + static_cast<std::size_t>(j) * W);
            // q = 2^24 - 1 - (bits >> 8) <= 2^24 - F (exact), so lb <= (1 - U) w (1 + 2^-24)
            const B lb = fmadd(to_float(as_signed(BU(nbits >> 8))), B(v.w_lb[p0 + j]), mask_row(i));
            passed |= static_cast<std::uint32_t>(xsimd::any(lb <= thr)) << j;
        }
        // Two accumulators halve the dependency chain of the merges (the minimum is associative).
        B best2(inf_f), best_index2(inf_f);
        while (passed != 0) {
            const int j0 = lowest_bit(passed);
            passed &= passed - 1;
            merge_lanes(best, best_index, exact_key(p0, j0), B(v.index_f[p0 + j0]), all);
            if (passed == 0) break;
            const int j1 = lowest_bit(passed);
            passed &= passed - 1;
            merge_lanes(best2, best_index2, exact_key(p0, j1), B(v.index_f[p0 + j1]), all);
        }
        merge_lanes(best, best_index, best2, best_index2, all);
    };
    int p0 = v.head;
    for (; p0 + round <= v.n; p0 += round) run_round(p0, round);
    if (p0 < v.n) run_round(p0, v.n - p0);
    best_index.store_aligned(out);
}

/// Which slates-in-lanes kernel product-form rows use (automatic: the filtered one; tests force
/// each; results are identical).
enum class lanes_kernel { automatic, plain, filtered };

template <bool Simd, class T>
inline void sample_slates_impl(const T* Z, int L, int N, std::ptrdiff_t ldz, double tau, counter_key key,
                               std::uint32_t counter_base, int K, int* slates, T* log_probs, workspace& ws,
                               const char* fn, lanes_kernel policy = lanes_kernel::automatic) {
    using B = xsimd::batch<float>;
    using BU = xsimd::batch<std::uint32_t>;
    constexpr int W = static_cast<int>(B::size);
    check_slate_args(Z, L, N, ldz, tau, K, slates, fn);
    if (K == 0) return;
    const slate_tables<T> tb = prepare_slates(Z, L, N, ldz, tau, log_probs != nullptr, ws, fn);
    const std::size_t np = tb.npad;
    std::uint8_t* used = ws.alloc<std::uint8_t>(static_cast<std::size_t>(N));
    std::fill(used, used + N, std::uint8_t(0));
    auto scale_row = [&](int t) { return tb.scale + static_cast<std::size_t>(t) * np; };

    int k = 0;
    if (Simd && K >= W / 2) {
        // Full groups of W slates (and a last group if at least half full): slates in lanes.
        float* lane_mask = ws.alloc<float>(static_cast<std::size_t>(N) * W);
        std::fill(lane_mask, lane_mask + static_cast<std::size_t>(N) * W, 0.0f);
        alignas(64) float picked[W];
        visit_order* order = ws.alloc<visit_order>(static_cast<std::size_t>(L));
        for (int t = 0; t < L; ++t)
            new (order + t) visit_order(tb.log_form[t] ? visit_order{} : make_visit_order(scale_row(t), N, ws));
        const std::uint32_t slate_stride = static_cast<std::uint32_t>(static_cast<std::uint64_t>(L) * N);
        for (; K - k >= W / 2; k += W) {
            const int active = std::min(W, K - k);
            // counter of (slate k + j, slot 0, candidate 0), mod 2^32
            const BU c0 = BU(slot_counter(counter_base, k, 0, L, N)) + lane_iota_u32<BU>() * BU(slate_stride);
            for (int t = 0; t < L; ++t) {
                const BU ct = c0 + BU(static_cast<std::uint32_t>(static_cast<std::uint64_t>(t) * N));
                if (tb.log_form[t])
                    slot_argmin_lanes<true>(scale_row(t), lane_mask, N, tb.tau, ct, key, picked);
                else if (policy != lanes_kernel::plain)
                    slot_argmin_lanes_filtered(order[t], lane_mask, ct, key, picked);
                else
                    slot_argmin_lanes<false>(scale_row(t), lane_mask, N, tb.tau, ct, key, picked);
                for (int j = 0; j < active; ++j) {
                    const int y = static_cast<int>(picked[j]);
                    slates[static_cast<std::ptrdiff_t>(k + j) * L + t] = y;
                    lane_mask[static_cast<std::size_t>(y) * W + j] = inf_f;
                }
            }
            for (int j = 0; j < active; ++j)
                for (int t = 0; t < L; ++t)
                    lane_mask[static_cast<std::size_t>(slates[static_cast<std::ptrdiff_t>(k + j) * L + t]) * W + j] = 0.0f;
        }
    }
    float* mask = nullptr;
    if (Simd && k < K) {
        mask = ws.alloc<float>(np);
        std::fill(mask, mask + np, 0.0f);
    }
    for (; k < K; ++k) {
        // One slate at a time: the scalar reference, or SIMD with candidates in lanes.
        int* y = slates + static_cast<std::ptrdiff_t>(k) * L;
        for (int t = 0; t < L; ++t) {
            const std::uint32_t base = slot_counter(counter_base, k, t, L, N);
            int i;
            if (Simd)
                i = tb.log_form[t] ? slot_argmin_simd<true>(scale_row(t), mask, np, tb.tau, base, key)
                                   : slot_argmin_simd<false>(scale_row(t), mask, np, tb.tau, base, key);
            else
                i = tb.log_form[t] ? slot_argmin_scalar<true>(scale_row(t), used, N, tb.tau, base, key)
                                   : slot_argmin_scalar<false>(scale_row(t), used, N, tb.tau, base, key);
            y[t] = i;  // never -1: row t has >= t + 1 finite logits and only t are masked
            if (Simd)
                mask[i] = inf_f;
            else
                used[i] = 1;
        }
        for (int t = 0; t < L; ++t) {
            if (Simd)
                mask[y[t]] = 0.0f;
            else
                used[y[t]] = 0;
        }
    }
    if (log_probs)
        for (int s = 0; s < K; ++s)
            log_probs[s] = static_cast<T>(slate_log_prob(tb, slates + static_cast<std::ptrdiff_t>(s) * L, used));
}

}  // namespace detail

/// Draw K slates of L slots over N candidates from the slot logits Z [L x N] (row t at Z + t * ldz;
/// ldz = 0 means one shared row, i.e. Plackett-Luce) at temperature tau, with the counter layout
/// documented at the top of this file. Writes slates [K x L] (candidate indices, row-major) and,
/// unless log_probs is null, log pi(y) [K]. Scratch comes from ws (about 12 L N bytes; ws is not
/// reset). Throws input_error on bad arguments.
template <class T>
void sample_slates(const T* Z, int L, int N, std::ptrdiff_t ldz, double tau, counter_key key,
                   std::uint32_t counter_base, int K, int* slates, T* log_probs, workspace& ws) {
    static_assert(std::is_floating_point<T>::value, "logits must be float or double");
    detail::sample_slates_impl<true>(Z, L, N, ldz, tau, key, counter_base, K, slates, log_probs, ws, "sample_slates");
}

/// Scalar reference of sample_slates: identical slates and log-probs.
template <class T>
void sample_slates_scalar(const T* Z, int L, int N, std::ptrdiff_t ldz, double tau, counter_key key,
                          std::uint32_t counter_base, int K, int* slates, T* log_probs, workspace& ws) {
    static_assert(std::is_floating_point<T>::value, "logits must be float or double");
    detail::sample_slates_impl<false>(Z, L, N, ldz, tau, key, counter_base, K, slates, log_probs, ws,
                                      "sample_slates_scalar");
}

/// sample_slates with a private per-thread workspace (reset on every call; no allocation after the
/// largest shape has been seen once).
template <class T>
void sample_slates(const T* Z, int L, int N, std::ptrdiff_t ldz, double tau, counter_key key,
                   std::uint32_t counter_base, int K, int* slates, T* log_probs) {
    thread_local workspace ws;
    ws.reset();
    sample_slates(Z, L, N, ldz, tau, key, counter_base, K, slates, log_probs, ws);
}

}  // namespace decode
DUALRERANK_NAMESPACE_END

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
