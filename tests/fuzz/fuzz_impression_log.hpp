// Fuzz target body: the impression-log reader and writer (include/dualrerank/io/impression_log.hpp,
// docs/logs.md; see fuzz_common.hpp for the contract).
//
// The text is read as a training job reads a log: every line, going on after a bad one. The
// reader must advance on every call (at most one call per line plus the end); every page it
// returns must satisfy the documented constraints (shapes, caps, distinct in-range shown slots,
// finite feedback in range, propensities <= 0, the first page's objectives in its order); and the
// writer must write it as one line that reads back to the same page (a fixed point of
// write -> read -> write). Read twice: with the default caps and with tiny caps (short lines, few
// candidates, slots and objectives) so the cap paths and the overlong-line skip are reached.
#pragma once

#include <algorithm>
#include <cmath>
#include <sstream>

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_impression {

using namespace dualrerank;
using namespace dualrerank::io;

inline void check_page(const impression_page& p, const impression_log_limits& lim, std::size_t line,
                       const std::vector<std::string>& objectives) {
    const request<float>& r = p.candidates;
    fuzz_check(p.line == line, "impressions: page line number");
    fuzz_check(r.n >= 1 && std::size_t(r.n) <= lim.max_candidates, "impressions: N out of range");
    fuzz_check(r.f >= 1 && std::size_t(r.f) <= lim.max_features, "impressions: F out of range");
    fuzz_check(r.features.size() == std::size_t(r.n) * std::size_t(r.f), "impressions: features size");
    fuzz_check(r.features.size() <= lim.max_values, "impressions: more values than the cap");
    fuzz_check(r.context.size() <= lim.max_context, "impressions: context above the cap");
    for (float v : r.features) fuzz_check(std::isfinite(v), "impressions: non-finite feature");
    for (float v : r.context) fuzz_check(std::isfinite(v), "impressions: non-finite context");
    fuzz_check(r.upstream_rank.empty() || r.upstream_rank.size() == std::size_t(r.n), "impressions: upstream_rank size");
    for (int v : r.upstream_rank) fuzz_check(v >= 0 && v <= lim.max_rank, "impressions: rank out of range");
    const std::size_t L = p.shown.size();
    fuzz_check(L >= 1 && L <= lim.max_slate && L <= std::size_t(r.n), "impressions: L out of range");
    for (std::size_t t = 0; t < L; ++t) {
        fuzz_check(p.shown[t] >= 0 && p.shown[t] < r.n, "impressions: shown index out of range");
        for (std::size_t u = 0; u < t; ++u) fuzz_check(p.shown[u] != p.shown[t], "impressions: repeated shown index");
    }
    fuzz_check(p.objectives == objectives, "impressions: objectives not in the first page's order");
    fuzz_check(!p.objectives.empty() && p.objectives.size() <= lim.max_objectives, "impressions: objective count");
    fuzz_check(p.feedback.size() == p.objectives.size() * L, "impressions: feedback size");
    for (float v : p.feedback) fuzz_check(std::isfinite(v) && v >= 0.0f && double(v) <= lim.max_feedback, "impressions: feedback range");
    if (p.has_propensity) {
        fuzz_check(std::isfinite(p.log_propensity) && p.log_propensity <= 0.0, "impressions: log-propensity");
        fuzz_check(p.slot_log_propensity.empty() || p.slot_log_propensity.size() == L, "impressions: per-slot propensities");
    } else {
        fuzz_check(p.slot_log_propensity.empty(), "impressions: per-slot propensities without has_propensity");
    }
    fuzz_check(p.id.is_null() || p.id.is_integer() || (p.id.is_string() && p.id.as_string().size() <= lim.max_id_bytes),
               "impressions: bad id");

    // The writer writes it as one line that reads back to the same page, and that line is a fixed point.
    const std::string out = format_impression_line(p, lim);
    fuzz_check(!out.empty() && out.back() == '\n' && out.find('\n') == out.size() - 1, "impressions: output is not one line");
    const std::string_view text = std::string_view(out).substr(0, out.size() - 1);
    const impression_page back = parse_impression_line(text, line, "<fuzz-out>", lim);
    fuzz_check(back.candidates.features == r.features && back.candidates.context == r.context &&
                   back.candidates.upstream_rank == r.upstream_rank,
               "impressions: candidates differ after the round trip");
    fuzz_check(back.shown == p.shown && back.objectives == p.objectives && back.feedback == p.feedback,
               "impressions: slate or feedback differ after the round trip");
    fuzz_check(back.has_propensity == p.has_propensity && back.slot_log_propensity == p.slot_log_propensity &&
                   (!p.has_propensity || back.log_propensity == p.log_propensity),
               "impressions: propensity differs after the round trip");
    fuzz_check(back.id == p.id && back.timestamp == p.timestamp && back.policy_version == p.policy_version,
               "impressions: id, timestamp or policy_version differ after the round trip");
    fuzz_check(format_impression_line(back, lim) == out, "impressions: the written line is not a fixed point");
}

inline void read_all(const std::string& text, const impression_log_limits& lim) {
    std::istringstream in(text);
    impression_log_reader reader(in, "<fuzz>", lim);
    const std::size_t lines = std::size_t(std::count(text.begin(), text.end(), '\n')) + 1;
    std::size_t calls = 0, last_line = 0;
    impression_page p;
    for (;;) {
        fuzz_check(++calls <= lines + 1, "impressions: the reader does not advance");
        try {
            if (!reader.next(p)) break;
            check_page(p, lim, reader.line_number(), reader.objectives());
        } catch (const dualrerank::error&) {
        }
        fuzz_check(reader.line_number() >= last_line, "impressions: line numbers go back");
        last_line = reader.line_number();
    }
    fuzz_check(reader.line_number() <= lines, "impressions: more lines counted than the text has");
}

}  // namespace detail_impression

inline void impression_log_one(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    detail_impression::read_all(text, dualrerank::io::impression_log_limits{});

    dualrerank::io::impression_log_limits tiny;
    tiny.max_line_bytes = 160;
    tiny.max_candidates = 4;
    tiny.max_features = 3;
    tiny.max_context = 2;
    tiny.max_values = 8;
    tiny.max_rank = 5;
    tiny.max_slate = 3;
    tiny.max_objectives = 2;
    tiny.max_objective_bytes = 5;
    tiny.max_feedback = 10;
    tiny.max_abs_log_propensity = 50;
    tiny.max_id_bytes = 4;
    detail_impression::read_all(text, tiny);

    // One line on its own.
    const std::size_t nl = text.find('\n');
    try {
        (void)dualrerank::io::parse_impression_line(std::string_view(text).substr(0, nl), 1, "<fuzz>", tiny);
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
