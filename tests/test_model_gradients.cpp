// End-to-end gradient checks of the three models against central finite differences, in double,
// with odd sizes (d = 15, h = 3, FFN 33, N = 13 and 7 in one padded batch) so every loop tail
// and the padding masks are exercised. The loss is a random linear functional of the outputs,
// so every output entry's gradient path is tested.
#include <map>

#include "catch.hpp"
#include "grad_check.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_model_gradients {

using namespace dualrerank;

namespace {

model_config odd_config() {
    model_config c;
    c.features = 7;
    c.context = 5;
    c.d = 15;
    c.heads = 3;
    c.enc_layers = 2;
    c.dec_layers = 2;
    c.ffn = 33;
    c.max_slate = 6;
    c.max_candidates = 40;
    c.rank_embedding = true;
    c.outputs = 2;
    return c;
}

std::vector<request<double>> make_requests(const model_config& c, std::vector<int> sizes, std::uint64_t seed) {
    rng g(seed);
    std::vector<request<double>> out;
    for (int n : sizes) {
        request<double> r;
        r.n = n;
        r.f = c.features;
        for (int i = 0; i < n * c.features; ++i) r.features.push_back(g.normal());
        for (int i = 0; i < c.context; ++i) r.context.push_back(g.normal());
        for (int i = 0; i < n; ++i) r.upstream_rank.push_back(int(g.below(std::uint64_t(n))));
        out.push_back(std::move(r));
    }
    return out;
}

template <class Model>
void perturb_all(Model& m, std::uint64_t seed) {
    // Random (non-default) values everywhere, so LayerNorm gains/biases are exercised too.
    rng g(seed);
    for (const auto& t : m.table().tensors())
        for (std::size_t i = 0; i < t.size; ++i) m.params()[t.offset + i] = 0.4 * g.normal();
}

/// Checks every parameter (stride chosen to keep the run short) and reports per tensor.
/// Tolerance: max |analytic - numeric| <= tol * max |analytic| per tensor (h = 1e-5, double).
template <class Model>
void check_model(Model& m, const std::function<double(std::vector<double>*)>& loss, double tol) {
    std::vector<double> grad(m.arena_size(), 0.0);
    loss(&grad);
    for (const auto& t : m.table().tensors()) {
        std::vector<double> a(grad.begin() + t.offset, grad.begin() + t.offset + t.size);
        const std::size_t stride = t.size > 200 ? 7 : 1;
        auto r = grad_check::check(m.params() + t.offset, t.size, a, [&] { return loss(nullptr); }, 1e-5, stride, t.name);
        INFO(t.name << ": max |a - n| = " << r.max_abs << ", max |a| = " << r.scale << "; worst relative: " << r.worst);
        CHECK(r.scaled() < tol);
    }
}

}  // namespace

TEST_CASE("nar_student gradients match finite differences (padded batch, double)", "[gradients][student]") {
    const auto c = odd_config();
    nar_student<double> s(c);
    perturb_all(s, 1);
    auto reqs = make_requests(c, {13, 7}, 2);
    std::vector<request_view<double>> views{reqs[0].view(), reqs[1].view()};
    const int L = 5;
    rng g(3);
    std::vector<double> R(2 * L * 13);
    for (auto& v : R) v = g.normal();
    workspace ws;
    auto loss = [&](std::vector<double>* grad) {
        ws.reset();
        auto cache = s.forward(views.data(), 2, L, ws);
        double f = 0;
        std::vector<double> dZ(R.size(), 0.0);
        for (std::size_t i = 0; i < R.size(); ++i)
            if (std::isfinite(cache.Z[i])) {
                f += R[i] * cache.Z[i];
                dZ[i] = R[i];
            }
        if (grad) s.backward(cache, dZ.data(), grad->data(), ws);
        return f;
    };
    check_model(s, loss, 1e-5);
}

TEST_CASE("ar_teacher gradients match finite differences (padded batch, double)", "[gradients][teacher]") {
    const auto c = odd_config();
    ar_teacher<double> t(c);
    perturb_all(t, 4);
    auto reqs = make_requests(c, {13, 7}, 5);
    std::vector<request_view<double>> views{reqs[0].view(), reqs[1].view()};
    const int L = 5;
    std::vector<int> targets = {3, 12, 0, 7, 5, /**/ 6, 0, 2, 1, 4};
    rng g(6);
    std::vector<double> R(2 * L * 13);
    for (auto& v : R) v = g.normal();
    workspace ws;
    auto loss = [&](std::vector<double>* grad) {
        ws.reset();
        auto cache = t.forward(views.data(), 2, L, targets.data(), ws);
        double f = 0;
        std::vector<double> dZ(R.size(), 0.0);
        for (std::size_t i = 0; i < R.size(); ++i)
            if (std::isfinite(cache.Z[i])) {
                f += R[i] * cache.Z[i];
                dZ[i] = R[i];
            }
        if (grad) t.backward(cache, dZ.data(), grad->data(), ws);
        return f;
    };
    check_model(t, loss, 1e-5);
}

TEST_CASE("list_evaluator gradients match finite differences (double)", "[gradients][evaluator]") {
    const auto c = odd_config();
    list_evaluator<double> e(c);
    perturb_all(e, 7);
    auto reqs = make_requests(c, {13}, 8);
    const int K = 3, L = 5;
    std::vector<int> slates = {3, 12, 0, 7, 5, 1, 2, 3, 4, 5, 12, 11, 10, 9, 8};
    rng g(9);
    std::vector<double> R(K * L * c.outputs);
    for (auto& v : R) v = g.normal();
    workspace ws;
    auto loss = [&](std::vector<double>* grad) {
        ws.reset();
        auto cache = e.forward(reqs[0].view(), K, L, slates.data(), ws);
        double f = 0;
        for (std::size_t i = 0; i < R.size(); ++i) f += R[i] * cache.E[i];
        if (grad) e.backward(cache, R.data(), grad->data(), ws);
        return f;
    };
    check_model(e, loss, 1e-5);
}

}  // namespace dualrerank_test_model_gradients
