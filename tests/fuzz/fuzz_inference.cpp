// libFuzzer target: see fuzz_inference.hpp (the body, shared with tests/test_fuzz_regressions.cpp).
#include "fuzz_inference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dualrerank_fuzz::inference_one(data, size);
    return 0;
}
