// The training loop: mini-batches of requests (varying N), one optimiser step per batch,
// deterministic from a seed, a progress line, and the bad-batch policy.
//
// The loop is model- and loss-agnostic: a step function receives the zeroed gradient arena and
// a workspace, runs the model's forward, computes a loss and its d(loss)/d(outputs), calls the
// model's backward, and returns the loss. Ready-made step functions cover supervised training
// of the teacher and the student (slate cross-entropy, ListMLE, ApproxNDCG: supervised_step) and
// the evaluator (per-slot binary cross-entropy); fit_supervised runs them with a check hook
// (validation, early stopping: early_stopping) every k steps.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
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
    /// Weight averaging (Polyak): in (0, 1) the trainer keeps an exponential moving average of the
    /// weights after every applied step, decay min(average_decay, (t - 1) / (t + 9)) at the t-th
    /// (averaged_params()); 0: off. Training itself always uses the raw weights.
    double average_decay = 0;
};

/// input_error unless batch_size is in [1, 65536] and max_bad_steps >= 1. Returns c.
inline const trainer_config& validate(const trainer_config& c) {
    if (c.batch_size < 1 || c.batch_size > (1 << 16))
        dualrerank::detail::throw_input("invalid trainer_config: batch_size must be in [1, 65536], got " +
                                        std::to_string(c.batch_size));
    if (c.max_bad_steps < 1) dualrerank::detail::throw_input("invalid trainer_config: max_bad_steps must be >= 1");
    if (!(c.average_decay >= 0 && c.average_decay < 1))
        dualrerank::detail::throw_input("invalid trainer_config: average_decay must be in [0, 1), got " +
                                        std::to_string(c.average_decay));
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
            if (cfg_.average_decay > 0) update_average();
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
    /// The moving average of the weights (trainer_config::average_decay > 0, after at least one
    /// applied step), else the weights themselves; arena_size() values. Not part of a checkpoint:
    /// after load_checkpoint the average starts again from the loaded weights.
    const T* averaged_params() const noexcept { return avg_.empty() ? model_->params() : avg_.data(); }
    /// Drop the weight average (the next applied step starts it again from the weights).
    void reset_average() noexcept {
        avg_.clear();
        avg_count_ = 0;
    }

private:
    void update_average() {
        const T* p = model_->params();
        const std::size_t n = model_->arena_size();
        ++avg_count_;
        if (avg_.empty()) {
            avg_.assign(p, p + n);
            return;
        }
        // the decay ramps up from 0, so the first steps' average is not held at the initialization
        const T d = T(std::min(cfg_.average_decay, double(avg_count_ - 1) / double(avg_count_ + 9)));
        for (std::size_t i = 0; i < n; ++i) avg_[i] = d * avg_[i] + (T(1) - d) * p[i];
    }

    Model* model_;
    trainer_config cfg_;
    aligned_vector<T> avg_;
    long avg_count_ = 0;
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

/// A supervised example set: requests and one target slate per request. A request with fewer
/// candidates than L trains on min(L, N) slots (its target needs that many entries). `labels`
/// (optional: empty, or one graded-label vector per request) turns on the listwise losses and
/// label-consistent targets redrawn every step with ties in random order (see fit_supervised).
template <class T>
struct slate_dataset {
    std::vector<request<T>> requests;
    std::vector<slate> targets;
    std::vector<std::vector<T>> labels;
    int L = 0;
    std::size_t size() const noexcept { return requests.size(); }
};

/// The supervised losses of the pointer models (losses.hpp).
enum class supervised_loss {
    cross_entropy,  ///< slot cross-entropy toward the target slate (the paper's supervised loss)
    listmle,        ///< ListMLE over the full label order (needs labels)
    approx_ndcg,    ///< ApproxNDCG per slot (needs labels)
    tied_cross_entropy  ///< slot cross-entropy with ties as one target: any candidate of the best grade left (needs labels)
};

inline const char* to_string(supervised_loss l) noexcept {
    switch (l) {
        case supervised_loss::listmle: return "listmle";
        case supervised_loss::approx_ndcg: return "approx-ndcg";
        case supervised_loss::tied_cross_entropy: return "ce-ties";
        default: return "ce";
    }
}

/// "ce", "listmle" or "approx-ndcg"; input_error otherwise.
inline supervised_loss parse_supervised_loss(const std::string& s) {
    if (s == "ce") return supervised_loss::cross_entropy;
    if (s == "listmle") return supervised_loss::listmle;
    if (s == "approx-ndcg") return supervised_loss::approx_ndcg;
    if (s == "ce-ties") return supervised_loss::tied_cross_entropy;
    dualrerank::detail::throw_input("unknown supervised loss '" + s + "' (ce, listmle, approx-ndcg, ce-ties)");
}

/// The unit of the loss figure fit_supervised reports: the loss summed over a batch divided by the
/// slots (cross-entropy, ApproxNDCG) or ranked positions (ListMLE) it covers.
inline const char* loss_unit(supervised_loss l) noexcept {
    switch (l) {
        case supervised_loss::listmle: return "nats per ranked document";
        case supervised_loss::approx_ndcg: return "1 - ApproxNDCG per slot";
        default: return "nats per slot";
    }
}

struct supervised_config {
    supervised_loss loss = supervised_loss::cross_entropy;
    double alpha = 1.0;  ///< ApproxNDCG temperature (losses.hpp)
};

/// Draws a batch of indices (with replacement across batches, without within one batch when possible).
inline void draw_batch(rng& g, std::size_t n, int B, std::vector<int>& out) {
    out.resize(std::size_t(B));
    for (int b = 0; b < B; ++b) out[b] = int(g.below(n));
}

/// One supervised step of a teacher or a student on B requests that all fill L slots (L <= each
/// N): orders[b] is request b's target order (L entries for the cross-entropy, all N for ListMLE,
/// ApproxNDCG and ce-ties), labels[b] its graded labels (those three only; may be null otherwise).
/// The gradient, scaled by `scale`, is accumulated into `grads`. Returns the summed loss; `units`
/// (if not null) gets the slots or positions it covers. The teacher is teacher-forced on the
/// first L entries of each order; for both models the loss masks the order's prefix (for the
/// teacher the prefix is masked in Z already, so masking it again changes nothing).
template <class Model, class T = typename Model::value_type>
double supervised_step(const Model& m, const request_view<T>* reqs, int B, int L, const int* const* orders,
                       const T* const* labels, const supervised_config& sc, T scale, T* grads, workspace& ws,
                       long* units = nullptr) {
    const bool full = sc.loss != supervised_loss::cross_entropy;
    for (int b = 0; b < B; ++b) {
        const int len = full ? reqs[b].n : L;
        for (int t = 0; t < len; ++t) {
            const int y = orders[b][t];
            if (y < 0 || y >= reqs[b].n) dualrerank::detail::throw_input("supervised_step: target index out of range");
        }
        if ((sc.loss == supervised_loss::approx_ndcg || sc.loss == supervised_loss::tied_cross_entropy) && !labels[b])
            dualrerank::detail::throw_input(std::string("supervised_step: ") + to_string(sc.loss) + " needs graded labels");
    }
    int* targets = ws.alloc<int>(std::size_t(B) * L);
    for (int b = 0; b < B; ++b) std::copy(orders[b], orders[b] + L, targets + std::size_t(b) * L);
    auto c = [&] {
        if constexpr (Model::kind == model_kind::teacher) return m.forward(reqs, B, L, targets, ws);
        else return m.forward(reqs, B, L, ws);
    }();
    T* dZ = ws.alloc_zero<T>(std::size_t(B) * L * c.n);
    T* scratch = ws.alloc<T>(std::size_t(3) * c.n);
    unsigned char* used = ws.alloc<unsigned char>(std::size_t(c.n));
    double loss = 0;
    long covered = 0;
    for (int b = 0; b < B; ++b) {
        const T* Z = c.Z + std::size_t(b) * L * c.n;
        T* g = dZ + std::size_t(b) * L * c.n;
        const int n = reqs[b].n;
        switch (sc.loss) {
            case supervised_loss::listmle:
                loss += double(listmle_loss(Z, L, n, c.n, orders[b], scale, g, scratch, used));
                covered += n;
                break;
            case supervised_loss::approx_ndcg:
                loss += double(approx_ndcg_loss(Z, L, n, c.n, orders[b], labels[b], static_cast<const T*>(nullptr),
                                                T(sc.alpha), scale, g, scratch, used));
                covered += L;
                break;
            case supervised_loss::tied_cross_entropy:
                loss += double(tied_slot_cross_entropy(Z, L, n, c.n, orders[b], labels[b], scale, g, scratch, used));
                covered += L;
                break;
            default:
                loss += double(slot_cross_entropy(Z, L, c.n, c.n, targets + std::size_t(b) * L, true,
                                                  static_cast<const T*>(nullptr), scale, g, scratch));
                covered += L;
        }
    }
    if (units) *units = covered;
    if (!std::isfinite(loss)) return loss;
    m.backward(c, dZ, grads, ws);
    return loss;
}

/// Slot cross-entropy of a teacher (teacher forcing) or a student toward target slates
/// targets [B x L], slot weights w [L] (null = 1): the mean over the batch of the loss summed over
/// slots, gradient scaled by 1/B. One function for both kinds of model (the student masks the
/// target prefix in the loss, the teacher's logits arrive with it masked).
template <class Model, class T = typename Model::value_type>
double slate_ce_step(const Model& m, const request_view<T>* reqs, int B, int L, const int* targets, const T* w, T* grads,
                     workspace& ws) {
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < L; ++t) {
            const int y = targets[std::size_t(b) * L + t];
            if (y < 0 || y >= reqs[b].n) dualrerank::detail::throw_input("slate_ce_step: target index out of range");
        }
    auto c = [&] {
        if constexpr (Model::kind == model_kind::teacher) return m.forward(reqs, B, L, targets, ws);
        else return m.forward(reqs, B, L, ws);
    }();
    T* dZ = ws.alloc_zero<T>(std::size_t(B) * L * c.n);
    T* scratch = ws.alloc<T>(c.n);
    double loss = 0;
    for (int b = 0; b < B; ++b)
        loss += double(slot_cross_entropy(c.Z + std::size_t(b) * L * c.n, L, c.n, c.n, targets + std::size_t(b) * L,
                                          Model::kind != model_kind::teacher, w, T(1) / T(B), dZ + std::size_t(b) * L * c.n,
                                          scratch));
    if (!std::isfinite(loss)) return loss;
    m.backward(c, dZ, grads, ws);
    return loss / B;
}

/// The teacher's and the student's slate cross-entropy are one function (slate_ce_step); these
/// names are kept for callers written before it.
template <class T>
double teacher_ce_step(const ar_teacher<T>& m, const request_view<T>* reqs, int B, int L, const int* targets, const T* w,
                       T* grads, workspace& ws) {
    return slate_ce_step(m, reqs, B, L, targets, w, grads, ws);
}
template <class T>
double student_ce_step(const nar_student<T>& m, const request_view<T>* reqs, int B, int L, const int* targets, const T* w,
                       T* grads, workspace& ws) {
    return slate_ce_step(m, reqs, B, L, targets, w, grads, ws);
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

/// A label-consistent order of the candidates: labels descending, ties in random order (from g).
template <class T>
void label_order(const std::vector<T>& labels, rng& g, std::vector<int>& order, std::vector<double>& keys) {
    const std::size_t n = labels.size();
    order.resize(n);
    keys.resize(n);
    for (std::size_t i = 0; i < n; ++i) keys[i] = g.uniform();
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        return labels[a] != labels[b] ? labels[a] > labels[b] : keys[a] < keys[b];
    });
}

/// What fit_supervised reports to its check hook.
struct fit_check {
    long step = 0;            ///< optimizer steps done so far (the trainer's counter, resumes included)
    long steps_this_run = 0;  ///< steps of this call so far
    double train_loss = 0;    ///< mean training loss since the previous check, in loss_unit(loss)
};

/// Supervised fitting of a teacher or student for `steps` steps, with a hook called every
/// `check_every` steps (and after the last step) with the mean training loss since the previous
/// call; the hook returns false to stop early (e.g. an early_stopping that ran out of patience).
/// Returns the steps taken.
///
/// Every request is used: a request with N < L candidates trains on min(L, N) slots (the batch is
/// split into groups of equal slot count, one forward/backward each, all summed into one step).
/// With labels, each request's target order is drawn afresh every step (labels descending, ties
/// in random order from the trainer's stream), so no file order among equal labels is learned;
/// without labels the stored target slates are used (cross-entropy only).
template <class Model, class Hook>
long fit_supervised(trainer<Model>& tr, const slate_dataset<typename Model::value_type>& data, long steps,
                    const supervised_config& sc, long check_every, Hook&& hook, const std::string& label = "supervised") {
    using T = typename Model::value_type;
    if (data.size() == 0) dualrerank::detail::throw_input("fit_supervised: empty dataset");
    const int B = tr.config().batch_size, L = data.L;
    if (L < 1 || L > tr.model().config().max_slate)  // before the batch buffers are sized by it
        dualrerank::detail::throw_input("fit_supervised: slate length L = " + std::to_string(L) + " outside [1, max_slate]");
    const bool with_labels = !data.labels.empty();
    if (with_labels && data.labels.size() != data.size())
        dualrerank::detail::throw_input("fit_supervised: labels for " + std::to_string(data.labels.size()) + " of " +
                                        std::to_string(data.size()) + " requests");
    if (sc.loss != supervised_loss::cross_entropy && !with_labels)
        dualrerank::detail::throw_input(std::string("fit_supervised: the ") + to_string(sc.loss) + " loss needs graded labels");
    if (!(sc.alpha > 0) || !std::isfinite(sc.alpha)) dualrerank::detail::throw_input("fit_supervised: alpha must be > 0");
    if (with_labels)
        for (std::size_t i = 0; i < data.size(); ++i)
            if (data.labels[i].size() != std::size_t(data.requests[i].n))
                dualrerank::detail::throw_input("fit_supervised: request " + std::to_string(i) + " has " +
                                                std::to_string(data.labels[i].size()) + " labels for " +
                                                std::to_string(data.requests[i].n) + " candidates");
    if (check_every < 1) check_every = steps;
    std::vector<int> idx, perm;
    std::vector<std::vector<int>> orders(static_cast<std::size_t>(B));
    std::vector<double> keys;
    std::vector<request_view<T>> views(static_cast<std::size_t>(B));
    std::vector<const int*> order_ptr(static_cast<std::size_t>(B));
    std::vector<const T*> label_ptr(static_cast<std::size_t>(B));
    double loss_sum = 0;
    long unit_sum = 0;
    long done = 0;
    while (done < steps) {
        const long k = std::min(check_every, steps - done);
        tr.run(
            k,
            [&](T* g, workspace& ws, rng& gen) {
                draw_batch(gen, data.size(), B, idx);
                for (int b = 0; b < B; ++b) {
                    const std::size_t i = std::size_t(idx[b]);
                    const int n = data.requests[i].n;
                    const int Lb = std::min(L, n);
                    if (with_labels) {
                        label_order(data.labels[i], gen, orders[b], keys);
                    } else {
                        const slate& y = data.targets[i];
                        if (int(y.size()) < Lb)
                            dualrerank::detail::throw_input("fit_supervised: target slate shorter than L (min(L, N) = " +
                                                            std::to_string(Lb) + ")");
                        orders[b].assign(y.begin(), y.begin() + Lb);
                    }
                }
                // groups of equal slot count min(L, N), one forward/backward each
                perm.resize(std::size_t(B));
                std::iota(perm.begin(), perm.end(), 0);
                std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) {
                    return std::min(L, data.requests[std::size_t(idx[a])].n) < std::min(L, data.requests[std::size_t(idx[b])].n);
                });
                double loss = 0;
                long units = 0;
                for (int s = 0; s < B;) {
                    const int Lg = std::min(L, data.requests[std::size_t(idx[perm[s]])].n);
                    int e = s;
                    int cnt = 0;
                    while (e < B && std::min(L, data.requests[std::size_t(idx[perm[e]])].n) == Lg) {
                        const std::size_t i = std::size_t(idx[perm[e]]);
                        views[cnt] = data.requests[i].view();
                        order_ptr[cnt] = orders[std::size_t(perm[e])].data();
                        label_ptr[cnt] = with_labels ? data.labels[i].data() : nullptr;
                        ++cnt;
                        ++e;
                    }
                    long u = 0;
                    loss += supervised_step(tr.model(), views.data(), cnt, Lg, order_ptr.data(), label_ptr.data(), sc,
                                            T(1) / T(B), g, ws, &u);
                    units += u;
                    if (!std::isfinite(loss)) return loss;
                    s = e;
                }
                if (std::isfinite(loss)) {
                    loss_sum += loss;
                    unit_sum += units;
                }
                return loss / B;
            },
            label);
        done += k;
        fit_check fc;
        fc.step = tr.optimizer().steps();
        fc.steps_this_run = done;
        fc.train_loss = unit_sum > 0 ? loss_sum / double(unit_sum) : std::numeric_limits<double>::quiet_NaN();
        loss_sum = 0;
        unit_sum = 0;
        if (!hook(static_cast<const fit_check&>(fc))) break;
    }
    return done;
}

/// Supervised fitting for `steps` steps, no hook (slot cross-entropy on labels or target slates).
template <class Model>
void fit_supervised(trainer<Model>& tr, const slate_dataset<typename Model::value_type>& data, long steps,
                    const std::string& label = "supervised") {
    fit_supervised(tr, data, steps, supervised_config{}, steps, [](const fit_check&) { return true; }, label);
}

/// Early stopping on a validation score (higher is better): keeps a copy of the best weights;
/// update() says when `patience` checks in a row brought no improvement larger than min_delta;
/// restore() puts the best weights back.
template <class Model>
class early_stopping {
public:
    using T = typename Model::value_type;
    explicit early_stopping(int patience, double min_delta = 0.0) : patience_(patience), min_delta_(min_delta) {
        if (patience < 0) dualrerank::detail::throw_input("early_stopping: patience must be >= 0 (0: never stop)");
    }

    /// Record `score` of `m` at `step`; true when training should stop (patience > 0 and that many
    /// checks in a row without improvement).
    bool update(const Model& m, long step, double score) {
        if (!has_best_ || score > best_ + min_delta_) {
            best_ = score;
            best_step_ = step;
            has_best_ = true;
            since_ = 0;
            best_params_.assign(m.params(), m.params() + m.arena_size());
            return false;
        }
        ++since_;
        return patience_ > 0 && since_ >= patience_;
    }
    /// Copy the best weights seen into m (no-op before the first update).
    void restore(Model& m) const {
        if (has_best_) std::copy(best_params_.begin(), best_params_.end(), m.params());
    }
    bool has_best() const noexcept { return has_best_; }
    double best_score() const noexcept { return best_; }
    long best_step() const noexcept { return best_step_; }
    int checks_without_improvement() const noexcept { return since_; }

private:
    int patience_;
    double min_delta_;
    bool has_best_ = false;
    double best_ = 0;
    long best_step_ = 0;
    int since_ = 0;
    std::vector<T> best_params_;
};

}  // namespace train
DUALRERANK_NAMESPACE_END
