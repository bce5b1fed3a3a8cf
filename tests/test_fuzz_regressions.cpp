// Replays every input under tests/fuzz/regressions/<target>/ (inputs that once crashed a fuzz
// target, see docs/fuzzing.md) and every seed under tests/fuzz/corpus/<target>/ through the
// target's entry point, compiled here without libFuzzer. Each entry point catches
// dualrerank::error itself; the test fails if anything else escapes (another exception or a
// violated fuzz property) and, under the sanitizer builds, on any memory error or UB.
#include "catch.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_inference.hpp"
#include "fuzz/fuzz_json.hpp"
#include "fuzz/fuzz_config.hpp"
#include "fuzz/fuzz_impression_log.hpp"
#include "fuzz/fuzz_jsonl.hpp"
#include "fuzz/fuzz_letor.hpp"
#include "fuzz/fuzz_model_load.hpp"
#include "fuzz/fuzz_safetensors.hpp"

#ifndef DUALRERANK_SOURCE_DIR
#define DUALRERANK_SOURCE_DIR "."
#endif

namespace {

using entry_point = void (*)(const std::uint8_t*, std::size_t);

std::vector<std::filesystem::path> inputs(const std::string& kind, const std::string& target) {
    const std::filesystem::path dir = std::filesystem::path(DUALRERANK_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
    std::vector<std::filesystem::path> out;
    if (std::filesystem::is_directory(dir))
        for (const auto& e : std::filesystem::directory_iterator(dir))
            if (e.is_regular_file()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// Feeds every regression input and seed of `target` to `entry`; returns how many were fed.
std::size_t replay(const std::string& target, entry_point entry) {
    std::size_t fed = 0;
    for (const char* kind : {"regressions", "corpus"}) {
        for (const auto& p : inputs(kind, target)) {
            const std::vector<std::uint8_t> bytes = read_file(p);
            INFO(kind << "/" << target << "/" << p.filename().string() << " (" << bytes.size() << " bytes)");
            CHECK_NOTHROW(entry(bytes.data(), bytes.size()));
            ++fed;
        }
    }
    return fed;
}

}  // namespace

TEST_CASE("fuzz regressions and seeds: safetensors reader", "[fuzz]") {
    CHECK(replay("safetensors", dualrerank_fuzz::safetensors_one) >= 4);
}

TEST_CASE("fuzz regressions and seeds: model loader", "[fuzz]") {
    CHECK(replay("model_load", dualrerank_fuzz::model_load_one) >= 3);
}

TEST_CASE("fuzz regressions and seeds: LETOR reader", "[fuzz]") {
    CHECK(replay("letor", dualrerank_fuzz::letor_one) >= 3);
}

TEST_CASE("fuzz regressions and seeds: JSON parser", "[fuzz]") {
    CHECK(replay("json", dualrerank_fuzz::json_one) >= 3);
}

TEST_CASE("fuzz regressions and seeds: JSON-lines request reader", "[fuzz]") {
    CHECK(replay("jsonl", dualrerank_fuzz::jsonl_one) >= 2);
}

TEST_CASE("fuzz regressions and seeds: impression-log reader and writer", "[fuzz]") {
    CHECK(replay("impression_log", dualrerank_fuzz::impression_log_one) >= 3);
}

TEST_CASE("fuzz regressions and seeds: CLI config reader", "[fuzz]") {
    CHECK(replay("config", dualrerank_fuzz::config_one) >= 3);
}

TEST_CASE("fuzz regressions and seeds: inference entry points", "[fuzz]") {
    CHECK(replay("inference", dualrerank_fuzz::inference_one) >= 11);
}

TEST_CASE("fuzz entry points report violated properties", "[fuzz]") {
    // the harness itself: a failed property escapes as property_violation, not as a library error
    CHECK_THROWS_AS(dualrerank_fuzz::fuzz_check(false, "test"), dualrerank_fuzz::property_violation);
    CHECK_NOTHROW(dualrerank_fuzz::fuzz_check(true, "test"));
    const std::uint8_t junk[] = {0xff, 0x00, 0x7b};
    CHECK_NOTHROW(dualrerank_fuzz::safetensors_one(junk, sizeof(junk)));  // format_error, caught inside
}
