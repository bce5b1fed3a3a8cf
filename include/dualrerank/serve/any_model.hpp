// A model file of any kind behind one type: the serving front door loads a file without knowing
// what it holds (docs/serving.md).
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "../model/config.hpp"
#include "../model/model_base.hpp"

// Header-only (the default): the front door's functions are inline and serve.hpp includes their
// definitions (serve/reranker_impl.hpp). With DUALRERANK_COMPILED_LIB (the dualrerank::compiled
// target, src/dualrerank.cpp) they are compiled once into that library and a serving translation
// unit sees these declarations only: no models, layers, SIMD or file-format headers.
#ifdef DUALRERANK_COMPILED_LIB
#define DUALRERANK_SERVE_INLINE
#else
#define DUALRERANK_SERVE_INLINE inline
#endif

DUALRERANK_NAMESPACE_BEGIN
template <class T>
class ar_teacher;
template <class T>
class nar_student;
template <class T>
class list_evaluator;
template <class T>
class page_evaluator;
namespace io {
struct load_options;
}  // namespace io
namespace serving {

/// A loaded model of any kind (float). Exactly one pointer is set, except in a default-constructed
/// (empty) value. The models are immutable and shared: copying an any_model copies four
/// shared_ptrs, never the weights, so every reranker and thread can hold the same weights.
/// A page evaluator (a Best-of-N scorer only) has its own config type; `config` then holds its
/// features, context, max_slate and max_candidates (the other fields keep their defaults).
struct any_model {
    std::string path;  ///< the file it came from (empty for an in-memory model)
    model_kind kind = model_kind::student;
    model_config config;
    std::shared_ptr<const ar_teacher<float>> teacher;
    std::shared_ptr<const nar_student<float>> student;
    std::shared_ptr<const list_evaluator<float>> evaluator;
    std::shared_ptr<const page_evaluator<float>> page_eval;  ///< model/page_evaluator.hpp (with its trust record)

    bool empty() const noexcept { return !teacher && !student && !evaluator && !page_eval; }
    /// "ar_teacher", "nar_student", "list_evaluator" or "page_evaluator".
    const char* kind_name() const noexcept { return to_string(kind); }
    /// The path, or the kind for an in-memory model (for messages).
    std::string name() const { return path.empty() ? std::string("the ") + kind_name() : path; }
};

namespace detail {
inline void set_model(any_model& a, std::shared_ptr<const ar_teacher<float>> m) { a.teacher = std::move(m); }
inline void set_model(any_model& a, std::shared_ptr<const nar_student<float>> m) { a.student = std::move(m); }
inline void set_model(any_model& a, std::shared_ptr<const list_evaluator<float>> m) { a.evaluator = std::move(m); }
inline void set_model(any_model& a, std::shared_ptr<const page_evaluator<float>> m) { a.page_eval = std::move(m); }
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

/// Wraps an in-memory page evaluator (a Best-of-N scorer; its `validation` record is the gate's).
template <class T>
any_model make_any_model(page_evaluator<T> model, std::string name = "") {
    static_assert(std::is_same<T, float>::value, "serving holds float models");
    any_model a;
    a.path = std::move(name);
    a.kind = model_kind::page_evaluator;
    a.config.features = model.config().features;
    a.config.context = model.config().context;
    a.config.max_slate = model.config().max_slate;
    a.config.max_candidates = model.config().max_candidates;
    detail::set_model(a, std::make_shared<const page_evaluator<float>>(std::move(model)));
    return a;
}

/// Loads a dualrerank model file of any kind, reading the file once. format_error on anything wrong
/// (not a dualrerank file, unknown kind, tensors, values, self-test: see io::load_model).
any_model load_any_model(const std::string& path);
any_model load_any_model(const std::string& path, const io::load_options& opt);

}  // namespace serving
DUALRERANK_NAMESPACE_END
