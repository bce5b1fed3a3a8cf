// dualrerank: version macros and the ABI inline namespace.
//
// Every public symbol lives in `dualrerank::DUALRERANK_ABI_NAMESPACE`, an inline namespace that
// carries the version, so two copies of the library of different versions linked into one
// server cannot silently violate the one-definition rule.
#pragma once

#define DUALRERANK_VERSION_MAJOR 0
#define DUALRERANK_VERSION_MINOR 1
#define DUALRERANK_VERSION_PATCH 0
#define DUALRERANK_VERSION_STRING "0.1.0"

#define DUALRERANK_ABI_NAMESPACE v0_1_0

#define DUALRERANK_NAMESPACE_BEGIN \
    namespace dualrerank {         \
    inline namespace DUALRERANK_ABI_NAMESPACE {
#define DUALRERANK_NAMESPACE_END \
    }                            \
    }
