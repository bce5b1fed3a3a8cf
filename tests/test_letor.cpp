// LETOR / svmlight reader: both query conventions, dense conversion, strict errors with file:line.
#include "catch.hpp"

#include <functional>
#include <limits>
#include <sstream>
#include <string>

#ifndef DUALRERANK_SOURCE_DIR
#define DUALRERANK_SOURCE_DIR "."
#endif

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_letor {

using namespace dualrerank;

namespace {

std::string data_path(const std::string& name) { return std::string(DUALRERANK_SOURCE_DIR) + "/tests/data/letor/" + name; }

// The message of the format_error thrown by f ("" if none was thrown).
std::string format_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const format_error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("letor: qid file with comments, blank lines and sparse indices", "[letor]") {
    const letor_dataset ds = read_letor_file(data_path("sample.txt"));
    REQUIRE(ds.num_queries() == 3);
    REQUIRE(ds.num_rows() == 6);
    CHECK(ds.qids == std::vector<std::uint64_t>{10, 7, 12});
    CHECK(ds.query_size(0) == 3);
    CHECK(ds.query_size(1) == 2);
    CHECK(ds.query_size(2) == 1);
    CHECK(ds.width() == 6);  // max index 5, kept literally (column 0 empty)
    CHECK(ds.relevance(0) == std::vector<float>{2, 0, 1});
    CHECK(ds.relevance(1) == std::vector<float>{4, 0});

    const request<float> q0 = ds.to_request(0);
    REQUIRE(q0.n == 3);
    REQUIRE(q0.f == 6);
    const std::vector<float> expect0{0, 0.5f, 0, 1.25f, 0, 0,  //
                                     0, 0, -1, 0.5f, 0, 0,     //
                                     0, 0, 0, 0, 0, 0};
    CHECK(q0.features == expect0);
    CHECK(q0.context.empty());
    CHECK(q0.upstream_rank.empty());
    const request<float> q1 = ds.to_request(1, 8);  // wider than the data: zero padded
    REQUIRE(q1.f == 8);
    CHECK(q1.features[1] == 0.01f);
    CHECK(q1.features[5] == 3.0f);
    CHECK(q1.features[8 + 4] == 2.5f);
    CHECK_THROWS_AS(ds.to_request(1, 4), input_error);  // narrower than the data
    CHECK_THROWS_AS(ds.to_request(3), input_error);

    const auto queries = to_requests(ds);
    REQUIRE(queries.size() == 3);
    CHECK(queries[2].qid == 12);
    CHECK(queries[2].relevance == std::vector<float>{3});
    CHECK(queries[2].candidates.features == std::vector<float>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("letor: group-file variant and CRLF line ends", "[letor]") {
    const letor_dataset ds = read_letor_file(data_path("sample_nogroup.txt"), data_path("sample_nogroup.txt.query"));
    REQUIRE(ds.num_queries() == 2);
    REQUIRE(ds.num_rows() == 5);
    CHECK(ds.qids == std::vector<std::uint64_t>{1, 2});  // numbered from 1, as line numbers
    CHECK(ds.relevance(0) == std::vector<float>{1, 0, 2});
    CHECK(ds.relevance(1) == std::vector<float>{0, 1});
    CHECK(ds.width() == 4);
    const request<float> q1 = ds.to_request(1);
    CHECK(q1.features == std::vector<float>{0, 0, 2, 3, 0, 0, 0, 0});

    const std::string msg = format_message(
        [] { read_letor_file(data_path("sample_nogroup.txt"), data_path("sample_nogroup_bad.query")); });
    CHECK(contains(msg, "sample_nogroup_bad.query:2"));
    CHECK(contains(msg, "sum to 6"));
    // sizes that fall short of the row count
    CHECK(contains(format_message([] { read_letor_string("1 1:1\n0 1:2\n1 1:3\n", "2\n"); }), "sum to 2"));
}

TEST_CASE("letor: malformed files name file and line", "[letor]") {
    struct bad {
        const char* file;
        const char* where;
        const char* what;
    };
    const bad cases[] = {
        {"bad_label.txt", "bad_label.txt:3", "bad label"},
        {"unsorted_index.txt", "unsorted_index.txt:2", "not increasing"},
        {"duplicate_index.txt", "duplicate_index.txt:1", "duplicate feature index"},
        {"negative_index.txt", "negative_index.txt:3", "negative feature index"},
        {"qid_back.txt", "qid_back.txt:4", "earlier query"},
    };
    for (const bad& b : cases) {
        const std::string msg = format_message([&] { read_letor_file(data_path(b.file)); });
        INFO(b.file << ": " << msg);
        CHECK(contains(msg, b.where));
        CHECK(contains(msg, b.what));
    }
    CHECK(contains(format_message([] { read_letor_file(data_path("no_such_file.txt")); }), "cannot open"));
}

TEST_CASE("letor: strict parsing of strings", "[letor]") {
    auto msg = [](const std::string& text) { return format_message([&] { read_letor_string(text); }); };
    CHECK(contains(msg("1 qid:1 1:nan\n"), "<string>:1: bad value"));
    CHECK(contains(msg("1 qid:1 1:1e999\n"), "bad value"));
    CHECK(contains(msg("1 qid:1 1:1e39\n"), "overflows float"));
    CHECK(contains(msg("1 qid:1 1:3.4028235677973366e38\n"), "overflows float"));  // FLT_MAX + half an ulp: rounds to inf
    // FLT_MAX as float writers print it (9 digits, or the shortest text) is above FLT_MAX as a
    // double but rounds to it: kept, as FLT_MAX (it was "overflows float")
    const letor_dataset big = read_letor_string("1 qid:1 1:3.40282347e+38 2:-3.4028235e38\n");
    CHECK(big.to_request(0).features == std::vector<float>{0, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()});
    CHECK(contains(msg("-1 qid:1 1:1\n"), "outside [0"));
    CHECK(contains(msg("40 qid:1 1:1\n"), "outside [0"));
    CHECK(contains(msg("inf qid:1 1:1\n"), "bad label"));
    CHECK(contains(msg("1 qid:x 1:1\n"), "bad qid"));
    CHECK(contains(msg("1 qid:1 1:1 qid:2\n"), "only once"));
    CHECK(contains(msg("1 qid:1 1\n"), "expected index:value"));
    CHECK(contains(msg("1 qid:1 a:1\n"), "bad feature index"));
    CHECK(contains(msg("1 qid:1 1.5:1\n"), "bad feature index"));
    CHECK(contains(msg("1 qid:1 1:1\n0 2:1\n"), "<string>:2: line without qid"));
    CHECK(contains(msg("1 1:1\n"), "no group"));
    CHECK(contains(msg("1 qid:1 99999999:1\n"), "exceeds the limit"));
    CHECK(contains(format_message([] { read_letor_string("1 qid:1 1:1\n", "1\n"); }), "use one or the other"));
    CHECK(contains(format_message([] { read_letor_string("1 1:1\n", "0\n"); }), "<groups>:1: query size must be positive"));
    CHECK(contains(format_message([] { read_letor_string("1 1:1\n", "1 2\n"); }), "one query size per line"));

    // '+' signs, exponents, tabs, trailing comments, file without final newline
    const letor_dataset ds = read_letor_string("+1\tqid:3\t0:+2.5e-1  7:-4 # tail\n0 qid:3");
    REQUIRE(ds.num_rows() == 2);
    CHECK(ds.width() == 8);
    CHECK(ds.to_request(0).features[0] == 0.25f);
    CHECK(ds.to_request(0).features[7] == -4.0f);
    CHECK(read_letor_string("").num_queries() == 0);
    CHECK(read_letor_string("# only a comment\n\n").num_rows() == 0);
}

TEST_CASE("letor: hard caps and pinned width", "[letor]") {
    letor_options opt;
    opt.limits.max_line_length = 16;
    CHECK(read_letor_string("1 qid:1 1:0.1234\n", opt).num_rows() == 1);  // exactly 16 bytes
    auto too_long = [&] { read_letor_string("1 qid:1 1:0.1234\n1 qid:1 1:0.12345\n", opt); };
    CHECK(contains(format_message(too_long), "<string>:2: line longer than the limit of 16"));

    opt = letor_options{};
    opt.limits.max_docs_per_query = 2;
    CHECK(contains(format_message([&] { read_letor_string("1 qid:1\n1 qid:1\n1 qid:1\n", opt); }),
                   "<string>:3: query 1 has more than 2 documents"));
    CHECK(contains(format_message([&] { read_letor_string("1\n1\n1\n", "3\n", opt); }), "exceeds the limit 2"));

    opt = letor_options{};
    opt.feature_width = 4;
    const letor_dataset ds = read_letor_string("1 qid:1 1:1\n", opt);
    CHECK(ds.width() == 4);
    CHECK(ds.to_request(0).f == 4);
    CHECK(contains(format_message([&] { read_letor_string("1 qid:1 4:1\n", opt); }), "does not fit the given width 4"));

    opt = letor_options{};
    opt.limits.max_rows = 2;
    CHECK(contains(format_message([&] { read_letor_string("1 qid:1\n1 qid:1\n1 qid:2\n", opt); }), "more than 2 rows"));

    const letor_dataset big = read_letor_string("1 qid:1 1000:1\n1 qid:1 1000:1\n");
    CHECK_THROWS_AS(big.to_request(0, 0, 1000), format_error);  // dense size cap
}

TEST_CASE("letor: random garbage never crashes, only throws format_error", "[letor]") {
    rng g(2024);
    const std::string alphabet = "0123456789 :.-+eq#id\t\nxn";
    for (int k = 0; k < 2000; ++k) {
        std::string text;
        const int len = static_cast<int>(g.below(60));
        for (int i = 0; i < len; ++i) text += alphabet[g.below(alphabet.size())];
        try {
            const letor_dataset ds = read_letor_string(text);
            REQUIRE(ds.query_offset.size() == ds.num_queries() + 1);
            REQUIRE(ds.query_offset.back() == ds.num_rows());
            for (std::size_t q = 0; q < ds.num_queries(); ++q) REQUIRE(ds.to_request(q).n >= 1);
        } catch (const format_error&) {
        }
    }
}

}  // namespace dualrerank_test_letor
