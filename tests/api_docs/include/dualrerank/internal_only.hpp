// A fixture header with no public names: internals in detail, an out-of-line definition of a
// function fixture.hpp declares, and a specialization.
#pragma once

#include "fixture.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace detail {
template <class T>
struct traits {};
template <>
struct traits<int> {};
}  // namespace detail

inline int declared_only(int x) { return x; }

template <>
class templated_class<double, 1> {};

DUALRERANK_NAMESPACE_END
