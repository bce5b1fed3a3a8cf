// Pre-LN transformer blocks.
//
// encoder_block:  x1 = x + SelfAttn(LN1(x));  y = x1 + FFN(LN2(x1))
//                 (bidirectional for the candidate encoder, causal for the list evaluator)
// decoder_block:  x1 = x + SelfAttn(LN1(x));  x2 = x1 + CrossAttn(LN2(x1), mem);  y = x2 + FFN(LN3(x2))
//                 (causal for the AR teacher, bidirectional among slots for the NAR student)
//
// A block's forward writes every intermediate into a cache whose buffers come from a workspace:
// inference simply resets the workspace afterwards, training keeps the cache for backward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "../core/workspace.hpp"
#include "attention.hpp"
#include "ffn.hpp"
#include "layer_norm.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

template <class T>
struct encoder_block_cache {
    T *ln1 = nullptr, *m1 = nullptr, *r1 = nullptr, *qkv = nullptr, *probs = nullptr, *ctx = nullptr, *att = nullptr;
    T *x1 = nullptr, *ln2 = nullptr, *m2 = nullptr, *r2 = nullptr, *pre = nullptr, *act = nullptr;
    /// Inference at large n: the attention is streamed (nn::attention_forward_streamed) and
    /// `probs` is only its scratch, so nothing here grows with n^2; backward needs stream = false.
    bool stream = false;
};

struct encoder_block {
    layer_norm ln1, ln2;
    self_attention attn;
    ffn mlp;
    int d = 0;

    static encoder_block make(tensor_table& t, const std::string& prefix, int d, int heads, int hidden, bool causal) {
        encoder_block b;
        b.d = d;
        b.ln1 = layer_norm::make(t, prefix + ".ln1", d);
        b.attn = self_attention::make(t, prefix + ".attn", d, heads, causal);
        b.ln2 = layer_norm::make(t, prefix + ".ln2", d);
        b.mlp = ffn::make(t, prefix + ".ffn", d, hidden);
        return b;
    }

    /// stream = true: inference buffers (no attention probabilities kept; see the cache).
    template <class T>
    encoder_block_cache<T> alloc_cache(workspace& ws, int groups, int n, bool stream = false) const {
        const std::size_t rows = std::size_t(groups) * n, dd = d;
        encoder_block_cache<T> c;
        c.stream = stream && attention_inference_streams(std::size_t(groups), attn.heads, n, n);
        c.ln1 = ws.alloc<T>(rows * dd);
        c.m1 = ws.alloc<T>(rows);
        c.r1 = ws.alloc<T>(rows);
        c.qkv = ws.alloc<T>(rows * 3 * dd);
        c.probs = ws.alloc<T>(stream ? attention_inference_values(std::size_t(groups), attn.heads, n, n)
                                     : std::size_t(groups) * attn.heads * n * n);
        c.ctx = ws.alloc<T>(rows * dd);
        c.att = ws.alloc<T>(rows * dd);
        c.x1 = ws.alloc<T>(rows * dd);
        c.ln2 = ws.alloc<T>(rows * dd);
        c.m2 = ws.alloc<T>(rows);
        c.r2 = ws.alloc<T>(rows);
        c.pre = ws.alloc<T>(rows * mlp.hidden);
        c.act = ws.alloc<T>(rows * mlp.hidden);
        return c;
    }

    /// y [groups*n x d] (may not alias x).
    template <class T>
    void forward(const T* P, const T* x, int groups, int n, const int* key_len, T* y,
                 const encoder_block_cache<T>& c) const noexcept {
        const std::size_t m = std::size_t(groups) * n * d;
        const int rows = groups * n;
        ln1.forward(P, x, rows, c.ln1, c.m1, c.r1);
        attn.forward(P, c.ln1, groups, n, key_len, c.att, c.qkv, c.probs, c.ctx, c.stream);
        for (std::size_t i = 0; i < m; ++i) c.x1[i] = x[i] + c.att[i];
        ln2.forward(P, c.x1, rows, c.ln2, c.m2, c.r2);
        mlp.forward(P, c.ln2, rows, y, c.pre, c.act);
        for (std::size_t i = 0; i < m; ++i) y[i] += c.x1[i];
    }

    /// dx accumulates the gradient w.r.t. x given dy; ws provides scratch (released on return).
    template <class T>
    void backward(const T* P, const T* x, int groups, int n, const int* key_len, const encoder_block_cache<T>& c,
                  const T* dy, T* dx, T* G, workspace& ws) const {
        const int rows = groups * n;
        const std::size_t m = std::size_t(rows) * d;
        // y = x1 + ffn(ln2(x1)): dx1 = dy + LN2'(FFN'(dy))
        T* dx1 = ws.alloc<T>(m);
        std::copy(dy, dy + m, dx1);
        T* dln = ws.alloc<T>(m);
        std::fill(dln, dln + m, T(0));
        T* scratch = ws.alloc<T>(std::max<std::size_t>(std::size_t(rows) * mlp.hidden,
                                                       m * 4 + std::size_t(n) * n));
        mlp.backward(P, c.ln2, c.pre, c.act, dy, rows, dln, G, scratch);
        ln2.backward(P, c.x1, c.m2, c.r2, dln, rows, dx1, G);
        // x1 = x + attn(ln1(x))
        for (std::size_t i = 0; i < m; ++i) dx[i] += dx1[i];
        std::fill(dln, dln + m, T(0));
        attn.backward(P, c.ln1, groups, n, key_len, c.qkv, c.probs, c.ctx, dx1, dln, G, scratch);
        ln1.backward(P, x, c.m1, c.r1, dln, rows, dx, G);
    }
};

template <class T>
struct decoder_block_cache {
    T *ln1 = nullptr, *m1 = nullptr, *r1 = nullptr, *qkv = nullptr, *sprobs = nullptr, *sctx = nullptr;
    T *att = nullptr, *x1 = nullptr;
    T *ln2 = nullptr, *m2 = nullptr, *r2 = nullptr, *q = nullptr, *cprobs = nullptr, *cctx = nullptr, *x2 = nullptr;
    T *ln3 = nullptr, *m3 = nullptr, *r3 = nullptr, *pre = nullptr, *act = nullptr;
    T* memkv = nullptr;  ///< projected memory [groups*nk x 2d]
    /// Inference at large shapes: the self- / cross-attention is streamed and sprobs / cprobs is
    /// only its scratch [attention_stream_scratch()]; backward needs both false.
    bool stream_self = false, stream_cross = false;
};

struct decoder_block {
    layer_norm ln1, ln2, ln3;
    self_attention self_attn;
    cross_attention cross_attn;
    ffn mlp;
    int d = 0;

    static decoder_block make(tensor_table& t, const std::string& prefix, int d, int heads, int hidden, bool causal) {
        decoder_block b;
        b.d = d;
        b.ln1 = layer_norm::make(t, prefix + ".ln1", d);
        b.self_attn = self_attention::make(t, prefix + ".self_attn", d, heads, causal);
        b.ln2 = layer_norm::make(t, prefix + ".ln2", d);
        b.cross_attn = cross_attention::make(t, prefix + ".cross_attn", d, heads);
        b.ln3 = layer_norm::make(t, prefix + ".ln3", d);
        b.mlp = ffn::make(t, prefix + ".ffn", d, hidden);
        return b;
    }

    /// stream = true: inference buffers (no attention probabilities kept; see the cache).
    template <class T>
    decoder_block_cache<T> alloc_cache(workspace& ws, int groups, int nq, int nk, bool stream = false) const {
        const std::size_t rows = std::size_t(groups) * nq, dd = d;
        const int h = self_attn.heads;
        decoder_block_cache<T> c;
        c.stream_self = stream && attention_inference_streams(std::size_t(groups), h, nq, nq);
        c.stream_cross = stream && attention_inference_streams(std::size_t(groups), h, nq, nk);
        c.ln1 = ws.alloc<T>(rows * dd);
        c.m1 = ws.alloc<T>(rows);
        c.r1 = ws.alloc<T>(rows);
        c.qkv = ws.alloc<T>(rows * 3 * dd);
        c.sprobs = ws.alloc<T>(stream ? attention_inference_values(std::size_t(groups), h, nq, nq)
                                      : std::size_t(groups) * h * nq * nq);
        c.sctx = ws.alloc<T>(rows * dd);
        c.att = ws.alloc<T>(rows * dd);
        c.x1 = ws.alloc<T>(rows * dd);
        c.ln2 = ws.alloc<T>(rows * dd);
        c.m2 = ws.alloc<T>(rows);
        c.r2 = ws.alloc<T>(rows);
        c.q = ws.alloc<T>(rows * dd);
        c.cprobs = ws.alloc<T>(stream ? attention_inference_values(std::size_t(groups), h, nq, nk)
                                      : std::size_t(groups) * h * nq * nk);
        c.cctx = ws.alloc<T>(rows * dd);
        c.x2 = ws.alloc<T>(rows * dd);
        c.ln3 = ws.alloc<T>(rows * dd);
        c.m3 = ws.alloc<T>(rows);
        c.r3 = ws.alloc<T>(rows);
        c.pre = ws.alloc<T>(rows * mlp.hidden);
        c.act = ws.alloc<T>(rows * mlp.hidden);
        c.memkv = ws.alloc<T>(std::size_t(groups) * nk * 2 * dd);  // enough for per-group or shared memory
        return c;
    }

    /// Full-sequence forward: x [groups*nq x d], mem [mem_groups*nk x d] where mem_groups is
    /// groups (one memory per group) or 1 (all groups share one memory); y may not alias x.
    template <class T>
    void forward(const T* P, const T* x, const T* mem, int groups, int nq, int nk, const int* key_len, T* y,
                 const decoder_block_cache<T>& c, int mem_groups = -1) const noexcept {
        if (mem_groups < 0) mem_groups = groups;
        cross_attn.project_memory(P, mem, mem_groups * nk, c.memkv);
        body(P, x, groups * nq, c, c.memkv, groups, nq, nk, mem_groups == 1 ? 0 : nk, key_len, y,
             [&](const T* ln, T* att) {
                 self_attn.forward(P, ln, groups, nq, nullptr, att, c.qkv, c.sprobs, c.sctx, c.stream_self);
             });
    }

    /// dx and dmem accumulate.
    template <class T>
    void backward(const T* P, const T* x, const T* mem, int groups, int nq, int nk, const int* key_len,
                  const decoder_block_cache<T>& c, const T* dy, T* dx, T* dmem, T* G, workspace& ws,
                  int mem_groups = -1) const {
        if (mem_groups < 0) mem_groups = groups;
        const std::ptrdiff_t mem_gs = mem_groups == 1 ? 0 : nk;
        const int rows = groups * nq;
        const std::size_t m = std::size_t(rows) * d;
        const std::size_t mk = std::size_t(mem_groups) * nk * 2 * d;
        T* dx2 = ws.alloc<T>(m);
        std::copy(dy, dy + m, dx2);
        T* dln = ws.alloc<T>(m);
        std::fill(dln, dln + m, T(0));
        T* scratch = ws.alloc<T>(std::max<std::size_t>({std::size_t(rows) * mlp.hidden, m * 4 + std::size_t(nq) * nq,
                                                        m * 2 + std::size_t(nq) * nk}));
        mlp.backward(P, c.ln3, c.pre, c.act, dy, rows, dln, G, scratch);
        ln3.backward(P, c.x2, c.m3, c.r3, dln, rows, dx2, G);
        // x2 = x1 + cross(ln2(x1))
        T* dx1 = ws.alloc<T>(m);
        std::copy(dx2, dx2 + m, dx1);
        std::fill(dln, dln + m, T(0));
        T* dkv = ws.alloc<T>(mk);
        std::fill(dkv, dkv + mk, T(0));
        cross_attn.backward(P, c.ln2, c.memkv, groups, nq, nk, mem_gs, key_len, c.q, c.cprobs, c.cctx, dx2, dln, dkv,
                            G, scratch);
        cross_attn.backward_memory(P, mem, mem_groups * nk, dkv, dmem, G);
        ln2.backward(P, c.x1, c.m2, c.r2, dln, rows, dx1, G);
        // x1 = x + self(ln1(x))
        for (std::size_t i = 0; i < m; ++i) dx[i] += dx1[i];
        std::fill(dln, dln + m, T(0));
        self_attn.backward(P, c.ln1, groups, nq, nullptr, c.qkv, c.sprobs, c.sctx, dx1, dln, G, scratch);
        ln1.backward(P, x, c.m1, c.r1, dln, rows, dx, G);
    }

    /// One incremental decoding step for B independent sequences at position t (0-based).
    /// x, y: [B x d]. self_kv: per sequence [cap x 2d] (k | v rows), sequence b at self_kv + b*cap*2d;
    /// row t is written here. memkv: projected memory, sequence b reads memkv + b*mem_gs*2d
    /// (mem_gs = 0: all share one). scratch from ws.
    template <class T>
    void step(const T* P, const T* x, int B, int t, T* self_kv, int cap, const T* memkv, int nk, std::ptrdiff_t mem_gs,
              const int* key_len, T* y, workspace& ws) const {
        const decoder_block_cache<T> c = scratch<T>(ws, B, B, t + 1, B, nk);
        body(P, x, B, c, memkv, B, 1, nk, mem_gs, key_len, y, [&](const T* ln, T* att) {
            self_attn.qkv.forward(P, ln, B, c.qkv);
            for (int b = 0; b < B; ++b) {
                T* row = self_kv + (std::size_t(b) * cap + t) * 2 * d;
                std::copy(c.qkv + std::size_t(b) * 3 * d + d, c.qkv + std::size_t(b) * 3 * d + 3 * d, row);
            }
            attn_view<T> a;
            a.q = c.qkv;
            a.ldq = 3 * d;
            a.q_gs = 3 * d;
            a.k = self_kv;
            a.v = self_kv + d;
            a.ldk = a.ldv = 2 * d;
            a.k_gs = a.v_gs = std::ptrdiff_t(cap) * 2 * d;
            a.groups = B;
            a.nq = 1;
            a.nk = t + 1;
            a.d = d;
            a.heads = self_attn.heads;
            a.causal = false;  // the cache holds only the prefix
            if (c.stream_self)
                attention_forward_streamed(a, c.sctx, d, d, c.sprobs);
            else
                attention_forward(a, c.sctx, d, d, c.sprobs);
            self_attn.out.forward(P, c.sctx, B, att);
        });
    }

    /// Inference over a prefix tree of positions (one request): row j is a position at depth
    /// depth[j] whose causal self-attention keys are the rows of its path anc[j * anc_stride + i],
    /// i = 0..depth[j] (root first, the last entry is j itself; every row's ancestors are rows of
    /// this call). All rows share one projected memory memkv [nk x 2d], so the cross-attention is
    /// one batched product over every row. Equals `step` run level by level with a KV cache (and
    /// teacher forcing of every root-to-leaf path) up to float rounding. x, y: [R x d].
    template <class T>
    void forward_tree(const T* P, const T* x, int R, const int* anc, int anc_stride, const int* depth, const T* memkv,
                      int nk, T* y, workspace& ws) const {
        const decoder_block_cache<T> c = scratch<T>(ws, R, 0, 0, 1, nk);
        T* sc = ws.alloc<T>(std::size_t(anc_stride));
        body(P, x, R, c, memkv, 1, R, nk, 0, static_cast<const int*>(nullptr), y, [&](const T* ln, T* att) {
            self_attn.qkv.forward(P, ln, R, c.qkv);
            const int h = self_attn.heads, dh = d / h;
            const T scale = T(1) / std::sqrt(T(dh));
            const std::size_t ld = std::size_t(3) * d;
            for (int j = 0; j < R; ++j) {
                const int* a = anc + std::size_t(j) * anc_stride;
                const int nkv = depth[j] + 1;
                for (int hh = 0; hh < h; ++hh) {
                    const T* q = c.qkv + std::size_t(j) * ld + std::size_t(hh) * dh;
                    for (int i = 0; i < nkv; ++i)
                        sc[i] = scale * dot(q, c.qkv + std::size_t(a[i]) * ld + d + std::size_t(hh) * dh, std::size_t(dh));
                    softmax_row(sc, nkv);
                    T* o = c.sctx + std::size_t(j) * d + std::size_t(hh) * dh;
                    std::fill(o, o + dh, T(0));
                    for (int i = 0; i < nkv; ++i)
                        axpy(o, sc[i], c.qkv + std::size_t(a[i]) * ld + 2 * std::size_t(d) + std::size_t(hh) * dh,
                             std::size_t(dh));
                }
            }
            self_attn.out.forward(P, c.sctx, R, att);
        });
    }

private:
    /// The one block body every forward variant runs: LayerNorm, self-attention, residual,
    /// LayerNorm, cross-attention to the projected memory, residual, LayerNorm, FFN, residual.
    /// The variants differ only in the self-attention (`self_attn_fn(ln1_out, att_out)` writes the
    /// projected attention output) and in the buffers: a training cache keeps every intermediate,
    /// inference scratch (`scratch`) lets the LayerNorm outputs share one buffer and x2 alias x1.
    template <class T, class SelfAttn>
    void body(const T* P, const T* x, int rows, const decoder_block_cache<T>& c, const T* memkv, int groups, int nq,
              int nk, std::ptrdiff_t mem_gs, const int* key_len, T* y, SelfAttn&& self_attn_fn) const noexcept {
        const std::size_t m = std::size_t(rows) * d;
        ln1.forward(P, x, rows, c.ln1, c.m1, c.r1);
        self_attn_fn(static_cast<const T*>(c.ln1), c.att);
        for (std::size_t i = 0; i < m; ++i) c.x1[i] = x[i] + c.att[i];
        ln2.forward(P, c.x1, rows, c.ln2, c.m2, c.r2);
        cross_attn.forward(P, c.ln2, memkv, groups, nq, nk, mem_gs, key_len, c.att, c.q, c.cprobs, c.cctx, c.stream_cross);
        for (std::size_t i = 0; i < m; ++i) c.x2[i] = c.x1[i] + c.att[i];
        ln3.forward(P, c.x2, rows, c.ln3, c.m3, c.r3);
        mlp.forward(P, c.ln3, rows, y, c.pre, c.act);
        for (std::size_t i = 0; i < m; ++i) y[i] += c.x2[i];
    }

    /// Inference buffers for `rows` rows from ws: no LayerNorm statistics, one LayerNorm output
    /// buffer, x2 = x1, the cross-attention queries in the qkv buffer, and one attention buffer
    /// shared by the self-attention (sg groups of one query against sk keys; 0: not run here) and
    /// the cross-attention (cg groups of rows / cg queries against ck keys): the probabilities of
    /// a small attention, the streamed scratch of a large one (attention_inference_values).
    template <class T>
    decoder_block_cache<T> scratch(workspace& ws, int rows, int sg, int sk, int cg, int ck) const {
        const std::size_t m = std::size_t(rows) * d;
        const int h = self_attn.heads;
        const std::size_t probs =
            std::max(sg > 0 ? attention_inference_values(std::size_t(sg), h, 1, sk) : std::size_t(0),
                     attention_inference_values(std::size_t(cg), h, rows / cg, ck));
        decoder_block_cache<T> c;
        c.stream_self = sg > 0 && attention_inference_streams(std::size_t(sg), h, 1, sk);
        c.stream_cross = attention_inference_streams(std::size_t(cg), h, rows / cg, ck);
        c.ln1 = c.ln2 = c.ln3 = ws.alloc<T>(m);
        c.qkv = c.q = ws.alloc<T>(m * 3);
        c.sprobs = c.cprobs = ws.alloc<T>(probs);
        c.sctx = c.cctx = ws.alloc<T>(m);
        c.att = ws.alloc<T>(m);
        c.x1 = c.x2 = ws.alloc<T>(m);
        c.pre = ws.alloc<T>(std::size_t(rows) * mlp.hidden * 2);
        c.act = c.pre + std::size_t(rows) * mlp.hidden;
        return c;
    }
};

}  // namespace nn
DUALRERANK_NAMESPACE_END
