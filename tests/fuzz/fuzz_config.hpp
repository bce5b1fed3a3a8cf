// Fuzz target body: the CLI's config-file reader (tools/cli/args.hpp, `--config FILE`: key = value
// lines, # comments), see fuzz_common.hpp for the contract. Here the contract is the CLI's: the
// reader either succeeds or throws dualrerank_cli::usage_error (exit status 2), never anything
// else. Properties: every value it keeps belongs to a known key, fits the line cap and holds no
// NUL or LF; flags read back as "true" / "false"; each typed accessor either converts or
// throws usage_error. The input is read twice: as it is, and with the first byte dropped (so a
// mutation at the start does not hide the rest).
#pragma once

#include <sstream>

#include "../../tools/cli/args.hpp"
#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

inline void config_read_once(const std::string& text) {
    using dualrerank_cli::arg_parser;
    using dualrerank_cli::usage_error;
    arg_parser p("fuzz", "fuzz", "the config reader under fuzzing");
    p.option("steps", "N", "", "").option("lr", "X", "", "").option("decoder", "NAME", "greedy", "")
        .option("at", "K,K", "", "").flag("json", "").positional("model");
    std::istringstream in(text);
    try {
        p.read_config_stream(in, "<fuzz>");
    } catch (const usage_error&) {
        return;
    }
    for (const char* key : {"steps", "lr", "decoder", "at", "json", "model"}) {
        if (!p.has(key)) continue;
        const std::string v = p.str(key);
        fuzz_check(v.size() <= arg_parser::max_config_line, "config: value longer than the line cap");
        fuzz_check(v.find('\0') == std::string::npos && v.find('\n') == std::string::npos, "config: NUL or LF in a value");
        if (std::string(key) == "json") fuzz_check(v == "true" || v == "false", "config: flag not true/false");
        try {
            (void)p.integer(key, -1000000, 1000000);
        } catch (const usage_error&) {
        }
        try {
            (void)p.real(key, -1e9, 1e9);
        } catch (const usage_error&) {
        }
        try {
            (void)p.int_list(key, 1, 1 << 20);
        } catch (const usage_error&) {
        }
    }
}

inline void config_one(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    config_read_once(text);
    if (!text.empty()) config_read_once(text.substr(1));
}

}  // namespace dualrerank_fuzz
