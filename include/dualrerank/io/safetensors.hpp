// safetensors reader and writer (https://github.com/huggingface/safetensors, format as of 0.4).
//
// Layout: 8-byte little-endian u64 N, then N bytes of JSON header, then the data region.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
// offsets into the data region) and may hold "__metadata__": {string: string}. Tensors are
// little-endian and row-major. See docs/model-format.md.
//
// The reader validates the whole header before it touches tensor data, and rejects anything the
// reference implementation rejects plus a few things it tolerates (extra fields in an entry, a
// header that does not start with '{'). Every failure is a dualrerank::format_error naming the
// tensor, offset or field. Data is read with std::memcpy / byte loads, never through a cast
// pointer, so unaligned tensors are fine. The reader works on any host byte order.
//
// The writer lists tensors in the header in the order given, lays the data out by element size
// (8-byte types first, stable), so every tensor is naturally aligned in the file, pads the header
// with spaces to a multiple of 8 bytes, and records two CRC-32s the reader verifies (the file
// proves itself): __metadata__["dualrerank.crc32"] of the data region, and
// __metadata__["dualrerank.crc32_file"] of the whole file (length field, header with its
// metadata, config and tensor table, padding, data) computed with the 8 digits of that value set
// to "00000000". The writer emits the pair compactly ("dualrerank.crc32_file":"xxxxxxxx"); the
// reader finds that byte sequence (exactly once) and checks the sum. See docs/model-format.md.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <sys/stat.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "../core/error.hpp"
#include "../version.hpp"
#include "json.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace io {

// ---------------------------------------------------------------------------------------------
// dtypes

enum class dtype { boolean, u8, i8, u16, i16, f16, bf16, u32, i32, f32, u64, i64, f64 };

/// The safetensors name ("F32", "BF16", "BOOL", ...).
inline const char* dtype_name(dtype t) noexcept {
    switch (t) {
        case dtype::boolean: return "BOOL";
        case dtype::u8: return "U8";
        case dtype::i8: return "I8";
        case dtype::u16: return "U16";
        case dtype::i16: return "I16";
        case dtype::f16: return "F16";
        case dtype::bf16: return "BF16";
        case dtype::u32: return "U32";
        case dtype::i32: return "I32";
        case dtype::f32: return "F32";
        case dtype::u64: return "U64";
        case dtype::i64: return "I64";
        case dtype::f64: return "F64";
    }
    return "?";
}

/// Bytes per element.
inline std::size_t dtype_size(dtype t) noexcept {
    switch (t) {
        case dtype::boolean:
        case dtype::u8:
        case dtype::i8: return 1;
        case dtype::u16:
        case dtype::i16:
        case dtype::f16:
        case dtype::bf16: return 2;
        case dtype::u32:
        case dtype::i32:
        case dtype::f32: return 4;
        case dtype::u64:
        case dtype::i64:
        case dtype::f64: return 8;
    }
    return 0;
}

inline bool dtype_is_floating(dtype t) noexcept {
    return t == dtype::f16 || t == dtype::bf16 || t == dtype::f32 || t == dtype::f64;
}

/// Parse a safetensors dtype name; std::nullopt for anything else (F8_*, C64, lower case, ...).
inline std::optional<dtype> dtype_from_name(std::string_view s) noexcept {
    static constexpr dtype all[] = {dtype::boolean, dtype::u8,  dtype::i8,  dtype::u16, dtype::i16,
                                    dtype::f16,     dtype::bf16, dtype::u32, dtype::i32, dtype::f32,
                                    dtype::u64,     dtype::i64, dtype::f64};
    for (dtype t : all)
        if (s == dtype_name(t)) return t;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions (IEEE binary16 and bfloat16), exact in the float -> wider direction,
// round-to-nearest-even in the narrowing direction, NaN stays NaN.

inline float f16_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t man = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);  // inf / nan
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;  // signed zero
    } else {
        // subnormal: normalize
        int e = -1;
        do {
            ++e;
            man <<= 1;
        } while ((man & 0x400u) == 0);
        bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline std::uint16_t float_to_f16(float f) noexcept {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u : 0u));
    if (ax >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
    if (ax < 0x38800000u) {
        // result is subnormal or zero: value = ax as float; half subnormal unit = 2^-24
        if (ax < 0x33000000u) return sign;  // < 2^-25: rounds to zero
        const std::uint32_t e = ax >> 23;
        const std::uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
        const std::uint32_t shift = 126 - e;  // 14..24 -> mantissa shifts to units of 2^-24
        std::uint32_t r = m >> shift;
        const std::uint32_t rem = m & ((1u << shift) - 1);
        const std::uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) ++r;
        return static_cast<std::uint16_t>(sign | r);
    }
    std::uint32_t r = ax + 0xC8000000u;  // rebias exponent: (e - 127 + 15) << 23
    r += 0xFFFu + ((r >> 13) & 1u);     // round to nearest even on the 13 dropped bits
    return static_cast<std::uint16_t>(sign | (r >> 13));
}

inline float bf16_to_float(std::uint16_t b) noexcept {
    const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline std::uint16_t float_to_bf16(float f) noexcept {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // quiet NaN
    x += 0x7FFFu + ((x >> 16) & 1u);
    return static_cast<std::uint16_t>(x >> 16);
}

// ---------------------------------------------------------------------------------------------
// Caps. A file beyond any of them is rejected with a format_error naming the cap; the writer
// refuses (input_error) to produce such a file.

struct safetensors_caps {
    static constexpr std::size_t max_header_bytes = 100'000'000;  ///< same as the reference implementation
    static constexpr std::size_t max_tensors = 65'536;
    static constexpr std::size_t max_rank = 8;
    static constexpr std::uint64_t max_dim = std::uint64_t(1) << 40;  ///< per dimension
    static constexpr std::size_t max_metadata_entries = 65'536;
};

/// Metadata key holding the CRC-32 (zlib/IEEE, 8 lowercase hex digits) of the data region.
inline constexpr const char* safetensors_crc32_key = "dualrerank.crc32";
/// Metadata key holding the CRC-32 of the whole file, its own 8 digits read as "00000000".
inline constexpr const char* safetensors_file_crc32_key = "dualrerank.crc32_file";

namespace detail {

using ::dualrerank::detail::throw_format;
using ::dualrerank::detail::throw_input;

inline bool host_is_little_endian() noexcept {
    const std::uint16_t one = 1;
    unsigned char b;
    std::memcpy(&b, &one, 1);
    return b == 1;
}

template <class U>
inline U load_le(const std::uint8_t* p) noexcept {
    static_assert(std::is_unsigned_v<U>);
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>(v | static_cast<U>(static_cast<U>(p[i]) << (8 * i)));
    return v;
}

template <class U>
inline void store_le(std::uint8_t* p, U v) noexcept {
    static_assert(std::is_unsigned_v<U>);
    for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// CRC-32 (reflected polynomial 0xEDB88320, as zlib.crc32), slice-by-8.
struct crc32_tables {
    std::uint32_t t[8][256];
    constexpr crc32_tables() : t{} {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        for (std::uint32_t i = 0; i < 256; ++i)
            for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
    }
};

inline std::uint32_t crc32_update(std::uint32_t crc, const std::uint8_t* p, std::size_t n) noexcept {
    static constexpr crc32_tables tab{};
    const auto& t = tab.t;
    crc = ~crc;
    while (n >= 8) {
        const std::uint32_t a = crc ^ load_le<std::uint32_t>(p);
        const std::uint32_t b = load_le<std::uint32_t>(p + 4);
        crc = t[7][a & 0xFF] ^ t[6][(a >> 8) & 0xFF] ^ t[5][(a >> 16) & 0xFF] ^ t[4][a >> 24] ^ t[3][b & 0xFF] ^
              t[2][(b >> 8) & 0xFF] ^ t[1][(b >> 16) & 0xFF] ^ t[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = t[0][(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

inline std::string crc32_hex(std::uint32_t c) {
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(c));
    return buf;
}

inline std::string shape_string(const std::vector<std::size_t>& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(s[i]);
    }
    return out + "]";
}

inline std::string tensor_label(std::string_view name) { return "tensor " + quote_for_message(name); }

/// Element count of a shape: exact (0 if any dimension is 0), overflow-checked against `limit`.
inline bool shape_elements(const std::vector<std::size_t>& shape, std::size_t limit, std::size_t& out) noexcept {
    for (std::size_t d : shape)
        if (d == 0) {
            out = 0;
            return true;
        }
    std::size_t n = 1;
    for (std::size_t d : shape) {
        if (n > limit / d) return false;
        n *= d;
    }
    if (n > limit) return false;
    out = n;
    return true;
}

template <class T>
inline const char* type_label() noexcept {
    if constexpr (std::is_same_v<T, bool>) return "bool";
    else if constexpr (std::is_same_v<T, float>) return "float";
    else if constexpr (std::is_same_v<T, double>) return "double";
    else if constexpr (std::is_signed_v<T>) {
        switch (sizeof(T)) {
            case 1: return "int8";
            case 2: return "int16";
            case 4: return "int32";
            default: return "int64";
        }
    } else {
        switch (sizeof(T)) {
            case 1: return "uint8";
            case 2: return "uint16";
            case 4: return "uint32";
            default: return "uint64";
        }
    }
}

/// Decode element i of an integer dtype into a widened signed or unsigned value.
struct wide_int {
    bool negative;
    std::uint64_t magnitude_or_value;  // value if !negative, else -(value) as unsigned
};

inline wide_int load_int(dtype t, const std::uint8_t* p) noexcept {
    auto from_signed = [](std::int64_t v) {
        return v < 0 ? wide_int{true, static_cast<std::uint64_t>(-(v + 1)) + 1u} : wide_int{false, static_cast<std::uint64_t>(v)};
    };
    switch (t) {
        case dtype::boolean:
        case dtype::u8: return {false, p[0]};
        case dtype::i8: return from_signed(static_cast<std::int8_t>(p[0]));
        case dtype::u16: return {false, load_le<std::uint16_t>(p)};
        case dtype::i16: return from_signed(static_cast<std::int16_t>(load_le<std::uint16_t>(p)));
        case dtype::u32: return {false, load_le<std::uint32_t>(p)};
        case dtype::i32: return from_signed(static_cast<std::int32_t>(load_le<std::uint32_t>(p)));
        case dtype::u64: return {false, load_le<std::uint64_t>(p)};
        case dtype::i64: return from_signed(static_cast<std::int64_t>(load_le<std::uint64_t>(p)));
        default: return {false, 0};
    }
}

inline std::string wide_int_string(wide_int w) { return (w.negative ? "-" : "") + std::to_string(w.magnitude_or_value); }

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Reading

struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::size_t> shape;  ///< empty for a scalar (one element)
    std::size_t begin = 0;           ///< byte offsets into the data region (after the header)
    std::size_t end = 0;
    std::size_t elements() const noexcept {
        std::size_t n = 1;
        for (std::size_t d : shape) n *= d;  // validated at load: cannot overflow
        return n;
    }
    std::size_t bytes() const noexcept { return end - begin; }
};

struct safetensors_read_options {
    /// If __metadata__ holds "dualrerank.crc32" ("dualrerank.crc32_file"), check it against the
    /// data region (the whole file).
    bool verify_checksum = true;
};

namespace detail {

/// Where the 8 digits of "dualrerank.crc32_file" sit in a file's bytes (searched within the
/// header [8, header_end)); npos unless the compact pair occurs exactly once.
inline std::size_t file_crc_digits_pos(const std::uint8_t* bytes, std::size_t header_end) {
    const std::string pat = std::string("\"") + safetensors_file_crc32_key + "\":\"";
    if (header_end < 8 + pat.size() + 9) return std::string::npos;
    const char* b = reinterpret_cast<const char*>(bytes);
    const std::string_view h(b + 8, header_end - 8);
    const std::size_t at = h.find(pat);
    if (at == std::string_view::npos || h.find(pat, at + 1) != std::string_view::npos) return std::string::npos;
    const std::size_t digits = 8 + at + pat.size();
    if (digits + 9 > header_end || b[digits + 8] != '"') return std::string::npos;
    return digits;
}

/// CRC-32 of the whole file with the 8 bytes at `digits` read as '0'.
inline std::uint32_t file_crc(const std::uint8_t* bytes, std::size_t size, std::size_t digits) noexcept {
    static const std::uint8_t zeros[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
    std::uint32_t c = crc32_update(0, bytes, digits);
    c = crc32_update(c, zeros, 8);
    return crc32_update(c, bytes + digits + 8, size - digits - 8);
}

}  // namespace detail

class safetensors_file {
public:
    /// Takes ownership of the bytes of a whole file.
    static safetensors_file from_bytes(std::vector<std::uint8_t> bytes, const safetensors_read_options& opt = {}) {
        safetensors_file f;
        f.bytes_ = std::move(bytes);
        f.parse(opt);
        return f;
    }
    static safetensors_file from_bytes(const void* data, std::size_t size, const safetensors_read_options& opt = {}) {
        if (!data && size) detail::throw_input("safetensors: null data pointer with a non-zero size");
        auto p = static_cast<const std::uint8_t*>(data);
        return from_bytes(std::vector<std::uint8_t>(p, p + size), opt);
    }
    /// Reads the whole file (format_error if it cannot be read, or changes size while being read).
    static safetensors_file from_file(const std::string& path, const safetensors_read_options& opt = {}) {
        safetensors_file f;
        f.bytes_ = read_whole_file(path);
        f.source_ = path;
        f.parse(opt);
        return f;
    }

    /// __metadata__ (sorted by key; empty if absent).
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    /// In header order.
    const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
    /// nullptr if absent.
    const tensor_info* find(std::string_view name) const {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    /// format_error if absent.
    const tensor_info& at(std::string_view name) const {
        const tensor_info* t = find(name);
        if (!t) fail("no " + detail::tensor_label(name));
        return *t;
    }
    /// N, the JSON header's length in bytes (padding included).
    std::size_t header_bytes() const noexcept { return header_bytes_; }
    /// Size of the data region in bytes.
    std::size_t data_bytes() const noexcept { return bytes_.size() - data_start_; }
    /// True when the whole-file CRC-32 ("dualrerank.crc32_file") was present and checked.
    bool file_checksum_verified() const noexcept { return file_checksum_verified_; }
    /// The raw little-endian bytes of a tensor of this file (t.bytes() of them; any alignment).
    const std::uint8_t* raw(const tensor_info& t) const noexcept { return bytes_.data() + data_start_ + t.begin; }

    /// Copy tensor `name` into out[0 .. elements), converting to T.
    /// - T float/double: from F16, BF16, F32, F64 (F64 -> float rounds).
    /// - T an integer type: from any integer dtype or BOOL; every value must fit in T.
    /// - T bool: from BOOL only; every byte must be 0 or 1.
    /// The stored shape must equal expected_shape exactly, else format_error naming the tensor and
    /// both shapes. Nothing is written to out when an error is thrown.
    template <class T>
    void read(std::string_view name, const std::vector<std::size_t>& expected_shape, T* out) const {
        static_assert(std::is_arithmetic_v<T>, "safetensors_file::read: T must be an arithmetic type");
        const tensor_info& t = at(name);
        if (t.shape != expected_shape)
            fail(detail::tensor_label(name) + " has shape " + detail::shape_string(t.shape) + ", expected " +
                 detail::shape_string(expected_shape));
        const std::size_t n = t.elements();
        if (n && !out) detail::throw_input("safetensors: null output pointer for " + detail::tensor_label(name));
        const std::uint8_t* src = raw(t);
        if constexpr (std::is_floating_point_v<T>) {
            read_floating(t, src, n, out);
        } else if constexpr (std::is_same_v<T, bool>) {
            if (t.type != dtype::boolean) fail_dtype<T>(t);
            for (std::size_t i = 0; i < n; ++i)
                if (src[i] > 1)
                    fail(detail::tensor_label(t.name) + ": BOOL element " + std::to_string(i) + " has byte value " +
                         std::to_string(src[i]) + " (must be 0 or 1)");
            for (std::size_t i = 0; i < n; ++i) out[i] = src[i] != 0;
        } else {
            read_integer(t, src, n, out);
        }
    }
    /// Same, into a new vector.
    template <class T>
    std::vector<T> read(std::string_view name, const std::vector<std::size_t>& expected_shape) const {
        static_assert(!std::is_same_v<T, bool>, "use read<bool>(name, shape, out) with your own buffer");
        const tensor_info& t = at(name);
        std::vector<T> v(t.shape == expected_shape ? t.elements() : 0);
        read<T>(name, expected_shape, v.data());
        return v;
    }

private:
    std::vector<std::uint8_t> bytes_;
    std::string source_;  ///< file path, for messages
    std::size_t header_bytes_ = 0;
    std::size_t data_start_ = 0;
    bool file_checksum_verified_ = false;
    std::vector<tensor_info> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;

    [[noreturn]] void fail(const std::string& what) const {
        detail::throw_format("safetensors" + (source_.empty() ? std::string() : " " + source_) + ": " + what);
    }

    template <class T>
    [[noreturn]] void fail_dtype(const tensor_info& t) const {
        fail(detail::tensor_label(t.name) + " has dtype " + dtype_name(t.type) + ", which cannot be read as " +
             detail::type_label<T>());
    }

    template <class T>
    void read_floating(const tensor_info& t, const std::uint8_t* src, std::size_t n, T* out) const {
        const bool le = detail::host_is_little_endian();
        switch (t.type) {
            case dtype::f32:
                if (std::is_same_v<T, float> && sizeof(T) == 4 && le) {
                    if (n) std::memcpy(static_cast<void*>(out), src, n * 4);
                } else {
                    for (std::size_t i = 0; i < n; ++i) {
                        const std::uint32_t b = detail::load_le<std::uint32_t>(src + 4 * i);
                        float f;
                        std::memcpy(&f, &b, 4);
                        out[i] = static_cast<T>(f);
                    }
                }
                break;
            case dtype::f64:
                if (std::is_same_v<T, double> && sizeof(T) == 8 && le) {
                    if (n) std::memcpy(static_cast<void*>(out), src, n * 8);
                } else {
                    for (std::size_t i = 0; i < n; ++i) {
                        const std::uint64_t b = detail::load_le<std::uint64_t>(src + 8 * i);
                        double d;
                        std::memcpy(&d, &b, 8);
                        out[i] = static_cast<T>(d);
                    }
                }
                break;
            case dtype::f16:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(f16_to_float(detail::load_le<std::uint16_t>(src + 2 * i)));
                break;
            case dtype::bf16:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(bf16_to_float(detail::load_le<std::uint16_t>(src + 2 * i)));
                break;
            default: fail_dtype<T>(t);
        }
    }

    template <class T>
    void read_integer(const tensor_info& t, const std::uint8_t* src, std::size_t n, T* out) const {
        if (dtype_is_floating(t.type)) fail_dtype<T>(t);
        const std::size_t es = dtype_size(t.type);
        using U = std::make_unsigned_t<T>;
        const std::uint64_t max_pos = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
        // magnitude of the most negative T (0 for unsigned T)
        const std::uint64_t max_neg =
            std::is_signed_v<T> ? static_cast<std::uint64_t>(static_cast<U>(std::numeric_limits<T>::max())) + 1u : 0u;
        for (std::size_t i = 0; i < n; ++i) {  // check all first: nothing is written on error
            const detail::wide_int w = detail::load_int(t.type, src + es * i);
            if (w.negative ? w.magnitude_or_value > max_neg : w.magnitude_or_value > max_pos)
                fail(detail::tensor_label(t.name) + ": element " + std::to_string(i) + " = " + detail::wide_int_string(w) +
                     " does not fit in " + detail::type_label<T>());
        }
        for (std::size_t i = 0; i < n; ++i) {
            const detail::wide_int w = detail::load_int(t.type, src + es * i);
            if (w.negative)  // two's complement wrap of the magnitude is the value (in range: checked)
                out[i] = static_cast<T>(static_cast<U>(~static_cast<U>(w.magnitude_or_value) + 1u));
            else
                out[i] = static_cast<T>(w.magnitude_or_value);
        }
    }

    static std::vector<std::uint8_t> read_whole_file(const std::string& path) {
        auto bad = [&](const std::string& what) { detail::throw_format("safetensors " + path + ": " + what); };
        std::error_code ec;
        const std::uintmax_t size = std::filesystem::file_size(path, ec);
        if (ec) bad("cannot read the file: " + ec.message());
        if (size > static_cast<std::uintmax_t>(std::numeric_limits<std::ptrdiff_t>::max()))
            bad("file of " + std::to_string(size) + " bytes is too large to load");
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) bad(std::string("cannot open the file: ") + std::strerror(errno));
        std::vector<std::uint8_t> bytes;
        try {
            bytes.resize(static_cast<std::size_t>(size));
        } catch (...) {
            std::fclose(f);
            throw;
        }
        std::size_t got = 0;
        while (got < bytes.size()) {
            const std::size_t r = std::fread(bytes.data() + got, 1, bytes.size() - got, f);
            if (r == 0) break;
            got += r;
        }
        const bool more = got == bytes.size() && std::fgetc(f) != EOF;
        const bool err = std::ferror(f) != 0;
        std::fclose(f);
        if (err) bad("read error");
        if (got != bytes.size() || more)
            bad("the file changed size while being read (" + std::to_string(size) + " bytes expected)");
        return bytes;
    }

    void parse(const safetensors_read_options& opt) {
        using caps = safetensors_caps;
        const std::size_t total = bytes_.size();
        if (total < 8)
            fail("file of " + std::to_string(total) + " bytes is too short: need 8 bytes for the header length");
        const std::uint64_t n = detail::load_le<std::uint64_t>(bytes_.data());
        if (n > caps::max_header_bytes) {
            // 8 printable bytes where the length should be: a text file (JSON lines, LETOR) given as a model
            bool text = true;
            for (std::size_t i = 0; i < 8; ++i) text = text && bytes_[i] >= 0x20 && bytes_[i] < 0x7f;
            fail("header length " + std::to_string(n) + " exceeds the cap of " + std::to_string(caps::max_header_bytes) +
                 " bytes" +
                 (text ? " (the file starts with the text \"" + std::string(bytes_.begin(), bytes_.begin() + 8) +
                             "\": not a safetensors model file)"
                       : std::string()));
        }
        if (n > total - 8)
            fail("header length " + std::to_string(n) + " exceeds the " + std::to_string(total - 8) +
                 " bytes after the length field");
        header_bytes_ = static_cast<std::size_t>(n);
        data_start_ = 8 + header_bytes_;
        const std::size_t data_size = total - data_start_;
        if (header_bytes_ == 0 || bytes_[8] != '{') fail("header (at byte 8) does not start with '{'");

        json_parse_options jopt;
        jopt.max_depth = 8;
        jopt.max_bytes = caps::max_header_bytes;
        jopt.max_values = caps::max_tensors * (6 + caps::max_rank) + caps::max_metadata_entries + 16;
        jopt.reject_duplicate_keys = true;
        json header;
        try {
            header = json::parse(std::string_view(reinterpret_cast<const char*>(bytes_.data() + 8), header_bytes_), jopt);
        } catch (const format_error& e) {
            fail(std::string("invalid JSON header (positions are within the header, which starts at byte 8): ") +
                 strip_prefix(e.what()));
        }
        if (!header.is_object()) fail("header is not a JSON object");

        for (const json::member_t& m : header.as_object()) {
            if (m.first == "__metadata__") {
                parse_metadata(m.second);
                continue;
            }
            if (tensors_.size() >= caps::max_tensors)
                fail("more than " + std::to_string(caps::max_tensors) + " tensors (the cap)");
            tensors_.push_back(parse_entry(m.first, m.second, data_size));
        }

        // Non-overlapping and contiguous: sorted by (begin, end), each tensor starts where the
        // previous ended, the first at 0 and the last ends at the end of the data region.
        std::vector<std::size_t> order(tensors_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            const tensor_info &x = tensors_[a], &y = tensors_[b];
            return x.begin != y.begin ? x.begin < y.begin : (x.end != y.end ? x.end < y.end : a < b);
        });
        std::size_t cursor = 0;
        const tensor_info* prev = nullptr;
        for (std::size_t i : order) {
            const tensor_info& t = tensors_[i];
            if (t.begin < cursor)
                fail(detail::tensor_label(t.name) + " (bytes " + std::to_string(t.begin) + ".." + std::to_string(t.end) +
                     ") overlaps " + detail::tensor_label(prev->name) + " (bytes " + std::to_string(prev->begin) + ".." +
                     std::to_string(prev->end) + ")");
            if (t.begin > cursor)
                fail("gap in the data region: bytes " + std::to_string(cursor) + ".." + std::to_string(t.begin) +
                     " belong to no tensor (before " + detail::tensor_label(t.name) + ")");
            cursor = t.end;
            prev = &t;
        }
        if (cursor != data_size)
            fail("the tensors cover " + std::to_string(cursor) + " bytes of the data region, which has " +
                 std::to_string(data_size) + " (bytes " + std::to_string(cursor) + ".." + std::to_string(data_size) +
                 " belong to no tensor)");

        for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);

        if (opt.verify_checksum) {
            auto it = metadata_.find(safetensors_crc32_key);
            if (it != metadata_.end()) {
                const std::string& want = it->second;
                bool ok = want.size() == 8;
                for (char c : want) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
                if (!ok) fail(std::string("__metadata__[\"") + safetensors_crc32_key + "\"] is not 8 lowercase hex digits");
                const std::string got = detail::crc32_hex(detail::crc32_update(0, bytes_.data() + data_start_, data_size));
                if (got != want)
                    fail("checksum mismatch: the data region has CRC-32 " + got + ", the header records " + want +
                         " (the file is corrupt)");
            }
            auto wf = metadata_.find(safetensors_file_crc32_key);
            if (wf != metadata_.end()) {
                const std::string& want = wf->second;
                bool ok = want.size() == 8;
                for (char c : want) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
                if (!ok)
                    fail(std::string("__metadata__[\"") + safetensors_file_crc32_key + "\"] is not 8 lowercase hex digits");
                const std::size_t pos = detail::file_crc_digits_pos(bytes_.data(), data_start_);
                if (pos == std::string::npos)
                    fail(std::string("the header does not hold \"") + safetensors_file_crc32_key +
                         "\":\"<8 digits>\" exactly once in compact form (the whole-file checksum cannot be checked)");
                const std::string got = detail::crc32_hex(detail::file_crc(bytes_.data(), bytes_.size(), pos));
                if (got != want)
                    fail("checksum mismatch: the whole file has CRC-32 " + got + ", the header records " + want +
                         " (the file is corrupt: header or data)");
                file_checksum_verified_ = true;
            }
        }
    }

    static std::string strip_prefix(const char* what) {
        std::string s = what;
        const std::string p = "dualrerank: ";
        return s.compare(0, p.size(), p) == 0 ? s.substr(p.size()) : s;
    }

    void parse_metadata(const json& m) {
        if (!m.is_object()) fail("__metadata__ must be an object of strings, got " + std::string(json_type_name(m.type())));
        if (m.size() > safetensors_caps::max_metadata_entries)
            fail("__metadata__ has " + std::to_string(m.size()) + " entries, more than the cap of " +
                 std::to_string(safetensors_caps::max_metadata_entries));
        for (const json::member_t& e : m.as_object()) {
            if (!e.second.is_string())
                fail("__metadata__[" + detail::quote_for_message(e.first) + "] must be a string, got " +
                     json_type_name(e.second.type()));
            metadata_.emplace(e.first, e.second.as_string());
        }
    }

    tensor_info parse_entry(const std::string& name, const json& e, std::size_t data_size) const {
        const std::string who = detail::tensor_label(name);
        if (!e.is_object()) fail(who + ": entry must be an object, got " + json_type_name(e.type()));
        const json *jd = nullptr, *js = nullptr, *jo = nullptr;
        for (const json::member_t& f : e.as_object()) {
            if (f.first == "dtype")
                jd = &f.second;
            else if (f.first == "shape")
                js = &f.second;
            else if (f.first == "data_offsets")
                jo = &f.second;
            else
                fail(who + ": unexpected field " + detail::quote_for_message(f.first));
        }
        if (!jd) fail(who + ": missing field \"dtype\"");
        if (!js) fail(who + ": missing field \"shape\"");
        if (!jo) fail(who + ": missing field \"data_offsets\"");

        tensor_info t;
        t.name = name;
        if (!jd->is_string()) fail(who + ": dtype must be a string, got " + json_type_name(jd->type()));
        auto dt = dtype_from_name(jd->as_string());
        if (!dt) fail(who + ": unknown or unsupported dtype " + detail::quote_for_message(jd->as_string()));
        t.type = *dt;

        if (!js->is_array()) fail(who + ": shape must be an array, got " + json_type_name(js->type()));
        if (js->size() > safetensors_caps::max_rank)
            fail(who + ": rank " + std::to_string(js->size()) + " exceeds the cap of " +
                 std::to_string(safetensors_caps::max_rank));
        for (std::size_t i = 0; i < js->size(); ++i)
            t.shape.push_back(static_cast<std::size_t>(
                non_negative(js->at(i), who + ": shape[" + std::to_string(i) + "]", safetensors_caps::max_dim,
                             "the cap on a dimension")));

        if (!jo->is_array() || jo->size() != 2)
            fail(who + ": data_offsets must be an array of two integers [begin, end]");
        const std::string region = "the size of the data region";
        const std::uint64_t b = non_negative(jo->at(0), who + ": data_offsets[0]", data_size, region);
        const std::uint64_t en = non_negative(jo->at(1), who + ": data_offsets[1]", data_size, region);
        if (en < b) fail(who + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] end before begin");
        t.begin = static_cast<std::size_t>(b);
        t.end = static_cast<std::size_t>(en);

        std::size_t elems = 0;
        if (!detail::shape_elements(t.shape, std::numeric_limits<std::size_t>::max() / dtype_size(t.type), elems))
            fail(who + ": the size of shape " + detail::shape_string(t.shape) + " overflows");
        const std::size_t need = elems * dtype_size(t.type);
        if (need != t.bytes())
            fail(who + ": shape " + detail::shape_string(t.shape) + " of " + dtype_name(t.type) + " needs " +
                 std::to_string(need) + " bytes, data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                 "] hold " + std::to_string(t.bytes()));
        return t;
    }

    /// A JSON integer in [0, limit]; names `what` and the limit (`limit_name`) on failure.
    std::uint64_t non_negative(const json& v, const std::string& what, std::uint64_t limit,
                               const std::string& limit_name) const {
        std::uint64_t u = 0;
        if (v.type() == json_type::integer) {
            const std::int64_t i = v.as_int();
            if (i < 0) fail(what + " = " + std::to_string(i) + " is negative");
            u = static_cast<std::uint64_t>(i);
        } else if (v.type() == json_type::unsigned_integer) {
            u = v.as_uint();
        } else if (v.type() == json_type::floating) {
            fail(what + " must be an integer, got the floating-point value " + json(v.as_double()).dump());
        } else {
            fail(what + " must be an integer, got " + json_type_name(v.type()));
        }
        if (u > limit) fail(what + " = " + std::to_string(u) + " exceeds " + limit_name + " (" + std::to_string(limit) + ")");
        return u;
    }
};

// ---------------------------------------------------------------------------------------------
// Writing

/// One tensor to write. `data` holds elements() values of `type` in host byte order (for F16/BF16:
/// the uint16 bit patterns, see float_to_f16 / float_to_bf16; for BOOL: bytes 0/1).
struct tensor_write {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::size_t> shape;
    const void* data = nullptr;
};

struct safetensors_write_options {
    /// Record the CRC-32 of the data region in __metadata__["dualrerank.crc32"] and of the whole
    /// file in "dualrerank.crc32_file". If false, values for those keys in the caller's metadata
    /// are dropped (they would be stale).
    bool checksum = true;
};

namespace detail {

struct write_plan {
    std::string header;                 ///< padded JSON
    std::vector<std::size_t> order;     ///< data layout order (indices into the tensors)
    std::vector<std::size_t> offset;    ///< per tensor (input order): begin in the data region
    std::vector<std::size_t> nbytes;    ///< per tensor
    std::size_t data_size = 0;
};

inline void encode_tensor(const tensor_write& t, std::size_t nbytes, std::uint8_t* dst) {
    if (nbytes == 0) return;
    const auto* src = static_cast<const std::uint8_t*>(t.data);
    const std::size_t es = dtype_size(t.type);
    if (es == 1 || host_is_little_endian()) {
        std::memcpy(dst, src, nbytes);
        return;
    }
    for (std::size_t i = 0; i < nbytes; i += es)  // big-endian host: reverse each element
        for (std::size_t k = 0; k < es; ++k) dst[i + k] = src[i + es - 1 - k];
}

inline std::uint32_t data_crc(const std::vector<tensor_write>& tensors, const write_plan& plan) {
    std::uint32_t crc = 0;
    std::vector<std::uint8_t> buf;
    for (std::size_t i : plan.order) {
        const std::size_t nb = plan.nbytes[i];
        if (!nb) continue;
        if (dtype_size(tensors[i].type) == 1 || host_is_little_endian()) {
            crc = crc32_update(crc, static_cast<const std::uint8_t*>(tensors[i].data), nb);
        } else {
            buf.resize(nb);
            encode_tensor(tensors[i], nb, buf.data());
            crc = crc32_update(crc, buf.data(), nb);
        }
    }
    return crc;
}

inline write_plan plan_write(const std::vector<tensor_write>& tensors, const std::map<std::string, std::string>& metadata,
                             const safetensors_write_options& opt) {
    using caps = safetensors_caps;
    if (tensors.size() > caps::max_tensors)
        throw_input("safetensors write: " + std::to_string(tensors.size()) + " tensors exceed the cap of " +
                    std::to_string(caps::max_tensors));
    write_plan plan;
    plan.offset.assign(tensors.size(), 0);
    plan.nbytes.assign(tensors.size(), 0);
    std::map<std::string_view, std::size_t> seen;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const tensor_write& t = tensors[i];
        const std::string who = "safetensors write: " + tensor_label(t.name);
        if (t.name == "__metadata__") throw_input(who + ": the name is reserved");
        if (!is_valid_utf8(t.name)) throw_input(who + ": the name is not valid UTF-8");
        if (!seen.emplace(t.name, i).second) throw_input(who + ": duplicate name");
        if (dtype_size(t.type) == 0) throw_input(who + ": invalid dtype");
        if (t.shape.size() > caps::max_rank)
            throw_input(who + ": rank " + std::to_string(t.shape.size()) + " exceeds the cap of " +
                        std::to_string(caps::max_rank));
        for (std::size_t d : t.shape)
            if (d > caps::max_dim) throw_input(who + ": dimension " + std::to_string(d) + " exceeds the cap");
        std::size_t elems = 0;
        if (!shape_elements(t.shape, std::numeric_limits<std::size_t>::max() / 8, elems))
            throw_input(who + ": shape " + shape_string(t.shape) + " overflows");
        plan.nbytes[i] = elems * dtype_size(t.type);
        if (plan.nbytes[i] && !t.data) throw_input(who + ": data is null");
        if (t.type == dtype::boolean)
            for (std::size_t k = 0; k < plan.nbytes[i]; ++k)
                if (static_cast<const std::uint8_t*>(t.data)[k] > 1)
                    throw_input(who + ": BOOL element " + std::to_string(k) + " is neither 0 nor 1");
    }
    // Data layout: by element size, largest first, stable; every offset is then a multiple of
    // the element size.
    plan.order.resize(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) plan.order[i] = i;
    std::stable_sort(plan.order.begin(), plan.order.end(), [&](std::size_t a, std::size_t b) {
        return dtype_size(tensors[a].type) > dtype_size(tensors[b].type);
    });
    for (std::size_t i : plan.order) {
        plan.offset[i] = plan.data_size;
        if (plan.nbytes[i] > std::numeric_limits<std::size_t>::max() / 2 - plan.data_size)
            throw_input("safetensors write: total data size overflows");
        plan.data_size += plan.nbytes[i];
    }

    std::map<std::string, std::string> meta = metadata;
    meta.erase(safetensors_crc32_key);
    meta.erase(safetensors_file_crc32_key);
    if (opt.checksum) {
        meta[safetensors_crc32_key] = crc32_hex(data_crc(tensors, plan));
        meta[safetensors_file_crc32_key] = "00000000";  // patched by write_safetensors_bytes
    }
    if (meta.size() > caps::max_metadata_entries)
        throw_input("safetensors write: " + std::to_string(meta.size()) + " metadata entries exceed the cap of " +
                    std::to_string(caps::max_metadata_entries));

    std::string& h = plan.header;
    h.push_back('{');
    bool first = true;
    if (!meta.empty()) {
        h += "\"__metadata__\":{";
        for (const auto& kv : meta) {
            if (!first) h.push_back(',');
            first = false;
            if (!append_json_string(h, kv.first))
                throw_input("safetensors write: metadata key " + quote_for_message(kv.first) + " is not valid UTF-8");
            h.push_back(':');
            if (!append_json_string(h, kv.second))
                throw_input("safetensors write: metadata value for " + quote_for_message(kv.first) +
                            " is not valid UTF-8");
        }
        h.push_back('}');
        first = false;
    }
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const tensor_write& t = tensors[i];
        if (!first) h.push_back(',');
        first = false;
        append_json_string(h, t.name);  // validated above
        h += ":{\"dtype\":\"";
        h += dtype_name(t.type);
        h += "\",\"shape\":[";
        for (std::size_t k = 0; k < t.shape.size(); ++k) {
            if (k) h.push_back(',');
            h += std::to_string(t.shape[k]);
        }
        h += "],\"data_offsets\":[";
        h += std::to_string(plan.offset[i]);
        h.push_back(',');
        h += std::to_string(plan.offset[i] + plan.nbytes[i]);
        h += "]}";
    }
    h.push_back('}');
    h.append((8 - h.size() % 8) % 8, ' ');
    if (h.size() > caps::max_header_bytes)
        throw_input("safetensors write: header of " + std::to_string(h.size()) + " bytes exceeds the cap of " +
                    std::to_string(caps::max_header_bytes));
    return plan;
}

}  // namespace detail

/// Serialize to a byte buffer: header in the given tensor order, data by element size (stable).
/// Throws input_error for bad arguments (duplicate or reserved names, null data, caps).
inline std::vector<std::uint8_t> write_safetensors_bytes(const std::vector<tensor_write>& tensors,
                                                         const std::map<std::string, std::string>& metadata = {},
                                                         const safetensors_write_options& opt = {}) {
    const detail::write_plan plan = detail::plan_write(tensors, metadata, opt);
    std::vector<std::uint8_t> out(8 + plan.header.size() + plan.data_size);
    detail::store_le<std::uint64_t>(out.data(), plan.header.size());
    std::memcpy(out.data() + 8, plan.header.data(), plan.header.size());
    std::uint8_t* data = out.data() + 8 + plan.header.size();
    for (std::size_t i = 0; i < tensors.size(); ++i) detail::encode_tensor(tensors[i], plan.nbytes[i], data + plan.offset[i]);
    if (opt.checksum) {
        const std::size_t pos = detail::file_crc_digits_pos(out.data(), 8 + plan.header.size());
        if (pos == std::string::npos) detail::throw_input("safetensors write: cannot place the whole-file checksum");
        const std::string hex = detail::crc32_hex(detail::file_crc(out.data(), out.size(), pos));
        std::memcpy(out.data() + pos, hex.data(), 8);
    }
    return out;
}

namespace detail {

#if !defined(_WIN32)
/// The file a save to `path` replaces: `path` itself, or, when `path` is a symbolic link (a chain
/// of them, at most 40), the file it finally points to (which may not exist yet). The link stays a
/// link; its target is replaced atomically.
inline std::string resolve_save_target(const std::string& path) {
    namespace fs = std::filesystem;
    fs::path p = path;
    for (int hops = 0; hops < 40; ++hops) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(p, ec)) || ec) return p.string();
        const fs::path next = fs::read_symlink(p, ec);
        if (ec) return p.string();
        p = next.is_absolute() ? next : p.parent_path() / next;
    }
    throw error("dualrerank: writing " + path + ": too many levels of symbolic links");
}
#endif

/// Write `bytes` to `path` atomically: a unique temporary file in the same directory, flushed
/// and fsync'ed, renamed over `path`, then the directory fsync'ed. On failure the temporary is
/// removed and dualrerank::error is thrown; `path` is then untouched. POSIX: an existing file's
/// permission bits (and, where allowed, owner and group) carry over to the new file; a symbolic
/// link at `path` stays, and the file it points to is the one replaced.
inline void write_file_atomic(const std::string& path_in, const std::uint8_t* bytes, std::size_t size) {
    static std::atomic<std::size_t> counter{0};  // unique within the process; the pid makes it unique across
    auto fail = [&](const std::string& what) { throw error("dualrerank: writing " + ::dualrerank::detail::printable(path_in) + ": " + ::dualrerank::detail::printable(what)); };
    if (path_in.empty()) throw_input("safetensors write: empty path");
#if defined(_WIN32)
    const std::string& path = path_in;
    const std::string tmp = path + ".tmp." + std::to_string(_getpid()) + "." + std::to_string(counter++);
    int fd = ::_open(tmp.c_str(), _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY, _S_IREAD | _S_IWRITE);
    if (fd < 0) fail("cannot create " + tmp + ": " + std::strerror(errno));
    bool ok = true;
    for (std::size_t done = 0; ok && done < size;) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, std::size_t(1) << 30));
        const int w = ::_write(fd, bytes + done, chunk);
        ok = w > 0;
        if (ok) done += static_cast<std::size_t>(w);
    }
    ok = ok && ::_commit(fd) == 0;
    const int e = errno;
    ok = ::_close(fd) == 0 && ok;
    if (!ok) {
        std::remove(tmp.c_str());
        fail("cannot write " + tmp + ": " + std::strerror(e));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);  // replaces an existing file (MoveFileEx)
    if (ec) {
        std::remove(tmp.c_str());
        fail("cannot rename " + tmp + ": " + ec.message());
    }
#else
    const std::string path = resolve_save_target(path_in);
    const std::string tmp =
        path + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." + std::to_string(counter++);
    struct stat old {};
    const bool replacing = ::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create " + tmp + ": " + std::strerror(errno));
    if (replacing) {  // keep the replaced file's permissions (a 0600 model stays 0600) and owner
        if (::fchmod(fd, old.st_mode & 07777) != 0) {
            const int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            fail("cannot set the permissions of " + tmp + ": " + std::strerror(e));
        }
        if (::fchown(fd, old.st_uid, old.st_gid) != 0) {
            // not permitted (another owner): the new file is the caller's, the mode bits still hold
        }
    }
    auto abandon = [&](const std::string& what) {
        const int e = errno;
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        fail(what + ": " + std::strerror(e));
    };
    std::size_t done = 0;
    while (done < size) {
        const std::size_t chunk = std::min<std::size_t>(size - done, std::size_t(1) << 30);
        const ::ssize_t w = ::write(fd, bytes + done, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            abandon("cannot write " + tmp);
        }
        if (w == 0) {
            errno = EIO;
            abandon("cannot write " + tmp);
        }
        done += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0) abandon("cannot fsync " + tmp);
    const int c = ::close(fd);
    fd = -1;
    if (c != 0) abandon("cannot close " + tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("cannot rename " + tmp + " over the file");
    // Make the rename durable. Some filesystems cannot fsync a directory (EINVAL): then there is
    // nothing more to do.
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        const int r = ::fsync(dfd);
        const int e = errno;
        ::close(dfd);
        if (r != 0 && e != EINVAL && e != ENOTSUP && e != EROFS)
            fail("renamed into place, but fsync of the directory " + dir + " failed: " + std::strerror(e));
    }
#endif
}

}  // namespace detail

/// write_safetensors_bytes, written atomically to `path` (see detail::write_file_atomic): a
/// reader never sees a half-written file, and a crash leaves either the old or the new file.
/// Throws input_error for bad arguments, dualrerank::error for I/O failures.
inline void write_safetensors_file(const std::string& path, const std::vector<tensor_write>& tensors,
                                   const std::map<std::string, std::string>& metadata = {},
                                   const safetensors_write_options& opt = {}) {
    const std::vector<std::uint8_t> bytes = write_safetensors_bytes(tensors, metadata, opt);
    detail::write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace io
DUALRERANK_NAMESPACE_END
