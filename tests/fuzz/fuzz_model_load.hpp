// Fuzz target body: the model loader (metadata, config and tensor validation, self-test) on the
// bytes of a model file (see fuzz_common.hpp for the contract).
//
// The bytes are parsed as safetensors without the CRC check (the CRC is the safetensors target's
// business; here mutated files must reach the config and tensor checks), then loaded as each of
// the three model kinds (the wrong kinds fail early on the metadata). A model that loads is run
// once on a small request, and its slate must be valid.
#pragma once

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_model_load {

using namespace dualrerank;

template <class T>
request<T> small_request(const model_config& c) {
    request<T> r;
    r.n = std::min(c.max_candidates, 6);
    r.f = c.features;
    rng g(17);
    for (int i = 0; i < r.n * r.f; ++i) r.features.push_back(T(g.normal()));
    for (int i = 0; i < c.context; ++i) r.context.push_back(T(g.normal()));
    for (int i = 0; i < r.n; ++i) r.upstream_rank.push_back(i);
    return r;
}

template <class Model>
void use(const Model& m) {
    using T = typename Model::value_type;
    const model_config& c = m.config();
    const request<T> r = small_request<T>(c);
    const int L = std::min(c.max_slate, r.n);
    workspace ws;
    try {
        if constexpr (Model::kind == model_kind::student) {
            const slate y = decode::greedy(m, r.view(), L, ws);
            fuzz_check(int(y.size()) == L && valid_slate(y.data(), L, r.n), "model_load: invalid student slate");
        } else if constexpr (Model::kind == model_kind::teacher) {
            const slate y = decode::teacher_greedy(m, r.view(), L, ws);
            fuzz_check(int(y.size()) == L && valid_slate(y.data(), L, r.n), "model_load: invalid teacher slate");
        } else {
            std::vector<int> y(static_cast<std::size_t>(L));
            for (int t = 0; t < L; ++t) y[static_cast<std::size_t>(t)] = t;
            T u = 0;
            m.score(r.view(), 1, L, y.data(), nullptr, &u, ws);
        }
    } catch (const input_error&) {
        // finite weights can still overflow to non-finite logits; the decoders may refuse those
    }
}

template <class Model>
void try_load(const io::safetensors_file& f, bool also_double) {
    using T = typename Model::value_type;
    try {
        const Model m = io::load_model_from<Model>(f, "fuzz model");
        use(m);
        if (also_double) {
            using D = std::conditional_t<Model::kind == model_kind::student, nar_student<double>,
                                         std::conditional_t<Model::kind == model_kind::teacher, ar_teacher<double>,
                                                            list_evaluator<double>>>;
            io::load_options o;
            o.verify = false;
            const D md = io::load_model_from<D>(f, "fuzz model", o);
            fuzz_check(md.arena_size() == m.arena_size(), "model_load: float and double arenas differ");
            for (std::size_t i = 0; i < m.arena_size(); ++i)
                fuzz_check(static_cast<T>(md.params()[i]) == m.params()[i], "model_load: float and double loads differ");
        }
    } catch (const dualrerank::error&) {
    }
    try {  // tolerant mode: unknown tensors allowed, no self-test
        io::load_options o;
        o.verify = false;
        o.allow_unknown = true;
        (void)io::load_model_from<Model>(f, "fuzz model", o);
    } catch (const dualrerank::error&) {
    }
}

}  // namespace detail_model_load

inline void model_load_one(const std::uint8_t* data, std::size_t size) {
    using namespace dualrerank;
    io::safetensors_read_options no_crc;
    no_crc.verify_checksum = false;
    try {
        const io::safetensors_file f = io::safetensors_file::from_bytes(data, size, no_crc);
        const bool also_double = size > 0 && (data[size - 1] & 1);
        detail_model_load::try_load<ar_teacher<float>>(f, also_double);
        detail_model_load::try_load<nar_student<float>>(f, also_double);
        detail_model_load::try_load<list_evaluator<float>>(f, also_double);
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
