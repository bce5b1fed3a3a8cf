// Fuzz target body: the JSON-lines request reader of the CLI (include/dualrerank/io/jsonl.hpp)
// and its slate writer (see fuzz_common.hpp for the contract).
//
// The text is read as a server would: every line, going on after a bad one. The reader must
// advance on every call (at most one call per line plus the end), every request it returns must
// satisfy the documented constraints, and the output line written for it must be one line of JSON
// that reads back with the same id and slate. Read twice: with the default caps and with tiny caps
// (short lines, few candidates and values) so the cap paths and the overlong-line skip are reached.
#pragma once

#include <algorithm>
#include <sstream>

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_jsonl {

using namespace dualrerank;
using namespace dualrerank::io;

inline void check_request(const jsonl_request& q, const jsonl_limits& lim, std::size_t line) {
    const request<float>& r = q.candidates;
    fuzz_check(q.line == line, "jsonl: request line number");
    fuzz_check(r.n >= 1 && std::size_t(r.n) <= lim.max_candidates, "jsonl: N out of range");
    fuzz_check(r.f >= 1 && std::size_t(r.f) <= lim.max_features, "jsonl: F out of range");
    fuzz_check(r.features.size() == std::size_t(r.n) * std::size_t(r.f), "jsonl: features size");
    fuzz_check(r.features.size() <= lim.max_values, "jsonl: more values than the cap");
    fuzz_check(r.context.size() <= lim.max_context, "jsonl: context above the cap");
    for (float v : r.features) fuzz_check(std::isfinite(v), "jsonl: non-finite feature");
    for (float v : r.context) fuzz_check(std::isfinite(v), "jsonl: non-finite context");
    fuzz_check(r.upstream_rank.empty() || r.upstream_rank.size() == std::size_t(r.n), "jsonl: upstream_rank size");
    for (int v : r.upstream_rank) fuzz_check(v >= 0 && v <= lim.max_rank, "jsonl: rank out of range");
    fuzz_check(q.relevance.empty() || q.relevance.size() == std::size_t(r.n), "jsonl: relevance size");
    for (float v : q.relevance) fuzz_check(std::isfinite(v) && v >= 0, "jsonl: bad relevance");
    fuzz_check(q.id.is_null() || q.id.is_integer() || (q.id.is_string() && q.id.as_string().size() <= lim.max_id_bytes),
               "jsonl: bad id");

    // The output record for it is one line of JSON with the same id and slate.
    slate_record rec;
    rec.id = q.output_id();
    for (int i = 0; i < std::min(r.n, 3); ++i) rec.items.push_back(r.n - 1 - i);
    rec.scores.assign(rec.items.size(), -0.5);
    if (!rec.scores.empty()) rec.scores.back() = std::numeric_limits<double>::quiet_NaN();
    rec.has_score = true;
    rec.score = std::numeric_limits<double>::infinity();
    const std::string out = format_slate_line(rec);
    fuzz_check(!out.empty() && out.back() == '\n' && out.find('\n') == out.size() - 1, "jsonl: output is not one line");
    const json back = json::parse(std::string_view(out).substr(0, out.size() - 1));
    fuzz_check(back.at("id").dump() == rec.id.dump(), "jsonl: output id differs");
    fuzz_check(back.at("slate").size() == rec.items.size(), "jsonl: output slate differs");
    fuzz_check(back.at("score").is_null(), "jsonl: a non-finite score is not null");
}

inline void read_all(const std::string& text, const jsonl_limits& lim) {
    std::istringstream in(text);
    jsonl_reader reader(in, "<fuzz>", lim);
    const std::size_t lines = std::size_t(std::count(text.begin(), text.end(), '\n')) + 1;
    std::size_t calls = 0, last_line = 0;
    jsonl_request q;
    for (;;) {
        fuzz_check(++calls <= lines + 1, "jsonl: the reader does not advance");
        try {
            if (!reader.next(q)) break;
            check_request(q, lim, reader.line_number());
        } catch (const dualrerank::error&) {
        }
        fuzz_check(reader.line_number() >= last_line, "jsonl: line numbers go back");
        last_line = reader.line_number();
    }
    fuzz_check(reader.line_number() <= lines, "jsonl: more lines counted than the text has");
}

}  // namespace detail_jsonl

inline void jsonl_one(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    detail_jsonl::read_all(text, dualrerank::io::jsonl_limits{});

    dualrerank::io::jsonl_limits tiny;
    tiny.max_line_bytes = 96;
    tiny.max_candidates = 4;
    tiny.max_features = 3;
    tiny.max_context = 2;
    tiny.max_values = 8;
    tiny.max_rank = 5;
    tiny.max_id_bytes = 4;
    detail_jsonl::read_all(text, tiny);

    // One line on its own, as a server handed a single request would parse it.
    const std::size_t nl = text.find('\n');
    try {
        (void)dualrerank::io::parse_jsonl_request(std::string_view(text).substr(0, nl), 1, "<fuzz>", tiny);
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
