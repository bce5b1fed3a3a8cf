// A small, strict JSON value type with a parser and a serializer.
//
// Enough for the safetensors header and for model configs, written for hostile input:
// - RFC 8259 grammar only (no comments, no trailing commas, no NaN/Infinity, no BOM, no leading
//   zeros, no '+' signs); strings must be valid UTF-8 and may not hold raw control characters;
//   \uXXXX escapes (with surrogate pairs) become UTF-8, lone surrogates are rejected.
// - Integers without fraction or exponent are kept exactly: int64 when they fit, else uint64 when
//   they fit, else double. "1.0" and "1e3" are floating-point values.
// - Objects keep insertion order; duplicate keys are an error in strict mode (the default).
// - Limits on nesting depth, input size and value count (json_parse_options), so the parser's
//   stack and memory are bounded by the options, not by the input.
// - Errors are dualrerank::format_error naming the line, column and byte offset.
// - Accessors (at, as_int, as_string, ...) throw format_error naming the value's path in its
//   tree, e.g. `json $.model["layer.0"].d: expected an integer, got a string`.
// - dump() writes compact (or indented) JSON; doubles use the shortest round-trip form and always
//   read back as doubles ("1.0", not "1").
//
// Values know their parent (for error paths). The tree maintains this itself; do not keep
// references to elements across push_back/operator[] on the same container (like std::vector).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
#if !defined(__cpp_lib_to_chars)
#include <locale>
#include <sstream>
#endif

#include "../core/error.hpp"
#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace io {

/// The kind of a JSON value; integers are split by the C++ type that holds them exactly.
enum class json_type { null, boolean, integer, unsigned_integer, floating, string, array, object };

inline const char* json_type_name(json_type t) noexcept {
    switch (t) {
        case json_type::null: return "null";
        case json_type::boolean: return "a boolean";
        case json_type::integer: return "an integer";
        case json_type::unsigned_integer: return "an unsigned integer";
        case json_type::floating: return "a floating-point number";
        case json_type::string: return "a string";
        case json_type::array: return "an array";
        case json_type::object: return "an object";
    }
    return "?";
}

struct json_parse_options {
    /// Hard cap on max_depth: the parser recurses once per level (a few hundred bytes of stack
    /// each), so 1,024 levels stay far inside any thread's stack. A larger max_depth is an
    /// input_error before anything is parsed.
    static constexpr std::size_t max_depth_cap = 1024;
    std::size_t max_depth = 64;           ///< nested arrays/objects (the root container is depth 1)
    std::size_t max_bytes = 64u << 20;    ///< input size in bytes
    std::size_t max_values = 1u << 22;    ///< values in the document (containers, scalars, members)
    bool reject_duplicate_keys = true;    ///< strict; if false, the last value wins at the first key's place
};

class json;

namespace detail {

using ::dualrerank::detail::throw_format;
using ::dualrerank::detail::throw_input;

class json_parser;

/// Length of the valid UTF-8 sequence starting at p (1..4), or 0 if it is invalid or truncated.
/// RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
inline std::size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) noexcept {
    const unsigned c = p[0];
    if (c < 0x80) return 1;
    auto cont = [&](std::size_t i) { return p + i < end && (p[i] & 0xC0u) == 0x80u; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (p + 1 >= end) return 0;
        const unsigned c1 = p[1];
        if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
        if (c == 0xED && c1 > 0x9F) return 0;  // surrogate
        return cont(1) && cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (p + 1 >= end) return 0;
        const unsigned c1 = p[1];
        if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
        if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

inline bool is_valid_utf8(std::string_view s) noexcept {
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    auto end = p + s.size();
    while (p < end) {
        std::size_t n = utf8_sequence_length(p, end);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

/// Append s to out as a JSON string literal (quotes included). Returns false (and stops) on
/// invalid UTF-8.
inline bool append_json_string(std::string& out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    out.push_back('"');
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    auto end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c >= 0x80) {
            std::size_t n = utf8_sequence_length(p, end);
            if (n == 0) return false;
            out.append(reinterpret_cast<const char*>(p), n);
            p += n;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
        ++p;
    }
    out.push_back('"');
    return true;
}

/// A name for an error message: JSON-quoted (so control bytes and invalid UTF-8 are visible) and
/// cut after `max_chars` input bytes.
inline std::string quote_for_message(std::string_view s, std::size_t max_chars = 120) {
    std::string out;
    bool cut = s.size() > max_chars;
    if (cut) s = s.substr(0, max_chars);
    out.push_back('"');
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    auto end = p + s.size();
    static const char hex[] = "0123456789abcdef";
    while (p < end) {
        const unsigned char c = *p;
        std::size_t n = c >= 0x80 ? utf8_sequence_length(p, end) : 1;
        if (c < 0x20 || c == 0x7F || c == '"' || c == '\\' || n == 0) {
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
            ++p;
        } else {
            out.append(reinterpret_cast<const char*>(p), n);
            p += n;
        }
    }
    out.push_back('"');
    if (cut) out += "...";
    return out;
}

/// Shortest text that reads back as the same double, always with a '.' or an exponent so it
/// reads back as floating point. Requires a finite value.
inline void append_double(std::string& out, double d) {
    char buf[64];
#if defined(__cpp_lib_to_chars)
    auto r = std::to_chars(buf, buf + sizeof(buf), d);
    std::size_t n = static_cast<std::size_t>(r.ptr - buf);
#else
    // Shortest of %.15g, %.16g, %.17g that reads back exactly (%.17g always does).
    std::size_t n = 0;
    for (int prec = 15; prec <= 17; ++prec) {
        const int len = std::snprintf(buf, sizeof(buf), "%.*g", prec, d);
        n = len > 0 ? static_cast<std::size_t>(len) : 0;
        for (std::size_t i = 0; i < n; ++i)
            if (buf[i] == ',') buf[i] = '.';  // a locale with a decimal comma
        std::istringstream in(std::string(buf, n));
        in.imbue(std::locale::classic());
        double back = 0;
        in >> back;
        if (!in.fail() && back == d) break;
    }
#endif
    std::string_view s(buf, n);
    out.append(s);
    if (s.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

}  // namespace detail

class json {
public:
    using array_t = std::vector<json>;
    using member_t = std::pair<std::string, json>;
    using object_t = std::vector<member_t>;

    // ---- construction -------------------------------------------------------------------
    json() noexcept = default;
    json(std::nullptr_t) noexcept {}
    json(bool b) noexcept : v_(b) {}
    template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
    json(I i) noexcept {
        if constexpr (std::is_signed_v<I>) {
            v_ = static_cast<std::int64_t>(i);
        } else {
            if (static_cast<std::uint64_t>(i) <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                v_ = static_cast<std::int64_t>(i);
            else
                v_ = static_cast<std::uint64_t>(i);
        }
    }
    json(double d) noexcept : v_(d) {}
    json(const char* s) : v_(std::string(s)) {}
    json(std::string s) noexcept : v_(std::move(s)) {}
    json(std::string_view s) : v_(std::string(s)) {}
    json(array_t a) : v_(std::move(a)) { adopt(); }
    /// Throws input_error on duplicate keys (an object's keys are unique).
    json(object_t o) : v_(std::move(o)) {
        check_unique_keys();
        adopt();
    }
    static json array() { return json(array_t{}); }
    static json object() { return json(object_t{}); }

    json(const json& o) : v_(o.v_) { adopt(); }
    json(json&& o) noexcept : v_(std::move(o.v_)) { adopt(); }
    json& operator=(const json& o) {
        if (this != &o) {
            json tmp(o);  // o may live inside *this
            v_ = std::move(tmp.v_);
            adopt();
        }
        return *this;
    }
    json& operator=(json&& o) noexcept {
        if (this != &o) {
            value_t tmp(std::move(o.v_));  // o may live inside *this
            v_ = std::move(tmp);
            adopt();
        }
        return *this;
    }
    ~json() = default;

    // ---- type queries --------------------------------------------------------------------
    json_type type() const noexcept { return static_cast<json_type>(v_.index()); }
    bool is_null() const noexcept { return type() == json_type::null; }
    bool is_bool() const noexcept { return type() == json_type::boolean; }
    /// int64 or uint64
    bool is_integer() const noexcept { return type() == json_type::integer || type() == json_type::unsigned_integer; }
    bool is_floating() const noexcept { return type() == json_type::floating; }
    bool is_number() const noexcept { return is_integer() || is_floating(); }
    bool is_string() const noexcept { return type() == json_type::string; }
    bool is_array() const noexcept { return type() == json_type::array; }
    bool is_object() const noexcept { return type() == json_type::object; }

    // ---- accessors (throw format_error naming path()) --------------------------------------
    bool as_bool() const {
        if (auto b = std::get_if<bool>(&v_)) return *b;
        fail_type("a boolean");
    }
    /// An integer that fits in int64 (floating-point values are rejected, even 1.0).
    std::int64_t as_int() const {
        if (auto i = std::get_if<std::int64_t>(&v_)) return *i;
        if (auto u = std::get_if<std::uint64_t>(&v_)) fail("integer " + std::to_string(*u) + " does not fit in int64");
        fail_type("an integer");
    }
    /// A non-negative integer.
    std::uint64_t as_uint() const {
        if (auto i = std::get_if<std::int64_t>(&v_)) {
            if (*i < 0) fail("expected a non-negative integer, got " + std::to_string(*i));
            return static_cast<std::uint64_t>(*i);
        }
        if (auto u = std::get_if<std::uint64_t>(&v_)) return *u;
        fail_type("a non-negative integer");
    }
    std::size_t as_size() const {
        std::uint64_t u = as_uint();
        if (u > std::numeric_limits<std::size_t>::max()) fail("integer " + std::to_string(u) + " does not fit in size_t");
        return static_cast<std::size_t>(u);
    }
    /// Any number (integers are converted, large ones rounded to the nearest double).
    double as_double() const {
        if (auto d = std::get_if<double>(&v_)) return *d;
        if (auto i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
        if (auto u = std::get_if<std::uint64_t>(&v_)) return static_cast<double>(*u);
        fail_type("a number");
    }
    const std::string& as_string() const {
        if (auto s = std::get_if<std::string>(&v_)) return *s;
        fail_type("a string");
    }
    const array_t& as_array() const {
        if (auto a = std::get_if<array_t>(&v_)) return *a;
        fail_type("an array");
    }
    /// Members in insertion order.
    const object_t& as_object() const {
        if (auto o = std::get_if<object_t>(&v_)) return *o;
        fail_type("an object");
    }
    /// Elements of an array or members of an object.
    std::size_t size() const {
        if (auto a = std::get_if<array_t>(&v_)) return a->size();
        if (auto o = std::get_if<object_t>(&v_)) return o->size();
        fail_type("an array or an object");
    }
    /// Array element (any integer type; a template so that at(0) does not mean at(nullptr key)).
    template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
    const json& at(I i) const {
        const array_t& a = as_array();
        bool negative = false;
        if constexpr (std::is_signed_v<I>) negative = i < 0;
        if (negative || static_cast<std::uint64_t>(i) >= a.size())
            fail("index " + std::to_string(i) + " out of range (size " + std::to_string(a.size()) + ")");
        return a[static_cast<std::size_t>(i)];
    }
    const json& at(std::string_view key) const {
        const json* v = find(key);
        if (!v) fail("missing key " + detail::quote_for_message(key));
        return *v;
    }
    const json& at(const char* key) const { return at(std::string_view(key)); }
    /// nullptr if the key is absent (throws if this is not an object). Linear in the member count.
    const json* find(std::string_view key) const {
        for (const member_t& m : as_object())
            if (m.first == key) return &m.second;
        return nullptr;
    }
    bool contains(std::string_view key) const { return find(key) != nullptr; }

    // ---- building ------------------------------------------------------------------------
    /// The member `key`, inserted as null if absent; a null value becomes an empty object first.
    json& operator[](std::string_view key) {
        if (is_null()) v_ = object_t{};
        auto* o = std::get_if<object_t>(&v_);
        if (!o) fail_type("an object");
        for (member_t& m : *o)
            if (m.first == key) return m.second;
        const member_t* old = o->data();
        o->emplace_back(std::string(key), json());
        if (o->data() != old)
            adopt();
        else
            o->back().second.parent_ = this;
        return o->back().second;
    }
    json& operator[](const char* key) { return (*this)[std::string_view(key)]; }
    /// No integer subscript (j[0] would otherwise mean j[(const char*)nullptr]); use at(i).
    template <class I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
    json& operator[](I) = delete;
    /// Append to an array; a null value becomes an empty array first.
    void push_back(json v) {
        if (is_null()) v_ = array_t{};
        auto* a = std::get_if<array_t>(&v_);
        if (!a) fail_type("an array");
        const json* old = a->data();
        a->push_back(std::move(v));
        if (a->data() != old)
            adopt();
        else
            a->back().parent_ = this;
    }
    /// Remove a member; returns whether it was there.
    bool erase(std::string_view key) {
        auto* o = std::get_if<object_t>(&v_);
        if (!o) fail_type("an object");
        for (auto it = o->begin(); it != o->end(); ++it) {
            if (it->first == key) {
                o->erase(it);
                return true;
            }
        }
        return false;
    }

    // ---- location ------------------------------------------------------------------------
    /// Where this value sits in its tree: "$" for the root, then `.key` (identifier-like keys),
    /// `["key"]` (other keys) and `[i]` (array elements). A copy is a new root.
    std::string path() const {
        std::vector<std::string> parts;
        const json* n = this;
        while (n->parent_ && parts.size() < 4096) {
            const json* p = n->parent_;
            std::string part = "[?]";
            if (auto a = std::get_if<array_t>(&p->v_)) {
                for (std::size_t i = 0; i < a->size(); ++i)
                    if (&(*a)[i] == n) part = "[" + std::to_string(i) + "]";
            } else if (auto o = std::get_if<object_t>(&p->v_)) {
                for (const member_t& m : *o)
                    if (&m.second == n) part = key_part(m.first);
            }
            parts.push_back(std::move(part));
            n = p;
        }
        std::string out = "$";
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += *it;
        return out;
    }

    // ---- text ----------------------------------------------------------------------------
    /// Compact JSON (indent < 0) or pretty-printed with `indent` spaces per level. Throws
    /// input_error for a non-finite double or a string that is not valid UTF-8.
    std::string dump(int indent = -1) const {
        std::string out;
        dump_to(out, indent, 0);
        return out;
    }

    /// Parse a complete JSON text (throws format_error with the position on any defect).
    static json parse(std::string_view text, const json_parse_options& options = {});

    // ---- comparison ----------------------------------------------------------------------
    /// Structural equality: integers compare by value across int64/uint64; an integer never
    /// equals a floating-point value; objects compare as unordered maps.
    friend bool operator==(const json& a, const json& b) {
        if (a.is_integer() && b.is_integer()) {
            auto ai = std::get_if<std::int64_t>(&a.v_);
            auto bi = std::get_if<std::int64_t>(&b.v_);
            if (ai && bi) return *ai == *bi;
            if (!ai && !bi) return std::get<std::uint64_t>(a.v_) == std::get<std::uint64_t>(b.v_);
            return false;  // uint64 values are > INT64_MAX by construction
        }
        if (a.type() != b.type()) return false;
        switch (a.type()) {
            case json_type::null: return true;
            case json_type::boolean: return std::get<bool>(a.v_) == std::get<bool>(b.v_);
            case json_type::floating: return std::get<double>(a.v_) == std::get<double>(b.v_);
            case json_type::string: return std::get<std::string>(a.v_) == std::get<std::string>(b.v_);
            case json_type::array: return std::get<array_t>(a.v_) == std::get<array_t>(b.v_);
            case json_type::object: {
                const object_t& oa = std::get<object_t>(a.v_);
                if (oa.size() != std::get<object_t>(b.v_).size()) return false;
                for (const member_t& m : oa) {
                    const json* other = b.find(m.first);
                    if (!other || !(m.second == *other)) return false;
                }
                return true;
            }
            default: return false;
        }
    }
    friend bool operator!=(const json& a, const json& b) { return !(a == b); }

private:
    friend class detail::json_parser;
    using value_t = std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string, array_t, object_t>;

    value_t v_;
    json* parent_ = nullptr;  ///< the container holding this value, or null for a root

    /// Point the direct children back at this node (after any move of the container or of this).
    void adopt() noexcept {
        if (auto a = std::get_if<array_t>(&v_)) {
            for (json& c : *a) c.parent_ = this;
        } else if (auto o = std::get_if<object_t>(&v_)) {
            for (member_t& m : *o) m.second.parent_ = this;
        }
    }

    void check_unique_keys() const {
        const object_t& o = std::get<object_t>(v_);
        std::vector<const std::string*> keys;
        keys.reserve(o.size());
        for (const member_t& m : o) keys.push_back(&m.first);
        std::sort(keys.begin(), keys.end(), [](const std::string* x, const std::string* y) { return *x < *y; });
        for (std::size_t i = 1; i < keys.size(); ++i)
            if (*keys[i] == *keys[i - 1]) detail::throw_input("json: duplicate key " + detail::quote_for_message(*keys[i]));
    }

    static std::string key_part(const std::string& k) {
        bool ident = !k.empty() && k.size() <= 120;
        for (std::size_t i = 0; ident && i < k.size(); ++i) {
            const char c = k[i];
            ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        }
        return ident ? "." + k : "[" + detail::quote_for_message(k) + "]";
    }

    [[noreturn]] void fail(const std::string& what) const { detail::throw_format("json " + path() + ": " + what); }
    [[noreturn]] void fail_type(const char* expected) const {
        fail(std::string("expected ") + expected + ", got " + json_type_name(type()));
    }

    void dump_to(std::string& out, int indent, int level) const {
        auto newline = [&](int lvl) {
            if (indent < 0) return;
            out.push_back('\n');
            out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
        };
        switch (type()) {
            case json_type::null: out += "null"; break;
            case json_type::boolean: out += std::get<bool>(v_) ? "true" : "false"; break;
            case json_type::integer: out += std::to_string(std::get<std::int64_t>(v_)); break;
            case json_type::unsigned_integer: out += std::to_string(std::get<std::uint64_t>(v_)); break;
            case json_type::floating: {
                const double d = std::get<double>(v_);
                if (!(d - d == 0)) detail::throw_input("json " + path() + ": cannot serialize a non-finite number");
                detail::append_double(out, d);
                break;
            }
            case json_type::string:
                if (!detail::append_json_string(out, std::get<std::string>(v_)))
                    detail::throw_input("json " + path() + ": string is not valid UTF-8");
                break;
            case json_type::array: {
                const array_t& a = std::get<array_t>(v_);
                out.push_back('[');
                for (std::size_t i = 0; i < a.size(); ++i) {
                    if (i) out.push_back(',');
                    newline(level + 1);
                    a[i].dump_to(out, indent, level + 1);
                }
                if (!a.empty()) newline(level);
                out.push_back(']');
                break;
            }
            case json_type::object: {
                const object_t& o = std::get<object_t>(v_);
                out.push_back('{');
                for (std::size_t i = 0; i < o.size(); ++i) {
                    if (i) out.push_back(',');
                    newline(level + 1);
                    if (!detail::append_json_string(out, o[i].first))
                        detail::throw_input("json " + path() + ": key is not valid UTF-8");
                    out.push_back(':');
                    if (indent >= 0) out.push_back(' ');
                    o[i].second.dump_to(out, indent, level + 1);
                }
                if (!o.empty()) newline(level);
                out.push_back('}');
                break;
            }
        }
    }
};

namespace detail {

/// Recursive-descent parser; recursion depth is bounded by options.max_depth.
class json_parser {
public:
    json_parser(std::string_view text, const json_parse_options& opt)
        : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), opt_(opt) {}

    json parse_document() {
        if (opt_.max_depth > json_parse_options::max_depth_cap)
            throw_input("json_parse_options::max_depth = " + std::to_string(opt_.max_depth) +
                        " exceeds json_parse_options::max_depth_cap = " + std::to_string(json_parse_options::max_depth_cap) +
                        " (the parser's recursion is bounded by it)");
        if (static_cast<std::size_t>(end_ - begin_) > opt_.max_bytes)
            fail_at(begin_, "input of " + std::to_string(end_ - begin_) + " bytes exceeds the limit of " +
                                std::to_string(opt_.max_bytes) + " bytes");
        skip_ws();
        json v = parse_value(0);
        skip_ws();
        if (p_ != end_) fail("unexpected characters after the JSON value");
        return v;
    }

private:
    const char* begin_;
    const char* p_;
    const char* end_;
    const json_parse_options& opt_;
    std::size_t values_ = 0;

    [[noreturn]] void fail_at(const char* where, const std::string& what) const {
        std::size_t line = 1, col = 1;
        for (const char* q = begin_; q < where; ++q) {
            if (*q == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        throw_format("json: " + what + " at line " + std::to_string(line) + ", column " + std::to_string(col) +
                     " (byte " + std::to_string(where - begin_) + ")");
    }
    [[noreturn]] void fail(const std::string& what) const { fail_at(p_, what); }

    static std::string describe(char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x21 && u < 0x7F) return std::string("'") + c + "'";
        char buf[8];
        std::snprintf(buf, sizeof(buf), "0x%02X", u);
        return std::string("byte ") + buf;
    }

    void skip_ws() noexcept {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }

    json parse_value(std::size_t depth) {
        if (p_ == end_) fail("unexpected end of input, expected a value");
        if (++values_ > opt_.max_values)
            fail("more than " + std::to_string(opt_.max_values) + " values in the document");
        switch (*p_) {
            case '{': return parse_object(depth + 1);
            case '[': return parse_array(depth + 1);
            case '"': return json(parse_string());
            case 't': return parse_literal("true", json(true));
            case 'f': return parse_literal("false", json(false));
            case 'n': return parse_literal("null", json());
            default:
                if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return parse_number();
                fail("unexpected " + describe(*p_) + ", expected a value");
        }
    }

    json parse_literal(std::string_view word, json value) {
        if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
            fail("invalid literal (expected " + std::string(word) + ")");
        p_ += word.size();
        return value;
    }

    void enter(std::size_t depth) const {
        if (depth > opt_.max_depth) fail("nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
    }

    json parse_array(std::size_t depth) {
        enter(depth);
        ++p_;  // '['
        json::array_t items;
        skip_ws();
        if (p_ != end_ && *p_ == ']') {
            ++p_;
            return json(std::move(items));
        }
        for (;;) {
            skip_ws();
            items.push_back(parse_value(depth));
            skip_ws();
            if (p_ == end_) fail("unexpected end of input in an array, expected ',' or ']'");
            if (*p_ == ',') {
                ++p_;
                continue;
            }
            if (*p_ == ']') {
                ++p_;
                break;
            }
            fail("unexpected " + describe(*p_) + " in an array, expected ',' or ']'");
        }
        return json(std::move(items));
    }

    json parse_object(std::size_t depth) {
        enter(depth);
        ++p_;  // '{'
        json::object_t members;
        std::vector<const char*> key_pos;
        skip_ws();
        if (p_ != end_ && *p_ == '}') {
            ++p_;
        } else {
            for (;;) {
                skip_ws();
                if (p_ == end_) fail("unexpected end of input in an object, expected a key");
                if (*p_ != '"') fail("unexpected " + describe(*p_) + " in an object, expected a string key");
                key_pos.push_back(p_);
                std::string key = parse_string();
                skip_ws();
                if (p_ == end_ || *p_ != ':') fail("expected ':' after an object key");
                ++p_;
                skip_ws();
                json value = parse_value(depth);
                members.emplace_back(std::move(key), std::move(value));
                skip_ws();
                if (p_ == end_) fail("unexpected end of input in an object, expected ',' or '}'");
                if (*p_ == ',') {
                    ++p_;
                    continue;
                }
                if (*p_ == '}') {
                    ++p_;
                    break;
                }
                fail("unexpected " + describe(*p_) + " in an object, expected ',' or '}'");
            }
        }
        resolve_duplicates(members, key_pos);
        json out;
        out.v_ = std::move(members);
        out.adopt();
        return out;
    }

    /// O(n log n) duplicate detection; in lenient mode the last value moves to the first key's place.
    void resolve_duplicates(json::object_t& members, const std::vector<const char*>& key_pos) const {
        if (members.size() < 2) return;
        std::vector<std::size_t> idx(members.size());
        for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::stable_sort(idx.begin(), idx.end(),
                         [&](std::size_t a, std::size_t b) { return members[a].first < members[b].first; });
        std::vector<bool> drop;
        for (std::size_t i = 1; i < idx.size(); ++i) {
            if (members[idx[i]].first != members[idx[i - 1]].first) continue;
            if (opt_.reject_duplicate_keys) {
                std::size_t later = std::max(idx[i], idx[i - 1]);
                fail_at(key_pos[later], "duplicate key " + quote_for_message(members[later].first));
            }
            if (drop.empty()) drop.assign(members.size(), false);
            // idx is stable: idx[i-1] < idx[i]; find the group's first index
            std::size_t j = i;
            while (j > 0 && members[idx[j - 1]].first == members[idx[i]].first) --j;
            members[idx[j]].second = std::move(members[idx[i]].second);
            drop[idx[i]] = true;
        }
        if (drop.empty()) return;
        json::object_t kept;
        kept.reserve(members.size());
        for (std::size_t i = 0; i < members.size(); ++i)
            if (!drop[i]) kept.push_back(std::move(members[i]));
        members = std::move(kept);
    }

    static int hex_value(char c) noexcept {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    unsigned parse_hex4() {
        if (end_ - p_ < 4) fail("truncated \\u escape");
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hex_value(p_[i]);
            if (h < 0) fail("invalid hex digit in a \\u escape");
            v = v * 16 + static_cast<unsigned>(h);
        }
        p_ += 4;
        return v;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    std::string parse_string() {
        const char* start = p_;
        ++p_;  // opening quote
        std::string out;
        for (;;) {
            const char* run = p_;
            while (p_ != end_) {
                const auto c = static_cast<unsigned char>(*p_);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++p_;
            }
            out.append(run, static_cast<std::size_t>(p_ - run));
            if (p_ == end_) fail_at(start, "unterminated string");
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                ++p_;
                return out;
            }
            if (c < 0x20) fail("unescaped control character " + describe(*p_) + " in a string");
            if (c >= 0x80) {
                auto up = reinterpret_cast<const unsigned char*>(p_);
                std::size_t n = utf8_sequence_length(up, reinterpret_cast<const unsigned char*>(end_));
                if (n == 0) fail("invalid UTF-8 in a string");
                out.append(p_, n);
                p_ += n;
                continue;
            }
            // backslash
            ++p_;
            if (p_ == end_) fail_at(start, "unterminated string");
            const char e = *p_++;
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    const char* esc = p_ - 2;
                    unsigned cp = parse_hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(esc, "lone low surrogate in a \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
                            fail_at(esc, "high surrogate not followed by a low surrogate");
                        p_ += 2;
                        unsigned lo = parse_hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail_at(esc, "high surrogate not followed by a low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail_at(p_ - 2, "invalid escape \\" + std::string(1, e) + " in a string");
            }
        }
    }

    json parse_number() {
        const char* start = p_;
        bool negative = false;
        if (*p_ == '-') {
            negative = true;
            ++p_;
        }
        auto digit = [&] { return p_ != end_ && *p_ >= '0' && *p_ <= '9'; };
        if (!digit()) fail_at(start, "invalid number");
        const char* int_begin = p_;
        if (*p_ == '0') {
            ++p_;
            if (digit()) fail_at(start, "invalid number (leading zero)");
        } else {
            while (digit()) ++p_;
        }
        const char* int_end = p_;
        bool integral = true;
        if (p_ != end_ && *p_ == '.') {
            ++p_;
            if (!digit()) fail_at(start, "invalid number (no digit after '.')");
            while (digit()) ++p_;
            integral = false;
        }
        long long exp10 = 0;
        if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            bool eneg = false;
            if (p_ != end_ && (*p_ == '+' || *p_ == '-')) eneg = *p_++ == '-';
            if (!digit()) fail_at(start, "invalid number (no digit in the exponent)");
            while (digit()) {
                if (exp10 < 1000000000LL) exp10 = exp10 * 10 + (*p_ - '0');
                ++p_;
            }
            if (eneg) exp10 = -exp10;
            integral = false;
        }
        if (integral) {
            std::uint64_t mag = 0;
            bool overflow = false;
            for (const char* q = int_begin; q < int_end; ++q) {
                const std::uint64_t d = static_cast<std::uint64_t>(*q - '0');
                if (mag > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
                    overflow = true;
                    break;
                }
                mag = mag * 10 + d;
            }
            if (!overflow) {
                constexpr std::uint64_t i64max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
                if (!negative) return mag <= i64max ? json(static_cast<std::int64_t>(mag)) : json(mag);
                if (mag <= i64max) return json(-static_cast<std::int64_t>(mag));
                if (mag == i64max + 1) return json(std::numeric_limits<std::int64_t>::min());
            }
            // out of the integer range: fall through to double
        }
        return json(to_double(start, p_, int_begin, int_end, exp10, negative));
    }

    double to_double(const char* first, const char* last, const char* int_begin, const char* int_end, long long exp10,
                     bool negative) const {
        double d = 0;
        bool out_of_range = false;
#if defined(__cpp_lib_to_chars)
        auto r = std::from_chars(first, last, d, std::chars_format::general);
        if (r.ec == std::errc::result_out_of_range)
            out_of_range = true;
        else if (r.ec != std::errc() || r.ptr != last)
            fail_at(first, "invalid number");
#else
        std::istringstream in(std::string(first, last));
        in.imbue(std::locale::classic());
        in >> d;
        if (in.fail()) out_of_range = true;
#endif
        if (!out_of_range) return d;
        // Underflow reads as a signed zero; overflow is an error (JSON has no infinity).
        long long magnitude = exp10;  // decimal exponent of the first significant digit, roughly
        const char* q = int_begin;
        while (q < int_end && *q == '0') ++q;
        if (q < int_end) {
            magnitude += int_end - q;
        } else {
            const char* f = int_end;
            if (f < last && *f == '.') {
                ++f;
                while (f < last && *f == '0') {
                    --magnitude;
                    ++f;
                }
            }
        }
        if (magnitude < 0) return negative ? -0.0 : 0.0;
        fail_at(first, "number out of the range of a double");
    }
};

}  // namespace detail

inline json json::parse(std::string_view text, const json_parse_options& options) {
    return detail::json_parser(text, options).parse_document();
}

}  // namespace io
DUALRERANK_NAMESPACE_END
