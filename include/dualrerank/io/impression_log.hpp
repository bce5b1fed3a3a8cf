// Impression logs: what a ranking team has (docs/logs.md, docs/design.md section 10.1). One logged
// page per line, a JSON object (RFC 8259, parsed strictly by io/json.hpp):
//
//     {"id": 17, "features": [[0.1, 2.0], [0.3, 0.0], [1.5, -1]], "context": [1, 0],
//      "upstream_rank": [2, 0, 1], "shown": [1, 2], "log_propensity": -0.92,
//      "feedback": {"click": [1, 0], "long_view": [1, 0]}, "timestamp": 1733400000,
//      "policy_version": "pl-t0.4"}
//
//   id              optional; a string (at most max_id_bytes bytes) or an integer
//   features        required; N rows (candidates) of F numbers, as in the request format (io/jsonl.hpp)
//   context         optional; Fc numbers
//   upstream_rank   optional; N integers in [0, max_rank]
//   shown           required; the slate shown, L distinct candidate indices (0-based rows of
//                   features), top slot first, 1 <= L <= min(N, max_slate)
//   log_propensity  optional; log pi_b(shown) under the logging policy: one number for the slate,
//                   or L numbers, one per slot (log pi_b(y_t | y_<t); the slate's is their sum);
//                   each in [-max_abs_log_propensity, 0]
//   feedback        required; an object, objective name -> L numbers (per-slot feedback, 0/1 or
//                   counts, finite, in [0, max_feedback]); 1..max_objectives objectives, names
//                   1..max_objective_bytes bytes. Every page of a file names the same objectives
//                   (any order; the reader reorders them to the first page's order)
//   timestamp       optional; a number (e.g. Unix seconds or milliseconds) or a string (at most
//                   max_id_bytes bytes), kept as written
//   policy_version  optional; a string (at most max_id_bytes bytes) or an integer
//
// The error contract is the request reader's (io/jsonl.hpp): any other key is an error; blank
// lines are skipped but counted; CRLF is accepted; a line longer than max_line_bytes is rejected
// without being buffered whole; every count is checked against its cap before anything is sized by
// it; a stream read error is an error. Every defect is a dualrerank::format_error naming the
// source, the line and the field, e.g.
//     dualrerank: logs.jsonl:7: "shown"[2]: candidate 4 is shown twice (slots 0 and 2)
// and after an error the reader stands at the next line.
//
// The writer (impression_log_writer, format_impression_line) writes the same format, floats in
// their shortest round-trip form, after checking the page (input_error on a page the reader would
// refuse), so a written file reads back equal.
//
// No allocation-free promise here: this is the boundary, not the hot path.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"
#include "../model/config.hpp"
#include "json.hpp"
#include "jsonl.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace io {

/// Hard caps of the impression-log reader (and the writer's checks); each breach is an error.
struct impression_log_limits {
    std::size_t max_line_bytes = std::size_t(64) << 20;                ///< bytes in one line
    std::size_t max_candidates = std::size_t(limits::max_candidates);  ///< N
    std::size_t max_features = std::size_t(limits::max_features);      ///< F
    std::size_t max_context = std::size_t(limits::max_features);       ///< Fc
    std::size_t max_values = std::size_t(1) << 20;                     ///< N * F
    std::int64_t max_rank = limits::max_candidates - 1;                ///< upstream_rank values
    std::size_t max_slate = std::size_t(limits::max_slate);            ///< L (shown slots)
    std::size_t max_objectives = 64;                                   ///< feedback objectives
    std::size_t max_objective_bytes = 64;                              ///< an objective's name
    double max_feedback = 1e9;                                         ///< a feedback value (a count)
    double max_abs_log_propensity = 1e6;                               ///< |log_propensity|
    std::size_t max_id_bytes = 1024;  ///< a string id, timestamp or policy_version
    /// After an overlong line the reader skips to its end, but at most this many bytes: a stream
    /// without line ends (/dev/zero) is then given up on (an error, and next() returns false).
    std::size_t max_skip_bytes = std::size_t(64) << 20;
};

/// One logged page.
struct impression_page {
    json id;                                  ///< null when absent
    request<float> candidates;                ///< features [n x f], context, upstream_rank
    slate shown;                              ///< [L] distinct candidate indices, top slot first
    bool has_propensity = false;              ///< log_propensity was given
    double log_propensity = 0.0;              ///< log pi_b(shown) (the sum of the per-slot values)
    std::vector<double> slot_log_propensity;  ///< [L] when given per slot, else empty
    std::vector<std::string> objectives;      ///< K objective names
    std::vector<float> feedback;              ///< [K x L], objective-major: feedback[k * L + t]
    json timestamp;                           ///< null when absent
    json policy_version;                      ///< null when absent
    std::size_t line = 0;                     ///< 1-based line number in the source (0: not read)

    int slots() const noexcept { return static_cast<int>(shown.size()); }
    /// Index of objective `name`, or -1.
    int objective_index(std::string_view name) const noexcept {
        for (std::size_t k = 0; k < objectives.size(); ++k)
            if (objectives[k] == name) return static_cast<int>(k);
        return -1;
    }
    /// The L feedback values of objective k (0 <= k < objectives.size()).
    const float* objective_feedback(std::size_t k) const noexcept { return feedback.data() + k * shown.size(); }
    /// The L feedback values of objective `name`, or null when the page has no such objective.
    const float* objective_feedback(std::string_view name) const noexcept {
        const int k = objective_index(name);
        return k < 0 ? nullptr : objective_feedback(std::size_t(k));
    }
};

namespace detail {

/// A string (<= cap bytes) or an integer; `what` names the field.
inline void impression_id_like(const json& v, const std::string& source, std::size_t line, const char* what,
                               std::size_t cap, bool allow_floating) {
    if (v.is_string()) {
        if (v.as_string().size() > cap)
            jsonl_fail(source, line, std::string("\"") + what + "\": longer than " + std::to_string(cap) + " bytes");
        return;
    }
    if (v.is_integer()) return;
    if (allow_floating && v.is_floating() && std::isfinite(v.as_double())) return;
    jsonl_fail(source, line, std::string("\"") + what + "\": expected a string or " +
                                 (allow_floating ? "a number" : "an integer") + ", got " + json_type_name(v.type()));
}

/// Shortest decimal text of a float that reads back to the same float (finite input).
inline void append_float(std::string& out, float x) {
    if (x == 0.0f && std::signbit(x)) {  // "-0" would read back as the integer 0
        out += "-0.0";
        return;
    }
    char buf[48];
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    const auto r = std::to_chars(buf, buf + sizeof(buf), x);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
#else
    for (int prec = 6; prec <= 9; ++prec) {
        const int len = std::snprintf(buf, sizeof(buf), "%.*g", prec, double(x));
        for (int i = 0; i < len; ++i)
            if (buf[i] == ',') buf[i] = '.';  // a locale with a decimal comma
        if (prec == 9 || std::strtof(buf, nullptr) == x) {
            out.append(buf, static_cast<std::size_t>(len));
            return;
        }
    }
#endif
}

}  // namespace detail

/// Parse one logged page (a line without its '\n'). `source` and `line` name it in messages.
inline impression_page parse_impression_line(std::string_view text, std::size_t line = 1,
                                             const std::string& source = "<impressions>",
                                             const impression_log_limits& lim = {}) {
    using detail::jsonl_array;
    using detail::jsonl_float;
    using detail::jsonl_fail;
    if (text.size() > lim.max_line_bytes)
        jsonl_fail(source, line, "line of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                     std::to_string(lim.max_line_bytes) + " bytes");
    json_parse_options po;
    po.max_depth = 3;  // object > features / feedback > row
    po.max_bytes = lim.max_line_bytes;
    // the object and its members, the features and their numbers, context, ranks, shown, the
    // per-slot propensities and every objective's array
    const std::size_t obj = std::min(lim.max_objectives, std::size_t(1) << 16);
    const std::size_t slots = std::min(lim.max_slate, std::size_t(1) << 20);
    po.max_values = lim.max_values + lim.max_candidates * 3 + lim.max_context + (obj + 2) * (slots + 1) + 32;
    json doc;
    try {
        doc = json::parse(text, po);
    } catch (const format_error& e) {
        std::string msg = e.what();
        const std::string prefix = "dualrerank: ";
        if (msg.compare(0, prefix.size(), prefix) == 0) msg.erase(0, prefix.size());
        const std::string one_line = " at line 1, column";  // the text is one line: drop "line 1"
        const std::size_t at = msg.find(one_line);
        if (at != std::string::npos) msg.replace(at, one_line.size(), " at column");
        jsonl_fail(source, line, msg);
    }
    if (!doc.is_object())
        jsonl_fail(source, line, std::string("expected a JSON object, got ") + json_type_name(doc.type()));

    impression_page out;
    out.line = line;
    const json *features = nullptr, *context = nullptr, *upstream = nullptr, *shown = nullptr, *prop = nullptr,
               *feedback = nullptr;
    for (const json::member_t& m : doc.as_object()) {
        if (m.first == "id") out.id = m.second;
        else if (m.first == "features") features = &m.second;
        else if (m.first == "context") context = &m.second;
        else if (m.first == "upstream_rank") upstream = &m.second;
        else if (m.first == "shown") shown = &m.second;
        else if (m.first == "log_propensity") prop = &m.second;
        else if (m.first == "feedback") feedback = &m.second;
        else if (m.first == "timestamp") out.timestamp = m.second;
        else if (m.first == "policy_version") out.policy_version = m.second;
        else
            jsonl_fail(source, line,
                       "unknown field " + ::dualrerank::io::detail::quote_for_message(m.first, 64) +
                           " (expected id, features, context, upstream_rank, shown, log_propensity, feedback, "
                           "timestamp, policy_version)");
    }
    if (!out.id.is_null()) detail::impression_id_like(out.id, source, line, "id", lim.max_id_bytes, false);
    if (!out.timestamp.is_null())
        detail::impression_id_like(out.timestamp, source, line, "timestamp", lim.max_id_bytes, true);
    if (!out.policy_version.is_null())
        detail::impression_id_like(out.policy_version, source, line, "policy_version", lim.max_id_bytes, false);

    // ---- candidates (the request reader's rules and messages)
    if (!features) jsonl_fail(source, line, "missing field \"features\"");
    const json::array_t& rows = jsonl_array(*features, source, line, "\"features\"");
    if (rows.empty()) jsonl_fail(source, line, "\"features\": no candidates (N = 0)");
    if (rows.size() > lim.max_candidates)
        jsonl_fail(source, line, "\"features\": " + std::to_string(rows.size()) + " candidates exceed the limit of " +
                                     std::to_string(lim.max_candidates));
    std::size_t f = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto where = [&] { return "\"features\"[" + std::to_string(i) + "]"; };
        if (!rows[i].is_array())
            jsonl_fail(source, line, where() + ": expected an array, got " + json_type_name(rows[i].type()));
        const json::array_t& row = rows[i].as_array();
        if (i == 0) {
            f = row.size();
            if (f == 0) jsonl_fail(source, line, where() + ": a candidate has no features (F = 0)");
            if (f > lim.max_features)
                jsonl_fail(source, line, where() + ": " + std::to_string(f) + " features exceed the limit of " +
                                             std::to_string(lim.max_features));
            if (rows.size() > lim.max_values / f)
                jsonl_fail(source, line, "\"features\": " + std::to_string(rows.size()) + " x " + std::to_string(f) +
                                             " values exceed the limit of " + std::to_string(lim.max_values));
            out.candidates.features.reserve(rows.size() * f);
        } else if (row.size() != f) {
            jsonl_fail(source, line, where() + ": row has " + std::to_string(row.size()) + " values, expected " +
                                         std::to_string(f) + " (the width of row 0)");
        }
        for (std::size_t k = 0; k < f; ++k)
            out.candidates.features.push_back(jsonl_float(row[k], source, line, "features", i, k));
    }
    out.candidates.n = static_cast<int>(rows.size());
    out.candidates.f = static_cast<int>(f);
    const std::size_t n = rows.size();

    if (context) {
        const json::array_t& c = jsonl_array(*context, source, line, "\"context\"");
        if (c.size() > lim.max_context)
            jsonl_fail(source, line, "\"context\": " + std::to_string(c.size()) + " values exceed the limit of " +
                                         std::to_string(lim.max_context));
        out.candidates.context.reserve(c.size());
        for (std::size_t k = 0; k < c.size(); ++k)
            out.candidates.context.push_back(jsonl_float(c[k], source, line, "context", k));
    }

    if (upstream) {
        const json::array_t& u = jsonl_array(*upstream, source, line, "\"upstream_rank\"");
        if (u.size() != n)
            jsonl_fail(source, line, "\"upstream_rank\": " + std::to_string(u.size()) + " ranks for " +
                                         std::to_string(n) + " candidates");
        out.candidates.upstream_rank.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            auto where = [&] { return "\"upstream_rank\"[" + std::to_string(k) + "]"; };
            if (u[k].type() != json_type::integer)
                jsonl_fail(source, line, where() + ": expected an integer, got " + json_type_name(u[k].type()));
            const std::int64_t r = u[k].as_int();
            if (r < 0 || r > lim.max_rank)
                jsonl_fail(source, line, where() + ": rank " + std::to_string(r) + " outside [0, " +
                                             std::to_string(lim.max_rank) + "]");
            out.candidates.upstream_rank.push_back(static_cast<int>(r));
        }
    }

    // ---- the shown slate
    if (!shown) jsonl_fail(source, line, "missing field \"shown\"");
    const json::array_t& s = jsonl_array(*shown, source, line, "\"shown\"");
    if (s.empty()) jsonl_fail(source, line, "\"shown\": no slots (L = 0)");
    if (s.size() > lim.max_slate)
        jsonl_fail(source, line, "\"shown\": " + std::to_string(s.size()) + " slots exceed the limit of " +
                                     std::to_string(lim.max_slate));
    if (s.size() > n)
        jsonl_fail(source, line, "\"shown\": " + std::to_string(s.size()) + " slots for " + std::to_string(n) +
                                     " candidates");
    const std::size_t L = s.size();
    {
        std::vector<int> slot_of(n, -1);
        out.shown.reserve(L);
        for (std::size_t t = 0; t < L; ++t) {
            auto where = [&] { return "\"shown\"[" + std::to_string(t) + "]"; };
            if (s[t].type() != json_type::integer && s[t].type() != json_type::unsigned_integer)
                jsonl_fail(source, line, where() + ": expected an integer, got " + json_type_name(s[t].type()));
            const bool neg = s[t].type() == json_type::integer && s[t].as_int() < 0;
            if (neg || s[t].as_uint() >= n)
                jsonl_fail(source, line, where() + ": candidate " + s[t].dump() + " outside [0, " + std::to_string(n) + ")");
            const int c = static_cast<int>(s[t].as_uint());
            if (slot_of[std::size_t(c)] >= 0)
                jsonl_fail(source, line, where() + ": candidate " + std::to_string(c) + " is shown twice (slots " +
                                             std::to_string(slot_of[std::size_t(c)]) + " and " + std::to_string(t) + ")");
            slot_of[std::size_t(c)] = static_cast<int>(t);
            out.shown.push_back(c);
        }
    }

    // ---- propensity
    if (prop) {
        auto check = [&](const json& v, const std::string& where) {
            if (!v.is_number()) jsonl_fail(source, line, where + ": expected a number, got " + json_type_name(v.type()));
            const double x = v.as_double();
            if (!std::isfinite(x) || x > 0.0 || x < -lim.max_abs_log_propensity) {
                // a value in (0, 1] is most likely the probability itself: say what its log is
                std::string hint;
                if (x > 0.0 && x <= 1.0)
                    hint = " (a probability? the field holds its log: " + json(std::log(x)).dump() + ")";
                jsonl_fail(source, line, where + ": a log-propensity must be in [" +
                                             json(-lim.max_abs_log_propensity).dump() + ", 0], got " + v.dump() + hint);
            }
            return x;
        };
        out.has_propensity = true;
        if (prop->is_array()) {
            const json::array_t& p = prop->as_array();
            if (p.size() != L)
                jsonl_fail(source, line, "\"log_propensity\": " + std::to_string(p.size()) + " values for " +
                                             std::to_string(L) + " shown slots");
            out.slot_log_propensity.reserve(L);
            double sum = 0;
            for (std::size_t t = 0; t < L; ++t) {
                const double x = check(p[t], "\"log_propensity\"[" + std::to_string(t) + "]");
                out.slot_log_propensity.push_back(x);
                sum += x;
            }
            out.log_propensity = sum;
        } else {
            out.log_propensity = check(*prop, "\"log_propensity\"");
        }
    }

    // ---- feedback
    if (!feedback) jsonl_fail(source, line, "missing field \"feedback\"");
    if (!feedback->is_object())
        jsonl_fail(source, line, std::string("\"feedback\": expected an object (objective name -> per-slot values), got ") +
                                     json_type_name(feedback->type()));
    const json::object_t& fb = feedback->as_object();
    if (fb.empty()) jsonl_fail(source, line, "\"feedback\": no objectives");
    if (fb.size() > lim.max_objectives)
        jsonl_fail(source, line, "\"feedback\": " + std::to_string(fb.size()) + " objectives exceed the limit of " +
                                     std::to_string(lim.max_objectives));
    out.objectives.reserve(fb.size());
    out.feedback.reserve(fb.size() * L);
    for (const json::member_t& m : fb) {
        const std::string where = "\"feedback\"." + ::dualrerank::io::detail::quote_for_message(m.first, 64);
        if (m.first.empty()) jsonl_fail(source, line, "\"feedback\": an objective with an empty name");
        if (m.first.size() > lim.max_objective_bytes)
            jsonl_fail(source, line, where + ": objective name longer than " + std::to_string(lim.max_objective_bytes) +
                                         " bytes");
        const json::array_t& v = jsonl_array(m.second, source, line, where);
        if (v.size() != L)
            jsonl_fail(source, line, where + ": " + std::to_string(v.size()) + " values for " + std::to_string(L) +
                                         " shown slots");
        for (std::size_t t = 0; t < L; ++t) {
            if (!v[t].is_number())
                jsonl_fail(source, line, where + "[" + std::to_string(t) + "]: expected a number, got " +
                                             json_type_name(v[t].type()));
            const double x = v[t].as_double();
            if (!std::isfinite(x) || x < 0.0 || x > lim.max_feedback)
                jsonl_fail(source, line, where + "[" + std::to_string(t) + "]: feedback must be in [0, " +
                                             json(lim.max_feedback).dump() + "], got " + v[t].dump());
            out.feedback.push_back(static_cast<float>(x));
        }
        out.objectives.push_back(m.first);
    }
    return out;
}

/// input_error unless the page is one the reader would return (the writer calls it).
inline void validate_impression_page(const impression_page& p, const impression_log_limits& lim = {}) {
    auto bad = [](const std::string& m) { ::dualrerank::detail::throw_input("impression page: " + m); };
    const request<float>& r = p.candidates;
    if (r.n < 1 || std::size_t(r.n) > lim.max_candidates) bad("N = " + std::to_string(r.n) + " outside [1, max_candidates]");
    if (r.f < 1 || std::size_t(r.f) > lim.max_features) bad("F = " + std::to_string(r.f) + " outside [1, max_features]");
    if (std::size_t(r.n) > lim.max_values / std::size_t(r.f)) bad("N x F exceeds max_values");
    if (r.features.size() != std::size_t(r.n) * std::size_t(r.f)) bad("features hold " + std::to_string(r.features.size()) + " values, expected N x F");
    for (float x : r.features)
        if (!std::isfinite(x)) bad("a non-finite feature");
    if (r.context.size() > lim.max_context) bad("context exceeds max_context");
    for (float x : r.context)
        if (!std::isfinite(x)) bad("a non-finite context feature");
    if (!r.upstream_rank.empty()) {
        if (r.upstream_rank.size() != std::size_t(r.n)) bad("upstream_rank must hold N ranks");
        for (int x : r.upstream_rank)
            if (x < 0 || x > lim.max_rank) bad("upstream rank " + std::to_string(x) + " outside [0, max_rank]");
    }
    const std::size_t L = p.shown.size();
    if (L < 1 || L > lim.max_slate || L > std::size_t(r.n)) bad("shown has " + std::to_string(L) + " slots, need 1..min(N, max_slate)");
    for (std::size_t t = 0; t < L; ++t) {
        if (p.shown[t] < 0 || p.shown[t] >= r.n) bad("shown[" + std::to_string(t) + "] outside [0, N)");
        for (std::size_t u = 0; u < t; ++u)
            if (p.shown[u] == p.shown[t]) bad("shown repeats candidate " + std::to_string(p.shown[t]));
    }
    auto prop_ok = [&](double x) { return std::isfinite(x) && x <= 0.0 && x >= -lim.max_abs_log_propensity; };
    if (p.has_propensity) {
        if (!p.slot_log_propensity.empty()) {
            if (p.slot_log_propensity.size() != L) bad("slot_log_propensity must hold L values");
            for (double x : p.slot_log_propensity)
                if (!prop_ok(x)) bad("a per-slot log-propensity outside [-max_abs_log_propensity, 0]");
        } else if (!prop_ok(p.log_propensity)) {
            bad("log_propensity outside [-max_abs_log_propensity, 0]");
        }
    }
    if (p.objectives.empty() || p.objectives.size() > lim.max_objectives) bad("need 1..max_objectives objectives");
    for (std::size_t k = 0; k < p.objectives.size(); ++k) {
        const std::string& name = p.objectives[k];
        if (name.empty() || name.size() > lim.max_objective_bytes || !::dualrerank::io::detail::is_valid_utf8(name))
            bad("objective name " + std::to_string(k) + " is empty, too long or not UTF-8");
        for (std::size_t j = 0; j < k; ++j)
            if (p.objectives[j] == name) bad("objective \"" + name + "\" given twice");
    }
    if (p.feedback.size() != p.objectives.size() * L) bad("feedback must hold K x L values");
    for (float x : p.feedback)
        if (!std::isfinite(x) || x < 0.0f || double(x) > lim.max_feedback) bad("a feedback value outside [0, max_feedback]");
    auto id_ok = [&](const json& v, bool floating) {
        return v.is_null() || v.is_integer() || (floating && v.is_floating() && std::isfinite(v.as_double())) ||
               (v.is_string() && v.as_string().size() <= lim.max_id_bytes && ::dualrerank::io::detail::is_valid_utf8(v.as_string()));
    };
    if (!id_ok(p.id, false)) bad("id must be a string (<= max_id_bytes) or an integer");
    if (!id_ok(p.timestamp, true)) bad("timestamp must be a number or a string (<= max_id_bytes)");
    if (!id_ok(p.policy_version, false)) bad("policy_version must be a string (<= max_id_bytes) or an integer");
}

/// The page as one compact JSON line (with the trailing '\n'); validates it first (input_error).
inline std::string format_impression_line(const impression_page& p, const impression_log_limits& lim = {}) {
    validate_impression_page(p, lim);
    std::string o;
    const request<float>& r = p.candidates;
    o.reserve(std::size_t(r.n) * std::size_t(r.f) * 8 + 256);
    o += '{';
    if (!p.id.is_null()) o += "\"id\":" + p.id.dump() + ",";
    o += "\"features\":[";
    for (int i = 0; i < r.n; ++i) {
        o += i ? ",[" : "[";
        for (int k = 0; k < r.f; ++k) {
            if (k) o += ',';
            detail::append_float(o, r.features[std::size_t(i) * std::size_t(r.f) + std::size_t(k)]);
        }
        o += ']';
    }
    o += ']';
    if (!r.context.empty()) {
        o += ",\"context\":[";
        for (std::size_t k = 0; k < r.context.size(); ++k) {
            if (k) o += ',';
            detail::append_float(o, r.context[k]);
        }
        o += ']';
    }
    if (!r.upstream_rank.empty()) {
        o += ",\"upstream_rank\":[";
        for (std::size_t k = 0; k < r.upstream_rank.size(); ++k) o += (k ? "," : "") + std::to_string(r.upstream_rank[k]);
        o += ']';
    }
    o += ",\"shown\":[";
    for (std::size_t t = 0; t < p.shown.size(); ++t) o += (t ? "," : "") + std::to_string(p.shown[t]);
    o += ']';
    if (p.has_propensity) {
        o += ",\"log_propensity\":";
        if (p.slot_log_propensity.empty()) {
            o += json(p.log_propensity).dump();
        } else {
            o += '[';
            for (std::size_t t = 0; t < p.slot_log_propensity.size(); ++t) o += (t ? "," : "") + json(p.slot_log_propensity[t]).dump();
            o += ']';
        }
    }
    o += ",\"feedback\":{";
    const std::size_t L = p.shown.size();
    for (std::size_t k = 0; k < p.objectives.size(); ++k) {
        if (k) o += ',';
        o += json(p.objectives[k]).dump() + ":[";
        for (std::size_t t = 0; t < L; ++t) {
            if (t) o += ',';
            detail::append_float(o, p.feedback[k * L + t]);
        }
        o += ']';
    }
    o += '}';
    if (!p.timestamp.is_null()) o += ",\"timestamp\":" + p.timestamp.dump();
    if (!p.policy_version.is_null()) o += ",\"policy_version\":" + p.policy_version.dump();
    o += "}\n";
    return o;
}

/// Reads logged pages line by line from a stream; a line longer than the cap is never held whole.
/// Every page must name the objectives of the first page; they are reordered to its order, so
/// `feedback[k * L + t]` means objectives()[k] on every page.
class impression_log_reader {
public:
    impression_log_reader(std::istream& in, std::string source = "<impressions>", impression_log_limits lim = {})
        : source_(std::move(source)), lim_(lim), lines_(in) {}

    /// The next page; false at the end of the stream. Throws format_error on a bad line; the
    /// reader then stands at the next line, so a caller may report the error and go on.
    bool next(impression_page& out) {
        while (read_line()) {
            if (::dualrerank::io::detail::jsonl_blank(line_)) continue;
            out = parse_impression_line(line_, lines_.line_number(), source_, lim_);
            conform(out);
            return true;
        }
        return false;
    }

    /// Lines read so far (the line number of the last page returned).
    std::size_t line_number() const noexcept { return lines_.line_number(); }
    const std::string& source() const noexcept { return source_; }
    /// The objectives of the first page (empty before it).
    const std::vector<std::string>& objectives() const noexcept { return objectives_; }

private:
    std::string source_;
    impression_log_limits lim_;
    ::dualrerank::io::detail::bounded_line_reader lines_;  // shared with jsonl_reader
    std::string line_;
    std::vector<std::string> objectives_;
    std::size_t objectives_line_ = 0;

    void conform(impression_page& p) {
        if (objectives_.empty()) {
            objectives_ = p.objectives;
            objectives_line_ = p.line;
            return;
        }
        if (p.objectives == objectives_) return;
        const std::size_t K = objectives_.size(), L = p.shown.size();
        std::vector<float> fb(K * L);
        for (std::size_t k = 0; k < K; ++k) {
            const int j = p.objective_index(objectives_[k]);
            if (j < 0)
                ::dualrerank::io::detail::jsonl_fail(source_, p.line,
                                                     "\"feedback\": objective \"" + objectives_[k] + "\" (given on line " +
                                                         std::to_string(objectives_line_) + ") is missing");
            std::copy_n(p.feedback.begin() + std::ptrdiff_t(std::size_t(j) * L), L, fb.begin() + std::ptrdiff_t(k * L));
        }
        if (p.objectives.size() != K) {
            for (const std::string& name : p.objectives)
                if (std::find(objectives_.begin(), objectives_.end(), name) == objectives_.end())
                    ::dualrerank::io::detail::jsonl_fail(
                        source_, p.line,
                        "\"feedback\": objective " + ::dualrerank::io::detail::quote_for_message(name, 64) +
                            " is not among the objectives of line " + std::to_string(objectives_line_));
        }
        p.objectives = objectives_;
        p.feedback = std::move(fb);
    }

    bool read_line() { return lines_.read(line_, source_, lim_.max_line_bytes, lim_.max_skip_bytes); }
};

/// All pages of a stream / string / file (every page in memory: N x F floats each).
inline std::vector<impression_page> read_impression_log(std::istream& in, const std::string& source = "<impressions>",
                                                        const impression_log_limits& lim = {}) {
    impression_log_reader reader(in, source, lim);
    std::vector<impression_page> out;
    impression_page p;
    while (reader.next(p)) out.push_back(std::move(p));
    return out;
}
inline std::vector<impression_page> read_impression_log_string(const std::string& text,
                                                               const impression_log_limits& lim = {}) {
    std::istringstream in(text);
    return read_impression_log(in, "<string>", lim);
}
inline std::vector<impression_page> read_impression_log_file(const std::string& path,
                                                             const impression_log_limits& lim = {}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) ::dualrerank::detail::throw_format(path + ": cannot open");
    return read_impression_log(in, path, lim);
}

/// Writes logged pages as JSON lines to a stream; every page must name the same objectives in
/// the same order as the first (input_error otherwise), so the file reads back as written.
class impression_log_writer {
public:
    explicit impression_log_writer(std::ostream& out, impression_log_limits lim = {}) : out_(out), lim_(lim) {}
    void write(const impression_page& p) {
        if (written_ == 0) {
            objectives_ = p.objectives;
        } else if (p.objectives != objectives_) {
            ::dualrerank::detail::throw_input("impression_log_writer: page " + std::to_string(written_ + 1) +
                                              " names other objectives than the first page");
        }
        const std::string line = format_impression_line(p, lim_);
        out_.write(line.data(), static_cast<std::streamsize>(line.size()));
        if (!out_) ::dualrerank::detail::throw_format("impression_log_writer: write failed");
        ++written_;
    }
    std::size_t written() const noexcept { return written_; }

private:
    std::ostream& out_;
    impression_log_limits lim_;
    std::vector<std::string> objectives_;
    std::size_t written_ = 0;
};

}  // namespace io
DUALRERANK_NAMESPACE_END
