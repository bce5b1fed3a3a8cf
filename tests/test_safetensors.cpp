// io/safetensors.hpp: reader, writer, and an adversarial catalogue (every malformed file is a
// format_error, never a crash).
#include "catch.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#if !defined(_WIN32)
#include <unistd.h>
#endif

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_safetensors {

using dualrerank::format_error;
using dualrerank::input_error;
namespace io = dualrerank::io;
using io::dtype;
using io::safetensors_file;
using io::tensor_write;

namespace {

using bytes_t = std::vector<std::uint8_t>;

void put_u64(bytes_t& b, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// A file from a header text and a data region; `length` overrides the length field.
bytes_t make_file(const std::string& header, const bytes_t& data = {}, const std::uint64_t* length = nullptr) {
    bytes_t b;
    put_u64(b, length ? *length : header.size());
    b.insert(b.end(), header.begin(), header.end());
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

std::string load_error(const bytes_t& b) {
    try {
        safetensors_file::from_bytes(b);
    } catch (const format_error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("WRONG EXCEPTION TYPE: ") + e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string entry(const std::string& name, const std::string& dt, const std::string& shape, std::size_t b, std::size_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dt + "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(b) +
           "," + std::to_string(e) + "]}";
}

/// A valid small file with three tensors and metadata (written by our writer).
bytes_t sample_file(bool checksum = true) {
    static const float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    static const double b[2] = {0.1, -7.0};
    static const std::int64_t step[1] = {123456789012345LL};
    io::safetensors_write_options opt;
    opt.checksum = checksum;
    return io::write_safetensors_bytes({{"layer.w", dtype::f32, {2, 3}, w}, {"layer.b", dtype::f64, {2}, b},
                                        {"step", dtype::i64, {}, step}},
                                       {{"format", "pt"}, {"config", "{\"d\":2}"}}, opt);
}

/// Load, then read every tensor as something its dtype allows; any error must be format_error.
void load_and_touch(const bytes_t& b, const io::safetensors_read_options& opt = {}) {
    safetensors_file f = safetensors_file::from_bytes(b, opt);
    for (const io::tensor_info& t : f.tensors()) {
        if (io::dtype_is_floating(t.type)) {
            std::vector<double> v = f.read<double>(t.name, t.shape);
            REQUIRE(v.size() == t.elements());
        } else if (t.type == dtype::boolean) {
            std::vector<std::uint8_t> v(t.elements());
            f.read<bool>(t.name, t.shape, reinterpret_cast<bool*>(v.data()));  // may throw on bytes > 1
        } else {
            std::vector<std::int64_t> v(t.elements());
            try {
                f.read<std::int64_t>(t.name, t.shape, v.data());
            } catch (const format_error&) {  // a U64 beyond int64 range
            }
        }
    }
}

std::filesystem::path temp_dir() {
#if defined(_WIN32)
    const std::string tag = "win";
#else
    const std::string tag = std::to_string(::getpid());
#endif
    auto d = std::filesystem::temp_directory_path() / ("dualrerank_safetensors_test_" + tag);
    std::filesystem::create_directories(d);
    return d;
}

}  // namespace

TEST_CASE("safetensors dtype table", "[safetensors]") {
    const std::pair<const char*, std::size_t> names[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"U16", 2}, {"I16", 2},
                                                         {"F16", 2},  {"BF16", 2}, {"U32", 4}, {"I32", 4}, {"F32", 4},
                                                         {"U64", 8},  {"I64", 8}, {"F64", 8}};
    for (auto& [name, size] : names) {
        auto t = io::dtype_from_name(name);
        REQUIRE(t.has_value());
        CHECK(std::string(io::dtype_name(*t)) == name);
        CHECK(io::dtype_size(*t) == size);
    }
    CHECK_FALSE(io::dtype_from_name("f32").has_value());
    CHECK_FALSE(io::dtype_from_name("F8_E4M3").has_value());
    CHECK_FALSE(io::dtype_from_name("").has_value());
}

TEST_CASE("safetensors half-precision conversions", "[safetensors]") {
    // every F16 pattern converts exactly and back
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const float f = io::f16_to_float(static_cast<std::uint16_t>(h));
        if (std::isnan(f)) {
            CHECK(std::isnan(io::f16_to_float(io::float_to_f16(f))));
            continue;
        }
        REQUIRE(io::float_to_f16(f) == h);
    }
    CHECK(io::f16_to_float(0x3C00) == 1.0f);
    CHECK(io::f16_to_float(0xC000) == -2.0f);
    CHECK(io::f16_to_float(0x7BFF) == 65504.0f);
    CHECK(io::f16_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(std::isinf(io::f16_to_float(0x7C00)));
    CHECK(io::float_to_f16(65519.0f) == 0x7BFF);
    CHECK(io::float_to_f16(65520.0f) == 0x7C00);                          // rounds to inf
    CHECK(io::float_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie -> even
    CHECK(io::float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie -> even (up)
    CHECK(io::float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);             // tie -> even (zero)
    CHECK(io::float_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
    CHECK(io::float_to_f16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 units: tie -> even
    CHECK(io::float_to_f16(1e-10f) == 0x0000);
    CHECK(io::float_to_f16(-1e-10f) == 0x8000);
    CHECK(io::float_to_f16(1e10f) == 0x7C00);
    CHECK(io::float_to_f16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
    CHECK(io::float_to_f16(std::ldexp(1023.5f, -24)) == 0x0400);  // rounds up into the normals

    for (std::uint32_t b = 0; b < 65536; ++b) {
        const float f = io::bf16_to_float(static_cast<std::uint16_t>(b));
        if (std::isnan(f)) {
            CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(f))));
            continue;
        }
        REQUIRE(io::float_to_bf16(f) == b);
    }
    CHECK(io::float_to_bf16(1.0f) == 0x3F80);
    float tie;
    const std::uint32_t tie_bits = 0x3F808000u;  // halfway between 0x3F80 and 0x3F81
    std::memcpy(&tie, &tie_bits, 4);
    CHECK(io::float_to_bf16(tie) == 0x3F80);
    CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("safetensors CRC-32 matches zlib", "[safetensors]") {
    const std::string s = "123456789";
    CHECK(io::detail::crc32_update(0, reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) == 0xCBF43926u);
    CHECK(io::detail::crc32_update(0, nullptr, 0) == 0u);
    // chunked == whole (slice-by-8 and the tail agree)
    std::vector<std::uint8_t> v(1000);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 37 + 11);
    const std::uint32_t whole = io::detail::crc32_update(0, v.data(), v.size());
    const std::uint32_t parts = io::detail::crc32_update(io::detail::crc32_update(0, v.data(), 333), v.data() + 333, 667);
    CHECK(whole == parts);
}

TEST_CASE("safetensors known bytes parse the way the format defines", "[safetensors]") {
    // Built byte by byte: u64 LE length, header padded with spaces, then the data region.
    const std::string header =
        R"({"b":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},"__metadata__":{"k":"v"},)"
        R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"U8","shape":[0,5],"data_offsets":[12,12]}})"
        "      ";
    bytes_t file;
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    for (char c : header) file.push_back(static_cast<std::uint8_t>(c));
    const std::uint8_t data[] = {0x00, 0x00, 0x80, 0x3F,   // 1.0f
                                 0x00, 0x00, 0x20, 0xC0,   // -2.5f
                                 0x34, 0x12, 0xFE, 0xFF};  // 0x1234, -2
    file.insert(file.end(), data, data + sizeof(data));

    safetensors_file f = safetensors_file::from_bytes(file);
    CHECK(f.header_bytes() == header.size());
    CHECK(f.data_bytes() == sizeof(data));
    REQUIRE(f.tensors().size() == 3);
    CHECK(f.tensors()[0].name == "b");  // header order
    CHECK(f.tensors()[1].name == "a");
    CHECK(f.tensors()[2].name == "e");
    CHECK(f.metadata() == std::map<std::string, std::string>{{"k", "v"}});
    const io::tensor_info& a = f.at("a");
    CHECK(a.type == dtype::f32);
    CHECK(a.shape == std::vector<std::size_t>{2});
    CHECK(a.begin == 0);
    CHECK(a.end == 8);
    float af[2];
    f.read<float>("a", {2}, af);
    CHECK(af[0] == 1.0f);
    CHECK(af[1] == -2.5f);
    CHECK(f.read<double>("a", {2}) == std::vector<double>{1.0, -2.5});
    CHECK(f.read<std::int16_t>("b", {2}) == std::vector<std::int16_t>{0x1234, -2});
    CHECK(f.read<std::int64_t>("b", {2}) == std::vector<std::int64_t>{0x1234, -2});
    CHECK(f.read<std::uint8_t>("e", {0, 5}).empty());
    CHECK(f.raw(f.at("b"))[0] == 0x34);
    CHECK(f.find("zz") == nullptr);
}

TEST_CASE("safetensors writer: exact bytes of a tiny file", "[safetensors]") {
    const float one = 1.0f;
    io::safetensors_write_options opt;
    opt.checksum = false;
    bytes_t got = io::write_safetensors_bytes({{"a", dtype::f32, {1}, &one}}, {}, opt);
    std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    header.append((8 - header.size() % 8) % 8, ' ');
    bytes_t want = make_file(header, {0x00, 0x00, 0x80, 0x3F});
    CHECK(got == want);
    CHECK((got.size() - 4) % 8 == 0);  // the data region starts 8-aligned

    // with the checksum: the CRC of the data region is recorded
    bytes_t with = io::write_safetensors_bytes({{"a", dtype::f32, {1}, &one}});
    safetensors_file f = safetensors_file::from_bytes(with);
    const std::uint8_t data[] = {0x00, 0x00, 0x80, 0x3F};
    CHECK(f.metadata().at("dualrerank.crc32") == io::detail::crc32_hex(io::detail::crc32_update(0, data, 4)));
}

TEST_CASE("safetensors round trip: f32, f64, i64, small types, metadata", "[safetensors]") {
    std::vector<float> w(7 * 13);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<float>(i)) * 3.0f;
    std::vector<double> d = {0.1, -1e300, 5e-324, 0.0, -0.0, 1.0 / 3.0};
    std::vector<std::int64_t> i64 = {std::numeric_limits<std::int64_t>::min(), -1, 0, 42,
                                     std::numeric_limits<std::int64_t>::max()};
    std::vector<std::int32_t> i32 = {-7, 7, 1 << 30};
    std::vector<std::uint8_t> u8 = {0, 1, 255};
    std::vector<std::uint8_t> flags = {1, 0, 1, 1};
    std::vector<std::uint16_t> half = {io::float_to_f16(0.5f), io::float_to_f16(-3.0f)};
    std::vector<std::uint16_t> brain = {io::float_to_bf16(2.0f), io::float_to_bf16(-0.25f)};
    std::vector<std::uint64_t> u64 = {std::numeric_limits<std::uint64_t>::max()};
    const float scalar = 9.5f;
    std::map<std::string, std::string> meta = {{"format", "pt"}, {"config", "{\"d_model\":64}"}, {"\xC3\xA9", ""}};

    std::vector<tensor_write> ts = {
        {"u8", dtype::u8, {3}, u8.data()},          {"encoder.w", dtype::f32, {7, 13}, w.data()},
        {"flags", dtype::boolean, {2, 2}, flags.data()}, {"d", dtype::f64, {6}, d.data()},
        {"i32", dtype::i32, {3}, i32.data()},       {"step", dtype::i64, {5}, i64.data()},
        {"half", dtype::f16, {2}, half.data()},     {"brain", dtype::bf16, {1, 2}, brain.data()},
        {"scalar", dtype::f32, {}, &scalar},        {"empty", dtype::f32, {0, 4}, nullptr},
        {"u64", dtype::u64, {1}, u64.data()},
    };
    bytes_t file = io::write_safetensors_bytes(ts, meta);
    safetensors_file f = safetensors_file::from_bytes(file);

    REQUIRE(f.tensors().size() == ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const io::tensor_info& t = f.tensors()[i];
        CHECK(t.name == ts[i].name);  // header order = given order
        CHECK(t.type == ts[i].type);
        CHECK(t.shape == ts[i].shape);
        CHECK(t.begin % io::dtype_size(t.type) == 0);  // laid out by element size: naturally aligned
    }
    CHECK(f.header_bytes() % 8 == 0);
    for (auto& [k, v] : meta) CHECK(f.metadata().at(k) == v);
    CHECK(f.metadata().size() == meta.size() + 2);  // + the two checksums (data region, whole file)
    CHECK(f.file_checksum_verified());

    CHECK(f.read<float>("encoder.w", {7, 13}) == w);
    CHECK(f.read<double>("d", {6}) == d);
    CHECK(std::signbit(f.read<double>("d", {6})[4]));
    CHECK(f.read<std::int64_t>("step", {5}) == i64);
    CHECK(f.read<std::int32_t>("i32", {3}) == i32);
    CHECK(f.read<std::int64_t>("i32", {3}) == std::vector<std::int64_t>{-7, 7, 1 << 30});
    CHECK(f.read<std::uint8_t>("u8", {3}) == u8);
    CHECK(f.read<std::uint64_t>("u64", {1}) == u64);
    CHECK(f.read<float>("half", {2}) == std::vector<float>{0.5f, -3.0f});
    CHECK(f.read<double>("brain", {1, 2}) == std::vector<double>{2.0, -0.25});
    CHECK(f.read<float>("scalar", {}) == std::vector<float>{9.5f});
    CHECK(f.read<float>("empty", {0, 4}).empty());
    bool fl[4];
    f.read<bool>("flags", {2, 2}, fl);
    CHECK(fl[0]);
    CHECK_FALSE(fl[1]);
    CHECK(fl[3]);
    // float <-> double conversions
    std::vector<double> wd = f.read<double>("encoder.w", {7, 13});
    for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(wd[i] == static_cast<double>(w[i]));
    std::vector<float> df = f.read<float>("d", {6});
    CHECK(df[0] == 0.1f);

    // writing what we read gives the same bytes (the checksum key is recomputed, not duplicated)
    std::vector<tensor_write> again;
    for (const io::tensor_info& t : f.tensors()) again.push_back({t.name, t.type, t.shape, f.raw(t)});
    CHECK(io::write_safetensors_bytes(again, f.metadata()) == file);
}

TEST_CASE("safetensors read: wrong shape, dtype, range and name", "[safetensors]") {
    safetensors_file f = safetensors_file::from_bytes(sample_file());
    auto msg = [](auto&& fn) -> std::string {
        try {
            fn();
        } catch (const format_error& e) {
            return e.what();
        }
        return "";
    };
    std::vector<float> buf(16, 7.0f);
    std::string e = msg([&] { f.read<float>("layer.w", {3, 2}, buf.data()); });
    CHECK(contains(e, "\"layer.w\""));
    CHECK(contains(e, "[2, 3]"));
    CHECK(contains(e, "expected [3, 2]"));
    CHECK(buf[0] == 7.0f);  // nothing written
    CHECK(contains(msg([&] { f.read<float>("layer.w", {6}); }), "layer.w"));
    CHECK(contains(msg([&] { f.read<float>("step", {}); }), "has dtype I64, which cannot be read as float"));
    CHECK(contains(msg([&] { f.read<std::int64_t>("layer.b", {2}); }), "cannot be read as int64"));
    CHECK(contains(msg([&] { f.read<float>("nope", {1}); }), "no tensor \"nope\""));
    CHECK(contains(msg([&] { f.at("nope"); }), "nope"));
    std::vector<std::int32_t> i32(1, 5);
    e = msg([&] { f.read<std::int32_t>("step", {}, i32.data()); });
    CHECK(contains(e, "element 0 = 123456789012345 does not fit in int32"));
    CHECK(i32[0] == 5);

    const std::int64_t vals[3] = {1, -1, 300};
    safetensors_file g = safetensors_file::from_bytes(io::write_safetensors_bytes({{"v", dtype::i64, {3}, vals}}));
    CHECK(contains(msg([&] { g.read<std::uint8_t>("v", {3}); }), "element 1 = -1 does not fit in uint8"));
    CHECK(contains(msg([&] { g.read<std::int8_t>("v", {3}); }), "element 2 = 300 does not fit in int8"));
    CHECK(g.read<std::int16_t>("v", {3}) == std::vector<std::int16_t>{1, -1, 300});
    bool b[3];
    CHECK(contains(msg([&] { g.read<bool>("v", {3}, b); }), "cannot be read as bool"));

    // a BOOL tensor with a byte 2 (hand-made: our writer refuses to write one)
    const std::uint8_t bad_bool[2] = {1, 2};
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"m", dtype::boolean, {2}, bad_bool}}), input_error);
    safetensors_file h = safetensors_file::from_bytes(make_file("{" + entry("m", "BOOL", "[2]", 0, 2) + "}", {1, 2}));
    CHECK(contains(msg([&] { h.read<bool>("m", {2}, b); }), "BOOL element 1 has byte value 2"));
    CHECK(h.read<int>("m", {2}) == std::vector<int>{1, 2});
}

TEST_CASE("safetensors adversarial catalogue: every defect is a format_error", "[safetensors]") {
    const bytes_t d8(8, 0), d12(12, 0);
    struct bad_case {
        const char* what;
        bytes_t file;
        const char* expect;  // a part of the message
    };
    const std::uint64_t huge = std::uint64_t(1) << 63, max64 = ~std::uint64_t(0), over_cap = 100'000'001, len100 = 100;
    const std::string ok_a = entry("a", "F32", "[2]", 0, 8);
    std::vector<bad_case> cases = {
        {"header length larger than the file", make_file("{}", {}, &len100), "exceeds the 2 bytes"},
        {"absurd header length 2^63", make_file("{}", {}, &huge), "exceeds the cap"},
        {"header length 2^64-1", make_file("{}", {}, &max64), "exceeds the cap"},
        {"header length just above the cap", make_file("{}", {}, &over_cap), "exceeds the cap"},
        {"empty header", make_file(""), "does not start with '{'"},
        {"leading space", make_file(" {}"), "does not start with '{'"},
        {"array root", make_file("[1,2]"), "does not start with '{'"},
        {"invalid JSON", make_file("{\"a\":"), "invalid JSON header"},
        {"invalid JSON: trailing comma", make_file("{" + ok_a + ",}", d8), "invalid JSON header"},
        {"trailing garbage", make_file("{" + ok_a + "}x", d8), "invalid JSON header"},
        {"trailing NUL padding", make_file("{" + ok_a + "}" + std::string(3, '\0'), d8), "invalid JSON header"},
        {"invalid UTF-8 in a name", make_file("{\"\xFF\":{}}"), "invalid UTF-8"},
        {"control character in a name", make_file("{\"a\tb\":{}}"), "control character"},
        {"too deep", make_file(R"({"a":{"dtype":[[[[[[[[[1]]]]]]]]]}})"), "nesting deeper"},
        {"entry not an object", make_file(R"({"a":[1]})"), "entry must be an object"},
        {"unknown dtype", make_file("{" + entry("a", "F8_E4M3", "[2]", 0, 2) + "}", bytes_t(2)), "unknown or unsupported dtype"},
        {"lower-case dtype", make_file("{" + entry("a", "f32", "[2]", 0, 8) + "}", d8), "unknown or unsupported dtype"},
        {"dtype not a string", make_file(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", d8), "dtype must be a string"},
        {"negative dim", make_file("{" + entry("a", "F32", "[-2]", 0, 8) + "}", d8), "shape[0] = -2 is negative"},
        {"float dim", make_file("{" + entry("a", "F32", "[2.0]", 0, 8) + "}", d8), "must be an integer"},
        {"exponent dim", make_file("{" + entry("a", "F32", "[2e0]", 0, 8) + "}", d8), "must be an integer"},
        {"string dim", make_file("{" + entry("a", "F32", "[\"2\"]", 0, 8) + "}", d8), "must be an integer"},
        {"nested dim", make_file("{" + entry("a", "F32", "[[2]]", 0, 8) + "}", d8), "must be an integer"},
        {"huge dim", make_file("{" + entry("a", "F32", "[18446744073709551615]", 0, 8) + "}", d8), "exceeds the cap on a dimension"},
        {"dim beyond uint64", make_file("{" + entry("a", "F32", "[99999999999999999999]", 0, 8) + "}", d8), "must be an integer"},
        {"dim above the cap", make_file("{" + entry("a", "U8", "[1099511627777]", 0, 8) + "}", d8), "exceeds the cap on a dimension (1099511627776)"},
        {"shape product overflow",
         make_file("{" + entry("a", "F32", "[1099511627776,1099511627776,1099511627776]", 0, 8) + "}", d8),
         "overflows"},
        {"shape product beyond the data", make_file("{" + entry("a", "F64", "[1099511627776,8]", 0, 8) + "}", d8),
         "needs 70368744177664 bytes"},
        {"rank above the cap", make_file("{" + entry("a", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) + "}", bytes_t(1)), "rank 9"},
        {"shape not an array", make_file("{" + entry("a", "F32", "2", 0, 8) + "}", d8), "shape must be an array"},
        {"offsets out of range", make_file("{" + entry("a", "F32", "[2]", 0, 8) + "}", bytes_t(4)), "data_offsets[1] = 8 exceeds the size of the data region (4)"},
        {"offsets far out of range", make_file("{" + entry("a", "F32", "[2]", 18446744073709551607u, 18446744073709551615u) + "}", d8),
         "exceeds the size of the data region"},
        {"end before begin", make_file("{" + entry("a", "F32", "[0]", 8, 0) + "}", d8), "end before begin"},
        {"negative offset", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d8), "negative"},
        {"float offset", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}})", d8), "must be an integer"},
        {"three offsets", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", d8), "two integers"},
        {"one offset", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", d8), "two integers"},
        {"offsets not an array", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":8}})", d8), "two integers"},
        {"size mismatch", make_file("{" + entry("a", "F32", "[3]", 0, 8) + "}", d8), "needs 12 bytes"},
        {"size mismatch (dtype)", make_file("{" + entry("a", "F64", "[2]", 0, 8) + "}", d8), "needs 16 bytes"},
        {"scalar with no bytes", make_file("{" + entry("a", "F32", "[]", 0, 0) + "}"), "needs 4 bytes"},
        {"overlap", make_file("{" + ok_a + "," + entry("b", "F32", "[2]", 4, 12) + "}", d12), "overlaps"},
        {"same range twice", make_file("{" + ok_a + "," + entry("b", "F32", "[2]", 0, 8) + "}", d8), "overlaps"},
        {"gap", make_file("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}", d12), "gap"},
        {"not starting at 0", make_file("{" + entry("a", "F32", "[1]", 4, 8) + "}", d8), "gap"},
        {"trailing bytes", make_file("{" + entry("a", "F32", "[1]", 0, 4) + "}", d8), "cover 4 bytes"},
        {"data but no tensors", make_file("{}", d8), "cover 0 bytes"},
        {"metadata value not a string", make_file(R"({"__metadata__":{"k":1}})"), "must be a string"},
        {"metadata value null", make_file(R"({"__metadata__":{"k":null}})"), "must be a string"},
        {"metadata not an object", make_file(R"({"__metadata__":["k"]})"), "__metadata__ must be an object"},
        {"metadata nested", make_file(R"({"__metadata__":{"k":{"x":"y"}}})"), "must be a string"},
        {"duplicate tensor", make_file("{" + ok_a + "," + ok_a + "}", d8), "duplicate key \"a\""},
        {"duplicate metadata", make_file(R"({"__metadata__":{},"__metadata__":{}})"), "duplicate key"},
        {"duplicate field", make_file(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8),
         "duplicate key \"dtype\""},
        {"missing dtype", make_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8), "missing field \"dtype\""},
        {"missing shape", make_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", d8), "missing field \"shape\""},
        {"missing offsets", make_file(R"({"a":{"dtype":"F32","shape":[2]}})", d8), "missing field \"data_offsets\""},
        {"extra field", make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"foo":1}})", d8),
         "unexpected field \"foo\""},
        {"bad checksum format", make_file(R"({"__metadata__":{"dualrerank.crc32":"XYZ"}})"), "8 lowercase hex"},
        {"wrong checksum", make_file("{\"__metadata__\":{\"dualrerank.crc32\":\"00000000\"}," + ok_a + "}", bytes_t(8, 1)),
         "checksum mismatch"},
    };
    for (std::size_t n = 0; n < 8; ++n) cases.push_back({"shorter than 8 bytes", bytes_t(n, 0), "too short"});

    for (const bad_case& c : cases) {
        INFO(c.what);
        const std::string e = load_error(c.file);
        INFO(e);
        CHECK(contains(e, "dualrerank: safetensors"));
        CHECK(contains(e, c.expect));
    }
}

TEST_CASE("safetensors accepts what the format allows", "[safetensors]") {
    CHECK(safetensors_file::from_bytes(make_file("{}")).tensors().empty());
    CHECK(safetensors_file::from_bytes(make_file("{}        ")).tensors().empty());  // space padding
    CHECK(safetensors_file::from_bytes(make_file("{ }\n\t")).tensors().empty());    // any JSON whitespace
    // zero-size tensors may share an offset; unsorted header order; scalar shape
    const std::string h = "{" + entry("s", "F32", "[]", 4, 8) + "," + entry("z1", "F32", "[0]", 4, 4) + "," +
                          entry("z2", "I64", "[3,0]", 4, 4) + "," + entry("a", "U8", "[4]", 0, 4) + "}";
    safetensors_file f = safetensors_file::from_bytes(make_file(h, {1, 2, 3, 4, 0, 0, 0x80, 0x3F}));
    CHECK(f.tensors().size() == 4);
    CHECK(f.read<float>("s", {}) == std::vector<float>{1.0f});
    CHECK(f.read<std::uint8_t>("a", {4}) == std::vector<std::uint8_t>{1, 2, 3, 4});
    // metadata with escapes
    safetensors_file m = safetensors_file::from_bytes(make_file(R"({"__metadata__":{"a\"b":"\u00e9\n"}})"));
    CHECK(m.metadata().at("a\"b") == "\xC3\xA9\n");
    // the checksum is checked only when asked
    const std::string hc = "{\"__metadata__\":{\"dualrerank.crc32\":\"00000000\"}," + entry("a", "F32", "[2]", 0, 8) + "}";
    io::safetensors_read_options no_verify;
    no_verify.verify_checksum = false;
    CHECK_NOTHROW(safetensors_file::from_bytes(make_file(hc, bytes_t(8, 1)), no_verify));
}

TEST_CASE("safetensors caps on the tensor count", "[safetensors]") {
    std::string h = "{";
    const std::size_t n = io::safetensors_caps::max_tensors + 1;
    for (std::size_t i = 0; i < n; ++i) {
        if (i) h += ",";
        h += entry("t" + std::to_string(i), "U8", "[0]", 0, 0);
    }
    h += "}";
    CHECK(contains(load_error(make_file(h)), "more than 65536 tensors"));

    std::vector<tensor_write> many(n);
    for (std::size_t i = 0; i < n; ++i) many[i] = {"t" + std::to_string(i), dtype::u8, {0}, nullptr};
    CHECK_THROWS_AS(io::write_safetensors_bytes(many), input_error);
    many.pop_back();
    CHECK(safetensors_file::from_bytes(io::write_safetensors_bytes(many)).tensors().size() == n - 1);
}

TEST_CASE("safetensors truncated at every byte position", "[safetensors]") {
    const bytes_t file = sample_file();
    REQUIRE_NOTHROW(safetensors_file::from_bytes(file));
    for (std::size_t n = 0; n < file.size(); ++n) {
        INFO(n);
        bytes_t cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK_THROWS_AS(safetensors_file::from_bytes(cut), format_error);
    }
    // and one byte too many
    bytes_t longer = file;
    longer.push_back(0);
    CHECK_THROWS_AS(safetensors_file::from_bytes(longer), format_error);
}

TEST_CASE("safetensors random byte flips: load or format_error, never anything else", "[safetensors]") {
    for (bool checksum : {true, false}) {
        const bytes_t file = sample_file(checksum);
        std::mt19937_64 rng(checksum ? 2024 : 4242);
        int loaded = 0, rejected = 0;
        for (int it = 0; it < 3000; ++it) {
            bytes_t m = file;
            const int flips = 1 + static_cast<int>(rng() % 3);
            for (int k = 0; k < flips; ++k) {
                const std::size_t pos = rng() % m.size();
                switch (rng() % 3) {
                    case 0: m[pos] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
                    case 1: m[pos] = static_cast<std::uint8_t>(rng()); break;
                    default: {  // a plausible JSON character inside the header
                        const char pool[] = "0123456789[]{}\",:-.e ";
                        m[pos] = static_cast<std::uint8_t>(pool[rng() % (sizeof(pool) - 1)]);
                    }
                }
            }
            try {
                load_and_touch(m);
                ++loaded;
            } catch (const format_error&) {
                ++rejected;
            }
        }
        INFO("checksum " << checksum << ": loaded " << loaded << ", rejected " << rejected);
        CHECK(rejected > 0);
        if (!checksum) CHECK(loaded > 0);  // flips in the data region load when nothing checks them
    }
    // with the checksum, every single flip in the data region is caught
    const bytes_t file = sample_file(true);
    const safetensors_file f = safetensors_file::from_bytes(file);
    const std::size_t start = 8 + f.header_bytes();
    for (std::size_t pos = start; pos < file.size(); ++pos) {
        bytes_t m = file;
        m[pos] ^= 0x10;
        CHECK_THROWS_WITH(safetensors_file::from_bytes(m), Catch::Contains("checksum mismatch"));
    }
}

TEST_CASE("safetensors writer rejects bad arguments", "[safetensors]") {
    const float x[2] = {1, 2};
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"a", dtype::f32, {2}, x}, {"a", dtype::f32, {2}, x}}), input_error);
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"__metadata__", dtype::f32, {2}, x}}), input_error);
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"a", dtype::f32, {2}, nullptr}}), input_error);
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"a", dtype::u8, {1, 1, 1, 1, 1, 1, 1, 1, 1}, x}}), input_error);
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"a", dtype::u8, {std::size_t(1) << 41}, x}}), input_error);
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"\xFF", dtype::f32, {2}, x}}), input_error);
    CHECK_THROWS_AS(io::write_safetensors_bytes({{"a", dtype::f32, {2}, x}}, {{"k", "\xC3"}}), input_error);
    CHECK_NOTHROW(io::write_safetensors_bytes({{"a", dtype::f32, {0}, nullptr}}));
    // a stale checksum in the caller's metadata is dropped when no checksum is written
    io::safetensors_write_options off;
    off.checksum = false;
    bytes_t b = io::write_safetensors_bytes({{"a", dtype::f32, {2}, x}}, {{"dualrerank.crc32", "00000000"}}, off);
    CHECK(safetensors_file::from_bytes(b).metadata().empty());
}

TEST_CASE("safetensors files: atomic write, read back, errors", "[safetensors]") {
    const std::filesystem::path dir = temp_dir();
    const std::string path = (dir / "model.safetensors").string();
    std::vector<float> w = {1, 2, 3, 4, 5, 6};
    io::write_safetensors_file(path, {{"w", dtype::f32, {2, 3}, w.data()}}, {{"format", "pt"}});
    safetensors_file f = safetensors_file::from_file(path);
    CHECK(f.read<float>("w", {2, 3}) == w);
    CHECK(f.metadata().at("format") == "pt");

    // overwrite in place
    w[0] = 42;
    io::write_safetensors_file(path, {{"w", dtype::f32, {2, 3}, w.data()}});
    CHECK(safetensors_file::from_file(path).read<float>("w", {2, 3})[0] == 42);
    // no temporary files left behind
    std::size_t entries = 0;
    for (auto& p : std::filesystem::directory_iterator(dir)) {
        (void)p;
        ++entries;
    }
    CHECK(entries == 1);

    // a file error names the path
    try {
        io::safetensors_file::from_file((dir / "missing.safetensors").string());
        FAIL("no exception");
    } catch (const format_error& e) {
        CHECK(contains(e.what(), "missing.safetensors"));
    }
    CHECK_THROWS_AS(io::safetensors_file::from_file(dir.string()), format_error);  // a directory
    // a corrupt file on disk: the error names the path
    bytes_t raw = io::write_safetensors_bytes({{"w", dtype::f32, {2, 3}, w.data()}});
    raw.resize(raw.size() - 1);
    {
        std::FILE* fp = std::fopen(path.c_str(), "wb");
        REQUIRE(fp);
        std::fwrite(raw.data(), 1, raw.size(), fp);
        std::fclose(fp);
    }
    CHECK_THROWS_WITH(io::safetensors_file::from_file(path), Catch::Contains(path));

    // writing into a directory that does not exist fails and leaves nothing behind
    const std::string nowhere = (dir / "no_such_dir" / "m.safetensors").string();
    CHECK_THROWS_AS(io::write_safetensors_file(nowhere, {{"w", dtype::f32, {2, 3}, w.data()}}), dualrerank::error);
    CHECK_FALSE(std::filesystem::exists(dir / "no_such_dir"));
    // bad arguments are detected before anything touches the disk
    CHECK_THROWS_AS(io::write_safetensors_file(path, {{"w", dtype::f32, {2, 3}, nullptr}}), input_error);

    std::filesystem::remove_all(dir);
}

TEST_CASE("safetensors: the whole-file checksum covers the header", "[safetensors]") {
    const std::vector<float> w = {1, 2, 3};
    const std::vector<io::tensor_write> ts = {{"w", io::dtype::f32, {3}, w.data()}};
    const auto bytes = io::write_safetensors_bytes(ts, {{"config", "{\"d\":16}"}});
    const auto f = io::safetensors_file::from_bytes(bytes);
    CHECK(f.file_checksum_verified());
    // a changed digit in the metadata (the data region is untouched, its CRC still matches)
    auto b = bytes;
    const std::string text(b.begin(), b.end());
    const std::size_t at = text.find("\"d\\\":16");
    REQUIRE(at != std::string::npos);
    b[at + 5] = '4';  // 16 -> 46
    try {
        (void)io::safetensors_file::from_bytes(b);
        FAIL("a header edit loaded");
    } catch (const format_error& e) {
        CHECK(std::string(e.what()).find("checksum mismatch: the whole file has CRC-32") != std::string::npos);
    }
    // without verification the edit is visible, and the file is not marked verified
    io::safetensors_read_options ro;
    ro.verify_checksum = false;
    const auto g = io::safetensors_file::from_bytes(b, ro);
    CHECK(g.metadata().at("config") == "{\"d\":46}");
    CHECK_FALSE(g.file_checksum_verified());
    // the pair not in compact form (a space after the colon, same length: one padding byte less
    // would change the data offsets, so the space replaces the closing brace's padding) is refused
    auto c = bytes;
    std::string t2(c.begin(), c.end());
    const std::string pair = "\"dualrerank.crc32_file\":\"";
    const std::size_t k = t2.find(pair);
    REQUIRE(k != std::string::npos);
    const std::size_t hdr_end = 8 + f.header_bytes();
    std::size_t last = hdr_end - 1;
    while (t2[last] == ' ') --last;  // the header's closing brace; padding after it
    if (last + 1 < hdr_end) {        // room for one more byte: shift the pair's value right by one
        t2.insert(k + pair.size() - 1, 1, ' ');
        t2.erase(last + 2, 1);
        std::vector<std::uint8_t> c2(t2.begin(), t2.end());
        try {
            (void)io::safetensors_file::from_bytes(c2);
            FAIL("a non-compact checksum pair loaded");
        } catch (const format_error& e) {
            CHECK(std::string(e.what()).find("exactly once in compact form") != std::string::npos);
        }
    }
    // a writer without checksums: no key, nothing verified
    io::safetensors_write_options wo;
    wo.checksum = false;
    const auto plain = io::write_safetensors_bytes(ts, {}, wo);
    CHECK_FALSE(io::safetensors_file::from_bytes(plain).file_checksum_verified());
    CHECK(io::safetensors_file::from_bytes(plain).metadata().count(io::safetensors_file_crc32_key) == 0);
}

}  // namespace dualrerank_test_safetensors
