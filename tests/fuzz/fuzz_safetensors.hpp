// Fuzz target body: the safetensors reader on raw bytes (see fuzz_common.hpp for the contract).
//
// Parses without the CRC check (so mutated data still reaches the tensor checks), checks the
// parsed layout, reads every tensor as every element type (a dtype that cannot be converted is a
// format_error), then checks the file with its CRC and round-trips it through the writer: the
// rewritten file must parse to the same tensors and metadata.
#pragma once

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_safetensors {

using namespace dualrerank;
using namespace dualrerank::io;

template <class T>
void try_read(const safetensors_file& f, const tensor_info& t) {
    std::vector<T> out(t.elements());
    try {
        f.read<T>(t.name, t.shape, out.data());
    } catch (const dualrerank::format_error&) {
    }
}

inline void read_all(const safetensors_file& f, const tensor_info& t) {
    try_read<float>(f, t);
    try_read<double>(f, t);
    try_read<std::int64_t>(f, t);
    try_read<std::uint64_t>(f, t);
    try_read<std::int32_t>(f, t);
    try_read<std::uint8_t>(f, t);
    try_read<std::int8_t>(f, t);
    {
        std::unique_ptr<bool[]> b(new bool[t.elements() + 1]);
        try {
            f.read<bool>(t.name, t.shape, b.get());
        } catch (const dualrerank::format_error&) {
        }
    }
    // A wrong expected shape is always rejected.
    std::vector<std::size_t> wrong = t.shape;
    wrong.push_back(1);
    bool threw = false;
    try {
        std::vector<float> v(t.elements());
        f.read<float>(t.name, wrong, v.data());
    } catch (const dualrerank::format_error&) {
        threw = true;
    }
    fuzz_check(threw, "safetensors: a read with the wrong shape was accepted");
}

}  // namespace detail_safetensors

inline void safetensors_one(const std::uint8_t* data, std::size_t size) {
    using namespace dualrerank;
    using namespace dualrerank::io;
    safetensors_read_options no_crc;
    no_crc.verify_checksum = false;
    try {
        const safetensors_file f = safetensors_file::from_bytes(data, size, no_crc);
        fuzz_check(8 + f.header_bytes() + f.data_bytes() == size, "safetensors: header + data != file size");
        std::size_t covered = 0, k = 0;
        for (const tensor_info& t : f.tensors()) {
            fuzz_check(t.begin <= t.end && t.end <= f.data_bytes(), "safetensors: tensor outside the data region");
            fuzz_check(t.elements() * dtype_size(t.type) == t.bytes(), "safetensors: shape and byte count disagree");
            fuzz_check(f.find(t.name) == &t, "safetensors: find() does not return the tensor");
            covered += t.bytes();
            // every reader on the first tensors (most reads are dtype mismatches, and an exception
            // costs more than a parse), the float reader on all
            if (k++ < 4)
                detail_safetensors::read_all(f, t);
            else
                detail_safetensors::try_read<float>(f, t);
        }
        fuzz_check(covered == f.data_bytes(), "safetensors: tensors do not cover the data region exactly");
        fuzz_check(f.find("__metadata__") == nullptr, "safetensors: __metadata__ parsed as a tensor");

        // With the CRC check: succeeds whenever the file records no CRC.
        bool crc_ok = true;
        try {
            (void)safetensors_file::from_bytes(data, size);
        } catch (const format_error&) {
            crc_ok = false;
        }
        if (!f.metadata().count(safetensors_crc32_key))
            fuzz_check(crc_ok, "safetensors: a file without a CRC failed only with the CRC check on");

        // Round trip through the writer (BOOL bytes other than 0/1 are refused by the writer).
        for (const tensor_info& t : f.tensors())
            if (t.type == dtype::boolean)
                for (std::size_t i = 0; i < t.bytes(); ++i)
                    if (f.raw(t)[i] > 1) return;
        std::vector<tensor_write> w;
        std::vector<std::vector<std::uint8_t>> copies;  // host order = little-endian on the fuzzing hosts
        for (const tensor_info& t : f.tensors()) {
            copies.emplace_back(f.raw(t), f.raw(t) + t.bytes());
            w.push_back({t.name, t.type, t.shape, copies.back().empty() ? nullptr : copies.back().data()});
        }
        if (!dualrerank::io::detail::host_is_little_endian()) return;
        const std::vector<std::uint8_t> again = write_safetensors_bytes(w, f.metadata());
        const safetensors_file g = safetensors_file::from_bytes(again);
        fuzz_check(g.tensors().size() == f.tensors().size(), "safetensors round trip: tensor count differs");
        for (std::size_t i = 0; i < f.tensors().size(); ++i) {
            const tensor_info &a = f.tensors()[i], &b = g.tensors()[i];
            fuzz_check(a.name == b.name && a.type == b.type && a.shape == b.shape && a.bytes() == b.bytes(),
                       "safetensors round trip: tensor header differs");
            fuzz_check(a.bytes() == 0 || std::memcmp(f.raw(a), g.raw(b), a.bytes()) == 0,
                       "safetensors round trip: tensor data differs");
        }
        auto ma = f.metadata(), mb = g.metadata();
        for (const char* key : {safetensors_crc32_key, safetensors_file_crc32_key}) {  // the writer's own
            ma.erase(key);
            mb.erase(key);
        }
        fuzz_check(ma == mb, "safetensors round trip: metadata differs");
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
