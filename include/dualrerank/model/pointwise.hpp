// Pointwise item scorer f(x): the candidate encoder followed by a linear head, one score per
// candidate. It is the item model of the position-based click model used to de-bias logs
// (p(click at slot t) = exam_t * sigmoid(f(x))), and a pointwise reranking baseline.
// With enc_layers = 0 it is a linear model plus the multiplicative user-item term.
//
// Tensor names: encoder.*, head.{weight,bias}.
#pragma once

#include "encoder.hpp"
#include "model_base.hpp"

DUALRERANK_NAMESPACE_BEGIN

namespace detail {

template <class T>
struct pointwise_cache {
    encoder_cache<T> enc;
    int B = 0, n = 0;
    T* f = nullptr;  ///< scores [B x n]
};

}  // namespace detail

template <class T>
class pointwise_scorer : public detail::model_base<T> {
public:
    explicit pointwise_scorer(const model_config& c) : detail::model_base<T>(c) {
        auto& t = this->table_;
        enc_ = detail::candidate_encoder::make(t, "encoder", c);
        head_ = nn::linear::make(t, "head", c.d, 1, true);
        this->allocate();
    }

    /// stream = true (inference, `score`): the encoder's attention is streamed at large N.
    detail::pointwise_cache<T> forward(const request_view<T>* reqs, int B, workspace& ws, bool stream = false) const {
        if (B < 1) detail::throw_input("pointwise_scorer: batch must hold at least one request");
        if (B > limits::max_batch)
            detail::throw_input("pointwise_scorer: batch of B = " + std::to_string(B) +
                                " requests exceeds limits::max_batch = " + std::to_string(limits::max_batch));
        if (!reqs) detail::throw_input("pointwise_scorer: the requests pointer is null");
        for (int b = 0; b < B; ++b) detail::validate_request(this->config_, reqs[b], 1, "pointwise_scorer");
        detail::pointwise_cache<T> c;
        const detail::packed_batch<T> pb = detail::pack(this->config_, reqs, B, ws);
        c.enc = enc_.forward(this->params(), pb, ws, stream);
        c.B = B;
        c.n = pb.n;
        c.f = ws.alloc<T>(std::size_t(B) * pb.n);
        head_.forward(this->params(), c.enc.H, B * pb.n, c.f);
        return c;
    }

    /// df [B x n] (zero for padding); accumulates into G.
    void backward(const detail::pointwise_cache<T>& c, const T* df, T* G, workspace& ws) const {
        T* dH = ws.alloc_zero<T>(std::size_t(c.B) * c.n * this->config_.d);
        head_.backward(this->params(), c.enc.H, df, c.B * c.n, dH, G);
        enc_.backward(this->params(), c.enc, dH, G, ws);
    }

    /// Scores of one request's candidates into f [n]. Resets ws.
    void score(const request_view<T>& r, T* f, workspace& ws) const {
        ws.reset();
        detail::pointwise_cache<T> c = forward(&r, 1, ws, true);
        std::copy(c.f, c.f + r.n, f);
    }

private:
    detail::candidate_encoder enc_;
    nn::linear head_;
};

DUALRERANK_NAMESPACE_END
