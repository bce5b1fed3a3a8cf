// The slot/step decoder shared by the AR teacher and the NAR student: n_dec decoder blocks over
// the candidate encoding H (causal for the teacher, bidirectional among slots for the student),
// a final LayerNorm and the pointer head. One implementation of forward and backward for both.
//
// Tensor names: decoder.blocks.{i}.*, decoder.ln_f.*, pointer.{q,k}.weight.
#pragma once

#include <string>
#include <vector>

#include "batch.hpp"
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
    template <class T>
    decoder_cache<T> forward(const T* P, const T* x0, const T* H, int B, int L, int n, const int* len, int mem_groups,
                             workspace& ws) const {
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
            c.blocks[i] = blocks[i].template alloc_cache<T>(ws, B, L, n);
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
};

}  // namespace detail
DUALRERANK_NAMESPACE_END
