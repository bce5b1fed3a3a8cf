// Helpers shared by the tests: random requests and configs.
#pragma once

#include <vector>

#include "catch.hpp"

namespace test_util {

using namespace dualrerank;

inline model_config small_config(int features = 9, int context = 4) {
    model_config c;
    c.features = features;
    c.context = context;
    c.d = 16;
    c.heads = 4;
    c.enc_layers = 2;
    c.dec_layers = 2;
    c.ffn = 32;
    c.max_slate = 6;
    c.max_candidates = 64;
    return c;
}

template <class T>
request<T> random_request(const model_config& c, int n, rng& g) {
    request<T> r;
    r.n = n;
    r.f = c.features;
    for (int i = 0; i < n * c.features; ++i) r.features.push_back(T(g.normal()));
    for (int i = 0; i < c.context; ++i) r.context.push_back(T(g.normal()));
    for (int i = 0; i < n; ++i) r.upstream_rank.push_back(i);
    return r;
}

template <class T>
std::vector<request<T>> random_requests(const model_config& c, int count, int n, std::uint64_t seed) {
    rng g(seed);
    std::vector<request<T>> out;
    for (int i = 0; i < count; ++i) out.push_back(random_request<T>(c, n, g));
    return out;
}

}  // namespace test_util
