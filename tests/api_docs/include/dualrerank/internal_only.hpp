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

// explicit instantiations (a compiled mode's declarations and definitions) declare no new name
extern template class templated_class<float>;
template class templated_class<char>;
template int templated_function<int>(const int&, std::string);

DUALRERANK_NAMESPACE_END
