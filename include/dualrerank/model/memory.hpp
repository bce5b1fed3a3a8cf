// The workspace memory of inference as a function of the shapes (docs/performance.md, "Memory").
//
// Inference streams every attention (nn::attention_forward_streamed) and computes the Best-of-N
// scorer's logits in blocks of rows, so no buffer grows with N^2 or with K * L * N. What remains is
// linear in each shape; max_workspace_bytes adds up every buffer the inference paths take from a
// workspace (values, 64-byte rounding per allocation, the per-layer cache records), so a server can
// plan memory per thread before it serves:
//
//   encoder   ~ N * (2 + [context] + E * (9 + 2 ffn/d)) * d values                (B = 1)
//   student   + D * L * (14 d + 2 ffn) + D * 3 N d + L N values
//   teacher   + D * (2 N d + 4 beams L d + L beams (7 d + 2 ffn)) + 2 beams N values
//   scorer    + K L (2 + 7 D) d + 2 D K L ffn + K L (L + 6) ints + score_block_values  (Best-of-N)
//
// with E, D the encoder and decoder layers, plus a constant per layer for the attention tiles.
// Every inference entry point (nar_student::infer and the decoders built on it,
// ar_teacher::begin and teacher_beam/teacher_greedy, ar_teacher::score_slates, best_of_n) checks
// this bound against the workspace's budget BEFORE it allocates anything, and throws input_error
// naming the bound and the budget when it does not fit (docs/bad-input.md, WS-02). A workspace
// without a budget (0, the default) is checked against limits_memory::default_workspace_budget.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "../core/workspace.hpp"
#include "../nn/attention.hpp"
#include "../nn/block.hpp"
#include "config.hpp"
#include "model_base.hpp"

DUALRERANK_NAMESPACE_BEGIN

struct limits_memory {
    /// The budget an inference call is checked against when its workspace has none set (0): 1 GiB,
    /// which holds a 16,384-candidate (limits::max_candidates) request of the reference
    /// architecture (d = 64, 4 heads, 2 + 2 layers, FFN 256, L = 10) about 5 times over
    /// (docs/performance.md). Larger models at large N need workspace::set_budget.
    static constexpr std::size_t default_workspace_budget = std::size_t(1) << 30;
    /// Values of one block of the Best-of-N scorer's logits (rows x N): the scorer never holds
    /// more than max(N, this) logits at once.
    static constexpr std::size_t score_block_values = std::size_t(1) << 18;
};

/// The shapes one inference call runs on.
struct workload {
    int n = 0;        ///< candidates per request (a batch: the largest N)
    int L = 0;        ///< slate length
    int batch = 1;    ///< requests in one batched student call (logits_batch, greedy_batch)
    int beams = 1;    ///< teacher beam width (1 = greedy); the decoders use min(beams, n)
    /// student: slates sampled from its one forward pass (student_sample, Best-of-N's proposals);
    /// teacher: slates scored in one call (score_slates, the Best-of-N scorer; 0 = none)
    int samples = 0;
};

namespace detail {

/// Rows of the Best-of-N scorer's logits computed at once (ar_teacher::score_slates).
inline int score_rows_per_block(int n) noexcept {
    return int(std::max<std::size_t>(1, limits_memory::score_block_values / std::size_t(std::max(n, 1))));
}

/// Values of an inference attention buffer (nn::attention_inference_values) for g groups of q
/// queries against any number of keys up to kmax.
constexpr double attn_values(double g, double h, double q, double kmax) noexcept {
    const double stored = g * h * q * kmax;
    return stored <= double(nn::attn_stored_max_values)
               ? std::max(stored, 0.0)
               : double(std::max(nn::attn_stored_max_values, nn::attention_stream_scratch()));
}

/// Bytes of `count` allocations of `values` elements of `size` bytes each, with the workspace's
/// rounding to 64 bytes per allocation.
constexpr double ws_bytes(double values, double size, double count = 1) noexcept {
    return values * size + 64.0 * count;
}

/// The candidate encoder's inference buffers (encoder forward with stream = true) plus the
/// packing of a batch of B > 1 requests.
template <class T>
double encoder_ws_bytes(const model_config& c, double B, double n) noexcept {
    const double S = sizeof(T), R = B * n, d = c.d, E = c.enc_layers;
    double b = 0;
    if (B > 1) b += ws_bytes(R * c.features, S) + ws_bytes(B * c.context, S) + ws_bytes(R + B, 4, 2);
    b += ws_bytes(R * d, S);                                            // h0
    if (c.context > 0) b += ws_bytes(R * d + B * d, S, 2);              // X W_a, c W_c
    b += ws_bytes(E, sizeof(nn::encoder_block_cache<T>) + sizeof(T*), 2);  // cache records
    // per block: ln1, qkv (3), ctx, att, x1, ln2 [R x d]; m1 r1 m2 r2 [R]; pre, act [R x ffn];
    // the attention tile scratch; the block output [R x d]
    const double A = double(nn::attention_inference_values(std::size_t(B), c.heads, int(n), int(n)));
    b += E * (ws_bytes(R * d * 9 + R * 4 + R * 2.0 * c.ffn + A, S, 14));
    b += ws_bytes(2 * R + R * d, S, 3);  // LayerNorm statistics, H
    return b;
}

/// The decoder blocks' inference buffers for G groups of q query rows against memories of n keys
/// (full-sequence forward with stream = true: the student's slots).
template <class T>
double decoder_ws_bytes(const model_config& c, double G, double q, double n, double mem_groups) noexcept {
    const double S = sizeof(T), Q = G * q, d = c.d, D = c.dec_layers;
    double b = ws_bytes(D, sizeof(nn::decoder_block_cache<T>) + sizeof(T*), 2);
    // per block: 13 [Q x d] buffers (ln1..3, qkv (3), sctx, att, x1, ln2, q, cctx, x2), 6 [Q]
    // statistics, pre and act [Q x ffn], the tile scratch, memkv [G n x 2d], the output [Q x d]
    const double A = double(nn::attention_inference_values(std::size_t(G), c.heads, int(q), int(q))) +
                     double(nn::attention_inference_values(std::size_t(G), c.heads, int(q), int(n)));
    b += D * ws_bytes(Q * d * 14 + Q * 6 + Q * 2.0 * c.ffn + A + G * n * 2 * d, S, 22);
    b += ws_bytes(2 * Q + 2 * Q * d + mem_groups * n * d + Q * n, S, 6);  // statistics, S, Qp, Kp, Z
    return b;
}

/// The Gumbel sampler's per-call tables (decode/gumbel.hpp prepare_slates and sample_slates),
/// for K > 0 slates with log-probabilities.
inline double sampler_ws_bytes(double L, double n) noexcept {
    const double np = n + 64;  // candidates padded to whole vectors
    // scale [L x np] f32, log-probability terms [L x np] f64, visit orders (5 f32 arrays per row),
    // two f64 rows, the lane mask [n x 16] f32, per-row bookkeeping, one mask row
    return L * np * (4 + 8 + 20) + np * (16 + 4 * 16 + 4 + 1) + L * 256 + 64.0 * (16 + 6 * L);
}

}  // namespace detail

/// An upper bound on the workspace bytes one inference call of a `kind` model (student or
/// teacher) with config `c` takes on workload `w`, for value type T:
///   student: nar_student::infer / logits / logits_batch and the decoders on it (greedy,
///            confident, greedy_batch, student_full_order, student_sample and Best-of-N's
///            proposals with w.samples slates);
///   teacher: ar_teacher::begin and the beam decoders (teacher_greedy, teacher_beam with
///            w.beams), and with w.samples = K > 0 also score_slates of K slates (the Best-of-N
///            scorer): the larger of the two.
/// Shapes are clamped to the caps (limits) first; the result saturates at SIZE_MAX. Other kinds
/// and training calls (which keep every attention's probabilities for backward, O(B heads N^2)
/// per layer) are not covered.
template <class T = float>
std::size_t max_workspace_bytes(const model_config& c, model_kind kind, const workload& w) noexcept {
    const double n = std::clamp(w.n, 1, limits::max_candidates), L = std::clamp(w.L, 1, limits::max_slate);
    const double B = std::clamp(w.batch, 1, limits::max_batch), K = std::clamp(w.samples, 0, limits::max_samples);
    const double S = sizeof(T), d = c.d, D = c.dec_layers;
    double b = 0;
    if (kind == model_kind::student) {
        b = detail::encoder_ws_bytes<T>(c, B, n);
        b += detail::ws_bytes(B * L * d, S);                          // the slot queries
        b += detail::decoder_ws_bytes<T>(c, B, L, n, B);
        b += detail::ws_bytes(n + n * S + L * S, 1, 3);               // used set, scores (confident, full order)
        if (K > 0) b += detail::sampler_ws_bytes(L, n);
    } else if (kind == model_kind::teacher) {
        const double Bm = std::min(std::clamp(w.beams, 1, limits::max_samples), int(n));
        double beam = detail::encoder_ws_bytes<T>(c, 1, n);
        // begin: pointer keys, per block the projected memory and the KV cache (twice with beams)
        beam += detail::ws_bytes(n * d, S) + detail::ws_bytes(D, 3 * sizeof(T*), 3);
        beam += D * (detail::ws_bytes(n * 2 * d, S) + (Bm > 1 ? 2 : 1) * detail::ws_bytes(Bm * L * 2 * d, S));
        beam += detail::ws_bytes(3 * Bm * d, S, 3);
        // teacher_beam: logits, prefixes, scores, bookkeeping, two used sets, one log-softmax row
        beam += detail::ws_bytes(Bm * n + 2 * Bm + n, S, 4) + detail::ws_bytes(2 * Bm * L + 3 * Bm, 4, 5) +
                detail::ws_bytes(2 * Bm * n, 1, 2);
        // every step, every block: inference scratch for Bm rows (not released within the call)
        const double As = std::max(detail::attn_values(Bm, c.heads, 1, L), detail::attn_values(Bm, c.heads, 1, n));
        beam += L * D * detail::ws_bytes(Bm * d * 7 + Bm * 2.0 * c.ffn + As, S, 6);
        b = beam;
        if (K > 0) {
            const double KL = K * L, R = KL;  // rows: distinct prefixes, at most K L
            double sc = detail::encoder_ws_bytes<T>(c, 1, n);
            sc += detail::ws_bytes(KL * (3 + L) + 2 * K + 2 + L + n, 4, 8);  // the prefix trie
            sc += detail::ws_bytes(2 * R * d + n * 2 * d + n * d, S, 4);   // inputs, states, memory, keys
            const double Ac = detail::attn_values(1, c.heads, R, n);
            sc += D * detail::ws_bytes(R * d * 7 + R * 2.0 * c.ffn + Ac, S, 6);
            sc += D * detail::ws_bytes(L, 4);                              // per-row ancestor scores
            sc += detail::ws_bytes(2 * R + 1 + KL, 4, 3);                  // rows of every (slate, slot)
            const double rows = std::min(R, double(detail::score_rows_per_block(int(n))));
            sc += detail::ws_bytes(rows * n + rows * d + n, S, 3);        // one block of logits
            b = std::max(b, sc);
        }
    } else {
        return 0;
    }
    if (!(b < double(std::numeric_limits<std::size_t>::max()) / 2)) return std::numeric_limits<std::size_t>::max();
    // the alignment of the cache records; a multiple of 64 (what workspace::plan holds)
    return (std::size_t(b) + 4096 + 63) / 64 * 64;
}

namespace detail {

/// The check every inference entry point runs before it allocates: `need` bytes against the
/// workspace's budget (or limits_memory::default_workspace_budget when it has none). Then plans
/// them (workspace::plan): a call on a reset workspace holds at most `need` bytes.
inline void check_workspace_bound(workspace& ws, std::size_t need, const char* who, const workload& w) {
    const std::size_t budget = ws.budget() > 0 ? ws.budget() : limits_memory::default_workspace_budget;
    if (need <= budget) {
        ws.plan(need);
        return;
    }
    throw_input(std::string(who) + ": this call may need up to " + std::to_string(need) +
                " bytes of workspace (max_workspace_bytes for N = " + std::to_string(w.n) + ", L = " + std::to_string(w.L) +
                ", batch " + std::to_string(w.batch) + ", beams " + std::to_string(w.beams) + ", samples " +
                std::to_string(w.samples) + "), more than the workspace budget of " + std::to_string(budget) + " bytes (" +
                (ws.budget() > 0 ? std::string("workspace::set_budget") :
                                   std::string("limits_memory::default_workspace_budget; raise it with workspace::set_budget")) +
                ")");
}

}  // namespace detail
DUALRERANK_NAMESPACE_END
