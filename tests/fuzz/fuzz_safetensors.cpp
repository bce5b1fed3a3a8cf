// libFuzzer target: see fuzz_safetensors.hpp (the body, shared with tests/test_fuzz_regressions.cpp).
#include "fuzz_safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dualrerank_fuzz::safetensors_one(data, size);
    return 0;
}
