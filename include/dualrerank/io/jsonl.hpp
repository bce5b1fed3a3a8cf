// JSON-lines requests in, slates out: the wire format of `dualrerank rerank` (and of a server that
// wants one).
//
// Input: one request per line, a JSON object (RFC 8259, parsed strictly by io/json.hpp):
//
//     {"id": "q1", "features": [[0.1, 2.0, -1], [0.3, 0.0, 4.5]], "context": [1, 0],
//      "upstream_rank": [1, 0], "relevance": [0, 2]}
//
//   id             optional; a string (at most max_id_bytes bytes) or an integer; echoed in the output
//   features       required; N rows (candidates) of F numbers each, every row the same length,
//                  1 <= N <= max_candidates, 1 <= F <= max_features, N * F <= max_values;
//                  finite and rounding to a finite float (3.4028235e+38 reads as FLT_MAX)
//   context        optional; Fc numbers (0 <= Fc <= max_context), finite, representable as float
//   upstream_rank  optional; N integers in [0, max_rank] (0 = ranked first by the upstream
//                  ranker); ties are allowed (ranks may come from a longer upstream list)
//   relevance      optional; N graded labels (finite, >= 0), only used by evaluation
//
// Any other key is an error (a typo never silently drops a field). Blank lines (spaces, tabs, a
// CR) are skipped but counted, so line numbers match the file; a CRLF line end is accepted. A line
// longer than max_line_bytes is rejected without being buffered whole.
//
// Every defect is a dualrerank::format_error naming the source, the line and the field, e.g.
//     dualrerank: requests.jsonl:7: "features"[3]: row has 4 values, expected 5 (the width of row 0)
// After an error jsonl_reader stands at the next line (an overlong line is skipped to its end), so
// a server can answer the bad request with an error record and go on.
//
// Output: one JSON object per line, in input order:
//
//     {"id":"q1","slate":[1,0],"scores":[-0.12,-0.7]}
//     {"id":"q2","error":"requests.jsonl:2: ..."}   (only when the caller chose to skip bad requests)
//
//   id      the request's id, or the 1-based line number when the request had none; in an error
//           record of a line that does not parse, the line's "id" when it could be read (see
//           jsonl_reader::last_id), else null; the error text names source:line
//   slate   candidate indices (0-based rows of "features"), best slot first
//   scores  optional, one number per slot (what they mean is the decoder's: log-probabilities for
//           greedy/beam/confident, the evaluator's utility for best-of-n)
//   score   optional, one number for the whole slate
//
// No allocation-free promise here: this is the boundary, not the hot path.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"
#include "../model/config.hpp"
#include "json.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace io {

/// Hard caps of the JSON-lines reader; each breach is a format_error.
struct jsonl_limits {
    std::size_t max_line_bytes = std::size_t(16) << 20;                 ///< bytes in one line
    std::size_t max_candidates = std::size_t(limits::max_candidates);  ///< N
    std::size_t max_features = std::size_t(limits::max_features);      ///< F
    std::size_t max_context = std::size_t(limits::max_features);       ///< Fc
    std::size_t max_values = std::size_t(1) << 20;                     ///< N * F
    std::int64_t max_rank = limits::max_candidates - 1;                ///< upstream_rank values
    std::size_t max_id_bytes = 1024;                                   ///< a string id
    /// After an overlong line the reader skips to its end, but at most this many bytes: a stream
    /// without line ends (/dev/zero) is then given up on (an error, and next() returns false).
    std::size_t max_skip_bytes = std::size_t(64) << 20;
};

/// One parsed request line.
struct jsonl_request {
    json id;                       ///< null when the line had no "id"
    request<float> candidates;     ///< features [n x f], context, upstream_rank
    std::vector<float> relevance;  ///< empty when absent
    std::size_t line = 0;          ///< 1-based line number in the source

    /// The id as written in the output: the given id, or the line number.
    json output_id() const { return id.is_null() ? json(static_cast<std::uint64_t>(line)) : id; }
};

namespace detail {

[[noreturn]] inline void jsonl_fail(const std::string& source, std::size_t line, const std::string& what) {
    ::dualrerank::detail::throw_format(source + ":" + std::to_string(line) + ": " + what);
}

/// A number as the nearest float; the location is built only on failure ("name"[i] or
/// "name"[i][k]). Values that round to a finite float are accepted, including those just above
/// FLT_MAX (below FLT_MAX + half an ulp, 2^103): the shortest text of FLT_MAX, 3.4028235e+38,
/// which float writers emit, is such a value, so it reads back as FLT_MAX.
inline float jsonl_float(const json& v, const std::string& source, std::size_t line, const char* name,
                         std::size_t i, std::size_t k = std::size_t(-1)) {
    constexpr double round_limit = 3.4028235677973366e38;  // FLT_MAX + 2^103: the first value rounding to inf
    const bool ok_type = v.is_number();
    const double d = ok_type ? v.as_double() : 0.0;
    if (ok_type && std::isfinite(d) && std::fabs(d) < round_limit) {
        const double fmax = static_cast<double>(std::numeric_limits<float>::max());
        if (d > fmax) return std::numeric_limits<float>::max();  // the conversion itself would be undefined
        if (d < -fmax) return -std::numeric_limits<float>::max();
        return static_cast<float>(d);
    }
    std::string where = std::string("\"") + name + "\"[" + std::to_string(i) + "]";
    if (k != std::size_t(-1)) where += "[" + std::to_string(k) + "]";
    if (!ok_type) jsonl_fail(source, line, where + ": expected a number, got " + json_type_name(v.type()));
    jsonl_fail(source, line, where + ": value does not fit in a float");
}

inline const json::array_t& jsonl_array(const json& v, const std::string& source, std::size_t line,
                                        const std::string& where) {
    if (!v.is_array()) jsonl_fail(source, line, where + ": expected an array, got " + json_type_name(v.type()));
    return v.as_array();
}

/// Line-oriented text read with a bound (the JSON-lines and impression-log readers): a line longer
/// than `max_line` is never held whole; its rest is skipped, at most `max_skip` bytes (a stream
/// without line ends, /dev/zero, is then given up: an error, and read() returns false from then
/// on). Errors are format_error naming source:line: "read error", "line longer than the limit of N
/// bytes", "no line end within max_skip_bytes = N bytes ...", "NUL byte in a text line"; after one
/// the reader stands at the next line. A trailing '\r' is dropped; blank lines are returned (and
/// counted), so line numbers match the file.
class bounded_line_reader {
public:
    explicit bounded_line_reader(std::istream& in) : in_(in) {}

    /// The next line into `line` (without its end); false at the end of the stream.
    bool read(std::string& line, const std::string& source, std::size_t max_line, std::size_t max_skip) {
        if (done_) return false;
        line.clear();
        char chunk[4096];
        bool any = false;
        for (;;) {
            in_.getline(chunk, sizeof(chunk));
            const std::size_t got = static_cast<std::size_t>(in_.gcount());
            if (in_.bad()) jsonl_fail(source, line_no_ + 1, "read error");
            const bool newline = !in_.fail() && !in_.eof();  // a full line ending in '\n'
            std::size_t len = got;
            if (newline && len > 0) --len;  // getline counted the extracted '\n'
            if (line.size() + len > max_line) {
                // skip the rest of the line (without buffering it) so the reader can go on
                bool found_end = true;
                if (!newline && !in_.eof()) {
                    in_.clear();
                    std::streambuf* sb = in_.rdbuf();
                    found_end = false;
                    for (std::size_t skipped = 0; skipped < max_skip; ++skipped) {
                        const int c = sb->sbumpc();
                        if (c == std::char_traits<char>::eof()) {
                            in_.setstate(std::ios::eofbit);
                            found_end = true;
                            break;
                        }
                        if (c == '\n') {
                            found_end = true;
                            break;
                        }
                    }
                }
                if (in_.eof()) done_ = true;
                line.clear();
                ++line_no_;
                if (!found_end) {
                    done_ = true;
                    jsonl_fail(source, line_no_, "no line end within max_skip_bytes = " + std::to_string(max_skip) +
                                                     " bytes after an overlong line: not line-oriented text, stopped reading");
                }
                jsonl_fail(source, line_no_, "line longer than the limit of " + std::to_string(max_line) + " bytes");
            }
            line.append(chunk, len);
            any = any || got > 0;
            if (newline) break;
            if (in_.eof()) {
                done_ = true;
                if (!any) return false;
                break;
            }
            // failbit without eof: the chunk filled up before a '\n'; keep reading the same line
            in_.clear();
        }
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find('\0') != std::string::npos) jsonl_fail(source, line_no_, "NUL byte in a text line");
        return true;
    }

    /// Lines read so far.
    std::size_t line_number() const noexcept { return line_no_; }

private:
    std::istream& in_;
    std::size_t line_no_ = 0;
    bool done_ = false;
};

inline bool jsonl_blank(std::string_view s) noexcept {
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\r') return false;
    return true;
}

}  // namespace detail

namespace detail {

/// parse_jsonl_request; `id_out` (when not null) receives the line's "id" as soon as it is known
/// to be valid, so a caller can name a request whose other fields are bad (null when the line
/// has no valid id or is not a JSON object).
inline jsonl_request parse_jsonl_request_impl(std::string_view text, std::size_t line, const std::string& source,
                                              const jsonl_limits& lim, json* id_out);

}  // namespace detail

/// Parse one request line (without its '\n'). `source` and `line` name it in error messages.
inline jsonl_request parse_jsonl_request(std::string_view text, std::size_t line = 1,
                                         const std::string& source = "<jsonl>", const jsonl_limits& lim = {}) {
    return detail::parse_jsonl_request_impl(text, line, source, lim, nullptr);
}

inline jsonl_request detail::parse_jsonl_request_impl(std::string_view text, std::size_t line, const std::string& source,
                                                      const jsonl_limits& lim, json* id_out) {
    using detail::jsonl_array;
    using detail::jsonl_fail;
    using detail::jsonl_float;
    if (text.size() > lim.max_line_bytes)
        jsonl_fail(source, line, "line of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                     std::to_string(lim.max_line_bytes) + " bytes");
    json_parse_options po;
    po.max_depth = 3;  // object > features > row
    po.max_bytes = lim.max_line_bytes;
    // values: the object, 5 members, the arrays and their numbers
    po.max_values = lim.max_values + lim.max_candidates * 3 + lim.max_context + 16;
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
    if (!doc.is_object()) jsonl_fail(source, line, std::string("expected a JSON object, got ") + json_type_name(doc.type()));

    jsonl_request out;
    out.line = line;
    // the id first, whatever its place in the object, so that an error in any other field can be
    // reported with it (id_out)
    for (const json::member_t& m : doc.as_object())
        if (m.first == "id") out.id = m.second;
    if (!out.id.is_null()) {
        if (out.id.is_string()) {
            if (out.id.as_string().size() > lim.max_id_bytes)
                jsonl_fail(source, line, "\"id\": longer than " + std::to_string(lim.max_id_bytes) + " bytes");
        } else if (!out.id.is_integer()) {
            jsonl_fail(source, line, std::string("\"id\": expected a string or an integer, got ") +
                                         json_type_name(out.id.type()));
        }
        if (id_out) *id_out = out.id;
    }
    const json* features = nullptr;
    const json* context = nullptr;
    const json* upstream = nullptr;
    const json* relevance = nullptr;
    for (const json::member_t& m : doc.as_object()) {
        if (m.first == "id") {
            continue;
        } else if (m.first == "features") {
            features = &m.second;
        } else if (m.first == "context") {
            context = &m.second;
        } else if (m.first == "upstream_rank") {
            upstream = &m.second;
        } else if (m.first == "relevance") {
            relevance = &m.second;
        } else {
            const bool logged = m.first == "shown" || m.first == "log_propensity" || m.first == "feedback" ||
                                m.first == "timestamp" || m.first == "policy_version";
            jsonl_fail(source, line,
                       "unknown field " + detail::quote_for_message(m.first, 64) +
                           " (expected id, features, context, upstream_rank, relevance" +
                           (logged ? std::string("; an impression-log page, docs/logs.md? a request carries none of shown, "
                                                 "log_propensity, feedback, timestamp, policy_version: drop them")
                                   : std::string()) +
                           ")");
        }
    }

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

    if (relevance) {
        const json::array_t& r = jsonl_array(*relevance, source, line, "\"relevance\"");
        if (r.size() != n)
            jsonl_fail(source, line, "\"relevance\": " + std::to_string(r.size()) + " labels for " +
                                         std::to_string(n) + " candidates");
        out.relevance.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            const float v = jsonl_float(r[k], source, line, "relevance", k);
            if (v < 0.0f)
                jsonl_fail(source, line, "\"relevance\"[" + std::to_string(k) + "]: a relevance label must be >= 0");
            out.relevance.push_back(v);
        }
    }
    return out;
}

/// Reads requests line by line from a stream; a line longer than the cap is never held whole.
class jsonl_reader {
public:
    jsonl_reader(std::istream& in, std::string source = "<jsonl>", jsonl_limits lim = {})
        : source_(std::move(source)), lim_(lim), lines_(in) {}

    /// The next request; false at the end of the stream. Throws format_error on a bad line; the
    /// reader then stands at the next line, so a caller may report the error and go on.
    bool next(jsonl_request& out) {
        last_id_ = json();
        while (read_line()) {
            if (detail::jsonl_blank(line_)) continue;
            out = detail::parse_jsonl_request_impl(line_, lines_.line_number(), source_, lim_, &last_id_);
            return true;
        }
        return false;
    }

    /// Lines read so far (the line number of the last request returned, or of the bad line).
    std::size_t line_number() const noexcept { return lines_.line_number(); }
    /// The "id" of the line last read when it had a valid one, else null; after next() threw,
    /// the bad request's id (when the line parsed as a JSON object with a valid id), so an error
    /// record can name the request as well as source:line.
    const json& last_id() const noexcept { return last_id_; }
    const std::string& source() const noexcept { return source_; }

private:
    std::string source_;
    jsonl_limits lim_;
    detail::bounded_line_reader lines_;
    std::string line_;
    json last_id_;

    bool read_line() { return lines_.read(line_, source_, lim_.max_line_bytes, lim_.max_skip_bytes); }
};

/// All requests of a stream / string / file (for tests and small batches).
inline std::vector<jsonl_request> read_jsonl(std::istream& in, const std::string& source = "<jsonl>",
                                             const jsonl_limits& lim = {}) {
    jsonl_reader reader(in, source, lim);
    std::vector<jsonl_request> out;
    jsonl_request r;
    while (reader.next(r)) out.push_back(std::move(r));
    return out;
}
inline std::vector<jsonl_request> read_jsonl_string(const std::string& text, const jsonl_limits& lim = {}) {
    std::istringstream in(text);
    return read_jsonl(in, "<string>", lim);
}
inline std::vector<jsonl_request> read_jsonl_file(const std::string& path, const jsonl_limits& lim = {}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) ::dualrerank::detail::throw_format(path + ": cannot open");
    return read_jsonl(in, path, lim);
}

// ------------------------------------------------------------------ output

/// One output line: a slate (with optional scores) or an error for the request.
struct slate_record {
    json id;                     ///< echoed request id (see jsonl_request::output_id)
    slate items;                 ///< candidate indices, best slot first
    std::vector<double> scores;  ///< optional, one per slot (written when non-empty)
    bool has_score = false;      ///< write `score`
    double score = 0.0;
    std::string error;           ///< when non-empty the line is {"id":..,"error":..} instead
};

/// The record as one compact JSON line (with the trailing '\n'). Non-finite scores are written
/// as null (JSON has no NaN).
inline std::string format_slate_line(const slate_record& r) {
    json o = json::object();
    o["id"] = r.id;
    if (!r.error.empty()) {
        o["error"] = r.error;
    } else {
        json s = json::array();
        for (int v : r.items) s.push_back(v);
        o["slate"] = std::move(s);
        if (!r.scores.empty()) {
            json sc = json::array();
            for (double v : r.scores) sc.push_back(std::isfinite(v) ? json(v) : json());
            o["scores"] = std::move(sc);
        }
        if (r.has_score) o["score"] = std::isfinite(r.score) ? json(r.score) : json();
    }
    std::string out = o.dump();
    out.push_back('\n');
    return out;
}

/// Writes slate records as JSON lines to a stream.
class jsonl_writer {
public:
    explicit jsonl_writer(std::ostream& out) : out_(out) {}
    void write(const slate_record& r) {
        const std::string line = format_slate_line(r);
        out_.write(line.data(), static_cast<std::streamsize>(line.size()));
        if (!out_) ::dualrerank::detail::throw_format("jsonl_writer: write failed");
        ++written_;
    }
    std::size_t written() const noexcept { return written_; }

private:
    std::ostream& out_;
    std::size_t written_ = 0;
};

}  // namespace io
DUALRERANK_NAMESPACE_END
