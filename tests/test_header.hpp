// The tests include the library through this file, so the suite can run once against the
// generated single header (DUALRERANK_TEST_HEADER) instead of include/.
#pragma once
#ifdef DUALRERANK_TEST_HEADER
#include DUALRERANK_TEST_HEADER
#else
#include <dualrerank/dualrerank.hpp>
#include <dualrerank/sim/sim.hpp>
#endif
