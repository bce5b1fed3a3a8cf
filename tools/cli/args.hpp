// Command-line options of the dualrerank tool: `--name value`, `--name=value`, boolean flags,
// positional arguments, and `--config FILE` (key=value lines; the command line overrides).
//
// Values are kept as text and converted on access with strict parsing (the whole token must be a
// number of the right kind and in range), so `--steps 1e3x` is an error naming the option, never
// a silent 1000 or 0.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <istream>
#include <cerrno>
#include <system_error>
#include <sys/stat.h>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace dualrerank_cli {

/// Bad usage: unknown option, missing value, a value that does not parse (exit status 2).
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A deliberate early exit (--help), with what to print on stdout.
struct help_requested {
    std::string text;
};

struct option_spec {
    std::string name;     ///< without the leading "--"
    std::string metavar;  ///< empty for a boolean flag
    std::string def;      ///< default value as text ("" = none)
    std::string help;
    bool flag = false;
};

class arg_parser {
public:
    arg_parser(std::string command, std::string synopsis, std::string description)
        : command_(std::move(command)), synopsis_(std::move(synopsis)), description_(std::move(description)) {}

    /// An option taking a value.
    arg_parser& option(const std::string& name, const std::string& metavar, const std::string& def,
                       const std::string& help) {
        specs_.push_back({name, metavar, def, help, false});
        return *this;
    }
    /// A boolean flag (`--name`, or `name = true|false` in a config file).
    arg_parser& flag(const std::string& name, const std::string& help) {
        specs_.push_back({name, "", "", help, true});
        return *this;
    }
    /// A positional argument, stored under `name` (also settable as --name).
    arg_parser& positional(const std::string& name) {
        positional_.push_back(name);
        return *this;
    }
    /// Text after the option list (examples).
    arg_parser& epilog(const std::string& text) {
        epilog_ = text;
        return *this;
    }

    std::string help() const {
        std::string out = "usage: " + synopsis_ + "\n\n" + description_ + "\n\noptions:\n";
        std::vector<option_spec> all = specs_;
        all.push_back({"config", "FILE", "", "read options from FILE (key = value lines, # comments); flags override", false});
        all.push_back({"help", "", "", "show this help and exit", true});
        std::size_t width = 0;
        for (const auto& s : all) width = std::max(width, left(s).size());
        for (const auto& s : all) {
            std::string l = left(s);
            out += "  " + l + std::string(width - l.size() + 2, ' ') + s.help;
            if (!s.def.empty()) out += " (default " + s.def + ")";
            out += "\n";
        }
        if (!epilog_.empty()) out += "\n" + epilog_ + "\n";
        return out;
    }

    /// Parse argv[first..argc). Throws help_requested for --help, usage_error on bad usage.
    void parse(int argc, char** argv, int first) {
        std::map<std::string, std::string> cli;
        std::vector<std::string> positionals;
        std::string config_path;
        for (int i = first; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--help" || a == "-h") throw help_requested{help()};
            if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
                std::string name = a.substr(2), value;
                bool has_value = false;
                const std::size_t eq = name.find('=');
                if (eq != std::string::npos) {
                    value = name.substr(eq + 1);
                    name = name.substr(0, eq);
                    has_value = true;
                }
                if (name == "config") {
                    if (!has_value) {
                        if (i + 1 >= argc) throw usage_error("--config needs a value (FILE)");
                        value = argv[++i];
                    }
                    config_path = value;
                    continue;
                }
                const option_spec* s = find(name);
                if (!s) throw usage_error("unknown option --" + name + suggestion(name) + " (see dualrerank " + command_ + " --help)");
                if (s->flag) {
                    if (has_value) value = bool_text(value, "--" + name);
                    else value = "true";
                } else if (!has_value) {
                    if (i + 1 >= argc) throw usage_error("--" + name + " needs a value (" + s->metavar + ")");
                    value = argv[++i];
                }
                cli[name] = value;
            } else if (a == "-") {
                positionals.push_back(a);
            } else if (!a.empty() && a[0] == '-' && !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
                throw usage_error("unknown option " + a + " (options are spelled --name; see dualrerank " + command_ + " --help)");
            } else {
                positionals.push_back(a);
            }
        }
        if (positionals.size() > positional_.size())
            throw usage_error("unexpected argument '" + positionals[positional_.size()] + "' (see dualrerank " + command_ +
                              " --help)");
        for (const auto& s : specs_)
            if (!s.def.empty()) values_[s.name] = s.def;
        if (!config_path.empty()) read_config(config_path);
        for (std::size_t i = 0; i < positionals.size(); ++i) {
            if (cli.count(positional_[i]))
                throw usage_error("'" + positionals[i] + "' and --" + positional_[i] + " both given");
            cli[positional_[i]] = positionals[i];
        }
        for (auto& kv : cli) {
            values_[kv.first] = kv.second;
            given_.insert(kv.first);
        }
    }

    bool has(const std::string& name) const { return values_.count(name) > 0; }
    /// True when the command line or the config file set the option (its default does not count).
    bool given(const std::string& name) const { return given_.count(name) > 0; }
    /// usage_error when any of `names` was given: the options that have no effect `when` (e.g.
    /// "with --world"), so a setting is never silently dropped.
    void no_effect(const std::vector<std::string>& names, const std::string& when) const {
        for (const auto& n : names)
            if (given(n)) throw usage_error("--" + n + " has no effect " + when + " (see dualrerank " + command_ + " --help)");
    }
    std::string str(const std::string& name) const {
        auto it = values_.find(name);
        if (it == values_.end()) throw usage_error("--" + name + " is required (see dualrerank " + command_ + " --help)");
        return it->second;
    }
    std::string str_or(const std::string& name, const std::string& def) const { return has(name) ? str(name) : def; }
    bool flag_set(const std::string& name) const { return has(name) && values_.at(name) == "true"; }

    long long integer(const std::string& name, long long lo, long long hi) const {
        const std::string v = str(name);
        long long x = 0;
        auto r = std::from_chars(v.data(), v.data() + v.size(), x);
        if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size())
            throw usage_error("--" + name + ": expected an integer, got '" + v + "'");
        if (x < lo || x > hi)
            throw usage_error("--" + name + ": " + v + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return x;
    }
    int int_value(const std::string& name, int lo, int hi) const { return static_cast<int>(integer(name, lo, hi)); }

    double real(const std::string& name, double lo, double hi) const {
        const std::string v = str(name);
        double x = 0;
        auto r = std::from_chars(v.data(), v.data() + v.size(), x);
        if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || !std::isfinite(x))
            throw usage_error("--" + name + ": expected a finite number, got '" + v + "'");
        if (x < lo || x > hi)
            throw usage_error("--" + name + ": " + v + " is outside [" + fmt(lo) + ", " + fmt(hi) + "]");
        return x;
    }

    /// One of a fixed set of words.
    std::string choice(const std::string& name, const std::vector<std::string>& allowed) const {
        const std::string v = str(name);
        if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        throw usage_error("--" + name + ": '" + v + "' is not one of " + list);
    }

    /// A comma-separated list of integers in [lo, hi].
    std::vector<int> int_list(const std::string& name, int lo, int hi) const {
        const std::string v = str(name);
        std::vector<int> out;
        std::size_t p = 0;
        while (p <= v.size()) {
            const std::size_t c = std::min(v.find(',', p), v.size());
            const std::string t = v.substr(p, c - p);
            long long x = 0;
            auto r = std::from_chars(t.data(), t.data() + t.size(), x);
            if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size())
                throw usage_error("--" + name + ": expected comma-separated integers, got '" + v + "'");
            if (x < lo || x > hi)
                throw usage_error("--" + name + ": " + t + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
            out.push_back(static_cast<int>(x));
            p = c + 1;
        }
        return out;
    }

    const std::string& command() const noexcept { return command_; }

private:
    std::string command_, synopsis_, description_, epilog_;
    std::vector<option_spec> specs_;
    std::vector<std::string> positional_;
    std::map<std::string, std::string> values_;
    std::set<std::string> given_;  ///< set by the command line or the config file

    static std::string left(const option_spec& s) {
        return "--" + s.name + (s.metavar.empty() ? "" : " " + s.metavar);
    }
    static std::string fmt(double x) {
        char b[32];
        std::snprintf(b, sizeof b, "%g", x);
        return b;
    }
    const option_spec* find(const std::string& name) const {
        for (const auto& s : specs_)
            if (s.name == name) return &s;
        return nullptr;
    }
    std::string suggestion(const std::string& name) const {
        // the closest known name by edit distance (<= 2)
        std::string best;
        std::size_t best_d = 3;
        for (const auto& s : specs_) {
            const std::size_t d = edit_distance(name, s.name);
            if (d < best_d) {
                best_d = d;
                best = s.name;
            }
        }
        return best.empty() ? "" : " (did you mean --" + best + "?)";
    }
    static std::size_t edit_distance(const std::string& a, const std::string& b) {
        if (a.size() > 64 || b.size() > 64) return 99;
        std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            cur[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j)
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
            std::swap(prev, cur);
        }
        return prev[b.size()];
    }
    static std::string bool_text(const std::string& v, const std::string& where) {
        if (v == "true" || v == "1" || v == "yes" || v == "on") return "true";
        if (v == "false" || v == "0" || v == "no" || v == "off") return "false";
        throw usage_error(where + ": expected true or false, got '" + v + "'");
    }
    static std::string trim(const std::string& s) {
        std::size_t b = 0, e = s.size();
        while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
        return s.substr(b, e - b);
    }

public:
    // Config files are small: lines of at most max_config_line bytes, at most max_config_bytes in
    // all. Both caps hold while reading (a line is never buffered beyond its cap), so a stream that
    // never ends (/dev/zero, a FIFO) stops at the byte cap; a directory or a read error is an error.
    static constexpr std::size_t max_config_line = 4096;
    static constexpr std::size_t max_config_bytes = std::size_t(1) << 20;

    void read_config(const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0)
            throw usage_error("--config: cannot open " + path + ": " + std::generic_category().message(errno));
        if (S_ISDIR(st.st_mode)) throw usage_error("--config: " + path + " is a directory, not a config file");
        std::ifstream in(path, std::ios::binary);
        if (!in) throw usage_error("--config: cannot open " + path);
        read_config_stream(in, path);
    }

    /// The config reader itself, on any stream (`path` names it in messages): what --config FILE
    /// runs after opening the file (the libFuzzer target tests/fuzz/fuzz_config.hpp calls it).
    void read_config_stream(std::istream& in, const std::string& path) {
        std::string line;
        std::size_t no = 0, total = 0;
        std::map<std::string, std::size_t> seen;
        for (;;) {
            line.clear();
            bool any = false, ended = false;
            for (int c; (c = in.get()) != std::char_traits<char>::eof();) {
                any = true;
                if (++total > max_config_bytes)
                    throw usage_error(path + ": config file longer than " + std::to_string(max_config_bytes) + " bytes");
                if (c == '\n') {
                    ended = true;
                    break;
                }
                if (line.size() >= max_config_line)
                    throw usage_error(path + ":" + std::to_string(no + 1) + ": line longer than " +
                                      std::to_string(max_config_line) + " bytes");
                if (c == '\0') throw usage_error(path + ":" + std::to_string(no + 1) + ": NUL byte in a config file");
                line.push_back(static_cast<char>(c));
            }
            if (in.bad()) throw usage_error(path + ": read error");
            if (!any && !ended) break;  // end of the file
            ++no;
            if (no > 10000) throw usage_error(path + ":" + std::to_string(no) + ": config file too large");
            const std::string where = path + ":" + std::to_string(no);
            const std::size_t hash = line.find('#');
            if (hash != std::string::npos) line.erase(hash);
            line = trim(line);
            if (line.empty()) continue;
            const std::size_t eq = line.find('=');
            if (eq == std::string::npos) throw usage_error(where + ": expected key = value, got '" + line + "'");
            std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
            if (key.size() > 2 && key.compare(0, 2, "--") == 0) key.erase(0, 2);
            std::replace(key.begin(), key.end(), '_', '-');
            if (key == "config") throw usage_error(where + ": a config file cannot include another");
            const option_spec* s = find(key);
            const bool is_positional = std::find(positional_.begin(), positional_.end(), key) != positional_.end();
            if (!s && !is_positional)
                throw usage_error(where + ": unknown key '" + key + "'" + suggestion(key) + " for dualrerank " + command_);
            if (seen.count(key)) throw usage_error(where + ": '" + key + "' already set on line " + std::to_string(seen[key]));
            seen[key] = no;
            if (s && s->flag) value = bool_text(value, where + ": " + key);
            else if (value.empty()) throw usage_error(where + ": '" + key + "' has no value");
            values_[key] = value;
            given_.insert(key);
            if (!ended) break;
        }
    }
};

}  // namespace dualrerank_cli
