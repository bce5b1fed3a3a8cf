// Fuzz target body: the JSON parser (and the model-config validation on top of it) on text (see
// fuzz_common.hpp for the contract).
//
// Properties: a parsed value dumps to text that parses back to the same dump (compact and
// indented); a parse under tighter limits that succeeds agrees with the default parse; every
// value's parent links are right (its path has no "[?]"), also after copies and after assigning a
// value from inside itself.
#pragma once

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_json {

using dualrerank::io::json;

/// Visits up to `budget` values depth-first and checks their paths: a child's path is its parent's
/// path plus "[i]" (array element) or a key part that is not "[?]" (what path() prints when the
/// parent link does not lead back to the child).
inline void check_paths(const json& v, const std::string& p, int& budget) {
    if (budget-- <= 0) return;
    fuzz_check(v.path() == p, "json: a value's path is wrong");
    if (v.is_array()) {
        const json::array_t& a = v.as_array();
        for (std::size_t i = 0; i < a.size() && budget > 0; ++i) check_paths(a[i], p + "[" + std::to_string(i) + "]", budget);
    } else if (v.is_object()) {
        for (const json::member_t& m : v.as_object()) {
            if (budget <= 0) break;
            const std::string c = m.second.path();
            fuzz_check(c.size() > p.size() && c.compare(0, p.size(), p) == 0 && c.compare(p.size(), std::string::npos, "[?]") != 0,
                       "json: a member's parent link is wrong");
            check_paths(m.second, c, budget);
        }
    }
}

inline void exercise_accessors(const json& v) {
    // every accessor either answers or throws a dualrerank::error naming the path
    auto attempt = [](auto&& f) {
        try {
            f();
        } catch (const dualrerank::error&) {
        }
    };
    attempt([&] { (void)v.as_bool(); });
    attempt([&] { (void)v.as_int(); });
    attempt([&] { (void)v.as_uint(); });
    attempt([&] { (void)v.as_size(); });
    attempt([&] { (void)v.as_double(); });
    attempt([&] { (void)v.as_string(); });
    attempt([&] { (void)v.size(); });
    attempt([&] { (void)v.at(0); });
    attempt([&] { (void)v.at(-1); });
    attempt([&] { (void)v.at("d"); });
    attempt([&] { (void)v.find("features"); });
}

}  // namespace detail_json

inline void json_one(const std::uint8_t* data, std::size_t size) {
    using namespace dualrerank;
    using io::json;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const json j = json::parse(text);
        const std::string s = j.dump();
        const json j2 = json::parse(s);
        fuzz_check(j2.dump() == s, "json: dump(parse(dump(x))) != dump(x)");
        fuzz_check(json::parse(j.dump(2)).dump() == s, "json: the indented dump reads back differently");
        int budget = 256;
        detail_json::check_paths(j, "$", budget);
        detail_json::exercise_accessors(j);
        if (j.is_array() && j.size() > 0) detail_json::exercise_accessors(j.as_array()[0]);

        // copies and assignment from a value inside the target
        json k = j;
        budget = 256;
        detail_json::check_paths(k, "$", budget);
        if (k.is_array() && k.size() > 0) {
            k = k.as_array().back();
        } else if (k.is_object() && k.size() > 0) {
            k = k.as_object().front().second;
        }
        fuzz_check(k.path() == "$", "json: an assigned value is not a root");
        budget = 256;
        detail_json::check_paths(k, "$", budget);

        try {
            (void)io::config_from_json(j);
        } catch (const format_error&) {
        }
    } catch (const dualrerank::error&) {
    }

    // Tighter limits and lenient duplicate keys: a success must agree with the strict default.
    io::json_parse_options tight;
    tight.max_depth = 4;
    tight.max_values = 64;
    tight.reject_duplicate_keys = false;
    try {
        const json t = json::parse(text, tight);
        const std::string s = t.dump();
        fuzz_check(json::parse(s, tight).dump() == s, "json (lenient): dump does not read back");
        bool strict_ok = true;
        std::string strict_dump;
        try {
            strict_dump = json::parse(text).dump();
        } catch (const format_error&) {
            strict_ok = false;  // duplicate keys
        }
        if (strict_ok) fuzz_check(strict_dump == s, "json: lenient and strict parses differ without duplicates");
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
