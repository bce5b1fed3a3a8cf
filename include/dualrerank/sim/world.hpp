// The built-in world: a seeded, documented user model for whole-page reranking (docs/design.md section 7).
//
// Generative model (ours; every symbol below is a field of `world_config`)
// ------------------------------------------------------------------------
// World (drawn once from the world seed): one centroid m_c ~ N(0, I_k) per category c = 0..C-1.
// Categories come in complementary pairs (0,1), (2,3), ...: comp(c) = c ^ 1 (with C odd, the last
// category has no partner).
//
// Request r (drawn from (world seed, request index) only, so request i is the same whatever was
// generated before it):
//   user        u ~ N(0, I_k)
//   item i      c_i ~ Uniform{0..C-1}
//               v_i = sqrt(s) m_{c_i} + sqrt(1 - s) e_i,  e_i ~ N(0, I_k),  s = category_share
//               affinity a_i = affinity_scale * (u . v_i) / sqrt(k)
//               quality  q_i ~ N(0, quality_std^2)
//               depth    d_i ~ N(0, depth_std^2)
//   upstream    s_i = q_i + upstream_affinity_share * a_i + N(0, upstream_noise^2)
//               (a pointwise ranker: it knows quality but only part of the personal affinity)
//
// Observed features of candidate i (width F = feature_dim, see `feature_layout`):
//   [0] s_i  [1] upstream rank / (N - 1)  [2] d_i + N(0, depth_noise^2)
//   [3 .. 3+C) one-hot c_i   [3+C .. 3+C+k) v_i + N(0, latent_noise^2)   rest zero
//   (a prefix of this list when F is smaller). Context features (width context_dim):
//   u + N(0, context_noise^2), padded with zeros / truncated. Upstream rank: order of s_i (0 = first).
//
// Whole-page feedback for a slate y = (y_1..y_L) under `conditions` (engagement e, weights w):
//   examination  exam_t = exam_decay^(t-1)                          for t <= viewport
//                exam_t = exam_decay^(t-1) * exam_cut^(t - viewport) for t >  viewport
//   appeal       z_t = click_bias + a_i + q_i - redundancy * #{t' < t : c_{y_t'} = c_i}
//                      + complementarity * [t > 1 and c_{y_(t-1)} = comp(c_i)],   i = y_t
//   click        P(click_t | examined) = min(1, e * sigmoid(z_t))
//   long view    P(long_t | click_t)   = p_i = sigmoid(long_bias + long_quality * q_i + d_i)
//   Examination, clicks and long views are independent Bernoulli draws given the slate
//   (a position-based model with slate-dependent appeal). Per-slot feedback c_{t,click}, c_{t,long}.
//
// Expected utility (closed form, exact; no sampling noise):
//   U(y) = sum_t exam_t * min(1, e * sigmoid(z_t)) * (w_click + w_long * p_{y_t})
// which is the expectation of the weighted sampled feedback sum_t (w_click c_{t,click} + w_long c_{t,long}).
//
// The default `click_bias` gives about 15% clicks per examined slot under the exploratory behaviour
// policy of the default world (checked by a test); redundancy = complementarity = 0.8 as docs/design.md asks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"
#include "../core/rng.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Weights that combine the two objectives into one reward.
struct objective_weights {
    double click = 1.0;
    double long_view = 1.0;
};

/// What can drift over time: the engagement scale (multiplies every click probability, hence how
/// sparse feedback is) and the objective weights.
struct conditions {
    double engagement = 1.0;
    objective_weights weights{};
};

/// Every knob of the world. Defaults: the "default world" of docs/design.md (N = 50, L = 10, F = 32).
struct world_config {
    // shapes
    int num_candidates = 50;  ///< N
    int slate_size = 10;      ///< L
    int feature_dim = 32;     ///< F: observed features per candidate
    int context_dim = 16;     ///< Fc: observed context features (noisy user latent, zero padded)
    int latent_dim = 8;       ///< k
    int num_categories = 8;   ///< C (complementary pairs (0,1), (2,3), ...)
    int viewport = 4;         ///< slots visible without scrolling

    // examination
    double exam_decay = 0.9;  ///< per-slot decay of the examination probability
    double exam_cut = 0.5;    ///< extra factor per slot below the viewport

    // items and users
    double category_share = 0.5;  ///< share of an item latent's variance from its category centroid
    double affinity_scale = 1.0;  ///< standard deviation of the user-item affinity a_i
    double quality_std = 1.0;     ///< standard deviation of the item quality q_i

    // appeal and context effects
    double click_bias = -3.9;       ///< about 15% clicks per examined slot (behaviour policy)
    double redundancy = 0.8;        ///< rho: penalty per same-category item above
    double complementarity = 0.8;   ///< kappa: bonus for a complementary item right above

    // long views (second objective)
    double long_bias = -1.0;     ///< P(long | click) = sigmoid(long_bias + long_quality q + d)
    double long_quality = 0.5;
    double depth_std = 1.0;

    // what the upstream ranker and the observed features know
    double upstream_affinity_share = 0.4;  ///< fraction of the affinity the upstream score knows
    double upstream_noise = 0.5;           ///< noise of the upstream score
    double latent_noise = 0.3;             ///< noise of the observed item latent
    double context_noise = 0.3;            ///< noise of the observed user latent
    double depth_noise = 0.5;              ///< noise of the observed depth

    /// The small world of the PyTorch prototype (docs/design.md section 9): N = 20, L = 6, viewport 4.
    static world_config small() {
        world_config c;
        c.num_candidates = 20;
        c.slate_size = 6;
        c.viewport = 4;
        c.click_bias = -3.4;  // fewer candidates to choose from: a higher bias keeps ~15% clicks
        return c;
    }

    /// Same world without inter-item effects (redundancy = complementarity = 0).
    world_config without_context_effects() const {
        world_config c = *this;
        c.redundancy = 0.0;
        c.complementarity = 0.0;
        return c;
    }

    void validate() const {
        auto bad = [](const std::string& m) { detail::throw_input("invalid world_config: " + m); };
        auto finite = [](double x) { return std::isfinite(x); };
        if (num_candidates < 1 || num_candidates > (1 << 16)) bad("num_candidates must be in [1, 65536]");
        if (slate_size < 1 || slate_size > num_candidates) bad("slate_size must be in [1, num_candidates]");
        if (feature_dim < 1 || feature_dim > (1 << 16)) bad("feature_dim must be in [1, 65536]");
        if (context_dim < 0 || context_dim > (1 << 16)) bad("context_dim must be in [0, 65536]");
        if (latent_dim < 1 || latent_dim > 4096) bad("latent_dim must be in [1, 4096]");
        if (num_categories < 1 || num_categories > 4096) bad("num_categories must be in [1, 4096]");
        // one request holds N x (F + k) values: cap it (2^26, 256 MiB of floats) before any is made
        if (static_cast<std::int64_t>(num_candidates) * (feature_dim + latent_dim) > (std::int64_t(1) << 26))
            bad("num_candidates * (feature_dim + latent_dim) must be <= 2^26");
        if (viewport < 0) bad("viewport must be >= 0");
        if (!(exam_decay > 0.0 && exam_decay <= 1.0)) bad("exam_decay must be in (0, 1]");
        if (!(exam_cut > 0.0 && exam_cut <= 1.0)) bad("exam_cut must be in (0, 1]");
        if (!(category_share >= 0.0 && category_share <= 1.0)) bad("category_share must be in [0, 1]");
        const double reals[] = {affinity_scale, quality_std, click_bias, redundancy, complementarity,
                                long_bias, long_quality, depth_std, upstream_affinity_share,
                                upstream_noise, latent_noise, context_noise, depth_noise};
        for (double x : reals)  // 1e30 would make the observed features overflow float
            if (!finite(x) || std::fabs(x) > 1e6) bad("all parameters must be finite and within [-1e6, 1e6]");
        if (affinity_scale < 0 || quality_std < 0 || depth_std < 0 || upstream_noise < 0 ||
            latent_noise < 0 || context_noise < 0 || depth_noise < 0)
            bad("scales and noise levels must be >= 0");
    }
};

/// Column offsets of the observed candidate features; a block that does not fit in F is cut
/// (`*_width` says how many of its columns are present).
struct feature_layout {
    int upstream_score = 0;  ///< column of the upstream score (or -1 if F is too small)
    int upstream_rank = 1;   ///< column of rank / (N - 1)
    int depth = 2;           ///< column of the noisy depth
    int category = 3;        ///< first column of the category one-hot
    int category_width = 0;
    int latent = 0;          ///< first column of the noisy item latent
    int latent_width = 0;
    int used = 0;            ///< columns carrying information (the rest are zero)
};

/// Per-slot page feedback. Sampled: 0/1 per slot. Expected: probabilities per slot.
/// `clicks[t]` and `long_views[t]` are the per-slot per-objective feedback c_{t,k} for RL.
struct page_feedback {
    std::vector<float> examined;    ///< [L] (hidden in real traffic; exposed for analysis)
    std::vector<float> clicks;      ///< [L]
    std::vector<float> long_views;  ///< [L]

    int slots() const noexcept { return static_cast<int>(clicks.size()); }
    /// Weighted page reward sum_t (w_click c_t,click + w_long c_t,long).
    double reward(const objective_weights& w) const noexcept {
        double r = 0.0;
        for (std::size_t t = 0; t < clicks.size(); ++t) r += w.click * clicks[t] + w.long_view * long_views[t];
        return r;
    }
    double total_clicks() const noexcept { return std::accumulate(clicks.begin(), clicks.end(), 0.0); }
    double total_long_views() const noexcept { return std::accumulate(long_views.begin(), long_views.end(), 0.0); }
};

/// One simulated request: what a model sees (`observed`) and what only the world knows.
/// Hidden arrays are indexed by candidate (0..n-1), like the rows of `observed.features`.
struct sim_request {
    std::uint64_t index = 0;          ///< request index within the world (reproducible from it)
    request<float> observed;          ///< features [n x F], context [Fc], upstream_rank [n]
    std::vector<double> user;         ///< [k] true user latent
    std::vector<double> latent;       ///< [n x k] true item latents
    std::vector<int> category;        ///< [n]
    std::vector<double> quality;      ///< [n]
    std::vector<double> affinity;     ///< [n] a_i
    std::vector<double> base_logit;   ///< [n] click_bias + a_i + q_i (appeal without context effects)
    std::vector<double> long_view_prob;  ///< [n] P(long view | click)
    std::vector<double> upstream_score;  ///< [n] s_i (also feature column 0)

    int n() const noexcept { return observed.n; }
};

namespace detail {

inline double sigmoid(double z) noexcept {
    if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
    const double e = std::exp(z);
    return e / (1.0 + e);
}

/// Standard normals by Marsaglia's polar method, both values of each pair used (no trigonometry;
/// the simulator's hot spot). Deterministic given the underlying rng stream.
class normal_source {
public:
    explicit normal_source(rng& r) noexcept : r_(r) {}
    double operator()() noexcept {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double x, y, s;
        do {
            x = 2.0 * r_.uniform() - 1.0;
            y = 2.0 * r_.uniform() - 1.0;
            s = x * x + y * y;
        } while (s >= 1.0 || s == 0.0);
        const double m = std::sqrt(-2.0 * std::log(s) / s);
        spare_ = y * m;
        has_spare_ = true;
        return x * m;
    }

private:
    rng& r_;
    double spare_ = 0.0;
    bool has_spare_ = false;
};

inline std::uint64_t request_seed(std::uint64_t world_seed, std::uint64_t index) noexcept {
    std::uint64_t s = world_seed ^ 0x243f6a8885a308d3ULL;
    const std::uint64_t a = splitmix64(s);
    std::uint64_t t = a + index * 0x9e3779b97f4a7c15ULL;
    return splitmix64(t) ^ (index * 0xd1b54a32d192ed03ULL);
}

}  // namespace detail

/// The simulator. Immutable after construction (every method is const), so one world can be
/// shared by threads; randomness for feedback comes from the caller's `rng`.
class world {
public:
    /// Requests meant for evaluation live at indices eval_base + i, far from training indices.
    static constexpr std::uint64_t eval_base = std::uint64_t(1) << 40;

    explicit world(world_config cfg = {}, std::uint64_t seed = 1) : cfg_(std::move(cfg)), seed_(seed) {
        cfg_.validate();
        const int k = cfg_.latent_dim, c = cfg_.num_categories;
        rng r(seed_);
        detail::normal_source normal(r);
        centroids_.resize(static_cast<std::size_t>(c) * k);
        for (auto& x : centroids_) x = normal();
        exam_.resize(cfg_.slate_size);
        for (int t = 0; t < cfg_.slate_size; ++t) {
            double e = std::pow(cfg_.exam_decay, t);
            if (t >= cfg_.viewport) e *= std::pow(cfg_.exam_cut, t - cfg_.viewport + 1);
            exam_[t] = e;
        }
        // feature layout: fixed order, cut at F
        const int f = cfg_.feature_dim;
        auto col = [f](int c0) { return c0 < f ? c0 : -1; };
        layout_.upstream_score = col(0);
        layout_.upstream_rank = col(1);
        layout_.depth = col(2);
        layout_.category = col(3);
        layout_.category_width = std::max(0, std::min(c, f - 3));
        layout_.latent = col(3 + c);
        layout_.latent_width = std::max(0, std::min(k, f - 3 - c));
        layout_.used = std::min(f, 3 + c + k);
    }

    const world_config& config() const noexcept { return cfg_; }
    std::uint64_t seed() const noexcept { return seed_; }
    int num_candidates() const noexcept { return cfg_.num_candidates; }
    int slate_size() const noexcept { return cfg_.slate_size; }
    const feature_layout& layout() const noexcept { return layout_; }

    /// Known examination probabilities exam_t, t = 0..L-1 (for position-bias correction).
    const std::vector<double>& examination() const noexcept { return exam_; }

    /// Complementary category of c, or -1 if c has no partner.
    int complement(int c) const noexcept {
        const int p = c ^ 1;
        return p < cfg_.num_categories ? p : -1;
    }

    /// Centroid m_c of category c (k values; c in [0, C), unchecked). World knowledge that no
    /// model sees: the posterior sampler (sim/posterior.hpp) uses it.
    const double* centroid(int c) const noexcept { return &centroids_[static_cast<std::size_t>(c) * cfg_.latent_dim]; }

    /// Candidate i's hidden terms from its latents: a_i from `r.user` and row i of `r.latent`, then
    /// `affinity[i]`, `quality[i] = q`, `base_logit[i]` and `long_view_prob[i]` (depth d). The
    /// arrays must already hold n values. make_request uses it, and so does the posterior sampler
    /// with sampled latents, so the closed form sees one definition of the item.
    void set_item_terms(sim_request& r, int i, double q, double d) const noexcept {
        const int k = cfg_.latent_dim;
        const double* v = &r.latent[static_cast<std::size_t>(i) * k];
        double dot = 0.0;
        for (int j = 0; j < k; ++j) dot += r.user[j] * v[j];
        item_terms_from_dot(r, i, dot, q, d);
    }

    /// Request `index` (deterministic in (seed, index)).
    sim_request make_request(std::uint64_t index) const {
        sim_request r;
        make_request(index, r);
        return r;
    }
    /// Same, reusing the buffers of `out`.
    void make_request(std::uint64_t index, sim_request& out) const;

    /// The i-th fixed evaluation request.
    sim_request eval_request(std::uint64_t i) const { return make_request(eval_base + i); }

    /// Appeal logits z_t of every slot of `y` (context effects included).
    void appeal_logits(const sim_request& r, const slate& y, std::vector<double>& z) const {
        check_slate(r, y);
        z.resize(y.size());
        scan(r, y, [&](std::size_t t, int, double zt) { z[t] = zt; });
    }

    /// Per-slot expected feedback: examined = exam_t, clicks = P(click_t), long_views = P(long_t).
    page_feedback expected_feedback(const sim_request& r, const slate& y, const conditions& c = {}) const {
        check_slate(r, y);
        page_feedback fb;
        fb.examined.resize(y.size());
        fb.clicks.resize(y.size());
        fb.long_views.resize(y.size());
        scan(r, y, [&](std::size_t t, int i, double zt) {
            const double pc = exam_[t] * click_given_exam(zt, c.engagement);
            fb.examined[t] = static_cast<float>(exam_[t]);
            fb.clicks[t] = static_cast<float>(pc);
            fb.long_views[t] = static_cast<float>(pc * r.long_view_prob[i]);
        });
        return fb;
    }

    /// Expected page utility in closed form (exact; see the header comment).
    double expected_utility(const sim_request& r, const slate& y, const conditions& c = {}) const {
        check_slate(r, y);
        return utility_unchecked(r, y.data(), static_cast<int>(y.size()), c);
    }

    /// Expected utility of `y[0..len)` (a prefix or full slate), without validation.
    double utility_unchecked(const sim_request& r, const int* y, int len, const conditions& c) const noexcept {
        double u = 0.0;
        scan(r, y, len, [&](std::size_t t, int i, double zt) {
            u += exam_[t] * click_given_exam(zt, c.engagement) * item_value(r, i, c.weights);
        });
        return u;
    }

    /// Sampled feedback (what traffic gives): per-slot 0/1 examined, clicks, long views.
    page_feedback sample_feedback(const sim_request& r, const slate& y, rng& g, const conditions& c = {}) const {
        page_feedback fb;
        sample_feedback(r, y, g, c, fb);
        return fb;
    }
    void sample_feedback(const sim_request& r, const slate& y, rng& g, const conditions& c, page_feedback& fb) const {
        check_slate(r, y);
        fb.examined.assign(y.size(), 0.0f);
        fb.clicks.assign(y.size(), 0.0f);
        fb.long_views.assign(y.size(), 0.0f);
        scan(r, y, [&](std::size_t t, int i, double zt) {
            const double ue = g.uniform(), uc = g.uniform(), ul = g.uniform();  // fixed draw count
            if (ue >= exam_[t]) return;
            fb.examined[t] = 1.0f;
            if (uc >= click_given_exam(zt, c.engagement)) return;
            fb.clicks[t] = 1.0f;
            if (ul < r.long_view_prob[i]) fb.long_views[t] = 1.0f;
        });
    }

    /// Exact expected utility of a uniformly random slate (average over all N!/(N-L)! slates).
    double random_utility(const sim_request& r, const conditions& c = {}) const;

    /// Item value if clicked: w_click + w_long * P(long | click).
    static double item_value(const sim_request& r, int i, const objective_weights& w) noexcept {
        return w.click + w.long_view * r.long_view_prob[i];
    }
    /// P(click | examined) for appeal logit z under engagement e.
    static double click_given_exam(double z, double engagement) noexcept {
        return std::min(1.0, engagement * detail::sigmoid(z));
    }

    /// Throws input_error unless y is a slate of this world's length over r's candidates.
    void check_slate(const sim_request& r, const slate& y) const {
        if (static_cast<int>(y.size()) != cfg_.slate_size)
            detail::throw_input("slate has " + std::to_string(y.size()) + " slots, the world's L is " +
                                std::to_string(cfg_.slate_size));
        check_distinct(r, y);
    }

private:
    // set_item_terms given u . v_i (make_request accumulates it while drawing v_i: keeping its
    // floating-point order keeps every request bit-identical)
    void item_terms_from_dot(sim_request& r, int i, double dot, double q, double d) const noexcept {
        const double a = cfg_.affinity_scale / std::sqrt(static_cast<double>(cfg_.latent_dim)) * dot;
        r.affinity[i] = a;
        r.quality[i] = q;
        r.base_logit[i] = cfg_.click_bias + a + q;
        r.long_view_prob[i] = detail::sigmoid(cfg_.long_bias + cfg_.long_quality * q + d);
    }

    void check_distinct(const sim_request& r, const slate& y) const {
        const int n = r.n();
        for (std::size_t t = 0; t < y.size(); ++t) {
            if (y[t] < 0 || y[t] >= n)
                detail::throw_input("slate slot " + std::to_string(t) + " holds candidate " + std::to_string(y[t]) +
                                    ", outside [0, " + std::to_string(n) + ")");
            for (std::size_t s = 0; s < t; ++s)
                if (y[s] == y[t])
                    detail::throw_input("slate repeats candidate " + std::to_string(y[t]) + " (slots " +
                                        std::to_string(s) + " and " + std::to_string(t) + ")");
        }
    }

    template <class F>
    void scan(const sim_request& r, const slate& y, F&& f) const {
        scan(r, y.data(), static_cast<int>(y.size()), std::forward<F>(f));
    }

    /// Walks the slate top-down computing each slot's appeal logit; f(t, item, z_t).
    template <class F>
    void scan(const sim_request& r, const int* y, int len, F&& f) const {
        constexpr int small = 64;
        int counts_small[small];
        std::vector<int> counts_big;
        int* counts = counts_small;
        const int cats = cfg_.num_categories;
        if (cats <= small) {
            std::fill(counts_small, counts_small + cats, 0);
        } else {
            counts_big.assign(cats, 0);
            counts = counts_big.data();
        }
        int prev = -1;
        for (int t = 0; t < len; ++t) {
            const int i = y[t];
            const int c = r.category[i];
            double z = r.base_logit[i] - cfg_.redundancy * counts[c];
            if (prev >= 0 && complement(prev) == c) z += cfg_.complementarity;
            f(static_cast<std::size_t>(t), i, z);
            ++counts[c];
            prev = c;
        }
    }

    world_config cfg_;
    std::uint64_t seed_;
    std::vector<double> centroids_;  // [C x k]
    std::vector<double> exam_;       // [L]
    feature_layout layout_;
};

inline void world::make_request(std::uint64_t index, sim_request& out) const {
    const int n = cfg_.num_candidates, k = cfg_.latent_dim, C = cfg_.num_categories;
    const int f = cfg_.feature_dim, fc = cfg_.context_dim;
    rng g(detail::request_seed(seed_, index));
    detail::normal_source normal(g);

    out.index = index;
    out.user.resize(k);
    for (auto& x : out.user) x = normal();

    out.latent.resize(static_cast<std::size_t>(n) * k);
    out.category.resize(n);
    out.quality.resize(n);
    out.affinity.resize(n);
    out.base_logit.resize(n);
    out.long_view_prob.resize(n);
    out.upstream_score.resize(n);

    request<float>& obs = out.observed;
    obs.n = n;
    obs.f = f;
    obs.features.assign(static_cast<std::size_t>(n) * f, 0.0f);
    obs.context.assign(fc, 0.0f);
    for (int j = 0; j < std::min(fc, k); ++j)
        obs.context[j] = static_cast<float>(out.user[j] + cfg_.context_noise * normal());

    const double a_cat = std::sqrt(cfg_.category_share), a_own = std::sqrt(1.0 - cfg_.category_share);
    std::vector<double> depth_obs(n);
    for (int i = 0; i < n; ++i) {
        const int c = static_cast<int>(g.below(static_cast<std::uint64_t>(C)));
        out.category[i] = c;
        double* v = &out.latent[static_cast<std::size_t>(i) * k];
        const double* m = centroid(c);
        double dot = 0.0;
        for (int j = 0; j < k; ++j) {
            v[j] = a_cat * m[j] + a_own * normal();
            dot += out.user[j] * v[j];
        }
        const double q = cfg_.quality_std * normal();
        const double d = cfg_.depth_std * normal();
        item_terms_from_dot(out, i, dot, q, d);
        const double a = out.affinity[i];
        out.upstream_score[i] = q + cfg_.upstream_affinity_share * a + cfg_.upstream_noise * normal();
        depth_obs[i] = d + cfg_.depth_noise * normal();
        float* row = &obs.features[static_cast<std::size_t>(i) * f];
        if (layout_.category_width > 0 && c < layout_.category_width) row[layout_.category + c] = 1.0f;
        for (int j = 0; j < layout_.latent_width; ++j)
            row[layout_.latent + j] = static_cast<float>(v[j] + cfg_.latent_noise * normal());
    }

    // upstream rank: order of the upstream score, ties by index
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int x, int y) { return out.upstream_score[x] > out.upstream_score[y]; });
    obs.upstream_rank.resize(n);
    for (int p = 0; p < n; ++p) obs.upstream_rank[order[p]] = p;

    const double rank_den = n > 1 ? static_cast<double>(n - 1) : 1.0;
    for (int i = 0; i < n; ++i) {
        float* row = &obs.features[static_cast<std::size_t>(i) * f];
        if (layout_.upstream_score >= 0) row[layout_.upstream_score] = static_cast<float>(out.upstream_score[i]);
        if (layout_.upstream_rank >= 0) row[layout_.upstream_rank] = static_cast<float>(obs.upstream_rank[i] / rank_den);
        if (layout_.depth >= 0) row[layout_.depth] = static_cast<float>(depth_obs[i]);
    }
}

// Exact expectation over a uniformly random slate. For slot t the item is uniform over the N
// candidates; given item i at slot t >= 1, the item right above it is uniform over the other N-1,
// and the remaining t-1 items above are a uniform (t-1)-subset of the other N-2, so the number of
// same-category items among them is hypergeometric. Grouping the item right above into three
// classes (same category, complementary category, other) makes the cost O(L^2 N).
inline double world::random_utility(const sim_request& r, const conditions& c) const {
    const int n = r.n(), L = cfg_.slate_size, C = cfg_.num_categories;
    std::vector<int> count(C, 0);
    for (int i = 0; i < n; ++i) ++count[r.category[i]];

    // log C(a, b) from a table of log factorials (lgamma is not thread-safe in glibc: signgam)
    std::vector<double> log_fact(static_cast<std::size_t>(n) + 1, 0.0);
    for (int a = 2; a <= n; ++a) log_fact[a] = log_fact[a - 1] + std::log(static_cast<double>(a));
    auto lchoose = [&](int a, int b) { return log_fact[a] - log_fact[b] - log_fact[a - b]; };
    // hypergeometric pmf table per number of successes K in a population of P = N-2, `draws` draws
    std::vector<std::vector<double>> pmf_cache;
    auto hyper = [&](int K, int draws) -> const std::vector<double>& {
        auto& v = pmf_cache[K];
        if (!v.empty()) return v;
        const int P = n - 2;
        v.assign(draws + 1, 0.0);
        const double lden = lchoose(P, draws);
        for (int m = std::max(0, draws - (P - K)); m <= std::min(K, draws); ++m)
            v[m] = std::exp(lchoose(K, m) + lchoose(P - K, draws - m) - lden);
        return v;
    };

    double u = 0.0;
    for (int t = 0; t < L; ++t) {
        double slot = 0.0;
        pmf_cache.assign(std::max(n - 1, 1), {});
        for (int i = 0; i < n; ++i) {
            const int ci = r.category[i];
            const double base = r.base_logit[i];
            const double value = item_value(r, i, c.weights);
            double e = 0.0;
            if (t == 0) {
                e = click_given_exam(base, c.engagement);
            } else {
                const int same = count[ci] - 1;  // other items of i's category
                const int pc = complement(ci);
                const int comp = pc >= 0 ? count[pc] : 0;
                const int other = n - 1 - same - comp;
                struct cls {
                    int size, is_same, is_match;
                };
                const cls classes[3] = {{same, 1, 0}, {comp, 0, 1}, {other, 0, 0}};
                for (const cls& k : classes) {
                    if (k.size <= 0) continue;
                    const double p_cls = static_cast<double>(k.size) / (n - 1);
                    const int K = same - k.is_same;  // same-category items among the other N-2
                    const auto& pmf = hyper(K, t - 1);
                    double ek = 0.0;
                    for (int m = 0; m < static_cast<int>(pmf.size()); ++m) {
                        if (pmf[m] == 0.0) continue;
                        const double z = base - cfg_.redundancy * (m + k.is_same) + cfg_.complementarity * k.is_match;
                        ek += pmf[m] * click_given_exam(z, c.engagement);
                    }
                    e += p_cls * ek;
                }
            }
            slot += value * e;
        }
        u += exam_[t] * slot / n;
    }
    return u;
}

DUALRERANK_NAMESPACE_END
