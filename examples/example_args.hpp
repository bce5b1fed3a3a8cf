// Command-line options of the example programs: one small reader instead of a hand-rolled argv
// loop in each program. Values are parsed strictly (the whole token, within a range) and every
// problem is an input_error naming the option:
//
//   example_args a(argc, argv);
//   while (a.next()) {
//       if (a.is("--seed")) o.seed = a.u64();
//       else if (a.is("--requests")) o.requests = a.integer(1, 1000000);
//       else if (a.is("--quick")) o.quick = true;
//       else if (a.is("--help") || a.is("-h")) { usage(); std::exit(0); }
//       else a.unknown();
//   }
//
// (The dualrerank program has a fuller parser with --config files and help text: tools/cli/args.hpp.)
#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <dualrerank/core/error.hpp>

class example_args {
public:
    example_args(int argc, char** argv) : argc_(argc), argv_(argv) {}

    /// Advances to the next option; false when none is left.
    bool next() {
        if (++i_ >= argc_) return false;
        name_ = argv_[i_];
        return true;
    }
    const std::string& name() const noexcept { return name_; }
    bool is(const char* option) const { return name_ == option; }

    /// The option's value (the next token).
    std::string value() {
        if (i_ + 1 >= argc_) fail("needs a value");
        return argv_[++i_];
    }
    long long integer(long long lo = INT_MIN, long long hi = INT_MAX) {
        const std::string v = value();
        char* end = nullptr;
        errno = 0;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno == ERANGE) fail("'" + v + "' is not an integer");
        if (x < lo || x > hi) fail(v + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return x;
    }
    std::uint64_t u64() {
        const std::string v = value();
        char* end = nullptr;
        errno = 0;
        const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || v[0] == '-' || *end != '\0' || errno == ERANGE) fail("'" + v + "' is not an unsigned integer");
        return x;
    }
    double real(double lo = -1e300, double hi = 1e300) {
        const std::string v = value();
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !(x == x)) fail("'" + v + "' is not a number");
        if (x < lo || x > hi) fail(v + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return x;
    }
    [[noreturn]] void unknown() const {
        throw dualrerank::input_error("unknown option " + name_ + " (see --help)");
    }
    [[noreturn]] void fail(const std::string& what) const { throw dualrerank::input_error(name_ + ": " + what); }

private:
    int argc_;
    char** argv_;
    int i_ = 0;
    std::string name_;
};
