// Page evaluators as safetensors files (docs/evaluator.md, docs/model-format.md).
//
// One tensor per parameter (model/page_evaluator.hpp's names), F32 (F64 for double models);
// __metadata__: format = "dualrerank", format_version = "1", kind = "page_evaluator",
// config = {"features", "context", "max_slate", "max_candidates", "objectives"} as JSON, plus
// "page_centering": "request" or "logs" when the model's page terms are centered (absent: none, the
// model of every file written before the option existed; with "logs" the fixed center is the tensor
// page.center [F]),
// validation = the scorer's trust record {"check", "value", "requests"} (absent: never validated,
// Best-of-N serves greedy with it), and a self-test like every model file: verify.features [N x F],
// verify.context [Fc], verify.slate [L] (I64), verify.output (the page's per-slot predictions),
// checked on load within 1e-4 relative (format_error otherwise).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../model/page_evaluator.hpp"
#include "json.hpp"
#include "model_io.hpp"
#include "safetensors.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace io {

inline constexpr const char* page_evaluator_kind = "page_evaluator";

inline json page_evaluator_config_to_json(const page_evaluator_config& c) {
    json j = json::object();
    j["features"] = c.features;
    j["context"] = c.context;
    j["max_slate"] = c.max_slate;
    j["max_candidates"] = c.max_candidates;
    j["objectives"] = c.objectives;
    if (c.centering != page_centering::none)  // absent means none: older files load unchanged
        j["page_centering"] = std::string(c.centering == page_centering::request ? "request" : "logs");
    return j;
}

/// A trust record as JSON text (the `validation` metadata value).
inline std::string validation_to_json(const scorer_validation& v) {
    json j = json::object();
    j["check"] = v.check;
    j["value"] = std::isfinite(v.value) ? json(v.value) : json(nullptr);
    j["requests"] = v.requests;
    return j.dump();
}

/// Parse a `validation` metadata value (format_error names the field).
inline scorer_validation validation_from_json(const std::string& text, const std::string& what) {
    json j;
    try {
        j = json::parse(text);
    } catch (const format_error& e) {
        dualrerank::detail::throw_format(what + ": validation is not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) dualrerank::detail::throw_format(what + ": validation must be a JSON object");
    scorer_validation v;
    const json* c = j.find("check");
    const json* x = j.find("value");
    const json* r = j.find("requests");
    if (!c || !c->is_string()) dualrerank::detail::throw_format(what + ": validation lacks a string \"check\"");
    if (!x || !(x->is_number() || x->is_null())) dualrerank::detail::throw_format(what + ": validation \"value\" must be a number");
    if (!r || !r->is_integer() || r->as_int() < 0 || r->as_int() > (std::int64_t(1) << 31) - 1)
        dualrerank::detail::throw_format(what + ": validation \"requests\" must be an integer in [0, 2^31)");
    v.check = c->as_string();
    if (x->is_number()) v.value = x->as_double();
    v.requests = int(r->as_int());
    return v;
}

/// Save (atomic write); the evaluator's `validation` record is stored when it has one.
template <class T>
void save_page_evaluator(const page_evaluator<T>& ev, const std::string& path, const std::map<std::string, std::string>& extra = {}) {
    std::vector<tensor_write> tensors;
    for (const auto& t : ev.table().tensors()) {
        for (std::size_t i = 0; i < t.size; ++i)
            if (!std::isfinite(ev.params()[t.offset + i]))
                dualrerank::detail::throw_input("save_page_evaluator: tensor \"" + t.name + "\" holds a non-finite value (nothing written)");
        tensors.push_back({t.name, detail::dtype_of<T>(), t.shape, ev.params() + t.offset});
    }
    if (ev.config().centering == page_centering::logs)  // the fixed center: part of the model, not trained
        tensors.push_back({"page.center", detail::dtype_of<T>(), {ev.page_center().size()}, ev.page_center().data()});
    std::map<std::string, std::string> meta = extra;
    meta["format"] = model_format;
    meta["format_version"] = format_version;
    meta["kind"] = page_evaluator_kind;
    meta["config"] = page_evaluator_config_to_json(ev.config()).dump();
    if (ev.validation.requests > 0 || !ev.validation.check.empty()) meta["validation"] = validation_to_json(ev.validation);
    // self-test probe: n = min(max_candidates, max(max_slate, 4)) random candidates, the last L in reverse
    const page_evaluator_config& c = ev.config();
    const int n = std::min(c.max_candidates, std::max(c.max_slate, 4)), L = std::min(c.max_slate, n);
    rng g(0x7e57);
    std::vector<T> feat(std::size_t(n) * c.features), ctx(std::size_t(c.context)), out(std::size_t(L) * c.objectives);
    for (auto& x : feat) x = T(g.normal());
    for (auto& x : ctx) x = T(g.normal());
    std::vector<int> y(static_cast<std::size_t>(L));
    std::vector<std::int64_t> y64(static_cast<std::size_t>(L));
    for (int i = 0; i < L; ++i) y64[std::size_t(i)] = y[std::size_t(i)] = n - 1 - i;
    request_view<T> v;
    v.features = feat.data();
    v.n = n;
    v.f = c.features;
    v.context = ctx.empty() ? nullptr : ctx.data();
    v.fc = c.context;
    workspace ws;
    ev.predict(v, 1, L, y.data(), out.data(), ws);
    meta["verify"] = "1";
    tensors.push_back({"verify.features", detail::dtype_of<T>(), {std::size_t(n), std::size_t(c.features)}, feat.data()});
    if (!ctx.empty()) tensors.push_back({"verify.context", detail::dtype_of<T>(), {ctx.size()}, ctx.data()});
    tensors.push_back({"verify.slate", dtype::i64, {y64.size()}, y64.data()});
    tensors.push_back({"verify.output", detail::dtype_of<T>(), {out.size()}, out.data()});
    write_safetensors_file(path, tensors, meta);
}

/// Load from an opened file (`what` names it in messages: e.g. serving::load_any_model, which reads
/// the file once); format_error on anything wrong, as load_page_evaluator.
template <class T>
page_evaluator<T> load_page_evaluator_from(const safetensors_file& f, const std::string& what) {
    if (detail::require_meta(f, "format", what) != model_format) dualrerank::detail::throw_format(what + ": not a dualrerank model file");
    const std::string version = detail::require_meta(f, "format_version", what);
    if (version != format_version && version != "1")  // "1": files of the first writer (same layout)
        dualrerank::detail::throw_format(what + ": unsupported format_version " + version);
    const std::string kind = detail::require_meta(f, "kind", what);
    if (kind != page_evaluator_kind) dualrerank::detail::throw_format(what + ": holds a " + kind + ", expected a page_evaluator");
    json j;
    try {
        j = json::parse(detail::require_meta(f, "config", what));
    } catch (const format_error& e) {
        dualrerank::detail::throw_format(what + ": config is not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) dualrerank::detail::throw_format(what + ": config must be a JSON object");
    page_evaluator_config c;
    auto get = [&](const char* key, int& out) {
        const json* v = j.find(key);
        if (!v || !v->is_integer() || v->as_int() < 0 || v->as_int() > (1 << 24))
            dualrerank::detail::throw_format(what + ": config field \"" + key + "\" missing or out of range");
        out = int(v->as_int());
    };
    get("features", c.features);
    get("context", c.context);
    get("max_slate", c.max_slate);
    get("max_candidates", c.max_candidates);
    get("objectives", c.objectives);
    if (const json* v = j.find("page_centering")) {
        const std::string m = v->is_string() ? v->as_string() : std::string();
        if (m == "request") c.centering = page_centering::request;
        else if (m == "logs") c.centering = page_centering::logs;
        else dualrerank::detail::throw_format(what + ": config field \"page_centering\" must be \"request\" or \"logs\"");
    }
    std::size_t held = 0;
    for (const auto& t : f.tensors()) held += t.elements();
    std::optional<page_evaluator<T>> mo;
    try {
        mo.emplace(c, held);
    } catch (const input_error& e) {
        dualrerank::detail::throw_format(what + ": " + e.what());
    }
    page_evaluator<T>& ev = *mo;
    for (const auto& t : ev.table().tensors()) {
        if (!f.find(t.name)) dualrerank::detail::throw_format(what + ": missing tensor \"" + t.name + "\"");
        f.read(t.name, t.shape, ev.params() + t.offset);
        for (std::size_t i = 0; i < t.size; ++i)
            if (!std::isfinite(ev.params()[t.offset + i]))
                dualrerank::detail::throw_format(what + ": tensor \"" + t.name + "\" holds a non-finite value");
    }
    if (c.centering == page_centering::logs) {
        if (!f.find("page.center")) dualrerank::detail::throw_format(what + ": missing tensor \"page.center\" (page_centering logs)");
        std::vector<T> m(std::size_t(c.features));
        f.read("page.center", {m.size()}, m.data());
        try {
            ev.set_page_center(m.data());
        } catch (const input_error& e) {
            dualrerank::detail::throw_format(what + ": " + e.what());
        }
    }
    for (const auto& t : f.tensors())
        if (!ev.table().find(t.name) && t.name.rfind("verify.", 0) != 0 && !(t.name == "page.center" && c.centering == page_centering::logs))
            dualrerank::detail::throw_format(what + ": unknown tensor \"" + t.name + "\"");
    auto vit = f.metadata().find("validation");
    if (vit != f.metadata().end()) ev.validation = validation_from_json(vit->second, what);
    auto it = f.metadata().find("verify");
    if (it != f.metadata().end() && it->second == "1") {
        const int n = std::min(c.max_candidates, std::max(c.max_slate, 4)), L = std::min(c.max_slate, n);
        std::vector<T> feat(std::size_t(n) * c.features), ctx(std::size_t(c.context)), out(std::size_t(L) * c.objectives), got(out.size());
        std::vector<std::int64_t> y64(static_cast<std::size_t>(L));
        f.read("verify.features", {std::size_t(n), std::size_t(c.features)}, feat.data());
        if (!ctx.empty()) f.read("verify.context", {ctx.size()}, ctx.data());
        f.read("verify.slate", {y64.size()}, y64.data());
        f.read("verify.output", {out.size()}, out.data());
        std::vector<int> y(static_cast<std::size_t>(L));
        for (int i = 0; i < L; ++i) {
            if (y64[std::size_t(i)] < 0 || y64[std::size_t(i)] >= n) dualrerank::detail::throw_format(what + ": verify.slate out of range");
            y[std::size_t(i)] = int(y64[std::size_t(i)]);
        }
        request_view<T> v;
        v.features = feat.data();
        v.n = n;
        v.f = c.features;
        v.context = ctx.empty() ? nullptr : ctx.data();
        v.fc = c.context;
        workspace ws;
        try {
            ev.predict(v, 1, L, y.data(), got.data(), ws);
        } catch (const input_error& e) {
            dualrerank::detail::throw_format(what + ": self-test input rejected: " + e.what());
        }
        double scale = 1e-6;
        for (T x : out) scale = std::max(scale, double(std::fabs(x)));
        for (std::size_t i = 0; i < got.size(); ++i)
            if (!(std::fabs(double(got[i]) - double(out[i])) <= 1e-4 * scale))
                dualrerank::detail::throw_format(what + ": self-test failed (output " + std::to_string(i) + ")");
    }
    return std::move(ev);
}

/// Load; format_error on anything wrong (kind, config, tensors, values, validation record, self-test).
template <class T>
page_evaluator<T> load_page_evaluator(const std::string& path) {
    const safetensors_file f = safetensors_file::from_file(path);
    return load_page_evaluator_from<T>(f, "page evaluator file " + path);
}

}  // namespace io
DUALRERANK_NAMESPACE_END
