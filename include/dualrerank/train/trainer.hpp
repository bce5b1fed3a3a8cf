// The training loop: mini-batches of requests (varying N), one optimiser step per batch,
// deterministic from a seed, a progress line, and the bad-batch policy.
//
// The loop is model- and loss-agnostic: a step function receives the zeroed gradient arena and
// a workspace, runs the model's forward, computes a loss and its d(loss)/d(outputs), calls the
// model's backward, and returns the loss. Ready-made step functions cover supervised training
// of the teacher (teacher-forcing cross-entropy), the student (slot-wise masked cross-entropy)
// and the evaluator (per-slot binary cross-entropy).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../core/workspace.hpp"
#include "../model/ar_teacher.hpp"
#include "../model/evaluator.hpp"
#include "../model/nar_student.hpp"
#include "adamw.hpp"
#include "losses.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

struct trainer_config {
    adamw_config optimizer;
    int batch_size = 32;
    std::uint64_t seed = 1;
    int max_bad_steps = 10;  ///< consecutive non-finite steps before training stops with an error
    int log_every = 0;       ///< progress line every k steps (0: never)
    std::FILE* log = stderr;
};

/// input_error unless batch_size is in [1, 65536] and max_bad_steps >= 1. Returns c.
inline const trainer_config& validate(const trainer_config& c) {
    if (c.batch_size < 1 || c.batch_size > (1 << 16))
        dualrerank::detail::throw_input("invalid trainer_config: batch_size must be in [1, 65536], got " +
                                        std::to_string(c.batch_size));
    if (c.max_bad_steps < 1) dualrerank::detail::throw_input("invalid trainer_config: max_bad_steps must be >= 1");
    return c;
}

struct step_report {
    long step = 0;
    double loss = 0;
    bool applied = false;
    double grad_norm = 0;
    double lr = 0;
};

template <class Model>
class trainer {
public:
    using T = typename Model::value_type;

    trainer(Model& model, trainer_config cfg)
        : model_(&model), cfg_(validate(cfg)), opt_(model.table(), cfg.optimizer), grads_(model.arena_size(), T(0)), rng_(cfg.seed) {}

    /// One optimiser step of fn(grads, ws) -> loss. Non-finite loss or gradients: skipped and counted, weights untouched;
    /// after max_bad_steps in a row a training_error is thrown.
    template <class F>
    step_report step(F&& fn) {
        zero(grads_.data(), grads_.size());
        ws_.reset();
        step_report r;
        r.loss = fn(grads_.data(), ws_);
        r.step = opt_.steps();
        if (std::isfinite(r.loss)) {
            step_result s = opt_.step(model_->params(), grads_.data());
            r.applied = s.applied;
            r.grad_norm = s.grad_norm;
            r.lr = s.lr;
        }
        if (!r.applied) {
            ++bad_in_row_;
            ++bad_total_;
            if (bad_in_row_ >= cfg_.max_bad_steps)
                throw training_error("dualrerank: training stopped after " + std::to_string(bad_in_row_) +
                                     " consecutive non-finite steps (loss " + std::to_string(r.loss) + ")");
        } else {
            bad_in_row_ = 0;
        }
        return r;
    }

    /// Run `steps` steps of fn(grads, ws, rng) (which draws its own batch). Prints progress.
    /// Callables are taken as templates (no std::function), so a step allocates nothing.
    template <class F>
    void run(long steps, F&& fn, const std::string& label = "train") {
        const auto t0 = std::chrono::steady_clock::now();
        double ema = 0;
        const long start = opt_.steps() + bad_total_;
        for (long i = 0; i < steps; ++i) {
            step_report r = step([&](T* g, workspace& ws) { return fn(g, ws, rng_); });
            if (r.applied) ema = (i == 0) ? r.loss : 0.98 * ema + 0.02 * r.loss;
            last_loss_ = r.loss;
            if (cfg_.log && cfg_.log_every > 0 && ((i + 1) % cfg_.log_every == 0 || i + 1 == steps)) {
                const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                const double rate = double(i + 1) * cfg_.batch_size / std::max(secs, 1e-9);
                const double eta = secs / double(i + 1) * double(steps - i - 1);
                std::fprintf(cfg_.log, "\r[%s] step %ld/%ld  loss %.4f  %.0f req/s  lr %.2e  skipped %ld  ETA %.0fs   ",
                             label.c_str(), start + i + 1, start + steps, ema, rate, r.lr, bad_total_, eta);
                if (i + 1 == steps) std::fprintf(cfg_.log, "\n");
                std::fflush(cfg_.log);
            }
        }
    }

    Model& model() noexcept { return *model_; }
    adamw<T>& optimizer() noexcept { return opt_; }
    rng& random() noexcept { return rng_; }
    const trainer_config& config() const noexcept { return cfg_; }
    long bad_steps() const noexcept { return bad_total_; }
    double last_loss() const noexcept { return last_loss_; }
    T* gradients() noexcept { return grads_.data(); }
    void restore_counters(long bad_total) noexcept { bad_total_ = bad_total; }

private:
    Model* model_;
    trainer_config cfg_;
    adamw<T> opt_;
    aligned_vector<T> grads_;
    rng rng_;
    workspace ws_;
    int bad_in_row_ = 0;
    long bad_total_ = 0;
    double last_loss_ = 0;
};

// ------------------------------------------------------------------ supervised step functions

/// The top-L candidates by a score vector (ties: lower index first).
template <class T>
slate top_by_score(const T* score, int n, int L) {
    slate idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return score[a] > score[b]; });
    idx.resize(static_cast<std::size_t>(L));
    return idx;
}

/// A supervised example set: requests and one target slate (length L) per request.
template <class T>
struct slate_dataset {
    std::vector<request<T>> requests;
    std::vector<slate> targets;
    int L = 0;
    std::size_t size() const noexcept { return requests.size(); }
};

/// Draws a batch of indices (with replacement across batches, without within one batch when possible).
inline void draw_batch(rng& g, std::size_t n, int B, std::vector<int>& out) {
    out.resize(std::size_t(B));
    for (int b = 0; b < B; ++b) out[b] = int(g.below(n));
}

/// Teacher forcing cross-entropy, mean over the batch (sum over slots, slot weights w or 1).
template <class T>
double teacher_ce_step(const ar_teacher<T>& m, const request_view<T>* reqs, int B, int L, const int* targets, const T* w,
                       T* grads, workspace& ws) {
    auto c = m.forward(reqs, B, L, targets, ws);
    T* dZ = ws.alloc_zero<T>(std::size_t(B) * L * c.n);
    T* scratch = ws.alloc<T>(c.n);
    double loss = 0;
    for (int b = 0; b < B; ++b)
        loss += double(slot_cross_entropy(c.Z + std::size_t(b) * L * c.n, L, c.n, c.n, targets + std::size_t(b) * L, false, w,
                                          T(1) / T(B), dZ + std::size_t(b) * L * c.n, scratch));
    if (!std::isfinite(loss)) return loss;
    m.backward(c, dZ, grads, ws);
    return loss / B;
}

/// Student slot-wise masked cross-entropy toward target slates, mean over the batch.
template <class T>
double student_ce_step(const nar_student<T>& m, const request_view<T>* reqs, int B, int L, const int* targets, const T* w,
                       T* grads, workspace& ws) {
    auto c = m.forward(reqs, B, L, ws);
    T* dZ = ws.alloc_zero<T>(std::size_t(B) * L * c.n);
    T* scratch = ws.alloc<T>(c.n);
    double loss = 0;
    for (int b = 0; b < B; ++b) {
        for (int t = 0; t < L; ++t) {
            const int y = targets[std::size_t(b) * L + t];
            if (y < 0 || y >= reqs[b].n) dualrerank::detail::throw_input("student_ce_step: target index out of range");
        }
        loss += double(slot_cross_entropy(c.Z + std::size_t(b) * L * c.n, L, c.n, c.n, targets + std::size_t(b) * L, true, w,
                                          T(1) / T(B), dZ + std::size_t(b) * L * c.n, scratch));
    }
    if (!std::isfinite(loss)) return loss;
    m.backward(c, dZ, grads, ws);
    return loss / B;
}

/// Evaluator per-slot BCE on observed feedback labels [K x L x outputs] for K slates of one request.
template <class T>
double evaluator_bce_step(const list_evaluator<T>& m, const request_view<T>& r, int K, int L, const int* slates,
                          const T* labels, T* grads, workspace& ws, T scale = T(1)) {
    auto c = m.forward(r, K, L, slates, ws);
    const std::size_t cnt = std::size_t(K) * L * m.config().outputs;
    T* dE = ws.alloc_zero<T>(cnt);
    const double loss = double(bce_with_logits(c.E, labels, cnt, static_cast<const T*>(nullptr), scale, dE));
    if (!std::isfinite(loss)) return loss;
    m.backward(c, dE, grads, ws);
    return loss;
}

/// Supervised fitting of a teacher or student on a slate dataset for `steps` steps.
template <class Model>
void fit_supervised(trainer<Model>& tr, const slate_dataset<typename Model::value_type>& data, long steps,
                    const std::string& label = "supervised") {
    using T = typename Model::value_type;
    if (data.size() == 0) dualrerank::detail::throw_input("fit_supervised: empty dataset");
    const int B = tr.config().batch_size, L = data.L;
    if (L < 1 || L > tr.model().config().max_slate)  // before the batch buffers are sized by it
        dualrerank::detail::throw_input("fit_supervised: slate length L = " + std::to_string(L) + " outside [1, max_slate]");
    std::vector<int> idx;
    std::vector<request_view<T>> views(static_cast<std::size_t>(B));
    std::vector<int> targets(std::size_t(B) * L);
    tr.run(
        steps,
        [&](T* g, workspace& ws, rng& gen) {
            draw_batch(gen, data.size(), B, idx);
            for (int b = 0; b < B; ++b) {
                views[b] = data.requests[idx[b]].view();
                const slate& y = data.targets[idx[b]];
                if (int(y.size()) < L) dualrerank::detail::throw_input("fit_supervised: target slate shorter than L");
                std::copy(y.begin(), y.begin() + L, targets.begin() + std::size_t(b) * L);
            }
            if constexpr (Model::kind == model_kind::teacher)
                return teacher_ce_step(tr.model(), views.data(), B, L, targets.data(), static_cast<const T*>(nullptr), g, ws);
            else
                return student_ce_step(tr.model(), views.data(), B, L, targets.data(), static_cast<const T*>(nullptr), g, ws);
        },
        label);
}

}  // namespace train
DUALRERANK_NAMESPACE_END
