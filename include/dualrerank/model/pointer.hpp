// Pointer logits z_{t,i} = (g_t Wq^T) . (h_i Wk^T) / sqrt(d): each slot state points at candidates.
// Tensor names: pointer.q.weight, pointer.k.weight (no biases).
#pragma once

#include <cmath>
#include <limits>

#include "../core/workspace.hpp"
#include "../nn/linear.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace detail {

struct pointer_head {
    nn::linear q, k;
    int d = 0;

    static pointer_head make(tensor_table& t, const std::string& prefix, int d) {
        pointer_head p;
        p.d = d;
        p.q = nn::linear::make(t, prefix + ".q", d, d, false);
        p.k = nn::linear::make(t, prefix + ".k", d, d, false);
        return p;
    }

    /// Z [B x nq x nk] from slot states S [B*nq x d] and keys Kp [mem_groups*nk x d] (already
    /// projected with `k`). Padded keys (i >= len[b]) get -inf. Qp [B*nq x d] receives q(S).
    template <class T>
    void logits(const T* P, const T* S, const T* Kp, int B, int nq, int nk, const int* len, bool shared_keys, T* Qp,
                T* Z) const noexcept {
        q.forward(P, S, B * nq, Qp);
        const T scale = T(1) / std::sqrt(T(d));
        for (int b = 0; b < B; ++b) {
            const T* kb = Kp + (shared_keys ? 0 : std::size_t(b) * nk * d);
            T* Zb = Z + std::size_t(b) * nq * nk;
            nn::gemm_nt<T>(nq, nk, d, scale, Qp + std::size_t(b) * nq * d, d, kb, d, T(0), Zb, nk);
            if (len && len[b] < nk)
                for (int t = 0; t < nq; ++t)
                    for (int i = len[b]; i < nk; ++i) Zb[std::size_t(t) * nk + i] = -std::numeric_limits<T>::infinity();
        }
    }

    /// Accumulate dS [B*nq x d] and dH [mem_groups*nk x d] (through Kp = k(H)) and the grads.
    template <class T>
    void backward(const T* P, const T* S, const T* H, const T* Qp, const T* Kp, const T* dZ, int B, int nq, int nk,
                  bool shared_keys, T* dS, T* dH, T* G, workspace& ws) const {
        const T scale = T(1) / std::sqrt(T(d));
        const int krows = shared_keys ? nk : B * nk;
        T* dQ = ws.alloc_zero<T>(std::size_t(B) * nq * d);
        T* dK = ws.alloc_zero<T>(std::size_t(krows) * d);
        for (int b = 0; b < B; ++b) {
            const std::size_t ko = shared_keys ? 0 : std::size_t(b) * nk * d;
            const T* dZb = dZ + std::size_t(b) * nq * nk;
            nn::gemm_nn<T>(nq, d, nk, T(1), dZb, nk, Kp + ko, d, T(1), dQ + std::size_t(b) * nq * d, d);
            nn::gemm_tn<T>(nk, d, nq, T(1), dZb, nk, Qp + std::size_t(b) * nq * d, d, T(1), dK + ko, d);
        }
        for (std::size_t i = 0; i < std::size_t(B) * nq * d; ++i) dQ[i] *= scale;
        for (std::size_t i = 0; i < std::size_t(krows) * d; ++i) dK[i] *= scale;
        q.backward(P, S, dQ, B * nq, dS, G);
        k.backward(P, H, dK, krows, dH, G);
    }
};

}  // namespace detail
DUALRERANK_NAMESPACE_END
