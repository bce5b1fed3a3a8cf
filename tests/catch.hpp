// Catch2 v2 (Debian: catch2/catch.hpp) and v3 (vcpkg/Conan: catch2/catch_all.hpp) behind one include.
// Tests stay within TEST_CASE / SECTION / REQUIRE / CHECK / TEMPLATE_TEST_CASE / WithinAbs / WithinRel.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
#include "test_header.hpp"
