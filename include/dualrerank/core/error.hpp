// Typed exceptions thrown at the API boundary and by the loaders.
//
// The hot path (layer forward/backward) never throws; it checks shapes in debug builds only.
// Everything a user hands in (features, shapes, files, checkpoints) is validated first and a
// failure is one of these exceptions, with a message naming the argument, tensor or offset.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Base of every exception the library throws on purpose.
struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Bad input at an API boundary: wrong shapes, N = 0, L > N, NaN/Inf features, ...
struct input_error : error {
    using error::error;
};

/// A malformed, truncated, adversarial or mismatched file (safetensors, checkpoint, LETOR).
struct format_error : error {
    using error::error;
};

/// Training cannot go on (too many non-finite steps in a row, mismatched checkpoint).
struct training_error : error {
    using error::error;
};

namespace detail {

/// `s` with every control byte (0x00-0x1F, 0x7F) written as \xNN, so text from a file (a LETOR
/// token, a path, a JSON string) cannot drive a terminal through an error message. Every message
/// the library throws goes through it (throw_input / throw_format); the CLI applies it again to
/// whatever it prints.
inline std::string printable(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (const char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

[[noreturn]] inline void throw_input(const std::string& what) { throw input_error("dualrerank: " + printable(what)); }
[[noreturn]] inline void throw_format(const std::string& what) { throw format_error("dualrerank: " + printable(what)); }

inline void require_input(bool ok, const char* what) {
    if (!ok) throw_input(what);
}

/// a * b with an overflow check against `limit` (throws format_error naming `what`).
inline std::size_t checked_mul(std::size_t a, std::size_t b, std::size_t limit, const std::string& what) {
    if (a != 0 && b > limit / a) throw_format(what + ": size overflows the limit");
    return a * b;
}

}  // namespace detail

DUALRERANK_NAMESPACE_END
