// A model file of any kind behind one type: the serving front door loads a file without knowing
// what it holds (docs/serving.md).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "../io/model_io.hpp"
#include "../io/safetensors.hpp"
#include "../model/ar_teacher.hpp"
#include "../model/evaluator.hpp"
#include "../model/nar_student.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace serving {

/// A loaded model of any kind (float). Exactly one pointer is set, except in a default-constructed
/// (empty) value. The models are immutable and shared: copying an any_model copies three
/// shared_ptrs, never the weights, so every reranker and thread can hold the same weights.
struct any_model {
    std::string path;  ///< the file it came from (empty for an in-memory model)
    model_kind kind = model_kind::student;
    model_config config;
    std::shared_ptr<const ar_teacher<float>> teacher;
    std::shared_ptr<const nar_student<float>> student;
    std::shared_ptr<const list_evaluator<float>> evaluator;

    bool empty() const noexcept { return !teacher && !student && !evaluator; }
    /// "ar_teacher", "nar_student" or "list_evaluator".
    const char* kind_name() const noexcept { return to_string(kind); }
    /// The path, or the kind for an in-memory model (for messages).
    std::string name() const { return path.empty() ? std::string("the ") + kind_name() : path; }
};

namespace detail {
inline void set_model(any_model& a, std::shared_ptr<const ar_teacher<float>> m) { a.teacher = std::move(m); }
inline void set_model(any_model& a, std::shared_ptr<const nar_student<float>> m) { a.student = std::move(m); }
inline void set_model(any_model& a, std::shared_ptr<const list_evaluator<float>> m) { a.evaluator = std::move(m); }
}  // namespace detail

/// Wraps an in-memory model (moved into shared ownership); `name` is used in messages.
template <class Model>
any_model make_any_model(Model model, std::string name = "") {
    any_model a;
    a.path = std::move(name);
    a.kind = Model::kind;
    a.config = model.config();
    detail::set_model(a, std::make_shared<const Model>(std::move(model)));
    return a;
}

/// Loads a dualrerank model file of any kind, reading the file once. format_error on anything wrong
/// (not a dualrerank file, unknown kind, tensors, values, self-test: see io::load_model).
inline any_model load_any_model(const std::string& path, const io::load_options& opt = {}) {
    const io::safetensors_file f = io::safetensors_file::from_file(path);
    const std::string what = "model file " + path;
    if (io::detail::require_meta(f, "format", what) != io::model_format)
        dualrerank::detail::throw_format(what + ": not a dualrerank model (format \"" + f.metadata().at("format") + "\")");
    const std::string kind = io::detail::require_meta(f, "kind", what);
    any_model a;
    if (kind == to_string(model_kind::teacher))
        a = make_any_model(io::load_model_from<ar_teacher<float>>(f, what, opt), path);
    else if (kind == to_string(model_kind::student))
        a = make_any_model(io::load_model_from<nar_student<float>>(f, what, opt), path);
    else if (kind == to_string(model_kind::evaluator))
        a = make_any_model(io::load_model_from<list_evaluator<float>>(f, what, opt), path);
    else
        dualrerank::detail::throw_format(what + ": unknown kind \"" + kind + "\"");
    return a;
}

}  // namespace serving
DUALRERANK_NAMESPACE_END
