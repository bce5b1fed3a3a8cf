// Fuzz target body: the LETOR / svmlight reader on text (see fuzz_common.hpp for the contract).
//
// The input is the data text; if it holds a '|' the part after the first '|' is a group (query
// size) file and the data is read without qid:. The dataset is checked for consistency (CSR
// offsets, sorted indices, labels and values in range) and every query is made dense. The text is
// read three times: with the default caps, with tiny caps (short lines, few documents per query,
// low feature index) so the cap paths are reached, and with a fixed width.
//
// Two production caps are lowered: dense requests are made with a cap of 2^22 values (the default
// 2^28 floats, 1 GiB, is above the fuzzer's memory limit), and the line cap is 8 KiB instead of
// 1 MiB (the reader zero-fills a buffer of the cap per read, which under ASan costs more page
// faults than the whole parse; inputs are far shorter than either cap).
#pragma once

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_letor {

using namespace dualrerank;

inline void check_dataset(const letor_dataset& d, const letor_options& opt) {
    const std::size_t rows = d.num_rows();
    fuzz_check(d.query_offset.size() == d.num_queries() + 1, "letor: query_offset size");
    fuzz_check(d.row_offset.size() == rows + 1, "letor: row_offset size");
    fuzz_check(d.index.size() == d.value.size() && d.row_offset.back() == d.index.size(), "letor: CSR sizes");
    fuzz_check(d.query_offset.front() == 0 && d.query_offset.back() == rows, "letor: queries do not cover the rows");
    for (std::size_t q = 0; q < d.num_queries(); ++q) {
        fuzz_check(d.query_offset[q] < d.query_offset[q + 1], "letor: empty query");
        fuzz_check(d.query_size(q) <= opt.limits.max_docs_per_query, "letor: query above the cap");
    }
    for (std::size_t r = 0; r < rows; ++r) {
        fuzz_check(std::isfinite(d.labels[r]) && d.labels[r] >= 0 && d.labels[r] <= opt.limits.max_label,
                   "letor: label out of range");
        for (std::size_t z = d.row_offset[r]; z < d.row_offset[r + 1]; ++z) {
            fuzz_check(d.index[z] >= 0 && d.index[z] <= d.max_index, "letor: index out of range");
            fuzz_check(z == d.row_offset[r] || d.index[z] > d.index[z - 1], "letor: indices not increasing");
            fuzz_check(std::isfinite(d.value[z]), "letor: non-finite value");
        }
    }
    if (opt.feature_width > 0) fuzz_check(d.max_index < opt.feature_width, "letor: index beyond the fixed width");
    for (std::size_t q = 0; q < d.num_queries(); ++q) {
        try {
            const request<float> r = d.to_request(q, 0, std::size_t(1) << 22);
            fuzz_check(r.n == int(d.query_size(q)) && r.f == d.width(), "letor: request shape");
            fuzz_check(r.features.size() == std::size_t(r.n) * std::size_t(r.f), "letor: request size");
            const std::vector<float> rel = d.relevance(q);
            fuzz_check(rel.size() == std::size_t(r.n), "letor: relevance size");
        } catch (const dualrerank::error&) {
        }
    }
    bool threw = false;
    try {
        (void)d.relevance(d.num_queries());
    } catch (const input_error&) {
        threw = true;
    }
    fuzz_check(threw, "letor: an out-of-range query was accepted");
}

inline void read(const std::string& text, const std::string* groups, const letor_options& opt) {
    try {
        const letor_dataset d = groups ? read_letor_string(text, *groups, opt) : read_letor_string(text, opt);
        check_dataset(d, opt);
    } catch (const dualrerank::error&) {
    }
}

}  // namespace detail_letor

inline void letor_one(const std::uint8_t* data, std::size_t size) {
    using namespace dualrerank;
    const std::string all(reinterpret_cast<const char*>(data), size);
    const std::size_t bar = all.find('|');
    const std::string text = bar == std::string::npos ? all : all.substr(0, bar);
    const std::string groups = bar == std::string::npos ? std::string() : all.substr(bar + 1);
    const std::string* g = bar == std::string::npos ? nullptr : &groups;

    letor_options def;
    def.limits.max_line_length = 8192;
    detail_letor::read(text, g, def);

    letor_options tiny;
    tiny.limits.max_line_length = 64;
    tiny.limits.max_feature_index = 40;
    tiny.limits.max_docs_per_query = 5;
    tiny.limits.max_rows = 12;
    tiny.limits.max_label = 4;
    detail_letor::read(text, g, tiny);

    letor_options fixed;
    fixed.limits.max_line_length = 8192;
    fixed.feature_width = 8;
    detail_letor::read(text, g, fixed);

    // index base decided from the file, with a small width and total cap (the dense checks run
    // before any dense buffer), pinned and free
    letor_options based;
    based.limits.max_line_length = 8192;
    based.limits.max_width = 32;
    based.limits.max_total_dense_values = 256;
    based.index_base = -1;
    detail_letor::read(text, g, based);
    based.feature_width = 8;
    detail_letor::read(text, g, based);
    try {
        const letor_dataset d = read_letor_string(text, based);
        fuzz_check(d.index_base == 0 || d.index_base == 1, "letor: index_base not 0 or 1");
        const std::vector<letor_query> all_q = to_requests(d);
        std::size_t total = 0;
        for (const letor_query& q : all_q) total += q.candidates.features.size();
        fuzz_check(total <= based.limits.max_total_dense_values, "letor: to_requests beyond the total cap");
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
