// NAR student (NAR4Rec matching shape, DESIGN.md section 3): L learned slot queries go through
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
#include "pointer.hpp"

DUALRERANK_NAMESPACE_BEGIN

template <class T>
struct student_cache {
    encoder_cache<T> enc;
    int B = 0, L = 0, n = 0;
    T* x0 = nullptr;  ///< tiled slot queries [B*L x d]
    nn::decoder_block_cache<T>* blocks = nullptr;
    T** outs = nullptr;
    T *mean = nullptr, *rstd = nullptr;
    T* S = nullptr;   ///< final slot states [B*L x d]
    T* Qp = nullptr;  ///< [B*L x d]
    T* Kp = nullptr;  ///< [B*n x d]
    T* Z = nullptr;   ///< logits [B x L x n], padded candidates -inf
};

template <class T>
class nar_student : public model_base<T> {
public:
    static constexpr model_kind kind = model_kind::student;

    explicit nar_student(const model_config& c) : model_base<T>(c) {
        auto& t = this->table_;
        enc_ = candidate_encoder::make(t, "encoder", c);
        slot_queries_ = t.add("slot_queries", {std::size_t(c.max_slate), std::size_t(c.d)}, false, tensor_init::gaussian(1.0));
        for (int i = 0; i < c.dec_layers; ++i)
            blocks_.push_back(nn::decoder_block::make(t, "decoder.blocks." + std::to_string(i), c.d, c.heads, c.ffn, false));
        ln_f_ = nn::layer_norm::make(t, "decoder.ln_f", c.d);
        ptr_ = pointer_head::make(t, "pointer", c.d);
        this->allocate();
    }

    /// Training/analysis forward over B requests (validated), all with slate length L.
    student_cache<T> forward(const request_view<T>* reqs, int B, int L, workspace& ws) const {
        check(reqs, B, L);
        const T* P = this->params();
        const int d = this->config_.d;
        student_cache<T> c;
        const packed_batch<T> pb = detail::pack(this->config_, reqs, B, ws);
        c.enc = enc_.forward(P, pb, ws);
        c.B = B;
        c.L = L;
        c.n = pb.n;
        const std::size_t rows = std::size_t(B) * L;
        c.x0 = ws.alloc<T>(rows * d);
        for (int b = 0; b < B; ++b) std::copy(P + slot_queries_, P + slot_queries_ + std::size_t(L) * d, c.x0 + std::size_t(b) * L * d);
        const int nb = static_cast<int>(blocks_.size());
        c.blocks = detail::ws_array<nn::decoder_block_cache<T>>(ws, nb);
        c.outs = detail::ws_array<T*>(ws, nb);
        const T* x = c.x0;
        for (int i = 0; i < nb; ++i) {
            c.blocks[i] = blocks_[i].template alloc_cache<T>(ws, B, L, c.n);
            c.outs[i] = ws.alloc<T>(rows * d);
            blocks_[i].forward(P, x, c.enc.H, B, L, c.n, pb.len, c.outs[i], c.blocks[i]);
            x = c.outs[i];
        }
        c.mean = ws.alloc<T>(rows);
        c.rstd = ws.alloc<T>(rows);
        c.S = ws.alloc<T>(rows * d);
        ln_f_.forward(P, x, int(rows), c.S, c.mean, c.rstd);
        c.Kp = ws.alloc<T>(std::size_t(B) * c.n * d);
        ptr_.k.forward(P, c.enc.H, B * c.n, c.Kp);
        c.Qp = ws.alloc<T>(rows * d);
        c.Z = ws.alloc<T>(rows * c.n);
        ptr_.logits(P, c.S, c.Kp, B, L, c.n, pb.len, false, c.Qp, c.Z);
        return c;
    }

    /// Backward from dZ [B x L x n] (zero at masked entries); accumulates into the gradient arena G.
    void backward(const student_cache<T>& c, const T* dZ, T* G, workspace& ws) const {
        const T* P = this->params();
        const int d = this->config_.d;
        const std::size_t rows = std::size_t(c.B) * c.L;
        T* dH = ws.alloc_zero<T>(std::size_t(c.B) * c.n * d);
        T* dS = ws.alloc_zero<T>(rows * d);
        ptr_.backward(P, c.S, c.enc.H, c.Qp, c.Kp, dZ, c.B, c.L, c.n, false, dS, dH, G, ws);
        const int nb = static_cast<int>(blocks_.size());
        T* dx = ws.alloc_zero<T>(rows * d);
        ln_f_.backward(P, nb ? c.outs[nb - 1] : c.x0, c.mean, c.rstd, dS, int(rows), dx, G);
        for (int i = nb - 1; i >= 0; --i) {
            T* dprev = ws.alloc_zero<T>(rows * d);
            blocks_[i].backward(P, i ? c.outs[i - 1] : c.x0, c.enc.H, c.B, c.L, c.n, c.enc.in.len, c.blocks[i], dx, dprev,
                                dH, G, ws);
            dx = dprev;
        }
        T* gq = G + slot_queries_;
        for (int b = 0; b < c.B; ++b)
            for (std::size_t i = 0; i < std::size_t(c.L) * d; ++i) gq[i] += dx[std::size_t(b) * c.L * d + i];
        enc_.backward(P, c.enc, dH, G, ws);
    }

    /// Inference: logits Z [L x n] of one request into `Z` (row-major). Resets ws.
    void logits(const request_view<T>& r, int L, T* Z, workspace& ws) const {
        ws.reset();
        student_cache<T> c = forward(&r, 1, L, ws);
        std::copy(c.Z, c.Z + std::size_t(L) * r.n, Z);
    }

    /// Batched inference: Z [B x L x n_max] with n_max the largest N (padded entries -inf). Resets ws.
    int logits_batch(const request_view<T>* reqs, int B, int L, T* Z, workspace& ws) const {
        ws.reset();
        student_cache<T> c = forward(reqs, B, L, ws);
        std::copy(c.Z, c.Z + std::size_t(B) * L * c.n, Z);
        return c.n;
    }

    const candidate_encoder& encoder() const noexcept { return enc_; }

private:
    void check(const request_view<T>* reqs, int B, int L) const {
        if (B < 1) detail::throw_input("nar_student: batch must hold at least one request");
        for (int b = 0; b < B; ++b) detail::validate_request(this->config_, reqs[b], L, "nar_student");
    }

    candidate_encoder enc_;
    std::size_t slot_queries_ = no_tensor;
    std::vector<nn::decoder_block> blocks_;
    nn::layer_norm ln_f_;
    pointer_head ptr_;
};

DUALRERANK_NAMESPACE_END
