// Candidate encoder (docs/design.md section 3):
//   h0 = X W_in + b_in + (X W_a) * (c W_c) (+ rank_emb[rank])
//   H  = LN_f(block_{n_enc}( ... block_1(h0)))      (pre-LN, bidirectional self-attention)
// The multiplicative user-item term is what lets a reranker learn personal affinity from the
// request's context features; it is absent when the config has no context.
//
// Tensor names (prefix "encoder"): input.{weight,bias}, item_ctx.weight, ctx.weight,
// rank_emb.weight, blocks.{i}.*, ln_f.{weight,bias}.
#pragma once

#include <string>
#include <vector>

#include "../nn/block.hpp"
#include "batch.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace detail {

template <class T>
struct encoder_cache {
    packed_batch<T> in;
    T* a = nullptr;      ///< X W_a [rows x d]
    T* cproj = nullptr;  ///< c W_c [B x d]
    T* h0 = nullptr;     ///< [rows x d]
    nn::encoder_block_cache<T>* blocks = nullptr;
    T** outs = nullptr;  ///< block outputs, [n_enc] x [rows x d]
    T *mean = nullptr, *rstd = nullptr;
    T* H = nullptr;  ///< final encoding [rows x d]
};

struct candidate_encoder {
    nn::linear input, item_ctx, ctx;
    std::size_t rank_emb = no_tensor;
    std::vector<nn::encoder_block> blocks;
    nn::layer_norm ln_f;
    int d = 0, F = 0, Fc = 0, max_rank = 0;

    static candidate_encoder make(tensor_table& t, const std::string& prefix, const model_config& c) {
        candidate_encoder e;
        e.d = c.d;
        e.F = c.features;
        e.Fc = c.context;
        e.input = nn::linear::make(t, prefix + ".input", c.features, c.d, true);
        if (c.context > 0) {
            e.item_ctx = nn::linear::make(t, prefix + ".item_ctx", c.features, c.d, false);
            e.ctx = nn::linear::make(t, prefix + ".ctx", c.context, c.d, false);
        }
        if (c.rank_embedding) {
            e.max_rank = c.max_candidates;
            e.rank_emb = t.add(prefix + ".rank_emb.weight", {std::size_t(c.max_candidates), std::size_t(c.d)}, false,
                               tensor_init::gaussian(0.1));
        }
        for (int i = 0; i < c.enc_layers; ++i)
            e.blocks.push_back(
                nn::encoder_block::make(t, prefix + ".blocks." + std::to_string(i), c.d, c.heads, c.ffn, false));
        e.ln_f = nn::layer_norm::make(t, prefix + ".ln_f", c.d);
        return e;
    }

    /// Encode a packed batch; every buffer comes from ws and stays valid until ws.reset().
    /// stream = true (inference): the self-attention is streamed and keeps no probabilities, so
    /// the workspace grows with N * d, not N^2 (the cache cannot be used for backward).
    template <class T>
    encoder_cache<T> forward(const T* P, const packed_batch<T>& b, workspace& ws, bool stream = false) const {
        encoder_cache<T> c;
        c.in = b;
        const int rows = b.B * b.n;
        const std::size_t m = std::size_t(rows) * d;
        c.h0 = ws.alloc<T>(m);
        input.forward(P, b.x, rows, c.h0);
        if (Fc > 0) {
            c.a = ws.alloc<T>(m);
            c.cproj = ws.alloc<T>(std::size_t(b.B) * d);
            item_ctx.forward(P, b.x, rows, c.a);
            ctx.forward(P, b.ctx, b.B, c.cproj);
            for (int g = 0; g < b.B; ++g)
                for (int r = 0; r < b.n; ++r) {
                    T* h = c.h0 + (std::size_t(g) * b.n + r) * d;
                    const T* a = c.a + (std::size_t(g) * b.n + r) * d;
                    const T* cp = c.cproj + std::size_t(g) * d;
                    nn::add_product(h, a, cp, std::size_t(d));
                }
        }
        if (rank_emb != no_tensor && b.rank) {
            for (int r = 0; r < rows; ++r) {
                const T* e = P + rank_emb + std::size_t(b.rank[r]) * d;
                nn::add_inplace(c.h0 + std::size_t(r) * d, e, std::size_t(d));
            }
        }
        const int nb = static_cast<int>(blocks.size());
        c.blocks = ws_array<nn::encoder_block_cache<T>>(ws, nb);
        c.outs = ws_array<T*>(ws, nb);
        const T* x = c.h0;
        for (int i = 0; i < nb; ++i) {
            c.blocks[i] = blocks[i].template alloc_cache<T>(ws, b.B, b.n, stream);
            c.outs[i] = ws.alloc<T>(m);
            blocks[i].forward(P, x, b.B, b.n, b.len, c.outs[i], c.blocks[i]);
            x = c.outs[i];
        }
        c.mean = ws.alloc<T>(rows);
        c.rstd = ws.alloc<T>(rows);
        c.H = ws.alloc<T>(m);
        ln_f.forward(P, x, rows, c.H, c.mean, c.rstd);
        return c;
    }

    /// Given dH [rows x d], accumulate parameter gradients into G.
    template <class T>
    void backward(const T* P, const encoder_cache<T>& c, const T* dH, T* G, workspace& ws) const {
        const packed_batch<T>& b = c.in;
        const int rows = b.B * b.n;
        const std::size_t m = std::size_t(rows) * d;
        const int nb = static_cast<int>(blocks.size());
        T* dx = ws.alloc_zero<T>(m);
        const T* last = nb > 0 ? c.outs[nb - 1] : c.h0;
        ln_f.backward(P, last, c.mean, c.rstd, dH, rows, dx, G);
        for (int i = nb - 1; i >= 0; --i) {
            T* dprev = ws.alloc_zero<T>(m);
            const T* xin = i > 0 ? c.outs[i - 1] : c.h0;
            blocks[i].backward(P, xin, b.B, b.n, b.len, c.blocks[i], dx, dprev, G, ws);
            dx = dprev;
        }
        // dx is now d(h0)
        input.backward(P, b.x, dx, rows, static_cast<T*>(nullptr), G);
        if (Fc > 0) {
            T* da = ws.alloc<T>(m);
            T* dc = ws.alloc_zero<T>(std::size_t(b.B) * d);
            for (int g = 0; g < b.B; ++g)
                for (int r = 0; r < b.n; ++r) {
                    const std::size_t o = (std::size_t(g) * b.n + r) * d;
                    const T* cp = c.cproj + std::size_t(g) * d;
                    nn::multiply(da + o, dx + o, cp, std::size_t(d));
                    nn::add_product(dc + std::size_t(g) * d, dx + o, c.a + o, std::size_t(d));
                }
            item_ctx.backward(P, b.x, da, rows, static_cast<T*>(nullptr), G);
            ctx.backward(P, b.ctx, dc, b.B, static_cast<T*>(nullptr), G);
        }
        if (rank_emb != no_tensor && b.rank) {
            for (int r = 0; r < rows; ++r) {
                if (b.len && r % b.n >= b.len[r / b.n]) continue;
                T* ge = G + rank_emb + std::size_t(b.rank[r]) * d;
                const T* g = dx + std::size_t(r) * d;
                nn::add_inplace(ge, g, std::size_t(d));
            }
        }
    }
};

}  // namespace detail
DUALRERANK_NAMESPACE_END
