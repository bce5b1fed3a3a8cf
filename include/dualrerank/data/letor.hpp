// LETOR / svmlight ranking data, as LightGBM and XGBoost read it.
//
// Format, one document per line:
//
//     <label> [qid:<Q>] <index>:<value> <index>:<value> ... [# comment]
//
// * label: a finite number in [0, max_label] (relevance grade; LETOR uses 0..4).
// * qid: an unsigned integer; documents of one query are contiguous. Without `qid:` the queries come
//   from a separate group file (LightGBM `.query`, XGBoost `.group`): one query size per line, in
//   data order; such a file names no queries, so query k of it (1-based, like a line number) has
//   qid k, and a file whose qids are 1, 2, ... gives the same qids in either form. A file uses one
//   convention or the other, never both.
// * index:value pairs: sparse features, indices >= 0 and strictly increasing within a line
//   (indices are kept literally, as LightGBM and XGBoost do: a 1-based file leaves column 0 empty),
//   values finite and representable as float. Missing indices are 0.
// * Index base (letor_options::index_base): 0 keeps indices literally (the default, LightGBM's rule);
//   1 subtracts one from every index (a 1-based file, index 0 is then an error); -1 decides from
//   the file: 1-based when no index 0 appears (XGBoost's heuristic), so a 1-based file gives the
//   model no empty column 0. letor_dataset::index_base records the base used.
// * '#' starts a comment (whole-line or trailing); blank lines are skipped; CRLF is accepted.
//
// Errors are strict and name "source:line" (format_error): bad label, bad or negative index,
// unsorted or duplicate index, bad value, a qid going back to an earlier query, a missing or
// duplicated qid, group sizes that are not positive integers or do not sum to the row count.
//
// Hard caps (letor_limits), each rejected with format_error:
//   max_line_length      1 MiB per line (longer lines are never buffered whole)
//   max_feature_index    1,048,575 (so a dense row has at most 2^20 columns)
//   max_docs_per_query   65,536 documents in one query
//   max_rows             100,000,000 documents in one file
//   max_label            31 (LightGBM's default label_gain table has 31 entries)
//   max_dense_values     2^28 floats (1 GiB) for one query's dense feature matrix (to_request)
//   max_width            65,536 dense columns (limits::max_features, the widest model input)
//   max_total_dense_values 2^29 floats (2 GiB) for all queries made dense at once (to_requests)
//
// The parsed dataset is sparse (CSR): memory is O(nonzeros), whatever the indices. `to_request(q)`
// makes a dense request<float> [n x width] of query q (candidates = the query's documents, in file
// order), and `relevance(q)` its labels. The width and size caps are checked before any dense
// buffer exists (`check_dense`), so a 20 KB file of far-out indices is refused in microseconds
// instead of asking for gigabytes.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Hard caps of the LETOR reader (see the header comment).
struct letor_limits {
    std::size_t max_line_length = std::size_t(1) << 20;
    std::int64_t max_feature_index = (std::int64_t(1) << 20) - 1;
    std::size_t max_docs_per_query = std::size_t(1) << 16;
    std::size_t max_rows = 100'000'000;
    double max_label = 31.0;
    std::size_t max_dense_values = std::size_t(1) << 28;
    int max_width = 65536;  ///< = limits::max_features (model/config.hpp): no model takes more
    std::size_t max_total_dense_values = std::size_t(1) << 29;
};

struct letor_options {
    letor_limits limits{};
    /// Dense width of the requests. 0: max index + 1 over the file. Otherwise an index >= width is
    /// a format error (so the width of a test file can be pinned to the training file's).
    int feature_width = 0;
    /// 0: indices literal; 1: the file is 1-based (index i is column i - 1); -1: 1 when the file
    /// holds no index 0, else 0. A pinned feature_width counts columns after the shift.
    int index_base = 0;
};

/// A parsed LETOR file: queries of documents with sparse features (CSR) and relevance labels.
struct letor_dataset {
    std::vector<std::uint64_t> qids;           ///< [Q] qid from the file, or with a group file 1, 2, ..., Q
    std::vector<std::size_t> query_offset{0};  ///< [Q + 1] first row of each query
    std::vector<float> labels;                 ///< [rows]
    std::vector<std::size_t> row_offset{0};    ///< [rows + 1] first nonzero of each row
    std::vector<int> index;                    ///< [nnz] feature index
    std::vector<float> value;                  ///< [nnz] feature value
    int max_index = -1;                        ///< largest feature index seen (-1: none)
    int fixed_width = 0;                       ///< letor_options::feature_width (0 = not fixed)
    int index_base = 0;                        ///< 0 or 1: subtracted from the file's indices
    letor_limits limits{};                     ///< the caps it was read with (dense checks use them)

    std::size_t num_queries() const noexcept { return qids.size(); }
    std::size_t num_rows() const noexcept { return labels.size(); }
    /// Dense width: the fixed width if given, else max index + 1.
    int width() const noexcept { return fixed_width > 0 ? fixed_width : max_index + 1; }
    std::size_t query_size(std::size_t q) const { return query_offset.at(q + 1) - query_offset.at(q); }

    /// Relevance labels of query q, in document (= candidate) order.
    std::vector<float> relevance(std::size_t q) const {
        check_query(q);
        return std::vector<float>(labels.begin() + static_cast<std::ptrdiff_t>(query_offset[q]),
                                  labels.begin() + static_cast<std::ptrdiff_t>(query_offset[q + 1]));
    }

    /// The dense width for a requested width (0: width()), checked against the data's width and
    /// limits.max_width (format_error naming the cap: the file's indices decide the width).
    int dense_width(int width_override = 0) const {
        const int w = width_override > 0 ? width_override : width();
        if (w < width())
            detail::throw_input("letor_dataset: width " + std::to_string(w) + " is smaller than the data's width " +
                                std::to_string(width()));
        if (w > limits.max_width)
            detail::throw_format("letor data: feature index " + std::to_string(w - 1 + index_base) + " needs " +
                                 std::to_string(w) + " dense columns, more than letor_limits::max_width = " +
                                 std::to_string(limits.max_width) + " (no model takes more features)");
        return w;
    }

    /// Values of all queries made dense at width w (rows x w), checked against
    /// limits.max_total_dense_values before anything is allocated.
    std::size_t check_dense(int width_override = 0) const {
        const int w = dense_width(width_override);
        if (num_rows() != 0 && static_cast<std::size_t>(w) > limits.max_total_dense_values / num_rows())
            detail::throw_format("letor data: " + std::to_string(num_rows()) + " rows x " + std::to_string(w) +
                                 " columns exceed letor_limits::max_total_dense_values = " +
                                 std::to_string(limits.max_total_dense_values) + " dense values");
        return num_rows() * static_cast<std::size_t>(w);
    }

    /// Dense request of query q: features [n x w] (w = `width` if > 0, else width()), no context,
    /// no upstream rank (a LETOR file has no upstream ranker).
    request<float> to_request(std::size_t q, int width_override = 0, std::size_t max_dense_values = 0) const {
        check_query(q);
        const int w = dense_width(width_override);
        if (max_dense_values == 0) max_dense_values = limits.max_dense_values;
        const std::size_t n = query_size(q);
        const std::size_t total = detail::checked_mul(n, static_cast<std::size_t>(std::max(w, 0)), max_dense_values,
                                                      "letor query " + std::to_string(qids[q]) + " dense features");
        request<float> r;
        r.n = static_cast<int>(n);
        r.f = w;
        r.features.assign(total, 0.0f);
        for (std::size_t d = 0; d < n; ++d) {
            const std::size_t row = query_offset[q] + d;
            float* dst = r.features.data() + d * static_cast<std::size_t>(w);
            for (std::size_t z = row_offset[row]; z < row_offset[row + 1]; ++z) dst[index[z]] = value[z];
        }
        return r;
    }

private:
    void check_query(std::size_t q) const {
        if (q >= num_queries())
            detail::throw_input("letor_dataset: query " + std::to_string(q) + " out of range (" +
                                std::to_string(num_queries()) + " queries)");
    }
};

/// One LETOR query as a request plus its relevance labels.
struct letor_query {
    std::uint64_t qid = 0;
    request<float> candidates;
    std::vector<float> relevance;
};

/// All queries of a dataset as dense requests of one common width (0 = dataset width); the width
/// and total size caps are checked first (letor_dataset::check_dense).
inline std::vector<letor_query> to_requests(const letor_dataset& data, int width = 0) {
    data.check_dense(width);
    std::vector<letor_query> out(data.num_queries());
    for (std::size_t q = 0; q < data.num_queries(); ++q) {
        out[q].qid = data.qids[q];
        out[q].candidates = data.to_request(q, width);
        out[q].relevance = data.relevance(q);
    }
    return out;
}

namespace detail {

/// Reads lines with a hard cap on the length (never buffers more than the cap).
class capped_line_reader {
public:
    capped_line_reader(std::istream& in, std::string name, std::size_t cap)
        : in_(in), name_(std::move(name)), cap_(cap), buf_(cap + 1, '\0') {}

    /// Next line (without '\n' and a trailing '\r'); false at the end of the stream.
    bool next(std::string_view& line) {
        if (done_) return false;
        in_.getline(&buf_[0], static_cast<std::streamsize>(buf_.size()));
        const std::streamsize got = in_.gcount();
        if (in_.bad()) throw_format(name_ + ":" + std::to_string(line_no_ + 1) + ": read error");
        if (in_.fail()) {
            if (in_.eof() && got == 0) {
                done_ = true;
                return false;
            }
            throw_format(name_ + ":" + std::to_string(line_no_ + 1) + ": line longer than the limit of " +
                         std::to_string(cap_) + " bytes");
        }
        ++line_no_;
        std::size_t len = static_cast<std::size_t>(got);
        if (!in_.eof() && len > 0) --len;  // the '\n' was extracted and counted
        if (in_.eof()) done_ = true;
        if (len > 0 && buf_[len - 1] == '\r') --len;
        if (std::memchr(buf_.data(), '\0', len) != nullptr) fail("NUL byte in a text line");
        line = std::string_view(buf_.data(), len);
        return true;
    }

    std::size_t line_number() const noexcept { return line_no_; }
    [[noreturn]] void fail(const std::string& what) const {
        throw_format(name_ + ":" + std::to_string(line_no_) + ": " + what);
    }

private:
    std::istream& in_;
    std::string name_;
    std::size_t cap_;
    std::string buf_;
    std::size_t line_no_ = 0;
    bool done_ = false;
};

/// Splits `line` (comment already removed) at spaces and tabs.
inline void split_tokens(std::string_view line, std::vector<std::string_view>& tokens) {
    tokens.clear();
    std::size_t p = 0;
    while (p < line.size()) {
        while (p < line.size() && (line[p] == ' ' || line[p] == '\t' || line[p] == '\r')) ++p;
        const std::size_t start = p;
        while (p < line.size() && line[p] != ' ' && line[p] != '\t' && line[p] != '\r') ++p;
        if (p > start) tokens.push_back(line.substr(start, p - start));
    }
}

inline std::string_view strip_comment(std::string_view line) {
    const std::size_t h = line.find('#');
    return h == std::string_view::npos ? line : line.substr(0, h);
}

/// Whole token as a finite double (an optional single leading '+' is accepted).
inline bool parse_double(std::string_view s, double& out) {
    if (s.size() > 1 && s[0] == '+' && s[1] != '+' && s[1] != '-') s.remove_prefix(1);
    if (s.empty()) return false;
    const char* end = s.data() + s.size();
    auto res = std::from_chars(s.data(), end, out, std::chars_format::general);
    return res.ec == std::errc() && res.ptr == end && std::isfinite(out);
}

template <class I>
inline bool parse_int(std::string_view s, I& out) {
    if (s.size() > 1 && s[0] == '+' && s[1] != '+' && s[1] != '-') s.remove_prefix(1);
    if (s.empty()) return false;
    const char* end = s.data() + s.size();
    auto res = std::from_chars(s.data(), end, out);
    return res.ec == std::errc() && res.ptr == end;
}

inline std::string quoted(std::string_view s) {
    std::string q = "'";
    q.append(s.substr(0, 64));
    if (s.size() > 64) q += "...";
    return q + "'";
}

inline letor_dataset parse_letor(std::istream& in, std::istream* groups, const std::string& name,
                                 const std::string& group_name, const letor_options& opt) {
    const letor_limits& lim = opt.limits;
    if (opt.feature_width < 0) throw_input("letor_options::feature_width must be >= 0");
    if (opt.feature_width > lim.max_feature_index + 1)
        throw_input("letor_options::feature_width exceeds max_feature_index + 1");
    if (opt.index_base < -1 || opt.index_base > 1) throw_input("letor_options::index_base must be -1, 0 or 1");
    if (lim.max_width < 1) throw_input("letor_limits::max_width must be >= 1");

    letor_dataset ds;
    ds.fixed_width = opt.feature_width;
    ds.limits = lim;
    // With index_base -1 the base is known only at the end: an index equal to the pinned width is
    // fine if the file turns out 1-based; remember where the first one was.
    std::size_t line_at_width = 0;
    std::size_t line_first_zero = 0;
    capped_line_reader reader(in, name, lim.max_line_length);
    std::vector<std::string_view> tok;
    std::string_view line;
    int mode = 0;  // 0 unknown, 1 qid in the data, 2 group file
    const bool have_groups = groups != nullptr;
    std::unordered_set<std::uint64_t> seen_qids;
    std::uint64_t current_qid = 0;
    std::size_t current_size = 0;

    while (reader.next(line)) {
        split_tokens(strip_comment(line), tok);
        if (tok.empty()) continue;
        if (ds.num_rows() >= lim.max_rows) reader.fail("more than " + std::to_string(lim.max_rows) + " rows");

        double label = 0.0;
        if (!parse_double(tok[0], label)) reader.fail("bad label " + quoted(tok[0]) + " (expected a finite number)");
        if (label < 0.0 || label > lim.max_label)
            reader.fail("label " + quoted(tok[0]) + " outside [0, " + std::to_string(lim.max_label) + "]");

        std::size_t first_feature = 1;
        const bool has_qid = tok.size() > 1 && tok[1].substr(0, 4) == "qid:";
        if (has_qid) {
            first_feature = 2;
            if (have_groups) reader.fail("qid: in the data and a group file given: use one or the other");
            if (mode == 2) reader.fail("qid: appears after lines without it");
            mode = 1;
            std::uint64_t qid = 0;
            if (!parse_int(tok[1].substr(4), qid)) reader.fail("bad qid " + quoted(tok[1]));
            if (ds.num_rows() == 0 || qid != current_qid) {
                if (seen_qids.count(qid))
                    reader.fail("qid " + std::to_string(qid) + " goes back to an earlier query (after qid " +
                                std::to_string(current_qid) + "); a query's documents must be contiguous");
                if (ds.num_rows() > 0) ds.query_offset.push_back(ds.num_rows());
                seen_qids.insert(qid);
                ds.qids.push_back(qid);
                current_qid = qid;
                current_size = 0;
            }
            if (++current_size > lim.max_docs_per_query)
                reader.fail("query " + std::to_string(qid) + " has more than " +
                            std::to_string(lim.max_docs_per_query) + " documents");
        } else {
            if (mode == 1) reader.fail("line without qid: in a file that uses qid:");
            if (!have_groups) reader.fail("no qid: on the line and no group (query) file given");
            mode = 2;
        }

        std::int64_t prev = -1;
        for (std::size_t k = first_feature; k < tok.size(); ++k) {
            const std::string_view t = tok[k];
            const std::size_t colon = t.find(':');
            if (colon == std::string_view::npos) reader.fail("expected index:value, got " + quoted(t));
            const std::string_view is = t.substr(0, colon), vs = t.substr(colon + 1);
            if (is == "qid") reader.fail("qid: must come right after the label, and only once");
            std::int64_t idx = 0;
            if (!parse_int(is, idx)) reader.fail("bad feature index " + quoted(is));
            if (idx < 0) reader.fail("negative feature index " + std::to_string(idx));
            if (idx > lim.max_feature_index)
                reader.fail("feature index " + std::to_string(idx) + " exceeds the limit " +
                            std::to_string(lim.max_feature_index));
            if (opt.index_base == 1 && idx == 0) reader.fail("feature index 0 in a file read as 1-based");
            if (idx == 0 && line_first_zero == 0) line_first_zero = reader.line_number();
            const std::int64_t col_limit = opt.feature_width + (opt.index_base != 0 ? 1 : 0);
            if (opt.index_base == -1 && opt.feature_width > 0 && idx == opt.feature_width && line_at_width == 0)
                line_at_width = reader.line_number();
            if (opt.feature_width > 0 && idx >= col_limit)
                reader.fail("feature index " + std::to_string(idx) + " does not fit the given width " +
                            std::to_string(opt.feature_width));
            if (idx == prev) reader.fail("duplicate feature index " + std::to_string(idx));
            if (idx < prev)
                reader.fail("feature indices not increasing: " + std::to_string(idx) + " after " + std::to_string(prev));
            double v = 0.0;
            if (!parse_double(vs, v)) reader.fail("bad value " + quoted(vs) + " for feature " + std::to_string(idx));
            // values that round to a finite float are kept (%.9g writes FLT_MAX as 3.40282347e+38, above
            // it as a double): below FLT_MAX + half an ulp (2^103), clamped to FLT_MAX
            constexpr double round_limit = 3.4028235677973366e38;
            if (!(std::fabs(v) < round_limit))
                reader.fail("value " + quoted(vs) + " of feature " + std::to_string(idx) + " overflows float");
            v = std::max(-static_cast<double>(std::numeric_limits<float>::max()),
                         std::min(v, static_cast<double>(std::numeric_limits<float>::max())));
            prev = idx;
            ds.index.push_back(static_cast<int>(idx));
            ds.value.push_back(static_cast<float>(v));
            if (idx > ds.max_index) ds.max_index = static_cast<int>(idx);
        }
        ds.labels.push_back(static_cast<float>(label));
        ds.row_offset.push_back(ds.index.size());
    }
    if (mode == 1 && ds.num_rows() > 0) ds.query_offset.push_back(ds.num_rows());
    ds.index_base = opt.index_base == -1 ? (line_first_zero == 0 && !ds.index.empty() ? 1 : 0) : opt.index_base;
    if (ds.index_base == 1) {
        for (int& i : ds.index) --i;
        if (ds.max_index >= 0) --ds.max_index;
    } else if (line_at_width != 0) {
        throw_format(name + ":" + std::to_string(line_at_width) + ": feature index " + std::to_string(opt.feature_width) +
                     " does not fit the given width " + std::to_string(opt.feature_width) +
                     " (the file holds index 0, so it is read as 0-based)");
    }

    if (have_groups) {
        capped_line_reader greader(*groups, group_name, lim.max_line_length);
        std::size_t sum = 0;
        while (greader.next(line)) {
            split_tokens(strip_comment(line), tok);
            if (tok.empty()) continue;
            if (tok.size() != 1) greader.fail("expected one query size per line");
            std::int64_t size = 0;
            if (!parse_int(tok[0], size)) greader.fail("bad query size " + quoted(tok[0]));
            if (size <= 0) greader.fail("query size must be positive, got " + std::to_string(size));
            if (static_cast<std::uint64_t>(size) > lim.max_docs_per_query)
                greader.fail("query size " + std::to_string(size) + " exceeds the limit " +
                             std::to_string(lim.max_docs_per_query));
            sum += static_cast<std::size_t>(size);
            if (sum > ds.num_rows())
                greader.fail("query sizes so far sum to " + std::to_string(sum) + ", more than the " +
                             std::to_string(ds.num_rows()) + " rows of " + name);
            ds.qids.push_back(ds.qids.size() + 1);  // the query's number in the group file, from 1
            ds.query_offset.push_back(sum);
        }
        if (sum != ds.num_rows())
            throw_format(group_name + ": query sizes sum to " + std::to_string(sum) + " but " + name + " has " +
                         std::to_string(ds.num_rows()) + " rows");
    }
    return ds;
}

}  // namespace detail

/// Parse LETOR data with qid: from a stream (`source` names it in error messages).
inline letor_dataset read_letor(std::istream& data, const std::string& source = "<stream>",
                                const letor_options& opt = {}) {
    return detail::parse_letor(data, nullptr, source, "", opt);
}

/// Parse LETOR data without qid: plus a group (query size) stream.
inline letor_dataset read_letor(std::istream& data, std::istream& groups, const std::string& source = "<stream>",
                                const std::string& group_source = "<groups>", const letor_options& opt = {}) {
    return detail::parse_letor(data, &groups, source, group_source, opt);
}

/// Parse LETOR text held in memory (tests, fuzzing).
inline letor_dataset read_letor_string(const std::string& text, const letor_options& opt = {}) {
    std::istringstream in(text);
    return read_letor(in, "<string>", opt);
}
inline letor_dataset read_letor_string(const std::string& text, const std::string& groups,
                                       const letor_options& opt = {}) {
    std::istringstream in(text), g(groups);
    return read_letor(in, g, "<string>", "<groups>", opt);
}

/// Parse a LETOR file with qid:.
inline letor_dataset read_letor_file(const std::string& path, const letor_options& opt = {}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::throw_format(path + ": cannot open");
    return read_letor(in, path, opt);
}
/// Parse a LETOR file without qid: and its group file (LightGBM `.query`, XGBoost `.group`).
inline letor_dataset read_letor_file(const std::string& path, const std::string& group_path,
                                     const letor_options& opt = {}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::throw_format(path + ": cannot open");
    std::ifstream g(group_path, std::ios::binary);
    if (!g) detail::throw_format(group_path + ": cannot open");
    return read_letor(in, g, path, group_path, opt);
}

DUALRERANK_NAMESPACE_END
