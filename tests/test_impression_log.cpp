// Impression-log reader and writer (include/dualrerank/io/impression_log.hpp, docs/logs.md): the
// documented format, the round trip (writer -> reader gives the page back bit for bit), the world's
// logs through sim/log_export.hpp, and one test per docs/bad-input.md row IMP-xx: a format_error
// naming file:line:field, caps checked before allocation, long lines never buffered whole, stream
// errors, the writer's checks.
#include "catch.hpp"

#include <functional>
#include <sstream>
#include <streambuf>
#include <string>

#include "test_header.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_impression_log {

using namespace dualrerank;

namespace {

std::string format_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const format_error& e) {
        return e.what();
    }
    return "<no format_error>";
}
std::string input_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const input_error& e) {
        return e.what();
    }
    return "<no input_error>";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string error_of(const std::string& line, const io::impression_log_limits& lim = {}) {
    return format_error_of([&] { io::parse_impression_line(line, 7, "logs.jsonl", lim); });
}

// A valid line with one field replaced: key -> raw JSON value ("" drops the field).
std::string page_with(const std::string& key, const std::string& value) {
    const std::vector<std::pair<std::string, std::string>> base = {
        {"id", "\"p1\""},
        {"features", "[[0.5, 2], [1, -1], [0, 3]]"},
        {"context", "[1, 0]"},
        {"upstream_rank", "[2, 0, 1]"},
        {"shown", "[1, 2]"},
        {"log_propensity", "-0.5"},
        {"feedback", "{\"click\": [1, 0], \"long_view\": [1, 0]}"},
        {"timestamp", "1733400000"},
        {"policy_version", "\"v1\""}};
    std::string out = "{";
    bool first = true, found = false;
    for (const auto& kv : base) {
        std::string v = kv.second;
        if (kv.first == key) {
            found = true;
            v = value;
        }
        if (v.empty()) continue;
        out += (first ? "\"" : ", \"") + kv.first + "\": " + v;
        first = false;
    }
    if (!found) out += ", \"" + key + "\": " + value;
    return out + "}";
}

std::string valid_line() { return page_with("id", "\"p1\""); }

io::impression_page sample_page() {
    io::impression_page p;
    p.id = io::json(std::int64_t(42));
    p.candidates.n = 4;
    p.candidates.f = 3;
    p.candidates.features = {0.1f, -2.5f, 1e-7f, 3.4028235e38f, 0.0f, -0.0f, 1.0f / 3.0f, 7.0f, -1e-30f, 123456.79f, 2.0f, 0.3f};
    p.candidates.context = {0.25f, -1.0f / 7.0f};
    p.candidates.upstream_rank = {3, 0, 1, 1};
    p.shown = {2, 0, 3};
    p.has_propensity = true;
    p.log_propensity = -1.2345678901234567;
    p.objectives = {"click", "long_view", "dwell_seconds"};
    p.feedback = {1, 0, 1, 0, 0, 1, 12.5f, 0, 3};
    p.timestamp = io::json(1733400000.25);
    p.policy_version = io::json(std::string("pl-t0.4"));
    return p;
}

void require_equal(const io::impression_page& a, const io::impression_page& b) {
    CHECK(a.id == b.id);
    CHECK(a.candidates.n == b.candidates.n);
    CHECK(a.candidates.f == b.candidates.f);
    REQUIRE(a.candidates.features.size() == b.candidates.features.size());
    for (std::size_t i = 0; i < a.candidates.features.size(); ++i) {
        INFO("feature " << i);
        CHECK(std::memcmp(&a.candidates.features[i], &b.candidates.features[i], sizeof(float)) == 0);
    }
    CHECK(a.candidates.context == b.candidates.context);
    CHECK(a.candidates.upstream_rank == b.candidates.upstream_rank);
    CHECK(a.shown == b.shown);
    CHECK(a.has_propensity == b.has_propensity);
    CHECK(a.log_propensity == b.log_propensity);
    CHECK(a.slot_log_propensity == b.slot_log_propensity);
    CHECK(a.objectives == b.objectives);
    CHECK(a.feedback == b.feedback);
    CHECK(a.timestamp == b.timestamp);
    CHECK(a.policy_version == b.policy_version);
}

/// A stream buffer that fails (badbit) after `good` bytes.
class failing_buf : public std::streambuf {
public:
    failing_buf(std::string text, std::size_t good) : text_(std::move(text)), good_(good) {}

protected:
    int_type underflow() override {
        if (pos_ >= good_) throw std::ios_base::failure("disk on fire");
        if (pos_ >= text_.size()) return traits_type::eof();
        ch_ = text_[pos_];
        setg(&ch_, &ch_, &ch_ + 1);
        ++pos_;
        return traits_type::to_int_type(ch_);
    }

private:
    std::string text_;
    std::size_t good_, pos_ = 0;
    char ch_ = 0;
};

}  // namespace

TEST_CASE("impression log: a full line", "[impression_log]") {
    const io::impression_page p = io::parse_impression_line(page_with("id", "\"p1\""), 3, "a.jsonl");
    CHECK(p.line == 3);
    CHECK(p.id.as_string() == "p1");
    CHECK(p.candidates.n == 3);
    CHECK(p.candidates.f == 2);
    CHECK(p.candidates.features == std::vector<float>{0.5f, 2, 1, -1, 0, 3});
    CHECK(p.candidates.context == std::vector<float>{1, 0});
    CHECK(p.candidates.upstream_rank == std::vector<int>{2, 0, 1});
    CHECK(p.shown == slate{1, 2});
    CHECK(p.slots() == 2);
    CHECK(p.has_propensity);
    CHECK(p.log_propensity == -0.5);
    CHECK(p.slot_log_propensity.empty());
    CHECK(p.objectives == std::vector<std::string>{"click", "long_view"});
    CHECK(p.feedback == std::vector<float>{1, 0, 1, 0});
    REQUIRE(p.objective_feedback("long_view") != nullptr);
    CHECK(p.objective_feedback("long_view")[0] == 1.0f);
    CHECK(p.objective_feedback("dwell") == nullptr);
    CHECK(p.timestamp.as_int() == 1733400000);
    CHECK(p.policy_version.as_string() == "v1");
}

TEST_CASE("impression log: optional fields and per-slot propensities", "[impression_log]") {
    const io::impression_page p = io::parse_impression_line(
        R"({"features": [[1], [2], [3]], "shown": [2, 0, 1], "log_propensity": [-0.25, -0.5, 0], "feedback": {"click": [0, 2, 0]}})");
    CHECK(p.id.is_null());
    CHECK(p.candidates.context.empty());
    CHECK(p.candidates.upstream_rank.empty());
    CHECK(p.log_propensity == -0.75);
    CHECK(p.slot_log_propensity == std::vector<double>{-0.25, -0.5, 0});
    CHECK(p.feedback == std::vector<float>{0, 2, 0});  // counts are allowed
    CHECK(p.timestamp.is_null());
    CHECK(p.policy_version.is_null());
    const io::impression_page q = io::parse_impression_line(R"({"features": [[1]], "shown": [0], "feedback": {"c": [1]}})");
    CHECK_FALSE(q.has_propensity);
}

TEST_CASE("impression log: writer -> reader round trip is exact", "[impression_log]") {
    io::impression_page a = sample_page();
    io::impression_page b = sample_page();
    b.id = io::json(std::string("q \"two\"\n"));
    b.slot_log_propensity = {-0.1, -0.2, -0.30000000000000004};
    b.log_propensity = -0.1 + -0.2 + -0.30000000000000004;
    b.timestamp = io::json(std::string("2026-12-06T03:00:00Z"));
    b.policy_version = io::json(std::int64_t(7));
    io::impression_page c = sample_page();
    c.id = io::json();
    c.has_propensity = false;
    c.log_propensity = 0.0;  // not written without has_propensity
    c.candidates.context.clear();
    c.candidates.upstream_rank.clear();
    c.timestamp = io::json();
    c.policy_version = io::json();

    std::ostringstream out;
    io::impression_log_writer w(out);
    w.write(a);
    w.write(b);
    w.write(c);
    CHECK(w.written() == 3);
    const std::string text = out.str();
    CHECK(std::count(text.begin(), text.end(), '\n') == 3);
    CHECK(has(text, "3.4028235e+38"));  // shortest round-trip floats, not 17 digits
    CHECK_FALSE(has(text, "0.10000000149"));

    const std::vector<io::impression_page> back = io::read_impression_log_string("\n" + text);
    REQUIRE(back.size() == 3);
    require_equal(back[0], a);
    require_equal(back[1], b);
    require_equal(back[2], c);
    CHECK(back[0].line == 2);  // the blank first line is counted
    CHECK(back[2].line == 4);
    // and the text is a fixed point
    std::ostringstream again;
    io::impression_log_writer w2(again);
    for (const auto& p : back) w2.write(p);
    CHECK(again.str() == text);
}

TEST_CASE("impression log: objectives in another order are reordered to the first page's", "[impression_log]") {
    const std::string text =
        R"({"features": [[1], [2]], "shown": [1, 0], "feedback": {"click": [1, 0], "long_view": [1, 0]}})"
        "\n"
        R"({"features": [[1], [2]], "shown": [0, 1], "feedback": {"long_view": [0, 0], "click": [0, 1]}})"
        "\n";
    std::istringstream in(text);
    io::impression_log_reader r(in, "o.jsonl");
    io::impression_page p;
    REQUIRE(r.next(p));
    REQUIRE(r.next(p));
    CHECK(r.objectives() == std::vector<std::string>{"click", "long_view"});
    CHECK(p.objectives == r.objectives());
    CHECK(p.feedback == std::vector<float>{0, 1, 0, 0});
    CHECK_FALSE(r.next(p));
}

TEST_CASE("impression log: the world's logs through sim/log_export.hpp", "[impression_log][simulator]") {
    const world w(world_config::small(), 5);
    const auto logs = generate_logs(w, 100, 40, behaviour_policy{}, 9);
    std::ostringstream out;
    const std::size_t wrote = write_world_logs(w, 100, 40, behaviour_policy{}, 9, out);
    CHECK(wrote == 40);
    const auto pages = io::read_impression_log_string(out.str());
    REQUIRE(pages.size() == 40);
    sim_request sr;
    for (std::size_t i = 0; i < pages.size(); ++i) {
        const io::impression_page& p = pages[i];
        w.make_request(logs[i].request_index, sr);
        CHECK(p.id.as_int() == std::int64_t(logs[i].request_index));
        CHECK(p.candidates.features == sr.observed.features);
        CHECK(p.candidates.context == sr.observed.context);
        CHECK(p.candidates.upstream_rank == sr.observed.upstream_rank);
        CHECK(p.shown == logs[i].shown);
        CHECK(p.has_propensity);
        CHECK(p.log_propensity == logs[i].log_propensity);
        CHECK(p.objectives == std::vector<std::string>{"click", "long_view"});
        CHECK(std::equal(logs[i].feedback.clicks.begin(), logs[i].feedback.clicks.end(), p.objective_feedback("click")));
        CHECK(std::equal(logs[i].feedback.long_views.begin(), logs[i].feedback.long_views.end(),
                         p.objective_feedback("long_view")));
    }
    // one page converted on its own equals the streamed one
    sim_request scratch;
    const io::impression_page one = to_impression_page(w, logs[3], scratch, behaviour_policy_version(behaviour_policy{}), 3);
    CHECK(to_impression_page(w, logs[3]).timestamp.is_null());
    CHECK(io::format_impression_line(one) == io::format_impression_line(pages[3]));
}

// ------------------------------------------------------------------ docs/bad-input.md rows IMP-xx

TEST_CASE("IMP-01 missing, unknown and mistyped top-level fields", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("features", "")), "logs.jsonl:7: missing field \"features\""));
    CHECK(has(error_of(page_with("shown", "")), "logs.jsonl:7: missing field \"shown\""));
    CHECK(has(error_of(page_with("feedback", "")), "logs.jsonl:7: missing field \"feedback\""));
    CHECK(has(error_of(page_with("clicks", "[1, 0]")), "unknown field \"clicks\" (expected id, features"));
    CHECK(has(error_of("[1, 2]"), "logs.jsonl:7: expected a JSON object, got an array"));
    CHECK(has(error_of("{\"features\": [[1]],"), "logs.jsonl:7: "));
    CHECK(has(error_of(page_with("shown", "\"1 2\"")), "\"shown\": expected an array, got a string"));
    CHECK(has(error_of(page_with("feedback", "[[1, 0]]")), "\"feedback\": expected an object"));
    CHECK(has(error_of(page_with("id", "1.5")), "\"id\": expected a string or an integer, got a floating"));
    CHECK(has(error_of(R"({"id": 1, "id": 2, "features": [[1]], "shown": [0], "feedback": {"c": [1]}})"), "duplicate"));
}

TEST_CASE("IMP-02 candidate features: the request reader's rules", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("features", "[]")), "\"features\": no candidates (N = 0)"));
    CHECK(has(error_of(page_with("features", "[[], [], []]")), "\"features\"[0]: a candidate has no features (F = 0)"));
    CHECK(has(error_of(page_with("features", "[[1, 2], [1], [0, 3]]")),
              "\"features\"[1]: row has 1 values, expected 2 (the width of row 0)"));
    CHECK(has(error_of(page_with("features", "[[1, 2], [1, \"x\"], [0, 3]]")), "\"features\"[1][1]: expected a number, got a string"));
    CHECK(has(error_of(page_with("features", "[[1, 2], [1, 1e39], [0, 3]]")), "\"features\"[1][1]: value does not fit in a float"));
    CHECK(has(error_of(page_with("features", "[[1, 2], [1, -3.4028236e38], [0, 3]]")), "\"features\"[1][1]: value does not fit in a float"));
    // FLT_MAX's shortest text is above FLT_MAX as a double but rounds to it: accepted
    CHECK(io::parse_impression_line(page_with("features", "[[1, 2], [1, -3.4028235e38], [0, 3]]")).candidates.features[3] ==
          -std::numeric_limits<float>::max());
    CHECK(has(error_of(page_with("features", "[[1, 2], 5, [0, 3]]")), "\"features\"[1]: expected an array, got an integer"));
    io::impression_log_limits lim;
    lim.max_candidates = 2;
    CHECK(has(error_of(valid_line(), lim), "\"features\": 3 candidates exceed the limit of 2"));
    lim = {};
    lim.max_features = 1;
    CHECK(has(error_of(valid_line(), lim), "\"features\"[0]: 2 features exceed the limit of 1"));
    lim = {};
    lim.max_values = 5;
    CHECK(has(error_of(valid_line(), lim), "\"features\": 3 x 2 values exceed the limit of 5"));
}

TEST_CASE("IMP-03 context and upstream ranks", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("context", "[1, null]")), "\"context\"[1]: expected a number, got null"));
    io::impression_log_limits lim;
    lim.max_context = 1;
    CHECK(has(error_of(valid_line(), lim), "\"context\": 2 values exceed the limit of 1"));
    CHECK(has(error_of(page_with("upstream_rank", "[0, 1]")), "\"upstream_rank\": 2 ranks for 3 candidates"));
    CHECK(has(error_of(page_with("upstream_rank", "[0, -1, 2]")), "\"upstream_rank\"[1]: rank -1 outside [0, "));
    CHECK(has(error_of(page_with("upstream_rank", "[0, 1.0, 2]")), "\"upstream_rank\"[1]: expected an integer"));
}

TEST_CASE("IMP-04 the shown slate", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("shown", "[]")), "\"shown\": no slots (L = 0)"));
    CHECK(has(error_of(page_with("shown", "[0, 1, 2, 0]")), "\"shown\": 4 slots for 3 candidates"));
    CHECK(has(error_of(page_with("shown", "[0, 3]")), "\"shown\"[1]: candidate 3 outside [0, 3)"));
    CHECK(has(error_of(page_with("shown", "[-1, 0]")), "\"shown\"[0]: candidate -1 outside [0, 3)"));
    CHECK(has(error_of(page_with("shown", "[0, 18446744073709551615]")), "\"shown\"[1]: candidate 18446744073709551615 outside"));
    CHECK(has(error_of(page_with("shown", "[0, 1.0]")), "\"shown\"[1]: expected an integer, got a floating"));
    CHECK(has(error_of(page_with("shown", "[2, 2]")), "\"shown\"[1]: candidate 2 is shown twice (slots 0 and 1)"));
    io::impression_log_limits lim;
    lim.max_slate = 1;
    CHECK(has(error_of(valid_line(), lim), "\"shown\": 2 slots exceed the limit of 1"));
}

TEST_CASE("IMP-05 log-propensities", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("log_propensity", "0.5")), "\"log_propensity\": a log-propensity must be in [-1e+06, 0], got 0.5"));
    // a probability written where its log belongs: the message gives the log
    CHECK(has(error_of(page_with("log_propensity", "0.5")), "(a probability? the field holds its log: -0.69314"));
    CHECK(has(error_of(page_with("log_propensity", "[-1, 0.25]")), "\"log_propensity\"[1]: a log-propensity must be in [-1e+06, 0], got 0.25 (a probability? the field holds its log: -1.386"));
    CHECK(!has(error_of(page_with("log_propensity", "3")), "a probability?"));  // above 1: no probability
    CHECK(has(error_of(page_with("log_propensity", "-1e7")), "\"log_propensity\": a log-propensity must be in"));
    CHECK(has(error_of(page_with("log_propensity", "\"-1\"")), "\"log_propensity\": expected a number, got a string"));
    CHECK(has(error_of(page_with("log_propensity", "[-1]")), "\"log_propensity\": 1 values for 2 shown slots"));
    CHECK(has(error_of(page_with("log_propensity", "[-1, 0.1]")), "\"log_propensity\"[1]: a log-propensity must be in"));
    CHECK(has(error_of(page_with("log_propensity", "-1e400")), "logs.jsonl:7: "));  // not a double: the JSON parser refuses it
}

TEST_CASE("IMP-06 feedback", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("feedback", "{}")), "\"feedback\": no objectives"));
    CHECK(has(error_of(page_with("feedback", "{\"\": [1, 0]}")), "\"feedback\": an objective with an empty name"));
    CHECK(has(error_of(page_with("feedback", "{\"click\": [1]}")), "\"feedback\".\"click\": 1 values for 2 shown slots"));
    CHECK(has(error_of(page_with("feedback", "{\"click\": [1, -1]}")), "\"feedback\".\"click\"[1]: feedback must be in [0, "));
    CHECK(has(error_of(page_with("feedback", "{\"click\": [1, 2e9]}")), "\"feedback\".\"click\"[1]: feedback must be in"));
    CHECK(has(error_of(page_with("feedback", "{\"click\": [1, true]}")), "\"feedback\".\"click\"[1]: expected a number, got a boolean"));
    CHECK(has(error_of(page_with("feedback", "{\"click\": 1}")), "\"feedback\".\"click\": expected an array"));
    io::impression_log_limits lim;
    lim.max_objectives = 1;
    CHECK(has(error_of(valid_line(), lim), "\"feedback\": 2 objectives exceed the limit of 1"));
    lim = {};
    lim.max_objective_bytes = 5;
    CHECK(has(error_of(valid_line(), lim), "\"feedback\".\"long_view\": objective name longer than 5 bytes"));
}

TEST_CASE("IMP-07 a page whose objectives differ from the first page's", "[impression_log][bad_input]") {
    const std::string first = R"({"features": [[1], [2]], "shown": [0], "feedback": {"click": [1], "long_view": [0]}})";
    auto second_error = [&](const std::string& second) {
        return format_error_of([&] {
            std::istringstream in(first + "\n" + second + "\n" + first + "\n");
            io::impression_log_reader r(in, "o.jsonl");
            io::impression_page p;
            r.next(p);
            try {
                r.next(p);
            } catch (const format_error&) {
                REQUIRE(r.next(p));  // the reader goes on at the next line
                CHECK(p.line == 3);
                throw;
            }
        });
    };
    CHECK(has(second_error(R"({"features": [[1]], "shown": [0], "feedback": {"click": [1]}})"),
              "o.jsonl:2: \"feedback\": objective \"long_view\" (given on line 1) is missing"));
    CHECK(has(second_error(R"({"features": [[1]], "shown": [0], "feedback": {"click": [1], "long_view": [0], "buy": [0]}})"),
              "o.jsonl:2: \"feedback\": objective \"buy\" is not among the objectives of line 1"));
}

TEST_CASE("IMP-08 id, timestamp and policy_version", "[impression_log][bad_input]") {
    CHECK(has(error_of(page_with("id", "[1]")), "\"id\": expected a string or an integer, got an array"));
    CHECK(has(error_of(page_with("timestamp", "true")), "\"timestamp\": expected a string or a number, got a boolean"));
    CHECK(has(error_of(page_with("policy_version", "2.5")), "\"policy_version\": expected a string or an integer"));
    io::impression_log_limits lim;
    lim.max_id_bytes = 3;
    CHECK(has(error_of(page_with("id", "\"abcd\""), lim), "\"id\": longer than 3 bytes"));
    lim.max_id_bytes = 1;
    CHECK(has(error_of(page_with("id", "1"), lim), "\"policy_version\": longer than 1 bytes"));
    // a floating timestamp is fine
    CHECK(io::parse_impression_line(page_with("timestamp", "1.5e9")).timestamp.as_double() == 1.5e9);
}

TEST_CASE("IMP-09 long lines, NUL bytes, blank lines and CRLF", "[impression_log][bad_input]") {
    io::impression_log_limits lim;
    lim.max_line_bytes = 300;
    const std::string good = page_with("id", "1");
    REQUIRE(good.size() < 300);
    const std::string longl = "{\"id\": \"" + std::string(100000, 'a') + "\"}";
    std::istringstream in(good + "\r\n" + longl + "\n  \t\n" + good + "\n" + std::string("{\"a\":\0}", 7) + "\n" + good);
    io::impression_log_reader r(in, "l.jsonl", lim);
    io::impression_page p;
    REQUIRE(r.next(p));
    CHECK(p.line == 1);
    CHECK(has(format_error_of([&] { r.next(p); }), "l.jsonl:2: line longer than the limit of 300 bytes"));
    REQUIRE(r.next(p));
    CHECK(p.line == 4);
    CHECK(has(format_error_of([&] { r.next(p); }), "l.jsonl:5: NUL byte in a text line"));
    REQUIRE(r.next(p));
    CHECK(p.line == 6);  // the last line has no '\n'
    CHECK_FALSE(r.next(p));
    CHECK(has(error_of(std::string(400, ' '), lim), "logs.jsonl:7: line of 400 bytes exceeds the limit of 300 bytes"));
}

TEST_CASE("IMP-10 a missing file and a stream read error", "[impression_log][bad_input]") {
    CHECK(has(format_error_of([] { io::read_impression_log_file("no/such/logs.jsonl"); }), "no/such/logs.jsonl: cannot open"));
    const std::string good = page_with("id", "1") + "\n";
    failing_buf buf(good + good + good, good.size() + 10);
    std::istream in(&buf);
    io::impression_log_reader r(in, "bad.jsonl");
    io::impression_page p;
    REQUIRE(r.next(p));
    CHECK(has(format_error_of([&] { r.next(p); }), "bad.jsonl:2: read error"));
}

TEST_CASE("IMP-11 the writer refuses a page the reader would refuse", "[impression_log][bad_input]") {
    auto write_error = [](const std::function<void(io::impression_page&)>& spoil) {
        io::impression_page p = sample_page();
        spoil(p);
        std::ostringstream out;
        io::impression_log_writer w(out);
        const std::string e = input_error_of([&] { w.write(p); });
        CHECK(out.str().empty());  // nothing written
        CHECK(w.written() == 0);
        return e;
    };
    CHECK(has(write_error([](auto& p) { p.shown = {0, 0}; p.feedback.resize(6); }), "shown repeats candidate 0"));
    CHECK(has(write_error([](auto& p) { p.shown = {0, 9, 1}; }), "shown[1] outside [0, N)"));
    CHECK(has(write_error([](auto& p) { p.candidates.features[2] = std::nanf(""); }), "a non-finite feature"));
    CHECK(has(write_error([](auto& p) { p.feedback.pop_back(); }), "feedback must hold K x L values"));
    CHECK(has(write_error([](auto& p) { p.feedback[0] = -1; }), "a feedback value outside [0, max_feedback]"));
    CHECK(has(write_error([](auto& p) { p.log_propensity = 0.1; }), "log_propensity outside"));
    CHECK(has(write_error([](auto& p) { p.objectives[1] = "click"; }), "objective \"click\" given twice"));
    CHECK(has(write_error([](auto& p) { p.candidates.upstream_rank.pop_back(); }), "upstream_rank must hold N ranks"));
    CHECK(has(write_error([](auto& p) { p.id = io::json(0.5); }), "id must be"));
    // objectives must stay the same from page to page
    std::ostringstream out;
    io::impression_log_writer w(out);
    io::impression_page p = sample_page();
    w.write(p);
    std::swap(p.objectives[0], p.objectives[1]);
    CHECK(has(input_error_of([&] { w.write(p); }), "page 2 names other objectives than the first page"));
    // a stream that cannot be written
    std::ostringstream dead;
    dead.setstate(std::ios::badbit);
    io::impression_log_writer wd(dead);
    CHECK(has(format_error_of([&] { wd.write(sample_page()); }), "impression_log_writer: write failed"));
}

}  // namespace dualrerank_test_impression_log
