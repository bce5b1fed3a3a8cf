// Model configuration shared by the candidate encoder, the AR teacher, the NAR student and the
// list evaluator, and the checks applied to it and to every request at the API boundary.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "../core/error.hpp"
#include "../core/request.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Hard caps: a config or request beyond these is rejected before any allocation.
struct limits {
    static constexpr int max_features = 1 << 16;
    static constexpr int max_width = 4096;
    static constexpr int max_heads = 64;
    static constexpr int max_layers = 64;
    static constexpr int max_candidates = 1 << 14;
    static constexpr int max_slate = 1024;
    /// Largest |feature| or |context feature| a request may hold. Beyond about 1e9 (models with
    /// context: the user-item product squares the scale) or 1e18 (without), the float LayerNorm's
    /// variance overflows and every candidate gets the same encoding (measured; docs/bad-input.md),
    /// so such requests are rejected instead of silently ranked in index order. Normalize raw
    /// counts (e.g. log1p) before they reach the model.
    static constexpr double max_feature_magnitude = 1e8;
    /// Largest K of teacher_sample and largest n of Best-of-N (the KV cache and the scorer's
    /// batch grow with K * L * d per layer).
    static constexpr int max_samples = 1 << 12;
    /// Largest number of requests in one batched call (forward, logits_batch, greedy_batch, the
    /// pointwise scorer): the packed batch is B * max N * F values, so B is bounded like N.
    static constexpr int max_batch = 1 << 16;
};

struct model_config {
    int features = 32;        ///< F: features per candidate
    int context = 0;          ///< Fc: request context features (0 = no multiplicative user-item term)
    int d = 64;               ///< model width
    int heads = 4;            ///< attention heads (d % heads == 0)
    int enc_layers = 2;       ///< candidate encoder blocks
    int dec_layers = 2;       ///< teacher decoder blocks / student slot blocks
    int ffn = 256;            ///< FFN hidden width
    int max_slate = 10;       ///< L: slots the model was built for (slot embeddings / queries)
    int max_candidates = 512; ///< largest N accepted (and rank-embedding rows when used)
    bool rank_embedding = false; ///< add a learned embedding of the upstream rank
    int outputs = 1;          ///< evaluator: engagement logits per slot

    void validate() const {
        auto bad = [](const std::string& m) { detail::throw_input("invalid model config: " + m); };
        if (features < 1 || features > limits::max_features) bad("features must be in [1, 65536]");
        if (context < 0 || context > limits::max_features) bad("context must be in [0, 65536]");
        if (d < 1 || d > limits::max_width) bad("d must be in [1, 4096]");
        if (heads < 1 || heads > limits::max_heads || d % heads != 0) bad("heads must divide d (and be <= 64)");
        if (enc_layers < 0 || enc_layers > limits::max_layers) bad("enc_layers must be in [0, 64]");
        if (dec_layers < 0 || dec_layers > limits::max_layers) bad("dec_layers must be in [0, 64]");
        if (ffn < 1 || ffn > 4 * limits::max_width) bad("ffn must be in [1, 16384]");
        if (max_slate < 1 || max_slate > limits::max_slate) bad("max_slate must be in [1, 1024]");
        if (max_candidates < 1 || max_candidates > limits::max_candidates) bad("max_candidates must be in [1, 16384]");
        if (outputs < 1 || outputs > 16) bad("outputs must be in [1, 16]");
    }

    bool operator==(const model_config& o) const noexcept {
        return features == o.features && context == o.context && d == o.d && heads == o.heads &&
               enc_layers == o.enc_layers && dec_layers == o.dec_layers && ffn == o.ffn && max_slate == o.max_slate &&
               max_candidates == o.max_candidates && rank_embedding == o.rank_embedding && outputs == o.outputs;
    }
    bool operator!=(const model_config& o) const noexcept { return !(*this == o); }
};

namespace detail {

/// API-boundary checks for one request and slate length L.
template <class T>
void validate_request(const model_config& c, const request_view<T>& r, int L, const char* who) {
    // messages are built only on failure: the success path allocates nothing
    struct prefix {
        const char* who;
        std::string operator+(const std::string& m) const { return std::string(who) + ": " + m; }
        std::string operator+(const char* m) const { return std::string(who) + ": " + m; }
    } const w{who};
    if (r.n <= 0) throw_input(w + "request has no candidates (N = 0)");
    if (r.n > c.max_candidates)
        throw_input(w + "N = " + std::to_string(r.n) + " exceeds the model's max_candidates = " +
                    std::to_string(c.max_candidates));
    if (r.f != c.features)
        throw_input(w + "feature width " + std::to_string(r.f) + " != model features " + std::to_string(c.features));
    if (!r.features) throw_input(w + "features pointer is null");
    if (c.context > 0) {
        if (!r.context || r.fc != c.context)
            throw_input(w + "the model needs " + std::to_string(c.context) + " context features, got " +
                        std::to_string(r.context ? r.fc : 0));
    } else if (r.fc != 0 && r.context) {
        throw_input(w + "the model takes no context features, got " + std::to_string(r.fc));
    }
    if (L < 1) throw_input(w + "slate length L must be >= 1");
    if (L > r.n)
        throw_input(w + "slate length L = " + std::to_string(L) + " exceeds the number of candidates N = " +
                    std::to_string(r.n));
    if (L > c.max_slate)
        throw_input(w + "slate length L = " + std::to_string(L) + " exceeds the model's max_slate = " +
                    std::to_string(c.max_slate));
    const std::size_t m = std::size_t(r.n) * r.f;
    const T cap = T(limits::max_feature_magnitude);
    auto too_large = [&](T x) {
        char v[32];
        std::snprintf(v, sizeof v, "%g", double(x));
        return w + "feature value " + v + " exceeds limits::max_feature_magnitude (1e8) in magnitude";
    };
    for (std::size_t i = 0; i < m; ++i)
        if (!(std::fabs(r.features[i]) <= cap)) {  // NaN, +-inf and too large in one compare
            if (!std::isfinite(r.features[i]))
                throw_input(w + "non-finite feature at candidate " + std::to_string(i / r.f) + ", feature " +
                            std::to_string(i % r.f));
            throw_input(too_large(r.features[i]) + " at candidate " + std::to_string(i / r.f) + ", feature " +
                        std::to_string(i % r.f));
        }
    for (int i = 0; i < (r.context ? r.fc : 0); ++i)
        if (!(std::fabs(r.context[i]) <= cap)) {
            if (!std::isfinite(r.context[i])) throw_input(w + "non-finite context feature " + std::to_string(i));
            throw_input(too_large(r.context[i]) + " (context feature " + std::to_string(i) + ")");
        }
    if (c.rank_embedding) {
        if (!r.upstream_rank) throw_input(w + "the model uses upstream ranks but the request has none");
        for (int i = 0; i < r.n; ++i)
            if (r.upstream_rank[i] < 0 || r.upstream_rank[i] >= c.max_candidates)
                throw_input(w + "upstream rank out of range at candidate " + std::to_string(i));
    }
}

/// A slate of length L over n candidates: indices in range and distinct.
inline void validate_slate(const int* y, int L, int n, const char* who) {
    for (int t = 0; t < L; ++t) {
        if (y[t] < 0 || y[t] >= n)
            throw_input(std::string(who) + ": slate index " + std::to_string(y[t]) + " at slot " + std::to_string(t) +
                        " is outside [0, " + std::to_string(n) + ")");
        for (int u = 0; u < t; ++u)
            if (y[u] == y[t])
                throw_input(std::string(who) + ": slate repeats candidate " + std::to_string(y[t]) + " (slots " +
                            std::to_string(u) + " and " + std::to_string(t) + ")");
    }
}

}  // namespace detail

DUALRERANK_NAMESPACE_END
