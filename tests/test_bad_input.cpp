// The bad-input catalogue (docs/bad-input.md), one test per row: every test is named after its
// row ID, so a row and its test can be found from each other. A row either expects a typed error
// (and a part of its message) or a defined behaviour.
#include "test_util.hpp"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#ifndef DUALRERANK_SOURCE_DIR
#define DUALRERANK_SOURCE_DIR "."
#endif

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_bad_input {

using namespace dualrerank;
using test_util::small_config;

namespace {

const float nan_f = std::numeric_limits<float>::quiet_NaN();
const float inf_f = std::numeric_limits<float>::infinity();

using test_util::message_of;
using test_util::read_bytes;
using test_util::write_bytes;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---------------------------------------------------------------- the models and their entry points

struct models {
    model_config c;
    nar_student<float> s;
    ar_teacher<float> t;
    list_evaluator<float> e;
    pointwise_scorer<float> p;
    explicit models(model_config cfg = small_config()) : c(cfg), s(c), t(c), e(c), p(c) {
        s.init(1);
        t.init(2);
        e.init(3);
        p.init(4);
    }
};

using entry_fn = std::function<void(const request_view<float>&, int)>;
struct entry {
    std::string name;
    entry_fn run;
    bool takes_L;  ///< false: the pointwise scorer (no slate length)
};

/// Every public request-taking entry point of the library, as f(request, L).
std::vector<entry> entry_points(models& m) {
    auto slates = [](int L, int K) {
        std::vector<int> y(std::size_t(std::max(L, 1)) * K);
        for (std::size_t i = 0; i < y.size(); ++i) y[i] = int(i % std::size_t(std::max(L, 1)));
        return y;
    };
    std::vector<entry> v;
    v.push_back({"nar_student::forward", [&m](const request_view<float>& r, int L) { workspace ws; m.s.forward(&r, 1, L, ws); }, true});
    v.push_back({"nar_student::logits", [&m](const request_view<float>& r, int L) {
                     workspace ws;
                     std::vector<float> Z(std::size_t(std::max(L, 1)) * std::max(r.n, 1));
                     m.s.logits(r, L, Z.data(), ws);
                 }, true});
    v.push_back({"decode::greedy", [&m](const request_view<float>& r, int L) { workspace ws; decode::greedy(m.s, r, L, ws); }, true});
    v.push_back({"decode::confident", [&m](const request_view<float>& r, int L) { workspace ws; decode::confident(m.s, r, L, ws); }, true});
    v.push_back({"decode::greedy_batch", [&m](const request_view<float>& r, int L) {
                     workspace ws;
                     std::vector<int> out(std::size_t(std::max(L, 1)) * 2);
                     const request_view<float> two[2] = {r, r};
                     decode::greedy_batch(m.s, two, 2, L, out.data(), ws);
                 }, true});
    v.push_back({"decode::student_sample", [&m](const request_view<float>& r, int L) {
                     workspace ws;
                     std::vector<int> out(std::size_t(std::max(L, 1)) * 3);
                     decode::student_sample(m.s, r, L, 3, 1.0, counter_key::from_seed(1), 0, out.data(), static_cast<float*>(nullptr), ws);
                 }, true});
    v.push_back({"decode::best_of_n", [&m](const request_view<float>& r, int L) {
                     decode::best_of_n_workspace<float> bw;
                     std::vector<int> out(std::size_t(std::max(L, 1)));
                     decode::best_of_n(m.s, decode::teacher_scorer<float>{&m.t}, r, L, decode::best_of_n_config{4}, counter_key::from_seed(1), 0,
                                       out.data(), bw);
                 }, true});
    v.push_back({"ar_teacher::forward", [&m, slates](const request_view<float>& r, int L) {
                     workspace ws;
                     auto y = slates(L, 1);
                     m.t.forward(&r, 1, L, y.data(), ws);
                 }, true});
    v.push_back({"ar_teacher::begin", [&m](const request_view<float>& r, int L) { workspace ws; m.t.begin(r, L, 2, ws); }, true});
    v.push_back({"decode::teacher_greedy", [&m](const request_view<float>& r, int L) { workspace ws; decode::teacher_greedy(m.t, r, L, ws); }, true});
    v.push_back({"decode::teacher_beam", [&m](const request_view<float>& r, int L) { workspace ws; decode::teacher_beam(m.t, r, L, 3, ws); }, true});
    v.push_back({"decode::teacher_sample", [&m](const request_view<float>& r, int L) {
                     workspace ws;
                     std::vector<int> out(std::size_t(std::max(L, 1)) * 3);
                     decode::teacher_sample(m.t, r, L, 3, 1.0, counter_key::from_seed(1), 0, out.data(), static_cast<float*>(nullptr), ws);
                 }, true});
    v.push_back({"ar_teacher::score_slates", [&m, slates](const request_view<float>& r, int L) {
                     workspace ws;
                     auto y = slates(L, 2);
                     float sc[2];
                     m.t.score_slates(r, 2, L, y.data(), static_cast<const float*>(nullptr), sc, ws);
                 }, true});
    v.push_back({"list_evaluator::score", [&m, slates](const request_view<float>& r, int L) {
                     workspace ws;
                     auto y = slates(L, 2);
                     float u[2];
                     m.e.score(r, 2, L, y.data(), static_cast<const float*>(nullptr), u, ws);
                 }, true});
    v.push_back({"pointwise_scorer::score", [&m](const request_view<float>& r, int) {
                     workspace ws;
                     std::vector<float> f(std::size_t(std::max(r.n, 1)));
                     m.p.score(r, f.data(), ws);
                 }, false});
    return v;
}

/// Every entry point throws input_error whose message contains `part`.
void expect_all(models& m, const request_view<float>& r, int L, const std::string& part, bool pointwise_too = true) {
    for (auto& e : entry_points(m)) {
        if (!e.takes_L && !pointwise_too) continue;
        INFO("entry point " << e.name);
        CHECK_THROWS_PART(input_error, e.run(r, L), part);
    }
}

/// Every entry point accepts the request.
void accept_all(models& m, const request_view<float>& r, int L) {
    for (auto& e : entry_points(m)) {
        INFO("entry point " << e.name);
        CHECK(message_of<dualrerank::error>([&] { e.run(r, L); }) == "<no exception>");
    }
}

request<float> good_request(const model_config& c, int n, std::uint64_t seed = 7) {
    rng g(seed);
    return test_util::random_request<float>(c, n, g);
}

// ---------------------------------------------------------------- files

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        static int counter = 0;
        const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
        path = std::filesystem::temp_directory_path() /
               ("dualrerank_bad_input_" + std::to_string(static_cast<long long>(tick)) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};


/// The model's parameters as tensors to write (for hand-made files).
template <class Model>
std::vector<io::tensor_write> param_tensors(const Model& m) {
    std::vector<io::tensor_write> out;
    for (const auto& t : m.table().tensors()) out.push_back({t.name, io::dtype::f32, t.shape, m.params() + t.offset});
    return out;
}

std::map<std::string, std::string> model_meta(const char* kind, const model_config& c) {
    return {{"format", "dualrerank"}, {"format_version", "1"}, {"kind", kind}, {"config", io::config_to_json(c).dump()}};
}

/// A config within `limits` whose arena alone is tens of GiB.
model_config absurd_config() {
    model_config c;
    c.features = limits::max_features;
    c.context = 0;
    c.d = limits::max_width;
    c.heads = 64;
    c.enc_layers = limits::max_layers;
    c.dec_layers = limits::max_layers;
    c.ffn = 4 * limits::max_width;
    c.max_slate = limits::max_slate;
    c.max_candidates = limits::max_candidates;
    return c;
}

/// A safetensors file from a header string and a data region.
std::vector<std::uint8_t> st_bytes(const std::string& header, std::size_t data_bytes = 0) {
    std::vector<std::uint8_t> b(8 + header.size() + data_bytes, 0);
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(n >> (8 * i));
    std::memcpy(b.data() + 8, header.data(), header.size());
    return b;
}

io::safetensors_file parse_st(const std::vector<std::uint8_t>& b) { return io::safetensors_file::from_bytes(b); }

}  // namespace

// =====================================================================================================
// REQ: requests at every model entry point
// =====================================================================================================

TEST_CASE("REQ-01: N = 0 or N < 0", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    v.n = 0;
    expect_all(m, v, 1, "N = 0");
    v.n = -3;
    expect_all(m, v, 1, "N = 0");
}

TEST_CASE("REQ-02: N = 1 with L = 1 is served", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 1);
    accept_all(m, r.view(), 1);
    workspace ws;
    CHECK(decode::greedy(m.s, r.view(), 1, ws) == slate{0});
    CHECK(decode::confident(m.s, r.view(), 1, ws) == slate{0});
    CHECK(decode::teacher_beam(m.t, r.view(), 1, 4, ws) == slate{0});
    decode::best_of_n_workspace<float> bw;
    int out = -1;
    decode::best_of_n(m.s, decode::teacher_scorer<float>{&m.t}, r.view(), 1, decode::best_of_n_config{8}, counter_key::from_seed(3), 0,
                      &out, bw);
    CHECK(out == 0);
}

TEST_CASE("REQ-03: N = 1 with L = 2 (L > N)", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 1);
    expect_all(m, r.view(), 2, "exceeds the number of candidates", false);
}

TEST_CASE("REQ-04: L = 0 or L < 0", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    expect_all(m, r.view(), 0, "L must be >= 1", false);
    expect_all(m, r.view(), -5, "L must be >= 1", false);
}

TEST_CASE("REQ-05: L > N", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 4);
    expect_all(m, r.view(), 5, "exceeds the number of candidates", false);
}

TEST_CASE("REQ-06: L > max_slate", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 20);
    expect_all(m, r.view(), m.c.max_slate + 1, "max_slate", false);
}

TEST_CASE("REQ-07: N > max_candidates", "[bad_input]") {
    models m;
    auto r = good_request(m.c, m.c.max_candidates + 1);
    expect_all(m, r.view(), 3, "max_candidates");
}

TEST_CASE("REQ-08: wrong feature width", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    v.f = m.c.features - 1;
    expect_all(m, v, 3, "feature width");
    v.f = 0;
    expect_all(m, v, 3, "feature width");
}

TEST_CASE("REQ-09: null features pointer", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    v.features = nullptr;
    expect_all(m, v, 3, "features pointer is null");
}

TEST_CASE("REQ-10: NaN feature", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    r.features[13] = nan_f;
    expect_all(m, r.view(), 3, "non-finite feature at candidate 1, feature 4");
}

TEST_CASE("REQ-11: +Inf and -Inf features", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    r.features[0] = inf_f;
    expect_all(m, r.view(), 3, "non-finite feature at candidate 0, feature 0");
    r.features[0] = -inf_f;
    expect_all(m, r.view(), 3, "non-finite feature");
}

TEST_CASE("REQ-12: extreme feature magnitude (1e30, or just above the 1e8 cap)", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    r.features[9] = 1e30f;
    expect_all(m, r.view(), 3, "exceeds limits::max_feature_magnitude");
    r.features[9] = -1.01e8f;
    expect_all(m, r.view(), 3, "exceeds limits::max_feature_magnitude");
    // every feature 1e30 used to give identical encodings and the slate 0, 1, 2, ... silently
    for (auto& x : r.features) x *= 1e30f;
    expect_all(m, r.view(), 3, "max_feature_magnitude");
}

TEST_CASE("REQ-13: features at the 1e8 cap are served", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    for (auto& x : r.features) x = x > 0 ? 1e8f : -1e8f;
    accept_all(m, r.view(), 3);
    workspace ws;
    std::vector<float> Z(3 * 8);
    m.s.logits(r.view(), 3, Z.data(), ws);
    for (float z : Z) CHECK(std::isfinite(z));
    // well-behaved up to the cap: the request scaled so its largest feature is 1e3, then 1e8
    // (context too), gets the same slates
    auto scaled = [&](float top) {
        auto q = good_request(m.c, 8);
        float mx = 0;
        for (float x : q.features) mx = std::max(mx, std::fabs(x));
        for (float x : q.context) mx = std::max(mx, std::fabs(x));
        for (auto& x : q.features) x = x / mx * top;
        for (auto& x : q.context) x = x / mx * top;
        return q;
    };
    const auto lo = scaled(1e3f), hi = scaled(1e8f);
    CHECK(decode::greedy(m.s, lo.view(), 3, ws) == decode::greedy(m.s, hi.view(), 3, ws));
    CHECK(decode::teacher_greedy(m.t, lo.view(), 3, ws) == decode::teacher_greedy(m.t, hi.view(), 3, ws));
}

TEST_CASE("REQ-14: NaN or Inf context feature", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    r.context[2] = nan_f;
    expect_all(m, r.view(), 3, "non-finite context feature 2");
    r.context[2] = -inf_f;
    expect_all(m, r.view(), 3, "non-finite context feature 2");
}

TEST_CASE("REQ-15: extreme context magnitude (1e30)", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    r.context[1] = 1e30f;
    expect_all(m, r.view(), 3, "(context feature 1)");
}

TEST_CASE("REQ-16: missing context, wrong context width, context given to a model without it", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    v.context = nullptr;
    v.fc = 0;
    expect_all(m, v, 3, "context features");
    v = r.view();
    v.fc = m.c.context + 1;
    expect_all(m, v, 3, "context features");
    models nc(small_config(9, 0));
    auto r2 = good_request(nc.c, 8);
    auto v2 = r2.view();
    float ctx[2] = {1, 2};
    v2.context = ctx;
    v2.fc = 2;
    expect_all(nc, v2, 3, "takes no context features");
}

TEST_CASE("REQ-17: upstream ranks missing or out of range (rank-embedding models)", "[bad_input]") {
    model_config c = small_config();
    c.rank_embedding = true;
    models m(c);
    auto r = good_request(c, 8);
    auto v = r.view();
    v.upstream_rank = nullptr;
    expect_all(m, v, 3, "upstream ranks");
    r.upstream_rank[3] = c.max_candidates;
    expect_all(m, r.view(), 3, "upstream rank out of range at candidate 3");
    r.upstream_rank[3] = -1;
    expect_all(m, r.view(), 3, "upstream rank out of range");
}

TEST_CASE("REQ-18: batch of B < 1 requests", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    workspace ws;
    std::vector<int> out(6), tg = {0, 1, 2};
    CHECK_THROWS_PART(input_error, m.s.forward(&v, 0, 3, ws), "at least one request");
    CHECK_THROWS_PART(input_error, m.t.forward(&v, -1, 3, tg.data(), ws), "at least one request");
    CHECK_THROWS_PART(input_error, m.p.forward(&v, 0, ws), "at least one request");
    CHECK_THROWS_PART(input_error, decode::greedy_batch(m.s, &v, 0, 3, out.data(), ws), "at least one request");
}

TEST_CASE("REQ-23: a null batch pointer, or B beyond limits::max_batch", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    workspace ws;
    std::vector<int> out(6), tg = {0, 1, 2, 0, 1, 2};
    const request_view<float>* none = nullptr;
    CHECK_THROWS_PART(input_error, decode::greedy_batch(m.s, none, 2, 3, out.data(), ws), "requests pointer is null");
    CHECK_THROWS_PART(input_error, m.s.forward(none, 2, 3, ws), "requests pointer is null");
    CHECK_THROWS_PART(input_error, m.t.forward(none, 2, 3, tg.data(), ws), "requests pointer is null");
    CHECK_THROWS_PART(input_error, m.p.forward(none, 2, ws), "requests pointer is null");
    // B beyond the cap is refused before the (B-element) array is read or anything is packed
    CHECK_THROWS_PART(input_error, m.s.forward(&v, limits::max_batch + 1, 3, ws), "limits::max_batch = 65536");
    CHECK_THROWS_PART(input_error, m.t.forward(&v, std::numeric_limits<int>::max(), 3, tg.data(), ws), "limits::max_batch");
    CHECK_THROWS_PART(input_error, m.p.forward(&v, limits::max_batch + 1, ws), "limits::max_batch");
}

TEST_CASE("REQ-19: one bad request in a batch", "[bad_input]") {
    models m;
    auto a = good_request(m.c, 8), b = good_request(m.c, 5, 9);
    b.features[7] = nan_f;
    const request_view<float> two[2] = {a.view(), b.view()};
    workspace ws;
    std::vector<int> out(6);
    CHECK_THROWS_PART(input_error, decode::greedy_batch(m.s, two, 2, 3, out.data(), ws), "non-finite feature at candidate 0, feature 7");
}

TEST_CASE("REQ-20: invalid slates given to teacher forcing, slate scoring and the evaluator", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    auto v = r.view();
    workspace ws;
    std::vector<int> dup = {1, 2, 1}, out_of_range = {1, 2, 8}, negative = {0, -1, 2};
    float sc[1];
    for (const auto* y : {&dup, &out_of_range, &negative}) {
        CHECK_THROWS_AS(m.t.forward(&v, 1, 3, y->data(), ws), input_error);
        CHECK_THROWS_AS(m.t.score_slates(v, 1, 3, y->data(), static_cast<const float*>(nullptr), sc, ws), input_error);
        CHECK_THROWS_AS(m.e.score(v, 1, 3, y->data(), static_cast<const float*>(nullptr), sc, ws), input_error);
    }
    CHECK_THROWS_PART(input_error, m.t.forward(&v, 1, 3, dup.data(), ws), "repeats candidate 1");
    CHECK_THROWS_PART(input_error, m.e.score(v, 1, 3, out_of_range.data(), static_cast<const float*>(nullptr), sc, ws),
                      "slate index 8 at slot 2");
    CHECK_THROWS_PART(input_error, m.t.score_slates(v, 0, 3, dup.data(), static_cast<const float*>(nullptr), sc, ws),
                      "at least one slate");
    CHECK_THROWS_PART(input_error, m.e.score(v, 0, 3, dup.data(), static_cast<const float*>(nullptr), sc, ws), "at least one slate");
}

TEST_CASE("REQ-21: non-finite logits from extreme weights", "[bad_input]") {
    // Weights are checked for finiteness at load, not for size: 1e38 in the pointer head makes the
    // logits overflow. The decoders used to return an arbitrary slate (NaN compares false).
    models m;
    for (auto* model : {static_cast<dualrerank::detail::model_base<float>*>(&m.s), static_cast<dualrerank::detail::model_base<float>*>(&m.t)}) {
        const tensor_spec* q = model->table().find("pointer.q.weight");
        REQUIRE(q);
        for (std::size_t i = 0; i < q->size; ++i) model->params()[q->offset + i] = (i % 3 == 0) ? 1e38f : -4e37f;
    }
    auto r = good_request(m.c, 8);
    auto v = r.view();
    workspace ws;
    std::vector<int> out(12);
    CHECK_THROWS_PART(input_error, decode::greedy(m.s, v, 3, ws), "greedy: logit");
    CHECK_THROWS_PART(input_error, decode::confident(m.s, v, 3, ws), "confident: logit");
    CHECK_THROWS_PART(input_error, decode::greedy_batch(m.s, &v, 1, 3, out.data(), ws), "greedy_batch: logit");
    CHECK_THROWS_PART(input_error, decode::teacher_greedy(m.t, v, 3, ws), "teacher_beam: logit");
    CHECK_THROWS_PART(input_error, decode::teacher_beam(m.t, v, 3, 2, ws), "teacher_beam: logit");
    decode::best_of_n_workspace<float> bw;
    decode::best_of_n_config one{1};
    CHECK_THROWS_PART(input_error,
                      decode::best_of_n(m.s, decode::teacher_scorer<float>{&m.t}, v, 3, one, counter_key::from_seed(1), 0, out.data(), bw),
                      "best_of_n: logit");
    // the samplers reject NaN / +inf logits and rows without enough finite ones themselves
    CHECK_THROWS_AS(decode::student_sample(m.s, v, 3, 2, 1.0, counter_key::from_seed(1), 0, out.data(), static_cast<float*>(nullptr), ws),
                    input_error);
    CHECK_THROWS_AS(decode::teacher_sample(m.t, v, 3, 2, 1.0, counter_key::from_seed(1), 0, out.data(), static_cast<float*>(nullptr), ws),
                    input_error);
}

TEST_CASE("REQ-22: L = INT_MAX through the slate-returning overloads (nothing allocated for it)", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    const int huge = std::numeric_limits<int>::max();
    // these used to allocate the returned slate (8 GiB of ints) before the call validated L
    CHECK_THROWS_PART(input_error, decode::greedy(m.s, r.view(), huge, ws), "slate length L = 2147483647 exceeds");
    CHECK_THROWS_PART(input_error, decode::confident(m.s, r.view(), huge, ws), "slate length L = 2147483647 exceeds");
    CHECK_THROWS_PART(input_error, decode::teacher_greedy(m.t, r.view(), huge, ws), "slate length L = 2147483647 exceeds");
    CHECK_THROWS_PART(input_error, decode::teacher_beam(m.t, r.view(), huge, 2, ws), "slate length L = 2147483647 exceeds");
    CHECK(decode::greedy(m.s, r.view(), 4, ws).size() == 4);
}

// =====================================================================================================
// CFG: model configs
// =====================================================================================================

TEST_CASE("CFG-01: invalid model configs", "[bad_input]") {
    auto bad = [](auto edit, const std::string& part) {
        model_config c = small_config();
        edit(c);
        CHECK_THROWS_PART(input_error, nar_student<float>(c), part);
        CHECK_THROWS_PART(input_error, ar_teacher<float>(c), part);
        CHECK_THROWS_PART(input_error, list_evaluator<float>(c), part);
        CHECK_THROWS_PART(input_error, pointwise_scorer<float>(c), part);
    };
    bad([](model_config& c) { c.heads = 3; }, "heads must divide d");
    bad([](model_config& c) { c.d = 0; }, "d must be in");
    bad([](model_config& c) { c.features = 0; }, "features must be in");
    bad([](model_config& c) { c.context = -1; }, "context must be in");
    bad([](model_config& c) { c.max_slate = 0; }, "max_slate must be in");
    bad([](model_config& c) { c.max_candidates = 0; }, "max_candidates must be in");
    bad([](model_config& c) { c.enc_layers = -1; }, "enc_layers must be in");
    bad([](model_config& c) { c.ffn = 0; }, "ffn must be in");
    bad([](model_config& c) { c.outputs = 17; }, "outputs must be in");
}

TEST_CASE("CFG-02: oversized model configs (beyond limits) are rejected before allocation", "[bad_input]") {
    auto bad = [](auto edit, const std::string& part) {
        model_config c = small_config();
        edit(c);
        CHECK_THROWS_PART(input_error, nar_student<float>(c), part);
    };
    bad([](model_config& c) { c.features = limits::max_features + 1; }, "features must be in [1, 65536]");
    bad([](model_config& c) { c.d = limits::max_width + 16; }, "d must be in [1, 4096]");
    bad([](model_config& c) { c.heads = 128; c.d = 128; }, "heads must divide d (and be <= 64)");
    bad([](model_config& c) { c.enc_layers = limits::max_layers + 1; }, "enc_layers must be in [0, 64]");
    bad([](model_config& c) { c.ffn = 1 << 20; }, "ffn must be in [1, 16384]");
    bad([](model_config& c) { c.max_slate = limits::max_slate + 1; }, "max_slate must be in [1, 1024]");
    bad([](model_config& c) { c.max_candidates = 1 << 30; }, "max_candidates must be in [1, 16384]");
    // within limits but above a caller's parameter budget: rejected before the arena exists
    CHECK_THROWS_PART(input_error, nar_student<float>(small_config(), 100), "more than the 100 allowed");
}

// =====================================================================================================
// TCH: the teacher's incremental decoding API
// =====================================================================================================

TEST_CASE("TCH-01: step with more prefixes than begin's beams", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    teacher_state<float> s = m.t.begin(r.view(), 3, 2, ws);
    std::vector<float> logits(3 * 8);
    int prev[3] = {0, 0, 0};
    CHECK_THROWS_PART(input_error, m.t.step(s, prev, 3, logits.data(), ws), "B = 3 outside [1, 2]");
    CHECK_THROWS_PART(input_error, m.t.step(s, prev, 0, logits.data(), ws), "B = 0 outside");
    teacher_state<float> empty;  // never begun
    CHECK_THROWS_AS(m.t.step(empty, prev, 1, logits.data(), ws), input_error);
}

TEST_CASE("TCH-02: step beyond the L slots given to begin", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    teacher_state<float> s = m.t.begin(r.view(), 2, 1, ws);
    std::vector<float> logits(8);
    int prev[1] = {0};
    m.t.step(s, prev, 1, logits.data(), ws);
    prev[0] = 3;
    m.t.step(s, prev, 1, logits.data(), ws);
    CHECK_THROWS_PART(input_error, m.t.step(s, prev, 1, logits.data(), ws), "all 2 slots already decoded");
}

TEST_CASE("TCH-03: step with a previous item outside 0..N-1", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    teacher_state<float> s = m.t.begin(r.view(), 3, 1, ws);
    std::vector<float> logits(8);
    int prev[1] = {0};
    m.t.step(s, prev, 1, logits.data(), ws);  // t = 0 ignores prev
    prev[0] = 8;
    CHECK_THROWS_PART(input_error, m.t.step(s, prev, 1, logits.data(), ws), "prev[0] = 8 outside [0, 8)");
    prev[0] = -1;
    CHECK_THROWS_PART(input_error, m.t.step(s, prev, 1, logits.data(), ws), "prev[0] = -1");
}

TEST_CASE("TCH-04: reorder with a parent outside the beams, or a one-beam state", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    teacher_state<float> s = m.t.begin(r.view(), 3, 2, ws);
    int parent[2] = {0, 2};
    CHECK_THROWS_PART(input_error, m.t.reorder(s, parent, 2), "parent[1] = 2 outside [0, 2)");
    teacher_state<float> one = m.t.begin(r.view(), 3, 1, ws);
    parent[0] = 0;
    CHECK_THROWS_AS(m.t.reorder(one, parent, 1), input_error);
}

TEST_CASE("TCH-05: beam width < 1, and beam width > N is clamped", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 5);
    workspace ws;
    CHECK_THROWS_PART(input_error, decode::teacher_beam(m.t, r.view(), 3, 0, ws), "beam width must be >= 1");
    CHECK_THROWS_PART(input_error, m.t.begin(r.view(), 3, 0, ws), "beam width must be >= 1");
    CHECK(decode::teacher_beam(m.t, r.view(), 3, 1000, ws) == decode::teacher_beam(m.t, r.view(), 3, 5, ws));
}

TEST_CASE("TCH-06: teacher_sample with K out of range or a bad temperature", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    std::vector<int> out(3 * 4);
    auto run = [&](int K, double tau) {
        decode::teacher_sample(m.t, r.view(), 3, K, tau, counter_key::from_seed(1), 0, out.data(), static_cast<float*>(nullptr), ws);
    };
    CHECK_THROWS_PART(input_error, run(0, 1.0), "K = 0 outside [1, 4096]");
    CHECK_THROWS_PART(input_error, run(limits::max_samples + 1, 1.0), "limits::max_samples");  // no KV cache allocated
    // the incremental API itself: beams beyond the cap, before the KV cache exists
    CHECK_THROWS_PART(input_error, m.t.begin(r.view(), 3, 1000000, ws), "beams = 1000000 outside [1, 4096] (limits::max_samples");
    CHECK_THROWS_PART(input_error, m.t.begin(r.view(), 3, std::numeric_limits<int>::max(), ws), "limits::max_samples");
    CHECK_THROWS_PART(input_error, run(2, 0.0), "temperature");
    CHECK_THROWS_PART(input_error, run(2, -1.0), "temperature");
    CHECK_THROWS_PART(input_error, run(2, std::nan("")), "temperature");
    CHECK_THROWS_PART(input_error, run(2, std::numeric_limits<double>::infinity()), "temperature");
}

TEST_CASE("TCH-07: teacher_sample beyond the 2^32 counters of one key", "[bad_input]") {
    model_config c = small_config();
    c.max_slate = 1024;
    c.max_candidates = 4096;
    c.enc_layers = 0;
    c.dec_layers = 0;
    ar_teacher<float> t(c);
    t.init(1);
    auto r = good_request(c, 2048);
    workspace ws;
    std::vector<int> out(1);  // never written: rejected before anything runs
    CHECK_THROWS_PART(input_error,
                      decode::teacher_sample(t, r.view(), 1024, 4096, 1.0, counter_key::from_seed(1), 0, out.data(),
                                             static_cast<float*>(nullptr), ws),
                      "2^32 counters");
}

// =====================================================================================================
// SMP / GUM: the Gumbel-Max sampler
// =====================================================================================================

TEST_CASE("SMP-01: student_sample with a bad temperature or K", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    std::vector<int> out(3 * 4, -7);
    auto run = [&](int K, double tau) {
        decode::student_sample(m.s, r.view(), 3, K, tau, counter_key::from_seed(1), 0, out.data(), static_cast<float*>(nullptr), ws);
    };
    CHECK_THROWS_PART(input_error, run(2, 0.0), "temperature");
    CHECK_THROWS_PART(input_error, run(2, std::nan("")), "temperature");
    CHECK_THROWS_PART(input_error, run(2, 1e-320), "temperature");  // 1 / tau overflows
    CHECK_THROWS_PART(input_error, run(-1, 1.0), "K must be >= 0");
    run(0, 1.0);  // K = 0: nothing drawn, nothing written
    CHECK(out[0] == -7);
}

namespace {
struct sampler_args {
    std::vector<float> Z;
    int L = 3, N = 6, K = 4;
    std::ptrdiff_t ldz = 6;
    double tau = 1.0;
    std::vector<int> slates = std::vector<int>(64);
    sampler_args() {
        rng g(5);
        for (int i = 0; i < L * N; ++i) Z.push_back(float(g.normal()));
    }
    void run() {
        workspace ws;
        decode::sample_slates(Z.data(), L, N, ldz, tau, counter_key::from_seed(1), 0, K, slates.data(), static_cast<float*>(nullptr), ws);
    }
};
}  // namespace

TEST_CASE("GUM-01: NaN or +inf logits", "[bad_input]") {
    sampler_args a;
    a.Z[7] = nan_f;
    CHECK_THROWS_PART(input_error, a.run(), "Z[1][1] is NaN");
    a.Z[7] = inf_f;
    CHECK_THROWS_PART(input_error, a.run(), "Z[1][1] is +inf");
    std::vector<float> row = {0.5f, nan_f, 1.0f};
    CHECK_THROWS_PART(input_error, decode::gumbel_argmax(row.data(), 3, nullptr, 1.0f, counter_key::from_seed(1), 0), "logits[1] is NaN");
}

TEST_CASE("GUM-02: bad temperatures", "[bad_input]") {
    for (double tau : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity(), 1e-320}) {
        sampler_args a;
        a.tau = tau;
        CHECK_THROWS_PART(input_error, a.run(), "temperature must be finite and > 0");
    }
    std::vector<float> row = {0.5f, 1.0f};
    CHECK_THROWS_PART(input_error, decode::gumbel_argmax(row.data(), 2, nullptr, 0.0f, counter_key::from_seed(1), 0), "inv_tau");
}

TEST_CASE("GUM-03: L < 1, L > N, N < 1, K < 0, ldz in (0, N)", "[bad_input]") {
    {
        sampler_args a;
        a.L = 7;
        CHECK_THROWS_PART(input_error, a.run(), "L must be in [1, N]");
    }
    {
        sampler_args a;
        a.L = 0;
        CHECK_THROWS_PART(input_error, a.run(), "L must be in [1, N]");
    }
    {
        sampler_args a;
        a.N = 0;
        CHECK_THROWS_PART(input_error, a.run(), "N must be in [1, 2^24)");
    }
    {
        sampler_args a;
        a.K = -2;
        CHECK_THROWS_PART(input_error, a.run(), "K must be >= 0");
    }
    {
        sampler_args a;
        a.ldz = 3;
        CHECK_THROWS_PART(input_error, a.run(), "ldz must be 0");
    }
}

TEST_CASE("GUM-04: null logits or output", "[bad_input]") {
    workspace ws;
    int out[4];
    CHECK_THROWS_PART(input_error,
                      decode::sample_slates(static_cast<const float*>(nullptr), 1, 4, 4, 1.0, counter_key::from_seed(1), 0, 1, out,
                                            static_cast<float*>(nullptr), ws),
                      "Z is null");
    float z[4] = {0, 1, 2, 3};
    CHECK_THROWS_PART(input_error,
                      decode::sample_slates(z, 1, 4, 4, 1.0, counter_key::from_seed(1), 0, 1, static_cast<int*>(nullptr),
                                            static_cast<float*>(nullptr), ws),
                      "slates is null");
    CHECK_THROWS_PART(input_error, decode::gumbel_argmax(static_cast<const float*>(nullptr), 4, nullptr, 1.0f, counter_key::from_seed(1), 0),
                      "logits is null");
}

TEST_CASE("GUM-05: a slot with fewer finite logits than it needs, every candidate masked", "[bad_input]") {
    sampler_args a;
    for (int i = 1; i < a.N; ++i) a.Z[std::size_t(a.N) + i] = -inf_f;  // row 1: one finite logit, slot 1 needs 2
    CHECK_THROWS_PART(input_error, a.run(), "row 1 of Z has 1 finite logits");
    std::vector<float> row = {0.5f, 1.0f};
    std::uint8_t used[2] = {1, 1};
    CHECK_THROWS_PART(input_error, decode::gumbel_argmax(row.data(), 2, used, 1.0f, counter_key::from_seed(1), 0), "every candidate is used");
}

TEST_CASE("GUM-06: K * L * N beyond the 2^32 counters of one key (before any allocation)", "[bad_input]") {
    std::vector<float> z(1 << 16, 0.0f);
    workspace ws;
    int out[1];
    CHECK_THROWS_PART(input_error,
                      decode::sample_slates(z.data(), 1, 1 << 16, 0, 1.0, counter_key::from_seed(1), 0, (1 << 16) + 1, out,
                                            static_cast<float*>(nullptr), ws),
                      "exceeds the 2^32 counters");
    CHECK_THROWS_PART(input_error,
                      decode::sample_slates(z.data(), 1, 1 << 24, 0, 1.0, counter_key::from_seed(1), 0, 1, out, static_cast<float*>(nullptr), ws),
                      "N must be in [1, 2^24)");
}

TEST_CASE("GUM-07: extreme finite logits (1e30) sample exactly, beyond float range they are rejected", "[bad_input]") {
    sampler_args a;
    a.ldz = 0;  // one shared row: Plackett-Luce
    a.L = 1;
    a.Z.assign(6, 0.0f);
    a.Z[4] = 1e30f;
    a.K = 16;
    a.run();
    for (int k = 0; k < a.K; ++k) CHECK(a.slates[std::size_t(k)] == 4);  // probability 1 - e^-1e30
    std::vector<float> wide = {-1e30f, 1e30f, 0.0f};
    for (int i = 0; i < 8; ++i) CHECK(decode::gumbel_argmax(wide.data(), 3, nullptr, 1.0f, counter_key::from_seed(9), std::uint32_t(i)) == 1);
    std::vector<double> beyond = {0.0, 1e300};
    CHECK_THROWS_PART(input_error, decode::gumbel_argmax(beyond.data(), 2, nullptr, 1.0f, counter_key::from_seed(1), 0), "logits[1]");
}

// =====================================================================================================
// BON: Best-of-N
// =====================================================================================================

TEST_CASE("BON-01: n < 1 or n > limits::max_samples (before any allocation)", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(3);
    auto run = [&](int n) {
        decode::best_of_n(m.s, decode::teacher_scorer<float>{&m.t}, r.view(), 3, decode::best_of_n_config{n}, counter_key::from_seed(1), 0,
                          out.data(), bw);
    };
    CHECK_THROWS_PART(input_error, run(0), "n = 0 outside [1, 4096]");
    CHECK_THROWS_PART(input_error, run(1 << 30), "limits::max_samples");  // used to resize a vector of n * L ints first
    CHECK(bw.slates.empty());
}

TEST_CASE("BON-02: a bad sampling temperature", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(3);
    decode::best_of_n_config cfg{8};
    cfg.tau = 0.0;
    decode::teacher_scorer<float> trusted{&m.t};
    trusted.validation = scorer_validation{"rank_correlation", 0.9, 10};  // past the gate: the samples are drawn
    CHECK_THROWS_PART(input_error, decode::best_of_n(m.s, trusted, r.view(), 3, cfg, counter_key::from_seed(1), 0, out.data(), bw),
                      "temperature");
}

TEST_CASE("BON-03: n = 1 or a disabled gate serve the greedy slate", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    decode::best_of_n_workspace<float> bw;
    workspace ws;
    const slate greedy = decode::greedy(m.s, r.view(), 3, ws);
    std::vector<int> out(3);
    CHECK(decode::best_of_n(m.s, decode::teacher_scorer<float>{&m.t}, r.view(), 3, decode::best_of_n_config{1}, counter_key::from_seed(1), 0,
                            out.data(), bw) == 0);
    CHECK(slate(out.begin(), out.end()) == greedy);
    decode::best_of_n_config off{16};
    off.enabled = false;
    off.tau = -1.0;  // not used when the gate is off
    CHECK(decode::best_of_n(m.s, decode::teacher_scorer<float>{&m.t}, r.view(), 3, off, counter_key::from_seed(1), 0, out.data(), bw) == 0);
    CHECK(slate(out.begin(), out.end()) == greedy);
}

TEST_CASE("BON-04: teacher_scorer called directly with L beyond max_slate", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    std::vector<int> y(2000, 0);
    std::vector<float> sc(1);
    decode::teacher_scorer<float> ts{&m.t};
    // used to write L slot weights into a 1024-entry stack array before the teacher saw L
    CHECK_THROWS_PART(input_error, ts(r.view(), 1, 2000, y.data(), sc.data(), ws), "L = 2000 outside [1, 1024]");
    CHECK_THROWS_PART(input_error, ts(r.view(), 1, 0, y.data(), sc.data(), ws), "outside [1, 1024]");
}

// =====================================================================================================
// TRN: the trainer
// =====================================================================================================

namespace {
struct training_fixture {
    model_config c = small_config();
    nar_student<float> s{c};
    std::vector<request<float>> reqs;
    std::vector<int> targets;
    training_fixture() {
        s.init(3);
        reqs = test_util::random_requests<float>(c, 4, 8, 21);
        for (int b = 0; b < 4; ++b)
            for (int t = 0; t < 3; ++t) targets.push_back((b + 2 * t) % 8);
    }
    double good_step(float* g, workspace& ws) {
        std::vector<request_view<float>> v;
        for (auto& r : reqs) v.push_back(r.view());
        return train::student_ce_step(s, v.data(), 4, 3, targets.data(), static_cast<const float*>(nullptr), g, ws);
    }
    std::vector<float> weights() const { return std::vector<float>(s.params(), s.params() + s.arena_size()); }
};
}  // namespace

TEST_CASE("TRN-01: a loss callable returning NaN or Inf", "[bad_input]") {
    training_fixture f;
    train::trainer<nar_student<float>> tr(f.s, train::trainer_config{});
    const auto before = f.weights();
    for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
        const train::step_report r = tr.step([&](float*, workspace&) { return bad; });
        CHECK_FALSE(r.applied);
    }
    CHECK(f.weights() == before);
    CHECK(tr.bad_steps() == 3);
    CHECK(tr.optimizer().steps() == 0);
}

TEST_CASE("TRN-02: a finite loss with NaN gradients (a bad batch past validation)", "[bad_input]") {
    training_fixture f;
    train::trainer<nar_student<float>> tr(f.s, train::trainer_config{});
    const auto before = f.weights();
    const train::step_report r = tr.step([&](float* g, workspace& ws) {
        const double loss = f.good_step(g, ws);
        g[f.s.arena_size() / 2] = nan_f;
        return loss;
    });
    CHECK_FALSE(r.applied);
    CHECK(std::isfinite(r.loss));
    CHECK(f.weights() == before);
    CHECK(tr.bad_steps() == 1);
    CHECK(tr.optimizer().skipped() == 1);
    CHECK(tr.step([&](float* g, workspace& ws) { return f.good_step(g, ws); }).applied);
}

TEST_CASE("TRN-03: max_bad_steps non-finite steps in a row stop training", "[bad_input]") {
    training_fixture f;
    train::trainer_config tc;
    tc.max_bad_steps = 3;
    train::trainer<nar_student<float>> tr(f.s, tc);
    auto nan_step = [](float*, workspace&) { return std::nan(""); };
    tr.step(nan_step);
    tr.step(nan_step);
    tr.step([&](float* g, workspace& ws) { return f.good_step(g, ws); });  // resets the run
    tr.step(nan_step);
    tr.step(nan_step);
    CHECK_THROWS_PART(training_error, tr.step(nan_step), "3 consecutive non-finite steps");
    CHECK(tr.bad_steps() == 5);
}

TEST_CASE("TRN-04: invalid trainer configs", "[bad_input]") {
    training_fixture f;
    for (int b : {0, -1, (1 << 16) + 1}) {
        train::trainer_config tc;
        tc.batch_size = b;  // a negative batch used to size vectors in fit_supervised
        CHECK_THROWS_PART(input_error, train::trainer<nar_student<float>>(f.s, tc), "batch_size must be in [1, 65536]");
    }
    train::trainer_config tc;
    tc.max_bad_steps = 0;
    CHECK_THROWS_PART(input_error, train::trainer<nar_student<float>>(f.s, tc), "max_bad_steps");
}

TEST_CASE("TRN-05: invalid optimizer configs", "[bad_input]") {
    training_fixture f;
    auto bad = [&](auto edit, const std::string& part) {
        train::trainer_config tc;
        edit(tc.optimizer);
        CHECK_THROWS_PART(input_error, train::trainer<nar_student<float>>(f.s, tc), part);
    };
    // a NaN learning rate used to be applied: every weight NaN after one "successful" step
    bad([](train::adamw_config& o) { o.lr = std::nan(""); }, "lr must be finite");
    bad([](train::adamw_config& o) { o.lr = -1e-3; }, "lr must be finite and >= 0");
    bad([](train::adamw_config& o) { o.beta1 = 1.0; }, "beta1 and beta2");
    bad([](train::adamw_config& o) { o.beta2 = std::nan(""); }, "beta1 and beta2");
    bad([](train::adamw_config& o) { o.eps = 0; }, "eps");
    bad([](train::adamw_config& o) { o.weight_decay = std::numeric_limits<double>::infinity(); }, "weight_decay");
    bad([](train::adamw_config& o) { o.clip_norm = std::nan(""); }, "clip_norm");
    bad([](train::adamw_config& o) { o.warmup_steps = -1; }, "warmup_steps");
    bad([](train::adamw_config& o) { o.min_lr_ratio = 2; }, "min_lr_ratio");
    train::trainer<nar_student<float>> tr(f.s, train::trainer_config{});
    train::adamw_config o;
    o.lr = std::nan("");
    CHECK_THROWS_AS(tr.optimizer().set_config(o), input_error);
}

TEST_CASE("TRN-06: malformed supervised datasets", "[bad_input]") {
    training_fixture f;
    train::trainer_config tc;
    tc.batch_size = 2;
    train::trainer<nar_student<float>> tr(f.s, tc);
    train::slate_dataset<float> empty;
    empty.L = 3;
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, empty, 1), "empty dataset");
    train::slate_dataset<float> d;
    d.L = 3;
    d.requests = {f.reqs[0]};
    d.targets = {slate{1, 2}};
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1), "target slate shorter than L");
    d.targets = {slate{1, 2, 9}};
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1), "target index out of range");
    d.targets = {slate{1, 2, 3}};
    d.L = std::numeric_limits<int>::max();  // used to size the batch's target buffer first
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1), "slate length L = 2147483647 outside [1, max_slate]");
    d.L = 0;
    CHECK_THROWS_PART(input_error, train::fit_supervised(tr, d, 1), "outside [1, max_slate]");
}

TEST_CASE("TRN-07: a batch with a NaN feature stops the step with input_error, weights untouched", "[bad_input]") {
    training_fixture f;
    train::trainer<nar_student<float>> tr(f.s, train::trainer_config{});
    f.reqs[2].features[4] = nan_f;
    const auto before = f.weights();
    CHECK_THROWS_PART(input_error, tr.step([&](float* g, workspace& ws) { return f.good_step(g, ws); }), "non-finite feature");
    CHECK(f.weights() == before);
    CHECK(tr.optimizer().steps() == 0);
}

// =====================================================================================================
// SKD
// =====================================================================================================

TEST_CASE("SKD-01: samples < 0 or above limits::max_samples", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    train::skd_config cfg;
    cfg.samples = -1;  // used to size the slate buffer to 0 and write the greedy slate past it
    CHECK_THROWS_PART(input_error, train::make_skd_targets(m.t, r.view(), 3, cfg, 1, ws), "samples = -1 outside [0, 4096]");
    cfg.samples = -1000000;
    CHECK_THROWS_AS(train::make_skd_targets(m.t, r.view(), 3, cfg, 1, ws), input_error);
    cfg.samples = limits::max_samples + 1;
    CHECK_THROWS_AS(train::make_skd_targets(m.t, r.view(), 3, cfg, 1, ws), input_error);
    cfg.samples = 0;  // greedy only: defined
    const auto tg = train::make_skd_targets(m.t, r.view(), 3, cfg, 1, ws);
    CHECK(tg.K == 1);
    CHECK(tg.weight[0] == 1.0f);
}

TEST_CASE("SKD-02: non-positive or non-finite temperatures and weights", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    auto bad = [&](auto edit) {
        train::skd_config cfg;
        edit(cfg);
        CHECK_THROWS_PART(input_error, train::make_skd_targets(m.t, r.view(), 3, cfg, 1, ws), "invalid skd_config");
    };
    bad([](train::skd_config& c) { c.tau = 0; });  // used to give NaN teacher targets silently
    bad([](train::skd_config& c) { c.tau = std::nan(""); });
    bad([](train::skd_config& c) { c.sample_tau = -1; });
    bad([](train::skd_config& c) { c.lambda_kl = std::numeric_limits<double>::infinity(); });
    bad([](train::skd_config& c) { c.lambda_gt = -1; });
}

TEST_CASE("SKD-03: a slate length outside 1..max_slate", "[bad_input]") {
    models m;
    auto r = good_request(m.c, 8);
    workspace ws;
    train::skd_config cfg;
    CHECK_THROWS_PART(input_error, train::make_skd_targets(m.t, r.view(), -4, cfg, 1, ws), "L = -4 outside");
    CHECK_THROWS_PART(input_error, train::make_skd_targets(m.t, r.view(), m.c.max_slate + 1, cfg, 1, ws), "outside [1, 6]");
}

TEST_CASE("SKD-04: cached targets that do not match the dataset", "[bad_input]") {
    models m;
    train::trainer_config tc;
    tc.batch_size = 2;
    train::trainer<nar_student<float>> tr(m.s, tc);
    train::slate_dataset<float> d;
    d.L = 3;
    d.requests = {good_request(m.c, 8), good_request(m.c, 7, 8)};
    d.targets = {slate{0, 1, 2}, slate{0, 1, 2}};
    train::skd_config cfg;
    cfg.samples = 2;
    CHECK_THROWS_PART(input_error, train::fit_skd(tr, d, {}, cfg, 1), "dataset and targets differ");
    workspace ws;
    std::vector<train::skd_targets<float>> tg;
    for (auto& r : d.requests) tg.push_back(train::make_skd_targets(m.t, r.view(), 2, cfg, 1, ws));  // L = 2, the data's L is 3
    CHECK_THROWS_PART(input_error, train::fit_skd(tr, d, tg, cfg, 4), "targets do not match the request");
    d.L = -1;
    CHECK_THROWS_PART(input_error, train::fit_skd(tr, d, tg, cfg, 4), "fit_skd: slate length L = -1 outside");
}

// =====================================================================================================
// RL: the streaming RL loop
// =====================================================================================================

namespace {
struct rl_fixture {
    world w{world_config::small(), 3};
    model_config c;
    rl_fixture() {
        c = small_config(w.config().feature_dim, w.config().context_dim);
        c.max_slate = w.slate_size();
        c.max_candidates = w.num_candidates();
        c.enc_layers = 1;
        c.dec_layers = 1;
    }
    train::rl_run_config cfg() const {
        train::rl_run_config rc;
        rc.requests = 40;
        rc.requests_per_step = 2;
        rc.rl.group = 4;
        rc.log = nullptr;
        return rc;
    }
};
}  // namespace

TEST_CASE("RL-01: requests_per_step = 0 (used to divide by zero)", "[bad_input]") {
    rl_fixture f;
    nar_student<float> p(f.c), a(f.c);
    p.init(1);
    a.init(1);
    stream s(f.w, drift::none(), 1);
    auto rc = f.cfg();
    rc.requests_per_step = 0;
    CHECK_THROWS_PART(input_error, train::run_rl(p, a, s, rc), "requests_per_step in [1, 65536]");
    rc.requests_per_step = -3;
    CHECK_THROWS_AS(train::run_rl(p, a, s, rc), input_error);
    rc = f.cfg();
    rc.requests = -1;
    CHECK_THROWS_AS(train::run_rl(p, a, s, rc), input_error);
}

TEST_CASE("RL-02: a group of fewer than 2 or more than limits::max_samples slates", "[bad_input]") {
    rl_fixture f;
    nar_student<float> p(f.c), a(f.c);
    stream s(f.w, drift::none(), 1);
    auto rc = f.cfg();
    rc.rl.group = 1;
    CHECK_THROWS_PART(input_error, train::run_rl(p, a, s, rc), "group must hold 2 to 4096 slates");
    rc.rl.group = 1 << 20;
    CHECK_THROWS_AS(train::run_rl(p, a, s, rc), input_error);
}

TEST_CASE("RL-03: non-finite or negative RL hyper-parameters", "[bad_input]") {
    rl_fixture f;
    nar_student<float> p(f.c), a(f.c);
    stream s(f.w, drift::none(), 1);
    auto bad = [&](auto edit, const std::string& part) {
        auto rc = f.cfg();
        edit(rc);
        CHECK_THROWS_PART(input_error, train::run_rl(p, a, s, rc), part);
    };
    bad([](train::rl_run_config& r) { r.rl.clip_eps = std::nan(""); }, "clip_eps");
    bad([](train::rl_run_config& r) { r.rl.beta = -1; }, "clip_eps, beta");
    bad([](train::rl_run_config& r) { r.rl.ema_decay = 2; }, "ema_decay");
    bad([](train::rl_run_config& r) { r.rl.sample_tau = 0; }, "sample_tau");
    bad([](train::rl_run_config& r) { r.optimizer.lr = std::nan(""); }, "lr must be finite");
    bad([](train::rl_run_config& r) { r.polyak = 1; }, "polyak must be in [0, 1)");
    bad([](train::rl_run_config& r) { r.polyak = std::nan(""); }, "polyak");
    bad([](train::rl_run_config& r) { r.polyak = -0.5; }, "polyak");
    CHECK(s.step() == -1);  // nothing was drawn from the stream
}

TEST_CASE("RL-04: NaN objective weights in the stream: steps skipped, then training_error, policy untouched", "[bad_input]") {
    rl_fixture f;
    nar_student<float> p(f.c), a(f.c);
    p.init(1);
    a.init(1);
    drift d;
    d.click_weight = schedule::constant(std::nan(""));
    stream s(f.w, d, 1);
    const std::vector<float> before(p.params(), p.params() + p.arena_size());
    CHECK_THROWS_PART(training_error, train::run_rl(p, a, s, f.cfg()), "consecutive non-finite steps");
    CHECK(std::equal(before.begin(), before.end(), p.params()));
}

// =====================================================================================================
// IO: model files and checkpoints
// =====================================================================================================

TEST_CASE("IO-01: a missing or unreadable model file", "[bad_input]") {
    temp_dir d;
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(d.file("absent.safetensors")), "cannot read the file");
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(d.path.string()), "safetensors");  // a directory
}

TEST_CASE("IO-02: a model file truncated at any length", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("m.safetensors");
    io::save_model(m.s, p);
    const auto bytes = read_bytes(p);
    int rejected = 0, tried = 0;
    for (std::size_t len = 0; len < bytes.size(); len += 1 + len / 7) {
        write_bytes(p, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + std::ptrdiff_t(len)));
        ++tried;
        rejected += message_of<format_error>([&] { io::load_model<nar_student<float>>(p); }).rfind("dualrerank: ", 0) == 0;
    }
    CHECK(rejected == tried);
}

TEST_CASE("IO-03: a flipped bit in the data region", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("m.safetensors");
    io::save_model(m.t, p);
    auto bytes = read_bytes(p);
    bytes[bytes.size() - 5] ^= 0x10;
    write_bytes(p, bytes);
    CHECK_THROWS_PART(format_error, io::load_model<ar_teacher<float>>(p), "checksum mismatch");
}

TEST_CASE("IO-04: a model of another kind", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("t.safetensors");
    io::save_model(m.t, p);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "holds a ar_teacher, expected a nar_student");
    CHECK_THROWS_PART(format_error, io::load_model<list_evaluator<float>>(p), "expected a list_evaluator");
}

TEST_CASE("IO-05: a header declaring an absurd config in a tiny file is rejected before allocation", "[bad_input]") {
    temp_dir d;
    const std::string p = d.file("absurd.safetensors");
    const float one = 1.0f;
    for (const char* kind : {"nar_student", "ar_teacher", "list_evaluator"}) {
        io::write_safetensors_file(p, {{"encoder.input.bias", io::dtype::f32, {1}, &one}}, model_meta(kind, absurd_config()));
        // used to allocate (and zero) the whole arena, tens of GiB, before looking at the tensors
        if (std::string(kind) == "nar_student")
            CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "parameters, more than the 1 allowed");
        else if (std::string(kind) == "ar_teacher")
            CHECK_THROWS_PART(format_error, io::load_model<ar_teacher<float>>(p), "parameters, more than the 1 allowed");
        else
            CHECK_THROWS_PART(format_error, io::load_model<list_evaluator<float>>(p), "parameters, more than the 1 allowed");
    }
}

TEST_CASE("IO-06: a verify probe whose declared size the file does not hold", "[bad_input]") {
    temp_dir d;
    model_config c;
    c.features = limits::max_features;  // the probe would be 1024 x 65536 floats (256 MiB)
    c.context = 0;
    c.d = 1;
    c.heads = 1;
    c.enc_layers = 0;
    c.dec_layers = 0;
    c.ffn = 1;
    c.max_slate = 1024;
    c.max_candidates = 1024;
    nar_student<float> s(c);
    s.init(1);
    auto tensors = param_tensors(s);
    const float tiny[1] = {0};
    tensors.push_back({"verify.features", io::dtype::f32, {1, 1}, tiny});
    auto meta = model_meta("nar_student", c);
    meta["verify"] = "1";
    const std::string p = d.file("probe.safetensors");
    io::write_safetensors_file(p, tensors, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "verify.features has the wrong shape");
}

TEST_CASE("IO-07: bad config metadata (invalid JSON, missing, unknown or out-of-range fields)", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("c.safetensors");
    auto tensors = param_tensors(m.s);
    auto with_config = [&](const std::string& cfg) {
        auto meta = model_meta("nar_student", m.c);
        meta["config"] = cfg;
        io::write_safetensors_file(p, tensors, meta);
        return message_of<format_error>([&] { io::load_model<nar_student<float>>(p); });
    };
    std::string good = io::config_to_json(m.c).dump();
    CHECK(contains(with_config("{\"features\": 9,"), "config is not valid JSON"));
    CHECK(contains(with_config("[]"), "must be a JSON object"));
    auto j = io::config_to_json(m.c);
    j["extra"] = 1;
    CHECK(contains(with_config(j.dump()), "unknown field \"extra\""));
    j = io::config_to_json(m.c);
    j["d"] = -16;
    CHECK(contains(with_config(j.dump()), "\"d\" is out of range"));
    j = io::config_to_json(m.c);
    j["heads"] = 5;
    CHECK(contains(with_config(j.dump()), "heads must divide d"));
    j = io::config_to_json(m.c);
    j["d"] = 16.5;
    CHECK(contains(with_config(j.dump()), "must be an integer"));
    auto meta = model_meta("nar_student", m.c);
    meta.erase("config");
    io::write_safetensors_file(p, tensors, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "lacks \"config\"");
    meta = model_meta("nar_student", m.c);
    meta["format_version"] = "4";
    io::write_safetensors_file(p, tensors, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "unsupported format_version 4");
    meta["format_version"] = "3";  // an ensemble's version, without its member count
    io::write_safetensors_file(p, tensors, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "format_version 3 (an ensemble) requires");
    CHECK(contains(with_config(good), "<no exception>"));
}

TEST_CASE("IO-08: missing, misshapen, non-finite or unknown tensors", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("t.safetensors");
    const auto meta = model_meta("nar_student", m.c);
    auto tensors = param_tensors(m.s);
    auto without = tensors;
    without.erase(without.begin() + 1);
    io::write_safetensors_file(p, without, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "more than the");  // the file holds too few values
    auto renamed = tensors;
    renamed[1].name = "encoder.input.bias_renamed";
    io::write_safetensors_file(p, renamed, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "missing tensor \"encoder.input.bias\"");
    auto reshaped = tensors;
    reshaped[0].shape = {reshaped[0].shape[0] * reshaped[0].shape[1]};
    io::write_safetensors_file(p, reshaped, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "expected [");
    std::vector<float> nan_bias(m.s.table().tensors()[1].size, 0.0f);
    nan_bias[0] = nan_f;
    auto poisoned = tensors;
    poisoned[1].data = nan_bias.data();
    io::write_safetensors_file(p, poisoned, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "holds a non-finite value");
    auto extra = tensors;
    const float one = 1;
    extra.push_back({"encoder.extra", io::dtype::f32, {1}, &one});
    io::write_safetensors_file(p, extra, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "unknown tensor \"encoder.extra\"");
    io::load_options lenient;
    lenient.allow_unknown = true;
    CHECK_NOTHROW(io::load_model<nar_student<float>>(p, lenient));
}

TEST_CASE("IO-09: weights altered after saving (self-test)", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("s.safetensors");
    io::save_model(m.s, p);
    const auto f = io::safetensors_file::from_file(p);
    // rewrite the file with one weight changed and a fresh checksum: only the self-test can tell
    std::vector<std::vector<float>> floats;
    floats.reserve(f.tensors().size());
    std::vector<std::int64_t> sl;
    std::vector<io::tensor_write> tensors;
    for (const auto& t : f.tensors()) {
        if (t.type == io::dtype::i64) {
            sl = f.read<std::int64_t>(t.name, t.shape);
            tensors.push_back({t.name, t.type, t.shape, sl.data()});
            continue;
        }
        floats.push_back(f.read<float>(t.name, t.shape));
        if (t.name == "encoder.input.weight") floats.back()[3] += 0.5f;
        tensors.push_back({t.name, t.type, t.shape, floats.back().data()});
    }
    std::map<std::string, std::string> meta = f.metadata();
    meta.erase(io::safetensors_crc32_key);
    io::write_safetensors_file(p, tensors, meta);
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(p), "self-test failed");
    io::load_options no_verify;
    no_verify.verify = false;
    CHECK_NOTHROW(io::load_model<nar_student<float>>(p, no_verify));
}

TEST_CASE("IO-10: saving non-finite weights leaves the last good file in place", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string p = d.file("s.safetensors");
    io::save_model(m.s, p);
    const auto good = read_bytes(p);
    m.s.params()[5] = nan_f;
    // used to write a file that can never be loaded over the good one
    CHECK_THROWS_PART(input_error, io::save_model(m.s, p), "holds a non-finite value");
    CHECK(read_bytes(p) == good);
    train::trainer<nar_student<float>> tr(m.s, train::trainer_config{});
    CHECK_THROWS_PART(input_error, train::save_checkpoint(tr, d.file("c.safetensors")), "\"param.");
    CHECK_FALSE(std::filesystem::exists(d.file("c.safetensors")));
    CHECK(std::distance(std::filesystem::directory_iterator(d.path), std::filesystem::directory_iterator()) == 1);  // no temp files
}

TEST_CASE("IO-11: saving into a directory that does not exist", "[bad_input]") {
    temp_dir d;
    models m;
    CHECK_THROWS_PART(dualrerank::error, io::save_model(m.s, d.file("no/such/dir/m.safetensors")), "cannot create");
    CHECK_THROWS_AS(io::save_model(m.s, ""), input_error);
}

TEST_CASE("IO-17: saving keeps the replaced file's permissions, and a symlink stays a link", "[bad_input]") {
#if defined(_WIN32)
    SUCCEED("POSIX only");
#else
    namespace fs = std::filesystem;
    temp_dir d;
    models m;
    const std::string p = d.file("m.safetensors");
    io::save_model(m.s, p);
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);  // 0600
    io::save_model(m.s, p);
    CHECK((fs::status(p).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    CHECK_NOTHROW(io::load_model<nar_student<float>>(p));
    // a link (relative, through a second link) to the model: the link stays, the target is replaced
    fs::create_directories(d.path / "real");
    const std::string target = d.file("real/target.safetensors");
    io::save_model(m.t, target);
    fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read, fs::perm_options::replace);
    fs::create_symlink("real/target.safetensors", d.path / "link1");
    fs::create_symlink("link1", d.path / "link2");
    io::save_model(m.s, d.file("link2"));
    CHECK(fs::is_symlink(fs::symlink_status(d.path / "link2")));
    CHECK(fs::is_symlink(fs::symlink_status(d.path / "link1")));
    CHECK(fs::read_symlink(d.path / "link1") == fs::path("real/target.safetensors"));
    CHECK(io::read_model_header(target).first == "nar_student");  // the target now holds the student
    CHECK((fs::status(target).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
    // a dangling link: the file it names is created
    fs::create_symlink("real/new.safetensors", d.path / "dangling");
    io::save_model(m.s, d.file("dangling"));
    CHECK(fs::is_symlink(fs::symlink_status(d.path / "dangling")));
    CHECK(fs::is_regular_file(d.path / "real" / "new.safetensors"));
    // no temporary files left behind
    std::size_t leftovers = 0;
    for (const auto& e : fs::recursive_directory_iterator(d.path))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) ++leftovers;
    CHECK(leftovers == 0);
#endif
}

TEST_CASE("IO-12: a checkpoint of another config or kind", "[bad_input]") {
    temp_dir d;
    models m;
    train::trainer<nar_student<float>> tr(m.s, train::trainer_config{});
    const std::string p = d.file("c.safetensors");
    train::save_checkpoint(tr, p);
    model_config other = m.c;
    other.d = 8;
    other.heads = 2;
    nar_student<float> s2(other);
    train::trainer<nar_student<float>> tr2(s2, train::trainer_config{});
    CHECK_THROWS_PART(training_error, train::load_checkpoint(tr2, p), "another model config (d 16 vs 8, heads 4 vs 2)");
    train::trainer<ar_teacher<float>> tt(m.t, train::trainer_config{});
    CHECK_THROWS_PART(training_error, train::load_checkpoint(tt, p), "is for a nar_student, not a ar_teacher");
}

TEST_CASE("IO-13: a truncated or corrupted checkpoint leaves the trainer untouched", "[bad_input]") {
    temp_dir d;
    training_fixture f;
    train::trainer<nar_student<float>> tr(f.s, train::trainer_config{});
    tr.step([&](float* g, workspace& ws) { return f.good_step(g, ws); });
    const std::string p = d.file("c.safetensors");
    train::save_checkpoint(tr, p);
    const auto bytes = read_bytes(p);
    tr.step([&](float* g, workspace& ws) { return f.good_step(g, ws); });
    const auto weights = f.weights();
    const long steps = tr.optimizer().steps();
    for (std::size_t len : {std::size_t(0), std::size_t(7), std::size_t(100), bytes.size() / 2, bytes.size() - 1}) {
        write_bytes(p, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + std::ptrdiff_t(len)));
        CHECK_THROWS_AS(train::load_checkpoint(tr, p), format_error);
    }
    auto flipped = bytes;
    flipped[bytes.size() - 3] ^= 1;
    write_bytes(p, flipped);
    CHECK_THROWS_PART(format_error, train::load_checkpoint(tr, p), "checksum mismatch");
    CHECK(f.weights() == weights);
    CHECK(tr.optimizer().steps() == steps);
}

TEST_CASE("IO-14: a model file given as a checkpoint and vice versa", "[bad_input]") {
    temp_dir d;
    models m;
    const std::string mp = d.file("m.safetensors"), cp = d.file("c.safetensors");
    io::save_model(m.s, mp);
    train::trainer<nar_student<float>> tr(m.s, train::trainer_config{});
    train::save_checkpoint(tr, cp);
    CHECK_THROWS_PART(format_error, train::load_checkpoint(tr, mp), "not a dualrerank checkpoint");
    CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(cp), "not a dualrerank model file");
}

// =====================================================================================================
// ST: the safetensors reader
// =====================================================================================================

TEST_CASE("ST-01: a file shorter than the 8-byte length", "[bad_input]") {
    CHECK_THROWS_PART(format_error, parse_st({1, 2, 3}), "too short");
    CHECK_THROWS_PART(format_error, parse_st({}), "too short");
}

TEST_CASE("ST-02: a header length beyond the 100 MB cap or beyond the file (before any allocation)", "[bad_input]") {
    std::vector<std::uint8_t> b(16, 0);
    for (int i = 0; i < 8; ++i) b[i] = 0xff;  // 2^64 - 1
    CHECK_THROWS_PART(format_error, parse_st(b), "exceeds the cap of 100000000 bytes");
    b.assign(16, 0);
    b[0] = 200;
    CHECK_THROWS_PART(format_error, parse_st(b), "exceeds the 8 bytes after the length field");
}

TEST_CASE("ST-03: a header that is not a JSON object", "[bad_input]") {
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("[1, 2]   ")), "does not start with '{'");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"a\": ")), "invalid JSON header");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"a\": 1, \"a\": 2}")), "invalid JSON header");
}

TEST_CASE("ST-04: absurd shapes (overflowing products, oversized dimensions, rank > 8)", "[bad_input]") {
    CHECK_THROWS_PART(format_error,
                      parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4)),
                      "overflows");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1099511627777],\"data_offsets\":[0,4]}}", 4)),
                      "the cap on a dimension");
    CHECK_THROWS_PART(format_error,
                      parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4)),
                      "rank 9 exceeds the cap of 8");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4)), "negative");
}

TEST_CASE("ST-05: data offsets beyond the data, overlapping, leaving gaps, or disagreeing with the shape", "[bad_input]") {
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4)),
                      "exceeds the size of the data region");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)), "needs 8 bytes");
    CHECK_THROWS_PART(format_error,
                      parse_st(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                                        8)),
                      "overlaps");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)), "gap");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8)),
                      "belong to no tensor");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8)),
                      "end before begin");
}

TEST_CASE("ST-06: unknown dtypes and fields, wrong field types", "[bad_input]") {
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16)),
                      "unknown or unsupported dtype");
    CHECK_THROWS_PART(format_error,
                      parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4)),
                      "unexpected field");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4)),
                      "shape must be an array");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4)),
                      "must be an integer");
    CHECK_THROWS_PART(format_error, parse_st(st_bytes("{\"__metadata__\":{\"a\":1}}")), "must be a string");
}

TEST_CASE("ST-07: more tensors than the 65536 cap", "[bad_input]") {
    std::string h = "{";
    for (int i = 0; i <= 65536; ++i) h += (i ? ",\"" : "\"") + std::to_string(i) + "\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}";
    h += "}";
    CHECK_THROWS_PART(format_error, parse_st(st_bytes(h)), "more than 65536 tensors");
}

TEST_CASE("ST-08: a checksum that does not match the data", "[bad_input]") {
    const float x[2] = {1, 2};
    auto b = io::write_safetensors_bytes({{"x", io::dtype::f32, {2}, x}});
    CHECK_NOTHROW(parse_st(b));
    b.back() ^= 0x40;
    CHECK_THROWS_PART(format_error, parse_st(b), "checksum mismatch");
}

TEST_CASE("ST-09: reading with the wrong shape or a dtype that cannot hold the values", "[bad_input]") {
    const float x[2] = {1, 2};
    const std::int64_t big[1] = {std::int64_t(1) << 40};
    auto f = parse_st(io::write_safetensors_bytes({{"x", io::dtype::f32, {2}, x}, {"i", io::dtype::i64, {1}, big}}));
    float out[3];
    CHECK_THROWS_PART(format_error, f.read("x", {3}, out), "has shape [2], expected [3]");
    std::int32_t i32[1];
    CHECK_THROWS_PART(format_error, f.read("i", {1}, i32), "does not fit in");
    CHECK_THROWS_PART(format_error, f.read("x", {2}, i32), "cannot be read as");
    CHECK_THROWS_PART(format_error, f.read("nope", {2}, out), "no tensor");
}

// =====================================================================================================
// JS: the JSON parser
// =====================================================================================================

TEST_CASE("JS-01: malformed JSON (truncated, trailing commas, comments, NaN, garbage after the value)", "[bad_input]") {
    for (const char* text : {"{\"a\": 1,}", "[1, 2", "// c\n1", "NaN", "[Infinity]", "{\"a\" 1}", "1 2", "01", "+1", "'a'", ""}) {
        INFO(text);
        CHECK_THROWS_PART(format_error, io::json::parse(text), "json: ");
    }
    CHECK_THROWS_PART(format_error, io::json::parse("[1,\n 2,\n x]"), "line 3, column 2");
}

TEST_CASE("JS-02: nesting beyond max_depth (no stack overflow)", "[bad_input]") {
    const std::string deep(1000000, '[');
    CHECK_THROWS_PART(format_error, io::json::parse(deep), "nesting deeper than 64 levels");
    // a caller's max_depth is itself capped: 1e5 levels would overflow the stack
    io::json_parse_options o;
    o.max_depth = 100000;
    CHECK_THROWS_PART(input_error, io::json::parse(deep, o), "max_depth = 100000 exceeds json_parse_options::max_depth_cap = 1024");
    o.max_depth = io::json_parse_options::max_depth_cap;
    CHECK_THROWS_PART(format_error, io::json::parse(deep, o), "nesting deeper than 1024 levels");
    CHECK(io::json::parse(std::string(1024, '[') + std::string(1024, ']'), o).is_array());
}

TEST_CASE("JS-03: input beyond max_bytes or max_values", "[bad_input]") {
    io::json_parse_options o;
    o.max_bytes = 16;
    CHECK_THROWS_AS(io::json::parse("[1, 2, 3, 4, 5, 6, 7, 8, 9]", o), format_error);
    o = io::json_parse_options{};
    o.max_values = 5;
    CHECK_THROWS_PART(format_error, io::json::parse("[1, 2, 3, 4, 5, 6]", o), "more than 5 values");
}

TEST_CASE("JS-04: invalid strings (bad UTF-8, lone surrogates, raw control characters)", "[bad_input]") {
    CHECK_THROWS_PART(format_error, io::json::parse("\"\xff\""), "invalid UTF-8");
    CHECK_THROWS_AS(io::json::parse("\"\\ud800\""), format_error);
    CHECK_THROWS_PART(format_error, io::json::parse("\"a\tb\""), "control character");
    CHECK_THROWS_PART(format_error, io::json::parse("\"\\u12\""), "\\u escape");
}

TEST_CASE("JS-05: duplicate keys and out-of-range numbers", "[bad_input]") {
    CHECK_THROWS_AS(io::json::parse("{\"k\": 1, \"k\": 2}"), format_error);
    CHECK_THROWS_AS(io::json::parse("1e400"), format_error);
    CHECK_THROWS_AS(io::json::parse("-1.8e308"), format_error);
    CHECK(io::json::parse("18446744073709551616").is_number());  // beyond uint64: kept as a double
}

TEST_CASE("JS-06: accessors of the wrong type name the path", "[bad_input]") {
    const io::json j = io::json::parse("{\"model\": {\"d\": \"sixteen\", \"xs\": [1]}}");
    CHECK_THROWS_PART(format_error, j.at("model").at("d").as_int(), "$.model.d");
    CHECK_THROWS_PART(format_error, j.at("model").at("xs").at(3), "out of range");
    CHECK_THROWS_PART(format_error, j.at("nope"), "missing key");
}

// =====================================================================================================
// LT: the LETOR reader
// =====================================================================================================

namespace {
std::string letor_error(const std::string& text, const letor_options& opt = {}) {
    return message_of<format_error>([&] { read_letor_string(text, opt); });
}
}  // namespace

TEST_CASE("LT-01: bad labels (text, NaN, Inf, negative, above max_label)", "[bad_input]") {
    CHECK(contains(letor_error("1 qid:1 1:0.5\nx qid:1 1:1\n"), "<string>:2: bad label"));
    CHECK(contains(letor_error("nan qid:1 1:0.5\n"), "bad label"));
    CHECK(contains(letor_error("inf qid:1 1:0.5\n"), "bad label"));
    CHECK(contains(letor_error("-1 qid:1 1:0.5\n"), "outside [0,"));
    CHECK(contains(letor_error("32 qid:1 1:0.5\n"), "outside [0,"));
}

TEST_CASE("LT-02: bad feature indices (text, negative, beyond the cap, beyond a pinned width)", "[bad_input]") {
    CHECK(contains(letor_error("1 qid:1 a:0.5\n"), "bad feature index"));
    CHECK(contains(letor_error("1 qid:1 -3:0.5\n"), "negative feature index"));
    CHECK(contains(letor_error("1 qid:1 1048576:0.5\n"), "exceeds the limit"));
    CHECK(contains(letor_error("1 qid:1 99999999999999999999:0.5\n"), "bad feature index"));
    letor_options o;
    o.feature_width = 4;
    CHECK(contains(letor_error("1 qid:1 4:0.5\n", o), "does not fit the given width 4"));
}

TEST_CASE("LT-03: unsorted or duplicate indices, a token without a colon, qid in the wrong place", "[bad_input]") {
    CHECK(contains(letor_error("1 qid:1 3:0.5 2:1\n"), "not increasing"));
    CHECK(contains(letor_error("1 qid:1 3:0.5 3:1\n"), "duplicate feature index 3"));
    CHECK(contains(letor_error("1 qid:1 3\n"), "expected index:value"));
    CHECK(contains(letor_error("1 qid:1 1:0.5 qid:1\n"), "qid: must come right after the label"));
}

TEST_CASE("LT-04: bad values (text, NaN, Inf, beyond float)", "[bad_input]") {
    CHECK(contains(letor_error("1 qid:1 1:abc\n"), "bad value"));
    CHECK(contains(letor_error("1 qid:1 1:nan\n"), "bad value"));
    CHECK(contains(letor_error("1 qid:1 1:inf\n"), "bad value"));
    CHECK(contains(letor_error("1 qid:1 1:1e39\n"), "overflows float"));
}

TEST_CASE("LT-05: qid going back, missing qid, mixed query conventions", "[bad_input]") {
    CHECK(contains(letor_error("1 qid:1 1:1\n0 qid:2 1:1\n2 qid:1 1:1\n"), "goes back to an earlier query"));
    CHECK(contains(letor_error("1 1:1\n"), "no qid: on the line and no group"));
    CHECK(contains(letor_error("1 qid:1 1:1\n1 1:1\n"), "line without qid:"));
    CHECK(contains(letor_error("1 qid:x 1:1\n"), "bad qid"));
    CHECK_THROWS_PART(format_error, read_letor_string("1 qid:1 1:1\n", "1\n"), "use one or the other");
}

TEST_CASE("LT-06: a line longer than max_line_length is rejected without being buffered", "[bad_input]") {
    letor_options o;
    o.limits.max_line_length = 64;
    CHECK(contains(letor_error("1 qid:1 " + std::string(100, ' ') + "1:1\n", o), "longer than the limit"));
    CHECK(contains(letor_error("1 qid:1 1:1\n" + std::string(5000000, '1'), letor_options{}), "longer than the limit"));
}

TEST_CASE("LT-07: group files that do not add up", "[bad_input]") {
    const std::string data = "1 1:1\n0 1:2\n1 1:3\n";
    CHECK_THROWS_PART(format_error, read_letor_string(data, "2\n"), "query sizes sum to 2 but");
    CHECK_THROWS_PART(format_error, read_letor_string(data, "2\n2\n"), "more than the 3 rows");
    CHECK_THROWS_PART(format_error, read_letor_string(data, "0\n3\n"), "must be positive");
    CHECK_THROWS_PART(format_error, read_letor_string(data, "x\n"), "bad query size");
    CHECK_THROWS_PART(format_error, read_letor_string(data, "1 2\n"), "one query size per line");
}

TEST_CASE("LT-08: caps on rows, documents per query and a query's dense size", "[bad_input]") {
    letor_options o;
    o.limits.max_docs_per_query = 2;
    CHECK(contains(letor_error("1 qid:1 1:1\n1 qid:1 1:1\n1 qid:1 1:1\n", o), "more than 2 documents"));
    o = letor_options{};
    o.limits.max_rows = 2;
    CHECK(contains(letor_error("1 qid:1 1:1\n1 qid:2 1:1\n1 qid:3 1:1\n", o), "more than 2 rows"));
    const letor_dataset ds = read_letor_string("1 qid:1 1000:1\n1 qid:1 1:1\n");
    CHECK_THROWS_PART(format_error, ds.to_request(0, 0, 1000), "dense features: size overflows the limit");
    CHECK_THROWS_AS(ds.to_request(5), input_error);
}

TEST_CASE("LT-10: far-out feature indices: the dense width is capped before anything is dense", "[bad_input]") {
    // 1000 one-document queries at index 1048575 (19.9 KB): read sparse, refused by the width cap
    std::string text;
    for (int q = 1; q <= 1000; ++q) text += "1 qid:" + std::to_string(q) + " 1048575:1\n";
    const letor_dataset ds = read_letor_string(text);
    CHECK(ds.index.size() == 1000);  // sparse: one value per row
    CHECK_THROWS_PART(format_error, ds.to_request(0), "more than letor_limits::max_width = 65536");
    CHECK_THROWS_PART(format_error, to_requests(ds), "more than letor_limits::max_width = 65536");
    CHECK_THROWS_PART(format_error, ds.check_dense(), "dense columns");
    letor_options o;
    o.limits.max_width = 8;
    CHECK_THROWS_PART(format_error, read_letor_string("1 qid:1 8:1\n", o).to_request(0), "max_width = 8");
    CHECK(read_letor_string("1 qid:1 7:1\n", o).to_request(0).f == 8);
}

TEST_CASE("LT-11: all queries made dense at once are bounded in total (max_total_dense_values)", "[bad_input]") {
    letor_options o;
    o.limits.max_total_dense_values = 50;
    std::string text;
    for (int q = 1; q <= 6; ++q) text += "1 qid:" + std::to_string(q) + " 9:1\n";  // 6 rows x 10 columns
    const letor_dataset ds = read_letor_string(text, o);
    CHECK_THROWS_PART(format_error, to_requests(ds), "6 rows x 10 columns exceed letor_limits::max_total_dense_values = 50");
    CHECK(ds.to_request(0).features.size() == 10);  // one query at a time is within the cap
    o.limits.max_total_dense_values = 60;
    CHECK(to_requests(read_letor_string(text, o)).size() == 6);
}

TEST_CASE("LT-12: index base: 1-based files give no empty column 0; a bad base is refused", "[bad_input]") {
    letor_options o;
    const std::string one = "1 qid:1 1:0.5 3:2\n0 qid:1 2:1\n";
    CHECK(read_letor_string(one, o).width() == 4);  // literal (default): column 0 empty
    o.index_base = -1;
    const letor_dataset a = read_letor_string(one, o);
    CHECK(a.index_base == 1);
    CHECK(a.width() == 3);
    const request<float> r = a.to_request(0);
    CHECK(r.features == std::vector<float>{0.5f, 0.0f, 2.0f, 0.0f, 1.0f, 0.0f});
    CHECK(read_letor_string("1 qid:1 0:1 3:2\n", o).index_base == 0);  // holds index 0: 0-based
    o.feature_width = 3;  // pinned width counts columns after the shift
    CHECK(read_letor_string(one, o).to_request(0).f == 3);
    CHECK(contains(letor_error("1 qid:1 0:1 3:2\n", o), "<string>:1: feature index 3 does not fit the given width 3"));
    CHECK(contains(letor_error("1 qid:1 4:2\n", o), "does not fit the given width 3"));
    o.index_base = 1;
    CHECK(contains(letor_error("1 qid:1 1:1\n0 qid:1 0:1\n", o), "<string>:2: feature index 0 in a file read as 1-based"));
    o.index_base = 2;
    CHECK_THROWS_PART(input_error, read_letor_string(one, o), "index_base must be -1, 0 or 1");
}

TEST_CASE("LT-13: control bytes from a file are escaped in error messages", "[bad_input]") {
    const std::string msg = letor_error("1 qid:1 1:1 \x1b[31mX:2\n");
    CHECK(contains(msg, "bad feature index '\\x1b[31mX'"));
    CHECK(msg.find('\x1b') == std::string::npos);
    CHECK(dualrerank::detail::printable(std::string("a\x01\n\x7f\xc3\xa9", 6)) == "a\\x01\\x0a\\x7f\xc3\xa9");
}

TEST_CASE("LT-09: LETOR values the reader accepts but a model does not (|x| > 1e8)", "[bad_input]") {
    const letor_dataset ds = read_letor_string("1 qid:1 0:1e30 1:2\n0 qid:1 0:1 1:1\n");
    const request<float> r = ds.to_request(0);
    model_config c = small_config(2, 0);
    nar_student<float> s(c);
    s.init(1);
    workspace ws;
    CHECK_THROWS_PART(input_error, decode::greedy(s, r.view(), 2, ws), "exceeds limits::max_feature_magnitude");
}

// =====================================================================================================
// WD: the built-in world (simulator) and its configs
// =====================================================================================================

TEST_CASE("WD-01: invalid world configs", "[bad_input]") {
    auto bad = [](auto edit, const std::string& part) {
        world_config c = world_config::small();
        edit(c);
        CHECK_THROWS_PART(input_error, world(c, 1), part);
    };
    bad([](world_config& c) { c.num_candidates = 0; }, "num_candidates must be in");
    bad([](world_config& c) { c.slate_size = 21; }, "slate_size must be in [1, num_candidates]");
    bad([](world_config& c) { c.feature_dim = 0; }, "feature_dim");
    bad([](world_config& c) { c.exam_decay = 0; }, "exam_decay");
    bad([](world_config& c) { c.exam_cut = std::nan(""); }, "exam_cut");
    bad([](world_config& c) { c.click_bias = std::nan(""); }, "must be finite");
    bad([](world_config& c) { c.latent_noise = -1; }, ">= 0");
    bad([](world_config& c) { c.viewport = -1; }, "viewport");
}

TEST_CASE("WD-02: oversized world dimensions are rejected before any request is built", "[bad_input]") {
    world_config c = world_config::small();
    c.num_candidates = 1 << 16;  // used to pass: the first request then held 2^32 floats (16 GiB)
    c.feature_dim = 1 << 16;
    CHECK_THROWS_PART(input_error, world(c, 1), "num_candidates * (feature_dim + latent_dim) must be <= 2^26");
    c.num_candidates = 1 << 17;
    CHECK_THROWS_PART(input_error, world(c, 1), "num_candidates must be in [1, 65536]");
}

TEST_CASE("WD-03: extreme world parameters (1e30)", "[bad_input]") {
    world_config c = world_config::small();
    c.affinity_scale = 1e30;  // used to pass, with observed features beyond the models' range
    CHECK_THROWS_PART(input_error, world(c, 1), "within [-1e6, 1e6]");
    c = world_config::small();
    c.click_bias = -1e30;
    CHECK_THROWS_AS(world(c, 1), input_error);
}

TEST_CASE("WD-04: slates of the wrong length, repeated or out-of-range items", "[bad_input]") {
    world w(world_config::small(), 1);
    const sim_request r = w.make_request(0);
    rng g(1);
    CHECK_THROWS_PART(input_error, w.expected_utility(r, slate{0, 1, 2}), "slate has 3 slots, the world's L is 6");
    CHECK_THROWS_PART(input_error, w.expected_feedback(r, slate{0, 1, 2, 3, 4, 4}), "repeats candidate 4");
    CHECK_THROWS_PART(input_error, w.sample_feedback(r, slate{0, 1, 2, 3, 4, 20}, g), "outside [0, 20)");
    std::vector<double> z;
    CHECK_THROWS_PART(input_error, w.appeal_logits(r, slate{-1, 1, 2, 3, 4, 5}, z), "holds candidate -1");
}

TEST_CASE("WD-05: a stream asked for feedback before next(), or restored to a step < -1", "[bad_input]") {
    stream s(world(world_config::small(), 1), drift::none(), 1);
    CHECK_THROWS_PART(input_error, s.feedback(slate{0, 1, 2, 3, 4, 5}), "call next() before");
    CHECK_THROWS_PART(input_error, s.current(), "call next() before");
    CHECK_THROWS_PART(input_error, s.restore(-2, {1, 2, 3, 4}), "step must be >= -1");
}

TEST_CASE("WD-06: drift schedules with a zero period or duration", "[bad_input]") {
    CHECK_THROWS_PART(input_error, schedule::smooth(1, 2, 0, 0), "duration must be >= 1");
    CHECK_THROWS_PART(input_error, schedule::periodic(1, 0.5, 0), "period must be >= 1");
}

TEST_CASE("WD-07: reference policies and helpers with bad arguments", "[bad_input]") {
    world w(world_config::small(), 1);
    CHECK_THROWS_PART(input_error, evaluate_reference_policies(w, 0, 0), "count must be >= 1");
    reference_options o;
    o.behaviour_samples = 0;
    CHECK_THROWS_PART(input_error, evaluate_reference_policies(w, 0, 1, o), "behaviour_samples");
    rng g(1);
    CHECK_THROWS_AS(random_slate(3, 4, g), input_error);
    CHECK_THROWS_AS(random_slate(0, 0, g), input_error);
    const std::vector<double> sc = {1, 2, 3};
    CHECK_THROWS_AS(plackett_luce_sample(sc, 2, 0.0, g), input_error);
    CHECK_THROWS_AS(plackett_luce_log_prob(sc, slate{0, 0}, 1.0), input_error);
    beam_options bo;
    bo.width = 0;
    CHECK_THROWS_AS(beam_search(w, w.make_request(0), conditions{}, bo), input_error);
}

// =====================================================================================================
// JL: the JSON-lines reader on streams
// =====================================================================================================

TEST_CASE("JL-01: an overlong line is skipped to its end within a budget; a stream without line ends stops", "[bad_input]") {
    io::jsonl_limits lim;
    lim.max_line_bytes = 64;
    lim.max_skip_bytes = 1000;
    const std::string good = "{\"features\":[[1,2]]}\n";
    {  // overlong line within the skip budget: an error, then the reader goes on
        std::istringstream in(std::string(500, 'x') + "\n" + good);
        io::jsonl_reader r(in, "s", lim);
        io::jsonl_request q;
        CHECK_THROWS_PART(format_error, r.next(q), "s:1: line longer than the limit of 64 bytes");
        CHECK(r.next(q));
        CHECK(q.line == 2);
    }
    {  // no line end within the budget (/dev/zero): an error, then the end of the stream
        std::istringstream in(std::string(20000, '\0') + "\n" + good);
        io::jsonl_reader r(in, "z", lim);
        io::jsonl_request q;
        CHECK_THROWS_PART(format_error, r.next(q), "z:1: no line end within max_skip_bytes = 1000 bytes");
        CHECK_FALSE(r.next(q));
    }
}

// =====================================================================================================
// WS: workspace budget and high-water policy
// =====================================================================================================

TEST_CASE("WS-01: a workspace budget refuses a call before asking for memory; the retain limit gives memory back", "[bad_input]") {
    models m;
    auto big = good_request(m.c, 60);
    auto small = good_request(m.c, 8);
    std::vector<int> out(3);
    workspace probe_ws;
    decode::greedy(m.s, big.view(), 3, out.data(), probe_ws);
    const std::size_t need_big = probe_ws.peak_bytes();
    workspace ws_small;
    decode::greedy(m.s, small.view(), 3, out.data(), ws_small);
    const std::size_t need_small = ws_small.peak_bytes();
    REQUIRE(need_small < need_big);

    // WS-02: inference checks its bound (max_workspace_bytes) against the budget before allocating
    workload wb, wsm;
    wb.n = 60;
    wsm.n = 8;
    wb.L = wsm.L = 3;
    const std::size_t bound_big = max_workspace_bytes(m.c, model_kind::student, wb);
    const std::size_t bound_small = max_workspace_bytes(m.c, model_kind::student, wsm);
    REQUIRE(need_big <= bound_big);
    REQUIRE(need_small <= bound_small);
    REQUIRE(bound_small < bound_big);
    workspace ws;
    ws.set_budget(bound_small);
    const std::size_t allocations = ws.block_allocations();
    CHECK_THROWS_PART(input_error, decode::greedy(m.s, big.view(), 3, out.data(), ws), "workspace budget of");
    CHECK(ws.capacity_bytes() == 0);  // refused before any memory was requested
    CHECK_NOTHROW(decode::greedy(m.s, small.view(), 3, out.data(), ws));  // usable after the refusal
    CHECK(ws.block_allocations() >= allocations);
    CHECK(ws.capacity_bytes() <= ws.budget());
    ws.set_budget(need_big);
    CHECK_THROWS_PART(input_error, decode::greedy(m.s, big.view(), 3, out.data(), ws), "max_workspace_bytes");
    ws.set_budget(bound_big);
    CHECK_NOTHROW(decode::greedy(m.s, big.view(), 3, out.data(), ws));  // exactly the bound fits
    // WS-01: a call without a bound (training) is refused by the budget at the allocation that
    // would pass it, before that memory is requested
    workspace tw;
    auto bv = big.view();
    m.s.forward(&bv, 1, 3, tw);
    const std::size_t train_need = tw.peak_bytes();
    workspace tb;
    tb.set_budget(train_need / 2);
    CHECK_THROWS_PART(input_error, m.s.forward(&bv, 1, 3, tb), "workspace budget of");
    CHECK(tb.capacity_bytes() <= tb.budget() + (std::size_t(1) << 16));

    // high-water policy: an outlier request does not stay pinned
    workspace hw;
    hw.set_retain_limit(need_small + 4096);
    decode::greedy(m.s, big.view(), 3, out.data(), hw);
    CHECK(hw.capacity_bytes() >= need_big);
    decode::greedy(m.s, small.view(), 3, out.data(), hw);  // its reset() gives the memory back
    CHECK(hw.capacity_bytes() <= need_small + 4096 + (std::size_t(1) << 16));
    const std::size_t before = hw.block_allocations();
    decode::greedy(m.s, small.view(), 3, out.data(), hw);  // steady state: no new allocation
    decode::greedy(m.s, small.view(), 3, out.data(), hw);
    CHECK(hw.block_allocations() == before);

    workspace s;
    decode::greedy(m.s, big.view(), 3, out.data(), s);
    s.shrink_to(1000);
    CHECK(s.capacity_bytes() <= 1000);
    s.shrink_to(0);
    CHECK(s.capacity_bytes() == 0);
    CHECK_NOTHROW(decode::greedy(m.s, big.view(), 3, out.data(), s));  // grows again on demand
}

// =====================================================================================================
// OL: online RL (train/online.hpp)
// =====================================================================================================

namespace {
/// A scorer predicting a constant for `objectives` objectives (the trainer checks only the count).
struct constant_scorer : train::slate_scorer<float> {
    int O = 1;
    int objectives() const override { return O; }
    void predict(const request_view<float>&, std::uint64_t, int K, int L, const int*, double* out, workspace&) override {
        std::fill(out, out + std::size_t(K) * L * O, 0.5);
    }
};
}  // namespace

TEST_CASE("OL-01: online_server with a temperature that is not finite and > 0", "[bad_input]") {
    models m;
    train::policy_store<float> store(m.s);
    for (double tau : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()})
        CHECK_THROWS_PART(input_error, train::online_server<float>(store, tau, 1), "tau must be finite and > 0");
    CHECK_NOTHROW(train::online_server<float>(store, 0.5, 1));
}

TEST_CASE("OL-02: feedback_joiner with max_pending 0, or one request id logged twice", "[bad_input]") {
    CHECK_THROWS_PART(input_error, train::feedback_joiner<float>(0), "max_pending must be >= 1");
    models m;
    train::feedback_joiner<float> j(8);
    auto r = good_request(m.c, 8);
    train::shown_slate<float> s;
    s.request_id = 42;
    s.items = {0, 1, 2};
    s.log_propensity = {-1.f, -1.f, -1.f};
    j.log_shown(r, s);
    CHECK_THROWS_PART(input_error, j.log_shown(r, s), "request id 42 logged twice");
}

TEST_CASE("OL-05: feedback_joiner::deliver with values_per_slot: feedback of the wrong shape", "[bad_input]") {
    models m;
    train::feedback_joiner<float> j(8);
    train::shown_slate<float> s;
    s.request_id = 7;
    s.items = {0, 1, 2};
    s.log_propensity = {-1.f, -1.f, -1.f};
    j.log_shown(good_request(m.c, 8), s);
    CHECK_THROWS_PART(input_error, j.deliver(7, {1, 0, 0, 0, 1}, 2), "showed 3 slots, so its feedback needs 3 x 2 values, got 5");
    CHECK_THROWS_PART(input_error, j.deliver(7, {1, 0, 0, 0, 1, 0, 0}, 2), "got 7");
    CHECK(j.pending() == 1);  // the entry stays pending: a corrected delivery joins it
    CHECK(j.unmatched() == 0);
    CHECK_FALSE(j.deliver(8, {1, 0}, 2));  // an unknown id is not a shape error
    CHECK(j.deliver(7, {1, 0, 0, 0, 1, 0}, 2));
    CHECK(j.take_ready().size() == 1);
    j.log_shown(good_request(m.c, 8), [&] { auto t = s; t.request_id = 9; return t; }());
    CHECK(j.deliver(9, {1, 0, 0, 0, 1}));  // values_per_slot 0: unchecked, as before
}

TEST_CASE("OL-03: evaluator scorers with capacity, update_every or batch < 1, or lr <= 0 / NaN", "[bad_input]") {
    models m;
    using cfg = train::online_evaluator_scorer<float>::config;
    std::vector<cfg> bad(5);
    bad[0].capacity = 0;
    bad[1].update_every = 0;
    bad[2].batch = 0;
    bad[3].lr = 0;
    bad[4].lr = std::nan("");
    for (const cfg& c : bad)
        CHECK_THROWS_PART(input_error, train::online_evaluator_scorer<float>(m.e, c), "capacity, update_every, batch must be >= 1 and lr > 0");
    CHECK_NOTHROW(train::online_evaluator_scorer<float>(m.e, cfg{}));
}

TEST_CASE("OL-04: online_trainer with an invalid config or objective weights of the wrong size", "[bad_input]") {
    models m;
    train::policy_store<float> store(m.s);
    constant_scorer sc;
    auto make = [&](const train::online_config& oc) { train::online_trainer<float> t(m.s, m.s, sc, store, oc); };
    auto base = [] {
        train::online_config oc;
        oc.objectives = {"click"};
        oc.log = nullptr;
        return oc;
    };
    {
        auto oc = base();
        oc.objectives.clear();
        CHECK_THROWS_PART(input_error, make(oc), "need at least one objective");
    }
    {
        auto oc = base();
        oc.objectives = {"click", "long_view"};  // the scorer predicts one
        CHECK_THROWS_PART(input_error, make(oc), "the scorer predicts 1 objectives, the config names 2");
    }
    for (int rps : {0, (1 << 16) + 1}) {
        auto oc = base();
        oc.requests_per_step = rps;
        CHECK_THROWS_PART(input_error, make(oc), "requests_per_step in [1, 65536]");
    }
    {
        auto oc = base();
        oc.publish_every = 0;
        CHECK_THROWS_PART(input_error, make(oc), "publish_every >= 1");
    }
    for (double w : {-1.0, std::nan("")}) {
        auto oc = base();
        oc.group_weight = w;
        CHECK_THROWS_PART(input_error, make(oc), "group_weight and shown_weight must be finite and >= 0");
        oc = base();
        oc.shown_weight = w;
        CHECK_THROWS_PART(input_error, make(oc), "group_weight and shown_weight must be finite and >= 0");
    }
    for (double p : {-0.1, 1.0}) {
        auto oc = base();
        oc.polyak = p;
        CHECK_THROWS_PART(input_error, make(oc), "polyak must be in [0, 1)");
    }
    {
        auto oc = base();
        oc.eval_every = -1;
        CHECK_THROWS_PART(input_error, make(oc), "eval_every and publish_margin must be >= 0");
        oc = base();
        oc.publish_margin = -0.5;
        CHECK_THROWS_PART(input_error, make(oc), "eval_every and publish_margin must be >= 0");
    }
    train::online_trainer<float> t(m.s, m.s, sc, store, base());
    CHECK_THROWS_PART(input_error, t.set_weights({1.0, 2.0}), "expected 1 weights");
    CHECK_NOTHROW(t.set_weights({2.0}));
}

}  // namespace dualrerank_test_bad_input
