// RL experiments on the built-in world (docs/design.md section 4, issue "Dual-Rerank end to end"):
// start from an SKD student (a model file written by dualrerank_demo), run LDRO or GRPO on a
// drifting stream, evaluate the greedy policy on fixed requests every k requests under the
// stream's current conditions, and write a CSV curve. Prints the start (conditions at request 0),
// the anchor (unchanged SKD student) and the final policy under the final conditions, and the
// requests after the change until the policy first matched the anchor (-1: never).
//
//   rl_experiments --student runs/demo/seed1/student_skd.safetensors --method ldro --drift swap \
//                  --feedback sampled --requests 24000 --seed 1 --csv out.csv
// Drifts: none, swap (objective weights (1,0) -> (0,1) at half time), swap-mixed ((0.8, 0.2) ->
// (0.2, 0.8) at half time), engagement0.3 (engagement
// x0.3 at half time), sparse (engagement x0.05 from the start). --seed is the demo's seed (the world
// the student was trained on); --stream-seed varies the request stream and the RL noise alone.
// Ablations: --no-objective-decoupling, --no-slot-decoupling, --no-rank-decay, --scale ema|group|floor.
#include <cstring>
#include <fstream>

#include <dualrerank/sim/sim.hpp>

using namespace dualrerank;

int main(int argc, char** argv) {
    try {
        std::string student_path, method = "ldro", drift_name = "swap", feedback = "sampled", csv;
        std::uint64_t seed = 1, stream_seed = 0;
        long requests = 24000;
        int eval_every = 2000, eval_requests = 300;
        train::rl_run_config rc;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw input_error("missing value after " + a);
                return argv[++i];
            };
            if (a == "--student") student_path = next();
            else if (a == "--method") method = next();
            else if (a == "--drift") drift_name = next();
            else if (a == "--feedback") feedback = next();
            else if (a == "--csv") csv = next();
            else if (a == "--seed") seed = std::stoull(next());
            else if (a == "--stream-seed") stream_seed = std::stoull(next());
            else if (a == "--requests") requests = std::stol(next());
            else if (a == "--eval-every") eval_every = std::stoi(next());
            else if (a == "--eval-requests") eval_requests = std::stoi(next());
            else if (a == "--lr") rc.optimizer.lr = std::stod(next());
            else if (a == "--beta") rc.rl.beta = std::stod(next());
            else if (a == "--eta") rc.rl.eta = std::stod(next());
            else if (a == "--group") rc.rl.group = std::stoi(next());
            else if (a == "--per-step") rc.requests_per_step = std::stoi(next());
            else if (a == "--polyak") rc.polyak = std::stod(next());
            else if (a == "--no-objective-decoupling") rc.rl.decouple_objectives = false;
            else if (a == "--no-slot-decoupling") rc.rl.decouple_slots = false;
            else if (a == "--no-rank-decay") rc.rl.rank_decay = false;
            else if (a == "--scale") {
                const std::string s = next();
                rc.rl.scale = s == "ema" ? train::scale_mode::ema : s == "group" ? train::scale_mode::group_std
                                                                                  : train::scale_mode::group_std_floor;
            } else if (a == "--verbose") rc.log_every = 250;
            else if (a == "--help" || a == "-h") {
                std::puts("usage: rl_experiments --student PATH [--method ldro|grpo] [--drift none|swap|swap-mixed|engagement0.3|sparse]\n"
                          "       [--feedback sampled|expected] [--requests N] [--seed S] [--stream-seed S2] [--csv PATH] [--lr X] [--beta X]\n"
                          "       [--eta X] [--group G] [--per-step R] [--polyak A] [--no-objective-decoupling] [--no-slot-decoupling]\n"
                          "       [--no-rank-decay] [--scale floor|ema|group] [--eval-every K] [--eval-requests M]");
                return 0;
            } else
                throw input_error("unknown option " + a);
        }
        if (student_path.empty()) throw input_error("--student PATH is required (a model written by dualrerank_demo)");
        rc.rl.method = method == "grpo" ? train::rl_method::grpo : train::rl_method::ldro;
        rc.requests = requests;
        rc.seed = seed;
        rc.expected_feedback = feedback == "expected";
        drift d = drift::none();
        if (drift_name == "swap") d = drift::weight_swap(requests / 2);
        else if (drift_name == "swap-mixed") {  // mixed weights: (0.8, 0.2) -> (0.2, 0.8)
            d.click_weight = schedule::step(0.8, 0.2, requests / 2);
            d.long_view_weight = schedule::step(0.2, 0.8, requests / 2);
        }
        else if (drift_name == "engagement0.3") d.engagement = schedule::step(1.0, 0.3, requests / 2);
        else if (drift_name == "sparse") d.engagement = schedule::constant(0.05);
        else if (drift_name != "none") throw input_error("unknown drift " + drift_name);

        const nar_student<float> anchor = io::load_model<nar_student<float>>(student_path);
        nar_student<float> policy = anchor;
        world w(world_config::small(), seed);
        const int L = w.slate_size();
        if (anchor.config().max_slate != L || anchor.config().features != w.config().feature_dim)
            throw input_error("the student was not trained on the small built-in world");
        // the world is the demo's for --seed; the request stream (and the RL noise) can be varied alone
        const std::uint64_t ss = stream_seed ? stream_seed : seed;
        rc.seed = ss;
        stream s(w, d, ss * 31 + 5, 3000000);
        workspace ws;
        std::ofstream out;
        if (!csv.empty()) {
            out.open(csv);
            out << "requests,normalized_utility,click_weight,long_weight,engagement\n";
        }
        // evaluation sets per distinct condition, cached
        std::map<std::string, pipeline::eval_set> sets;
        auto eval_now = [&](long at) {
            const conditions c = d.at(at);
            const std::string key = std::to_string(c.engagement) + "/" + std::to_string(c.weights.click) + "/" +
                                    std::to_string(c.weights.long_view);
            if (!sets.count(key)) sets.emplace(key, pipeline::make_eval_set(w, eval_requests, c));
            const auto r = pipeline::evaluate(w, sets.at(key), "policy",
                                              [&](const sim_request& q) { return decode::greedy(policy, q.observed.view(), L, ws); });
            if (out) out << at << ',' << r.utility << ',' << c.weights.click << ',' << c.weights.long_view << ',' << c.engagement << '\n';
            return r.utility;
        };
        const double start = eval_now(0);
        // the anchor (the unchanged SKD student) under the final conditions: the bar to beat
        const conditions final_cond = d.at(requests);
        const pipeline::eval_set final_set = pipeline::make_eval_set(w, eval_requests, final_cond);
        const double anchor_final = pipeline::evaluate(w, final_set, "anchor", [&](const sim_request& q) {
                                        return decode::greedy(anchor, q.observed.view(), L, ws);
                                    }).utility;
        const long change = drift_name == "swap" || drift_name == "swap-mixed" || drift_name == "engagement0.3" ? requests / 2 : 0;
        long recovered_at = -1;
        long next_eval = eval_every;
        train::run_rl(policy, anchor, s, rc, [&](const train::rl_progress& p) {
            if (p.requests >= next_eval) {
                const double u = eval_now(p.requests);
                if (p.requests > change && recovered_at < 0 && u >= anchor_final) recovered_at = p.requests - change;
                next_eval += eval_every;
            }
        });
        const double final_u = pipeline::evaluate(w, final_set, "policy", [&](const sim_request& q) {
                                   return decode::greedy(policy, q.observed.view(), L, ws);
                               }).utility;
        if (out) out << requests << ',' << final_u << ',' << final_cond.weights.click << ',' << final_cond.weights.long_view << ','
                     << final_cond.engagement << '\n';
        std::printf("method=%s drift=%s feedback=%s seed=%llu lr=%g beta=%g eta=%g G=%d start=%.4f anchor_final=%.4f final=%.4f "
                    "requests_to_recover=%ld\n",
                    method.c_str(), drift_name.c_str(), feedback.c_str(), (unsigned long long)seed, rc.optimizer.lr, rc.rl.beta,
                    rc.rl.eta, rc.rl.group, start, anchor_final, final_u, recovered_at);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rl_experiments: %s\n", e.what());
        return 1;
    }
}
