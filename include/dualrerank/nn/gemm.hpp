// Allocation-free row-major GEMM kernels for the small shapes of the models.
//
//   gemm_nn: C[m x n] = beta * C + alpha * A[m x k]   * B[k x n]
//   gemm_nt: C[m x n] = beta * C + alpha * A[m x k]   * B^T,  B stored [n x k]   (y = x W^T, Q K^T)
//   gemm_tn: C[m x n] = beta * C + alpha * A^T * B[k x n],    A stored [k x m]   (dW += dY^T X)
//
// All matrices are row-major with leading dimensions (lda, ldb, ldc >= the row width). The
// functions are noexcept, never allocate (the only scratch is a bounded packing buffer of 32 KB
// on the stack) and keep no mutable static state, so any number of threads may call them at once.
// BLAS conventions: beta == 0 never reads C (NaN garbage is overwritten), alpha == 0 never reads A
// or B, k == 0 gives C = beta * C, m == 0 or n == 0 does nothing. Leading dimensions are checked
// by assert (debug builds) only; C must not alias A or B.
//
// Design (Goto/BLIS style, reduced to what our shapes need):
//   * op(B) is cut into column panels of NR = NV * W columns (W = SIMD width; NV <= 4 vectors with
//     32 vector registers, NV <= 2 with 16) and into blocks of KC = 128 rows along k (AVX-512).
//     gemm_nt packs each block into the stack buffer as [KC][NR], transposing W x W blocks in
//     registers; gemm_nn and gemm_tn read full-width panels of B in place (rows of B are already
//     contiguous) and pack only a ragged last panel, zero-padded to whole vectors, so B is never
//     read past its end.
//   * The micro-kernel keeps an MR x NV tile of C in vector registers (6 x 4 with AVX-512: 24
//     accumulators), streams k, loads NV vectors of the panel and broadcasts one element of A per
//     row and step (rows of A for nn/nt; for tn the MR elements are contiguous in a row of the
//     stored A). The rows are split into tiles of nearly equal height (50 = 5 x 6 + 4 x 5, not
//     8 x 6 + 2), each run by the kernel instantiated for exactly that many rows. The last,
//     partial vector of a row of C is written with masked stores.
//   * gemm_nt with few rows (one decoding step, beams, slots) skips the packing, which would cost
//     more than the product: each C element is a dot product of two contiguous rows, computed for
//     an MR x NR tile of them (MR * NR = W accumulators along k) and summed horizontally W at a
//     time by one shuffle tree. nt_use_dot() holds the measured crossover.
//   * Transposes, the horizontal-sum tree, masked loads/stores and lane shifts use the compiler's
//     x86 intrinsics for the instruction set xsimd selected (AVX-512, AVX, SSE2), with portable
//     scalar fallbacks elsewhere: xsimd 8.1 .. 13 has no stable API for them (zip_lo/zip_hi changed
//     meaning on AVX-512 between versions, haddp and masked stores come and go). The arithmetic
//     itself is xsimd::batch<T> on the default architecture, as everywhere else.
// Dispatch is at compile time: the header uses what the including translation unit's -m flags
// enable; without any (x86-64 baseline) that is SSE2.
#pragma once

#include "../core/xsimd_include.hpp"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <immintrin.h>
#define DUALRERANK_GEMM_X86 1
#endif

#include "../core/simd.hpp"
#include "../version.hpp"

// GCC 12.2 (Debian bookworm) reports -Wuninitialized inside its own AVX-512 intrinsics (the
// `__Y = __Y` idiom of _mm512_undefined_*, GCC bug 105593, fixed in 12.3) wherever they inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

DUALRERANK_NAMESPACE_BEGIN
namespace nn {
namespace detail {
namespace gemm {

// Small helpers that take batches must be inlined, or the accumulators they touch get spilled.
#if defined(__GNUC__) || defined(__clang__)
#define DUALRERANK_GEMM_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define DUALRERANK_GEMM_INLINE __forceinline
#else
#define DUALRERANK_GEMM_INLINE inline
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define DUALRERANK_GEMM_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define DUALRERANK_GEMM_UNROLL _Pragma("unroll")
#else
#define DUALRERANK_GEMM_UNROLL
#endif

using index = std::ptrdiff_t;

/// Blocking parameters, all compile-time functions of T and the SIMD width xsimd selected.
template <class T>
struct config {
    using batch = xsimd::batch<T>;
    static constexpr int W = int(batch::size);
    /// Vector registers of the target: 32 with AVX-512 (64-byte batches), 16 otherwise.
    static constexpr int regs = (W * sizeof(T) >= 64) ? 32 : 16;
    static constexpr int nv_max = regs >= 32 ? 4 : 2;
    static constexpr int nr = nv_max * W;  ///< widest panel, in columns
    static constexpr std::size_t pack_bytes = 32 * 1024;
    static constexpr int kc_fit = int(pack_bytes / (sizeof(T) * std::size_t(nr)));
    static constexpr int kc = kc_fit < 256 ? kc_fit : 256;  ///< rows of op(B) per packed block
    /// Rows of the micro-kernel for a panel of nv vectors: MR * nv accumulators plus nv panel
    /// vectors and a broadcast must fit the registers, and MR * nv >= 8 hides the FMA latency.
    static constexpr int mr(int nv) { return regs >= 32 ? (nv == 4 ? 6 : 8) : (nv == 2 ? 6 : 8); }
};

// ------------------------------------------------------------------------------------------------
// C tile update: c = alpha * acc + beta * c (beta == 0: c is not read).

enum class beta_mode { zero, one, general };

template <class T>
inline beta_mode classify(T beta) noexcept {
    return beta == T(0) ? beta_mode::zero : beta == T(1) ? beta_mode::one : beta_mode::general;
}

template <class T, class B>
DUALRERANK_GEMM_INLINE void update_vector(T* c, B acc, B alpha, B beta, beta_mode mode) noexcept {
    switch (mode) {
        case beta_mode::zero: (alpha * acc).store_unaligned(c); break;
        case beta_mode::one: xsimd::fma(alpha, acc, B::load_unaligned(c)).store_unaligned(c); break;
        default: xsimd::fma(alpha, acc, beta * B::load_unaligned(c)).store_unaligned(c); break;
    }
}

// Partial vectors: the first cnt (0 < cnt < W) lanes of a batch to or from memory. A vector store
// to a stack buffer followed by scalar reloads stalls on store-to-load forwarding, which cost more
// than the whole k loop of a small tile; so use masked or narrow moves where the ISA has them.

template <class T>
DUALRERANK_GEMM_INLINE xsimd::batch<T> load_partial(const T* p, int cnt) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX512F__)
    if constexpr (W * sizeof(T) == 64) {
        if constexpr (std::is_same<T, float>::value)
            return B(_mm512_maskz_loadu_ps(__mmask16((1u << cnt) - 1u), p));
        else
            return B(_mm512_maskz_loadu_pd(__mmask8((1u << cnt) - 1u), p));
    }
#endif
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX__)
    if constexpr (W * sizeof(T) == 32) {
        alignas(32) static constexpr std::int32_t mask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
        if constexpr (std::is_same<T, float>::value) {
            return B(_mm256_maskload_ps(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask32 + 8 - cnt))));
        } else {
            return B(_mm256_maskload_pd(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask32 + 8 - 2 * cnt))));
        }
    }
#endif
#if defined(DUALRERANK_GEMM_X86)
    if constexpr (W * sizeof(T) == 16) {
        if constexpr (std::is_same<T, float>::value) {
            if (cnt == 1) return B(_mm_load_ss(p));
            const __m128 lo = _mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(p));
            return B(cnt == 2 ? lo : _mm_movelh_ps(lo, _mm_load_ss(p + 2)));
        } else {
            return B(_mm_load_sd(p));
        }
    }
#endif
    alignas(64) T tmp[W] = {};
    for (int j = 0; j < cnt; ++j) tmp[j] = p[j];
    return B::load_aligned(tmp);
}

template <class T>
DUALRERANK_GEMM_INLINE void store_partial(T* p, xsimd::batch<T> v, int cnt) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX512F__)
    if constexpr (W * sizeof(T) == 64) {
        if constexpr (std::is_same<T, float>::value)
            _mm512_mask_storeu_ps(p, __mmask16((1u << cnt) - 1u), v);
        else
            _mm512_mask_storeu_pd(p, __mmask8((1u << cnt) - 1u), v);
        return;
    }
#endif
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX__)
    if constexpr (W * sizeof(T) == 32) {
        alignas(32) static constexpr std::int32_t mask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
        if constexpr (std::is_same<T, float>::value)
            _mm256_maskstore_ps(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask32 + 8 - cnt)), v);
        else
            _mm256_maskstore_pd(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask32 + 8 - 2 * cnt)), v);
        return;
    }
#endif
#if defined(DUALRERANK_GEMM_X86)
    if constexpr (W * sizeof(T) == 16) {
        if constexpr (std::is_same<T, float>::value) {
            __m128 x = v;
            if (cnt >= 2) {
                _mm_storel_pi(reinterpret_cast<__m64*>(p), x);
                x = _mm_movehl_ps(x, x);
                p += 2;
            }
            if (cnt & 1) _mm_store_ss(p, x);
        } else {
            _mm_store_sd(p, v);
        }
        return;
    }
#endif
    alignas(64) T tmp[W];
    v.store_aligned(tmp);
    for (int j = 0; j < cnt; ++j) p[j] = tmp[j];
}

/// Lanes [lanes, W) of v moved down to [0, W - lanes); lanes is a multiple of W / 4 (AVX-512) or
/// 0 or W / 2 (narrower). The upper lanes of the result are unspecified.
template <class T>
DUALRERANK_GEMM_INLINE xsimd::batch<T> shift_down(xsimd::batch<T> v, int lanes) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    if (lanes == 0) return v;
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX512F__)
    if constexpr (W * sizeof(T) == 64) {
        if constexpr (std::is_same<T, float>::value) {
            const __m512i idx = _mm512_add_epi32(
                _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(lanes));
            return B(_mm512_permutexvar_ps(_mm512_and_si512(idx, _mm512_set1_epi32(15)), v));
        } else {
            const __m512i idx =
                _mm512_add_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64(lanes));
            return B(_mm512_permutexvar_pd(_mm512_and_si512(idx, _mm512_set1_epi64(7)), v));
        }
    }
#endif
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX__)
    if constexpr (W * sizeof(T) == 32) {
        if constexpr (std::is_same<T, float>::value)
            return B(_mm256_permute2f128_ps(v, v, 0x01));
        else
            return B(_mm256_permute2f128_pd(v, v, 0x01));
    }
#endif
#if defined(DUALRERANK_GEMM_X86)
    if constexpr (W * sizeof(T) == 16) {
        if constexpr (std::is_same<T, float>::value)
            return B(_mm_movehl_ps(v, v));
        else
            return B(_mm_unpackhi_pd(v, v));
    }
#endif
    alignas(64) T tmp[2 * W] = {};
    v.store_aligned(tmp);
    return B::load_unaligned(tmp + lanes);
}

/// update_vector for the first `cnt` < W lanes only (c[cnt..W) is never touched).
template <class T, class B>
DUALRERANK_GEMM_INLINE void update_partial(T* c, B acc, B alpha, B beta, beta_mode mode, int cnt) noexcept {
    switch (mode) {
        case beta_mode::zero: store_partial<T>(c, alpha * acc, cnt); break;
        case beta_mode::one: store_partial<T>(c, xsimd::fma(alpha, acc, load_partial<T>(c, cnt)), cnt); break;
        default: store_partial<T>(c, xsimd::fma(alpha, acc, beta * load_partial<T>(c, cnt)), cnt); break;
    }
}

/// Keeps a loaded vector in a register: without this GCC folds the load into every FMA that uses
/// it (a memory operand each time), which makes the dot-product tiles load-bound.
template <class B>
DUALRERANK_GEMM_INLINE B pin(B x) noexcept {
#if defined(__GNUC__) && defined(DUALRERANK_GEMM_X86)
    typename B::register_type r = x;
#if defined(__AVX512F__)
    __asm__("" : "+v"(r));
#else
    __asm__("" : "+x"(r));
#endif
    return B(r);
#else
    return x;
#endif
}

// ------------------------------------------------------------------------------------------------
// Micro-kernel: C[MR x ncols] (= or +=) alpha * sum_{p < kc} a(i, p) * b[p * ldb + j].
// a(i, p) = a[i * lda + p] (AT == false: rows of A) or a[p * lda + i] (AT == true: A stored
// transposed, as in gemm_tn). b holds NV full vectors per row (packed and zero-padded, or a
// full-width panel of B in place); ncols <= NV * W columns of C are written.

template <class T, int MR, int NV, bool AT>
inline void micro_kernel(int kc, const T* a, index lda, const T* b, index ldb, T* c, index ldc, int ncols, T alpha,
                         T beta, beta_mode mode) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
    B acc[MR][NV];
    DUALRERANK_GEMM_UNROLL
    for (int i = 0; i < MR; ++i) {
        DUALRERANK_GEMM_UNROLL
        for (int v = 0; v < NV; ++v) acc[i][v] = B(T(0));
    }
    if (AT) {
        for (int p = 0; p < kc; ++p) {
            const T* bp = b + p * ldb;
            const T* ap = a + p * lda;
            B bv[NV];
            DUALRERANK_GEMM_UNROLL
            for (int v = 0; v < NV; ++v) bv[v] = pin(B::load_unaligned(bp + v * W));
            DUALRERANK_GEMM_UNROLL
            for (int i = 0; i < MR; ++i) {
                const B ai(ap[i]);
                DUALRERANK_GEMM_UNROLL
                for (int v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
            }
        }
    } else {
        const T* ar[MR];
        DUALRERANK_GEMM_UNROLL
        for (int i = 0; i < MR; ++i) ar[i] = a + i * lda;
        for (int p = 0; p < kc; ++p) {
            const T* bp = b + p * ldb;
            B bv[NV];
            DUALRERANK_GEMM_UNROLL
            for (int v = 0; v < NV; ++v) bv[v] = pin(B::load_unaligned(bp + v * W));
            DUALRERANK_GEMM_UNROLL
            for (int i = 0; i < MR; ++i) {
                const B ai(ar[i][p]);
                DUALRERANK_GEMM_UNROLL
                for (int v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
            }
        }
    }
    const B va(alpha), vb(beta);
    if (ncols == NV * W) {
        DUALRERANK_GEMM_UNROLL
        for (int i = 0; i < MR; ++i) {
            DUALRERANK_GEMM_UNROLL
            for (int v = 0; v < NV; ++v) update_vector(c + i * ldc + v * W, acc[i][v], va, vb, mode);
        }
    } else {
        const int full = ncols / W, rest = ncols - full * W;
        DUALRERANK_GEMM_UNROLL
        for (int i = 0; i < MR; ++i) {
            DUALRERANK_GEMM_UNROLL
            for (int v = 0; v < NV; ++v) {
                if (v < full)
                    update_vector(c + i * ldc + v * W, acc[i][v], va, vb, mode);
                else if (v == full && rest > 0)
                    update_partial(c + i * ldc + v * W, acc[i][v], va, vb, mode, rest);
            }
        }
    }
}

/// Row tails: rows < MR, dispatched to the kernel instantiated for exactly that many rows.
template <class T, int R, int NV, bool AT>
inline void micro_kernel_rows(int rows, int kc, const T* a, index lda, const T* b, index ldb, T* c, index ldc,
                              int ncols, T alpha, T beta, beta_mode mode) noexcept {
    if constexpr (R >= 1) {
        if (rows == R)
            micro_kernel<T, R, NV, AT>(kc, a, lda, b, ldb, c, ldc, ncols, alpha, beta, mode);
        else
            micro_kernel_rows<T, R - 1, NV, AT>(rows, kc, a, lda, b, ldb, c, ldc, ncols, alpha, beta, mode);
    }
}

/// All rows of C against one panel block: b is [kc][>= NV * W] with row stride ldb.
template <class T, int NV, bool AT>
inline void panel(int m, int kc, const T* a, index lda, const T* b, index ldb, T* c, index ldc, int ncols, T alpha,
                  T beta) noexcept {
    constexpr int MR = config<T>::mr(NV);
    const beta_mode mode = classify(beta);
    // Row i of op(A) starts at a + i * lda (A rows) or a + i (A stored transposed).
    const index rs = AT ? 1 : lda;
    // Balanced split: ceil(m / MR) tiles of nearly equal height (50 rows = 6 x 6 + 2 x 7 would
    // leave a 2-row tile with too few accumulators; 5 x 6 + 4 x 5 keeps every tile busy).
    const int tiles = (m + MR - 1) / MR, base = m / tiles, extra = m % tiles;
    int i = 0;
    for (int t = 0; t < tiles; ++t) {
        const int rows = base + (t < extra ? 1 : 0);
        if (rows == MR)
            micro_kernel<T, MR, NV, AT>(kc, a + i * rs, lda, b, ldb, c + i * ldc, ldc, ncols, alpha, beta, mode);
        else
            micro_kernel_rows<T, MR - 1, NV, AT>(rows, kc, a + i * rs, lda, b, ldb, c + i * ldc, ldc, ncols, alpha,
                                                 beta, mode);
        i += rows;
    }
}

template <class T, bool AT>
inline void panel_nv(int nv, int m, int kc, const T* a, index lda, const T* b, index ldb, T* c, index ldc, int ncols,
                     T alpha, T beta) noexcept {
    switch (nv) {
        case 1: panel<T, 1, AT>(m, kc, a, lda, b, ldb, c, ldc, ncols, alpha, beta); break;
        case 2: panel<T, 2, AT>(m, kc, a, lda, b, ldb, c, ldc, ncols, alpha, beta); break;
        default:
            if constexpr (config<T>::nv_max >= 3) {
                if (nv == 3) {
                    panel<T, 3, AT>(m, kc, a, lda, b, ldb, c, ldc, ncols, alpha, beta);
                    break;
                }
            }
            if constexpr (config<T>::nv_max >= 4) panel<T, 4, AT>(m, kc, a, lda, b, ldb, c, ldc, ncols, alpha, beta);
            break;
    }
}

// ------------------------------------------------------------------------------------------------
// Packing of op(B) blocks into dst[kc][ldd] (ldd = padded panel width, a multiple of W).

/// Rows of B as they are: dst[p][j] = B[p * ldb + j] for j < ncols, zero up to ldd.
template <class T>
inline void pack_rows(int kc, int ncols, int ldd, const T* b, index ldb, T* dst) noexcept {
    for (int p = 0; p < kc; ++p) {
        const T* src = b + p * ldb;
        T* d = dst + index(p) * ldd;
        for (int j = 0; j < ncols; ++j) d[j] = src[j];
        for (int j = ncols; j < ldd; ++j) d[j] = T(0);
    }
}

/// Transposes one W x W block: rows r[j] (j < W, W contiguous values each, along k) become
/// dst[p * ldd + j] (p < W). `rows_valid` rows are read; the others count as zero.
template <class T>
inline void transpose_block(const T* const* r, int rows_valid, T* dst, index ldd) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX512F__)
    if constexpr (W * sizeof(T) == 64) {
        if constexpr (std::is_same<T, float>::value) {
            __m512 x[16];
            DUALRERANK_GEMM_UNROLL
            for (int j = 0; j < 16; ++j) x[j] = j < rows_valid ? _mm512_loadu_ps(r[j]) : _mm512_setzero_ps();
            // Transpose 4x4 within each 128-bit lane for each group of 4 rows ...
            __m512 u[16];
            DUALRERANK_GEMM_UNROLL
            for (int g = 0; g < 4; ++g) {
                const __m512 t0 = _mm512_unpacklo_ps(x[4 * g], x[4 * g + 1]);
                const __m512 t1 = _mm512_unpackhi_ps(x[4 * g], x[4 * g + 1]);
                const __m512 t2 = _mm512_unpacklo_ps(x[4 * g + 2], x[4 * g + 3]);
                const __m512 t3 = _mm512_unpackhi_ps(x[4 * g + 2], x[4 * g + 3]);
                u[4 * g + 0] = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
                u[4 * g + 1] = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
                u[4 * g + 2] = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
                u[4 * g + 3] = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            }
            // ... then the 4x4 grid of 128-bit lanes: u[4g + c] lane L holds column 4L + c, rows 4g..4g+3.
            DUALRERANK_GEMM_UNROLL
            for (int cc = 0; cc < 4; ++cc) {
                const __m512 y0 = _mm512_shuffle_f32x4(u[cc], u[4 + cc], _MM_SHUFFLE(1, 0, 1, 0));
                const __m512 y1 = _mm512_shuffle_f32x4(u[cc], u[4 + cc], _MM_SHUFFLE(3, 2, 3, 2));
                const __m512 y2 = _mm512_shuffle_f32x4(u[8 + cc], u[12 + cc], _MM_SHUFFLE(1, 0, 1, 0));
                const __m512 y3 = _mm512_shuffle_f32x4(u[8 + cc], u[12 + cc], _MM_SHUFFLE(3, 2, 3, 2));
                _mm512_storeu_ps(dst + (0 + cc) * ldd, _mm512_shuffle_f32x4(y0, y2, _MM_SHUFFLE(2, 0, 2, 0)));
                _mm512_storeu_ps(dst + (4 + cc) * ldd, _mm512_shuffle_f32x4(y0, y2, _MM_SHUFFLE(3, 1, 3, 1)));
                _mm512_storeu_ps(dst + (8 + cc) * ldd, _mm512_shuffle_f32x4(y1, y3, _MM_SHUFFLE(2, 0, 2, 0)));
                _mm512_storeu_ps(dst + (12 + cc) * ldd, _mm512_shuffle_f32x4(y1, y3, _MM_SHUFFLE(3, 1, 3, 1)));
            }
            return;
        } else {
            __m512d x[8];
            DUALRERANK_GEMM_UNROLL
            for (int j = 0; j < 8; ++j) x[j] = j < rows_valid ? _mm512_loadu_pd(r[j]) : _mm512_setzero_pd();
            // u[2g + c] lane L holds column 2L + c, rows 2g, 2g+1.
            __m512d u[8];
            DUALRERANK_GEMM_UNROLL
            for (int g = 0; g < 4; ++g) {
                u[2 * g + 0] = _mm512_unpacklo_pd(x[2 * g], x[2 * g + 1]);
                u[2 * g + 1] = _mm512_unpackhi_pd(x[2 * g], x[2 * g + 1]);
            }
            DUALRERANK_GEMM_UNROLL
            for (int cc = 0; cc < 2; ++cc) {
                const __m512d y0 = _mm512_shuffle_f64x2(u[cc], u[2 + cc], _MM_SHUFFLE(1, 0, 1, 0));
                const __m512d y1 = _mm512_shuffle_f64x2(u[cc], u[2 + cc], _MM_SHUFFLE(3, 2, 3, 2));
                const __m512d y2 = _mm512_shuffle_f64x2(u[4 + cc], u[6 + cc], _MM_SHUFFLE(1, 0, 1, 0));
                const __m512d y3 = _mm512_shuffle_f64x2(u[4 + cc], u[6 + cc], _MM_SHUFFLE(3, 2, 3, 2));
                _mm512_storeu_pd(dst + (0 + cc) * ldd, _mm512_shuffle_f64x2(y0, y2, _MM_SHUFFLE(2, 0, 2, 0)));
                _mm512_storeu_pd(dst + (2 + cc) * ldd, _mm512_shuffle_f64x2(y0, y2, _MM_SHUFFLE(3, 1, 3, 1)));
                _mm512_storeu_pd(dst + (4 + cc) * ldd, _mm512_shuffle_f64x2(y1, y3, _MM_SHUFFLE(2, 0, 2, 0)));
                _mm512_storeu_pd(dst + (6 + cc) * ldd, _mm512_shuffle_f64x2(y1, y3, _MM_SHUFFLE(3, 1, 3, 1)));
            }
            return;
        }
    }
#endif
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX__)
    if constexpr (W * sizeof(T) == 32) {
        if constexpr (std::is_same<T, float>::value) {
            __m256 x[8];
            DUALRERANK_GEMM_UNROLL
            for (int j = 0; j < 8; ++j) x[j] = j < rows_valid ? _mm256_loadu_ps(r[j]) : _mm256_setzero_ps();
            __m256 u[8];
            DUALRERANK_GEMM_UNROLL
            for (int g = 0; g < 2; ++g) {
                const __m256 t0 = _mm256_unpacklo_ps(x[4 * g], x[4 * g + 1]);
                const __m256 t1 = _mm256_unpackhi_ps(x[4 * g], x[4 * g + 1]);
                const __m256 t2 = _mm256_unpacklo_ps(x[4 * g + 2], x[4 * g + 3]);
                const __m256 t3 = _mm256_unpackhi_ps(x[4 * g + 2], x[4 * g + 3]);
                u[4 * g + 0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
                u[4 * g + 1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
                u[4 * g + 2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
                u[4 * g + 3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            }
            DUALRERANK_GEMM_UNROLL
            for (int cc = 0; cc < 4; ++cc) {
                _mm256_storeu_ps(dst + cc * ldd, _mm256_permute2f128_ps(u[cc], u[4 + cc], 0x20));
                _mm256_storeu_ps(dst + (4 + cc) * ldd, _mm256_permute2f128_ps(u[cc], u[4 + cc], 0x31));
            }
            return;
        } else {
            __m256d x[4];
            DUALRERANK_GEMM_UNROLL
            for (int j = 0; j < 4; ++j) x[j] = j < rows_valid ? _mm256_loadu_pd(r[j]) : _mm256_setzero_pd();
            const __m256d t0 = _mm256_unpacklo_pd(x[0], x[1]), t1 = _mm256_unpackhi_pd(x[0], x[1]);
            const __m256d t2 = _mm256_unpacklo_pd(x[2], x[3]), t3 = _mm256_unpackhi_pd(x[2], x[3]);
            _mm256_storeu_pd(dst + 0 * ldd, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(dst + 1 * ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(dst + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(dst + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
            return;
        }
    }
#endif
#if defined(DUALRERANK_GEMM_X86)
    if constexpr (W * sizeof(T) == 16) {
        if constexpr (std::is_same<T, float>::value) {
            __m128 x[4];
            DUALRERANK_GEMM_UNROLL
            for (int j = 0; j < 4; ++j) x[j] = j < rows_valid ? _mm_loadu_ps(r[j]) : _mm_setzero_ps();
            _MM_TRANSPOSE4_PS(x[0], x[1], x[2], x[3]);
            DUALRERANK_GEMM_UNROLL
            for (int p = 0; p < 4; ++p) _mm_storeu_ps(dst + p * ldd, x[p]);
            return;
        } else {
            const __m128d x0 = _mm_loadu_pd(r[0]);
            const __m128d x1 = rows_valid > 1 ? _mm_loadu_pd(r[1]) : _mm_setzero_pd();
            _mm_storeu_pd(dst, _mm_unpacklo_pd(x0, x1));
            _mm_storeu_pd(dst + ldd, _mm_unpackhi_pd(x0, x1));
            return;
        }
    }
#endif
    DUALRERANK_GEMM_UNROLL
    for (int p = 0; p < W; ++p)
        DUALRERANK_GEMM_UNROLL
        for (int j = 0; j < W; ++j) dst[p * ldd + j] = j < rows_valid ? r[j][p] : T(0);
}

/// Transposed: dst[p][j] = B[j * ldb + p] for j < ncols, zero up to ldd (B stored [n x k]).
template <class T>
inline void pack_transposed(int kc, int ncols, int ldd, const T* b, index ldb, T* dst) noexcept {
    constexpr int W = config<T>::W;
    const int kfull = kc - kc % W;
    for (int j0 = 0; j0 < ldd; j0 += W) {
        const int rows = std::max(0, std::min(W, ncols - j0));
        const T* r[W];
        for (int j = 0; j < W; ++j) r[j] = b + index(j0 + (j < rows ? j : 0)) * ldb;
        if (rows > 0) {
            for (int p = 0; p < kfull; p += W) {
                const T* rp[W];
                for (int j = 0; j < W; ++j) rp[j] = r[j] + p;
                transpose_block(rp, rows, dst + index(p) * ldd + j0, ldd);
            }
        }
        for (int p = rows > 0 ? kfull : 0; p < kc; ++p)
            for (int j = 0; j < W; ++j) dst[index(p) * ldd + j0 + j] = j < rows ? r[j][p] : T(0);
    }
}

// ------------------------------------------------------------------------------------------------
// Drivers.

/// C = beta * C (k == 0 or alpha == 0).
template <class T>
inline void scale(int m, int n, T beta, T* C, index ldc) noexcept {
    if (beta == T(1)) return;
    for (int i = 0; i < m; ++i) {
        T* c = C + i * ldc;
        if (beta == T(0))
            std::fill(c, c + n, T(0));
        else
            for (int j = 0; j < n; ++j) c[j] *= beta;
    }
}

/// The blocked loop shared by the three variants. BT: B stored [n x k] (nt); AT: A stored [k x m] (tn).
template <class T, bool AT, bool BT>
inline void blocked(int m, int n, int k, T alpha, const T* A, index lda, const T* B, index ldb, T beta, T* C,
                    index ldc) noexcept {
    using cfg = config<T>;
    constexpr int W = cfg::W, NR = cfg::nr, KC = cfg::kc;
    alignas(64) T buf[KC * NR];
    for (int j0 = 0; j0 < n; j0 += NR) {
        const int ncols = std::min(NR, n - j0);
        const int nv = (ncols + W - 1) / W;
        const int ldd = nv * W;
        for (int p0 = 0; p0 < k; p0 += KC) {
            const int kc = std::min(KC, k - p0);
            const T b_eff = p0 == 0 ? beta : T(1);
            const T* a = AT ? A + p0 * lda : A + p0;
            if (BT) {
                pack_transposed(kc, ncols, ldd, B + j0 * ldb + p0, ldb, buf);
                panel_nv<T, AT>(nv, m, kc, a, lda, buf, ldd, C + j0, ldc, ncols, alpha, b_eff);
            } else if (ncols == ldd) {
                // Full vectors: read the panel of B in place.
                panel_nv<T, AT>(nv, m, kc, a, lda, B + p0 * ldb + j0, ldb, C + j0, ldc, ncols, alpha, b_eff);
            } else {
                pack_rows(kc, ncols, ldd, B + p0 * ldb + j0, ldb, buf);
                panel_nv<T, AT>(nv, m, kc, a, lda, buf, ldd, C + j0, ldc, ncols, alpha, b_eff);
            }
        }
    }
}

/// Horizontal sums of W batches at once: lane q of the result is the sum of the lanes of v[q].
/// A shuffle tree (about 3 instructions per sum with AVX-512 instead of ~10 for one reduce_add).
template <class T>
DUALRERANK_GEMM_INLINE xsimd::batch<T> reduce_lanes(const xsimd::batch<T>* v) noexcept {
    using B = xsimd::batch<T>;
    constexpr int W = int(B::size);
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX512F__)
    if constexpr (W * sizeof(T) == 64 && std::is_same<T, float>::value) {
        // After the four levels lane 4L + e holds the sum of input 4e + L, so feed the inputs
        // with that index transposition to get the natural order.
        __m512 w[8], x[4], y[2];
        DUALRERANK_GEMM_UNROLL
        for (int a = 0; a < 8; ++a) {  // halves: 8-float partials of inputs 2a, 2a + 1
            const __m512 p = v[(2 * a) % 4 * 4 + (2 * a) / 4], q = v[(2 * a + 1) % 4 * 4 + (2 * a + 1) / 4];
            w[a] = _mm512_add_ps(_mm512_shuffle_f32x4(p, q, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_f32x4(p, q, _MM_SHUFFLE(3, 2, 3, 2)));
        }
        DUALRERANK_GEMM_UNROLL
        for (int b = 0; b < 4; ++b)  // lane L: 4-float partial of input 4b + L
            x[b] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * b], w[2 * b + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(w[2 * b], w[2 * b + 1], _MM_SHUFFLE(3, 1, 3, 1)));
        DUALRERANK_GEMM_UNROLL
        for (int c = 0; c < 2; ++c)  // lane L: 2-float partials of inputs 8c + L, 8c + 4 + L
            y[c] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * c], x[2 * c + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(x[2 * c], x[2 * c + 1], _MM_SHUFFLE(3, 2, 3, 2)));
        return B(_mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_ps(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1))));
    }
    if constexpr (W * sizeof(T) == 64 && std::is_same<T, double>::value) {
        // Lane 2L + e ends up with input 4e + L: feed input 2L + e there.
        __m512d w[4], x[2];
        DUALRERANK_GEMM_UNROLL
        for (int a = 0; a < 4; ++a) {
            const int i0 = 2 * a, i1 = 2 * a + 1;
            const __m512d p = v[(i0 % 4) * 2 + i0 / 4], q = v[(i1 % 4) * 2 + i1 / 4];
            w[a] = _mm512_add_pd(_mm512_shuffle_f64x2(p, q, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_f64x2(p, q, _MM_SHUFFLE(3, 2, 3, 2)));
        }
        DUALRERANK_GEMM_UNROLL
        for (int b = 0; b < 2; ++b)
            x[b] = _mm512_add_pd(_mm512_shuffle_f64x2(w[2 * b], w[2 * b + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f64x2(w[2 * b], w[2 * b + 1], _MM_SHUFFLE(3, 1, 3, 1)));
        return B(_mm512_add_pd(_mm512_unpacklo_pd(x[0], x[1]), _mm512_unpackhi_pd(x[0], x[1])));
    }
#endif
#if defined(DUALRERANK_GEMM_X86) && defined(__AVX__)
    if constexpr (W * sizeof(T) == 32 && std::is_same<T, float>::value) {
        // Lane 4L + e ends up with input 2e + L: feed input 4L + e there.
        __m256 w[4], y[2];
        DUALRERANK_GEMM_UNROLL
        for (int a = 0; a < 4; ++a) {
            const int i0 = 2 * a, i1 = 2 * a + 1;
            const __m256 p = v[(i0 % 2) * 4 + i0 / 2], q = v[(i1 % 2) * 4 + i1 / 2];
            w[a] = _mm256_add_ps(_mm256_permute2f128_ps(p, q, 0x20), _mm256_permute2f128_ps(p, q, 0x31));
        }
        DUALRERANK_GEMM_UNROLL
        for (int b = 0; b < 2; ++b)
            y[b] = _mm256_add_ps(_mm256_shuffle_ps(w[2 * b], w[2 * b + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm256_shuffle_ps(w[2 * b], w[2 * b + 1], _MM_SHUFFLE(3, 2, 3, 2)));
        return B(_mm256_add_ps(_mm256_shuffle_ps(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm256_shuffle_ps(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1))));
    }
    if constexpr (W * sizeof(T) == 32 && std::is_same<T, double>::value) {
        // Lane 2L + e ends up with input 2e + L: feed input 2L + e there.
        const __m256d v0 = v[0], v1 = v[2], v2 = v[1], v3 = v[3];
        const __m256d w0 = _mm256_add_pd(_mm256_permute2f128_pd(v0, v1, 0x20), _mm256_permute2f128_pd(v0, v1, 0x31));
        const __m256d w1 = _mm256_add_pd(_mm256_permute2f128_pd(v2, v3, 0x20), _mm256_permute2f128_pd(v2, v3, 0x31));
        return B(_mm256_add_pd(_mm256_unpacklo_pd(w0, w1), _mm256_unpackhi_pd(w0, w1)));
    }
#endif
#if defined(DUALRERANK_GEMM_X86)
    if constexpr (W * sizeof(T) == 16 && std::is_same<T, float>::value) {
        __m128 r0 = v[0], r1 = v[1], r2 = v[2], r3 = v[3];
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        return B(_mm_add_ps(_mm_add_ps(r0, r1), _mm_add_ps(r2, r3)));
    }
    if constexpr (W * sizeof(T) == 16 && std::is_same<T, double>::value) {
        const __m128d r0 = v[0], r1 = v[1];
        return B(_mm_add_pd(_mm_unpacklo_pd(r0, r1), _mm_unpackhi_pd(r0, r1)));
    }
#endif
    alignas(64) T s[W];
    for (int q = 0; q < W; ++q) s[q] = simd::reduce_add(v[q]);
    return B::load_aligned(s);
}

/// gemm_nt for few rows: C[i][j] = dot(A row i, B row j). A tile of MR rows of A x NR rows of B
/// (MR * NR == W) keeps W vector accumulators along k, summed horizontally by one reduce_lanes.
/// nb <= NR rows of B are valid (the last tile of a row block); the k tail is one masked step.
template <class T, int MR, int NR>
inline void dot_tile(int k, const T* a, index lda, const T* b, index ldb, int nb, T* c, index ldc, T alpha, T beta,
                     beta_mode mode) noexcept {
    using Bt = xsimd::batch<T>;
    constexpr int W = int(Bt::size);
    static_assert(MR * NR == W, "dot tile must hold W accumulators");
    const T* br[NR];
    DUALRERANK_GEMM_UNROLL
    for (int j = 0; j < NR; ++j) br[j] = b + (j < nb ? j : nb - 1) * ldb;
    Bt acc[MR * NR];
    DUALRERANK_GEMM_UNROLL
    for (int q = 0; q < W; ++q) acc[q] = Bt(T(0));
    int p = 0;
    for (; p + W <= k; p += W) {
        Bt av[MR];
        DUALRERANK_GEMM_UNROLL
        for (int i = 0; i < MR; ++i) av[i] = pin(Bt::load_unaligned(a + i * lda + p));
        DUALRERANK_GEMM_UNROLL
        for (int j = 0; j < NR; ++j) {
            const Bt bv = pin(Bt::load_unaligned(br[j] + p));
            DUALRERANK_GEMM_UNROLL
            for (int i = 0; i < MR; ++i) acc[i * NR + j] = xsimd::fma(av[i], bv, acc[i * NR + j]);
        }
    }
    if (p < k) {  // k tail: zero-filled partial loads
        const int cnt = k - p;
        Bt av[MR];
        DUALRERANK_GEMM_UNROLL
        for (int i = 0; i < MR; ++i) av[i] = load_partial<T>(a + i * lda + p, cnt);
        DUALRERANK_GEMM_UNROLL
        for (int j = 0; j < NR; ++j) {
            const Bt bv = load_partial<T>(br[j] + p, cnt);
            DUALRERANK_GEMM_UNROLL
            for (int i = 0; i < MR; ++i) acc[i * NR + j] = xsimd::fma(av[i], bv, acc[i * NR + j]);
        }
    }
    const Bt sum = reduce_lanes<T>(acc);  // lane i * NR + j: C(i, j)
    const Bt va(alpha), vb(beta);
    if constexpr (MR == 1) {
        if (nb == W)
            update_vector(c, sum, va, vb, mode);
        else
            update_partial(c, sum, va, vb, mode, nb);
    } else if constexpr (MR == 2 || NR >= 4) {
        // Row i is lanes [i * NR, i * NR + nb): shift it down (by W / 2, or any amount on AVX-512).
        DUALRERANK_GEMM_UNROLL
        for (int i = 0; i < MR; ++i) update_partial(c + i * ldc, shift_down<T>(sum, i * NR), va, vb, mode, nb);
    } else {
        // Tall tiles for n <= 2: many rows of one or two elements each, written from a copy.
        alignas(64) T s[W];
        (va * sum).store_aligned(s);
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < nb; ++j) {
                T& cij = c[i * ldc + j];
                cij = mode == beta_mode::zero ? s[i * NR + j]
                      : mode == beta_mode::one ? cij + s[i * NR + j]
                                               : beta * cij + s[i * NR + j];
            }
    }
}

template <class T, int MR, int NR>
inline void dot_rows(int n, int k, const T* a, index lda, const T* B, index ldb, T* c, index ldc, T alpha, T beta,
                     beta_mode mode) noexcept {
    for (int j = 0; j < n; j += NR)
        dot_tile<T, MR, NR>(k, a, lda, B + j * ldb, ldb, std::min(NR, n - j), c + j, ldc, alpha, beta, mode);
}

template <class T>
inline void dot_nt(int m, int n, int k, T alpha, const T* A, index lda, const T* B, index ldb, T beta, T* C,
                   index ldc) noexcept {
    constexpr int W = config<T>::W;
    constexpr int MR = W >= 16 ? 4 : W >= 4 ? 2 : 1;  // rows of the usual tile (MR x W / MR)
    const beta_mode mode = classify(beta);
    int i = 0;
    if (n == 1) {  // one output per row (a scalar head): W x 1 tiles
        for (; i + W <= m; i += W)
            dot_rows<T, W, 1>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc, alpha, beta, mode);
    } else if (W >= 4 && n == 2) {
        for (; i + W / 2 <= m; i += W / 2)
            dot_rows<T, W / 2, 2>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc, alpha, beta, mode);
    }
    for (; i + MR <= m; i += MR)
        dot_rows<T, MR, W / MR>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc, alpha, beta, mode);
    if constexpr (MR >= 4)
        if (i + 2 <= m) {
            dot_rows<T, 2, W / 2>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc, alpha, beta, mode);
            i += 2;
        }
    for (; i < m; ++i) dot_rows<T, 1, W>(n, k, A + i * lda, lda, B, ldb, C + i * ldc, ldc, alpha, beta, mode);
}

/// gemm_nt path choice. The dot-product path avoids packing B^T (k * n transposed copies, paid
/// once per call) at the price of a horizontal sum per element of C (cheap when batched by
/// reduce_lanes): it wins while there are few rows to amortise the packing over, the more so the
/// deeper k. Crossovers measured with AVX-512 on Zen 5: float m ~ 4 at k = 16, 8 to 16 at
/// k = 64, 12 to 24 at k = 256; double m ~ 6. With n <= 2 the packed path would pad every row to a
/// whole vector (1/16 useful), so the dot path (with tall W x 1 tiles) always wins.
template <class T>
inline bool nt_use_dot(int m, int n, int k) noexcept {
    constexpr int W = config<T>::W;
    if (n <= 2) return true;  // the packed path would compute W columns for one or two
    if (k < W) return false;
    const int limit = W >= 16 ? std::min(20, 4 + k / 16) : 6;
    return m <= limit;
}

}  // namespace gemm
}  // namespace detail

/// C[m x n] = beta * C + alpha * A[m x k] * B[k x n] (row-major, leading dimensions lda, ldb, ldc).
template <class T>
inline void gemm_nn(int m, int n, int k, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
                    int ldc) noexcept {
    static_assert(std::is_floating_point<T>::value, "gemm: T must be float or double");
    if (m <= 0 || n <= 0) return;
    assert(lda >= k && ldb >= n && ldc >= n);
    if (k <= 0 || alpha == T(0)) return detail::gemm::scale(m, n, beta, C, ldc);
    detail::gemm::blocked<T, false, false>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/// C[m x n] = beta * C + alpha * A[m x k] * B^T with B stored [n x k] (y = x W^T, Q K^T).
template <class T>
inline void gemm_nt(int m, int n, int k, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
                    int ldc) noexcept {
    static_assert(std::is_floating_point<T>::value, "gemm: T must be float or double");
    if (m <= 0 || n <= 0) return;
    assert(lda >= k && ldb >= k && ldc >= n);
    if (k <= 0 || alpha == T(0)) return detail::gemm::scale(m, n, beta, C, ldc);
    if (detail::gemm::nt_use_dot<T>(m, n, k))
        detail::gemm::dot_nt(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        detail::gemm::blocked<T, false, true>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/// C[m x n] = beta * C + alpha * A^T * B with A stored [k x m] and B stored [k x n] (dW += dY^T X).
template <class T>
inline void gemm_tn(int m, int n, int k, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
                    int ldc) noexcept {
    static_assert(std::is_floating_point<T>::value, "gemm: T must be float or double");
    if (m <= 0 || n <= 0) return;
    assert(lda >= m && ldb >= n && ldc >= n);
    if (k <= 0 || alpha == T(0)) return detail::gemm::scale(m, n, beta, C, ldc);
    detail::gemm::blocked<T, true, false>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace nn
DUALRERANK_NAMESPACE_END

#undef DUALRERANK_GEMM_INLINE
#undef DUALRERANK_GEMM_UNROLL
#undef DUALRERANK_GEMM_X86

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
