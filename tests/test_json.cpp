// io/json.hpp: the strict JSON value type used for safetensors headers and model configs.
#include "catch.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_json {

using dualrerank::format_error;
using dualrerank::input_error;
using dualrerank::io::json;
using dualrerank::io::json_parse_options;
using dualrerank::io::json_type;

namespace {

std::string error_of(const std::string& text, const json_parse_options& opt = {}) {
    try {
        json::parse(text, opt);
    } catch (const format_error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("json parses scalars with exact integer types", "[json]") {
    CHECK(json::parse("null").is_null());
    CHECK(json::parse("true").as_bool());
    CHECK_FALSE(json::parse(" false ").as_bool());
    CHECK(json::parse("0").type() == json_type::integer);
    CHECK(json::parse("-0").as_int() == 0);
    CHECK(json::parse("42").as_int() == 42);
    CHECK(json::parse("-17").as_int() == -17);
    CHECK(json::parse("9223372036854775807").as_int() == std::numeric_limits<std::int64_t>::max());
    CHECK(json::parse("-9223372036854775808").as_int() == std::numeric_limits<std::int64_t>::min());

    json u = json::parse("9223372036854775808");
    CHECK(u.type() == json_type::unsigned_integer);
    CHECK(u.as_uint() == 9223372036854775808ull);
    CHECK_THROWS_AS(u.as_int(), format_error);
    CHECK(json::parse("18446744073709551615").as_uint() == std::numeric_limits<std::uint64_t>::max());

    // beyond uint64 / below int64: double
    json big = json::parse("18446744073709551616");
    CHECK(big.type() == json_type::floating);
    CHECK(big.as_double() == 18446744073709551616.0);
    json neg = json::parse("-9223372036854775809");
    CHECK(neg.type() == json_type::floating);
    CHECK_THROWS_AS(neg.as_int(), format_error);

    // fraction or exponent: floating, even when integral
    CHECK(json::parse("1.0").type() == json_type::floating);
    CHECK(json::parse("1e3").type() == json_type::floating);
    CHECK_THROWS_AS(json::parse("1.0").as_int(), format_error);
    CHECK(json::parse("1.0").as_double() == 1.0);
    CHECK(json::parse("2.5E-3").as_double() == 2.5e-3);
    CHECK(json::parse("-1.5e+2").as_double() == -150.0);
    CHECK(json::parse("5e-324").as_double() == std::numeric_limits<double>::denorm_min());
    CHECK(json::parse("1.7976931348623157e308").as_double() == std::numeric_limits<double>::max());
    // underflow reads as zero (with its sign); overflow is an error
    CHECK(json::parse("1e-400").as_double() == 0.0);
    CHECK(std::signbit(json::parse("-1e-400").as_double()));
    CHECK(json::parse("0.000001e-330").as_double() == 0.0);
    CHECK_THROWS_AS(json::parse("1e400"), format_error);
    CHECK_THROWS_AS(json::parse("-1.8e308"), format_error);
    CHECK_THROWS_AS(json::parse("0.001e400"), format_error);

    CHECK(json::parse("-5").as_double() == -5.0);
    CHECK_THROWS_AS(json::parse("-5").as_uint(), format_error);
    CHECK(json::parse("7").as_size() == 7u);
}

TEST_CASE("json strings: escapes, surrogate pairs, UTF-8", "[json]") {
    CHECK(json::parse(R"("")").as_string().empty());
    CHECK(json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
    CHECK(json::parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");
    CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // U+1F600
    CHECK(json::parse(R"("\uDBFF\uDFFF")").as_string() == "\xF4\x8F\xBF\xBF");  // U+10FFFF
    std::string nul = json::parse(R"("a\u0000b")").as_string();
    CHECK(nul.size() == 3);
    CHECK(nul[1] == '\0');
    // raw UTF-8 passes through
    CHECK(json::parse("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"").as_string() == "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    CHECK(json::parse("\"\x7F\"").as_string() == "\x7F");

    const char* bad[] = {
        R"("\ud83d")",          // lone high surrogate
        R"("\ud83dx")",         // high surrogate + text
        R"("\ud83d\u0041")",    // high surrogate + non-low
        R"("\ude00")",          // lone low surrogate
        R"("\u12")",            // truncated
        R"("\u12G4")",          // bad hex
        R"("\x")",              // unknown escape
        R"("\')",               // unknown escape
        "\"abc",                // unterminated
        "\"abc\\",              // unterminated after backslash
        "\"a\tb\"",             // raw control character
        "\"a\nb\"",             // raw newline
        "\"\x01\"",             // raw control character
        "\"\xC0\x80\"",         // overlong NUL
        "\"\xC1\xBF\"",         // overlong
        "\"\xE0\x80\xAF\"",     // overlong 3-byte
        "\"\xED\xA0\x80\"",     // encoded surrogate
        "\"\xF4\x90\x80\x80\"", // above U+10FFFF
        "\"\xF5\x80\x80\x80\"", // invalid lead
        "\"\x80\"",             // stray continuation
        "\"\xC3\"",             // truncated sequence
        "\"\xE2\x82\"",         // truncated sequence
        "\"\xFF\"",             // invalid byte
    };
    for (const char* s : bad) {
        INFO(s);
        CHECK_THROWS_AS(json::parse(s), format_error);
    }
}

TEST_CASE("json rejects malformed documents with a position", "[json]") {
    const char* bad[] = {"",      " ",         "[1,]",       "[,1]",     "{,}",        "{\"a\":1,}", "01",
                         "-01",   "1.",        ".5",         "+1",       "1e",         "1e+",        "-",
                         "--1",   "0x10",      "tru",        "nul",      "falsey",     "[1 2]",      "{\"a\" 1}",
                         "{\"a\":}", "{a:1}",  "{'a':1}",    "NaN",      "Infinity",   "-Infinity",  "'a'",
                         "[1]x",  "{}{}",      "[",          "]",        "{",          "}",          "[1,",
                         "{\"a\"", "{\"a\":", "{\"a\":1", "\xEF\xBB\xBF{}", "/*c*/1", "1 // c"};
    for (const char* s : bad) {
        INFO(s);
        CHECK_THROWS_AS(json::parse(s), format_error);
    }
    CHECK_THROWS_AS(json::parse(std::string("[1]\0", 4)), format_error);  // embedded NUL after the value

    std::string e = error_of("{\n  \"a\": [1, 2,\n    x]\n}");
    CHECK(contains(e, "line 3, column 5"));
    CHECK(contains(e, "'x'"));
    CHECK(contains(error_of("[1]  2"), "byte 5"));
    CHECK(contains(error_of("[1 2]"), "expected ',' or ']'"));
    CHECK(contains(error_of("\"a\x01\""), "control character"));

    // whitespace of all four kinds is fine around values
    CHECK(json::parse(" \t\r\n[ 1 ,\t2 ]\n").size() == 2);
}

TEST_CASE("json objects keep insertion order and reject duplicate keys", "[json]") {
    json o = json::parse(R"({"z":1,"a":2,"m":{"k":[true,null]}})");
    REQUIRE(o.is_object());
    REQUIRE(o.size() == 3);
    CHECK(o.as_object()[0].first == "z");
    CHECK(o.as_object()[1].first == "a");
    CHECK(o.as_object()[2].first == "m");
    CHECK(o.at("m").at("k").at(0).as_bool());
    CHECK(o.at("m").at("k").at(1).is_null());
    CHECK(o.contains("a"));
    CHECK_FALSE(o.contains("b"));
    CHECK(o.find("b") == nullptr);
    CHECK(o.dump() == R"({"z":1,"a":2,"m":{"k":[true,null]}})");

    std::string e = error_of(R"({"a":1,"b":2,"a":3})");
    CHECK(contains(e, "duplicate key \"a\""));
    CHECK(contains(e, "byte 13"));  // the second "a"
    CHECK_THROWS_AS(json::parse(R"({"x":{"k":1,"k":1}})"), format_error);

    json_parse_options lenient;
    lenient.reject_duplicate_keys = false;
    json l = json::parse(R"({"a":1,"b":2,"a":3,"c":4,"a":5})", lenient);
    CHECK(l.dump() == R"({"a":5,"b":2,"c":4})");

    // building objects keeps the invariant too
    json::object_t dup;
    dup.emplace_back("k", json(1));
    dup.emplace_back("k", json(2));
    CHECK_THROWS_AS(json(dup), input_error);
}

TEST_CASE("json depth, size and value-count limits", "[json]") {
    auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    CHECK_NOTHROW(json::parse(nested(64)));
    CHECK(contains(error_of(nested(65)), "nesting deeper than 64"));
    // far deeper than any stack would allow without the limit
    CHECK_THROWS_AS(json::parse(nested(1000000)), format_error);
    std::string objs;
    for (int i = 0; i < 70; ++i) objs += "{\"a\":";
    objs += "1";
    objs += std::string(70, '}');
    CHECK_THROWS_AS(json::parse(objs), format_error);

    json_parse_options opt;
    opt.max_depth = 2;
    CHECK_NOTHROW(json::parse("[[1]]", opt));
    CHECK_THROWS_AS(json::parse("[[[1]]]", opt), format_error);

    opt = json_parse_options{};
    opt.max_bytes = 10;
    CHECK_NOTHROW(json::parse("[1,2,3,4]", opt));
    CHECK(contains(error_of("[1,2,3,4,5]", opt), "exceeds the limit"));

    opt = json_parse_options{};
    opt.max_values = 4;
    CHECK_NOTHROW(json::parse("[1,2,3]", opt));  // 4 values with the array
    CHECK(contains(error_of("[1,2,3,4]", opt), "more than 4 values"));
}

TEST_CASE("json accessors throw format_error naming the path", "[json]") {
    json doc = json::parse(R"({"model":{"d":"64","layers":[{"w":1},{"w":"x"}],"a.b":true}})");
    auto msg = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const format_error& e) {
            return e.what();
        }
        return "";
    };
    std::string e = msg([&] { doc.at("model").at("d").as_int(); });
    CHECK(contains(e, "$.model.d"));
    CHECK(contains(e, "expected an integer, got a string"));
    e = msg([&] { doc.at("model").at("layers").at(1).at("w").as_double(); });
    CHECK(contains(e, "$.model.layers[1].w"));
    e = msg([&] { doc.at("model").at("a.b").as_string(); });
    CHECK(contains(e, "$.model[\"a.b\"]"));
    e = msg([&] { doc.at("model").at("missing"); });
    CHECK(contains(e, "$.model: missing key \"missing\""));
    e = msg([&] { doc.at("model").at("layers").at(5); });
    CHECK(contains(e, "index 5 out of range (size 2)"));
    e = msg([&] { doc.at(0); });
    CHECK(contains(e, "$: expected an array"));
    CHECK_THROWS_AS(doc.as_bool(), format_error);
    CHECK_THROWS_AS(doc.as_array(), format_error);
    CHECK_THROWS_AS(doc.at("model").at("d").size(), format_error);
    CHECK(doc.at("model").at("layers").at(0).at("w").path() == "$.model.layers[0].w");
    // a copy is a new root
    json copy = doc.at("model");
    CHECK(copy.at("d").path() == "$.d");
}

TEST_CASE("json building keeps paths right across reallocation, copies and moves", "[json]") {
    json root;
    for (int i = 0; i < 300; ++i) {
        json item;
        item["id"] = i;
        item["tags"].push_back("t" + std::to_string(i));
        root["items"].push_back(item);
    }
    REQUIRE(root.at("items").size() == 300);
    CHECK(root.at("items").at(257).at("tags").at(0).path() == "$.items[257].tags[0]");
    CHECK(root.at("items").at(257).at("tags").at(0).as_string() == "t257");

    json moved = std::move(root);
    CHECK(moved.at("items").at(3).at("id").path() == "$.items[3].id");
    json assigned;
    assigned = moved;
    CHECK(assigned.at("items").at(299).at("id").as_int() == 299);
    CHECK(assigned.at("items").at(299).at("id").path() == "$.items[299].id");
    CHECK(assigned == moved);

    // self-subtree assignment
    json t = json::parse(R"({"a":{"b":{"c":1}}})");
    t = t.at("a");
    CHECK(t.dump() == R"({"b":{"c":1}})");
    CHECK(t.at("b").at("c").path() == "$.b.c");
    json s = json::parse(R"([[1,[2]]])");
    const json& inner = s.at(0);
    s = std::move(const_cast<json&>(inner));
    CHECK(s.dump() == "[1,[2]]");
    CHECK(s.at(1).at(0).path() == "$[1][0]");

    // erase keeps later members' paths right
    json e = json::parse(R"({"a":1,"b":{"x":2},"c":3})");
    CHECK(e.erase("a"));
    CHECK_FALSE(e.erase("zz"));
    CHECK(e.at("b").at("x").path() == "$.b.x");
    CHECK(e.dump() == R"({"b":{"x":2},"c":3})");

    CHECK_THROWS_AS(json(1).push_back(2), format_error);
    json num(5);
    CHECK_THROWS_AS(num["k"], format_error);
}

TEST_CASE("json dump: compact, indented, escapes, round trip", "[json]") {
    json v;
    v["s"] = std::string("q\"\\\n\x01\xC3\xA9/", 8);
    v["i"] = -3;
    v["u"] = std::numeric_limits<std::uint64_t>::max();
    v["d"] = 0.1;
    v["one"] = 1.0;
    v["big"] = 1e21;
    v["negz"] = -0.0;
    v["arr"] = json::array();
    v["obj"] = json::object();
    v["n"] = nullptr;
    v["b"] = false;
    const std::string text = v.dump();
    CHECK(text == "{\"s\":\"q\\\"\\\\\\n\\u0001\xC3\xA9/\",\"i\":-3,\"u\":18446744073709551615,\"d\":0.1,"
                  "\"one\":1.0,\"big\":1e+21,\"negz\":-0.0,\"arr\":[],\"obj\":{},\"n\":null,\"b\":false}");
    json back = json::parse(text);
    CHECK(back == v);
    CHECK(back.at("one").is_floating());
    CHECK(std::signbit(back.at("negz").as_double()));

    CHECK(json::parse(R"({"a":[1,{"b":2}],"c":{}})").dump(2) == "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}");
    CHECK(json::parse(json::parse(R"({"a":[1,{"b":2}],"c":{}})").dump(4)) == json::parse(R"({"c":{},"a":[1,{"b":2}]})"));

    // doubles survive a round trip bit for bit
    std::mt19937_64 rng(12345);
    for (int i = 0; i < 20000; ++i) {
        std::uint64_t bits = rng();
        double d;
        std::memcpy(&d, &bits, 8);
        if (!std::isfinite(d)) continue;
        json back_d = json::parse(json(d).dump());
        REQUIRE(back_d.is_floating());
        std::uint64_t bits2;
        const double d2 = back_d.as_double();
        std::memcpy(&bits2, &d2, 8);
        REQUIRE(bits2 == bits);
    }
    // integers too
    for (int i = 0; i < 2000; ++i) {
        const auto x = static_cast<std::int64_t>(rng());
        REQUIRE(json::parse(json(x).dump()).as_int() == x);
    }

    CHECK_THROWS_AS(json(std::numeric_limits<double>::quiet_NaN()).dump(), input_error);
    CHECK_THROWS_AS(json(std::numeric_limits<double>::infinity()).dump(), input_error);
    CHECK_THROWS_AS(json(std::string("\xFF")).dump(), input_error);
}

TEST_CASE("json equality is structural", "[json]") {
    CHECK(json::parse("1") == json(1u));
    CHECK(json::parse("1") != json(1.0));
    CHECK(json::parse(R"({"a":1,"b":[1,2]})") == json::parse(R"({"b":[1,2],"a":1})"));
    CHECK(json::parse("[1,2]") != json::parse("[2,1]"));
    CHECK(json::parse(R"({"a":1})") != json::parse(R"({"a":1,"b":2})"));
    CHECK(json::parse("18446744073709551615") == json(std::numeric_limits<std::uint64_t>::max()));
}

TEST_CASE("json survives random mutations of a valid document", "[json]") {
    const std::string base =
        R"({"name":"m\u00e9t\ud83d\ude00","n":[0,-1,2.5e-3,18446744073709551615],"o":{"t":true,"f":false,"z":null},"s":"a\\b\"c"})";
    REQUIRE_NOTHROW(json::parse(base));
    std::mt19937 rng(7);
    const char alphabet[] = "{}[]\",:\\u0123456789eE+-.tfnrl aZ\x80\xC3\xED\xF0\xFF";
    int parsed = 0, rejected = 0;
    for (int it = 0; it < 5000; ++it) {
        std::string s = base;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < edits; ++k) {
            const std::size_t pos = rng() % s.size();
            switch (rng() % 3) {
                case 0: s[pos] = alphabet[rng() % (sizeof(alphabet) - 1)]; break;
                case 1: s.erase(pos, 1 + rng() % 3); break;
                default: s.insert(pos, 1, alphabet[rng() % (sizeof(alphabet) - 1)]); break;
            }
            if (s.empty()) s = "x";
        }
        try {
            json v = json::parse(s);
            // whatever parses must serialize and re-parse to the same value
            REQUIRE(json::parse(v.dump()) == v);
            ++parsed;
        } catch (const format_error&) {
            ++rejected;
        }
    }
    CHECK(parsed > 0);
    CHECK(rejected > 0);
}

}  // namespace dualrerank_test_json
