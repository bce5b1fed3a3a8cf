// Per-layer gradient checks: every layer's backward against central finite differences in
// double, with odd sizes (7, 13, 33) so SIMD tails are hit, and the accumulation contract
// (backward ADDS into dx and the gradient arena: two passes give exactly twice the gradients).
// Tolerance: max |analytic - numeric| <= 1e-6 * max |analytic| per tensor (h = 1e-5).
#include <functional>

#include "grad_check.hpp"
#include "test_util.hpp"

using namespace dualrerank;

namespace {

struct harness {
    tensor_table table;
    std::vector<double> P, G;
    void allocate(std::uint64_t seed) {
        P.assign(table.total(), 0.0);
        G.assign(table.total(), 0.0);
        rng g(seed);
        for (auto& v : P) v = 0.5 * g.normal();
    }
};

std::vector<double> randn(std::size_t n, rng& g, double s = 1.0) {
    std::vector<double> v(n);
    for (auto& x : v) x = s * g.normal();
    return v;
}

/// loss = sum(R * y(x, P)); checks dL/dx and dL/dP (every tensor), and the accumulation contract.
void check_layer(harness& h, std::vector<double>& x, const std::vector<double>& R,
                 const std::function<void(std::vector<double>& y)>& fwd,
                 const std::function<void(const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G)>& bwd) {
    auto loss = [&] {
        std::vector<double> y;
        fwd(y);
        double f = 0;
        for (std::size_t i = 0; i < y.size(); ++i) f += R[i] * y[i];
        return f;
    };
    std::vector<double> dx(x.size(), 0.0);
    std::fill(h.G.begin(), h.G.end(), 0.0);
    bwd(R, dx, h.G);
    auto rx = grad_check::check(x.data(), x.size(), dx, loss, 1e-5, 1, "x");
    INFO("input: " << rx.worst);
    CHECK(rx.scaled() < 1e-6);
    for (const auto& t : h.table.tensors()) {
        std::vector<double> a(h.G.begin() + t.offset, h.G.begin() + t.offset + t.size);
        auto r = grad_check::check(h.P.data() + t.offset, t.size, a, loss, 1e-5, 1, t.name);
        INFO(t.name << ": " << r.worst);
        CHECK(r.scaled() < 1e-6);
    }
    // accumulation: a second backward pass doubles everything
    std::vector<double> dx2 = dx, G2 = h.G;
    bwd(R, dx2, G2);
    for (std::size_t i = 0; i < dx.size(); ++i) CHECK(std::fabs(dx2[i] - 2 * dx[i]) <= 1e-12 * (1 + std::fabs(dx[i])));
    for (std::size_t i = 0; i < h.G.size(); ++i) CHECK(std::fabs(G2[i] - 2 * h.G[i]) <= 1e-12 * (1 + std::fabs(h.G[i])));
}

}  // namespace

TEST_CASE("linear: gradients and accumulation (odd sizes)", "[gradients][layers]") {
    for (auto [n, in, out] : {std::tuple{7, 13, 33}, std::tuple{13, 33, 7}, std::tuple{1, 7, 13}}) {
        harness h;
        auto l = nn::linear::make(h.table, "l", in, out, true);
        h.allocate(1);
        rng g(2);
        auto x = randn(std::size_t(n) * in, g);
        auto R = randn(std::size_t(n) * out, g);
        check_layer(
            h, x, R, [&](std::vector<double>& y) { y.assign(std::size_t(n) * out, 0.0); l.forward(h.P.data(), x.data(), n, y.data()); },
            [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
                l.backward(h.P.data(), x.data(), dy.data(), n, dx.data(), G.data());
            });
    }
}

TEST_CASE("layer_norm: gradients and accumulation", "[gradients][layers]") {
    for (int d : {7, 13, 33}) {
        harness h;
        auto ln = nn::layer_norm::make(h.table, "ln", d);
        h.allocate(3);
        rng g(4);
        const int n = 5;
        auto x = randn(std::size_t(n) * d, g, 2.0);
        auto R = randn(std::size_t(n) * d, g);
        std::vector<double> mean(n), rstd(n);
        check_layer(
            h, x, R,
            [&](std::vector<double>& y) {
                y.assign(std::size_t(n) * d, 0.0);
                ln.forward(h.P.data(), x.data(), n, y.data(), mean.data(), rstd.data());
            },
            [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
                std::vector<double> y(std::size_t(n) * d);
                ln.forward(h.P.data(), x.data(), n, y.data(), mean.data(), rstd.data());
                ln.backward(h.P.data(), x.data(), mean.data(), rstd.data(), dy.data(), n, dx.data(), G.data());
            });
    }
}

TEST_CASE("GELU FFN: gradients and accumulation", "[gradients][layers]") {
    harness h;
    const int n = 7, d = 13, hid = 33;
    auto f = nn::ffn::make(h.table, "ffn", d, hid);
    h.allocate(5);
    rng g(6);
    auto x = randn(std::size_t(n) * d, g);
    auto R = randn(std::size_t(n) * d, g);
    std::vector<double> pre(std::size_t(n) * hid), act(std::size_t(n) * hid), scratch(std::size_t(n) * hid);
    check_layer(
        h, x, R,
        [&](std::vector<double>& y) {
            y.assign(std::size_t(n) * d, 0.0);
            f.forward(h.P.data(), x.data(), n, y.data(), pre.data(), act.data());
        },
        [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
            std::vector<double> y(std::size_t(n) * d);
            f.forward(h.P.data(), x.data(), n, y.data(), pre.data(), act.data());
            f.backward(h.P.data(), x.data(), pre.data(), act.data(), dy.data(), n, dx.data(), G.data(), scratch.data());
        });
}

TEST_CASE("self-attention (bidirectional, causal, padded keys): gradients and accumulation", "[gradients][layers]") {
    for (bool causal : {false, true}) {
        for (bool padded : {false, true}) {
            harness h;
            const int groups = 2, n = 7, d = 15, heads = 3;
            auto sa = nn::self_attention::make(h.table, "attn", d, heads, causal);
            h.allocate(7);
            rng g(8);
            auto x = randn(std::size_t(groups) * n * d, g);
            auto R = randn(std::size_t(groups) * n * d, g);
            std::vector<int> len = {7, 4};
            const int* kl = padded ? len.data() : nullptr;
            std::vector<double> qkv(std::size_t(groups) * n * 3 * d), probs(std::size_t(groups) * heads * n * n),
                ctx(std::size_t(groups) * n * d), scratch(std::size_t(groups) * n * 4 * d + std::size_t(n) * n);
            check_layer(
                h, x, R,
                [&](std::vector<double>& y) {
                    y.assign(std::size_t(groups) * n * d, 0.0);
                    sa.forward(h.P.data(), x.data(), groups, n, kl, y.data(), qkv.data(), probs.data(), ctx.data());
                },
                [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
                    std::vector<double> y(std::size_t(groups) * n * d);
                    sa.forward(h.P.data(), x.data(), groups, n, kl, y.data(), qkv.data(), probs.data(), ctx.data());
                    sa.backward(h.P.data(), x.data(), groups, n, kl, qkv.data(), probs.data(), ctx.data(), dy.data(), dx.data(),
                                G.data(), scratch.data());
                });
        }
    }
}

TEST_CASE("cross-attention: gradients w.r.t. queries, memory and weights", "[gradients][layers]") {
    harness h;
    const int groups = 2, nq = 5, nk = 13, d = 12, heads = 4;
    auto ca = nn::cross_attention::make(h.table, "cross", d, heads);
    h.allocate(9);
    rng g(10);
    // one input vector holding [queries | memory] so both gradients are checked
    const std::size_t mq = std::size_t(groups) * nq * d, mk = std::size_t(groups) * nk * d;
    auto x = randn(mq + mk, g);
    auto R = randn(mq, g);
    std::vector<int> len = {13, 9};
    std::vector<double> kv(std::size_t(groups) * nk * 2 * d), qb(mq), probs(std::size_t(groups) * heads * nq * nk), ctx(mq),
        scratch(mq * 2 + std::size_t(nq) * nk);
    check_layer(
        h, x, R,
        [&](std::vector<double>& y) {
            y.assign(mq, 0.0);
            ca.project_memory(h.P.data(), x.data() + mq, groups * nk, kv.data());
            ca.forward(h.P.data(), x.data(), kv.data(), groups, nq, nk, nk, len.data(), y.data(), qb.data(), probs.data(), ctx.data());
        },
        [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
            std::vector<double> y(mq), dkv(kv.size(), 0.0);
            ca.project_memory(h.P.data(), x.data() + mq, groups * nk, kv.data());
            ca.forward(h.P.data(), x.data(), kv.data(), groups, nq, nk, nk, len.data(), y.data(), qb.data(), probs.data(), ctx.data());
            ca.backward(h.P.data(), x.data(), kv.data(), groups, nq, nk, nk, len.data(), qb.data(), probs.data(), ctx.data(),
                        dy.data(), dx.data(), dkv.data(), G.data(), scratch.data());
            ca.backward_memory(h.P.data(), x.data() + mq, groups * nk, dkv.data(), dx.data() + mq, G.data());
        });
}

TEST_CASE("encoder and decoder blocks (incl. shared memory): gradients and accumulation", "[gradients][layers]") {
    SECTION("encoder block, causal, padded") {
        harness h;
        const int groups = 2, n = 7, d = 15;
        auto b = nn::encoder_block::make(h.table, "blk", d, 3, 33, true);
        h.allocate(11);
        rng g(12);
        auto x = randn(std::size_t(groups) * n * d, g);
        auto R = randn(x.size(), g);
        std::vector<int> len = {7, 5};
        workspace ws;
        nn::encoder_block_cache<double> c;
        check_layer(
            h, x, R,
            [&](std::vector<double>& y) {
                ws.reset();
                c = b.alloc_cache<double>(ws, groups, n);
                y.assign(x.size(), 0.0);
                b.forward(h.P.data(), x.data(), groups, n, len.data(), y.data(), c);
            },
            [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
                ws.reset();
                c = b.alloc_cache<double>(ws, groups, n);
                std::vector<double> y(x.size());
                b.forward(h.P.data(), x.data(), groups, n, len.data(), y.data(), c);
                b.backward(h.P.data(), x.data(), groups, n, len.data(), c, dy.data(), dx.data(), G.data(), ws);
            });
    }
    for (int mem_groups : {2, 1}) {
        harness h;
        const int groups = 2, nq = 5, nk = 7, d = 12;
        auto b = nn::decoder_block::make(h.table, "dec", d, 3, 13, true);
        h.allocate(13);
        rng g(14);
        const std::size_t mq = std::size_t(groups) * nq * d, mk = std::size_t(mem_groups) * nk * d;
        auto x = randn(mq + mk, g);
        auto R = randn(mq, g);
        workspace ws;
        nn::decoder_block_cache<double> c;
        check_layer(
            h, x, R,
            [&](std::vector<double>& y) {
                ws.reset();
                c = b.alloc_cache<double>(ws, groups, nq, nk);
                y.assign(mq, 0.0);
                b.forward(h.P.data(), x.data(), x.data() + mq, groups, nq, nk, nullptr, y.data(), c, mem_groups);
            },
            [&](const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& G) {
                ws.reset();
                c = b.alloc_cache<double>(ws, groups, nq, nk);
                std::vector<double> y(mq);
                b.forward(h.P.data(), x.data(), x.data() + mq, groups, nq, nk, nullptr, y.data(), c, mem_groups);
                b.backward(h.P.data(), x.data(), x.data() + mq, groups, nq, nk, nullptr, c, dy.data(), dx.data(), dx.data() + mq,
                           G.data(), ws, mem_groups);
            });
    }
}
