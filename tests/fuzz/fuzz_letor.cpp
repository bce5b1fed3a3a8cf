// libFuzzer target: see fuzz_letor.hpp (the body, shared with tests/test_fuzz_regressions.cpp).
#include "fuzz_letor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dualrerank_fuzz::letor_one(data, size);
    return 0;
}
