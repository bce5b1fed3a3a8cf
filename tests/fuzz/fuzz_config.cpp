// libFuzzer target: see fuzz_config.hpp (the body, shared with tests/test_fuzz_regressions.cpp).
#include "fuzz_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dualrerank_fuzz::config_one(data, size);
    return 0;
}
