// Models as safetensors files (training checkpoints: train/checkpoint.hpp, which builds on this).
//
// Model file: one tensor per parameter, named exactly as the PyTorch reference's state_dict
// (python/dualrerank_ref), F32 (or F64 for double models); __metadata__:
//   format = "dualrerank", format_version = "2", kind = ar_teacher | nar_student | list_evaluator,
//   config = the model_config as JSON,
//   dualrerank.crc32_file = CRC-32 of the whole file (header included; io/safetensors.hpp),
//   verify = "1" when the file carries a self-test: tensors verify.features [N x F],
//   verify.context [Fc], verify.slate [L] (I64) and verify.output (the model's output on them).
// A loaded model proves itself: with verification on (the default) the output is recomputed and
// must agree within 1e-4 relative, else format_error (catches byte-order, layout and version
// mismatches that shape checks cannot). The probe reaches every embedding row the model can
// index: all L slot rows, and with rank_embedding all max_candidates rank rows (the probe request
// is run R = ceil(max_candidates / N) times, run r with upstream ranks r N + i mod max_candidates;
// verify.output holds the R outputs one after the other).
//
// format_version 2 (this writer) requires the whole-file checksum: a changed byte anywhere (the
// config's digits, the tensor table, a weight) fails the load. format_version 1 files (older
// writers) still load; their checksum covers only the data region, so the header is checked only
// by parsing, the shape checks and the self-test (integrity_note says which applies).
//
// A student ensemble (nar_student::ensemble) is written as format_version 3: __metadata__ members
// = K (2..nar_student::max_members), each member's tensors under "member.{k}." (k = 0..K-1, the
// names of a single student after the prefix), and the self-test output is the ensemble's (the
// mean of the members' slot logits). A single model is still written as format_version 2, so
// readers that predate ensembles keep reading it; they refuse a version 3 file by its version.
//
// Checkpoints (train/checkpoint.hpp) use the same container: the model's tensors under "param.",
// the AdamW moments under "adam.m." / "adam.v.", step counters and the RNG state. Every file is
// written atomically (temp file, fsync, rename): the file on disk is the last complete version.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../model/ar_teacher.hpp"
#include "../model/evaluator.hpp"
#include "../model/nar_student.hpp"
#include "json.hpp"
#include "safetensors.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace io {

inline constexpr const char* model_format = "dualrerank";
inline constexpr const char* checkpoint_format = "dualrerank-checkpoint";
inline constexpr const char* format_version = "2";
inline constexpr const char* format_version_1 = "1";  ///< still read: data-region checksum only
inline constexpr const char* format_version_ensemble = "3";  ///< a student ensemble (members = K); else as version 2

inline json config_to_json(const model_config& c) {
    json j = json::object();
    j["features"] = c.features;
    j["context"] = c.context;
    j["d"] = c.d;
    j["heads"] = c.heads;
    j["enc_layers"] = c.enc_layers;
    j["dec_layers"] = c.dec_layers;
    j["ffn"] = c.ffn;
    j["max_slate"] = c.max_slate;
    j["max_candidates"] = c.max_candidates;
    j["rank_embedding"] = c.rank_embedding;
    j["outputs"] = c.outputs;
    return j;
}

/// Parse and validate a config (format_error names the field).
inline model_config config_from_json(const json& j) {
    if (!j.is_object()) dualrerank::detail::throw_format("model config must be a JSON object");
    model_config c;
    auto get_int = [&](const char* key, int& out, bool required) {
        const json* v = j.find(key);
        if (!v) {
            if (required) dualrerank::detail::throw_format(std::string("model config lacks \"") + key + "\"");
            return;
        }
        if (!v->is_integer()) dualrerank::detail::throw_format(std::string("model config field \"") + key + "\" must be an integer");
        const std::int64_t x = v->as_int();
        if (x < 0 || x > (1 << 24)) dualrerank::detail::throw_format(std::string("model config field \"") + key + "\" is out of range");
        out = int(x);
    };
    get_int("features", c.features, true);
    get_int("context", c.context, true);
    get_int("d", c.d, true);
    get_int("heads", c.heads, true);
    get_int("enc_layers", c.enc_layers, true);
    get_int("dec_layers", c.dec_layers, true);
    get_int("ffn", c.ffn, true);
    get_int("max_slate", c.max_slate, true);
    get_int("max_candidates", c.max_candidates, true);
    get_int("outputs", c.outputs, false);
    if (const json* v = j.find("rank_embedding")) {
        if (!v->is_bool()) dualrerank::detail::throw_format("model config field \"rank_embedding\" must be a boolean");
        c.rank_embedding = v->as_bool();
    }
    for (const auto& kv : j.as_object()) {
        static const char* known[] = {"features", "context", "d", "heads", "enc_layers", "dec_layers", "ffn",
                                      "max_slate", "max_candidates", "rank_embedding", "outputs"};
        bool ok = false;
        for (const char* k : known) ok |= kv.first == k;
        if (!ok) dualrerank::detail::throw_format("model config has an unknown field \"" + kv.first + "\"");
    }
    try {
        c.validate();
    } catch (const input_error& e) {
        dualrerank::detail::throw_format(std::string("model file: ") + e.what());
    }
    return c;
}

/// Names of config fields that differ (empty when equal), for clear mismatch messages.
inline std::string config_difference(const model_config& a, const model_config& b) {
    std::string out;
    auto cmp = [&](const char* name, long x, long y) {
        if (x != y) out += (out.empty() ? "" : ", ") + std::string(name) + " " + std::to_string(x) + " vs " + std::to_string(y);
    };
    cmp("features", a.features, b.features);
    cmp("context", a.context, b.context);
    cmp("d", a.d, b.d);
    cmp("heads", a.heads, b.heads);
    cmp("enc_layers", a.enc_layers, b.enc_layers);
    cmp("dec_layers", a.dec_layers, b.dec_layers);
    cmp("ffn", a.ffn, b.ffn);
    cmp("max_slate", a.max_slate, b.max_slate);
    cmp("max_candidates", a.max_candidates, b.max_candidates);
    cmp("rank_embedding", a.rank_embedding, b.rank_embedding);
    cmp("outputs", a.outputs, b.outputs);
    return out;
}

namespace detail {

template <class T>
constexpr dtype dtype_of() noexcept {
    return std::is_same<T, double>::value ? dtype::f64 : dtype::f32;
}

inline std::string require_meta(const safetensors_file& f, const std::string& key, const std::string& what) {
    auto it = f.metadata().find(key);
    if (it == f.metadata().end()) dualrerank::detail::throw_format(what + ": __metadata__ lacks \"" + key + "\"");
    return it->second;
}

inline model_config parse_config_meta(const safetensors_file& f, const std::string& what) {
    const std::string text = require_meta(f, "config", what);
    json j;
    try {
        j = json::parse(text);
    } catch (const format_error& e) {
        dualrerank::detail::throw_format(what + ": config is not valid JSON (" + e.what() + ")");
    }
    return config_from_json(j);
}

/// The model's self-test output on a fixed probe (deterministic from the config).
template <class Model>
struct probe {
    request<typename Model::value_type> req;
    std::vector<int> slate;
    int L = 0;
};

/// Runs of the probe: ceil(max_candidates / n) with a rank embedding (every rank row), else 1.
inline int probe_runs(const model_config& c, int n) {
    return c.rank_embedding ? (c.max_candidates + n - 1) / n : 1;
}

/// Upstream ranks of probe run r: r n + i (mod max_candidates).
template <class Model>
void set_probe_run(probe<Model>& p, const model_config& c, int r) {
    for (int i = 0; i < p.req.n; ++i)
        p.req.upstream_rank[static_cast<std::size_t>(i)] = static_cast<int>((std::int64_t(r) * p.req.n + i) % c.max_candidates);
}

template <class Model>
probe<Model> make_probe(const model_config& c) {
    using T = typename Model::value_type;
    probe<Model> p;
    const int n = std::min(c.max_candidates, std::max(c.max_slate, 4));
    p.L = std::min(c.max_slate, n);
    rng g(0x7e57);
    p.req.n = n;
    p.req.f = c.features;
    for (int i = 0; i < n * c.features; ++i) p.req.features.push_back(T(g.normal()));
    for (int i = 0; i < c.context; ++i) p.req.context.push_back(T(g.normal()));
    for (int i = 0; i < n; ++i) p.req.upstream_rank.push_back(i);
    for (int i = 0; i < p.L; ++i) p.slate.push_back(n - 1 - i);  // candidates in reverse order
    return p;
}

template <class Model>
std::vector<typename Model::value_type> probe_output_one(const Model& m, probe<Model>& p, workspace& ws) {
    using T = typename Model::value_type;
    auto v = p.req.view();
    std::vector<T> out;
    if constexpr (Model::kind == model_kind::student) {
        auto c = m.members() > 1 ? m.infer(&v, 1, p.L, ws) : m.forward(&v, 1, p.L, ws);  // an ensemble has no forward
        out.assign(c.Z, c.Z + std::size_t(p.L) * v.n);
    } else if constexpr (Model::kind == model_kind::teacher) {
        auto c = m.forward(&v, 1, p.L, p.slate.data(), ws);
        out.assign(c.Z, c.Z + std::size_t(p.L) * v.n);
        for (auto& z : out)
            if (!std::isfinite(z)) z = T(0);  // masked entries
    } else {
        auto c = m.forward(v, 1, p.L, p.slate.data(), ws);
        out.assign(c.E, c.E + std::size_t(p.L) * m.config().outputs);
    }
    return out;
}

/// The probe's outputs: `runs` runs (set_probe_run) one after the other; the first run's ranks
/// are 0..n-1 (what format_version 1 files store with runs = 1).
template <class Model>
std::vector<typename Model::value_type> probe_output(const Model& m, probe<Model>& p, int runs = 1) {
    using T = typename Model::value_type;
    workspace ws;
    std::vector<T> out;
    for (int r = 0; r < runs; ++r) {
        set_probe_run(p, m.config(), r);
        ws.reset();  // one run's buffers at a time (runs reach 4096 at the N cap with a rank embedding)
        const std::vector<T> one = probe_output_one(m, p, ws);
        out.insert(out.end(), one.begin(), one.end());
    }
    set_probe_run(p, m.config(), 0);
    return out;
}

/// Non-finite values are refused (input_error) before anything is written: such a file could
/// never be loaded, and writing it would replace the last good file.
template <class Model>
void add_param_tensors(const Model& m, const std::string& prefix, const typename Model::value_type* base,
                       std::vector<tensor_write>& out) {
    for (const auto& t : m.table().tensors()) {
        for (std::size_t i = 0; i < t.size; ++i)
            if (!std::isfinite(base[t.offset + i]))
                dualrerank::detail::throw_input("save: tensor \"" + prefix + t.name + "\" holds a non-finite value at " +
                                                std::to_string(i) + " (nothing written)");
        out.push_back({prefix + t.name, dtype_of<typename Model::value_type>(), t.shape, base + t.offset});
    }
}

template <class Model>
void read_param_tensors(const Model& m, const safetensors_file& f, const std::string& prefix, typename Model::value_type* base,
                        bool allow_unknown, const std::string& what) {
    for (const auto& t : m.table().tensors()) {
        if (!f.find(prefix + t.name)) dualrerank::detail::throw_format(what + ": missing tensor \"" + prefix + t.name + "\"");
        f.read(prefix + t.name, t.shape, base + t.offset);
        for (std::size_t i = 0; i < t.size; ++i)
            if (!std::isfinite(base[t.offset + i]))
                dualrerank::detail::throw_format(what + ": tensor \"" + prefix + t.name + "\" holds a non-finite value");
    }
    if (!allow_unknown && prefix.empty())
        for (const auto& t : f.tensors())
            if (!m.table().find(t.name) && t.name.rfind("verify.", 0) != 0)
                dualrerank::detail::throw_format(what + ": unknown tensor \"" + t.name + "\" (not part of a " +
                                                 to_string(Model::kind) + " with this config)");
}

}  // namespace detail

struct save_options {
    bool embed_verification = true;  ///< store a probe input and the expected output
    std::map<std::string, std::string> metadata;  ///< extra metadata (e.g. training provenance)
};

namespace detail {
/// The tensor-name prefix of ensemble member k.
inline std::string member_prefix(int k) { return "member." + std::to_string(k) + "."; }

/// A model's member count (students can be ensembles; every other kind is one model).
template <class Model>
int members_of(const Model& m) {
    if constexpr (Model::kind == model_kind::student) return m.members();
    else return 1;
}

/// The member count a model file declares: 1 without __metadata__["members"] (format_version 1 or
/// 2); with it, format_version 3, kind nar_student and K in [2, nar_student::max_members].
inline int read_members(const safetensors_file& f, const std::string& ver, const std::string& kind, const std::string& what) {
    const auto it = f.metadata().find("members");
    if (it == f.metadata().end()) {
        if (ver == format_version_ensemble)
            dualrerank::detail::throw_format(what + ": format_version 3 (an ensemble) requires __metadata__[\"members\"]");
        return 1;
    }
    if (ver != format_version_ensemble)
        dualrerank::detail::throw_format(what + ": __metadata__[\"members\"] needs format_version 3, the file says " + ver);
    if (kind != to_string(model_kind::student))
        dualrerank::detail::throw_format(what + ": only a nar_student can be an ensemble; the file holds a " + kind);
    const std::string& v = it->second;
    int K = 0;
    bool ok = !v.empty() && v.size() <= 3 && v[0] != '0';
    for (char ch : v) ok = ok && ch >= '0' && ch <= '9';
    if (ok) K = std::stoi(v);
    if (!ok || K < 2 || K > nar_student<float>::max_members)
        dualrerank::detail::throw_format(what + ": __metadata__[\"members\"] is \"" + v + "\", expected an integer from 2 to " +
                                         std::to_string(nar_student<float>::max_members));
    return K;
}
}  // namespace detail

/// The bytes of a model file, in memory (what save_model writes): for a model sent over a network
/// or kept in a database. `load_model_from(safetensors_file::from_bytes(bytes), "what")` reads
/// it back, with the same checks as a file. A student ensemble (members() > 1) is format_version
/// 3 with each member's tensors under "member.{k}."; anything else format_version 2.
template <class Model>
std::vector<std::uint8_t> model_to_bytes(const Model& m, const save_options& opt = {}) {
    using T = typename Model::value_type;
    std::vector<tensor_write> tensors;
    const int K = detail::members_of(m);
    std::vector<Model> held;  // the members' weights must outlive the write
    if constexpr (Model::kind == model_kind::student) {
        if (K > 1) {
            held.reserve(std::size_t(K));
            for (int k = 0; k < K; ++k) held.push_back(m.member(k));
            for (int k = 0; k < K; ++k) detail::add_param_tensors(held[std::size_t(k)], detail::member_prefix(k), held[std::size_t(k)].params(), tensors);
        }
    }
    if (K == 1) detail::add_param_tensors(m, "", m.params(), tensors);
    std::map<std::string, std::string> meta = opt.metadata;
    if (K > 1) meta["members"] = std::to_string(K);
    else meta.erase("members");
    meta["format"] = model_format;
    meta["format_version"] = K > 1 ? format_version_ensemble : format_version;
    meta["kind"] = to_string(Model::kind);
    meta["config"] = config_to_json(m.config()).dump();
    auto p = detail::make_probe<Model>(m.config());
    std::vector<T> expected;
    std::vector<std::int64_t> sl(p.slate.begin(), p.slate.end());
    if (opt.embed_verification) {
        expected = detail::probe_output(m, p, detail::probe_runs(m.config(), p.req.n));
        meta["verify"] = "1";
        tensors.push_back({"verify.features", detail::dtype_of<T>(), {std::size_t(p.req.n), std::size_t(p.req.f)}, p.req.features.data()});
        if (!p.req.context.empty())
            tensors.push_back({"verify.context", detail::dtype_of<T>(), {p.req.context.size()}, p.req.context.data()});
        tensors.push_back({"verify.slate", dtype::i64, {sl.size()}, sl.data()});
        tensors.push_back({"verify.output", detail::dtype_of<T>(), {expected.size()}, expected.data()});
    }
    return write_safetensors_bytes(tensors, meta);
}

/// Save a model (atomic write): model_to_bytes written to `path` (a reader never sees a
/// half-written file).
template <class Model>
void save_model(const Model& m, const std::string& path, const save_options& opt = {}) {
    const std::vector<std::uint8_t> bytes = model_to_bytes(m, opt);
    detail::write_file_atomic(path, bytes.data(), bytes.size());
}

struct load_options {
    bool verify = true;          ///< run the embedded self-test when present
    bool allow_unknown = false;  ///< tolerate tensors that are not part of the model
};

/// The kind and config stored in a model file.
inline std::pair<std::string, model_config> read_model_header(const std::string& path) {
    safetensors_file f = safetensors_file::from_file(path);
    const std::string what = "model file " + path;
    if (detail::require_meta(f, "format", what) != model_format)
        dualrerank::detail::throw_format(what + ": not a dualrerank model (format \"" + f.metadata().at("format") + "\")");
    return {detail::require_meta(f, "kind", what), detail::parse_config_meta(f, what)};
}

/// Load a model of the requested type; format_error on anything wrong (kind, config, tensors,
/// values, self-test).
template <class Model>
Model load_model_from(const safetensors_file& f, const std::string& what, const load_options& opt = {}) {
    using T = typename Model::value_type;
    if (detail::require_meta(f, "format", what) != model_format)
        dualrerank::detail::throw_format(what + ": not a dualrerank model file");
    const std::string ver = detail::require_meta(f, "format_version", what);
    if (ver != format_version && ver != format_version_1 && ver != format_version_ensemble)
        dualrerank::detail::throw_format(what + ": unsupported format_version " + ver);
    const bool v1 = ver == format_version_1;
    if (!v1 && f.metadata().count(safetensors_file_crc32_key) == 0)
        dualrerank::detail::throw_format(what + ": format_version " + ver + " requires __metadata__[\"" +
                                         safetensors_file_crc32_key + "\"] (the whole-file checksum)");
    const std::string kind = detail::require_meta(f, "kind", what);
    if (kind != to_string(Model::kind))
        dualrerank::detail::throw_format(what + ": holds a " + kind + ", expected a " + to_string(Model::kind));
    const model_config c = detail::parse_config_meta(f, what);
    const int K = detail::read_members(f, ver, kind, what);
    // A header may declare any config within `limits` (billions of parameters) in a file of a few
    // bytes: bound the arena by the values the file actually holds before allocating it.
    std::size_t held = 0;
    for (const auto& t : f.tensors()) held += t.elements();
    std::optional<Model> mo;
    try {
        mo.emplace(c, held);
    } catch (const input_error& e) {
        dualrerank::detail::throw_format(what + ": " + e.what() +
                                         " (the values its tensors hold: missing tensors, or a config that is not the file's)");
    }
    Model& m = *mo;
    if (K == 1) {
        detail::read_param_tensors(m, f, "", m.params(), opt.allow_unknown, what);
    } else if constexpr (Model::kind == model_kind::student) {
        std::vector<Model> members;
        members.reserve(std::size_t(K));
        for (int k = 0; k < K; ++k) {
            members.emplace_back(c, held);
            detail::read_param_tensors(members.back(), f, detail::member_prefix(k), members.back().params(), true, what);
        }
        if (!opt.allow_unknown)
            for (const auto& t : f.tensors()) {
                if (t.name.rfind("verify.", 0) == 0) continue;
                bool known = false;
                for (int k = 0; k < K && !known; ++k) {
                    const std::string pre = detail::member_prefix(k);
                    known = t.name.rfind(pre, 0) == 0 && m.table().find(t.name.substr(pre.size())) != nullptr;
                }
                if (!known)
                    dualrerank::detail::throw_format(what + ": unknown tensor \"" + t.name + "\" (not part of an ensemble of " +
                                                     std::to_string(K) + " nar_student members with this config)");
            }
        m = Model::ensemble(std::move(members));
    }
    auto it = f.metadata().find("verify");
    if (opt.verify && it != f.metadata().end() && it->second == "1") {
        {  // the probe's size comes from the config: check the file holds it before building it
            const int pn = std::min(c.max_candidates, std::max(c.max_slate, 4));
            const tensor_info& vf = f.at("verify.features");
            if (vf.shape != std::vector<std::size_t>{std::size_t(pn), std::size_t(c.features)})
                dualrerank::detail::throw_format(what + ": verify.features has the wrong shape");
        }
        auto p = detail::make_probe<Model>(c);
        const tensor_info& out = f.at("verify.output");
        std::vector<T> expected(out.elements());
        f.read("verify.output", out.shape, expected.data());
        f.read("verify.features", {std::size_t(p.req.n), std::size_t(p.req.f)}, p.req.features.data());
        if (!p.req.context.empty()) f.read("verify.context", {p.req.context.size()}, p.req.context.data());
        std::vector<std::int64_t> sl(p.slate.size());
        f.read("verify.slate", {sl.size()}, sl.data());
        for (std::size_t i = 0; i < sl.size(); ++i) {
            if (sl[i] < 0 || sl[i] >= p.req.n) dualrerank::detail::throw_format(what + ": verify.slate out of range");
            p.slate[i] = int(sl[i]);
        }
        std::vector<T> got;
        try {
            got = detail::probe_output(m, p, v1 ? 1 : detail::probe_runs(c, p.req.n));
        } catch (const input_error& e) {
            dualrerank::detail::throw_format(what + ": self-test input rejected: " + e.what());
        }
        if (got.size() != expected.size()) dualrerank::detail::throw_format(what + ": self-test output has the wrong size");
        double scale = 1e-6;
        for (T v : expected) scale = std::max(scale, double(std::fabs(v)));
        for (std::size_t i = 0; i < got.size(); ++i)
            if (!(std::fabs(double(got[i]) - double(expected[i])) <= 1e-4 * scale))
                dualrerank::detail::throw_format(what + ": self-test failed (output " + std::to_string(i) + ": " +
                                                 std::to_string(double(got[i])) + " vs stored " +
                                                 std::to_string(double(expected[i])) + ")");
    }
    return std::move(m);
}


/// What a model file's integrity checks cover, in words (the CLI's `info` prints it).
inline std::string integrity_note(const safetensors_file& f) {
    const auto& meta = f.metadata();
    const auto ver = meta.find("format_version");
    const bool whole = meta.count(safetensors_file_crc32_key) != 0, data = meta.count(safetensors_crc32_key) != 0;
    std::string s = whole ? "whole-file CRC-32 (header: config and tensor table; data)"
                          : data ? "data-region CRC-32 only: the header (config, tensor table) is not checksummed"
                                 : "no checksum";
    if (ver != meta.end() && ver->second == format_version_1)
        s += "; format_version 1 (an older writer): the self-test probes upstream ranks 0..N-1 only";
    return s;
}

template <class Model>
Model load_model(const std::string& path, const load_options& opt = {}) {
    return load_model_from<Model>(safetensors_file::from_file(path), "model file " + path, opt);
}

}  // namespace io
DUALRERANK_NAMESPACE_END
