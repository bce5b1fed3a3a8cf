// libFuzzer target: see fuzz_model_load.hpp (the body, shared with tests/test_fuzz_regressions.cpp).
#include "fuzz_model_load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dualrerank_fuzz::model_load_one(data, size);
    return 0;
}
