// AdamW over flat arenas (parameters, gradients and both moments share one tensor table), with
// global-norm gradient clipping, linear warmup + cosine decay of the learning rate, weight decay
// only on tensors flagged `decay` (matrices; never LayerNorm, biases or embeddings), and the
// non-finite-gradient policy: such a step is skipped and counted, the weights stay untouched.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "../core/aligned.hpp"
#include "../core/params.hpp"
#include "../core/simd.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

struct adamw_config {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;
    double clip_norm = 1.0;     ///< global gradient-norm clip (<= 0: off)
    long warmup_steps = 100;    ///< linear warmup from 0
    long total_steps = 0;       ///< cosine decay to min_lr_ratio * lr at total_steps (0: constant after warmup)
    double min_lr_ratio = 0.1;
};

/// input_error unless every field is in range (a NaN learning rate would silently turn every
/// weight into NaN on the first step). Returns c.
inline const adamw_config& validate(const adamw_config& c) {
    auto bad = [](const char* m) { dualrerank::detail::throw_input(std::string("invalid adamw_config: ") + m); };
    if (!(std::isfinite(c.lr) && c.lr >= 0)) bad("lr must be finite and >= 0");
    if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) bad("beta1 and beta2 must be in [0, 1)");
    if (!(std::isfinite(c.eps) && c.eps > 0)) bad("eps must be finite and > 0");
    if (!(std::isfinite(c.weight_decay) && c.weight_decay >= 0)) bad("weight_decay must be finite and >= 0");
    if (std::isnan(c.clip_norm)) bad("clip_norm must not be NaN (<= 0 turns clipping off)");
    if (c.warmup_steps < 0 || c.total_steps < 0) bad("warmup_steps and total_steps must be >= 0");
    if (!(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1)) bad("min_lr_ratio must be in [0, 1]");
    return c;
}

/// Learning rate at a given (0-based) step.
inline double learning_rate(const adamw_config& c, long step) noexcept {
    if (c.warmup_steps > 0 && step < c.warmup_steps) return c.lr * double(step + 1) / double(c.warmup_steps);
    if (c.total_steps <= c.warmup_steps) return c.lr;
    const double p = std::min(1.0, double(step - c.warmup_steps) / double(c.total_steps - c.warmup_steps));
    const double cosine = 0.5 * (1.0 + std::cos(3.14159265358979323846 * p));
    return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosine);
}

struct step_result {
    bool applied = false;  ///< false: gradients were non-finite, step skipped
    double grad_norm = 0;  ///< before clipping
    double lr = 0;
};

template <class T>
class adamw {
public:
    adamw(const tensor_table& table, adamw_config cfg) : table_(&table), cfg_(validate(cfg)), m_(table.total(), T(0)), v_(table.total(), T(0)) {}

    /// One update from grads (which are clipped in place). Returns what happened.
    step_result step(T* params, T* grads) {
        step_result r;
        r.grad_norm = std::sqrt(squared_norm(grads, table_->total()));
        r.lr = learning_rate(cfg_, step_);
        if (!std::isfinite(r.grad_norm)) {
            ++skipped_;
            return r;
        }
        const double clip = (cfg_.clip_norm > 0 && r.grad_norm > cfg_.clip_norm) ? cfg_.clip_norm / r.grad_norm : 1.0;
        const long t = step_ + 1;
        // torch.optim.AdamW's order of operations: decoupled decay, then
        // p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
        const T b1 = T(cfg_.beta1), b2 = T(cfg_.beta2);
        const T step_size = T(r.lr / (1.0 - std::pow(cfg_.beta1, double(t))));
        const T sqrt_bc2 = T(std::sqrt(1.0 - std::pow(cfg_.beta2, double(t))));
        const T lr = T(r.lr), eps = T(cfg_.eps), c = T(clip);
        for (const auto& ts : table_->tensors()) {
            T* p = params + ts.offset;
            T* g = grads + ts.offset;
            T* m = m_.data() + ts.offset;
            T* v = v_.data() + ts.offset;
            const T wd = ts.decay ? T(cfg_.weight_decay) : T(0);
            using B = xsimd::batch<T>;
            constexpr std::size_t W = B::size;
            const B vb1(b1), vb2(b2), vc1(T(1) - b1), vc2(T(1) - b2), vdecay(T(1) - lr * wd), vstep(step_size),
                vbc2(sqrt_bc2), veps(eps), vc(c);
            std::size_t i = 0;
            for (; i + W <= ts.size; i += W) {  // the scalar loop below, in lanes (same operations)
                const B gi = B::load_unaligned(g + i) * vc;
                const B mi = vb1 * B::load_unaligned(m + i) + vc1 * gi;
                const B vi = vb2 * B::load_unaligned(v + i) + vc2 * gi * gi;
                mi.store_unaligned(m + i);
                vi.store_unaligned(v + i);
                const B pi = B::load_unaligned(p + i) * vdecay;
                (pi - vstep * mi / (xsimd::sqrt(vi) / vbc2 + veps)).store_unaligned(p + i);
            }
            for (; i < ts.size; ++i) {
                const T gi = g[i] * c;
                m[i] = b1 * m[i] + (T(1) - b1) * gi;
                v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
                p[i] *= T(1) - lr * wd;
                p[i] -= step_size * m[i] / (std::sqrt(v[i]) / sqrt_bc2 + eps);
            }
        }
        ++step_;
        r.applied = true;
        return r;
    }

    long steps() const noexcept { return step_; }
    long skipped() const noexcept { return skipped_; }
    const adamw_config& config() const noexcept { return cfg_; }
    void set_config(const adamw_config& c) { cfg_ = validate(c); }
    T* first_moment() noexcept { return m_.data(); }
    T* second_moment() noexcept { return v_.data(); }
    const T* first_moment() const noexcept { return m_.data(); }
    const T* second_moment() const noexcept { return v_.data(); }
    void restore(long step, long skipped) noexcept {
        step_ = step;
        skipped_ = skipped;
    }

private:
    /// Sum of squares in double: lanes of T over blocks of 1024 values, each block's sum added in
    /// double (a float accumulator over a whole arena would lose digits).
    static double squared_norm(const T* g, std::size_t n) noexcept {
        using B = xsimd::batch<T>;
        constexpr std::size_t W = B::size, block = 1024;
        double sq = 0;
        std::size_t i = 0;
        for (; i + block <= n; i += block) {
            B acc(T(0));
            for (std::size_t j = i; j < i + block; j += W) {
                const B x = B::load_unaligned(g + j);
                acc = xsimd::fma(x, x, acc);
            }
            sq += double(simd::reduce_add(acc));
        }
        for (; i < n; ++i) sq += double(g[i]) * double(g[i]);
        return sq;
    }

    const tensor_table* table_;
    adamw_config cfg_;
    aligned_vector<T> m_, v_;
    long step_ = 0, skipped_ = 0;
};

/// zero_grad: one loop over the arena.
template <class T>
void zero(T* g, std::size_t n) noexcept {
    std::fill(g, g + n, T(0));
}

}  // namespace train
DUALRERANK_NAMESPACE_END
