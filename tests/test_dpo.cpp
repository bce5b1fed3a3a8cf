// Rerank-DPO (include/dualrerank/train/dpo.hpp, docs/design.md section 10.4): the pairs (Y_w is the
// shown slate re-sorted by alpha / P_i + gamma * U_i, Y_l the shown order), the loss and its
// hand-written gradient through the teacher against central finite differences in double (odd
// sizes, a padded batch), the accumulation contract, the value at pi = pi_ref, the bad-input rows
// DPO-xx, the recipe on the built-in world's logs read back from a file, and a 60-step training
// curve against PyTorch autograd (python/dpo_curve.py; fixture in tests/data/golden/, regenerated
// live by python/check_training_parity.sh).
#include "catch.hpp"
#include "grad_check.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>

#include "fixture_io.hpp"
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
    for (const auto& bs : {std::pair<double, double>{0.1, 0.0}, {2.0, 0.0}, {0.1, 0.7}}) {
        INFO("beta " << bs.first << ", sft " << bs.second);
        train::dpo_config cfg;
        cfg.beta = bs.first;
        cfg.sft = bs.second;
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
    cfg = {};
    cfg.sft = -0.5;
    CHECK(has(msg([&] { cfg.validate(); }), "sft must be finite and >= 0"));

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
    CHECK(rc.dpo.sft == 0.1);  // the recipe's documented default (docs/logs.md); GReF's loss below
    rc.dpo.sft = 0.0;
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

// ------------------------------------------------------------------ parity with PyTorch autograd

namespace {

namespace fs = std::filesystem;

/// $DUALRERANK_FIXTURE_DIR/dpo_curve.fixture.safetensors when it exists (regenerated live with
/// torch by python/check_training_parity.sh), else the committed one in tests/data/golden/.
fs::path dpo_fixture() {
    const char* name = "dpo_curve.fixture.safetensors";
    if (const char* env = std::getenv("DUALRERANK_FIXTURE_DIR"))
        if (*env && fs::exists(fs::path(env) / name)) return fs::path(env) / name;
    return fs::path(DUALRERANK_SOURCE_DIR) / "tests" / "data" / "golden" / name;
}

model_config config_of(const fixture_io::json& j) {
    model_config c;
    c.features = int(j.at("features").integer());
    c.context = int(j.at("context").integer());
    c.d = int(j.at("d").integer());
    c.heads = int(j.at("heads").integer());
    c.enc_layers = int(j.at("enc_layers").integer());
    c.dec_layers = int(j.at("dec_layers").integer());
    c.ffn = int(j.at("ffn").integer());
    c.max_slate = int(j.at("max_slate").integer());
    c.max_candidates = int(j.at("max_candidates").integer());
    c.rank_embedding = j.at("rank_embedding").boolean();
    c.outputs = int(j.at("outputs").integer());
    return c;
}

void init_portable(ar_teacher<double>& m, const fixture_io::safetensors& fx, const std::string& prefix) {
    const fixture_io::json init = fixture_io::json::parse(fx.meta(prefix + ".init"));
    REQUIRE(init.at("generator").string() == "splitmix64-v1");
    const fixture_io::json& specs = init.at("tensors");
    REQUIRE(specs.obj.size() == m.table().tensors().size());
    const auto seed = std::uint64_t(init.at("seed").integer());
    for (const auto& t : m.table().tensors()) {
        INFO(prefix << ": tensor " << t.name);
        const fixture_io::json* s = specs.find(t.name);
        REQUIRE(s != nullptr);
        fixture_io::fill_portable(m.tensor(t.name), t.size, seed, t.name, *s);
    }
}

double rel_err(double got, double ref) { return std::abs(got - ref) / std::max(std::abs(ref), 1e-300); }

}  // namespace

TEST_CASE("Rerank-DPO training curve matches PyTorch autograd (double)", "[dpo][parity][training]") {
    const fs::path path = dpo_fixture();
    INFO("fixture " << path.string());
    REQUIRE(fs::exists(path));
    const fixture_io::safetensors fx = fixture_io::safetensors::open(path.string());
    REQUIRE(fx.meta("format") == "dualrerank-dpo-curve");
    REQUIRE(fx.meta("fixture_version") == "1");
    const model_config cfg = config_of(fixture_io::json::parse(fx.meta("config")));
    const fixture_io::json oj = fixture_io::json::parse(fx.meta("optimizer"));
    train::adamw_config opt;
    opt.lr = oj.at("lr").number();
    opt.beta1 = oj.at("beta1").number();
    opt.beta2 = oj.at("beta2").number();
    opt.eps = oj.at("eps").number();
    opt.weight_decay = oj.at("weight_decay").number();
    opt.clip_norm = oj.at("clip_norm").number();
    opt.warmup_steps = long(oj.at("warmup_steps").integer());
    opt.total_steps = long(oj.at("total_steps").integer());
    opt.min_lr_ratio = oj.at("min_lr_ratio").number();
    train::dpo_config dc;
    dc.alpha = std::stod(fx.meta("alpha"));
    dc.gamma = std::stod(fx.meta("gamma"));
    dc.beta = std::stod(fx.meta("beta"));
    dc.sft = std::stod(fx.meta("sft"));
    CHECK(dc.sft > 0);  // the fixture exercises the supervised anchor too
    const int L = std::stoi(fx.meta("L")), B = std::stoi(fx.meta("batch")), steps = std::stoi(fx.meta("steps"));
    const int R = std::stoi(fx.meta("requests")), P = std::stoi(fx.meta("pairs"));

    // requests
    const auto n = fx.get<int>("data.n");
    REQUIRE(int(n.size()) == R);
    const auto feats = fx.get<double>("data.features");
    const auto ranks = fx.get<int>("data.upstream_rank");
    const std::vector<std::size_t> cshape = {std::size_t(R), std::size_t(cfg.context)};
    const auto ctx = fx.get<double>("data.context", &cshape);
    std::vector<request<double>> reqs;
    std::size_t row = 0;
    for (int r = 0; r < R; ++r) {
        request<double> q;
        q.n = n[std::size_t(r)];
        q.f = cfg.features;
        REQUIRE((row + std::size_t(q.n)) * std::size_t(cfg.features) <= feats.size());
        q.features.assign(feats.begin() + std::ptrdiff_t(row * cfg.features), feats.begin() + std::ptrdiff_t((row + q.n) * cfg.features));
        q.context.assign(ctx.begin() + std::ptrdiff_t(r) * cfg.context, ctx.begin() + std::ptrdiff_t(r + 1) * cfg.context);
        q.upstream_rank.assign(ranks.begin() + std::ptrdiff_t(row), ranks.begin() + std::ptrdiff_t(row + q.n));
        row += std::size_t(q.n);
        reqs.push_back(std::move(q));
    }

    // pairs: the C++ winner rule must give the fixture's winners, the C++ reference its log-likelihoods
    const auto preq = fx.get<int>("pairs.request");
    const std::vector<std::size_t> pshape = {std::size_t(P), std::size_t(L)}, p1 = {std::size_t(P)};
    const auto pw = fx.get<int>("pairs.winner", &pshape);
    const auto pl = fx.get<int>("pairs.loser", &pshape);
    const auto rw = fx.get<double>("pairs.ref_winner", &p1);
    const auto rl = fx.get<double>("pairs.ref_loser", &p1);
    ar_teacher<double> ref(cfg), m(cfg);
    init_portable(ref, fx, "reference");
    init_portable(m, fx, "dpo");
    train::dpo_dataset<double> d;
    workspace ws;
    double worst_ref = 0;
    for (int i = 0; i < P; ++i) {
        const int r = preq[std::size_t(i)];
        REQUIRE((r >= 0 && r < R));
        d.requests.push_back(reqs[std::size_t(r)]);
        d.winners.emplace_back(pw.begin() + std::ptrdiff_t(i) * L, pw.begin() + std::ptrdiff_t(i + 1) * L);
        d.losers.emplace_back(pl.begin() + std::ptrdiff_t(i) * L, pl.begin() + std::ptrdiff_t(i + 1) * L);
        double ll[2];
        const request_view<double> v[2] = {d.requests.back().view(), d.requests.back().view()};
        std::vector<int> both(d.winners.back());
        both.insert(both.end(), d.losers.back().begin(), d.losers.back().end());
        ws.reset();
        train::teacher_log_likelihoods(ref, v, 2, L, both.data(), ll, ws);
        worst_ref = std::max({worst_ref, rel_err(ll[0], rw[std::size_t(i)]), rel_err(ll[1], rl[std::size_t(i)])});
        d.ref_winner.push_back(ll[0]);
        d.ref_loser.push_back(ll[1]);
    }
    INFO("reference log-likelihoods: max rel diff " << worst_ref);
    CHECK(worst_ref <= 1e-9);

    // the curve
    const std::vector<std::size_t> sshape = {std::size_t(steps), std::size_t(B)}, s1 = {std::size_t(steps)};
    const auto schedule = fx.get<int>("schedule", &sshape);
    const auto ref_loss = fx.get<double>("dpo.loss", &s1);
    const auto ref_norm = fx.get<double>("dpo.grad_norm", &s1);
    train::trainer_config tc;
    tc.optimizer = opt;
    tc.batch_size = B;
    tc.max_bad_steps = 1;
    tc.log = nullptr;
    train::trainer<ar_teacher<double>> tr(m, tc);
    double worst_loss = 0, worst_norm = 0;
    for (int s = 0; s < steps; ++s) {
        const int* idx = schedule.data() + std::size_t(s) * B;
        const train::step_report rep = tr.step([&](double* g, workspace& w) { return train::rerank_dpo_step(m, d, idx, B, dc, g, w); });
        REQUIRE(rep.applied);
        INFO("step " << s + 1 << ": C++ loss " << rep.loss << ", PyTorch " << ref_loss[std::size_t(s)] << "; grad norm "
                     << rep.grad_norm << " vs " << ref_norm[std::size_t(s)]);
        CHECK(rel_err(rep.loss, ref_loss[std::size_t(s)]) <= 1e-9);
        CHECK(rel_err(rep.grad_norm, ref_norm[std::size_t(s)]) <= 1e-9);
        worst_loss = std::max(worst_loss, rel_err(rep.loss, ref_loss[std::size_t(s)]));
        worst_norm = std::max(worst_norm, rel_err(rep.grad_norm, ref_norm[std::size_t(s)]));
    }
    // final weights (the attention key biases: exactly zero gradient, Adam amplifies rounding noise)
    const std::size_t dm = std::size_t(cfg.d);
    auto key_bias = [&](const std::string& name, std::size_t i) {
        auto ends = [&](const std::string& suf) { return name.size() >= suf.size() && name.compare(name.size() - suf.size(), suf.size(), suf) == 0; };
        if (ends(".qkv.bias")) return i >= dm && i < 2 * dm;
        if (ends(".kv.bias")) return i < dm;
        return false;
    };
    double worst_w = 0;
    for (const auto& t : m.table().tensors()) {
        const std::string key = "dpo.final." + t.name;
        INFO("final weights " << key);
        REQUIRE(fx.has(key));
        const auto w_ref = fx.get<double>(key, &t.shape);
        const double* w = m.tensor(t.name);
        double scale = 0, err = 0, err_kb = 0;
        for (std::size_t i = 0; i < t.size; ++i) {
            scale = std::max(scale, std::abs(w_ref[i]));
            const double e = std::abs(w[i] - w_ref[i]);
            (key_bias(t.name, i) ? err_kb : err) = std::max(key_bias(t.name, i) ? err_kb : err, e);
        }
        CHECK(err <= 1e-9 * std::max(scale, 1e-300));
        CHECK(err_kb <= 1e-6 * std::max(scale, 1e-300));
        worst_w = std::max(worst_w, scale > 0 ? err / scale : err);
    }
    std::cout << "  [training] rerank-dpo f64: loss " << ref_loss.front() << " -> " << ref_loss.back() << " over " << steps
              << " steps (" << P << " pairs); max rel diff: loss " << worst_loss << ", grad norm " << worst_norm
              << ", reference log-likelihoods " << worst_ref << ", final weights " << worst_w << "\n";
}
