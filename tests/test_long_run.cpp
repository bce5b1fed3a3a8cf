// A long training run on a small world with periodic bad batches: the student is trained toward the
// world's true-appeal slates for 100k steps (tag [long], hidden from the default CTest run; run it
// with `dualrerank_tests "[long]"`), and a 3k-step version of the same run is in the default suite.
// Bad batches are injected on purpose, on the path that bypasses request validation:
//   * the loss callable returns NaN or Inf (a loss that blew up),
//   * the loss is finite but a NaN reaches the logit gradients (a bad batch past validation),
//   * three bad steps in a row (fewer than max_bad_steps, so training goes on).
// Every such step must be skipped and counted with the weights untouched; at the end every weight
// is finite and the loss has gone down.
#include "test_util.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

using namespace dualrerank;

namespace {

struct long_run_result {
    long steps = 0, injected = 0, injected_gradient = 0;
    long bad_steps = 0, optimizer_skipped = 0, optimizer_steps = 0;
    bool weights_finite = false;
    double first_loss = 0, last_loss = 0, seconds = 0;
};

long_run_result long_run(long steps) {
    const world w(world_config::small(), 11);
    model_config c;
    c.features = w.config().feature_dim;
    c.context = w.config().context_dim;
    c.d = 8;
    c.heads = 2;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 16;
    c.max_slate = w.slate_size();
    c.max_candidates = w.num_candidates();
    nar_student<float> s(c);
    s.init(5);

    // a small training set: requests and the world's true-appeal slates
    std::vector<request<float>> reqs;
    std::vector<slate> targets;
    for (std::uint64_t i = 0; i < 256; ++i) {
        const sim_request r = w.make_request(i);
        reqs.push_back(r.observed);
        targets.push_back(appeal_sort(w, r));
    }
    const int L = w.slate_size(), B = 4;
    train::trainer_config tc;
    tc.batch_size = B;
    tc.optimizer.lr = 3e-3;
    tc.optimizer.warmup_steps = 100;
    tc.optimizer.total_steps = steps;
    tc.log = nullptr;
    train::trainer<nar_student<float>> tr(s, tc);

    std::vector<int> idx, y(std::size_t(B) * L);
    std::vector<request_view<float>> views(B);
    long_run_result res;
    res.steps = steps;
    double early = 0, late = 0;
    long early_n = 0, late_n = 0;
    long i = 0;
    const long window = std::min(2000L, steps / 4);
    const auto t0 = std::chrono::steady_clock::now();
    tr.run(steps, [&](float* grads, workspace& ws, rng& gen) -> double {
        const long step = i++;
        const long phase = step % 1000;
        // a loss that blew up: NaN or Inf, nothing computed
        if (phase == 500 || (step % 25000 >= 100 && step % 25000 < 103)) {
            ++res.injected;
            return (step % 2) ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
        }
        train::draw_batch(gen, reqs.size(), B, idx);
        for (int b = 0; b < B; ++b) {
            views[b] = reqs[idx[b]].view();
            std::copy(targets[idx[b]].begin(), targets[idx[b]].end(), y.begin() + std::size_t(b) * L);
        }
        auto cache = s.forward(views.data(), B, L, ws);
        float* dZ = ws.alloc_zero<float>(std::size_t(B) * L * cache.n);
        float* scratch = ws.alloc<float>(cache.n);
        double loss = 0;
        for (int b = 0; b < B; ++b)
            loss += double(train::slot_cross_entropy(cache.Z + std::size_t(b) * L * cache.n, L, cache.n, cache.n,
                                                     y.data() + std::size_t(b) * L, true, static_cast<const float*>(nullptr),
                                                     1.0f / B, dZ + std::size_t(b) * L * cache.n, scratch));
        if (phase == 900) {  // a finite loss whose gradient is poisoned on the way to backward
            ++res.injected;
            ++res.injected_gradient;
            dZ[std::size_t(gen.below(std::uint64_t(B) * L * cache.n))] = std::numeric_limits<float>::quiet_NaN();
        }
        s.backward(cache, dZ, grads, ws);
        loss /= B;
        if (step < window) {
            early += loss;
            ++early_n;
        } else if (step >= steps - window) {
            late += loss;
            ++late_n;
        }
        return loss;
    });
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.bad_steps = tr.bad_steps();
    res.optimizer_skipped = tr.optimizer().skipped();
    res.optimizer_steps = tr.optimizer().steps();
    res.weights_finite = train::all_finite(s.params(), s.arena_size());
    res.first_loss = early / double(std::max(early_n, 1L));
    res.last_loss = late / double(std::max(late_n, 1L));
    return res;
}

void check(const long_run_result& r) {
    INFO("steps " << r.steps << ", injected " << r.injected << " (" << r.injected_gradient << " through the gradient), skipped "
                  << r.bad_steps << ", optimizer skipped " << r.optimizer_skipped << ", loss " << r.first_loss << " -> "
                  << r.last_loss << ", " << r.seconds << " s");
    CHECK(r.injected > 0);
    CHECK(r.bad_steps == r.injected);                   // every bad batch skipped and counted, nothing else
    CHECK(r.optimizer_skipped == r.injected_gradient);  // finite loss, NaN gradient: the optimizer's own check
    CHECK(r.optimizer_steps == r.steps - r.injected);   // every other step applied
    CHECK(r.weights_finite);
    CHECK(r.last_loss < 0.9 * r.first_loss);
}

}  // namespace

TEST_CASE("long run: 3k training steps with bad batches end with finite weights", "[training][bad_input]") {
    check(long_run(3000));
}

TEST_CASE("long run: 100k training steps with bad batches end with finite weights", "[.long][training][bad_input]") {
    const long_run_result r = long_run(100000);
    std::printf("long run: %ld steps in %.1f s, %ld bad batches injected (%ld through the gradient), %ld skipped, "
                "loss %.4f -> %.4f, weights finite: %s\n",
                r.steps, r.seconds, r.injected, r.injected_gradient, r.bad_steps, r.first_loss, r.last_loss,
                r.weights_finite ? "yes" : "no");
    check(r);
}
