// AR teacher (Gen-Reranker shape from GReF, docs/design.md section 3): a causal decoder over the slate
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

#include "decoder_stack.hpp"
#include "encoder.hpp"
#include "memory.hpp"
#include "model_base.hpp"
#include "prefix_trie.hpp"

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

/// Incremental decoding state of one request with up to `beams` parallel prefixes (from
/// ar_teacher::begin; its buffers live in the workspace given to begin).
template <class T>
struct teacher_state {
    int n = 0, L = 0, beams = 0, t = 0;
    const T* H = nullptr;            ///< the candidate encoding [n x d]
    detail::decoder_kv_cache<T> kv;  ///< the decoder's KV cache and projected memory
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
            for (int p = 0; p < L; ++p)
                input_row(P, c.enc.H + std::size_t(b) * c.n * d, p, p ? targets[std::size_t(b) * L + p - 1] : -1,
                          c.x0 + (std::size_t(b) * L + p) * d);
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
            for (int p = 0; p < c.L; ++p)
                input_row_backward(G, dH + std::size_t(b) * c.n * d, p, p ? c.targets[std::size_t(b) * c.L + p - 1] : -1,
                                   dx + (std::size_t(b) * c.L + p) * d);
        enc_.backward(P, c.enc, dH, G, ws);
    }

    /// Teacher-forced logits of K slates [K x L] of ONE request in one batched pass that encodes
    /// the candidates once (every slate attends to the same memory): the parallel scorer of
    /// Best-of-N and the SKD teacher targets. Inference only (no backward through this cache: the
    /// attention is streamed and keeps no probabilities).
    /// Returns the cache; cache.Z is [K x L x n] with each slate's prefix masked.
    detail::teacher_cache<T> forward_slates(const request_view<T>& r, int K, int L, const int* slates, workspace& ws) const {
        check(&r, 1, L);
        if (K < 1) detail::throw_input("ar_teacher: need at least one slate to score");
        for (int k = 0; k < K; ++k) detail::validate_slate(slates + std::size_t(k) * L, L, r.n, "ar_teacher");
        const T* P = this->params();
        const int d = this->config_.d;
        detail::teacher_cache<T> c;
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        c.enc = enc_.forward(P, pb, ws, true);
        c.B = K;
        c.L = L;
        c.n = r.n;
        c.targets = slates;
        const std::size_t rows = std::size_t(K) * L;
        c.x0 = ws.alloc<T>(rows * d);
        for (int b = 0; b < K; ++b)
            for (int p = 0; p < L; ++p)
                input_row(P, c.enc.H, p, p ? slates[std::size_t(b) * L + p - 1] : -1, c.x0 + (std::size_t(b) * L + p) * d);
        c.dec = dec_.forward(P, c.x0, c.enc.H, K, L, c.n, nullptr, 1, ws, true);
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
    /// The slates are merged into a prefix trie first (model/prefix_trie.hpp): slates that agree on y_0..y_{t-1} have the
    /// same decoder state at position t (the decoder is causal), so each distinct prefix is one
    /// decoder row, and all rows go through the decoder in one batched pass whose self-attention
    /// follows each row's path in the trie (decoder_stack::forward_tree); the cross-attention and
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
        if (K > limits::max_samples)
            detail::throw_input("ar_teacher::score_slates: K = " + std::to_string(K) + " slates exceeds limits::max_samples = " +
                                std::to_string(limits::max_samples));
        workload wl;
        wl.n = r.n;
        wl.L = L;
        wl.samples = K;
        detail::check_workspace_bound(ws, max_workspace_bytes<T>(this->config_, kind, wl), "ar_teacher::score_slates", wl);
        const T* P = this->params();
        const int d = this->config_.d, n = r.n;
        const detail::prefix_trie trie = detail::prefix_trie::build(slates, K, L, n, ws);
        const int R = trie.rows;
        // the encoding, the decoder input of every row, and every row's logits in one pass
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        const detail::encoder_cache<T> enc = enc_.forward(P, pb, ws, true);
        T* x = ws.alloc<T>(std::size_t(R) * d);
        for (int g = 0; g < R; ++g) input_row(P, enc.H, trie.depth[g], trie.last(g), x + std::size_t(g) * d);
        T* Kp = ws.alloc<T>(std::size_t(n) * d);
        const T* S = dec_.forward_tree(P, x, R, trie.anc, L, trie.depth, enc.H, n, Kp, ws);
        // every (slate, slot) by its row, so each block of rows finds its entries (counting sort)
        const std::size_t KL = std::size_t(K) * L;
        int* first = ws.alloc_zero<int>(std::size_t(R) + 1);
        int* entry = ws.alloc<int>(KL);
        for (std::size_t e = 0; e < KL; ++e) ++first[trie.row(int(e / L), int(e % L)) + 1];
        for (int g = 0; g < R; ++g) first[g + 1] += first[g];
        int* fill = ws.alloc<int>(std::size_t(R));
        std::copy(first, first + R, fill);
        for (std::size_t e = 0; e < KL; ++e) entry[fill[trie.row(int(e / L), int(e % L))]++] = int(e);
        // logits block by block (detail::score_rows_per_block rows at a time, never R x n values), masked by
        // each row's prefix, log-normalized over the items its prefix has not taken
        const int rows_per_block = detail::score_rows_per_block(n);
        T* Z = ws.alloc<T>(std::size_t(std::min(R, rows_per_block)) * n);
        T* Qb = ws.alloc<T>(std::size_t(std::min(R, rows_per_block)) * d);
        T* lsm = ws.alloc<T>(std::size_t(n));
        std::fill(scores, scores + K, T(0));
        const T ninf = -std::numeric_limits<T>::infinity();
        for (int g0 = 0; g0 < R; g0 += rows_per_block) {
            const int rows = std::min(rows_per_block, R - g0);
            dec_.tree_logits(P, S + std::size_t(g0) * d, rows, Kp, n, Qb, Z);
            for (int r = 0; r < rows; ++r) {
                const int g = g0 + r;
                T* row = Z + std::size_t(r) * n;
                const int* pre = trie.prefix(g);
                for (int i = 0; i < trie.depth[g]; ++i) row[pre[i]] = ninf;
                const T lse = nn::log_softmax_row(row, n, lsm);
                for (int e = first[g]; e < first[g + 1]; ++e) {
                    const int k = entry[e] / L, t = entry[e] % L;
                    scores[k] += (w ? w[t] : T(1)) * (row[slates[std::size_t(entry[e])]] - lse);
                }
            }
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
        if (beams > limits::max_samples)
            detail::throw_input("ar_teacher::begin: beams = " + std::to_string(beams) + " outside [1, " +
                                std::to_string(limits::max_samples) + "] (limits::max_samples; the KV cache holds beams x L x d per layer)");
        workload wl;
        wl.n = r.n;
        wl.L = L;
        wl.beams = beams;
        detail::check_workspace_bound(ws, max_workspace_bytes<T>(this->config_, kind, wl), "ar_teacher::begin", wl);
        const T* P = this->params();
        const detail::packed_batch<T> pb = detail::pack(this->config_, &r, 1, ws);
        const detail::encoder_cache<T> enc = enc_.forward(P, pb, ws, true);
        teacher_state<T> s;
        s.n = r.n;
        s.L = L;
        s.beams = beams;
        s.t = 0;
        s.H = enc.H;
        s.kv = dec_.begin(P, s.H, r.n, beams, L, ws);
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
        for (int b = 0; b < B; ++b) input_row(P, s.H, t, t ? prev[b] : -1, s.kv.x + std::size_t(b) * d);
        dec_.step(P, s.kv, B, t, logits, ws);
        ++s.t;
    }

    /// Beam bookkeeping: new prefix b continues old prefix parent[b] (KV rows 0..t-1 copied).
    void reorder(teacher_state<T>& s, const int* parent, int B) const {
        if (B < 1 || B > s.beams || s.beams < 2)
            detail::throw_input("ar_teacher::reorder: B = " + std::to_string(B) + " outside [1, " + std::to_string(s.beams) +
                                "] or a state begun with one beam");
        for (int b = 0; b < B; ++b)
            if (parent[b] < 0 || parent[b] >= s.beams)
                detail::throw_input("ar_teacher::reorder: parent[" + std::to_string(b) + "] = " + std::to_string(parent[b]) +
                                    " outside [0, " + std::to_string(s.beams) + ")");
        dec_.reorder(s.kv, parent, B, s.t);
    }

    const detail::candidate_encoder& encoder() const noexcept { return enc_; }

private:
    /// The decoder's input row for position t, the one place it is built:
    /// s_0 = BOS + slot_emb[0], s_t = H[prev] + slot_emb[t] (prev = the item chosen at slot t-1,
    /// ignored at t = 0); H is the request's candidate encoding [n x d].
    void input_row(const T* P, const T* H, int t, int prev, T* row) const noexcept {
        const int d = this->config_.d;
        const T* src = t == 0 ? P + bos_ : H + std::size_t(prev) * d;
        const T* se = P + slot_emb_ + std::size_t(t) * d;
        for (int j = 0; j < d; ++j) row[j] = src[j] + se[j];
    }

    /// input_row's backward: accumulates the row's gradient g [d] into BOS or dH[prev] [n x d]
    /// and into slot_emb[t] (gradient arena G).
    void input_row_backward(T* G, T* dH, int t, int prev, const T* g) const noexcept {
        const int d = this->config_.d;
        T* dst = t == 0 ? G + bos_ : dH + std::size_t(prev) * d;
        T* se = G + slot_emb_ + std::size_t(t) * d;
        for (int j = 0; j < d; ++j) {
            dst[j] += g[j];
            se[j] += g[j];
        }
    }

    void check(const request_view<T>* reqs, int B, int L) const {
        if (B < 1) detail::throw_input("ar_teacher: batch must hold at least one request");
        if (B > limits::max_batch)
            detail::throw_input("ar_teacher: batch of B = " + std::to_string(B) + " requests exceeds limits::max_batch = " +
                                std::to_string(limits::max_batch));
        if (!reqs) detail::throw_input("ar_teacher: the requests pointer is null (B = " + std::to_string(B) + ")");
        for (int b = 0; b < B; ++b) detail::validate_request(this->config_, reqs[b], L, "ar_teacher");
    }

    detail::candidate_encoder enc_;
    std::size_t bos_ = no_tensor, slot_emb_ = no_tensor;
    detail::decoder_stack dec_;
};

DUALRERANK_NAMESPACE_END
