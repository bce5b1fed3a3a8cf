// Multi-head scaled dot-product attention over groups of rows, and the self-/cross-attention layers.
//
// A "group" is one independent sequence (one request's candidates, one request's slots, one beam):
// groups are laid out with a stride, and a key stride of 0 lets many query groups share one memory
// (all beams of a request attend to the same candidate encoding). Masks: bidirectional, or causal
// aligned to the end (query i sees key j iff j <= i + nk - nq, which covers both full-sequence
// training and one-token incremental decoding against a KV cache), plus an optional per-group
// number of valid keys for padded batches.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

#include "linear.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

template <class T>
struct attn_view {
    const T* q = nullptr;
    int ldq = 0;
    std::ptrdiff_t q_gs = 0;  ///< element stride between groups
    const T* k = nullptr;
    int ldk = 0;
    std::ptrdiff_t k_gs = 0;
    const T* v = nullptr;
    int ldv = 0;
    std::ptrdiff_t v_gs = 0;
    int groups = 1, nq = 0, nk = 0, d = 0, heads = 1;
    bool causal = false;
    const int* key_len = nullptr;  ///< valid keys per group (nullptr: all nk)
};

/// o = softmax(q k^T / sqrt(d_head)) v per head; probs receives [groups x heads x nq x nk].
template <class T>
void attention_forward(const attn_view<T>& a, T* o, int ldo, std::ptrdiff_t o_gs, T* probs) noexcept {
    const int dh = a.d / a.heads;
    const T scale = T(1) / std::sqrt(T(dh));
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int g = 0; g < a.groups; ++g) {
        const int nkv = a.key_len ? a.key_len[g] : a.nk;
        for (int h = 0; h < a.heads; ++h) {
            T* pr = probs + (std::size_t(g) * a.heads + h) * std::size_t(a.nq) * a.nk;
            const T* Q = a.q + g * a.q_gs + h * dh;
            const T* K = a.k + g * a.k_gs + h * dh;
            const T* V = a.v + g * a.v_gs + h * dh;
            if (nkv > 0) gemm_nt<T>(a.nq, nkv, dh, scale, Q, a.ldq, K, a.ldk, T(0), pr, a.nk);
            for (int i = 0; i < a.nq; ++i) {
                T* row = pr + std::size_t(i) * a.nk;
                int lim = nkv;
                if (a.causal) lim = std::min(nkv, i + a.nk - a.nq + 1);
                for (int j = std::max(lim, 0); j < nkv; ++j) row[j] = ninf;
                softmax_row(row, nkv);
                for (int j = nkv; j < a.nk; ++j) row[j] = T(0);
            }
            T* O = o + g * o_gs + h * dh;
            if (nkv > 0)
                gemm_nn<T>(a.nq, dh, nkv, T(1), pr, a.nk, V, a.ldv, T(0), O, ldo);
            else
                for (int i = 0; i < a.nq; ++i) std::fill(O + std::size_t(i) * ldo, O + std::size_t(i) * ldo + dh, T(0));
        }
    }
}

/// Tile of the streamed attention (attention_forward_streamed): query rows and keys per tile.
inline constexpr int attn_tile_q = 64;
inline constexpr int attn_tile_k = 256;

/// Values of scratch attention_forward_streamed needs: one [attn_tile_q x attn_tile_k] score tile
/// and the running max and sum of each query row of a tile. Independent of N.
constexpr std::size_t attention_stream_scratch() noexcept {
    return std::size_t(attn_tile_q) * attn_tile_k + 2 * std::size_t(attn_tile_q);
}

/// Inference keeps the stored path (attention_forward, all probabilities at once) while they fit
/// in this many values (1 MiB of floats), and streams beyond: at the small N the benchmarks run
/// (N <= 256 with 4 heads) the one-pass path is as fast, and memory stays bounded either way.
inline constexpr std::size_t attn_stored_max_values = std::size_t(1) << 18;

/// Whether inference streams an attention of `groups` groups of nq queries against nk keys.
constexpr bool attention_inference_streams(std::size_t groups, int heads, int nq, int nk) noexcept {
    return groups * std::size_t(heads) * std::size_t(nq) * std::size_t(nk) > attn_stored_max_values;
}

/// Values of the buffer inference needs for that attention: its probabilities, or the streamed
/// scratch. At most max(attn_stored_max_values, attention_stream_scratch()) whatever the shape.
constexpr std::size_t attention_inference_values(std::size_t groups, int heads, int nq, int nk) noexcept {
    return attention_inference_streams(groups, heads, nq, nk)
               ? attention_stream_scratch()
               : groups * std::size_t(heads) * std::size_t(nq) * std::size_t(nk);
}

/// One key block of the online softmax for one query row: z [n] holds scaled scores (-inf =
/// masked); m and l are the row's running max and sum of exp over the blocks seen so far.
/// Overwrites z with exp(z - m_new), updates m and l, and returns the factor exp(m_old - m_new)
/// by which the row's accumulated output must be rescaled (1 while every key so far is masked).
template <class T>
inline T online_softmax_block(T* z, int n, T& m, T& l) noexcept {
    using std::exp;
    xsimd::batch<T> tail;
    const T mn = std::max(m, detail::row_max(z, n, tail));
    if (!(mn > -std::numeric_limits<T>::infinity())) {  // every key so far masked: nothing to add
        std::fill(z, z + n, T(0));
        return T(1);
    }
    const T alpha = m > -std::numeric_limits<T>::infinity() ? exp(m - mn) : T(0);
    l = l * alpha + detail::exp_shifted_sum(z, n, mn, tail);
    m = mn;
    return alpha;
}

/// attention_forward without the probabilities: the keys are streamed in tiles of attn_tile_k
/// with an online softmax (running max and sum per query row, the output rescaled when the max
/// grows: the flash-attention recurrence), so the memory is `scratch`
/// [attention_stream_scratch()] values whatever nq and nk are, instead of nq * nk per head.
/// The output equals attention_forward's up to float rounding. Inference only: backward needs
/// the probabilities that attention_forward stores.
template <class T>
void attention_forward_streamed(const attn_view<T>& a, T* o, int ldo, std::ptrdiff_t o_gs, T* scratch) noexcept {
    const int dh = a.d / a.heads;
    const T scale = T(1) / std::sqrt(T(dh));
    const T ninf = -std::numeric_limits<T>::infinity();
    T* S = scratch;
    T* mrow = scratch + std::size_t(attn_tile_q) * attn_tile_k;
    T* lrow = mrow + attn_tile_q;
    for (int g = 0; g < a.groups; ++g) {
        const int nkv = a.key_len ? a.key_len[g] : a.nk;
        for (int h = 0; h < a.heads; ++h) {
            const T* Q = a.q + g * a.q_gs + h * dh;
            const T* K = a.k + g * a.k_gs + h * dh;
            const T* V = a.v + g * a.v_gs + h * dh;
            T* O = o + g * o_gs + h * dh;
            for (int i0 = 0; i0 < a.nq; i0 += attn_tile_q) {
                const int bq = std::min(attn_tile_q, a.nq - i0);
                T* Ot = O + std::size_t(i0) * ldo;
                // keys any row of this tile may see
                int kend = nkv;
                if (a.causal) kend = std::min(nkv, i0 + bq - 1 + a.nk - a.nq + 1);
                if (kend <= 0) {
                    for (int i = 0; i < bq; ++i) std::fill(Ot + std::size_t(i) * ldo, Ot + std::size_t(i) * ldo + dh, T(0));
                    continue;
                }
                std::fill(mrow, mrow + bq, ninf);
                std::fill(lrow, lrow + bq, T(0));
                for (int j0 = 0; j0 < kend; j0 += attn_tile_k) {
                    const int bk = std::min(attn_tile_k, kend - j0);
                    gemm_nt<T>(bq, bk, dh, scale, Q + std::size_t(i0) * a.ldq, a.ldq, K + std::size_t(j0) * a.ldk, a.ldk,
                               T(0), S, attn_tile_k);
                    for (int i = 0; i < bq; ++i) {
                        T* row = S + std::size_t(i) * attn_tile_k;
                        if (a.causal) {
                            const int lim = std::min(nkv, i0 + i + a.nk - a.nq + 1) - j0;
                            for (int j = std::max(lim, 0); j < bk; ++j) row[j] = ninf;
                        }
                        const T alpha = online_softmax_block(row, bk, mrow[i], lrow[i]);
                        if (j0 > 0 && alpha != T(1)) {
                            T* orow = Ot + std::size_t(i) * ldo;
                            for (int c = 0; c < dh; ++c) orow[c] *= alpha;
                        }
                    }
                    gemm_nn<T>(bq, dh, bk, T(1), S, attn_tile_k, V + std::size_t(j0) * a.ldv, a.ldv, j0 > 0 ? T(1) : T(0),
                               Ot, ldo);
                }
                for (int i = 0; i < bq; ++i) {
                    const T inv = lrow[i] > T(0) ? T(1) / lrow[i] : T(0);
                    T* orow = Ot + std::size_t(i) * ldo;
                    for (int c = 0; c < dh; ++c) orow[c] *= inv;
                }
            }
        }
    }
}

/// Accumulates dq, dk, dv (laid out like q, k, v: same leading dimensions and group strides).
/// `scratch` holds nq * nk values.
template <class T>
void attention_backward(const attn_view<T>& a, const T* probs, const T* dout, int lddo, std::ptrdiff_t do_gs, T* dq,
                        T* dk, T* dv, T* scratch) noexcept {
    const int dh = a.d / a.heads;
    const T scale = T(1) / std::sqrt(T(dh));
    for (int g = 0; g < a.groups; ++g) {
        const int nkv = a.key_len ? a.key_len[g] : a.nk;
        if (nkv == 0) continue;
        for (int h = 0; h < a.heads; ++h) {
            const T* pr = probs + (std::size_t(g) * a.heads + h) * std::size_t(a.nq) * a.nk;
            const T* Q = a.q + g * a.q_gs + h * dh;
            const T* K = a.k + g * a.k_gs + h * dh;
            const T* V = a.v + g * a.v_gs + h * dh;
            const T* dO = dout + g * do_gs + h * dh;
            T* dQ = dq + g * a.q_gs + h * dh;
            T* dK = dk + g * a.k_gs + h * dh;
            T* dV = dv + g * a.v_gs + h * dh;
            gemm_tn<T>(nkv, dh, a.nq, T(1), pr, a.nk, dO, lddo, T(1), dV, a.ldv);  // dV += P^T dO
            T* dS = scratch;
            gemm_nt<T>(a.nq, nkv, dh, T(1), dO, lddo, V, a.ldv, T(0), dS, nkv);  // dP = dO V^T
            for (int i = 0; i < a.nq; ++i) {
                const T* p = pr + std::size_t(i) * a.nk;
                T* ds = dS + std::size_t(i) * nkv;
                softmax_backward_row(ds, p, nkv, scale);
            }
            gemm_nn<T>(a.nq, dh, nkv, T(1), dS, nkv, K, a.ldk, T(1), dQ, a.ldq);  // dQ += dS K
            gemm_tn<T>(nkv, dh, a.nq, T(1), dS, nkv, Q, a.ldq, T(1), dK, a.ldk);  // dK += dS^T Q
        }
    }
}

/// Self-attention layer: fused qkv projection [3d x d] and output projection [d x d].
struct self_attention {
    linear qkv, out;
    int d = 0, heads = 1;
    bool causal = false;

    static self_attention make(tensor_table& t, const std::string& prefix, int d, int heads, bool causal) {
        self_attention s;
        s.d = d;
        s.heads = heads;
        s.causal = causal;
        s.qkv = linear::make(t, prefix + ".qkv", d, 3 * d, true);
        s.out = linear::make(t, prefix + ".out", d, d, true);
        return s;
    }

    template <class T>
    attn_view<T> view(const T* qkvbuf, int groups, int n, const int* key_len) const noexcept {
        attn_view<T> a;
        a.q = qkvbuf;
        a.k = qkvbuf + d;
        a.v = qkvbuf + 2 * d;
        a.ldq = a.ldk = a.ldv = 3 * d;
        a.q_gs = a.k_gs = a.v_gs = std::ptrdiff_t(n) * 3 * d;
        a.groups = groups;
        a.nq = a.nk = n;
        a.d = d;
        a.heads = heads;
        a.causal = causal;
        a.key_len = key_len;
        return a;
    }

    /// x: [groups*n x d] (already normalized); buffers: qkvbuf [rows x 3d], probs
    /// [groups*heads*n*n], ctx [rows x d]; y [rows x d] is overwritten. stream = true (inference):
    /// `probs` is only the streamed scratch [attention_stream_scratch()] and keeps nothing.
    template <class T>
    void forward(const T* P, const T* x, int groups, int n, const int* key_len, T* y, T* qkvbuf, T* probs, T* ctx,
                 bool stream = false) const noexcept {
        const int rows = groups * n;
        qkv.forward(P, x, rows, qkvbuf);
        if (stream)
            attention_forward_streamed(view(qkvbuf, groups, n, key_len), ctx, d, std::ptrdiff_t(n) * d, probs);
        else
            attention_forward(view(qkvbuf, groups, n, key_len), ctx, d, std::ptrdiff_t(n) * d, probs);
        out.forward(P, ctx, rows, y);
    }

    /// dx accumulates; scratch: [rows x 4d + n*n] values.
    template <class T>
    void backward(const T* P, const T* x, int groups, int n, const int* key_len, const T* qkvbuf, const T* probs,
                  const T* ctx, const T* dy, T* dx, T* G, T* scratch) const noexcept {
        const int rows = groups * n;
        T* dctx = scratch;
        T* dqkv = scratch + std::size_t(rows) * d;
        T* tmp = dqkv + std::size_t(rows) * 3 * d;
        std::fill(dctx, dctx + std::size_t(rows) * 4 * d, T(0));
        out.backward(P, ctx, dy, rows, dctx, G);
        attention_backward(view(qkvbuf, groups, n, key_len), probs, dctx, d, std::ptrdiff_t(n) * d, dqkv, dqkv + d,
                           dqkv + 2 * d, tmp);
        qkv.backward(P, x, dqkv, rows, dx, G);
    }
};

/// Cross-attention layer: queries from x [groups*nq x d], keys/values from a memory
/// [groups*nk x d] through a fused kv projection [2d x d].
struct cross_attention {
    linear q, kv, out;
    int d = 0, heads = 1;

    static cross_attention make(tensor_table& t, const std::string& prefix, int d, int heads) {
        cross_attention c;
        c.d = d;
        c.heads = heads;
        c.q = linear::make(t, prefix + ".q", d, d, true);
        c.kv = linear::make(t, prefix + ".kv", d, 2 * d, true);
        c.out = linear::make(t, prefix + ".out", d, d, true);
        return c;
    }

    /// Project the memory once: kvbuf [rows_mem x 2d].
    template <class T>
    void project_memory(const T* P, const T* mem, int rows_mem, T* kvbuf) const noexcept {
        kv.forward(P, mem, rows_mem, kvbuf);
    }

    /// mem_gs: group stride of kvbuf in rows (0 = every query group shares one memory).
    template <class T>
    attn_view<T> view(const T* qbuf, const T* kvbuf, int groups, int nq, int nk, std::ptrdiff_t mem_gs,
                      const int* key_len) const noexcept {
        attn_view<T> a;
        a.q = qbuf;
        a.ldq = d;
        a.q_gs = std::ptrdiff_t(nq) * d;
        a.k = kvbuf;
        a.v = kvbuf + d;
        a.ldk = a.ldv = 2 * d;
        a.k_gs = a.v_gs = mem_gs * 2 * d;
        a.groups = groups;
        a.nq = nq;
        a.nk = nk;
        a.d = d;
        a.heads = heads;
        a.causal = false;
        a.key_len = key_len;
        return a;
    }

    /// Given the projected memory kvbuf: qbuf [rows x d], probs [groups*heads*nq*nk], ctx [rows x d].
    /// stream = true (inference): `probs` is only the streamed scratch [attention_stream_scratch()].
    template <class T>
    void forward(const T* P, const T* x, const T* kvbuf, int groups, int nq, int nk, std::ptrdiff_t mem_gs,
                 const int* key_len, T* y, T* qbuf, T* probs, T* ctx, bool stream = false) const noexcept {
        const int rows = groups * nq;
        q.forward(P, x, rows, qbuf);
        const attn_view<T> a = view(qbuf, kvbuf, groups, nq, nk, mem_gs, key_len);
        if (stream)
            attention_forward_streamed(a, ctx, d, std::ptrdiff_t(nq) * d, probs);
        else
            attention_forward(a, ctx, d, std::ptrdiff_t(nq) * d, probs);
        out.forward(P, ctx, rows, y);
    }

    /// dx and dkv (gradient w.r.t. the projected memory, laid out like kvbuf) accumulate; with a
    /// shared memory (mem_gs = 0) every group's contribution adds into the one copy.
    /// The caller turns dkv into d(memory) with `backward_memory` once all users have added to it.
    /// scratch: [rows x 2d + nq*nk] values.
    template <class T>
    void backward(const T* P, const T* x, const T* kvbuf, int groups, int nq, int nk, std::ptrdiff_t mem_gs,
                  const int* key_len, const T* qbuf, const T* probs, const T* ctx, const T* dy, T* dx, T* dkv, T* G,
                  T* scratch) const noexcept {
        const int rows = groups * nq;
        T* dctx = scratch;
        T* dq = scratch + std::size_t(rows) * d;
        T* tmp = dq + std::size_t(rows) * d;
        std::fill(dctx, dctx + std::size_t(rows) * 2 * d, T(0));
        out.backward(P, ctx, dy, rows, dctx, G);
        attention_backward(view(qbuf, kvbuf, groups, nq, nk, mem_gs, key_len), probs, dctx, d, std::ptrdiff_t(nq) * d, dq,
                           dkv, dkv + d, tmp);
        q.backward(P, x, dq, rows, dx, G);
    }

    template <class T>
    void backward_memory(const T* P, const T* mem, int rows_mem, const T* dkv, T* dmem, T* G) const noexcept {
        kv.backward(P, mem, dkv, rows_mem, dmem, G);
    }
};

}  // namespace nn
DUALRERANK_NAMESPACE_END
