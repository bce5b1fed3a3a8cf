// Test-local readers for the PyTorch parity fixtures (tests/test_parity.cpp): a minimal JSON
// parser and a minimal safetensors reader. Deliberately independent of include/dualrerank/io, so
// the parity test checks the models even when the library's loader is wrong (the loader has its
// own tests). Every malformed input throws std::runtime_error naming the file and the field.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fixture_io {

// ------------------------------------------------------------------------------------ JSON

struct json {
    enum kind_t { null_v, bool_v, number_v, string_v, array_v, object_v } kind = null_v;
    bool b = false;
    double num = 0;
    std::string str;
    std::vector<json> arr;
    std::vector<std::pair<std::string, json>> obj;

    const json* find(const std::string& key) const {
        for (const auto& kv : obj)
            if (kv.first == key) return &kv.second;
        return nullptr;
    }
    const json& at(const std::string& key) const {
        const json* v = kind == object_v ? find(key) : nullptr;
        if (!v) throw std::runtime_error("JSON: missing key \"" + key + "\"");
        return *v;
    }
    double number() const {
        if (kind != number_v) throw std::runtime_error("JSON: expected a number");
        return num;
    }
    long long integer() const {
        const double v = number();
        if (v != double(static_cast<long long>(v))) throw std::runtime_error("JSON: expected an integer");
        return static_cast<long long>(v);
    }
    bool boolean() const {
        if (kind != bool_v) throw std::runtime_error("JSON: expected a boolean");
        return b;
    }
    const std::string& string() const {
        if (kind != string_v) throw std::runtime_error("JSON: expected a string");
        return str;
    }

    static json parse(const std::string& s) {
        std::size_t i = 0;
        json v = parse_value(s, i, 0);
        skip_ws(s, i);
        if (i != s.size()) fail(s, i, "trailing characters");
        return v;
    }

private:
    [[noreturn]] static void fail(const std::string&, std::size_t i, const char* what) {
        throw std::runtime_error(std::string("JSON: ") + what + " at offset " + std::to_string(i));
    }
    static void skip_ws(const std::string& s, std::size_t& i) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }
    static unsigned hex4(const std::string& s, std::size_t& i) {
        if (i + 4 > s.size()) fail(s, i, "short \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
            else fail(s, i, "bad \\u escape");
        }
        return v;
    }
    static std::string parse_string(const std::string& s, std::size_t& i) {
        if (i >= s.size() || s[i] != '"') fail(s, i, "expected a string");
        ++i;
        std::string out;
        while (true) {
            if (i >= s.size()) fail(s, i, "unterminated string");
            const char c = s[i++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i >= s.size()) fail(s, i, "unterminated escape");
            const char e = s[i++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4(s, i);
                    if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
                        i += 2;
                        const unsigned lo = hex4(s, i);
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: fail(s, i, "bad escape");
            }
        }
    }
    static json parse_value(const std::string& s, std::size_t& i, int depth) {
        if (depth > 64) fail(s, i, "nesting too deep");
        skip_ws(s, i);
        if (i >= s.size()) fail(s, i, "unexpected end");
        json v;
        const char c = s[i];
        if (c == '{') {
            v.kind = object_v;
            ++i;
            skip_ws(s, i);
            if (i < s.size() && s[i] == '}') {
                ++i;
                return v;
            }
            while (true) {
                skip_ws(s, i);
                std::string key = parse_string(s, i);
                skip_ws(s, i);
                if (i >= s.size() || s[i] != ':') fail(s, i, "expected ':'");
                ++i;
                v.obj.emplace_back(std::move(key), parse_value(s, i, depth + 1));
                skip_ws(s, i);
                if (i < s.size() && s[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < s.size() && s[i] == '}') {
                    ++i;
                    return v;
                }
                fail(s, i, "expected ',' or '}'");
            }
        }
        if (c == '[') {
            v.kind = array_v;
            ++i;
            skip_ws(s, i);
            if (i < s.size() && s[i] == ']') {
                ++i;
                return v;
            }
            while (true) {
                v.arr.push_back(parse_value(s, i, depth + 1));
                skip_ws(s, i);
                if (i < s.size() && s[i] == ',') {
                    ++i;
                    continue;
                }
                if (i < s.size() && s[i] == ']') {
                    ++i;
                    return v;
                }
                fail(s, i, "expected ',' or ']'");
            }
        }
        if (c == '"') {
            v.kind = string_v;
            v.str = parse_string(s, i);
            return v;
        }
        if (s.compare(i, 4, "true") == 0) {
            v.kind = bool_v;
            v.b = true;
            i += 4;
            return v;
        }
        if (s.compare(i, 5, "false") == 0) {
            v.kind = bool_v;
            i += 5;
            return v;
        }
        if (s.compare(i, 4, "null") == 0) {
            i += 4;
            return v;
        }
        const std::size_t start = i;
        while (i < s.size() && (std::strchr("+-0123456789.eE", s[i]) != nullptr)) ++i;
        if (i == start) fail(s, i, "unexpected character");
        const std::string tok = s.substr(start, i - start);
        char* end = nullptr;
        v.kind = number_v;
        v.num = std::strtod(tok.c_str(), &end);
        if (end != tok.c_str() + tok.size()) fail(s, start, "bad number");
        return v;
    }
};

// ------------------------------------------------------------------------------------ safetensors

struct tensor_entry {
    std::string dtype;
    std::vector<std::size_t> shape;
    std::size_t begin = 0, end = 0;
    std::size_t count() const {
        std::size_t n = 1;
        for (auto s : shape) n *= s;
        return n;
    }
};

class safetensors {
public:
    static safetensors open(const std::string& path) {
        safetensors f;
        f.path_ = path;
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("cannot open " + path);
        f.bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        const auto& b = f.bytes_;
        if (b.size() < 8) f.fail("shorter than 8 bytes");
        std::uint64_t n = 0;
        for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(b[std::size_t(k)]);
        if (n > b.size() - 8) f.fail("header length " + std::to_string(n) + " exceeds the file");
        f.data_start_ = 8 + std::size_t(n);
        const std::size_t data_size = b.size() - f.data_start_;
        const json h = json::parse(std::string(b.data() + 8, std::size_t(n)));
        if (h.kind != json::object_v) f.fail("header is not an object");
        for (const auto& kv : h.obj) {
            if (kv.first == "__metadata__") {
                for (const auto& m : kv.second.obj) f.meta_[m.first] = m.second.string();
                continue;
            }
            tensor_entry e;
            e.dtype = kv.second.at("dtype").string();
            for (const auto& s : kv.second.at("shape").arr) e.shape.push_back(std::size_t(s.integer()));
            const auto& o = kv.second.at("data_offsets").arr;
            if (o.size() != 2) f.fail(kv.first + ": data_offsets needs two entries");
            e.begin = std::size_t(o[0].integer());
            e.end = std::size_t(o[1].integer());
            const std::size_t es = elem_size(e.dtype);
            if (es == 0) f.fail(kv.first + ": unsupported dtype " + e.dtype);
            if (e.begin > e.end || e.end > data_size || e.end - e.begin != e.count() * es)
                f.fail(kv.first + ": data_offsets do not match shape and dtype");
            f.tensors_[kv.first] = e;
        }
        return f;
    }

    const std::string& path() const { return path_; }
    bool has(const std::string& name) const { return tensors_.count(name) != 0; }
    const tensor_entry& entry(const std::string& name) const {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) fail("no tensor " + name);
        return it->second;
    }
    const std::map<std::string, tensor_entry>& tensors() const { return tensors_; }
    bool has_meta(const std::string& key) const { return meta_.count(key) != 0; }
    const std::string& meta(const std::string& key) const {
        auto it = meta_.find(key);
        if (it == meta_.end()) fail("no __metadata__ key " + key);
        return it->second;
    }

    /// Values converted to T (F32/F64/I32/I64); optionally checks the shape.
    template <class T>
    std::vector<T> get(const std::string& name, const std::vector<std::size_t>* shape = nullptr) const {
        const tensor_entry& e = entry(name);
        if (shape && *shape != e.shape) fail(name + ": unexpected shape");
        const std::size_t n = e.count();
        std::vector<T> out(n);
        const char* p = bytes_.data() + data_start_ + e.begin;
        for (std::size_t i = 0; i < n; ++i) {
            if (e.dtype == "F32") out[i] = T(load<float, std::uint32_t>(p + 4 * i));
            else if (e.dtype == "F64") out[i] = T(load<double, std::uint64_t>(p + 8 * i));
            else if (e.dtype == "I32") out[i] = T(load<std::int32_t, std::uint32_t>(p + 4 * i));
            else if (e.dtype == "I64") out[i] = T(load<std::int64_t, std::uint64_t>(p + 8 * i));
        }
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(path_ + ": " + what); }
    static std::size_t elem_size(const std::string& d) {
        if (d == "F32" || d == "I32") return 4;
        if (d == "F64" || d == "I64") return 8;
        return 0;
    }
    /// Little-endian load independent of the host byte order.
    template <class V, class U>
    static V load(const char* p) {
        U u = 0;
        for (std::size_t k = sizeof(U); k-- > 0;) u = U((u << 8) | U(static_cast<unsigned char>(p[k])));
        V v;
        std::memcpy(&v, &u, sizeof(V));
        return v;
    }

    std::string path_;
    std::vector<char> bytes_;
    std::size_t data_start_ = 0;
    std::map<std::string, tensor_entry> tensors_;
    std::map<std::string, std::string> meta_;
};


// ------------------------------------------------------------------------- portable weights
// The weight generator shared with python/dualrerank_ref/weights.py ("splitmix64-v1"): value i of
// tensor `name` is offset + x * 2^exponent with x uniform in (-1, 1), from splitmix64 keyed by the
// seed and the FNV-1a hash of the name, so both sides build identical weights without a file.

inline std::uint64_t fnv1a64(const std::string& s) {
    std::uint64_t h = 0xCBF29CE484222325ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001B3ull;
    }
    return h;
}

inline std::uint64_t splitmix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline float portable_value(std::uint64_t seed, const std::string& name, std::size_t i, double offset, int exponent) {
    const std::uint64_t base = seed ^ fnv1a64(name);
    const std::uint64_t k = splitmix64(base + std::uint64_t(i + 1) * 0x9E3779B97F4A7C15ull) >> 40;
    const double x = (2.0 * double(k) + 1.0 - 16777216.0) / 16777216.0;
    return static_cast<float>(offset + std::ldexp(x, exponent));
}

/// Fill `count` values of tensor `name` from its spec [offset, exponent, shape] in a fixture's
/// "init" recipe.
template <class T>
void fill_portable(T* p, std::size_t count, std::uint64_t seed, const std::string& name, const json& spec) {
    const double off = spec.arr.at(0).number();
    const int e = int(spec.arr.at(1).integer());
    for (std::size_t i = 0; i < count; ++i) p[i] = T(portable_value(seed, name, i, off, e));
}

}  // namespace fixture_io
