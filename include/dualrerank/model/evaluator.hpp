// List evaluator (ours, FlashEvaluator-inspired; docs/design.md section 3): scores a given slate.
// Rows x_t = H[y_t] + slot_emb[t]; one causal pre-LN block (an item sees the items above it);
// final LayerNorm; a linear head gives per-slot engagement logits e_t [outputs]; the utility is
// u(y) = sum_t w_t sigmoid(e_t) (summed over outputs), with slot weights w given by the caller.
// K slates of one request are scored in one batched pass sharing one candidate encoding.
//
// Tensor names: encoder.*, slot_emb [max_slate x d], block.*, ln_f.*, head.{weight,bias}.
#pragma once

#include <cmath>

#include "encoder.hpp"
#include "model_base.hpp"

DUALRERANK_NAMESPACE_BEGIN

namespace detail {

template <class T>
struct evaluator_cache {
    encoder_cache<T> enc;
    int K = 0, L = 0, n = 0;
    const int* slates = nullptr;  ///< [K x L]
    T* x0 = nullptr;
    nn::encoder_block_cache<T> block;
    T* out = nullptr;
    T *mean = nullptr, *rstd = nullptr, *S = nullptr;
    T* E = nullptr;  ///< engagement logits [K x L x outputs]
};

}  // namespace detail

template <class T>
class list_evaluator : public detail::model_base<T> {
public:
    static constexpr model_kind kind = model_kind::evaluator;

    /// `max_parameters`: see model_base::allocate (the loaders bound it by the file's size).
    explicit list_evaluator(const model_config& c, std::size_t max_parameters = static_cast<std::size_t>(-1)) : detail::model_base<T>(c) {
        auto& t = this->table_;
        enc_ = detail::candidate_encoder::make(t, "encoder", c);
        slot_emb_ = t.add("slot_emb", {std::size_t(c.max_slate), std::size_t(c.d)}, false, tensor_init::gaussian(0.1));
        block_ = nn::encoder_block::make(t, "block", c.d, c.heads, c.ffn, true);
        ln_f_ = nn::layer_norm::make(t, "ln_f", c.d);
        head_ = nn::linear::make(t, "head", c.d, c.outputs, true);
        this->allocate(max_parameters);
    }

    /// Forward K slates [K x L] of one request (validated).
    /// stream = true (inference, `score`): the encoder's attention is streamed at large N (no
    /// N^2 probabilities kept; the cache cannot go to backward).
    detail::evaluator_cache<T> forward(const request_view<T>& r, int K, int L, const int* slates, workspace& ws,
                                       bool stream = false) const {
        detail::validate_request(this->config_, r, L, "list_evaluator");
        if (K < 1) detail::throw_input("list_evaluator: need at least one slate");
        for (int k = 0; k < K; ++k) detail::validate_slate(slates + std::size_t(k) * L, L, r.n, "list_evaluator");
        const T* P = this->params();
        const int d = this->config_.d;
        detail::evaluator_cache<T> c;
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        c.enc = enc_.forward(P, pb, ws, stream);
        c.K = K;
        c.L = L;
        c.n = r.n;
        c.slates = slates;
        const std::size_t rows = std::size_t(K) * L;
        c.x0 = ws.alloc<T>(rows * d);
        for (std::size_t i = 0; i < rows; ++i) {
            const T* h = c.enc.H + std::size_t(slates[i]) * d;
            const T* se = P + slot_emb_ + (i % L) * d;
            for (int j = 0; j < d; ++j) c.x0[i * d + j] = h[j] + se[j];
        }
        c.block = block_.template alloc_cache<T>(ws, K, L);
        c.out = ws.alloc<T>(rows * d);
        block_.forward(P, c.x0, K, L, nullptr, c.out, c.block);
        c.mean = ws.alloc<T>(rows);
        c.rstd = ws.alloc<T>(rows);
        c.S = ws.alloc<T>(rows * d);
        ln_f_.forward(P, c.out, int(rows), c.S, c.mean, c.rstd);
        c.E = ws.alloc<T>(rows * this->config_.outputs);
        head_.forward(P, c.S, int(rows), c.E);
        return c;
    }

    /// Backward from dE [K x L x outputs]; accumulates into G.
    void backward(const detail::evaluator_cache<T>& c, const T* dE, T* G, workspace& ws) const {
        const T* P = this->params();
        const int d = this->config_.d;
        const std::size_t rows = std::size_t(c.K) * c.L;
        T* dS = ws.alloc_zero<T>(rows * d);
        head_.backward(P, c.S, dE, int(rows), dS, G);
        T* dout = ws.alloc_zero<T>(rows * d);
        ln_f_.backward(P, c.out, c.mean, c.rstd, dS, int(rows), dout, G);
        T* dx = ws.alloc_zero<T>(rows * d);
        block_.backward(P, c.x0, c.K, c.L, nullptr, c.block, dout, dx, G, ws);
        T* dH = ws.alloc_zero<T>(std::size_t(c.n) * d);
        for (std::size_t i = 0; i < rows; ++i) {
            T* h = dH + std::size_t(c.slates[i]) * d;
            T* se = G + slot_emb_ + (i % c.L) * d;
            for (int j = 0; j < d; ++j) {
                h[j] += dx[i * d + j];
                se[j] += dx[i * d + j];
            }
        }
        enc_.backward(P, c.enc, dH, G, ws);
    }

    /// Utilities of K slates: u_k = sum_t w_t sum_o sigmoid(e_{k,t,o}); w [L] (null: all ones).
    void score(const request_view<T>& r, int K, int L, const int* slates, const T* w, T* utility, workspace& ws) const {
        ws.reset();
        detail::evaluator_cache<T> c = forward(r, K, L, slates, ws, true);
        const int O = this->config_.outputs;
        for (int k = 0; k < K; ++k) {
            T u = 0;
            for (int t = 0; t < L; ++t)
                for (int o = 0; o < O; ++o) {
                    const T e = c.E[(std::size_t(k) * L + t) * O + o];
                    u += (w ? w[t] : T(1)) / (T(1) + std::exp(-e));
                }
            utility[k] = u;
        }
    }

private:
    detail::candidate_encoder enc_;
    std::size_t slot_emb_ = no_tensor;
    nn::encoder_block block_;
    nn::layer_norm ln_f_;
    nn::linear head_;
};

DUALRERANK_NAMESPACE_END
