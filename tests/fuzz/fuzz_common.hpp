// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp) and the Catch2 regression test
// (tests/test_fuzz_regressions.cpp): each target's body is an inline function
// `dualrerank_fuzz::<target>_one(data, size)` in tests/fuzz/fuzz_<target>.hpp, so a crashing
// input is replayed through exactly the code the fuzzer ran.
//
// Contract of every entry point: an input either succeeds or the library throws a
// dualrerank::error (caught inside the entry point). Anything else is a bug: a sanitizer report,
// a leak, another exception escaping, or a violated property (fuzz_check throws
// dualrerank_fuzz::property_violation, which is not a dualrerank::error: under libFuzzer the
// uncaught exception aborts the run and saves the input; under Catch2 the test fails).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "../test_header.hpp"

namespace dualrerank_fuzz {

struct property_violation : std::logic_error {
    using std::logic_error::logic_error;
};

inline void fuzz_check(bool ok, const char* what) {
    if (!ok) throw property_violation(std::string("fuzz property violated: ") + what);
}

/// Consumes a fuzzer input front to back; past the end every read returns zero.
class byte_reader {
public:
    byte_reader(const std::uint8_t* p, std::size_t n) noexcept : p_(p), n_(n) {}
    std::size_t remaining() const noexcept { return n_; }
    std::uint8_t u8() noexcept {
        if (!n_) return 0;
        --n_;
        return *p_++;
    }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
    std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }
    float f32_bits() noexcept {
        const std::uint32_t b = u32();
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

/// A slate of length L over n candidates: in range and distinct.
inline bool valid_slate(const int* y, int L, int n) {
    std::vector<bool> seen(static_cast<std::size_t>(n > 0 ? n : 0), false);
    for (int t = 0; t < L; ++t) {
        if (y[t] < 0 || y[t] >= n || seen[static_cast<std::size_t>(y[t])]) return false;
        seen[static_cast<std::size_t>(y[t])] = true;
    }
    return true;
}

}  // namespace dualrerank_fuzz
