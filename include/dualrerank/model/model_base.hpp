// What every model shares: its config, its tensor table and the flat parameter arena.
#pragma once

#include <cstdint>
#include <string>

#include "../core/aligned.hpp"
#include "../core/params.hpp"
#include "../core/rng.hpp"
#include "config.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// What a model file holds (`kind` in its metadata). page_evaluator: model/page_evaluator.hpp (a scorer
/// with its own config type; serving::any_model holds it for Best-of-N).
enum class model_kind { teacher, student, evaluator, page_evaluator };

inline const char* to_string(model_kind k) noexcept {
    switch (k) {
        case model_kind::teacher: return "ar_teacher";
        case model_kind::student: return "nar_student";
        case model_kind::evaluator: return "list_evaluator";
        case model_kind::page_evaluator: return "page_evaluator";
    }
    return "unknown";
}

namespace detail {

/// The base of the model classes (internal: use ar_teacher, nar_student, list_evaluator, pointwise_scorer).
template <class T>
class model_base {
public:
    using value_type = T;

    const model_config& config() const noexcept { return config_; }
    const tensor_table& table() const noexcept { return table_; }
    T* params() noexcept { return params_.data(); }
    const T* params() const noexcept { return params_.data(); }
    std::size_t arena_size() const noexcept { return params_.size(); }
    std::size_t parameter_count() const noexcept { return table_.parameter_count(); }

    /// Initialise for training from scratch (torch.nn defaults for linear/LayerNorm).
    void init(std::uint64_t seed) {
        rng gen(seed);
        initialize(table_, params_.data(), gen);
    }

    /// Pointer to a named tensor (throws input_error for an unknown name).
    T* tensor(const std::string& name) {
        const tensor_spec* s = table_.find(name);
        if (!s) throw_input("unknown tensor: " + name);
        return params_.data() + s->offset;
    }

protected:
    explicit model_base(const model_config& c) : config_(c) { c.validate(); }
    /// Allocate the arena. `max_parameters` (the loader passes the number of values the file
    /// holds) rejects a config declaring more parameters before anything is allocated.
    void allocate(std::size_t max_parameters = static_cast<std::size_t>(-1)) {
        if (table_.parameter_count() > max_parameters)
            throw_input("model config declares " + std::to_string(table_.parameter_count()) +
                                " parameters, more than the " + std::to_string(max_parameters) + " allowed");
        params_.assign(table_.total(), T(0));
    }

    model_config config_;
    tensor_table table_;
    aligned_vector<T> params_;
};

}  // namespace detail
DUALRERANK_NAMESPACE_END
