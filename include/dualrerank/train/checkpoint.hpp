// Training checkpoints as safetensors files: parameters, AdamW moments, step counters and the
// trainer's RNG stream, so a run resumes exactly. __metadata__ format = "dualrerank-checkpoint",
// kind, config, optimizer (JSON). Written atomically like model files (io/safetensors.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../io/model_io.hpp"
#include "trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

template <class Model>
void save_checkpoint(trainer<Model>& tr, const std::string& path) {
    using T = typename Model::value_type;
    const Model& m = tr.model();
    std::vector<io::tensor_write> tensors;
    io::detail::add_param_tensors(m, "param.", m.params(), tensors);
    io::detail::add_param_tensors(m, "adam.m.", tr.optimizer().first_moment(), tensors);
    io::detail::add_param_tensors(m, "adam.v.", tr.optimizer().second_moment(), tensors);
    const std::int64_t step = tr.optimizer().steps(), skipped = tr.optimizer().skipped(), bad = tr.bad_steps();
    const auto st = tr.random().state();
    tensors.push_back({"trainer.step", io::dtype::i64, {1}, &step});
    tensors.push_back({"trainer.skipped", io::dtype::i64, {1}, &skipped});
    tensors.push_back({"trainer.bad_steps", io::dtype::i64, {1}, &bad});
    tensors.push_back({"trainer.rng", io::dtype::u64, {4}, st.data()});
    const auto& oc = tr.optimizer().config();
    io::json o = io::json::object();
    o["lr"] = oc.lr;
    o["beta1"] = oc.beta1;
    o["beta2"] = oc.beta2;
    o["eps"] = oc.eps;
    o["weight_decay"] = oc.weight_decay;
    o["clip_norm"] = oc.clip_norm;
    o["warmup_steps"] = std::int64_t(oc.warmup_steps);
    o["total_steps"] = std::int64_t(oc.total_steps);
    o["min_lr_ratio"] = oc.min_lr_ratio;
    std::map<std::string, std::string> meta;
    meta["format"] = io::checkpoint_format;
    meta["io::format_version"] = io::format_version;
    meta["kind"] = to_string(Model::kind);
    meta["config"] = io::config_to_json(m.config()).dump();
    meta["optimizer"] = o.dump();
    meta["dtype"] = std::is_same<T, double>::value ? "F64" : "F32";
    io::write_safetensors_file(path, tensors, meta);
}

/// Restore parameters, optimizer moments, step counters and the RNG stream. A checkpoint of a
/// different kind or config is rejected with a training_error naming the mismatch.
template <class Model>
void load_checkpoint(trainer<Model>& tr, const std::string& path) {
    io::safetensors_file f = io::safetensors_file::from_file(path);
    const std::string what = "checkpoint " + path;
    if (io::detail::require_meta(f, "format", what) != io::checkpoint_format)
        dualrerank::detail::throw_format(what + ": not a dualrerank checkpoint");
    const std::string kind = io::detail::require_meta(f, "kind", what);
    if (kind != to_string(Model::kind))
        throw training_error("dualrerank: " + what + " is for a " + kind + ", not a " + to_string(Model::kind));
    const model_config c = io::detail::parse_config_meta(f, what);
    Model& m = tr.model();
    if (c != m.config())
        throw training_error("dualrerank: " + what + " was written for another model config (" +
                             io::config_difference(c, m.config()) + ")");
    // read everything into temporaries first: a bad file leaves the trainer untouched
    using T = typename Model::value_type;
    aligned_vector<T> p(m.arena_size(), T(0)), mm(m.arena_size(), T(0)), vv(m.arena_size(), T(0));
    io::detail::read_param_tensors(m, f, "param.", p.data(), true, what);
    io::detail::read_param_tensors(m, f, "adam.m.", mm.data(), true, what);
    io::detail::read_param_tensors(m, f, "adam.v.", vv.data(), true, what);
    std::int64_t step = 0, skipped = 0, bad = 0;
    std::array<std::uint64_t, 4> st{};
    f.read("trainer.step", {1}, &step);
    f.read("trainer.skipped", {1}, &skipped);
    f.read("trainer.bad_steps", {1}, &bad);
    f.read("trainer.rng", {4}, st.data());
    if (step < 0 || skipped < 0 || bad < 0) dualrerank::detail::throw_format(what + ": negative step counters");
    std::copy(p.begin(), p.end(), m.params());
    std::copy(mm.begin(), mm.end(), tr.optimizer().first_moment());
    std::copy(vv.begin(), vv.end(), tr.optimizer().second_moment());
    tr.optimizer().restore(long(step), long(skipped));
    tr.restore_counters(long(bad));
    tr.random().set_state(st);
    tr.reset_average();  // the weight average is not in the checkpoint: it starts again from these weights
}

}  // namespace train
DUALRERANK_NAMESPACE_END
