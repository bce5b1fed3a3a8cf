// A fixture for tools/check_api_docs.py --self-test (not compiled): every construct the extractor
// must see or skip. The names it must find are listed in the script's self_test().
#pragma once

#include <string>

#define FIXTURE_MACRO(x) struct macro_made_##x {}  // a macro: not a name

DUALRERANK_NAMESPACE_BEGIN

struct forward_declared;  // a forward declaration: the defining header owns the name
template <class T>
class templated_forward;

struct plain_struct {
    int member = 0;                 // a member: not a name
    void method() { int local = 1; (void)local; }
    struct inner_type {};           // nested in a class: not a name
};

template <class T, int N = (3 > 2 ? 1 : 0)>
class templated_class : public plain_struct {
public:
    using member_alias = T;  // a member alias: not a name
};

enum class kind { a, b };
enum legacy_enum : int { legacy_a = 1 };

using alias_t = templated_class<int>;
typedef int typedef_t;

/* a block comment with a brace { and a fake declaration: struct in_comment {}; */
inline int free_function(int x) {
    const char* s = "a string with a brace { and struct in_string;";
    (void)s;
    return x + 1;
}

template <class T>
[[nodiscard]] T templated_function(const T& v, std::string name = std::string("x(y)")) noexcept {
    return v;
}

inline auto trailing_return(int a) -> decltype(a + 1) { return a + 1; }

inline constexpr int max_items = 4096;
const std::string default_name{"dflt"};

int declared_only(int);  // declared here, defined out of line in internal_only.hpp

inline bool operator==(const plain_struct& a, const plain_struct& b) { return a.member == b.member; }

namespace inner {
inline void nested_function() {}
struct nested_struct {
    int v = 0;
};
}  // namespace inner

namespace nested_ns::deeper_detail_free {}

namespace nested_ns {
inline int deep_variable = 3;
}

using std::string;  // a using-declaration brings a name in...
using imported = std::string;

namespace detail {
struct hidden {};
inline void hidden_function() {}
}  // namespace detail

namespace {
struct anonymous_hidden {};
}

FIXTURE_MACRO(y);
struct after_macro_body {};

DUALRERANK_NAMESPACE_END
