// NAR student (NAR4Rec matching shape, docs/design.md section 3): L learned slot queries go through
// n_dec slot blocks (self-attention among slots, cross-attention to the candidate encoding H,
// FFN), all slots in parallel, then a final LayerNorm and the pointer head:
//   Z = (G Wq^T)(H Wk^T)^T / sqrt(d)        [L x N], in one pass.
// Decoding (greedy, confidence-ordered, sampled) reads Z only: see decode/.
//
// Tensor names: encoder.*, slot_queries [max_slate x d], decoder.blocks.{i}.*, decoder.ln_f.*,
// pointer.{q,k}.weight.
//
// An ensemble (nar_student::ensemble) is K students of one config served as one: its inference
// (infer, logits, logits_batch, and so every decoder and the serving front door) returns the mean
// of the members' slot logits, which is the normalized product of their slot distributions (the
// mean of the log-softmax rows differs from it by a constant per row). Inference only: forward and
// backward refuse it (train the members, then combine them).
#pragma once

#include <algorithm>
#include <limits>
#include <memory>
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

    /// At most this many members in an ensemble (a model file declaring more is refused).
    static constexpr int max_members = 64;

    /// An ensemble of `members` (1 to max_members students of one config, moved in): one student
    /// whose inference returns the mean of the members' slot logits Z. Member 0's weights are the
    /// ensemble's own table and params() (what init, tensor and a trainer would see); the others
    /// are held shared and immutable, so copying an ensemble copies member 0's arena only.
    /// forward/backward throw input_error on an ensemble. An inference call takes up to
    /// members() x max_workspace_bytes plus B L N values of workspace. input_error on an empty
    /// list, too many members or a config that differs from member 0's (naming the member).
    static nar_student ensemble(std::vector<nar_student> members) {
        if (members.empty()) detail::throw_input("nar_student::ensemble: no members");
        if (int(members.size()) > max_members)
            detail::throw_input("nar_student::ensemble: " + std::to_string(members.size()) + " members exceed max_members = " +
                                std::to_string(max_members));
        for (std::size_t k = 0; k < members.size(); ++k) {
            if (members[k].members() != 1)
                detail::throw_input("nar_student::ensemble: member " + std::to_string(k) + " is itself an ensemble");
            if (!(members[k].config() == members[0].config()))
                detail::throw_input("nar_student::ensemble: member " + std::to_string(k) + " has another config than member 0");
        }
        nar_student e = std::move(members[0]);
        if (members.size() > 1) {
            auto rest = std::make_shared<std::vector<nar_student>>();
            for (std::size_t k = 1; k < members.size(); ++k) rest->push_back(std::move(members[k]));
            e.rest_ = std::move(rest);
        }
        return e;
    }

    /// Members of the ensemble (1 for a single student).
    int members() const noexcept { return 1 + (rest_ ? int(rest_->size()) : 0); }

    /// Member k (0 <= k < members()) as a single student; member 0 is this model's own weights
    /// (returned without its ensemble). input_error for k out of range.
    nar_student member(int k) const {
        if (k < 0 || k >= members())
            detail::throw_input("nar_student::member: " + std::to_string(k) + " is not in [0, " + std::to_string(members()) + ")");
        if (k > 0) return (*rest_)[std::size_t(k - 1)];
        nar_student m = *this;
        m.rest_.reset();
        return m;
    }

    /// Training/analysis forward over B requests (validated), all with slate length L. The cache
    /// keeps every attention's probabilities for backward: B * heads * N^2 values per encoder
    /// layer. Decoding uses `infer`. input_error on an ensemble (inference only).
    detail::student_cache<T> forward(const request_view<T>* reqs, int B, int L, workspace& ws) const {
        if (rest_)
            detail::throw_input("nar_student: an ensemble of " + std::to_string(members()) +
                                " members is for inference only; train its members (member(k)) one by one");
        return run(reqs, B, L, ws, false);
    }

    /// Inference forward: the same logits Z (up to float rounding) with streamed attention
    /// (nn::attention_forward_streamed), so the workspace grows with N * d, not N^2 (see
    /// max_workspace_bytes). Only c.Z and c.n are for use; the cache cannot go to backward.
    /// An ensemble's Z is the mean of its members' (padded entries stay -inf).
    detail::student_cache<T> infer(const request_view<T>* reqs, int B, int L, workspace& ws) const {
        if (!rest_) return run(reqs, B, L, ws, true);
        check(reqs, B, L);
        workload w;
        for (int b = 0; b < B; ++b) w.n = std::max(w.n, reqs[b].n);
        w.L = L;
        w.batch = B;
        detail::check_workspace_bound(ws, workspace_bound(w), "nar_student (ensemble)", w);
        detail::student_cache<T> c = run(reqs, B, L, ws, true, false);
        const std::size_t size = std::size_t(B) * L * c.n;
        T* acc = ws.alloc<T>(size);
        std::copy(c.Z, c.Z + size, acc);
        for (const nar_student& m : *rest_) {
            const detail::student_cache<T> cm = m.run(reqs, B, L, ws, true, false);
            for (std::size_t i = 0; i < size; ++i) acc[i] += cm.Z[i];  // -inf padding stays -inf
        }
        const T inv = T(1) / T(members());
        for (std::size_t i = 0; i < size; ++i) acc[i] *= inv;
        c.Z = acc;
        return c;
    }

    /// The workspace bound of one inference call of this model on workload `w`: for a single
    /// student max_workspace_bytes(config(), model_kind::student, w); for an ensemble of K members,
    /// K times a member's bound without the sampler, plus the B L N mean logits, plus the
    /// sampler's share when w.samples > 0. The decoders (student_sample, best_of_n) and infer check
    /// this figure; size a budget (workspace::set_budget) with it. Saturates at SIZE_MAX.
    std::size_t workspace_bound(const workload& w) const noexcept {
        const std::size_t with_sampler = max_workspace_bytes<T>(this->config_, kind, w);
        if (!rest_) return with_sampler;
        const std::size_t top = std::numeric_limits<std::size_t>::max();
        workload plain = w;
        plain.samples = 0;
        const std::size_t one = max_workspace_bytes<T>(this->config_, kind, plain);
        const std::size_t sampler = with_sampler >= one ? with_sampler - one : 0;
        const std::size_t K = std::size_t(members());
        const double n = std::clamp(w.n, 1, limits::max_candidates), L = std::clamp(w.L, 1, limits::max_slate);
        const double B = std::clamp(w.batch, 1, limits::max_batch);
        const std::size_t acc = std::size_t(B * L * n) * sizeof(T) + 64;
        if (one > (top - acc - sampler) / K) return top;
        return K * one + acc + sampler;
    }

    /// Backward from dZ [B x L x n] (zero at masked entries); accumulates into the gradient arena G.
    void backward(const detail::student_cache<T>& c, const T* dZ, T* G, workspace& ws) const {
        if (rest_) detail::throw_input("nar_student: an ensemble is for inference only (backward)");
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
    detail::student_cache<T> run(const request_view<T>* reqs, int B, int L, workspace& ws, bool stream, bool bound = true) const {
        check(reqs, B, L);
        if (stream && bound) {
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
    std::shared_ptr<const std::vector<nar_student>> rest_;  ///< ensemble members 1..K-1 (null: a single student)
};

DUALRERANK_NAMESPACE_END
