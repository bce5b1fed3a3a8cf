// Helpers shared by the tests: random requests and configs.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

#include <unistd.h>

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

/// Random labels in {0, 1, 2} (many ties once n >= 7) and a label-consistent order (ties by index).
inline void labels_and_order(int n, rng& g, std::vector<double>& labels, std::vector<int>& order) {
    labels.resize(static_cast<std::size_t>(n));
    for (auto& l : labels) l = double(g.below(3));
    order.resize(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return labels[a] > labels[b]; });
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

/// A page evaluator's shapes that no default shares (F 7, Fc 5, L 5, N <= 40, 3 objectives).
inline page_evaluator_config odd_config() {
    page_evaluator_config c;
    c.features = 7;
    c.context = 5;
    c.max_slate = 5;
    c.max_candidates = 40;
    c.objectives = 3;
    return c;
}

/// n candidates of F standard-normal features and Fc context values (no upstream rank).
template <class T>
request<T> random_request(int n, int F, int Fc, rng& g) {
    request<T> r;
    r.n = n;
    r.f = F;
    for (int i = 0; i < n * F; ++i) r.features.push_back(T(g.normal()));
    for (int i = 0; i < Fc; ++i) r.context.push_back(T(g.normal()));
    return r;
}

template <class T>
std::vector<request<T>> random_requests(const model_config& c, int count, int n, std::uint64_t seed) {
    rng g(seed);
    std::vector<request<T>> out;
    for (int i = 0; i < count; ++i) out.push_back(random_request<T>(c, n, g));
    return out;
}

/// The message of the E thrown by f, "<no exception>" or "<other exception: ...>".
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("<other exception: ") + e.what() + ">";
    }
    return "<no exception>";
}

/// A path in $TMPDIR (or /tmp) that no other test process uses: <prefix>_<pid>_<name>.
inline std::string temp_path(const std::string& prefix, const std::string& name) {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/" + prefix + "_" + std::to_string(::getpid()) + "_" + name;
}

/// A whole file's bytes (empty if it cannot be read), and a file written from bytes.
inline std::vector<unsigned char> read_bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
inline void write_bytes(const std::string& p, const std::vector<unsigned char>& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

}  // namespace test_util

/// expr throws E (or a type derived from it) and its message contains `part`; the message is
/// printed when the check fails.
#define CHECK_THROWS_PART(E, expr, part)                                                   \
    do {                                                                                   \
        const std::string msg_ = test_util::message_of<E>([&] { (void)(expr); });          \
        INFO("message: " << msg_);                                                         \
        CHECK(msg_.find(part) != std::string::npos);                                       \
    } while (0)
