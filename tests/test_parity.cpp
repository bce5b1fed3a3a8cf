// Golden parity with the PyTorch reference (python/dualrerank_ref, fixtures from
// python/make_fixtures.py), in the spirit of llm.c's test_gpt2.c: logits, decoded slates and every
// parameter gradient of the three models, in float and in double. Every mismatch fails the run.
//
// Fixtures: tests/data/golden (committed) or $DUALRERANK_FIXTURE_DIR (e.g. regenerated live with
// torch by python/check_parity.sh). One fixture per (case, model kind), `<case>.<kind>.fixture.safetensors`.
// Weights come from the model file the fixture names (`model_f32` / `model_f64`) when it is present,
// otherwise from the portable generator recorded in the fixture (python/dualrerank_ref/weights.py),
// which reproduces the float32-exact weights bit for bit. Either way the tensor names and shapes
// must equal the C++ tensor table exactly.
//
// Tolerances (reference = PyTorch in float64 on the same float32-exact weights and inputs):
//  * outputs (Z, E): max |C++ - ref| <= tol * max |ref| over the finite entries of each request's
//    matrix ([L x N] logits, [K x L x outputs] engagement logits); tol = 1e-5 (float), 1e-9 (double);
//    masked (-inf) entries must match exactly;
//  * gradients: per tensor, max |C++ - ref| <= tol * max |ref| (an all-zero reference gradient
//    must come out all zero); tol = 1e-4 (float), 1e-9 (double);
//  * slates (student greedy and confidence-ordered, teacher greedy and beam 3): identical; the
//    generator only keeps inputs whose decisions have float64 margins >= 1e-3;
//  * slate log-probabilities: |C++ - ref| <= tol * max(1, |ref|), tol 1e-5 / 1e-9.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fixture_io.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_parity {

using namespace dualrerank;
namespace fs = std::filesystem;
using fixture_io::json;
using fixture_io::safetensors;

namespace {

template <class T>
struct tol;
template <>
struct tol<float> {
    static constexpr double out = 1e-5, grad = 1e-4;
    static constexpr const char* tag = "f32";
};
template <>
struct tol<double> {
    static constexpr double out = 1e-9, grad = 1e-9;
    static constexpr const char* tag = "f64";
};

fs::path fixture_dir() {
    if (const char* env = std::getenv("DUALRERANK_FIXTURE_DIR"))
        if (*env) return fs::path(env);
    return fs::path(DUALRERANK_SOURCE_DIR) / "tests" / "data" / "golden";
}

/// Fixtures of one model kind, sorted by name. Fails the test when there are none.
std::vector<fs::path> fixtures_of(const std::string& kind) {
    const fs::path dir = fixture_dir();
    std::vector<fs::path> out;
    const std::string suffix = "." + kind + ".fixture.safetensors";
    if (fs::is_directory(dir))
        for (const auto& e : fs::directory_iterator(dir)) {
            const std::string n = e.path().filename().string();
            if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
                out.push_back(e.path());
        }
    std::sort(out.begin(), out.end());
    INFO("fixture directory: " << dir.string());
    REQUIRE(!out.empty());
    return out;
}

model_config parse_config(const std::string& text) {
    const json j = json::parse(text);
    static const std::set<std::string> known = {"features", "context", "d", "heads", "enc_layers", "dec_layers",
                                                "ffn", "max_slate", "max_candidates", "rank_embedding", "outputs"};
    for (const auto& kv : j.obj)
        if (!known.count(kv.first)) throw std::runtime_error("unknown config key " + kv.first);
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

std::string shape_str(const std::vector<std::size_t>& s) {
    std::ostringstream o;
    o << "[";
    for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    o << "]";
    return o.str();
}

/// Fill the model's parameters from the fixture's model file (if present) or the generator.
/// Returns "file" or "generator". Checks names and shapes against the PyTorch state_dict.
template <class Model>
std::string load_weights(Model& m, const safetensors& fx, const fs::path& dir, const char* tag) {
    using T = typename Model::value_type;
    const json init = json::parse(fx.meta("init"));
    REQUIRE(init.at("generator").string() == "splitmix64-v1");
    const json& specs = init.at("tensors");
    // Names and shapes: PyTorch state_dict == C++ tensor table.
    std::set<std::string> torch_names, cpp_names;
    for (const auto& kv : specs.obj) torch_names.insert(kv.first);
    for (const auto& t : m.table().tensors()) {
        cpp_names.insert(t.name);
        const json* s = specs.find(t.name);
        INFO("tensor " << t.name << " is in the C++ table but not in the PyTorch state_dict");
        REQUIRE(s != nullptr);
        std::vector<std::size_t> shape;
        for (const auto& d : s->arr.at(2).arr) shape.push_back(std::size_t(d.integer()));
        INFO("tensor " << t.name << ": C++ shape " << shape_str(t.shape) << ", PyTorch " << shape_str(shape));
        CHECK(shape == t.shape);
    }
    for (const auto& n : torch_names) {
        INFO("tensor " << n << " is in the PyTorch state_dict but not in the C++ table");
        CHECK(cpp_names.count(n) == 1);
    }
    const std::string key = std::string("model_") + tag;
    if (fx.has_meta(key) && fs::exists(dir / fx.meta(key))) {
        const safetensors mf = safetensors::open((dir / fx.meta(key)).string());
        REQUIRE(mf.meta("format") == "dualrerank");
        // "1": the committed goldens (older writer); "2": fixtures regenerated by check_parity.sh
        REQUIRE((mf.meta("format_version") == "1" || mf.meta("format_version") == "2"));
        REQUIRE(mf.meta("kind") == std::string(to_string(Model::kind)));
        REQUIRE(parse_config(mf.meta("config")) == m.config());
        std::size_t params_in_file = 0;  // everything but the optional self-test (verify.*)
        for (const auto& kv : mf.tensors()) params_in_file += kv.first.rfind("verify.", 0) != 0;
        REQUIRE(params_in_file == m.table().tensors().size());
        for (const auto& t : m.table().tensors()) {
            INFO("model file " << mf.path() << ", tensor " << t.name);
            REQUIRE(mf.has(t.name));
            REQUIRE(mf.entry(t.name).dtype == (sizeof(T) == 4 ? "F32" : "F64"));
            const std::vector<T> v = mf.get<T>(t.name, &t.shape);
            std::copy(v.begin(), v.end(), m.tensor(t.name));
        }
        return "file";
    }
    const auto seed = std::uint64_t(init.at("seed").integer());
    for (const auto& t : m.table().tensors()) fixture_io::fill_portable(m.tensor(t.name), t.size, seed, t.name, specs.at(t.name));
    return "generator";
}

template <class T>
std::vector<request<T>> load_requests(const safetensors& fx, const model_config& c) {
    const int B = std::stoi(fx.meta("requests"));
    std::vector<request<T>> out;
    for (int r = 0; r < B; ++r) {
        const std::string p = "req" + std::to_string(r) + ".";
        request<T> q;
        const auto& e = fx.entry(p + "features");
        REQUIRE(e.shape.size() == 2);
        REQUIRE(int(e.shape[1]) == c.features);
        q.n = int(e.shape[0]);
        q.f = c.features;
        q.features = fx.get<T>(p + "features");
        if (c.context > 0) q.context = fx.get<T>(p + "context");
        q.upstream_rank = fx.get<int>(p + "upstream_rank");
        out.push_back(std::move(q));
    }
    return out;
}

template <class T>
std::vector<request_view<T>> views(const std::vector<request<T>>& reqs) {
    std::vector<request_view<T>> v;
    for (const auto& r : reqs) v.push_back(r.view());
    return v;
}

/// Compare logits [B x L x n] with the reference (finite entries relative to each request's max).
/// Returns the worst relative error.
template <class T>
double compare_logits(const T* Z, const safetensors& fx, int B, int L, int n, double tolerance) {
    const std::vector<std::size_t> shape = {std::size_t(B), std::size_t(L), std::size_t(n)};
    const auto ref = fx.get<double>("Z", &shape);
    const auto mask = fx.get<int>("Z.mask", &shape);
    double worst = 0;
    for (int b = 0; b < B; ++b) {
        const std::size_t o = std::size_t(b) * L * n;
        double scale = 0, err = 0;
        for (std::size_t i = 0; i < std::size_t(L) * n; ++i)
            if (mask[o + i]) scale = std::max(scale, std::abs(ref[o + i]));
        for (std::size_t i = 0; i < std::size_t(L) * n; ++i) {
            const double z = double(Z[o + i]);
            if (!mask[o + i]) {
                INFO("request " << b << ", slot " << i / n << ", item " << i % n << ": expected -inf, got " << z);
                CHECK(z == -std::numeric_limits<double>::infinity());
            } else {
                INFO("request " << b << ", slot " << i / n << ", item " << i % n << ": got " << z << ", expected "
                                << ref[o + i]);
                REQUIRE(std::isfinite(z));
                err = std::max(err, std::abs(z - ref[o + i]));
            }
        }
        const double rel = scale > 0 ? err / scale : err;
        INFO("request " << b << ": max |Z - Z_ref| = " << err << ", max |Z_ref| = " << scale);
        CHECK(rel <= tolerance);
        worst = std::max(worst, rel);
    }
    return worst;
}

/// Compare every parameter gradient with grad.<name>; returns the worst relative error and its tensor.
template <class Model>
std::pair<double, std::string> compare_grads(const Model& m, const std::vector<typename Model::value_type>& G,
                                             const safetensors& fx, double tolerance) {
    double worst = 0;
    std::string worst_name;
    for (const auto& t : m.table().tensors()) {
        const std::string key = "grad." + t.name;
        INFO("gradient " << key);
        REQUIRE(fx.has(key));
        const auto ref = fx.get<double>(key, &t.shape);
        double scale = 0, err = 0;
        for (std::size_t i = 0; i < t.size; ++i) {
            scale = std::max(scale, std::abs(ref[i]));
            err = std::max(err, std::abs(double(G[t.offset + i]) - ref[i]));
        }
        const double rel = scale > 0 ? err / scale : err;
        INFO("max |g - g_ref| = " << err << ", max |g_ref| = " << scale);
        if (scale > 0)
            CHECK(rel <= tolerance);
        else
            CHECK(err == 0.0);
        if (rel > worst) {
            worst = rel;
            worst_name = t.name;
        }
    }
    return {worst, worst_name};
}

void check_slates(const std::vector<int>& got, const std::vector<int>& ref, int b, int L, const char* what) {
    const std::vector<int> want(ref.begin() + std::size_t(b) * L, ref.begin() + std::size_t(b + 1) * L);
    std::ostringstream g, w;
    for (int i = 0; i < L; ++i) {
        g << got[std::size_t(i)] << ' ';
        w << want[std::size_t(i)] << ' ';
    }
    INFO(what << " slate of request " << b << ": C++ " << g.str() << "| PyTorch " << w.str());
    CHECK(got == want);
}

void check_close(double got, double ref, double tolerance, const std::string& what) {
    INFO(what << ": C++ " << got << ", PyTorch " << ref);
    CHECK(std::abs(got - ref) <= tolerance * std::max(1.0, std::abs(ref)));
}

struct fixture_header {
    safetensors fx;
    model_config config;
    int L = 0, B = 0;
    bool grads = false;
    std::string name;
};

fixture_header open_fixture(const fs::path& path, const char* kind) {
    fixture_header h{safetensors::open(path.string()), {}, 0, 0, false, path.filename().string()};
    REQUIRE(h.fx.meta("format") == "dualrerank-fixture");
    REQUIRE(h.fx.meta("fixture_version") == "1");
    REQUIRE(h.fx.meta("kind") == kind);
    h.config = parse_config(h.fx.meta("config"));
    h.L = std::stoi(h.fx.meta("L"));
    h.B = std::stoi(h.fx.meta("requests"));
    h.grads = h.fx.meta("grads") == "1";
    return h;
}

template <class M>
struct type_tag {
    using type = M;
};

void report(const std::string& line) { std::cout << "  [parity] " << line << "\n"; }

std::string fmt(double v) {
    std::ostringstream o;
    o.precision(2);
    o << std::scientific << v;
    return o.str();
}

}  // namespace

TEMPLATE_TEST_CASE("parity: NAR student logits, decoders and gradients match PyTorch", "[parity]", float, double) {
    using T = TestType;
    for (const auto& path : fixtures_of("nar_student")) {
        INFO("fixture " << path.string() << " (" << tol<T>::tag << ")");
        fixture_header h = open_fixture(path, "nar_student");
        nar_student<T> m(h.config);
        const std::string src = load_weights(m, h.fx, path.parent_path(), tol<T>::tag);
        const auto reqs = load_requests<T>(h.fx, h.config);
        const auto rv = views(reqs);
        workspace ws;
        auto c = m.forward(rv.data(), h.B, h.L, ws);
        const double zerr = compare_logits(c.Z, h.fx, h.B, h.L, c.n, tol<T>::out);
        std::string line = h.name + " " + tol<T>::tag + " (weights: " + src + "): logits " + fmt(zerr);
        if (h.grads) {
            const std::vector<std::size_t> shape = {std::size_t(h.B), std::size_t(h.L), std::size_t(c.n)};
            const auto R = h.fx.get<T>("R", &shape);
            std::vector<T> G(m.arena_size(), T(0));
            m.backward(c, R.data(), G.data(), ws);
            const auto ge = compare_grads(m, G, h.fx, tol<T>::grad);
            line += ", grads " + fmt(ge.first) + " (" + ge.second + ")";
        }
        const auto g_ref = h.fx.get<int>("greedy");
        const auto c_ref = h.fx.get<int>("confident");
        const auto lp_ref = h.fx.get<double>("greedy_logprob");
        for (int b = 0; b < h.B; ++b) {
            check_slates(decode::greedy(m, rv[std::size_t(b)], h.L, ws), g_ref, b, h.L, "greedy");
            check_slates(decode::confident(m, rv[std::size_t(b)], h.L, ws), c_ref, b, h.L, "confident");
            std::vector<T> Z(std::size_t(h.L) * reqs[std::size_t(b)].n);
            m.logits(rv[std::size_t(b)], h.L, Z.data(), ws);
            const std::vector<int> y(g_ref.begin() + std::size_t(b) * h.L, g_ref.begin() + std::size_t(b + 1) * h.L);
            check_close(double(decode::slate_log_prob(Z.data(), h.L, reqs[std::size_t(b)].n, reqs[std::size_t(b)].n,
                                                      y.data())),
                        lp_ref[std::size_t(b)], tol<T>::out, "log pi(greedy slate)");
        }
        report(line + ", slates checked");
    }
}

TEMPLATE_TEST_CASE("parity: AR teacher logits, decoders and gradients match PyTorch", "[parity]", float, double) {
    using T = TestType;
    for (const auto& path : fixtures_of("ar_teacher")) {
        INFO("fixture " << path.string() << " (" << tol<T>::tag << ")");
        fixture_header h = open_fixture(path, "ar_teacher");
        ar_teacher<T> m(h.config);
        const std::string src = load_weights(m, h.fx, path.parent_path(), tol<T>::tag);
        const auto reqs = load_requests<T>(h.fx, h.config);
        const auto rv = views(reqs);
        const std::vector<std::size_t> tshape = {std::size_t(h.B), std::size_t(h.L)};
        const auto targets = h.fx.get<int>("targets", &tshape);
        workspace ws;
        auto c = m.forward(rv.data(), h.B, h.L, targets.data(), ws);
        const double zerr = compare_logits(c.Z, h.fx, h.B, h.L, c.n, tol<T>::out);
        std::string line = h.name + " " + tol<T>::tag + " (weights: " + src + "): logits " + fmt(zerr);
        if (h.grads) {
            const std::vector<std::size_t> shape = {std::size_t(h.B), std::size_t(h.L), std::size_t(c.n)};
            const auto R = h.fx.get<T>("R", &shape);
            std::vector<T> G(m.arena_size(), T(0));
            m.backward(c, R.data(), G.data(), ws);
            const auto ge = compare_grads(m, G, h.fx, tol<T>::grad);
            line += ", grads " + fmt(ge.first) + " (" + ge.second + ")";
        }
        const int beam = std::stoi(h.fx.meta("beam"));
        const auto g_ref = h.fx.get<int>("greedy", &tshape);
        const auto b_ref = h.fx.get<int>("beam", &tshape);
        const auto blp_ref = h.fx.get<double>("beam_logprob");
        for (int b = 0; b < h.B; ++b) {
            check_slates(decode::teacher_greedy(m, rv[std::size_t(b)], h.L, ws), g_ref, b, h.L, "teacher greedy");
            std::vector<int> y(std::size_t(h.L));
            const T lp = decode::teacher_beam(m, rv[std::size_t(b)], h.L, beam, y.data(), ws);
            check_slates(y, b_ref, b, h.L, "teacher beam");
            check_close(double(lp), blp_ref[std::size_t(b)], tol<T>::out, "teacher beam log-probability");
        }
        report(line + ", slates checked");
    }
}

TEMPLATE_TEST_CASE("parity: list evaluator outputs and gradients match PyTorch", "[parity]", float, double) {
    using T = TestType;
    for (const auto& path : fixtures_of("list_evaluator")) {
        INFO("fixture " << path.string() << " (" << tol<T>::tag << ")");
        fixture_header h = open_fixture(path, "list_evaluator");
        list_evaluator<T> m(h.config);
        const std::string src = load_weights(m, h.fx, path.parent_path(), tol<T>::tag);
        const auto reqs = load_requests<T>(h.fx, h.config);
        const auto rv = views(reqs);
        std::vector<T> G(m.arena_size(), T(0));
        double worst = 0;
        workspace ws;
        const int O = h.config.outputs;
        for (int r = 0; r < h.B; ++r) {
            const std::string p = "req" + std::to_string(r) + ".";
            const auto& se = h.fx.entry(p + "slates");
            REQUIRE(se.shape.size() == 2);
            REQUIRE(int(se.shape[1]) == h.L);
            const int K = int(se.shape[0]);
            const auto slates = h.fx.get<int>(p + "slates");
            const std::vector<std::size_t> eshape = {std::size_t(K), std::size_t(h.L), std::size_t(O)};
            const auto E_ref = h.fx.get<double>(p + "E", &eshape);
            ws.reset();
            auto c = m.forward(rv[std::size_t(r)], K, h.L, slates.data(), ws);
            double scale = 0, err = 0;
            for (std::size_t i = 0; i < E_ref.size(); ++i) {
                scale = std::max(scale, std::abs(E_ref[i]));
                err = std::max(err, std::abs(double(c.E[i]) - E_ref[i]));
            }
            const double rel = scale > 0 ? err / scale : err;
            INFO("request " << r << ": max |E - E_ref| = " << err << ", max |E_ref| = " << scale);
            CHECK(rel <= tol<T>::out);
            worst = std::max(worst, rel);
            if (h.grads) {
                const auto R = h.fx.get<T>(p + "R", &eshape);
                m.backward(c, R.data(), G.data(), ws);
            }
        }
        std::string line = h.name + " " + tol<T>::tag + " (weights: " + src + "): outputs " + fmt(worst);
        if (h.grads) {
            const auto ge = compare_grads(m, G, h.fx, tol<T>::grad);
            line += ", grads " + fmt(ge.first) + " (" + ge.second + ")";
        }
        report(line);
    }
}

// Interoperability: model files written by the PyTorch reference (with their embedded self-test)
// load through the library's own loader and give exactly the parameters read above.
TEMPLATE_TEST_CASE("parity: PyTorch-written model files load with io::load_model", "[parity][io]", float, double) {
    using T = TestType;
    int files = 0;
    auto check_kind = [&](auto tag, const char* kind) {
        using Model = typename decltype(tag)::type;
        for (const auto& path : fixtures_of(kind)) {
            fixture_header h = open_fixture(path, kind);
            const std::string key = std::string("model_") + tol<T>::tag;
            if (!h.fx.has_meta(key) || !fs::exists(path.parent_path() / h.fx.meta(key))) continue;
            const fs::path file = path.parent_path() / h.fx.meta(key);
            INFO("model file " << file.string());
            Model ref(h.config);
            REQUIRE(load_weights(ref, h.fx, path.parent_path(), tol<T>::tag) == "file");
            Model m = io::load_model<Model>(file.string());  // runs the embedded self-test
            REQUIRE(m.config() == h.config);
            REQUIRE(m.arena_size() == ref.arena_size());
            CHECK(std::equal(m.params(), m.params() + m.arena_size(), ref.params()));
            ++files;
        }
    };
    check_kind(type_tag<nar_student<T>>{}, "nar_student");
    check_kind(type_tag<ar_teacher<T>>{}, "ar_teacher");
    check_kind(type_tag<list_evaluator<T>>{}, "list_evaluator");
    report(std::to_string(files) + " PyTorch-written " + tol<T>::tag + " model files loaded with io::load_model");
    CHECK(files > 0);
}

// Interoperability of student ensembles (format_version 3): a 3-member ensemble written by the
// PyTorch reference (live fixtures only: python/check_parity.sh; the committed golden set has none)
// loads with io::load_model, whose self-test recomputes the members' mean logits that PyTorch
// stored, and its member 0 is the fixture's model.
TEMPLATE_TEST_CASE("parity: PyTorch-written student ensembles load with io::load_model", "[parity][io][ensemble]", float,
                   double) {
    using T = TestType;
    int files = 0;
    for (const auto& path : fixtures_of("nar_student")) {
        fixture_header h = open_fixture(path, "nar_student");
        const std::string key = std::string("ensemble_") + tol<T>::tag;
        if (!h.fx.has_meta(key)) continue;
        const fs::path file = path.parent_path() / h.fx.meta(key);
        INFO("ensemble file " << file.string());
        REQUIRE(fs::exists(file));
        nar_student<T> ref(h.config);
        REQUIRE(load_weights(ref, h.fx, path.parent_path(), tol<T>::tag) == "file");
        const nar_student<T> e = io::load_model<nar_student<T>>(file.string());  // runs the embedded self-test
        REQUIRE(e.members() == 3);
        const nar_student<T> m0 = e.member(0);
        CHECK(std::equal(m0.params(), m0.params() + m0.arena_size(), ref.params()));
        ++files;
    }
    report(std::to_string(files) + " PyTorch-written " + tol<T>::tag + " ensemble files loaded with io::load_model");
    if (std::getenv("DUALRERANK_FIXTURE_DIR")) CHECK(files > 0);  // live fixtures always hold them
}

}  // namespace dualrerank_test_parity
