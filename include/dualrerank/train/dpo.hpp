// Rerank-DPO (GReF, arXiv 2510.25220; docs/design.md section 10.4): post-training of the AR
// teacher from impression logs alone, the logs-only baseline of issue #13.
//
// Pairs from one logged page with shown slate Y_l = (y_1..y_L) and per-slot feedback U (the
// `objective`, default "click"): every shown item i gets S_i = alpha / P_i + gamma * U_i, P_i its
// 1-based shown position; the winner Y_w is the shown slate re-sorted by S descending (ties keep
// the shown order), the loser is the shown order itself. A page whose Y_w equals Y_l (no feedback
// that moves an item up) gives no pair and is skipped. With log pi(Y) the teacher-forced
// log-likelihood sum_t log p(y_t | y_<t) (docs/design.md section 4):
//
//   m    = beta * [ (log pi(Y_w) - log pi_ref(Y_w)) - (log pi(Y_l) - log pi_ref(Y_l)) ]
//   loss = -log sigmoid(m) - sft * log pi(Y_w),  averaged over the pairs of a batch
//
// (dpo_config's sft = 0 is GReF's loss. sft > 0 adds a supervised anchor on the winner, ours: on
// the built-in world plain DPO moves the teacher's mass to never-shown candidates, so the recipe,
// dpo_recipe_config, uses sft = 0.1 by default; docs/logs.md has the measurements.)
//
// alpha = gamma = 1, beta = 0.1 (GReF); pi_ref is the frozen exposure-pretrained teacher (trained
// on the shown slates: `dualrerank train --logs ... --targets exposure`). Its log-likelihoods are
// computed once, when the pairs are made (make_dpo_pairs), since it never changes.
//
// Gradient (hand-written, through the teacher's teacher-forcing backward): with s = sigmoid(-m),
// d loss / d log pi(Y_w) = -beta s and d loss / d log pi(Y_l) = +beta s, and
// d log pi(Y) / d Z_t = onehot(y_t) - softmax(Z_t) over the unmasked candidates. Checked by finite
// differences in double (tests/test_dpo.cpp) and against PyTorch autograd (python/dpo_curve.py,
// run by python/check_training_parity.sh).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/workspace.hpp"
#include "../io/impression_log.hpp"
#include "../model/ar_teacher.hpp"
#include "../nn/ops.hpp"
#include "trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

/// Rerank-DPO hyper-parameters (GReF's values by default).
struct dpo_config {
    double alpha = 1.0;              ///< weight of the shown position, alpha / P_i
    double gamma = 1.0;              ///< weight of the feedback, gamma * U_i
    double beta = 0.1;               ///< DPO temperature
    std::string objective = "click";  ///< the feedback objective U of the logs
    /// Weight of an added supervised anchor -log pi(Y_w) per pair (ours, not GReF's; 0 = plain
    /// Rerank-DPO). It keeps the teacher's mass on the shown items: plain DPO can lower
    /// log pi(Y_l) by moving mass to candidates that were never shown (docs/logs.md, measured).
    double sft = 0.0;

    /// input_error unless alpha, gamma >= 0 and finite, beta > 0 and finite, objective not empty.
    void validate() const {
        auto bad = [](const std::string& m) { dualrerank::detail::throw_input("invalid dpo_config: " + m); };
        if (!(std::isfinite(alpha) && alpha >= 0)) bad("alpha must be finite and >= 0");
        if (!(std::isfinite(gamma) && gamma >= 0)) bad("gamma must be finite and >= 0");
        if (!(std::isfinite(beta) && beta > 0)) bad("beta must be finite and > 0");
        if (!(std::isfinite(sft) && sft >= 0)) bad("sft must be finite and >= 0");
        if (objective.empty()) bad("objective must name a feedback objective");
    }
};

/// Y_w of one shown slate: the shown items re-sorted by S_i = alpha / P_i + gamma * U_i, highest
/// first (ties keep the shown order). `u` holds the L feedback values of the shown slots.
inline slate rerank_dpo_winner(const slate& shown, const float* u, double alpha, double gamma) {
    const std::size_t L = shown.size();
    std::vector<double> s(L);
    for (std::size_t t = 0; t < L; ++t) s[t] = alpha / double(t + 1) + gamma * double(u[t]);
    std::vector<std::size_t> order(L);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
    slate w(L);
    for (std::size_t t = 0; t < L; ++t) w[t] = shown[order[t]];
    return w;
}

/// Preference pairs of a log, with the frozen reference's log-likelihoods.
template <class T>
struct dpo_dataset {
    std::vector<request<T>> requests;  ///< one per pair
    std::vector<slate> winners;        ///< Y_w
    std::vector<slate> losers;         ///< Y_l (the shown order)
    std::vector<double> ref_winner;    ///< log pi_ref(Y_w)
    std::vector<double> ref_loser;     ///< log pi_ref(Y_l)
    std::size_t pages = 0;             ///< pages looked at
    std::size_t skipped_equal = 0;     ///< pages with Y_w == Y_l (no pair)
    std::size_t size() const noexcept { return requests.size(); }
};

namespace detail {

/// sum_t log softmax(Z_t)[y_t] over rows of a teacher-forced Z [L x ld] (prefix already -inf).
template <class T>
double forced_log_likelihood(const T* Z, int L, int n, int ld, const int* y, T* scratch) noexcept {
    double s = 0;
    for (int t = 0; t < L; ++t) {
        const T* z = Z + std::size_t(t) * ld;
        for (int i = 0; i < n; ++i) scratch[i] = z[i];
        nn::log_softmax_row(scratch, n, scratch);
        s += double(scratch[y[t]]);
    }
    return s;
}

/// dZ += coef * d(sum_t log softmax(Z_t)[y_t]) / dZ = coef * (onehot(y_t) - softmax(Z_t)).
template <class T>
void add_log_likelihood_grad(const T* Z, int L, int n, int ld, const int* y, T coef, T* dZ, T* scratch) noexcept {
    using std::exp;
    for (int t = 0; t < L; ++t) {
        const T* z = Z + std::size_t(t) * ld;
        T* g = dZ + std::size_t(t) * ld;
        for (int i = 0; i < n; ++i) scratch[i] = z[i];
        nn::log_softmax_row(scratch, n, scratch);
        for (int i = 0; i < n; ++i)
            if (scratch[i] > -std::numeric_limits<T>::infinity()) g[i] -= coef * exp(scratch[i]);
        g[y[t]] += coef;
    }
}

}  // namespace detail

/// Teacher-forced log-likelihoods log pi(y_k) of K slates of length L, each of its own request
/// (reqs[k]), in one batched forward; writes out[K]. Uses `ws` (the caller resets it).
template <class T>
void teacher_log_likelihoods(const ar_teacher<T>& m, const request_view<T>* reqs, int K, int L, const int* slates, double* out,
                             workspace& ws) {
    auto c = m.forward(reqs, K, L, slates, ws);
    T* scratch = ws.alloc<T>(std::size_t(c.n));
    for (int k = 0; k < K; ++k)
        out[k] = detail::forced_log_likelihood(c.Z + std::size_t(k) * L * c.n, L, c.n, c.n, slates + std::size_t(k) * L, scratch);
}

/// The pairs of a log (pages without the objective are an input_error; pages whose Y_w equals the
/// shown order are skipped and counted) with log pi_ref of both slates under `reference`.
template <class T>
dpo_dataset<T> make_dpo_pairs(const std::vector<io::impression_page>& logs, const ar_teacher<T>& reference, const dpo_config& cfg) {
    cfg.validate();
    dpo_dataset<T> d;
    workspace ws;
    for (const io::impression_page& p : logs) {
        ++d.pages;
        const float* u = p.objective_feedback(cfg.objective);
        if (!u)
            dualrerank::detail::throw_input("make_dpo_pairs: the page of line " + std::to_string(p.line) +
                                            " has no feedback objective \"" + cfg.objective + "\"");
        slate w = rerank_dpo_winner(p.shown, u, cfg.alpha, cfg.gamma);
        if (w == p.shown) {
            ++d.skipped_equal;
            continue;
        }
        request<T> r;
        r.n = p.candidates.n;
        r.f = p.candidates.f;
        r.features.assign(p.candidates.features.begin(), p.candidates.features.end());
        r.context.assign(p.candidates.context.begin(), p.candidates.context.end());
        r.upstream_rank = p.candidates.upstream_rank;
        const int L = p.slots();
        const request_view<T> views[2] = {r.view(), r.view()};
        std::vector<int> both(std::size_t(2) * L);
        std::copy(w.begin(), w.end(), both.begin());
        std::copy(p.shown.begin(), p.shown.end(), both.begin() + L);
        double ll[2];
        ws.reset();
        teacher_log_likelihoods(reference, views, 2, L, both.data(), ll, ws);
        d.requests.push_back(std::move(r));
        d.winners.push_back(std::move(w));
        d.losers.push_back(p.shown);
        d.ref_winner.push_back(ll[0]);
        d.ref_loser.push_back(ll[1]);
    }
    return d;
}

/// What one DPO batch saw (for logs and tests).
struct dpo_stats {
    double loss = 0;          ///< mean -log sigmoid(m) (without the sft term)
    double margin = 0;        ///< mean m / beta (the implicit reward margin)
    double accuracy = 0;      ///< fraction of pairs with m > 0
};

/// Loss and gradient of the pairs idx[0..B) of `d` (all of one slate length L, which is checked):
/// one batched teacher-forced forward over the B winners and B losers, the DPO loss (plus the sft
/// term; mean over the batch), d loss / d Z, the teacher's backward into `grads` (accumulated).
/// Returns the loss.
template <class T>
double rerank_dpo_step(const ar_teacher<T>& m, const dpo_dataset<T>& d, const int* idx, int B, const dpo_config& cfg, T* grads,
                       workspace& ws, dpo_stats* stats = nullptr) {
    if (B < 1) dualrerank::detail::throw_input("rerank_dpo_step: batch must hold at least one pair");
    const int L = static_cast<int>(d.winners[std::size_t(idx[0])].size());
    std::vector<request_view<T>> views(std::size_t(2) * B);
    std::vector<int> slates(std::size_t(2) * B * L);
    for (int b = 0; b < B; ++b) {
        const std::size_t i = std::size_t(idx[b]);
        if (i >= d.size()) dualrerank::detail::throw_input("rerank_dpo_step: pair index out of range");
        if (static_cast<int>(d.winners[i].size()) != L)
            dualrerank::detail::throw_input("rerank_dpo_step: the pairs of one batch must have one slate length");
        views[std::size_t(b)] = d.requests[i].view();
        views[std::size_t(B + b)] = d.requests[i].view();
        std::copy(d.winners[i].begin(), d.winners[i].end(), slates.begin() + std::ptrdiff_t(std::size_t(b) * L));
        std::copy(d.losers[i].begin(), d.losers[i].end(), slates.begin() + std::ptrdiff_t(std::size_t(B + b) * L));
    }
    auto c = m.forward(views.data(), 2 * B, L, slates.data(), ws);
    const std::size_t per = std::size_t(L) * c.n;
    T* dZ = ws.alloc_zero<T>(std::size_t(2) * B * per);
    T* scratch = ws.alloc<T>(std::size_t(c.n));
    double loss = 0, dpo_loss = 0, margin = 0, acc = 0;
    for (int b = 0; b < B; ++b) {
        const std::size_t i = std::size_t(idx[b]);
        const T* Zw = c.Z + std::size_t(b) * per;
        const T* Zl = c.Z + std::size_t(B + b) * per;
        const int* yw = slates.data() + std::size_t(b) * L;
        const int* yl = slates.data() + std::size_t(B + b) * L;
        const double lw = detail::forced_log_likelihood(Zw, L, c.n, c.n, yw, scratch);
        const double ll = detail::forced_log_likelihood(Zl, L, c.n, c.n, yl, scratch);
        const double h = (lw - d.ref_winner[i]) - (ll - d.ref_loser[i]);
        const double mm = cfg.beta * h;
        // -log sigmoid(m) = softplus(-m), stable
        const double dpo = mm < 0 ? -mm + std::log1p(std::exp(mm)) : std::log1p(std::exp(-mm));
        loss += dpo - cfg.sft * lw;
        dpo_loss += dpo;
        const double s = mm >= 0 ? std::exp(-mm) / (1.0 + std::exp(-mm)) : 1.0 / (1.0 + std::exp(mm));  // sigmoid(-m)
        margin += h;
        acc += mm > 0 ? 1.0 : 0.0;
        const T coef = T(cfg.beta * s / B);  // d loss / d log pi(Y_w) = -coef - sft / B, d loss / d log pi(Y_l) = +coef
        detail::add_log_likelihood_grad(Zw, L, c.n, c.n, yw, T(-coef - T(cfg.sft / B)), dZ + std::size_t(b) * per, scratch);
        detail::add_log_likelihood_grad(Zl, L, c.n, c.n, yl, coef, dZ + std::size_t(B + b) * per, scratch);
    }
    if (stats) {
        stats->loss = dpo_loss / B;
        stats->margin = margin / B;
        stats->accuracy = acc / B;
    }
    if (!std::isfinite(loss)) return loss;
    m.backward(c, dZ, grads, ws);
    return loss / B;
}

/// `steps` DPO steps on the pairs of `d` (batches of the trainer's batch_size, drawn at random
/// among the pairs with the slate length of the first pair drawn).
template <class T>
void fit_rerank_dpo(trainer<ar_teacher<T>>& tr, const dpo_dataset<T>& d, const dpo_config& cfg, long steps,
                    const std::string& label = "rerank-dpo") {
    cfg.validate();
    if (d.size() == 0) dualrerank::detail::throw_input("fit_rerank_dpo: no preference pairs (every page had Y_w == Y_l)");
    const int B = tr.config().batch_size;
    for (const slate& y : d.winners)
        if (static_cast<int>(y.size()) > tr.model().config().max_slate)
            dualrerank::detail::throw_input("fit_rerank_dpo: a shown slate is longer than the teacher's max_slate");
    // pairs by slate length, so a batch has one L: a batch takes the length of a pair drawn
    // uniformly, then B pairs of that length
    std::vector<int> lens, group_of(d.size());
    std::vector<std::vector<int>> by_len;
    for (std::size_t i = 0; i < d.size(); ++i) {
        const int L = static_cast<int>(d.winners[i].size());
        const auto it = std::find(lens.begin(), lens.end(), L);
        const std::size_t gi = std::size_t(it - lens.begin());
        if (it == lens.end()) {
            lens.push_back(L);
            by_len.emplace_back();
        }
        by_len[gi].push_back(static_cast<int>(i));
        group_of[i] = static_cast<int>(gi);
    }
    std::vector<int> idx(static_cast<std::size_t>(B));
    tr.run(
        steps,
        [&](T* g, workspace& ws, rng& gen) {
            const std::vector<int>& pool = by_len[std::size_t(group_of[std::size_t(gen.below(d.size()))])];
            for (int b = 0; b < B; ++b) idx[std::size_t(b)] = pool[std::size_t(gen.below(pool.size()))];
            return rerank_dpo_step(tr.model(), d, idx.data(), B, cfg, g, ws);
        },
        label);
}

/// The Rerank-DPO recipe, the entry point for programs (the demo, `dualrerank dpo`):
///
///     const auto logs = io::read_impression_log_file("logs.jsonl");          // or any pages
///     const ar_teacher<float> ref = io::load_model<ar_teacher<float>>("exposure.safetensors");
///     train::dpo_recipe_config rc;              // GReF's alpha, gamma, beta; sft 0.1; lr 1e-4, batch 32
///     rc.steps = 1000;
///     train::dpo_report rep;
///     ar_teacher<float> dpo = train::train_rerank_dpo_teacher(ref, logs, rc, &rep);
///
/// `reference` is the frozen exposure-pretrained teacher (pi_ref, trained on the shown slates of
/// the same kind of logs); the returned teacher starts as a copy of it and takes `rc.steps` AdamW
/// steps of the DPO loss on the pairs of `logs` (pages whose re-sorted slate equals the shown one
/// give no pair). Deterministic in rc.trainer.seed. Throws input_error when no page gives a pair,
/// a page lacks rc.dpo.objective, or a page does not fit the reference (N, F, context, L).
struct dpo_recipe_config {
    dpo_config dpo = default_dpo();  ///< alpha, gamma, beta (GReF's), the objective, sft 0.1 (see below)
    trainer_config trainer = default_trainer();  ///< batch, seed, AdamW (lr 1e-4 by default)
    long steps = 1000;     ///< optimizer steps

    /// GReF's alpha = gamma = 1, beta = 0.1, plus the supervised anchor sft = 0.1 (ours): on the
    /// small built-in world, 20k logged pages, plain DPO (sft = 0) collapsed within 300-1000 steps
    /// onto never-shown candidates (normalized utility 0.649 -> 0.448 on 3 of 3 world seeds at 1000
    /// steps), while sft = 0.1 gained +0.002 to +0.004 (docs/logs.md). Set dpo.sft = 0 for GReF's loss.
    static dpo_config default_dpo() {
        dpo_config d;
        d.sft = 0.1;
        return d;
    }
    static trainer_config default_trainer() {
        trainer_config t;
        t.batch_size = 32;
        t.optimizer.lr = 1e-4;
        t.optimizer.weight_decay = 0.0;
        t.optimizer.warmup_steps = 50;
        t.optimizer.total_steps = 0;
        return t;
    }
};

/// What the recipe saw and did.
struct dpo_report {
    std::size_t pages = 0, pairs = 0, skipped_equal = 0;
    double final_loss = 0;      ///< mean DPO loss of the trained teacher (log 2 = the reference's)
    double final_accuracy = 0;  ///< share of pairs with m > 0 (the teacher prefers Y_w more than pi_ref does)
    std::size_t evaluated = 0;  ///< pairs the two figures are over (the first 2048)
};

/// Mean DPO loss and accuracy of `m` over up to `max_pairs` pairs of `d` (batches of one L).
template <class T>
dpo_stats evaluate_rerank_dpo(const ar_teacher<T>& m, const dpo_dataset<T>& d, const dpo_config& cfg,
                              std::size_t max_pairs = 2048, std::size_t* evaluated = nullptr) {
    dpo_stats total;
    std::vector<T> grads(m.arena_size());
    workspace ws;
    std::size_t count = 0;
    std::vector<int> idx;
    for (std::size_t i = 0; i < d.size() && count < max_pairs;) {
        // a run of pairs with one slate length, at most 64 per batch
        idx.clear();
        const std::size_t L = d.winners[i].size();
        while (i < d.size() && count + idx.size() < max_pairs && idx.size() < 64 && d.winners[i].size() == L)
            idx.push_back(static_cast<int>(i++));
        if (idx.empty()) {
            ++i;
            continue;
        }
        dpo_stats s;
        ws.reset();
        rerank_dpo_step(m, d, idx.data(), static_cast<int>(idx.size()), cfg, grads.data(), ws, &s);
        const double k = double(idx.size());
        total.loss += s.loss * k;
        total.margin += s.margin * k;
        total.accuracy += s.accuracy * k;
        count += idx.size();
    }
    if (count > 0) {
        total.loss /= double(count);
        total.margin /= double(count);
        total.accuracy /= double(count);
    }
    if (evaluated) *evaluated = count;
    return total;
}

template <class T>
ar_teacher<T> train_rerank_dpo_teacher(const ar_teacher<T>& reference, const std::vector<io::impression_page>& logs,
                                       const dpo_recipe_config& rc, dpo_report* report = nullptr) {
    rc.dpo.validate();
    if (rc.steps < 0) dualrerank::detail::throw_input("train_rerank_dpo_teacher: steps must be >= 0");
    const dpo_dataset<T> pairs = make_dpo_pairs(logs, reference, rc.dpo);
    ar_teacher<T> policy = reference;
    trainer_config tc = rc.trainer;
    if (tc.optimizer.total_steps <= 0) tc.optimizer.total_steps = rc.steps;
    {
        trainer<ar_teacher<T>> tr(policy, tc);
        if (rc.steps > 0) fit_rerank_dpo(tr, pairs, rc.dpo, rc.steps);
    }
    if (report) {
        report->pages = pairs.pages;
        report->pairs = pairs.size();
        report->skipped_equal = pairs.skipped_equal;
        const dpo_stats s = evaluate_rerank_dpo(policy, pairs, rc.dpo, 2048, &report->evaluated);
        report->final_loss = s.loss;
        report->final_accuracy = s.accuracy;
    }
    return policy;
}

}  // namespace train
DUALRERANK_NAMESPACE_END
