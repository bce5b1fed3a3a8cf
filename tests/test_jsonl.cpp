// JSON-lines request reader and slate writer: the documented format, strict errors naming the
// line and the field, the caps, long lines read in pieces, and the output round trip.
#include "catch.hpp"

#include <functional>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "test_header.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_jsonl {

using namespace dualrerank;

namespace {

// The message of the format_error thrown by f ("" if none was thrown).
std::string jsonl_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const format_error& e) {
        return e.what();
    }
    return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string error_of(const std::string& line, const io::jsonl_limits& lim = {}) {
    return jsonl_error([&] { io::parse_jsonl_request(line, 7, "req.jsonl", lim); });
}

}  // namespace

TEST_CASE("jsonl: a full request line", "[jsonl]") {
    const io::jsonl_request r = io::parse_jsonl_request(
        R"({"id": "q1", "features": [[0.5, 2, -1], [0.25, 0.0, 4e2]], "context": [1, -0.5],)"
        R"( "upstream_rank": [1, 0], "relevance": [0, 3]})",
        3, "x.jsonl");
    CHECK(r.line == 3);
    REQUIRE(r.id.is_string());
    CHECK(r.id.as_string() == "q1");
    REQUIRE(r.candidates.n == 2);
    REQUIRE(r.candidates.f == 3);
    CHECK(r.candidates.features == std::vector<float>{0.5f, 2.0f, -1.0f, 0.25f, 0.0f, 400.0f});
    CHECK(r.candidates.context == std::vector<float>{1.0f, -0.5f});
    CHECK(r.candidates.upstream_rank == std::vector<int>{1, 0});
    CHECK(r.relevance == std::vector<float>{0.0f, 3.0f});
    CHECK(r.output_id() == io::json("q1"));
    const auto v = r.candidates.view();
    CHECK(v.n == 2);
    CHECK(v.fc == 2);
    CHECK(v.upstream_rank != nullptr);
}

TEST_CASE("jsonl: optional fields and ids", "[jsonl]") {
    const io::jsonl_request a = io::parse_jsonl_request(R"({"features": [[1]]})", 12);
    CHECK(a.id.is_null());
    CHECK(a.output_id() == io::json(12));
    CHECK(a.candidates.context.empty());
    CHECK(a.candidates.upstream_rank.empty());
    CHECK(a.relevance.empty());
    CHECK(a.candidates.view().context == nullptr);

    const io::jsonl_request b = io::parse_jsonl_request(R"({"features":[[1,2]],"id":42,"context":[]})");
    CHECK(b.output_id() == io::json(42));
    CHECK(b.candidates.context.empty());
}

TEST_CASE("jsonl: reader skips blank lines, keeps line numbers, accepts CRLF", "[jsonl]") {
    const std::string text = "{\"id\":\"a\",\"features\":[[1,2],[3,4]]}\r\n"
                             "\n"
                             "   \t\r\n"
                             "{\"id\":\"b\",\"features\":[[5,6]]}";  // no final newline
    const auto reqs = io::read_jsonl_string(text);
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].line == 1);
    CHECK(reqs[0].candidates.n == 2);
    CHECK(reqs[1].line == 4);
    CHECK(reqs[1].id.as_string() == "b");
    CHECK(reqs[1].candidates.features == std::vector<float>{5, 6});

    CHECK(io::read_jsonl_string("").empty());
    CHECK(io::read_jsonl_string("\n\n").empty());

    // an error on a later line names that line
    const std::string bad = "{\"features\":[[1]]}\n\n{\"features\":[[1],[2,3]]}\n";
    const std::string msg = jsonl_error([&] { io::read_jsonl_string(bad); });
    CHECK(has(msg, "<string>:3:"));
    CHECK(has(msg, "\"features\"[1]: row has 2 values, expected 1"));
}

TEST_CASE("jsonl: lines longer than the read chunk", "[jsonl]") {
    // 3000 candidates x 2 features: far longer than the reader's 4 KiB chunk
    std::string line = "{\"id\":\"long\",\"features\":[";
    for (int i = 0; i < 3000; ++i) {
        if (i) line += ",";
        line += "[" + std::to_string(i) + ",0.5]";
    }
    line += "]}";
    REQUIRE(line.size() > 3 * 4096);
    // also a line of exactly 4095 bytes before the newline (the chunk boundary)
    std::string pad = "{\"id\":\"";
    std::string tail = "\",\"features\":[[1]]}";
    pad += std::string(4095 - pad.size() - tail.size(), 'p') + tail;
    REQUIRE(pad.size() == 4095);
    io::jsonl_limits long_ids;
    long_ids.max_id_bytes = 8192;
    const auto reqs = io::read_jsonl_string(line + "\n" + pad + "\n" + line, long_ids);
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[0].candidates.n == 3000);
    CHECK(reqs[0].candidates.features[2 * 2999] == 2999.0f);
    CHECK(reqs[1].line == 2);
    CHECK(reqs[1].candidates.n == 1);
    CHECK(reqs[2].line == 3);
    CHECK(reqs[2].candidates.n == 3000);

    io::jsonl_limits lim = long_ids;
    lim.max_line_bytes = 5000;
    const std::string msg = jsonl_error([&] { io::read_jsonl_string(pad + "\n" + line + "\n", lim); });
    CHECK(has(msg, "<string>:2: line longer than the limit of 5000 bytes"));

    // after an error the reader goes on with the next line (the overlong one is skipped whole)
    std::istringstream in(pad + "\n" + line + "\n{\"features\":[[1],[2]],\"bad\":1}\n{\"id\":\"after\",\"features\":[[3]]}\n");
    io::jsonl_reader reader(in, "s", lim);
    io::jsonl_request r;
    REQUIRE(reader.next(r));
    CHECK(r.line == 1);
    CHECK(has(jsonl_error([&] { reader.next(r); }), "s:2: line longer"));
    CHECK(has(jsonl_error([&] { reader.next(r); }), "s:3: unknown field \"bad\""));
    REQUIRE(reader.next(r));
    CHECK(r.line == 4);
    CHECK(r.id.as_string() == "after");
    CHECK_FALSE(reader.next(r));
    // an overlong last line without a newline ends the stream
    std::istringstream tail_in(line);
    io::jsonl_reader tail_reader(tail_in, "t", lim);
    CHECK(has(jsonl_error([&] { tail_reader.next(r); }), "t:1: line longer"));
    CHECK_FALSE(tail_reader.next(r));
}

TEST_CASE("jsonl: malformed JSON names the line and the column", "[jsonl]") {
    CHECK(has(error_of("{\"features\": [[1, 2]]"), "req.jsonl:7: json: unexpected end of input"));
    CHECK(has(error_of("{\"features\": [[1, 2,]]}"), "req.jsonl:7: json:"));
    CHECK(has(error_of("{\"features\": [[1, 2,]]}"), "at column 21 (byte 20)"));
    CHECK(has(error_of("{\"features\": [[NaN]]}"), "req.jsonl:7:"));
    CHECK(has(error_of("{\"features\": [[1]], \"features\": [[2]]}"), "duplicate key"));
    CHECK(has(error_of("[[1, 2]]"), "req.jsonl:7: expected a JSON object, got an array"));
    CHECK(has(error_of("{\"features\": [[[1]]]}"), "nesting deeper than 3"));
    CHECK(has(jsonl_error([] { io::read_jsonl_string(std::string("{\"features\":[[1]]}\n{\"id\":\"a\0b\"}", 31)); }),
              "<string>:2: NUL byte"));
}

TEST_CASE("jsonl: field validation names the field", "[jsonl]") {
    CHECK(has(error_of(R"({"id": "q"})"), "req.jsonl:7: missing field \"features\""));
    CHECK(has(error_of(R"({"features": [[1]], "feature": 1})"), "unknown field \"feature\""));
    CHECK(has(error_of(R"({"features": {}})"), "\"features\": expected an array, got an object"));
    CHECK(has(error_of(R"({"features": []})"), "\"features\": no candidates (N = 0)"));
    CHECK(has(error_of(R"({"features": [1, 2]})"), "\"features\"[0]: expected an array, got an integer"));
    CHECK(has(error_of(R"({"features": [[]]})"), "\"features\"[0]: a candidate has no features (F = 0)"));
    CHECK(has(error_of(R"({"features": [[1, 2], [3]]})"), "\"features\"[1]: row has 1 values, expected 2"));
    CHECK(has(error_of(R"({"features": [[1, 2], [3, "x"]]})"), "\"features\"[1][1]: expected a number, got a string"));
    CHECK(has(error_of(R"({"features": [[1, 2], [3, null]]})"), "\"features\"[1][1]: expected a number, got null"));
    CHECK(has(error_of(R"({"features": [[1e39]]})"), "\"features\"[0][0]: value does not fit in a float"));
    CHECK(has(error_of(R"({"features": [[1e400]]})"), "req.jsonl:7:"));  // out of double range
    CHECK(has(error_of(R"({"features": [[1]], "id": 1.5})"), "\"id\": expected a string or an integer"));
    CHECK(has(error_of(R"({"features": [[1]], "id": ["a"]})"), "\"id\": expected a string or an integer, got an array"));
    CHECK(has(error_of(R"({"features": [[1]], "context": 3})"), "\"context\": expected an array"));
    CHECK(has(error_of(R"({"features": [[1]], "context": [1, true]})"), "\"context\"[1]: expected a number, got a boolean"));
    CHECK(has(error_of(R"({"features": [[1], [2]], "upstream_rank": [0]})"), "\"upstream_rank\": 1 ranks for 2 candidates"));
    CHECK(has(error_of(R"({"features": [[1], [2]], "upstream_rank": [0, -1]})"), "\"upstream_rank\"[1]: rank -1 outside"));
    CHECK(has(error_of(R"({"features": [[1], [2]], "upstream_rank": [0, 1.0]})"),
              "\"upstream_rank\"[1]: expected an integer, got a floating-point number"));
    CHECK(has(error_of(R"({"features": [[1], [2]], "upstream_rank": [0, 99999999999999999999]})"),
              "\"upstream_rank\"[1]: expected an integer"));
    CHECK(has(error_of(R"({"features": [[1], [2]], "relevance": [1, 2, 3]})"), "\"relevance\": 3 labels for 2 candidates"));
    CHECK(has(error_of(R"({"features": [[1], [2]], "relevance": [1, -2]})"), "\"relevance\"[1]: a relevance label must be >= 0"));
    // ties in upstream ranks are allowed
    CHECK_NOTHROW(io::parse_jsonl_request(R"({"features": [[1], [2]], "upstream_rank": [3, 3]})"));
}

TEST_CASE("jsonl: values that round to a finite float, FLT_MAX's shortest text included", "[jsonl]") {
    // a float writer emits FLT_MAX as 3.4028235e+38, which is above FLT_MAX as a double: it must read
    // back as FLT_MAX (it was "value does not fit in a float"), in features, context and relevance
    const float fmax = std::numeric_limits<float>::max();
    std::ostringstream written;
    written << std::setprecision(std::numeric_limits<float>::digits10 + 2) << fmax;  // 9 digits: 3.40282347e+38
    for (const std::string& text : {std::string("3.4028235e+38"), std::string("3.4028235e38"), written.str(),
                                   std::string("3.4028235677973362e38")}) {
        INFO(text);
        const io::jsonl_request r = io::parse_jsonl_request("{\"features\": [[" + text + ", -" + text + "]], \"context\": [" +
                                                            text + "], \"relevance\": [" + text + "]}");
        CHECK(r.candidates.features == std::vector<float>{fmax, -fmax});
        CHECK(r.candidates.context == std::vector<float>{fmax});
        CHECK(r.relevance == std::vector<float>{fmax});
    }
    // from FLT_MAX + half an ulp (2^103) on, the value rounds to infinity: still an error
    CHECK(has(error_of(R"({"features": [[3.4028235677973366e38]]})"), "\"features\"[0][0]: value does not fit in a float"));
    CHECK(has(error_of(R"({"features": [[1, -3.4028236e38]]})"), "\"features\"[0][1]: value does not fit in a float"));
    CHECK(has(error_of(R"({"features": [[1]], "context": [3.5e38]})"), "\"context\"[0]: value does not fit in a float"));
}

TEST_CASE("jsonl: a bad line's id is known to the reader (jsonl_reader::last_id)", "[jsonl]") {
    // an error record names the request by its id when the line has a valid one, wherever "id" stands
    // in the object; null when the line does not parse or its id is invalid (never the line number)
    std::istringstream in("{\"id\":\"a\",\"features\":[[1]]}\n"
                          "{\"colour\":1,\"id\":\"c7\",\"features\":[[1]]}\n"
                          "{\"features\":[[1]],\"colour\":1}\n"
                          "{\"id\":\"cut\",\"features\":[[1\n"
                          "{\"id\":1.5,\"features\":[[1]]}\n"
                          "\n"
                          "{\"id\":42,\"features\":[[1, \"x\"]]}\n"
                          "{\"features\":[[2]]}\n");
    io::jsonl_reader reader(in, "m.jsonl");
    io::jsonl_request r;
    std::vector<std::string> seen;  // per line: the id (dump) and whether it failed
    for (;;) {
        try {
            if (!reader.next(r)) break;
            seen.push_back("ok " + reader.last_id().dump() + " @" + std::to_string(reader.line_number()));
        } catch (const format_error& e) {
            seen.push_back("error " + reader.last_id().dump() + " @" + std::to_string(reader.line_number()));
            CHECK(has(e.what(), "m.jsonl:" + std::to_string(reader.line_number()) + ":"));
        }
    }
    CHECK(seen == std::vector<std::string>{"ok \"a\" @1", "error \"c7\" @2", "error null @3", "error null @4", "error null @5",
                                           "error 42 @7", "ok null @8"});
}

TEST_CASE("jsonl: both line readers give up on a stream without line ends (the shared bounded reader)", "[jsonl]") {
    // 10000 bytes without a line end, lines capped at 50 and the skip after an overlong line at 100:
    // the request reader and the impression-log reader share one bounded line reader, so both stop
    // with the same error (the impression reader used to skip without a bound)
    const std::string endless(10000, 'a');  // more than a read chunk (4 KiB) plus the skip
    {
        io::jsonl_limits lim;
        lim.max_line_bytes = 50;
        lim.max_skip_bytes = 100;
        std::istringstream in(endless);
        io::jsonl_reader reader(in, "r.jsonl", lim);
        io::jsonl_request r;
        CHECK(has(jsonl_error([&] { reader.next(r); }), "r.jsonl:1: no line end within max_skip_bytes = 100 bytes"));
        CHECK_FALSE(reader.next(r));
    }
    {
        io::impression_log_limits lim;
        lim.max_line_bytes = 50;
        lim.max_skip_bytes = 100;
        std::istringstream in(endless);
        io::impression_log_reader reader(in, "l.jsonl", lim);
        io::impression_page p;
        CHECK(has(jsonl_error([&] { reader.next(p); }), "l.jsonl:1: no line end within max_skip_bytes = 100 bytes"));
        CHECK_FALSE(reader.next(p));
    }
    // an overlong line that does end is skipped, and both go on at the next line
    std::istringstream in2(std::string(80, 'b') + "\n{\"features\":[[1]]}\n");
    io::jsonl_limits lim;
    lim.max_line_bytes = 50;
    io::jsonl_reader reader(in2, "r.jsonl", lim);
    io::jsonl_request r;
    CHECK(has(jsonl_error([&] { reader.next(r); }), "r.jsonl:1: line longer than the limit of 50 bytes"));
    REQUIRE(reader.next(r));
    CHECK(r.line == 2);
}

TEST_CASE("jsonl: caps", "[jsonl]") {
    io::jsonl_limits lim;
    lim.max_candidates = 2;
    lim.max_features = 3;
    lim.max_context = 1;
    lim.max_values = 5;
    lim.max_rank = 9;
    lim.max_id_bytes = 4;
    CHECK(error_of(R"({"features": [[1], [2]]})", lim).empty());
    CHECK(has(error_of(R"({"features": [[1], [2], [3]]})", lim), "3 candidates exceed the limit of 2"));
    CHECK(has(error_of(R"({"features": [[1, 2, 3, 4]]})", lim), "\"features\"[0]: 4 features exceed the limit of 3"));
    CHECK(has(error_of(R"({"features": [[1, 2, 3], [4, 5, 6]]})", lim), "2 x 3 values exceed the limit of 5"));
    CHECK(has(error_of(R"({"features": [[1]], "context": [1, 2]})", lim), "\"context\": 2 values exceed the limit of 1"));
    CHECK(has(error_of(R"({"features": [[1]], "upstream_rank": [10]})", lim), "rank 10 outside [0, 9]"));
    CHECK(has(error_of(R"({"features": [[1]], "id": "abcde"})", lim), "\"id\": longer than 4 bytes"));
    lim.max_line_bytes = 10;
    CHECK(has(error_of(R"({"features": [[1]]})", lim), "line of 19 bytes exceeds the limit of 10 bytes"));
}

TEST_CASE("jsonl: slate lines", "[jsonl]") {
    io::slate_record r;
    r.id = io::json("q1");
    r.items = {2, 0, 1};
    CHECK(io::format_slate_line(r) == "{\"id\":\"q1\",\"slate\":[2,0,1]}\n");
    r.scores = {-0.5, -1.25, std::nan("")};
    r.has_score = true;
    r.score = 0.75;
    CHECK(io::format_slate_line(r) == "{\"id\":\"q1\",\"slate\":[2,0,1],\"scores\":[-0.5,-1.25,null],\"score\":0.75}\n");
    io::slate_record e;
    e.id = io::json(7);
    e.error = "bad \"features\"";
    CHECK(io::format_slate_line(e) == "{\"id\":7,\"error\":\"bad \\\"features\\\"\"}\n");

    // writer output parses back line by line
    std::ostringstream out;
    io::jsonl_writer w(out);
    w.write(r);
    w.write(e);
    CHECK(w.written() == 2);
    std::istringstream in(out.str());
    std::string line;
    REQUIRE(std::getline(in, line));
    const io::json a = io::json::parse(line);
    CHECK(a.at("slate").at(0).as_int() == 2);
    CHECK(a.at("scores").at(1).as_double() == -1.25);
    REQUIRE(std::getline(in, line));
    CHECK(io::json::parse(line).at("error").as_string() == "bad \"features\"");
}

}  // namespace dualrerank_test_jsonl
