// NAR student (NAR4Rec matching shape, docs/design.md section 3): L learned slot queries go through
// n_dec slot blocks (self-attention among slots, cross-attention to the candidate encoding H,
// FFN), all slots in parallel, then a final LayerNorm and the pointer head:
//   Z = (G Wq^T)(H Wk^T)^T / sqrt(d)        [L x N], in one pass.
// Decoding (greedy, confidence-ordered, sampled) reads Z only: see decode/.
//
// Tensor names: encoder.*, slot_queries [max_slate x d], decoder.blocks.{i}.*, decoder.ln_f.*,
// pointer.{q,k}.weight.
#pragma once

#include <vector>

#include "encoder.hpp"
#include "model_base.hpp"
#include "decoder_stack.hpp"
#include "memory.hpp"

DUALRERANK_NAMESPACE_BEGIN

namespace detail {

template <class T>
struct student_cache {
    encoder_cache<T> enc;
    decoder_cache<T> dec;
    int B = 0, L = 0, n = 0;
    T* x0 = nullptr;  ///< tiled slot queries [B*L x d]
    T* Z = nullptr;   ///< logits [B x L x n], padded candidates -inf
};

}  // namespace detail

template <class T>
class nar_student : public detail::model_base<T> {
public:
    static constexpr model_kind kind = model_kind::student;

    /// `max_parameters`: see model_base::allocate (the loaders bound it by the file's size).
    explicit nar_student(const model_config& c, std::size_t max_parameters = static_cast<std::size_t>(-1)) : detail::model_base<T>(c) {
        auto& t = this->table_;
        enc_ = detail::candidate_encoder::make(t, "encoder", c);
        slot_queries_ = t.add("slot_queries", {std::size_t(c.max_slate), std::size_t(c.d)}, false, tensor_init::gaussian(1.0));
        dec_ = detail::decoder_stack::make(t, c, false);
        this->allocate(max_parameters);
    }

    /// Training/analysis forward over B requests (validated), all with slate length L. The cache
    /// keeps every attention's probabilities for backward: B * heads * N^2 values per encoder
    /// layer. Decoding uses `infer`.
    detail::student_cache<T> forward(const request_view<T>* reqs, int B, int L, workspace& ws) const {
        return run(reqs, B, L, ws, false);
    }

    /// Inference forward: the same logits Z (up to float rounding) with streamed attention
    /// (nn::attention_forward_streamed), so the workspace grows with N * d, not N^2 (see
    /// max_workspace_bytes). Only c.Z and c.n are for use; the cache cannot go to backward.
    detail::student_cache<T> infer(const request_view<T>* reqs, int B, int L, workspace& ws) const {
        return run(reqs, B, L, ws, true);
    }

    /// Backward from dZ [B x L x n] (zero at masked entries); accumulates into the gradient arena G.
    void backward(const detail::student_cache<T>& c, const T* dZ, T* G, workspace& ws) const {
        const T* P = this->params();
        const int d = this->config_.d;
        T* dH = ws.alloc_zero<T>(std::size_t(c.B) * c.n * d);
        const T* dx = dec_.backward(P, c.dec, dZ, dH, G, ws);
        T* gq = G + slot_queries_;
        for (int b = 0; b < c.B; ++b)
            for (std::size_t i = 0; i < std::size_t(c.L) * d; ++i) gq[i] += dx[std::size_t(b) * c.L * d + i];
        enc_.backward(P, c.enc, dH, G, ws);
    }

    /// Inference: logits Z [L x n] of one request into `Z` (row-major). Resets ws.
    void logits(const request_view<T>& r, int L, T* Z, workspace& ws) const {
        ws.reset();
        detail::student_cache<T> c = infer(&r, 1, L, ws);
        std::copy(c.Z, c.Z + std::size_t(L) * r.n, Z);
    }

    /// Batched inference: Z [B x L x n_max] with n_max the largest N (padded entries -inf). Resets ws.
    int logits_batch(const request_view<T>* reqs, int B, int L, T* Z, workspace& ws) const {
        ws.reset();
        detail::student_cache<T> c = infer(reqs, B, L, ws);
        std::copy(c.Z, c.Z + std::size_t(B) * L * c.n, Z);
        return c.n;
    }

    const detail::candidate_encoder& encoder() const noexcept { return enc_; }

private:
    detail::student_cache<T> run(const request_view<T>* reqs, int B, int L, workspace& ws, bool stream) const {
        check(reqs, B, L);
        if (stream) {
            workload w;
            for (int b = 0; b < B; ++b) w.n = std::max(w.n, reqs[b].n);
            w.L = L;
            w.batch = B;
            detail::check_workspace_bound(ws, max_workspace_bytes<T>(this->config_, kind, w), "nar_student", w);
        }
        const T* P = this->params();
        const int d = this->config_.d;
        detail::student_cache<T> c;
        const detail::packed_batch<T> pb = detail::pack(this->config_, reqs, B, ws);
        c.enc = enc_.forward(P, pb, ws, stream);
        c.B = B;
        c.L = L;
        c.n = pb.n;
        const std::size_t rows = std::size_t(B) * L;
        c.x0 = ws.alloc<T>(rows * d);
        for (int b = 0; b < B; ++b) std::copy(P + slot_queries_, P + slot_queries_ + std::size_t(L) * d, c.x0 + std::size_t(b) * L * d);
        c.dec = dec_.forward(P, c.x0, c.enc.H, B, L, c.n, pb.len, B, ws, stream);
        c.Z = c.dec.Z;
        return c;
    }

    void check(const request_view<T>* reqs, int B, int L) const {
        if (B < 1) detail::throw_input("nar_student: batch must hold at least one request");
        if (B > limits::max_batch)
            detail::throw_input("nar_student: batch of B = " + std::to_string(B) + " requests exceeds limits::max_batch = " +
                                std::to_string(limits::max_batch));
        if (!reqs) detail::throw_input("nar_student: the requests pointer is null (B = " + std::to_string(B) + ")");
        for (int b = 0; b < B; ++b) detail::validate_request(this->config_, reqs[b], L, "nar_student");
    }

    detail::candidate_encoder enc_;
    std::size_t slot_queries_ = no_tensor;
    detail::decoder_stack dec_;
};

DUALRERANK_NAMESPACE_END
