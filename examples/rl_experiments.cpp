// RL experiments on the built-in world (docs/rl.md; docs/design.md sections 4 and 10.5): start
// from an SKD student (a model file written by dualrerank_demo), run one or more methods on the
// SAME drifting request stream, evaluate the greedy policy on fixed held-out requests every k
// requests with the closed form (normalized utility, under the stream's current conditions), and
// print one summary line per method (and a CSV curve).
//
//   rl_experiments --student runs/demo/seed1/student_skd.safetensors --methods none,ldro,grpo,goalrank
//                  --mode realistic --drift swap-mixed --requests 16000 --seed 1 --stream-seed 101 --csv out.csv
//
// Modes: realistic (one shown slate per request; the model-based group is scored by a list
// evaluator fitted on policy-local logs of the start student and refreshed online from the shown
// slates; the off-policy term uses the logged propensities of a serving policy that lags by
// --publish-every steps; feedback arrives 0..--max-delay requests late), user-group (the
// idealized mode: G users per request). Drifts (at half time): none, swap-mixed ((0.8, 0.2) ->
// (0.2, 0.8)), engagement (x0.5), longview (long-view propensity shift +-1.5 logits by category
// parity), swap ((1,0) -> (0,1)). Methods: none (no RL), ldro, grpo, goalrank, each optionally
// followed by '-'-separated switches: noobj, noslot, norank / rank (rank decay off / on), ema,
// pooled, pagefloor, slotstd (scale modes: EMA, pooled_slot_std, group_std_floor, slot_std), nogroup
// (shown term only), noshown (model-based group only), norefresh (the evaluator frozen),
// g<x> (rtg_discount), sg<x> (shown_discount), gw<x> / sw<x> (group / shown weight), ms / noms
// (unit_mean_square on / off), gmb / pb / pbe (LDRO's slot baseline: group mean, prefix, prefix with
// the expected tail; rl_config::baseline), aa / noaa (the immediate term in all-action form on / off),
// fc<x> / fe<x> (floor_const / floor_ema_frac), sms / smc<x> (stream_mean_square on, its cap),
// gb<x> (greedy_baseline, LDRO and GRPO), lr<x>, b<x>, eta<x>
// (the method's own lr, beta, eta; decimal numbers, since '-' separates switches: lr0.0002);
// e.g. ldro-norank. --lr-ldro / --lr-grpo / --lr-goalrank give each method its own lr (default --lr).
// --scorer closed scores the realistic mode's model-based group (and the guard rail) with the
// stream's closed form instead of the evaluator: a perfect evaluator, for diagnosis only.
// --guard-every K turns the guard rail on (evaluator-based held-out check every K records, margin
// --guard-margin) and makes the evaluated policy the version serving runs (served_result).
// --measure-advantages M prints the advantage signal and noise table of docs/rl.md instead of
// running RL (M requests; --measure-draws users per slate, --measure-rollouts rollouts per A*;
// --measure-expected-truth: the gradient cosines against the true gradient in all-action form,
// every candidate's Q at every sampled prefix, instead of the sampled-action truth).
// Summary per method: start (the start policy under the conditions of request 0), anchor_final
// (the start policy under the final conditions), shift (the policy right after the change, under
// the new conditions), final, gain = final - anchor_final, recover90 = requests after the change
// until the policy first reached shift + 0.9 (final - shift) (-1: never; no drift: from 0).
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"

using namespace dualrerank;

namespace {

struct eval_set_d {
    std::vector<sim_request> requests;
    std::vector<double> u_random, u_oracle;
    conditions cond;
};

// pipeline::make_eval_set with the request-level drift (long-view shift) applied at step `at`
eval_set_d make_set(const world& w, const drift& d, std::int64_t at, int count) {
    eval_set_d e;
    e.cond = d.at(at);
    for (int i = 0; i < count; ++i) {
        sim_request r = w.eval_request(std::uint64_t(i));
        d.apply(at, r);
        e.u_random.push_back(w.random_utility(r, e.cond));
        double uo = 0;
        beam_search(w, r, e.cond, beam_options{}, &uo);
        e.u_oracle.push_back(uo);
        e.requests.push_back(std::move(r));
    }
    return e;
}

double normalized(const world& w, const eval_set_d& e, const nar_student<float>& m, workspace& ws) {
    double u = 0, ur = 0, uo = 0;
    const int L = w.slate_size();
    for (std::size_t i = 0; i < e.requests.size(); ++i) {
        const slate y = decode::greedy(m, e.requests[i].observed.view(), L, ws);
        u += w.expected_utility(e.requests[i], y, e.cond);
        ur += e.u_random[i];
        uo += e.u_oracle[i];
    }
    return (u - ur) / std::max(uo - ur, 1e-12);
}

// the same normalization for the policy's SAMPLED slates (what the RL objective improves): the mean
// expected utility of K Gumbel-Max samples at tau per held-out request (fixed noise keys)
double normalized_sampled(const world& w, const eval_set_d& e, const nar_student<float>& m, double tau, int K) {
    train::policy_store<float> store(m);
    train::online_server<float> srv(store, tau, 4242);
    double u = 0, ur = 0, uo = 0;
    const int L = w.slate_size();
    for (std::size_t i = 0; i < e.requests.size(); ++i) {
        for (int k = 0; k < K; ++k) {
            const auto sh = srv.serve(e.requests[i].observed.view(), std::uint64_t(i) * std::uint64_t(K) + std::uint64_t(k), L);
            u += w.expected_utility(e.requests[i], slate(sh.items.begin(), sh.items.end()), e.cond) / K;
        }
        ur += e.u_random[i];
        uo += e.u_oracle[i];
    }
    return (u - ur) / std::max(uo - ur, 1e-12);
}

// policy-local logs: pages sampled by the start student with Gumbel-Max at tau (the serving
// policy with exploration; docs/design.md section 10.2), sampled feedback under `c`
struct local_logs {
    std::vector<request<float>> reqs;
    std::vector<std::vector<int>> shown;
    std::vector<std::vector<float>> labels;  // [L x 2]: click, long view
};

local_logs make_logs(const world& w, const nar_student<float>& student, int pages, double tau, std::uint64_t seed, const conditions& c) {
    const int L = w.slate_size();
    const std::size_t np = static_cast<std::size_t>(pages);
    local_logs lg;
    lg.reqs.resize(np);
    lg.shown.resize(np);
    lg.labels.resize(np);
    train::policy_store<float> store(student);
    train::online_server<float> srv(store, tau, seed * 13 + 3);
    rng g(seed * 5 + 1);
    sim_request r;
    for (std::size_t p = 0; p < np; ++p) {
        w.make_request(std::uint64_t(5000000 + p), r);
        lg.reqs[p] = r.observed;
        const auto s = srv.serve(r.observed.view(), std::uint64_t(p), L);
        lg.shown[p] = s.items;
        page_feedback f;
        w.sample_feedback(r, slate(s.items.begin(), s.items.end()), g, c, f);
        lg.labels[p].resize(std::size_t(L) * 2);
        for (int t = 0; t < L; ++t) {
            lg.labels[p][std::size_t(t) * 2] = f.clicks[std::size_t(t)];
            lg.labels[p][std::size_t(t) * 2 + 1] = f.long_views[std::size_t(t)];
        }
    }
    return lg;
}

void fit_list_evaluator(list_evaluator<float>& ev, const local_logs& lg, int L, long steps, std::uint64_t seed) {
    train::trainer_config tc;
    tc.batch_size = 32;
    tc.seed = seed;
    tc.optimizer.lr = 2e-3;
    tc.optimizer.warmup_steps = std::min(200L, steps / 10);
    tc.optimizer.total_steps = steps;
    tc.optimizer.weight_decay = 0.01;
    tc.log_every = 0;
    train::trainer<list_evaluator<float>> tr(ev, tc);
    std::vector<int> idx;
    tr.run(steps, [&](float* gr, workspace& ws, rng& gen) {
        train::draw_batch(gen, lg.reqs.size(), tc.batch_size, idx);
        double loss = 0;
        for (int b = 0; b < tc.batch_size; ++b) {
            const std::size_t i = std::size_t(idx[std::size_t(b)]);
            const double l = train::evaluator_bce_step(tr.model(), lg.reqs[i].view(), 1, L, lg.shown[i].data(), lg.labels[i].data(), gr,
                                                       ws, 1.0f / float(tc.batch_size));
            if (!std::isfinite(l)) return l;
            loss += l;
        }
        return loss / tc.batch_size;
    });
}

// the page evaluator (model/page_evaluator.hpp) by train::fit_page_evaluator, every 20th page held out
// (fc: the fit's settings; its seed and evaluation interval are set here)
train::page_fit_result fit_page(page_evaluator<float>& ev, const local_logs& lg, train::page_fit_config fc, std::uint64_t seed) {
    std::vector<std::size_t> tr_idx, va_idx;
    for (std::size_t i = 0; i < lg.reqs.size(); ++i) (i % 20 == 19 ? va_idx : tr_idx).push_back(i);
    auto source = [&](const std::vector<std::size_t>& idx) {
        train::page_source<float> s;
        s.count = idx.size();
        s.get = [&lg, &idx](std::size_t i, train::page_example<float>& p) {
            const std::size_t j = idx[i];
            p.req = lg.reqs[j];
            p.shown.assign(lg.shown[j].begin(), lg.shown[j].end());
            p.labels = lg.labels[j];
        };
        return s;
    };
    const auto trs = source(tr_idx), vas = source(va_idx);
    fc.seed = seed;
    fc.eval_every = std::max(1L, fc.steps / 10);
    return train::fit_page_evaluator(ev, trs, vas, fc);
}

// The evaluator's within-request agreement with the closed form on what the group term scores:
// for `count` held-out requests, 16 slates sampled from the start policy at tau (Gumbel-Max),
// Pearson correlation between the evaluator's weighted utility (sum over slots and objectives of
// w_k * prediction) and the world's expected utility under the drift's conditions at request `at`,
// averaged over requests.
double evaluator_group_corr(const world& w, const nar_student<float>& student, const page_evaluator<float>& ev, double tau,
                            const drift& d, std::int64_t at, int count) {
    const conditions c = d.at(at);
    const int L = w.slate_size(), K = 16, O = ev.config().objectives;
    train::policy_store<float> store(student);
    train::online_server<float> srv(store, tau, 977);
    workspace ws;
    std::vector<int> slates(std::size_t(K) * L);
    std::vector<float> pred(std::size_t(K) * L * O);
    double sum = 0;
    int n = 0;
    for (int i = 0; i < count; ++i) {
        sim_request r = w.eval_request(std::uint64_t(100000 + i));
        d.apply(at, r);
        std::vector<double> a(static_cast<std::size_t>(K)), b(static_cast<std::size_t>(K));
        for (int k = 0; k < K; ++k) {
            const auto sh = srv.serve(r.observed.view(), std::uint64_t(i) * K + std::uint64_t(k), L);
            std::copy(sh.items.begin(), sh.items.end(), slates.begin() + std::ptrdiff_t(k) * L);
            b[std::size_t(k)] = w.expected_utility(r, slate(sh.items.begin(), sh.items.end()), c);
        }
        ws.reset();
        ev.predict(r.observed.view(), K, L, slates.data(), pred.data(), ws);
        for (int k = 0; k < K; ++k) {
            double u = 0;
            for (int t = 0; t < L; ++t)
                for (int o = 0; o < O; ++o)
                    u += (o == 0 ? c.weights.click : c.weights.long_view) * pred[(std::size_t(k) * L + std::size_t(t)) * std::size_t(O) + std::size_t(o)];
            a[std::size_t(k)] = u;
        }
        {
            double ma = 0, mb = 0;
            for (int k = 0; k < K; ++k) { ma += a[std::size_t(k)] / K; mb += b[std::size_t(k)] / K; }
            double sab = 0, saa = 0, sbb = 0;
            for (int k = 0; k < K; ++k) {
                const double da = a[std::size_t(k)] - ma, db = b[std::size_t(k)] - mb;
                sab += da * db; saa += da * da; sbb += db * db;
            }
            if (saa > 0 && sbb > 0) { sum += sab / std::sqrt(saa * sbb); ++n; }
        }
    }
    return n > 0 ? sum / n : 0.0;
}

// ---- advantage signal and noise (issue #14: measured per method and per slot) ----
// For M requests of the stream, G slates are sampled from the START policy at tau. The true
// per-slot advantage A*[g][t] = Q(prefix, y_t) - V(prefix) (closed-form page utility under the
// conditions, averaged over K continuations of the policy: Q fixes y_t, V resamples it) is
// compared with each method's effective advantage (what multiplies grad log q_t(y_t) in its loss:
// omega_t * A for LDRO, A for GRPO, G p_g - 1 for GoalRank) computed from three feedback sources
// for the same group: the closed form (a perfect evaluator), the page evaluator (the realistic
// model-based group) and sampled clicks (R independent users per slate). Per slot: correlation
// with A*, mean |A|, and for sampled clicks the share of the advantage's variance that is
// feedback noise (variance across the R draws for the same group / total variance). Plus the
// cosine between the group's logit gradient with the method's advantages and with A* (same
// samples), and the A* reliability (correlation of two independent halves of the rollouts).
struct corr_acc {
    double n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, sabs = 0;
    void add(double a, double b) { n += 1; sa += a; sb += b; saa += a * a; sbb += b * b; sab += a * b; sabs += std::fabs(a); }
    double corr() const {
        const double va = saa / n - (sa / n) * (sa / n), vb = sbb / n - (sb / n) * (sb / n);
        return (sab / n - (sa / n) * (sb / n)) / std::sqrt(std::max(va * vb, 1e-300));
    }
    double mean_abs() const { return n > 0 ? sabs / n : 0.0; }
};

void masked_probs(const float* z, int n, double tau, const std::vector<char>& used, std::vector<double>& q) {
    q.assign(std::size_t(n), 0.0);
    double mx = -1e300;
    for (int i = 0; i < n; ++i)
        if (!used[std::size_t(i)]) mx = std::max(mx, double(z[i]) / tau);
    double s = 0;
    for (int i = 0; i < n; ++i)
        if (!used[std::size_t(i)]) s += (q[std::size_t(i)] = std::exp(double(z[i]) / tau - mx));
    for (double& v : q) v /= s;
}

int gumbel_pick(const float* z, int n, double tau, const std::vector<char>& used, rng& g) {
    int best = -1;
    double bv = -1e300;
    for (int i = 0; i < n; ++i) {
        if (used[std::size_t(i)]) continue;
        const double v = double(z[i]) / tau - std::log(-std::log(g.uniform_open()));
        if (v > bv) { bv = v; best = i; }
    }
    return best;
}

template <class Configure>
void measure_advantages(const world& w, const drift& d, long at, const nar_student<float>& policy, page_evaluator<float>* pev,
                        const train::rl_run_config& base, const std::vector<std::string>& methods, Configure configure, int M, int R,
                        int K, std::uint64_t seed, bool expected_truth) {
    const int L = w.slate_size();
    const int G = base.rl.group;
    const double tau = base.rl.sample_tau;
    const conditions cond = d.at(at);
    const int O = 2;
    const double wts[2] = {cond.weights.click, cond.weights.long_view};
    const char* src_names[3] = {"closed", "evaluator", "sampled"};
    const std::size_t nm = methods.size();
    std::vector<train::rl_config> rcs(nm);
    std::vector<double> gw(nm), sw(nm);
    for (std::size_t m = 0; m < nm; ++m) {
        train::rl_run_config r = base;
        typename train::online_evaluator_scorer<float>::config e;
        configure(methods[m], r, e);
        rcs[m] = r.rl;
        gw[m] = r.group_weight;
        sw[m] = r.shown_weight;
    }
    std::vector<std::vector<double>> geval(nm);
    std::vector<double> comb_cos(nm, 0.0);
    std::vector<train::rl_stream_state> st(nm * 3);
    std::vector<corr_acc> acc(nm * 3 * std::size_t(L));
    std::vector<double> noise_within(nm * std::size_t(L), 0.0), noise_total_ss(nm * std::size_t(L), 0.0),
        noise_total_s(nm * std::size_t(L), 0.0);
    double noise_n = 0;
    std::vector<double> cos_sum(nm * 3, 0.0);
    corr_acc rel;
    std::vector<corr_acc> rel_slot(static_cast<std::size_t>(L));
    std::vector<corr_acc> star_abs(static_cast<std::size_t>(L));
    rng g(seed * 7919 + 11);
    workspace ws;
    sim_request r;
    std::vector<int> slates(std::size_t(G) * L), y(static_cast<std::size_t>(L));
    std::vector<double> Astar(std::size_t(G) * L), Ahalf(std::size_t(G) * L), fb(std::size_t(G) * L * O), A(std::size_t(G) * L),
        omega(static_cast<std::size_t>(L)), p(static_cast<std::size_t>(G)), rr(static_cast<std::size_t>(G));
    std::vector<float> Z, pe(std::size_t(G) * L * O);
    std::vector<char> used;
    std::vector<double> q, pred0;
    std::vector<std::vector<double>> shown_fb(static_cast<std::size_t>(R));
    std::vector<train::rl_stream_state> shown_st(nm);
    std::vector<corr_acc> shown_acc(nm * std::size_t(L));
    std::vector<double> shown_within(nm * std::size_t(L), 0.0), shown_s(nm * std::size_t(L), 0.0), shown_ss(nm * std::size_t(L), 0.0);
    // the group's logit gradient for advantages adv [G x L]: sum_g adv[g][t] (e_{y_gt} - q_t(.|prefix_g))
    std::vector<std::vector<double>> qs(std::size_t(G) * L);
    auto grad = [&](const std::vector<double>& adv, int n, std::vector<double>& out) {
        out.assign(std::size_t(L) * n, 0.0);
        for (int gg = 0; gg < G; ++gg)
            for (int t = 0; t < L; ++t) {
                const double a = adv[std::size_t(gg) * L + t];
                const std::vector<double>& qq = qs[std::size_t(gg) * L + t];
                for (int i = 0; i < n; ++i) out[std::size_t(t) * n + i] -= a * qq[std::size_t(i)];
                out[std::size_t(t) * n + slates[std::size_t(gg) * L + t]] += a;
            }
    };
    auto cosine = [](const std::vector<double>& a, const std::vector<double>& b) {
        double ab = 0, aa = 0, bb = 0;
        for (std::size_t i = 0; i < a.size(); ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / std::sqrt(std::max(aa * bb, 1e-300));
    };
    std::vector<double> gstar, gm;
    std::vector<float> pstar, pm;
    std::vector<double> pcos_sum(nm * 3, 0.0);
    // summed over the requests (what many optimizer steps add up to: per-request noise averages
    // out, a bias of the feedback source does not): group terms per source, and the shown term
    std::vector<std::vector<double>> psum(nm * 3), pshown_sum(nm);
    std::vector<double> pstar_sum;
    auto vcos = [](const std::vector<double>& a, const std::vector<double>& b) {
        double ab = 0, aa = 0, bb = 0;
        for (std::size_t i = 0; i < a.size(); ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / std::sqrt(std::max(aa * bb, 1e-300));
    };
    // effective advantage of method m from feedback f [G x L x O] (cand [G x L x n x O]: every
    // candidate's per-slot feedback below each prefix, for LDRO's prefix baselines). With
    // all_action, out is the sampled form (for the correlations) and aa_tail / aa_fac / aa_base
    // [m] hold what the gradient uses (the tail advantages, the slot factors, the baselines).
    std::vector<std::vector<double>> aa_tail(nm), aa_fac(nm), aa_base(nm);
    std::unique_ptr<train::online_page_evaluator_scorer<float>> pscorer;  // the trainer's scorer, frozen
    if (pev) {
        train::online_page_evaluator_scorer<float>::config pcfg;
        pcfg.refresh = false;
        pscorer = std::make_unique<train::online_page_evaluator_scorer<float>>(*pev, pcfg);
    }
    std::vector<double> cand;
    std::vector<float> scratchf;
    auto effective = [&](std::size_t m, const double* f, train::rl_stream_state& s, std::vector<double>& out) {
        const train::rl_config& rc = rcs[m];
        out.assign(std::size_t(G) * L, 0.0);
        if (rc.method == train::rl_method::ldro && rc.baseline != train::slot_baseline::group_mean) {
            const int n = int(Z.size()) / L;
            scratchf.resize(3 * std::size_t(n));
            aa_base[m].resize(std::size_t(G) * L * O);
            aa_fac[m].resize(std::size_t(L));
            train::prefix_baselines(Z.data(), L, n, n, slates.data(), G, cand.data(), O, tau, aa_base[m].data(), scratchf.data());
            train::rl_config sampled = rc;
            sampled.all_action = false;
            train::rl_stream_state s2 = s;
            train::group_advantages(sampled, f, aa_base[m].data(), G, L, O, wts, s2, out.data(), aa_fac[m].data());
            if (rc.all_action) {
                aa_tail[m].resize(std::size_t(G) * L);
                train::group_advantages(rc, f, aa_base[m].data(), G, L, O, wts, s, aa_tail[m].data(), aa_fac[m].data());
            } else {
                s = s2;
            }
            return;
        }
        if (rc.method == train::rl_method::goalrank) {
            for (int gg = 0; gg < G; ++gg) {
                double v = 0;
                for (int t = 0; t < L; ++t)
                    for (int k = 0; k < O; ++k) v += wts[k] * f[(std::size_t(gg) * L + t) * O + k];
                rr[std::size_t(gg)] = v;
            }
            train::goalrank_reference(rr.data(), G, p.data());
            for (int gg = 0; gg < G; ++gg)
                for (int t = 0; t < L; ++t) out[std::size_t(gg) * L + t] = G * p[std::size_t(gg)] - 1.0;
            return;
        }
        train::group_advantages(rc, f, G, L, O, wts, s, out.data());
        train::slot_weights(rc, L, omega.data());
        for (int gg = 0; gg < G; ++gg)
            for (int t = 0; t < L; ++t) out[std::size_t(gg) * L + t] *= omega[std::size_t(t)];
    };
    for (int req = 0; req < M; ++req) {
        w.make_request(std::uint64_t(7000000 + req) + seed * 100000, r);
        d.apply(at, r);
        const auto v = r.observed.view();
        const int n = v.n;
        Z.resize(std::size_t(L) * n);
        policy.logits(v, L, Z.data(), ws);
        ws.reset();
        decode::sample_slates(Z.data(), L, n, n, tau, train::request_noise_key(seed ^ 0xabcdefULL, std::uint64_t(req)), 0u, G,
                              slates.data(), static_cast<float*>(nullptr), ws);
        // A* by rollouts; two independent halves for the reliability figure
        for (int gg = 0; gg < G; ++gg) {
            const int* yg = slates.data() + std::size_t(gg) * L;
            for (int t = 0; t < L; ++t) {
                used.assign(std::size_t(n), 0);
                for (int u = 0; u < t; ++u) used[std::size_t(yg[u])] = 1;
                masked_probs(Z.data() + std::size_t(t) * n, n, tau, used, qs[std::size_t(gg) * L + t]);
                double qh[2] = {0, 0}, vh[2] = {0, 0};
                for (int k = 0; k < 2 * K; ++k) {
                    for (int pass = 0; pass < 2; ++pass) {  // pass 0: Q (y_t fixed), pass 1: V (y_t resampled)
                        std::vector<char> u2 = used;
                        for (int u = 0; u < t; ++u) y[std::size_t(u)] = yg[u];
                        y[std::size_t(t)] = pass == 0 ? yg[t] : gumbel_pick(Z.data() + std::size_t(t) * n, n, tau, u2, g);
                        u2[std::size_t(y[std::size_t(t)])] = 1;
                        for (int u = t + 1; u < L; ++u) {
                            y[std::size_t(u)] = gumbel_pick(Z.data() + std::size_t(u) * n, n, tau, u2, g);
                            u2[std::size_t(y[std::size_t(u)])] = 1;
                        }
                        const double U = w.utility_unchecked(r, y.data(), L, cond);
                        (pass == 0 ? qh : vh)[k % 2] += U / K;
                    }
                }
                Astar[std::size_t(gg) * L + t] = 0.5 * ((qh[0] - vh[0]) + (qh[1] - vh[1]));
                rel.add(qh[0] - vh[0], qh[1] - vh[1]);
                rel_slot[std::size_t(t)].add(qh[0] - vh[0], qh[1] - vh[1]);
                star_abs[std::size_t(t)].add(Astar[std::size_t(gg) * L + t], 0);
            }
        }
        grad(Astar, n, gstar);
        if (expected_truth) {
            // the true gradient in all-action form at every (prefix, slot): sum_i q_i (Q(prefix, i) - V) e_i,
            // Q by K continuations per candidate with common random numbers across the candidates; the
            // sampled-action truth above carries the noise of the group's own choice y_t, which favours
            // estimators that share it (docs/rl.md)
            gstar.assign(std::size_t(L) * n, 0.0);
            std::vector<double> Qa(static_cast<std::size_t>(n));
            for (int gg = 0; gg < G; ++gg) {
                const int* yg = slates.data() + std::size_t(gg) * L;
                for (int t = 0; t < L; ++t) {
                    used.assign(std::size_t(n), 0);
                    for (int u = 0; u < t; ++u) used[std::size_t(yg[u])] = 1;
                    const std::vector<double>& qq = qs[std::size_t(gg) * L + t];
                    const std::uint64_t key = g();
                    double Vt = 0;
                    for (int a = 0; a < n; ++a) {
                        if (used[std::size_t(a)]) continue;
                        double acc = 0;
                        for (int k = 0; k < K; ++k) {
                            rng gk(key + std::uint64_t(k) * 0x9E3779B97F4A7C15ULL);
                            std::vector<char> u2 = used;
                            for (int u = 0; u < t; ++u) y[std::size_t(u)] = yg[u];
                            y[std::size_t(t)] = a;
                            u2[std::size_t(a)] = 1;
                            for (int u = t + 1; u < L; ++u) {
                                y[std::size_t(u)] = gumbel_pick(Z.data() + std::size_t(u) * n, n, tau, u2, gk);
                                u2[std::size_t(y[std::size_t(u)])] = 1;
                            }
                            acc += w.utility_unchecked(r, y.data(), L, cond);
                        }
                        Qa[std::size_t(a)] = acc / K;
                        Vt += qq[std::size_t(a)] * Qa[std::size_t(a)];
                    }
                    for (int a = 0; a < n; ++a)
                        if (!used[std::size_t(a)]) gstar[std::size_t(t) * n + a] += qq[std::size_t(a)] * (Qa[std::size_t(a)] - Vt);
                }
            }
        }
        // the same gradients in parameter space: the student shares parameters across slots and
        // candidates, so credit given at one slot also moves the others
        workspace pws;
        auto pgrad = [&](const std::vector<double>& glogit, std::vector<float>& out) {
            pws.reset();
            auto cache = policy.forward(&v, 1, L, pws);
            float* dZ = pws.alloc_zero<float>(std::size_t(L) * n);
            for (std::size_t i = 0; i < glogit.size(); ++i) dZ[i] = float(glogit[i]);
            out.assign(policy.arena_size(), 0.0f);
            policy.backward(cache, dZ, out.data(), pws);
        };
        pgrad(gstar, pstar);
        if (pstar_sum.empty()) pstar_sum.assign(pstar.size(), 0.0);
        for (std::size_t i = 0; i < pstar.size(); ++i) pstar_sum[i] += double(pstar[i]) / G;
        // the three sources
        for (int src = 0; src < 3; ++src) {
            std::vector<std::vector<double>> draws;
            const int nd = src == 2 ? R : 1;
            std::vector<std::vector<double>> eff(nm * std::size_t(nd));
            for (int dr = 0; dr < nd; ++dr) {
                for (int gg = 0; gg < G; ++gg) {
                    const slate ys(slates.begin() + std::ptrdiff_t(gg) * L, slates.begin() + std::ptrdiff_t(gg + 1) * L);
                    if (src == 0) {
                        const page_feedback f = w.expected_feedback(r, ys, cond);
                        for (int t = 0; t < L; ++t) {
                            fb[(std::size_t(gg) * L + t) * O] = f.clicks[std::size_t(t)];
                            fb[(std::size_t(gg) * L + t) * O + 1] = f.long_views[std::size_t(t)];
                        }
                    } else if (src == 2) {
                        page_feedback f;
                        w.sample_feedback(r, ys, g, cond, f);
                        for (int t = 0; t < L; ++t) {
                            fb[(std::size_t(gg) * L + t) * O] = f.clicks[std::size_t(t)];
                            fb[(std::size_t(gg) * L + t) * O + 1] = f.long_views[std::size_t(t)];
                        }
                        if (gg == 0) shown_fb[std::size_t(dr)].assign(fb.begin(), fb.begin() + std::ptrdiff_t(L) * O);
                    }
                }
                if (src == 1) {
                    if (!pev) break;
                    ws.reset();
                    pev->predict(v, G, L, slates.data(), pe.data(), ws);
                    for (std::size_t i = 0; i < fb.size(); ++i) fb[i] = double(pe[i]);
                    pred0.assign(fb.begin(), fb.begin() + std::ptrdiff_t(L) * O);
                }
                if (dr == 0) {  // every candidate's per-slot feedback below each prefix: the evaluator's
                                // (source 1) or the closed form's (sources 0 and 2: the true expectation)
                    cand.resize(std::size_t(G) * L * std::size_t(n) * O);
                    if (src == 1) {
                        pscorer->predict_candidates(v, 0, G, L, slates.data(), cand.data(), ws);
                    } else {
                        conditions cc = cond;
                        cc.weights.click = 1; cc.weights.long_view = 0;
                        for (int gg = 0; gg < G; ++gg)
                            for (int t = 0; t < L; ++t) {
                                std::copy(slates.begin() + std::ptrdiff_t(gg) * L, slates.begin() + std::ptrdiff_t(gg) * L + t, y.begin());
                                const double u0 = w.utility_unchecked(r, y.data(), t, cc);
                                for (int a = 0; a < n; ++a) {
                                    y[std::size_t(t)] = a;
                                    const double pcl = w.utility_unchecked(r, y.data(), t + 1, cc) - u0;
                                    double* o = cand.data() + ((std::size_t(gg) * L + t) * n + a) * O;
                                    o[0] = pcl;
                                    o[1] = pcl * r.long_view_prob[std::size_t(a)];
                                }
                            }
                    }
                }
                for (std::size_t m = 0; m < nm; ++m) {
                    train::rl_stream_state s = st[m * 3 + std::size_t(src)];
                    effective(m, fb.data(), s, eff[m * std::size_t(nd) + std::size_t(dr)]);
                    if (dr == 0) st[m * 3 + std::size_t(src)] = s;
                }
            }
            if (src == 1 && !pev) continue;
            for (std::size_t m = 0; m < nm; ++m) {
                const std::vector<double>& e0 = eff[m * std::size_t(nd)];
                for (int gg = 0; gg < G; ++gg)
                    for (int t = 0; t < L; ++t)
                        acc[(m * 3 + std::size_t(src)) * L + std::size_t(t)].add(e0[std::size_t(gg) * L + t], Astar[std::size_t(gg) * L + t]);
                if (rcs[m].method == train::rl_method::ldro && rcs[m].all_action) {
                    // the tail term sampled, the immediate term in all-action form: sum_g f_t q_i (r_i - b)
                    grad(aa_tail[m], n, gm);
                    for (int gg = 0; gg < G; ++gg)
                        for (int t = 0; t < L; ++t) {
                            const std::vector<double>& qq = qs[std::size_t(gg) * L + t];
                            const double* cg = cand.data() + (std::size_t(gg) * L + t) * std::size_t(n) * O;
                            double er = 0;
                            for (int i = 0; i < n; ++i) er += qq[std::size_t(i)] * (wts[0] * cg[std::size_t(i) * O] + wts[1] * cg[std::size_t(i) * O + 1]);
                            for (int i = 0; i < n; ++i) {
                                const double ri = wts[0] * cg[std::size_t(i) * O] + wts[1] * cg[std::size_t(i) * O + 1];
                                gm[std::size_t(t) * n + i] += aa_fac[m][std::size_t(t)] * qq[std::size_t(i)] * (ri - er);
                            }
                        }
                } else {
                    grad(e0, n, gm);
                }
                cos_sum[m * 3 + std::size_t(src)] += cosine(gm, gstar);
                pgrad(gm, pm);
                {
                    std::vector<double>& acc_m = psum[m * 3 + std::size_t(src)];
                    if (acc_m.empty()) acc_m.assign(pm.size(), 0.0);
                    for (std::size_t i = 0; i < pm.size(); ++i) acc_m[i] += double(pm[i]) / G;
                }
                {
                    double ab = 0, aa = 0, bb = 0;
                    for (std::size_t i = 0; i < pm.size(); ++i) { ab += double(pm[i]) * pstar[i]; aa += double(pm[i]) * pm[i]; bb += double(pstar[i]) * pstar[i]; }
                    pcos_sum[m * 3 + std::size_t(src)] += ab / std::sqrt(std::max(aa * bb, 1e-300));
                }
                if (src == 1) geval[m] = gm;
                if (src == 2)
                    for (int gg = 0; gg < G; ++gg)
                        for (int t = 0; t < L; ++t) {
                            double s1 = 0, s2 = 0;
                            for (int dr = 0; dr < nd; ++dr) {
                                const double a = eff[m * std::size_t(nd) + std::size_t(dr)][std::size_t(gg) * L + t];
                                s1 += a;
                                s2 += a * a;
                            }
                            const std::size_t c = m * L + std::size_t(t);
                            noise_within[c] += (s2 - s1 * s1 / nd) / (nd - 1);
                            noise_total_s[c] += s1;
                            noise_total_ss[c] += s2;
                        }
            }
        }
        noise_n += double(G);
        // the shown term: slate 0 shown to R users, the evaluator's prediction as the baseline
        if (pev) {
            for (std::size_t m = 0; m < nm; ++m) {
                train::slot_weights(rcs[m], L, omega.data());
                std::vector<std::vector<double>> as(static_cast<std::size_t>(R), std::vector<double>(std::size_t(L)));
                for (int dr = 0; dr < R; ++dr) {
                    train::rl_stream_state s = shown_st[m];
                    train::shown_advantages(rcs[m], shown_fb[std::size_t(dr)].data(), pred0.data(), L, O, wts, s, as[std::size_t(dr)].data());
                    if (dr == 0) shown_st[m] = s;
                    for (int t = 0; t < L; ++t) as[std::size_t(dr)][std::size_t(t)] *= omega[std::size_t(t)];
                }
                {  // the record's whole policy gradient as the loss weighs it: group_weight / G * group + shown_weight * shown
                    std::vector<double> comb(geval[m].size());
                    for (std::size_t i = 0; i < comb.size(); ++i) comb[i] = gw[m] / G * geval[m][i];
                    for (int t = 0; t < L; ++t) {
                        const std::vector<double>& qq = qs[std::size_t(t)];
                        const double a = sw[m] * as[0][std::size_t(t)];
                        for (int i = 0; i < n; ++i) comb[std::size_t(t) * n + i] -= a * qq[std::size_t(i)];
                        comb[std::size_t(t) * n + slates[std::size_t(t)]] += a;
                    }
                    comb_cos[m] += cosine(comb, gstar);
                    std::vector<double> gsh(comb.size(), 0.0);  // the shown term alone (weight 1)
                    for (int t = 0; t < L; ++t) {
                        const std::vector<double>& qq = qs[std::size_t(t)];
                        const double a = as[0][std::size_t(t)];
                        for (int i = 0; i < n; ++i) gsh[std::size_t(t) * n + i] -= a * qq[std::size_t(i)];
                        gsh[std::size_t(t) * n + slates[std::size_t(t)]] += a;
                    }
                    pgrad(gsh, pm);
                    if (pshown_sum[m].empty()) pshown_sum[m].assign(pm.size(), 0.0);
                    for (std::size_t i = 0; i < pm.size(); ++i) pshown_sum[m][i] += double(pm[i]);
                }
                for (int t = 0; t < L; ++t) {
                    shown_acc[m * L + std::size_t(t)].add(as[0][std::size_t(t)], Astar[std::size_t(t)]);
                    double s1 = 0, s2 = 0;
                    for (int dr = 0; dr < R; ++dr) { s1 += as[std::size_t(dr)][std::size_t(t)]; s2 += as[std::size_t(dr)][std::size_t(t)] * as[std::size_t(dr)][std::size_t(t)]; }
                    shown_within[m * L + std::size_t(t)] += (s2 - s1 * s1 / R) / (R - 1);
                    shown_s[m * L + std::size_t(t)] += s1;
                    shown_ss[m * L + std::size_t(t)] += s2;
                }
            }
        }
    }
    std::printf("advantage signal and noise: %d requests, G = %d, tau %.2f, weights (%.2f, %.2f), engagement %.2f, %d draws, %d rollouts x 2\n",
                M, G, tau, wts[0], wts[1], cond.engagement, R, K);
    std::printf("A* reliability (corr of two independent rollout halves): all %.3f; per slot", rel.corr());
    for (int t = 0; t < L; ++t) std::printf(" %.2f", rel_slot[std::size_t(t)].corr());
    std::printf("\nA* mean |A*| per slot:");
    for (int t = 0; t < L; ++t) std::printf(" %.4f", star_abs[std::size_t(t)].mean_abs());
    std::printf("\n");
    for (std::size_t m = 0; m < nm; ++m)
        for (int src = 0; src < 3; ++src) {
            if (src == 1 && !pev) continue;
            corr_acc all;
            for (int t = 0; t < L; ++t) {
                const corr_acc& c = acc[(m * 3 + std::size_t(src)) * L + std::size_t(t)];
                all.n += c.n; all.sa += c.sa; all.sb += c.sb; all.saa += c.saa; all.sbb += c.sbb; all.sab += c.sab; all.sabs += c.sabs;
            }
            std::printf("method=%s source=%s corr_all=%.3f grad_cos=%.3f param_cos=%.3f summed_param_cos=%.3f corr_slot=", methods[m].c_str(),
                        src_names[src], all.corr(), cos_sum[m * 3 + std::size_t(src)] / M, pcos_sum[m * 3 + std::size_t(src)] / M,
                        vcos(psum[m * 3 + std::size_t(src)], pstar_sum));
            for (int t = 0; t < L; ++t) std::printf("%s%.3f", t ? "," : "", acc[(m * 3 + std::size_t(src)) * L + std::size_t(t)].corr());
            std::printf(" mean_abs_slot=");
            for (int t = 0; t < L; ++t) std::printf("%s%.3f", t ? "," : "", acc[(m * 3 + std::size_t(src)) * L + std::size_t(t)].mean_abs());
            if (src == 2) {
                std::printf(" noise_share_slot=");
                for (int t = 0; t < L; ++t) {
                    const std::size_t c = m * L + std::size_t(t);
                    const double cnt = noise_n * R;
                    const double tot = noise_total_ss[c] / cnt - (noise_total_s[c] / cnt) * (noise_total_s[c] / cnt);
                    std::printf("%s%.2f", t ? "," : "", noise_within[c] / noise_n / std::max(tot, 1e-300));
                }
            }
            std::printf("\n");
        }
    if (pev)
        for (std::size_t m = 0; m < nm; ++m) {
            corr_acc all;
            for (int t = 0; t < L; ++t) {
                const corr_acc& c = shown_acc[m * L + std::size_t(t)];
                all.n += c.n; all.sa += c.sa; all.sb += c.sb; all.saa += c.saa; all.sbb += c.sbb; all.sab += c.sab; all.sabs += c.sabs;
            }
            std::printf("method=%s source=shown corr_all=%.3f record_grad_cos=%.3f summed_param_cos(shown weight", methods[m].c_str(), all.corr(),
                        comb_cos[m] / M);
            for (double swt : {0.0, 0.05, 0.1, 0.25, 0.5, 1.0}) {
                std::vector<double> v(pstar_sum.size());
                for (std::size_t i = 0; i < v.size(); ++i) v[i] = gw[m] * psum[m * 3 + 1][i] + swt * pshown_sum[m][i];
                std::printf(" %.2f:%.3f", swt, vcos(v, pstar_sum));
            }
            std::printf(") corr_slot=");
            for (int t = 0; t < L; ++t) std::printf("%s%.3f", t ? "," : "", shown_acc[m * L + std::size_t(t)].corr());
            std::printf(" mean_abs_slot=");
            for (int t = 0; t < L; ++t) std::printf("%s%.3f", t ? "," : "", shown_acc[m * L + std::size_t(t)].mean_abs());
            std::printf(" noise_share_slot=");
            for (int t = 0; t < L; ++t) {
                const std::size_t c = m * L + std::size_t(t);
                const double cnt = double(M) * R;
                const double tot = shown_ss[c] / cnt - (shown_s[c] / cnt) * (shown_s[c] / cnt);
                std::printf("%s%.2f", t ? "," : "", shown_within[c] / M / std::max(tot, 1e-300));
            }
            std::printf("\n");
        }
    std::fflush(stdout);
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string x;
    while (std::getline(ss, x, ','))
        if (!x.empty()) out.push_back(x);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string student_path, methods = "ldro", drift_name = "swap-mixed", mode = "realistic", feedback = "sampled", csv,
                                  evaluator_path, evaluator_kind = "page", save_policy;
        std::uint64_t seed = 1, stream_seed = 0;
        long requests = 16000, evaluator_steps = 0;  // 0: the kind's default (page: page_fit_config's 10 000; list: 3000)
        // the page evaluator's fit: page_fit_config's defaults (lr 0.002, batch 128), the fit measured best on
        // proposals (docs/results.md); the runs of docs/rl.md before 2026-12-06 19:00 used lr 0.02, batch 64, 3000 steps
        train::page_fit_config page_fit;
        int eval_every = 2000, eval_requests = 200, evaluator_pages = 20000;
        int measure = 0, measure_draws = 8, measure_rollouts = 32, eval_sampled = 0;
        bool measure_expected = false;  // --measure-expected-truth: the true gradient in all-action form
        std::string scorer_kind = "evaluator";  // --scorer closed: the model-based group scored by the closed form
        train::rl_run_config rc;
        rc.mode = train::rl_feedback::realistic;
        rc.publish_every = 4;
        rc.max_delay = 50;
        rc.requests_per_step = 8;
        train::online_evaluator_scorer<float>::config ec;
        double lr_method[3] = {0, 0, 0};  // --lr-ldro, --lr-grpo, --lr-goalrank (0: --lr)
        example_args a(argc, argv);
        while (a.next()) {
            if (a.is("--student")) student_path = a.value();
            else if (a.is("--method") || a.is("--methods")) methods = a.value();
            else if (a.is("--mode")) mode = a.value();
            else if (a.is("--drift")) drift_name = a.value();
            else if (a.is("--feedback")) feedback = a.value();
            else if (a.is("--csv")) csv = a.value();
            else if (a.is("--save-policy")) save_policy = a.value();
            else if (a.is("--evaluator")) evaluator_path = a.value();
            else if (a.is("--evaluator-kind")) evaluator_kind = a.value();
            else if (a.is("--evaluator-batch")) ec.batch = a.integer();
            else if (a.is("--evaluator-every")) ec.update_every = a.integer();
            else if (a.is("--evaluator-pages")) evaluator_pages = a.integer();
            else if (a.is("--evaluator-steps")) evaluator_steps = a.integer(LLONG_MIN, LLONG_MAX);
            else if (a.is("--evaluator-lr")) ec.lr = a.real();
            else if (a.is("--evaluator-fit-lr")) page_fit.lr = a.real();
            else if (a.is("--evaluator-fit-batch")) page_fit.batch = int(a.integer(1, 1 << 20));
            else if (a.is("--seed")) seed = a.u64();
            else if (a.is("--stream-seed")) stream_seed = a.u64();
            else if (a.is("--requests")) requests = a.integer(LLONG_MIN, LLONG_MAX);
            else if (a.is("--eval-every")) eval_every = a.integer();
            else if (a.is("--eval-requests")) eval_requests = a.integer();
            else if (a.is("--eval-sampled")) eval_sampled = int(a.integer(0, 10000));
            else if (a.is("--lr")) rc.optimizer.lr = a.real();
            else if (a.is("--lr-ldro")) lr_method[0] = a.real();
            else if (a.is("--lr-grpo")) lr_method[1] = a.real();
            else if (a.is("--lr-goalrank")) lr_method[2] = a.real();
            else if (a.is("--beta")) rc.rl.beta = a.real();
            else if (a.is("--eta")) rc.rl.eta = a.real();
            else if (a.is("--tau")) rc.rl.sample_tau = a.real();
            else if (a.is("--group")) rc.rl.group = a.integer();
            else if (a.is("--per-step")) rc.requests_per_step = a.integer();
            else if (a.is("--publish-every")) rc.publish_every = a.integer();
            else if (a.is("--max-delay")) rc.max_delay = a.integer();
            else if (a.is("--drop-rate")) rc.drop_rate = a.real();
            else if (a.is("--group-weight")) rc.group_weight = a.real();
            else if (a.is("--shown-weight")) rc.shown_weight = a.real();
            else if (a.is("--polyak")) rc.polyak = a.real();
            else if (a.is("--verbose")) rc.log_every = 250;
            else if (a.is("--guard-every")) { rc.eval_every = a.integer(0, INT_MAX); rc.served_result = rc.eval_every > 0; }
            else if (a.is("--guard-margin")) rc.publish_margin = a.real();
            else if (a.is("--guard-holdout")) rc.holdout = int(a.integer(1, 100000));
            else if (a.is("--measure-advantages")) measure = int(a.integer(1, 1 << 20));
            else if (a.is("--measure-draws")) measure_draws = int(a.integer(2, 1000));
            else if (a.is("--measure-rollouts")) measure_rollouts = int(a.integer(1, 100000));
            else if (a.is("--measure-expected-truth")) measure_expected = true;
            else if (a.is("--scorer")) scorer_kind = a.value();
            else if (a.is("--help") || a.is("-h")) {
                std::puts("usage: rl_experiments --student PATH [--methods none,ldro,grpo,goalrank,ldro-noobj,ldro-noslot,ldro-norank,\n"
                          "       ldro-ema,ldro-nogroup,ldro-noshown,ldro-norefresh] [--mode realistic|user-group]\n"
                          "       [--drift none|swap-mixed|engagement|longview|swap] [--feedback sampled|expected] [--requests N]\n"
                          "       [--seed S] [--stream-seed S2] [--csv PATH] [--evaluator-kind page|list] [--evaluator PATH (load, or fit and save)]\n"
                          "       [--evaluator-pages P] [--evaluator-steps K] [--evaluator-fit-lr X] [--evaluator-fit-batch B]\n"
                          "       [--evaluator-lr X] [--evaluator-batch B] [--evaluator-every K] (the last three: online refresh)\n"
                          "       [--lr X] [--lr-ldro X] [--lr-grpo X] [--lr-goalrank X]\n"
                          "       [--beta X] [--eta X] [--tau X] [--group G] [--per-step R] [--publish-every P] [--max-delay D]\n"
                          "       [--drop-rate X] [--group-weight X] [--shown-weight X] [--polyak A] [--eval-every K] [--eval-requests M]\n"
                          "       [--eval-sampled K (also the sampled policy's utility: K slates per request at tau)]\n"
                          "       [--save-policy PREFIX (writes PREFIX_<method>.safetensors after each run)]\n"
                          "       [--guard-every K [--guard-margin X] [--guard-holdout N]] [--scorer evaluator|closed]\n"
                          "       [--measure-advantages M [--measure-draws R] [--measure-rollouts K] [--measure-expected-truth]]");
                return 0;
            } else
                throw input_error("unknown option " + a.name());
        }
        if (student_path.empty()) throw input_error("--student PATH is required (a model written by dualrerank_demo)");
        if (scorer_kind != "evaluator" && scorer_kind != "closed") throw input_error("unknown scorer " + scorer_kind + " (evaluator or closed)");
        if (mode == "user-group") rc.mode = train::rl_feedback::user_group;
        else if (mode != "realistic") throw input_error("unknown mode " + mode);
        rc.requests = requests;
        rc.expected_feedback = feedback == "expected";
        const long change = drift_name == "none" ? 0 : requests / 2;
        drift d = drift::none();
        if (drift_name == "swap") d = drift::weight_swap(change);
        else if (drift_name == "swap-mixed") {
            d.click_weight = schedule::step(0.8, 0.2, change);
            d.long_view_weight = schedule::step(0.2, 0.8, change);
        } else if (drift_name == "engagement") d.engagement = schedule::step(1.0, 0.5, change);
        else if (drift_name == "longview") d.long_view_shift = schedule::step(0.0, 1.5, change);
        else if (drift_name != "none") throw input_error("unknown drift " + drift_name);

        const nar_student<float> anchor = io::load_model<nar_student<float>>(student_path);
        world w(world_config::small(), seed);
        const int L = w.slate_size();
        if (anchor.config().max_slate != L || anchor.config().features != w.config().feature_dim)
            throw input_error("the student was not trained on the small built-in world");
        const std::uint64_t ss = stream_seed ? stream_seed : seed;
        rc.seed = ss;

        // the evaluator, fitted on policy-local logs of the start student: the page evaluator
        // (default) or the list evaluator (a list evaluator can be loaded from --evaluator PATH)
        std::unique_ptr<list_evaluator<float>> lev;
        std::unique_ptr<page_evaluator<float>> pev;
        if (rc.mode == train::rl_feedback::realistic) {
            const auto t0 = std::chrono::steady_clock::now();
            std::ifstream probe(evaluator_path);
            if (evaluator_kind == "list" && !evaluator_path.empty() && probe.good()) {
                lev = std::make_unique<list_evaluator<float>>(io::load_model<list_evaluator<float>>(evaluator_path));
            } else if (evaluator_kind == "page" && !evaluator_path.empty() && probe.good()) {
                // the page evaluator depends on (world seed, logs, fit seed) only, not on the stream:
                // fitted once and saved with --evaluator PATH, the runs of every stream load it
                pev = std::make_unique<page_evaluator<float>>(io::load_page_evaluator<float>(evaluator_path));
            } else {
                const local_logs lg = make_logs(w, anchor, evaluator_pages, rc.rl.sample_tau, seed, d.at(0));
                if (evaluator_kind == "list") {
                    model_config mc = anchor.config();
                    mc.outputs = 2;  // click, long view
                    lev = std::make_unique<list_evaluator<float>>(mc);
                    lev->init(seed + 600);
                    fit_list_evaluator(*lev, lg, L, evaluator_steps > 0 ? evaluator_steps : 3000, seed);
                    if (!evaluator_path.empty()) io::save_model(*lev, evaluator_path);
                } else if (evaluator_kind == "page") {
                    page_evaluator_config pc;
                    pc.features = w.config().feature_dim;
                    pc.context = w.config().context_dim;
                    pc.max_slate = L;
                    pc.max_candidates = w.num_candidates();
                    pc.objectives = 2;
                    pev = std::make_unique<page_evaluator<float>>(pc);
                    pev->init(seed + 600);
                    if (evaluator_steps > 0) page_fit.steps = evaluator_steps;
                    const auto fit = fit_page(*pev, lg, page_fit, seed);
                    std::fprintf(stderr, "page evaluator: %ld steps, held-out NLL/page %.4f (start %.4f)\n", fit.steps, fit.best_valid_loss,
                                 fit.initial_valid_loss);
                    if (!evaluator_path.empty()) io::save_page_evaluator(*pev, evaluator_path);
                } else {
                    throw input_error("unknown evaluator kind " + evaluator_kind + " (list or page)");
                }
            }
            std::fprintf(stderr, "evaluator ready in %.0f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            if (pev)
                std::fprintf(stderr, "page evaluator: within-request correlation with the closed form on 16 start-policy samples at tau %.2f, "
                             "100 held-out requests: %.3f (conditions of request 0), %.3f (final conditions)\n",
                             rc.rl.sample_tau, evaluator_group_corr(w, anchor, *pev, rc.rl.sample_tau, d, 0, 100),
                             evaluator_group_corr(w, anchor, *pev, rc.rl.sample_tau, d, requests, 100));
        }

        // a method name sets the method and its ablation switches
        // (ldro, grpo or goalrank, then '-'-separated switches: noobj, noslot, norank, rank, ema, pooled, pagefloor, nogroup,
        // noshown, norefresh, g<discount>, sg<shown discount>, gw<group weight>, sw<shown weight>, lr<x>; e.g. ldro-norank-g0.5,
        // goalrank-lr5e-5)
        auto configure = [&lr_method](const std::string& m, train::rl_run_config& r, train::online_evaluator_scorer<float>::config& e) {
            std::vector<std::string> tok;
            std::stringstream ss(m);
            std::string x;
            while (std::getline(ss, x, '-')) {
                // a negative exponent (lr5e-5) splits at its '-': glue it back to the number
                const bool exponent = !tok.empty() && tok.back().size() >= 2 && (tok.back().back() == 'e' || tok.back().back() == 'E') &&
                                      std::isdigit(static_cast<unsigned char>(tok.back()[tok.back().size() - 2])) && !x.empty() &&
                                      std::isdigit(static_cast<unsigned char>(x[0]));
                if (exponent) tok.back() += "-" + x;
                else tok.push_back(x);
            }
            if (tok.empty()) throw input_error("empty method name");
            if (tok[0] == "grpo") r.rl.method = train::rl_method::grpo;
            else if (tok[0] == "goalrank") r.rl.method = train::rl_method::goalrank;
            else if (tok[0] == "ldro" || tok[0] == "none") r.rl.method = train::rl_method::ldro;
            else throw input_error("unknown method " + m);
            if (tok[0] == "none" && tok.size() > 1) throw input_error("unknown method " + m);
            const double lr_m = lr_method[int(r.rl.method)];  // the method's own step size (an lr switch below still wins)
            if (lr_m > 0) r.optimizer.lr = lr_m;
            auto num = [&](const std::string& t, std::size_t skip) {
                char* end = nullptr;
                const double v = std::strtod(t.c_str() + skip, &end);
                if (end == t.c_str() + skip || *end != '\0') throw input_error("bad number in method " + m);
                return v;
            };
            for (std::size_t i = 1; i < tok.size(); ++i) {
                const std::string& t = tok[i];
                if (t == "noobj") r.rl.decouple_objectives = false;
                else if (t == "noslot") r.rl.decouple_slots = false;
                else if (t == "norank") r.rl.rank_decay = false;
                else if (t == "rank") r.rl.rank_decay = true;
                else if (t == "pagefloor") r.rl.scale = train::scale_mode::group_std_floor;
                else if (t == "ema") r.rl.scale = train::scale_mode::ema;
                else if (t == "pooled") r.rl.scale = train::scale_mode::pooled_slot_std;
                else if (t == "slotstd") r.rl.scale = train::scale_mode::slot_std;
                else if (t == "nogroup") r.group_weight = 0;
                else if (t == "noshown") r.shown_weight = 0;
                else if (t == "norefresh") e.refresh = false;
                else if (t == "ms") r.rl.unit_mean_square = true;
                else if (t == "noms") r.rl.unit_mean_square = false;
                else if (t == "sms") r.rl.unit_mean_square = r.rl.stream_mean_square = true;
                else if (t.rfind("smc", 0) == 0) r.rl.stream_ms_cap = num(t, 3);
                else if (t.rfind("gb", 0) == 0) r.rl.greedy_baseline = num(t, 2);
                else if (t == "gmb") { r.rl.baseline = train::slot_baseline::group_mean; r.rl.all_action = false; }
                else if (t == "pb") r.rl.baseline = train::slot_baseline::prefix;
                else if (t == "pbe") r.rl.baseline = train::slot_baseline::prefix_expected;
                else if (t == "aa") r.rl.all_action = true;
                else if (t == "noaa") r.rl.all_action = false;
                else if (t.rfind("eta", 0) == 0) r.rl.eta = num(t, 3);
                else if (t.rfind("lr", 0) == 0) r.optimizer.lr = num(t, 2);
                else if (t.rfind("fc", 0) == 0) r.rl.floor_const = num(t, 2);
                else if (t.rfind("fe", 0) == 0) r.rl.floor_ema_frac = num(t, 2);
                else if (t.rfind("b", 0) == 0) r.rl.beta = num(t, 1);
                else if (t.rfind("gw", 0) == 0) r.group_weight = num(t, 2);
                else if (t.rfind("sw", 0) == 0) r.shown_weight = num(t, 2);
                else if (t.rfind("sg", 0) == 0) r.rl.shown_discount = num(t, 2);
                else if (t.rfind("g", 0) == 0) r.rl.rtg_discount = num(t, 1);
                else throw input_error("unknown switch " + t + " in method " + m);
            }
        };
        if (measure > 0) {
            measure_advantages(w, d, change > 0 ? requests : 0, anchor, pev.get(), rc, split(methods), configure, measure, measure_draws,
                               measure_rollouts, ss, measure_expected);
            return 0;
        }

        workspace ws;
        const eval_set_d set0 = make_set(w, d, 0, eval_requests);
        const eval_set_d set_final = make_set(w, d, requests, eval_requests);
        const double start = normalized(w, set0, anchor, ws);
        const double anchor_final = normalized(w, set_final, anchor, ws);
        std::ofstream out;
        if (!csv.empty()) {
            out.open(csv);
            out << "method,requests,normalized_utility,click_weight,long_weight,engagement,long_view_shift,reward,entropy,kl,clip_frac,"
                   "eval_policy,eval_anchor\n";
        }
        for (const std::string& m : split(methods)) {
            train::rl_run_config r = rc;
            train::online_evaluator_scorer<float>::config e = ec;
            configure(m, r, e);
            nar_student<float> policy = anchor;
            std::vector<std::pair<long, double>> curve;
            const eval_set_d* cur = &set0;
            eval_set_d shifted;
            auto eval_at = [&](long at, const train::rl_progress* p) {
                if (change > 0 && at >= change && cur == &set0) {
                    shifted = make_set(w, d, at, eval_requests);
                    cur = &shifted;
                }
                const double u = normalized(w, *cur, policy, ws);
                curve.emplace_back(at, u);
                if (out) {
                    const conditions c = d.at(at);
                    out << m << ',' << at << ',' << u << ',' << c.weights.click << ',' << c.weights.long_view << ',' << c.engagement << ','
                        << d.long_view_shift(at);
                    if (p)
                        out << ',' << p->mean_reward << ',' << p->stats.entropy << ',' << p->stats.kl << ',' << p->clip_frac << ','
                            << p->eval_policy << ',' << p->eval_anchor;
                    else
                        out << ",,,,,,";
                    out << '\n';
                }
                return u;
            };
            eval_at(0, nullptr);
            const auto t0 = std::chrono::steady_clock::now();
            if (m != "none") {
                stream s(w, d, ss * 31 + 5, 3000000);
                long next_eval = eval_every;
                bool at_change = change == 0;
                auto on_step = [&](const train::rl_progress& p) {
                    if (!at_change && p.requests >= change) {  // the policy as the change hits
                        eval_at(change, &p);
                        at_change = true;
                    }
                    if (p.requests >= next_eval) {
                        eval_at(p.requests, &p);
                        next_eval += eval_every;
                    }
                };
                if (r.mode == train::rl_feedback::realistic && scorer_kind == "closed") {
                    train::world_scorer<float> scorer(s);  // a perfect evaluator: the stream's closed form
                    train::run_rl(policy, anchor, s, r, scorer, on_step);
                } else if (r.mode == train::rl_feedback::realistic && pev) {
                    train::online_page_evaluator_scorer<float> scorer(*pev, e);
                    train::run_rl(policy, anchor, s, r, scorer, on_step);
                } else if (r.mode == train::rl_feedback::realistic) {
                    train::online_evaluator_scorer<float> scorer(*lev, e);
                    train::run_rl(policy, anchor, s, r, scorer, on_step);
                } else {
                    train::run_rl(policy, anchor, s, r, on_step);
                }
            } else if (change > 0) {
                eval_at(change, nullptr);
            }
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const double final_u = normalized(w, set_final, policy, ws);
            if (!save_policy.empty()) io::save_model(policy, save_policy + "_" + m + ".safetensors");
            if (out) out << m << ',' << requests << ',' << final_u << ",,,,,,,,,,\n";
            double shift_u = start;
            for (auto& c : curve)
                if (c.first == change) shift_u = c.second;
            long recover = -1;
            curve.emplace_back(requests, final_u);
            for (auto& c : curve)
                if (c.first >= change && c.second >= shift_u + 0.9 * (final_u - shift_u) - 1e-12) {
                    recover = c.first - change;
                    break;
                }
            std::printf("method=%s mode=%s drift=%s seed=%llu stream=%llu requests=%ld G=%d start=%.4f anchor_final=%.4f shift=%.4f "
                        "final=%.4f gain=%+.4f recover90=%ld secs=%.0f",
                        m.c_str(), mode.c_str(), drift_name.c_str(), (unsigned long long)seed, (unsigned long long)ss, requests, r.rl.group,
                        start, anchor_final, shift_u, final_u, final_u - anchor_final, recover, secs);
            if (eval_sampled > 0) {
                const double sa = normalized_sampled(w, set_final, anchor, rc.rl.sample_tau, eval_sampled);
                const double sp = normalized_sampled(w, set_final, policy, rc.rl.sample_tau, eval_sampled);
                std::printf(" sampled_anchor_final=%.4f sampled_final=%.4f sampled_gain=%+.4f", sa, sp, sp - sa);
            }
            std::printf("\n");
            std::fflush(stdout);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rl_experiments: %s\n", e.what());
        return 1;
    }
}
