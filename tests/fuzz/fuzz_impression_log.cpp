// libFuzzer target: see fuzz_impression_log.hpp (the body, shared with tests/test_fuzz_regressions.cpp).
#include "fuzz_impression_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dualrerank_fuzz::impression_log_one(data, size);
    return 0;
}
