// RL experiments on the built-in world (docs/rl.md; docs/design.md sections 4 and 10.5): start
// from an SKD student (a model file written by dualrerank_demo), run one or more methods on the
// SAME drifting request stream, evaluate the greedy policy on fixed held-out requests every k
// requests with the closed form (normalized utility, under the stream's current conditions), and
// print one summary line per method (and a CSV curve).
//
//   rl_experiments --student runs/demo/seed1/student_skd.safetensors --methods none,ldro,grpo,goalrank \
//                  --mode realistic --drift swap-mixed --requests 16000 --seed 1 --stream-seed 101 --csv out.csv
//
// Modes: realistic (one shown slate per request; the model-based group is scored by a list
// evaluator fitted on policy-local logs of the start student and refreshed online from the shown
// slates; the off-policy term uses the logged propensities of a serving policy that lags by
// --publish-every steps; feedback arrives 0..--max-delay requests late), user-group (the
// idealized mode: G users per request). Drifts (at half time): none, swap-mixed ((0.8, 0.2) ->
// (0.2, 0.8)), engagement (x0.5), longview (long-view propensity shift +-1.5 logits by category
// parity), swap ((1,0) -> (0,1)). Methods: none (no RL), ldro, grpo, goalrank, and LDRO ablations
// ldro-noobj, ldro-noslot, ldro-norank, ldro-ema, ldro-nogroup (shown term only), ldro-noshown
// (model-based group only), ldro-norefresh (the evaluator frozen).
// Summary per method: start (the start policy under the conditions of request 0), anchor_final
// (the start policy under the final conditions), shift (the policy right after the change, under
// the new conditions), final, gain = final - anchor_final, recover90 = requests after the change
// until the policy first reached shift + 0.9 (final - shift) (-1: never; no drift: from 0).
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
train::page_fit_result fit_page(page_evaluator<float>& ev, const local_logs& lg, long steps, std::uint64_t seed) {
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
    train::page_fit_config fc;
    fc.steps = steps;
    fc.batch = 64;
    fc.seed = seed;
    fc.eval_every = std::max(1L, steps / 10);
    return train::fit_page_evaluator(ev, trs, vas, fc);
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
                                  evaluator_path, evaluator_kind = "page";
        std::uint64_t seed = 1, stream_seed = 0;
        long requests = 16000, evaluator_steps = 3000;
        int eval_every = 2000, eval_requests = 200, evaluator_pages = 20000;
        train::rl_run_config rc;
        rc.mode = train::rl_feedback::realistic;
        rc.publish_every = 4;
        rc.max_delay = 50;
        rc.requests_per_step = 8;
        train::evaluator_scorer<float>::config ec;
        example_args a(argc, argv);
        while (a.next()) {
            if (a.is("--student")) student_path = a.value();
            else if (a.is("--method") || a.is("--methods")) methods = a.value();
            else if (a.is("--mode")) mode = a.value();
            else if (a.is("--drift")) drift_name = a.value();
            else if (a.is("--feedback")) feedback = a.value();
            else if (a.is("--csv")) csv = a.value();
            else if (a.is("--evaluator")) evaluator_path = a.value();
            else if (a.is("--evaluator-kind")) evaluator_kind = a.value();
            else if (a.is("--evaluator-batch")) ec.batch = a.integer();
            else if (a.is("--evaluator-every")) ec.update_every = a.integer();
            else if (a.is("--evaluator-pages")) evaluator_pages = a.integer();
            else if (a.is("--evaluator-steps")) evaluator_steps = a.integer(LLONG_MIN, LLONG_MAX);
            else if (a.is("--evaluator-lr")) ec.lr = a.real();
            else if (a.is("--seed")) seed = a.u64();
            else if (a.is("--stream-seed")) stream_seed = a.u64();
            else if (a.is("--requests")) requests = a.integer(LLONG_MIN, LLONG_MAX);
            else if (a.is("--eval-every")) eval_every = a.integer();
            else if (a.is("--eval-requests")) eval_requests = a.integer();
            else if (a.is("--lr")) rc.optimizer.lr = a.real();
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
            else if (a.is("--help") || a.is("-h")) {
                std::puts("usage: rl_experiments --student PATH [--methods none,ldro,grpo,goalrank,ldro-noobj,ldro-noslot,ldro-norank,\n"
                          "       ldro-ema,ldro-nogroup,ldro-noshown,ldro-norefresh] [--mode realistic|user-group]\n"
                          "       [--drift none|swap-mixed|engagement|longview|swap] [--feedback sampled|expected] [--requests N]\n"
                          "       [--seed S] [--stream-seed S2] [--csv PATH] [--evaluator-kind page|list] [--evaluator PATH (list)]\n"
                          "       [--evaluator-pages P] [--evaluator-steps K] [--evaluator-lr X] [--evaluator-batch B] [--evaluator-every K]\n"
                          "       [--lr X] [--beta X] [--eta X] [--tau X] [--group G] [--per-step R] [--publish-every P] [--max-delay D]\n"
                          "       [--drop-rate X] [--group-weight X] [--shown-weight X] [--polyak A] [--eval-every K] [--eval-requests M]");
                return 0;
            } else
                throw input_error("unknown option " + a.name());
        }
        if (student_path.empty()) throw input_error("--student PATH is required (a model written by dualrerank_demo)");
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
            } else {
                const local_logs lg = make_logs(w, anchor, evaluator_pages, rc.rl.sample_tau, seed, d.at(0));
                if (evaluator_kind == "list") {
                    model_config mc = anchor.config();
                    mc.outputs = 2;  // click, long view
                    lev = std::make_unique<list_evaluator<float>>(mc);
                    lev->init(seed + 600);
                    fit_list_evaluator(*lev, lg, L, evaluator_steps, seed);
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
                    const auto fit = fit_page(*pev, lg, evaluator_steps, seed);
                    std::fprintf(stderr, "page evaluator: %ld steps, held-out NLL/page %.4f (start %.4f)\n", fit.steps, fit.best_valid_loss,
                                 fit.initial_valid_loss);
                } else {
                    throw input_error("unknown evaluator kind " + evaluator_kind + " (list or page)");
                }
            }
            std::fprintf(stderr, "evaluator ready in %.0f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
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
            train::evaluator_scorer<float>::config e = ec;
            if (m == "grpo") r.rl.method = train::rl_method::grpo;
            else if (m == "goalrank") r.rl.method = train::rl_method::goalrank;
            else if (m == "ldro-noobj") r.rl.decouple_objectives = false;
            else if (m == "ldro-noslot") r.rl.decouple_slots = false;
            else if (m == "ldro-norank") r.rl.rank_decay = false;
            else if (m == "ldro-ema") r.rl.scale = train::scale_mode::ema;
            else if (m == "ldro-nogroup") r.group_weight = 0;
            else if (m == "ldro-noshown") r.shown_weight = 0;
            else if (m == "ldro-norefresh") e.refresh = false;
            else if (m != "ldro" && m != "none") throw input_error("unknown method " + m);
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
                if (r.mode == train::rl_feedback::realistic && pev) {
                    train::page_evaluator_scorer<float> scorer(*pev, e);
                    train::run_rl(policy, anchor, s, r, scorer, on_step);
                } else if (r.mode == train::rl_feedback::realistic) {
                    train::evaluator_scorer<float> scorer(*lev, e);
                    train::run_rl(policy, anchor, s, r, scorer, on_step);
                } else {
                    train::run_rl(policy, anchor, s, r, on_step);
                }
            } else if (change > 0) {
                eval_at(change, nullptr);
            }
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const double final_u = normalized(w, set_final, policy, ws);
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
                        "final=%.4f gain=%+.4f recover90=%ld secs=%.0f\n",
                        m.c_str(), mode.c_str(), drift_name.c_str(), (unsigned long long)seed, (unsigned long long)ss, requests, r.rl.group,
                        start, anchor_final, shift_u, final_u, final_u - anchor_final, recover, secs);
            std::fflush(stdout);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rl_experiments: %s\n", e.what());
        return 1;
    }
}
