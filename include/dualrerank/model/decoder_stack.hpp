// The slot/step decoder shared by the AR teacher and the NAR student: n_dec decoder blocks over
// the candidate encoding H (causal for the teacher, bidirectional among slots for the student),
// a final LayerNorm and the pointer head. One implementation of forward and backward for both.
//
// Inference (the teacher's): `begin` + `step` decode position by position with a KV cache (each
// step runs every block's incremental step, the final LayerNorm and the pointer logits), and
// `forward_tree` decodes every row of a prefix trie in one batched pass with tree attention.
// Callers build the input rows; nothing outside this stack touches its blocks.
//
// Tensor names: decoder.blocks.{i}.*, decoder.ln_f.*, pointer.{q,k}.weight.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/params.hpp"
#include "../core/workspace.hpp"
#include "../nn/block.hpp"
#include "../nn/layer_norm.hpp"
#include "batch.hpp"
#include "config.hpp"
#include "pointer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace detail {

template <class T>
struct decoder_cache {
    int B = 0, L = 0, n = 0, mem_groups = 0;
    const T* x0 = nullptr;  ///< decoder input [B*L x d]
    const T* H = nullptr;   ///< memory [mem_groups*n x d]
    const int* len = nullptr;
    nn::decoder_block_cache<T>* blocks = nullptr;
    T** outs = nullptr;
    T *mean = nullptr, *rstd = nullptr;
    T* S = nullptr;   ///< final states [B*L x d]
    T* Qp = nullptr;  ///< [B*L x d]
    T* Kp = nullptr;  ///< [mem_groups*n x d]
    T* Z = nullptr;   ///< logits [B x L x n], padded candidates -inf
};

/// Incremental decoding state over one memory [n x d]: a KV cache for up to `beams` sequences of
/// `cap` positions, the projected memory of every block and the pointer keys (computed once).
template <class T>
struct decoder_kv_cache {
    int n = 0, cap = 0, beams = 0;
    T* Kp = nullptr;       ///< pointer keys [n x d]
    T** memkv = nullptr;   ///< per block [n x 2d]
    T** selfkv = nullptr;  ///< per block [beams x cap x 2d]
    T** spare = nullptr;   ///< per block, same size (beam reordering; null entries with one beam)
    T* x = nullptr;        ///< the next step's input rows [beams x d] (written by the caller)
    T* y = nullptr;        ///< scratch [beams x d]
    T* q = nullptr;        ///< pointer queries [beams x d]
};

struct decoder_stack {
    std::vector<nn::decoder_block> blocks;
    nn::layer_norm ln_f;
    pointer_head ptr;
    int d = 0;

    static decoder_stack make(tensor_table& t, const model_config& c, bool causal) {
        decoder_stack s;
        s.d = c.d;
        for (int i = 0; i < c.dec_layers; ++i)
            s.blocks.push_back(nn::decoder_block::make(t, "decoder.blocks." + std::to_string(i), c.d, c.heads, c.ffn, causal));
        s.ln_f = nn::layer_norm::make(t, "decoder.ln_f", c.d);
        s.ptr = pointer_head::make(t, "pointer", c.d);
        return s;
    }

    /// x0 [B*L x d]; H [mem_groups*n x d] with mem_groups = B (one memory per group) or 1 (shared).
    /// stream = true (inference): streamed attention, no probabilities kept (no backward).
    template <class T>
    decoder_cache<T> forward(const T* P, const T* x0, const T* H, int B, int L, int n, const int* len, int mem_groups,
                             workspace& ws, bool stream = false) const {
        decoder_cache<T> c;
        c.B = B;
        c.L = L;
        c.n = n;
        c.mem_groups = mem_groups;
        c.x0 = x0;
        c.H = H;
        c.len = len;
        const std::size_t rows = std::size_t(B) * L;
        const int nb = static_cast<int>(blocks.size());
        c.blocks = ws_array<nn::decoder_block_cache<T>>(ws, nb);
        c.outs = ws_array<T*>(ws, nb);
        const T* x = x0;
        for (int i = 0; i < nb; ++i) {
            c.blocks[i] = blocks[i].template alloc_cache<T>(ws, B, L, n, stream);
            c.outs[i] = ws.alloc<T>(rows * d);
            blocks[i].forward(P, x, H, B, L, n, len, c.outs[i], c.blocks[i], mem_groups);
            x = c.outs[i];
        }
        c.mean = ws.alloc<T>(rows);
        c.rstd = ws.alloc<T>(rows);
        c.S = ws.alloc<T>(rows * d);
        ln_f.forward(P, x, int(rows), c.S, c.mean, c.rstd);
        c.Kp = ws.alloc<T>(std::size_t(mem_groups) * n * d);
        ptr.k.forward(P, H, mem_groups * n, c.Kp);
        c.Qp = ws.alloc<T>(rows * d);
        c.Z = ws.alloc<T>(rows * n);
        ptr.logits(P, c.S, c.Kp, B, L, n, len, mem_groups == 1 && B > 1, c.Qp, c.Z);
        return c;
    }

    /// From dZ [B x L x n] (zero at masked entries): returns d(x0) [B*L x d] (from ws) and
    /// accumulates d(H) into dH [mem_groups*n x d] and the parameter gradients into G.
    template <class T>
    T* backward(const T* P, const decoder_cache<T>& c, const T* dZ, T* dH, T* G, workspace& ws) const {
        const std::size_t rows = std::size_t(c.B) * c.L;
        T* dS = ws.alloc_zero<T>(rows * d);
        ptr.backward(P, c.S, c.H, c.Qp, c.Kp, dZ, c.B, c.L, c.n, c.mem_groups == 1 && c.B > 1, dS, dH, G, ws);
        const int nb = static_cast<int>(blocks.size());
        T* dx = ws.alloc_zero<T>(rows * d);
        ln_f.backward(P, nb ? c.outs[nb - 1] : c.x0, c.mean, c.rstd, dS, int(rows), dx, G);
        for (int i = nb - 1; i >= 0; --i) {
            T* dprev = ws.alloc_zero<T>(rows * d);
            blocks[i].backward(P, i ? c.outs[i - 1] : c.x0, c.H, c.B, c.L, c.n, c.len, c.blocks[i], dx, dprev, dH, G, ws,
                               c.mem_groups);
            dx = dprev;
        }
        return dx;
    }
    /// Project the memory H [n x d] for every block and the pointer, and allocate a KV cache for
    /// `beams` sequences of up to `cap` positions. Every buffer comes from ws.
    template <class T>
    decoder_kv_cache<T> begin(const T* P, const T* H, int n, int beams, int cap, workspace& ws) const {
        decoder_kv_cache<T> s;
        s.n = n;
        s.cap = cap;
        s.beams = beams;
        s.Kp = ws.alloc<T>(std::size_t(n) * d);
        ptr.k.forward(P, H, n, s.Kp);
        const int nb = static_cast<int>(blocks.size());
        s.memkv = ws_array<T*>(ws, nb);
        s.selfkv = ws_array<T*>(ws, nb);
        s.spare = ws_array<T*>(ws, nb);
        for (int i = 0; i < nb; ++i) {
            s.memkv[i] = ws.alloc<T>(std::size_t(n) * 2 * d);
            blocks[i].cross_attn.project_memory(P, H, n, s.memkv[i]);
            s.selfkv[i] = ws.alloc<T>(std::size_t(beams) * cap * 2 * d);
            s.spare[i] = beams > 1 ? ws.alloc<T>(std::size_t(beams) * cap * 2 * d) : nullptr;
        }
        s.x = ws.alloc<T>(std::size_t(beams) * d);
        s.y = ws.alloc<T>(std::size_t(beams) * d);
        s.q = ws.alloc<T>(std::size_t(beams) * d);
        return s;
    }

    /// One step at position t (0-based, < s.cap) for B <= s.beams sequences whose input rows the
    /// caller wrote into s.x [B x d] (overwritten): pointer logits [B x n] (raw, unmasked) into
    /// `logits`, and position t's keys and values into the cache. The shapes are the caller's to
    /// check. Block scratch comes from ws and is not released.
    template <class T>
    void step(const T* P, decoder_kv_cache<T>& s, int B, int t, T* logits, workspace& ws) const {
        T* x = s.x;
        T* y = s.y;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            blocks[i].step(P, x, B, t, s.selfkv[i], s.cap, s.memkv[i], s.n, 0, static_cast<const int*>(nullptr), y, ws);
            std::swap(x, y);
        }
        T* g = y;  // free buffer
        ln_f.forward(P, x, B, g);
        ptr.logits(P, g, s.Kp, 1, B, s.n, static_cast<const int*>(nullptr), true, s.q, logits);
    }

    /// Beam bookkeeping after t steps: sequence b continues old sequence parent[b] (cache rows
    /// 0..t-1 copied). parent[b] in [0, s.beams), B <= s.beams, s.beams >= 2: the caller checks.
    template <class T>
    void reorder(decoder_kv_cache<T>& s, const int* parent, int B, int t) const noexcept {
        const std::size_t rowlen = std::size_t(t) * 2 * d, stride = std::size_t(s.cap) * 2 * d;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            for (int b = 0; b < B; ++b)
                std::copy(s.selfkv[i] + parent[b] * stride, s.selfkv[i] + parent[b] * stride + rowlen, s.spare[i] + b * stride);
            std::swap(s.selfkv[i], s.spare[i]);
        }
    }

    /// Every row of a prefix trie in one pass: x [R x d] the input rows (overwritten), row j's
    /// causal self-attention keys are the rows anc[j * anc_stride + i], i = 0..depth[j] (see
    /// nn::decoder_block::forward_tree); all rows attend to one memory H [n x d]. Returns the
    /// final states [R x d] (from ws) for `tree_logits`; Kp [n x d] receives the pointer keys.
    /// The logits are the caller's to compute in row blocks, so nothing here holds R x n values.
    template <class T>
    T* forward_tree(const T* P, T* x, int R, const int* anc, int anc_stride, const int* depth, const T* H, int n, T* Kp,
                    workspace& ws) const {
        T* y = ws.alloc<T>(std::size_t(R) * d);
        T* memkv = ws.alloc<T>(std::size_t(n) * 2 * d);
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            blocks[i].cross_attn.project_memory(P, H, n, memkv);
            blocks[i].forward_tree(P, x, R, anc, anc_stride, depth, memkv, n, y, ws);
            std::swap(x, y);
        }
        ln_f.forward(P, x, R, y);
        ptr.k.forward(P, H, n, Kp);
        return y;
    }

    /// Pointer logits [rows x n] (raw, unmasked) into Z of `rows` final states S [rows x d]
    /// against the pointer keys Kp [n x d]; Q [rows x d] is scratch.
    template <class T>
    void tree_logits(const T* P, const T* S, int rows, const T* Kp, int n, T* Q, T* Z) const noexcept {
        ptr.logits(P, S, Kp, 1, rows, n, static_cast<const int*>(nullptr), true, Q, Z);
    }
};

}  // namespace detail
DUALRERANK_NAMESPACE_END
