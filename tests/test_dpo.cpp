// Rerank-DPO (include/dualrerank/train/dpo.hpp, docs/design.md section 10.4): the pairs (Y_w is the
// shown slate re-sorted by alpha / P_i + gamma * U_i, Y_l the shown order), the loss and its
// hand-written gradient through the teacher against central finite differences in double (odd
// sizes, a padded batch), the accumulation contract, the value at pi = pi_ref, the bad-input rows
// DPO-xx, and the recipe on the built-in world's logs read back from a file.
#include "catch.hpp"
#include "grad_check.hpp"

#include <cmath>
#include <sstream>

#include "test_header.hpp"

using namespace dualrerank;

namespace {

model_config odd_teacher_config() {
    model_config c;
    c.features = 7;
    c.context = 5;
    c.d = 15;
    c.heads = 3;
    c.enc_layers = 1;
    c.dec_layers = 2;
    c.ffn = 33;
    c.max_slate = 6;
    c.max_candidates = 40;
    c.rank_embedding = true;
    return c;
}

template <class Model>
void perturb(Model& m, std::uint64_t seed, double scale) {
    rng g(seed);
    for (const auto& t : m.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) m.params()[t.offset + i] = scale * g.normal();
}

io::impression_page page_of(const model_config& c, int n, const slate& shown, const std::vector<float>& clicks, rng& g) {
    io::impression_page p;
    p.candidates.n = n;
    p.candidates.f = c.features;
    for (int i = 0; i < n * c.features; ++i) p.candidates.features.push_back(float(g.normal()));
    for (int i = 0; i < c.context; ++i) p.candidates.context.push_back(float(g.normal()));
    for (int i = 0; i < n; ++i) p.candidates.upstream_rank.push_back(int(g.below(std::uint64_t(n))));
    p.shown = shown;
    p.objectives = {"click"};
    p.feedback = clicks;
    return p;
}

}  // namespace

TEST_CASE("Rerank-DPO: the winner is the shown slate re-sorted by alpha / P + gamma * U", "[dpo]") {
    const slate shown = {5, 3, 9, 1};
    const float none[] = {0, 0, 0, 0};
    CHECK(train::rerank_dpo_winner(shown, none, 1.0, 1.0) == shown);
    const float third[] = {0, 0, 1, 0};  // S = 1, 0.5, 1.333, 0.25
    CHECK(train::rerank_dpo_winner(shown, third, 1.0, 1.0) == slate{9, 5, 3, 1});
    const float two[] = {0, 1, 0, 1};  // S = 1, 1.5, 0.333, 1.25
    CHECK(train::rerank_dpo_winner(shown, two, 1.0, 1.0) == slate{3, 1, 5, 9});
    const float counts[] = {1, 0, 0, 3};  // S = 2, 0.5, 0.333, 3.25
    CHECK(train::rerank_dpo_winner(shown, counts, 1.0, 1.0) == slate{1, 5, 3, 9});
    // gamma = 0: position only, the shown order; alpha = 0: clicks only, ties keep the shown order
    CHECK(train::rerank_dpo_winner(shown, third, 1.0, 0.0) == shown);
    CHECK(train::rerank_dpo_winner(shown, two, 0.0, 1.0) == slate{3, 1, 5, 9});
}

TEST_CASE("Rerank-DPO: pairs skip pages whose winner is the shown order; pi_ref is computed once", "[dpo]") {
    const model_config c = odd_teacher_config();
    ar_teacher<float> ref(c);
    ref.init(3);
    rng g(4);
    std::vector<io::impression_page> logs;
    logs.push_back(page_of(c, 9, {4, 2, 7}, {0, 0, 1}, g));
    logs.push_back(page_of(c, 6, {0, 1, 2}, {1, 0, 0}, g));  // a click on top: no pair
    logs.push_back(page_of(c, 6, {0, 1, 2}, {0, 0, 0}, g));  // no click: no pair
    logs.push_back(page_of(c, 11, {3, 1, 0, 8}, {0, 1, 0, 1}, g));
    const train::dpo_dataset<float> d = train::make_dpo_pairs(logs, ref, train::dpo_config{});
    CHECK(d.pages == 4);
    CHECK(d.skipped_equal == 2);
    REQUIRE(d.size() == 2);
    CHECK(d.winners[0] == slate{7, 4, 2});
    CHECK(d.losers[0] == slate{4, 2, 7});
    CHECK(d.winners[1] == slate{1, 8, 3, 0});
    // log pi_ref of each slate equals the teacher's own slate scorer (rank-decay weights 1)
    workspace ws;
    const float w[4] = {1, 1, 1, 1};
    float s[2];
    const std::vector<int> both = {1, 8, 3, 0, 3, 1, 0, 8};
    ref.score_slates(d.requests[1].view(), 2, 4, both.data(), w, s, ws);
    CHECK(d.ref_winner[1] == Approx(s[0]).epsilon(1e-5));
    CHECK(d.ref_loser[1] == Approx(s[1]).epsilon(1e-5));
    CHECK(d.ref_winner[1] < 0);
}

TEST_CASE("Rerank-DPO gradients match finite differences (padded batch, double)", "[dpo][gradients]") {
    const model_config c = odd_teacher_config();
    ar_teacher<double> ref(c), policy(c);
    perturb(ref, 11, 0.4);
    perturb(policy, 12, 0.4);  // pi != pi_ref, so the margin and sigmoid(-m) are not trivial
    rng g(13);
    std::vector<io::impression_page> logs;
    logs.push_back(page_of(c, 13, {3, 12, 0, 7, 5}, {0, 1, 0, 0, 1}, g));
    logs.push_back(page_of(c, 7, {6, 0, 2, 1, 4}, {0, 0, 0, 2, 0}, g));
    logs.push_back(page_of(c, 9, {8, 1, 2, 0, 5}, {1, 0, 1, 0, 0}, g));
    for (double beta : {0.1, 2.0}) {
        INFO("beta " << beta);
        train::dpo_config cfg;
        cfg.beta = beta;
        const train::dpo_dataset<double> d = train::make_dpo_pairs(logs, ref, cfg);
        REQUIRE(d.size() == 3);
        const int idx[3] = {0, 1, 2};
        workspace ws;
        auto loss = [&](std::vector<double>* grad) {
            ws.reset();
            std::vector<double> scratch;
            double* gp = grad ? grad->data() : (scratch.assign(policy.arena_size(), 0.0), scratch.data());
            return train::rerank_dpo_step(policy, d, idx, 3, cfg, gp, ws);
        };
        std::vector<double> grad(policy.arena_size(), 0.0);
        const double f0 = loss(&grad);
        CHECK(std::isfinite(f0));
        for (const auto& t : policy.table().tensors()) {
            std::vector<double> a(grad.begin() + std::ptrdiff_t(t.offset), grad.begin() + std::ptrdiff_t(t.offset + t.size));
            const std::size_t stride = t.size > 200 ? 5 : 1;
            const auto r = grad_check::check(policy.params() + t.offset, t.size, a, [&] { return loss(nullptr); }, 1e-5, stride, t.name);
            INFO(t.name << ": max |a - n| = " << r.max_abs << ", max |a| = " << r.scale << "; worst: " << r.worst);
            CHECK(r.scaled() < 1e-5);
        }
        // the reference's log-likelihoods are constants: changing the reference after the pairs
        // were made changes nothing
        perturb(ref, 99, 0.4);
        std::vector<double> grad2(policy.arena_size(), 0.0);
        CHECK(loss(&grad2) == f0);
        CHECK(grad2 == grad);
        perturb(ref, 11, 0.4);
    }
}

TEST_CASE("Rerank-DPO: gradients accumulate; at pi = pi_ref the loss is log 2", "[dpo]") {
    const model_config c = odd_teacher_config();
    ar_teacher<double> ref(c);
    perturb(ref, 21, 0.3);
    rng g(22);
    std::vector<io::impression_page> logs;
    logs.push_back(page_of(c, 10, {1, 2, 3, 4}, {0, 0, 0, 1}, g));
    logs.push_back(page_of(c, 12, {9, 2, 3, 4}, {0, 1, 1, 0}, g));
    const train::dpo_config cfg;
    const train::dpo_dataset<double> d = train::make_dpo_pairs(logs, ref, cfg);
    REQUIRE(d.size() == 2);
    const int idx[2] = {0, 1};
    workspace ws;
    std::vector<double> g1(ref.arena_size(), 0.0), g2(ref.arena_size(), 0.0);
    train::dpo_stats st;
    const double l1 = train::rerank_dpo_step(ref, d, idx, 2, cfg, g1.data(), ws, &st);
    CHECK(l1 == Approx(std::log(2.0)).epsilon(1e-12));
    CHECK(st.margin == Approx(0.0).margin(1e-12));
    ws.reset();
    train::rerank_dpo_step(ref, d, idx, 2, cfg, g2.data(), ws);
    ws.reset();
    train::rerank_dpo_step(ref, d, idx, 2, cfg, g2.data(), ws);
    double norm = 0;
    for (std::size_t i = 0; i < g1.size(); ++i) {
        CHECK(g2[i] == Approx(2 * g1[i]).margin(1e-14));
        norm += g1[i] * g1[i];
    }
    CHECK(norm > 0);
    // one optimizer step lowers the loss: the gradient points the right way
    train::trainer_config tc;
    tc.batch_size = 2;
    tc.optimizer.lr = 1e-3;
    tc.optimizer.weight_decay = 0;
    ar_teacher<double> policy = ref;
    train::trainer<ar_teacher<double>> tr(policy, tc);
    tr.step([&](double* grads, workspace& w) { return train::rerank_dpo_step(policy, d, idx, 2, cfg, grads, w); });
    ws.reset();
    std::vector<double> g3(ref.arena_size(), 0.0);
    CHECK(train::rerank_dpo_step(policy, d, idx, 2, cfg, g3.data(), ws, &st) < std::log(2.0));
    CHECK(st.accuracy == 1.0);
}

TEST_CASE("DPO-01 bad Rerank-DPO settings and data", "[dpo][bad_input]") {
    auto msg = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const input_error& e) {
            return std::string(e.what());
        }
        return std::string("<no input_error>");
    };
    auto has = [](const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; };
    train::dpo_config cfg;
    cfg.beta = 0;
    CHECK(has(msg([&] { cfg.validate(); }), "invalid dpo_config: beta must be finite and > 0"));
    cfg = {};
    cfg.alpha = -1;
    CHECK(has(msg([&] { cfg.validate(); }), "alpha must be finite and >= 0"));
    cfg = {};
    cfg.gamma = std::nan("");
    CHECK(has(msg([&] { cfg.validate(); }), "gamma must be finite and >= 0"));
    cfg = {};
    cfg.objective = "";
    CHECK(has(msg([&] { cfg.validate(); }), "objective must name a feedback objective"));

    const model_config c = odd_teacher_config();
    ar_teacher<float> ref(c);
    ref.init(1);
    rng g(2);
    std::vector<io::impression_page> logs = {page_of(c, 8, {1, 0}, {0, 1}, g)};
    logs[0].line = 5;
    cfg = {};
    cfg.objective = "purchase";
    CHECK(has(msg([&] { train::make_dpo_pairs(logs, ref, cfg); }), "the page of line 5 has no feedback objective \"purchase\""));
    // a page that does not fit the reference (F differs)
    model_config c2 = c;
    c2.features = 3;
    std::vector<io::impression_page> other = {page_of(c2, 8, {1, 0}, {0, 1}, g)};
    CHECK(has(msg([&] { train::make_dpo_pairs(other, ref, train::dpo_config{}); }), "feature width"));
    // no pair at all
    std::vector<io::impression_page> flat = {page_of(c, 8, {1, 0}, {0, 0}, g)};
    const auto d = train::make_dpo_pairs(flat, ref, train::dpo_config{});
    train::trainer<ar_teacher<float>> tr(ref, train::trainer_config{});
    CHECK(has(msg([&] { train::fit_rerank_dpo(tr, d, train::dpo_config{}, 1); }), "no preference pairs"));
    train::dpo_recipe_config rc;
    rc.steps = -1;
    CHECK(has(msg([&] { train::train_rerank_dpo_teacher(ref, logs, rc); }), "steps must be >= 0"));
}

TEST_CASE("Rerank-DPO recipe on the world's logs read back from a file", "[dpo][simulator]") {
    // exposure-pretrained reference on the shown slates, then DPO: the teacher moves toward Y_w
    const world w(world_config::small(), 3);
    std::stringstream file;
    write_world_logs(w, 0, 600, behaviour_policy{}, 5, file);
    const std::vector<io::impression_page> logs = io::read_impression_log(file, "logs.jsonl");
    REQUIRE(logs.size() == 600);
    model_config mc;
    mc.features = w.config().feature_dim;
    mc.context = w.config().context_dim;
    mc.d = 16;
    mc.heads = 2;
    mc.enc_layers = 1;
    mc.dec_layers = 1;
    mc.ffn = 32;
    mc.max_slate = w.slate_size();
    mc.max_candidates = w.num_candidates();
    ar_teacher<float> ref(mc);
    ref.init(7);
    {
        train::slate_dataset<float> ds;
        ds.L = w.slate_size();
        for (const auto& p : logs) {
            ds.requests.push_back(p.candidates);
            ds.targets.push_back(p.shown);
        }
        train::trainer_config tc;
        tc.optimizer.lr = 2e-3;
        train::trainer<ar_teacher<float>> tr(ref, tc);
        train::fit_supervised(tr, ds, 60);
    }
    train::dpo_recipe_config rc;
    rc.steps = 40;
    rc.trainer.optimizer.lr = 1e-3;
    train::dpo_report rep;
    const ar_teacher<float> dpo = train::train_rerank_dpo_teacher(ref, logs, rc, &rep);
    CHECK(rep.pages == 600);
    CHECK(rep.pairs + rep.skipped_equal == 600);
    CHECK(rep.pairs > 100);  // about 15% clicks per examined slot: many pages have a click below the top
    CHECK(rep.evaluated == rep.pairs);
    CHECK(rep.final_loss < std::log(2.0) - 0.01);
    CHECK(rep.final_accuracy > 0.6);
    // the reference is untouched (a copy was trained)
    const auto d = train::make_dpo_pairs(logs, ref, rc.dpo);
    const train::dpo_stats at_ref = train::evaluate_rerank_dpo(ref, d, rc.dpo);
    CHECK(at_ref.loss == Approx(std::log(2.0)).epsilon(1e-6));
    // same seed, same teacher
    const ar_teacher<float> again = train::train_rerank_dpo_teacher(ref, logs, rc);
    CHECK(std::equal(dpo.params(), dpo.params() + dpo.arena_size(), again.params()));
}
