// AR teacher (Gen-Reranker shape from GReF, DESIGN.md section 3): a causal decoder over the slate
// built so far. Position p's input is s_0 = BOS + slot_emb[0] and s_p = H[y_p] + slot_emb[p]
// (y_p = the item chosen at slot p, 1-based, i.e. the previous slot's choice); each decoder
// block = causal self-attention over the prefix, cross-attention to H, FFN; the output g_p gives
// pointer logits over candidates for slot p+1, with already-chosen items masked to -inf.
//
// Inference is incremental with a KV cache (`begin` + `step`): step t costs
// O(n_dec (t + N) d + d^2) instead of a re-run of the prefix; the cross-attention keys/values and
// the pointer keys of H are computed once per request.
//
// Tensor names: encoder.*, bos [d], slot_emb [max_slate x d], decoder.blocks.{i}.*,
// decoder.ln_f.*, pointer.{q,k}.weight.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "encoder.hpp"
#include "model_base.hpp"
#include "decoder_stack.hpp"

DUALRERANK_NAMESPACE_BEGIN

namespace detail {

template <class T>
struct teacher_cache {
    encoder_cache<T> enc;
    decoder_cache<T> dec;
    int B = 0, L = 0, n = 0;
    const int* targets = nullptr;  ///< [B x L]
    T* x0 = nullptr;
    T* Z = nullptr;  ///< [B x L x n]: row p = logits for slot p given the target prefix, masked
};

}  // namespace detail

/// Incremental decoding state of one request with up to `beams` parallel prefixes.
template <class T>
struct teacher_state {
    int n = 0, L = 0, beams = 0, t = 0;
    const T* H = nullptr;  ///< [n x d]
    T* Kp = nullptr;       ///< pointer keys [n x d]
    T** memkv = nullptr;   ///< per layer [n x 2d]
    T** selfkv = nullptr;  ///< per layer [beams x L x 2d]
    T** spare = nullptr;   ///< per layer, same size (for beam reordering)
    T* x = nullptr;        ///< [beams x d]
    T* y = nullptr;        ///< [beams x d]
    T* q = nullptr;        ///< [beams x d]
};

template <class T>
class ar_teacher : public detail::model_base<T> {
public:
    static constexpr model_kind kind = model_kind::teacher;

    /// `max_parameters`: see model_base::allocate (the loaders bound it by the file's size).
    explicit ar_teacher(const model_config& c, std::size_t max_parameters = static_cast<std::size_t>(-1)) : detail::model_base<T>(c) {
        auto& t = this->table_;
        enc_ = detail::candidate_encoder::make(t, "encoder", c);
        bos_ = t.add("bos", {std::size_t(c.d)}, false, tensor_init::gaussian(1.0));
        slot_emb_ = t.add("slot_emb", {std::size_t(c.max_slate), std::size_t(c.d)}, false, tensor_init::gaussian(0.1));
        dec_ = detail::decoder_stack::make(t, c, true);
        this->allocate(max_parameters);
    }

    // ---------------------------------------------------------------- teacher forcing (training)

    /// Teacher-forced forward over target slates targets [B x L] (distinct valid indices per row).
    detail::teacher_cache<T> forward(const request_view<T>* reqs, int B, int L, const int* targets, workspace& ws) const {
        check(reqs, B, L);
        for (int b = 0; b < B; ++b) detail::validate_slate(targets + std::size_t(b) * L, L, reqs[b].n, "ar_teacher");
        const T* P = this->params();
        const int d = this->config_.d;
        detail::teacher_cache<T> c;
        const detail::packed_batch<T> pb = detail::pack(this->config_, reqs, B, ws);
        c.enc = enc_.forward(P, pb, ws);
        c.B = B;
        c.L = L;
        c.n = pb.n;
        c.targets = targets;
        const std::size_t rows = std::size_t(B) * L;
        c.x0 = ws.alloc<T>(rows * d);
        for (int b = 0; b < B; ++b)
            for (int p = 0; p < L; ++p) {
                T* row = c.x0 + (std::size_t(b) * L + p) * d;
                const T* src = p == 0 ? P + bos_ : c.enc.H + (std::size_t(b) * c.n + targets[std::size_t(b) * L + p - 1]) * d;
                const T* se = P + slot_emb_ + std::size_t(p) * d;
                for (int j = 0; j < d; ++j) row[j] = src[j] + se[j];
            }
        c.dec = dec_.forward(P, c.x0, c.enc.H, B, L, c.n, pb.len, B, ws);
        c.Z = c.dec.Z;
        const T ninf = -std::numeric_limits<T>::infinity();
        for (int b = 0; b < B; ++b)
            for (int p = 1; p < L; ++p)
                for (int q = 0; q < p; ++q)
                    c.Z[(std::size_t(b) * L + p) * c.n + targets[std::size_t(b) * L + q]] = ninf;
        return c;
    }

    /// Backward from dZ [B x L x n] (zero at masked entries); accumulates into G.
    void backward(const detail::teacher_cache<T>& c, const T* dZ, T* G, workspace& ws) const {
        const T* P = this->params();
        const int d = this->config_.d;
        T* dH = ws.alloc_zero<T>(std::size_t(c.B) * c.n * d);
        const T* dx = dec_.backward(P, c.dec, dZ, dH, G, ws);
        for (int b = 0; b < c.B; ++b)
            for (int p = 0; p < c.L; ++p) {
                const T* g = dx + (std::size_t(b) * c.L + p) * d;
                T* dst = p == 0 ? G + bos_ : dH + (std::size_t(b) * c.n + c.targets[std::size_t(b) * c.L + p - 1]) * d;
                T* se = G + slot_emb_ + std::size_t(p) * d;
                for (int j = 0; j < d; ++j) {
                    dst[j] += g[j];
                    se[j] += g[j];
                }
            }
        enc_.backward(P, c.enc, dH, G, ws);
    }

    /// Teacher-forced logits of K slates [K x L] of ONE request in one batched pass that encodes
    /// the candidates once (every slate attends to the same memory): the parallel scorer of
    /// Best-of-N and the SKD teacher targets. Inference only (no backward through this cache).
    /// Returns the cache; cache.Z is [K x L x n] with each slate's prefix masked.
    detail::teacher_cache<T> forward_slates(const request_view<T>& r, int K, int L, const int* slates, workspace& ws) const {
        check(&r, 1, L);
        if (K < 1) detail::throw_input("ar_teacher: need at least one slate to score");
        for (int k = 0; k < K; ++k) detail::validate_slate(slates + std::size_t(k) * L, L, r.n, "ar_teacher");
        const T* P = this->params();
        const int d = this->config_.d;
        detail::teacher_cache<T> c;
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        c.enc = enc_.forward(P, pb, ws);
        c.B = K;
        c.L = L;
        c.n = r.n;
        c.targets = slates;
        const std::size_t rows = std::size_t(K) * L;
        c.x0 = ws.alloc<T>(rows * d);
        for (int b = 0; b < K; ++b)
            for (int p = 0; p < L; ++p) {
                T* row = c.x0 + (std::size_t(b) * L + p) * d;
                const T* src = p == 0 ? P + bos_ : c.enc.H + std::size_t(slates[std::size_t(b) * L + p - 1]) * d;
                const T* se = P + slot_emb_ + std::size_t(p) * d;
                for (int j = 0; j < d; ++j) row[j] = src[j] + se[j];
            }
        c.dec = dec_.forward(P, c.x0, c.enc.H, K, L, c.n, nullptr, 1, ws);
        c.Z = c.dec.Z;
        const T ninf = -std::numeric_limits<T>::infinity();
        for (int b = 0; b < K; ++b)
            for (int p = 1; p < L; ++p)
                for (int q = 0; q < p; ++q) c.Z[(std::size_t(b) * L + p) * c.n + slates[std::size_t(b) * L + q]] = ninf;
        return c;
    }

    /// Rank-decay weighted teacher log-likelihood of K slates of one request (the default
    /// Best-of-N scorer): score_k = sum_t w_t log p_T(y_t | y_<t), w null = all ones. Resets ws.
    ///
    /// The slates are merged into a prefix trie first: slates that agree on y_0..y_{t-1} have the
    /// same decoder state at position t (the decoder is causal), so each distinct prefix is one
    /// decoder row, and all rows go through the decoder in one batched pass whose self-attention
    /// follows each row's path in the trie (decoder_block::forward_tree); the cross-attention and
    /// the pointer head are single products over every row against the one candidate encoding.
    /// Exact: the scores equal teacher forcing slate by slate up to float rounding
    /// (score_slates_flat is the one-pass version without the trie). Every slate shares position 0
    /// (the BOS), and a student's samples share their first slots with the greedy slate and with
    /// each other, so the decoder runs over fewer than K * L rows. Returns that number of rows
    /// (the distinct prefixes of lengths 0..L-1).
    int score_slates(const request_view<T>& r, int K, int L, const int* slates, const T* w, T* scores, workspace& ws) const {
        ws.reset();
        check(&r, 1, L);
        if (K < 1) detail::throw_input("ar_teacher: need at least one slate to score");
        for (int k = 0; k < K; ++k) detail::validate_slate(slates + std::size_t(k) * L, L, r.n, "ar_teacher");
        const T* P = this->params();
        const int d = this->config_.d, n = r.n;
        const auto y = [&](int k, int t) { return slates[std::size_t(k) * L + t]; };
        // The trie, level by level (level t = the distinct prefixes y_0..y_{t-1}, rows off[t] ..
        // off[t+1]-1). node[t*K + k] = slate k's row at level t; for row g: depth[g] = t, rep[g] =
        // a slate through it, anc[g*L + i] = its ancestor at level i (anc[g*L + t] = g).
        const std::size_t LK = std::size_t(L) * K;
        int* node = ws.alloc<int>(LK);
        int* off = ws.alloc<int>(std::size_t(L) + 1);
        int* depth = ws.alloc<int>(LK);
        int* rep = ws.alloc<int>(LK);
        int* anc = ws.alloc<int>(LK * L);
        int* order = ws.alloc<int>(std::size_t(K));
        int* start = ws.alloc<int>(std::size_t(K) + 1);
        int* child = ws.alloc<int>(std::size_t(n));
        std::fill(child, child + n, -1);
        std::fill(node, node + K, 0);
        off[0] = 0;
        off[1] = 1;
        depth[0] = 0;
        rep[0] = 0;
        anc[0] = 0;
        for (int t = 1; t < L; ++t) {
            // group the slates by their level t-1 row (counting sort), then give each distinct
            // (row, y_{t-1}) pair a new row; child[] maps item -> row within one group
            const int base = off[t - 1], P_ = off[t] - base;
            const int* nd = node + std::size_t(t - 1) * K;
            std::fill(start, start + P_ + 1, 0);
            for (int k = 0; k < K; ++k) ++start[nd[k] - base + 1];
            for (int p = 0; p < P_; ++p) start[p + 1] += start[p];
            for (int k = 0; k < K; ++k) order[start[nd[k] - base]++] = k;  // start[p] now ends group p
            int g = off[t], begin_g = 0;
            for (int p = 0; p < P_; ++p) {
                const int end_g = start[p];
                for (int i = begin_g; i < end_g; ++i) {
                    const int k = order[i], item = y(k, t - 1);
                    if (child[item] < 0) {
                        child[item] = g;
                        depth[g] = t;
                        rep[g] = k;
                        const int par = base + p;
                        std::copy(anc + std::size_t(par) * L, anc + std::size_t(par) * L + t, anc + std::size_t(g) * L);
                        anc[std::size_t(g) * L + t] = g;
                        ++g;
                    }
                    node[std::size_t(t) * K + k] = child[item];
                }
                for (int i = begin_g; i < end_g; ++i) child[y(order[i], t - 1)] = -1;
                begin_g = end_g;
            }
            off[t + 1] = g;
        }
        const int R = off[L];
        // decoder inputs, the encoding, the memory projections and the pointer keys (once)
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        const detail::encoder_cache<T> enc = enc_.forward(P, pb, ws);
        T* x = ws.alloc<T>(std::size_t(R) * d);
        T* yb = ws.alloc<T>(std::size_t(R) * d);
        for (int g = 0; g < R; ++g) {
            const int t = depth[g];
            const T* src = t == 0 ? P + bos_ : enc.H + std::size_t(y(rep[g], t - 1)) * d;
            const T* se = P + slot_emb_ + std::size_t(t) * d;
            T* row = x + std::size_t(g) * d;
            for (int j = 0; j < d; ++j) row[j] = src[j] + se[j];
        }
        T* memkv = ws.alloc<T>(std::size_t(n) * 2 * d);
        for (std::size_t i = 0; i < dec_.blocks.size(); ++i) {
            dec_.blocks[i].cross_attn.project_memory(P, enc.H, n, memkv);
            dec_.blocks[i].forward_tree(P, x, R, anc, L, depth, memkv, n, yb, ws);
            std::swap(x, yb);
        }
        dec_.ln_f.forward(P, x, R, yb);
        T* q = x;  // free
        dec_.ptr.q.forward(P, yb, R, q);
        T* Kp = ws.alloc<T>(std::size_t(n) * d);
        dec_.ptr.k.forward(P, enc.H, n, Kp);
        T* Z = ws.alloc<T>(std::size_t(R) * n);
        nn::gemm_nt<T>(R, n, d, T(1) / std::sqrt(T(d)), q, d, Kp, d, T(0), Z, n);
        // per row: log-normalizer over the items its prefix has not taken
        T* lse = ws.alloc<T>(std::size_t(R));
        T* lsm = ws.alloc<T>(std::size_t(n));
        const T ninf = -std::numeric_limits<T>::infinity();
        for (int g = 0; g < R; ++g) {
            T* row = Z + std::size_t(g) * n;
            for (int i = 0; i < depth[g]; ++i) row[y(rep[g], i)] = ninf;
            lse[g] = nn::log_softmax_row(row, n, lsm);
        }
        for (int k = 0; k < K; ++k) {
            T sc = 0;
            for (int t = 0; t < L; ++t) {
                const int g = node[std::size_t(t) * K + k];
                sc += (w ? w[t] : T(1)) * (Z[std::size_t(g) * n + y(k, t)] - lse[g]);
            }
            scores[k] = sc;
        }
        return R;
    }

    /// score_slates without the prefix trie: every slate teacher-forced over all L positions in
    /// one batched pass (forward_slates). Same scores up to float rounding; kept as the reference
    /// for tests and benchmarks. Resets ws.
    void score_slates_flat(const request_view<T>& r, int K, int L, const int* slates, const T* w, T* scores,
                           workspace& ws) const {
        ws.reset();
        detail::teacher_cache<T> c = forward_slates(r, K, L, slates, ws);
        T* lsm = ws.alloc<T>(c.n);
        for (int k = 0; k < K; ++k) {
            T sc = 0;
            for (int p = 0; p < L; ++p) {
                nn::log_softmax_row(c.Z + (std::size_t(k) * L + p) * c.n, c.n, lsm);
                sc += (w ? w[p] : T(1)) * lsm[slates[std::size_t(k) * L + p]];
            }
            scores[k] = sc;
        }
    }

    // ---------------------------------------------------------------- incremental decoding

    /// Encode one request and prepare a KV cache for up to `beams` prefixes of length L.
    /// Validates the request; buffers come from ws (the caller resets it per request).
    teacher_state<T> begin(const request_view<T>& r, int L, int beams, workspace& ws) const {
        check(&r, 1, L);
        if (beams < 1) detail::throw_input("ar_teacher: beam width must be >= 1");
        const T* P = this->params();
        const int d = this->config_.d;
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        detail::encoder_cache<T> enc = enc_.forward(P, pb, ws);
        teacher_state<T> s;
        s.n = r.n;
        s.L = L;
        s.beams = beams;
        s.t = 0;
        s.H = enc.H;
        s.Kp = ws.alloc<T>(std::size_t(r.n) * d);
        dec_.ptr.k.forward(P, s.H, r.n, s.Kp);
        const int nb = static_cast<int>(dec_.blocks.size());
        s.memkv = detail::ws_array<T*>(ws, nb);
        s.selfkv = detail::ws_array<T*>(ws, nb);
        s.spare = detail::ws_array<T*>(ws, nb);
        for (int i = 0; i < nb; ++i) {
            s.memkv[i] = ws.alloc<T>(std::size_t(r.n) * 2 * d);
            dec_.blocks[i].cross_attn.project_memory(P, s.H, r.n, s.memkv[i]);
            s.selfkv[i] = ws.alloc<T>(std::size_t(beams) * L * 2 * d);
            s.spare[i] = beams > 1 ? ws.alloc<T>(std::size_t(beams) * L * 2 * d) : nullptr;
        }
        s.x = ws.alloc<T>(std::size_t(beams) * d);
        s.y = ws.alloc<T>(std::size_t(beams) * d);
        s.q = ws.alloc<T>(std::size_t(beams) * d);
        return s;
    }

    /// One step for B <= beams prefixes at position s.t: prev[b] is the item chosen at the
    /// previous slot by prefix b (ignored at t = 0). Writes raw (unmasked) logits [B x n] and
    /// advances s.t. Scratch comes from ws; it is not released (bounded by L steps per request).
    /// Throws input_error (nothing written) for B outside [1, s.beams], a step beyond s.L, or a
    /// prev[b] outside [0, s.n) at t > 0.
    void step(teacher_state<T>& s, const int* prev, int B, T* logits, workspace& ws) const {
        const T* P = this->params();
        const int d = this->config_.d;
        const int t = s.t;
        if (B < 1 || B > s.beams)
            detail::throw_input("ar_teacher::step: B = " + std::to_string(B) + " outside [1, " + std::to_string(s.beams) +
                                "] (the beams given to begin)");
        if (t >= s.L) detail::throw_input("ar_teacher::step: all " + std::to_string(s.L) + " slots already decoded");
        if (t > 0)
            for (int b = 0; b < B; ++b)
                if (prev[b] < 0 || prev[b] >= s.n)
                    detail::throw_input("ar_teacher::step: prev[" + std::to_string(b) + "] = " + std::to_string(prev[b]) +
                                        " outside [0, " + std::to_string(s.n) + ")");
        for (int b = 0; b < B; ++b) {
            const T* src = t == 0 ? P + bos_ : s.H + std::size_t(prev[b]) * d;
            const T* se = P + slot_emb_ + std::size_t(t) * d;
            T* row = s.x + std::size_t(b) * d;
            for (int j = 0; j < d; ++j) row[j] = src[j] + se[j];
        }
        T* x = s.x;
        T* y = s.y;
        for (std::size_t i = 0; i < dec_.blocks.size(); ++i) {
            dec_.blocks[i].step(P, x, B, t, s.selfkv[i], s.L, s.memkv[i], s.n, 0, nullptr, y, ws);
            std::swap(x, y);
        }
        T* g = y;  // free buffer
        dec_.ln_f.forward(P, x, B, g);
        dec_.ptr.q.forward(P, g, B, s.q);
        const T scale = T(1) / std::sqrt(T(d));
        nn::gemm_nt<T>(B, s.n, d, scale, s.q, d, s.Kp, d, T(0), logits, s.n);
        ++s.t;
    }

    /// Beam bookkeeping: new prefix b continues old prefix parent[b] (KV rows 0..t-1 copied).
    void reorder(teacher_state<T>& s, const int* parent, int B) const {
        const int d = this->config_.d;
        if (B < 1 || B > s.beams || s.beams < 2)
            detail::throw_input("ar_teacher::reorder: B = " + std::to_string(B) + " outside [1, " + std::to_string(s.beams) +
                                "] or a state begun with one beam");
        for (int b = 0; b < B; ++b)
            if (parent[b] < 0 || parent[b] >= s.beams)
                detail::throw_input("ar_teacher::reorder: parent[" + std::to_string(b) + "] = " + std::to_string(parent[b]) +
                                    " outside [0, " + std::to_string(s.beams) + ")");
        const std::size_t rowlen = std::size_t(s.t) * 2 * d, stride = std::size_t(s.L) * 2 * d;
        for (std::size_t i = 0; i < dec_.blocks.size(); ++i) {
            for (int b = 0; b < B; ++b)
                std::copy(s.selfkv[i] + parent[b] * stride, s.selfkv[i] + parent[b] * stride + rowlen, s.spare[i] + b * stride);
            std::swap(s.selfkv[i], s.spare[i]);
        }
    }

    const detail::candidate_encoder& encoder() const noexcept { return enc_; }

private:
    void check(const request_view<T>* reqs, int B, int L) const {
        if (B < 1) detail::throw_input("ar_teacher: batch must hold at least one request");
        for (int b = 0; b < B; ++b) detail::validate_request(this->config_, reqs[b], L, "ar_teacher");
    }

    detail::candidate_encoder enc_;
    std::size_t bos_ = no_tensor, slot_emb_ = no_tensor;
    detail::decoder_stack dec_;
};

DUALRERANK_NAMESPACE_END
