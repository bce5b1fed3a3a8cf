// Definitions of the serving front door (serve/reranker.hpp, serve/any_model.hpp). serve.hpp
// includes this file in the default header-only mode (the functions are inline); with
// DUALRERANK_COMPILED_LIB only src/dualrerank.cpp includes it, and the dualrerank::compiled
// library holds the one copy (docs/serving.md "Compiled mode").
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../decode/best_of_n.hpp"
#include "../decode/greedy.hpp"
#include "../decode/gumbel.hpp"
#include "../decode/sample.hpp"
#include "../io/model_io.hpp"
#include "../io/page_evaluator_io.hpp"
#include "../io/safetensors.hpp"
#include "../model/ar_teacher.hpp"
#include "../model/evaluator.hpp"
#include "../model/nar_student.hpp"
#include "../model/page_evaluator.hpp"
#include "any_model.hpp"
#include "reranker.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace serving {

DUALRERANK_SERVE_INLINE any_model load_any_model(const std::string& path, const io::load_options& opt) {
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
    else if (kind == to_string(model_kind::page_evaluator))
        a = make_any_model(io::load_page_evaluator_from<float>(f, what), path);  // always self-tested
    else
        dualrerank::detail::throw_format(what + ": unknown kind \"" + kind + "\"");
    return a;
}


DUALRERANK_SERVE_INLINE any_model load_any_model(const std::string& path) { return load_any_model(path, io::load_options{}); }

DUALRERANK_SERVE_INLINE reranker::reranker(any_model model, const reranker_options& opt, any_model scorer)
    : model_(std::move(model)), scorer_(std::move(scorer)), opt_(opt) {
    using dualrerank::detail::throw_input;
    if (model_.empty()) throw_input("reranker: no model");
    const std::string name = model_.name();
    const char* dec = to_string(opt_.decoder);
    if (model_.evaluator || model_.page_eval)
        throw_input("reranker: " + name + " is a " + model_.kind_name() +
                    ": it scores slates but cannot make them (use it as the scorer)");
    if (model_.teacher && (opt_.decoder == decoder_kind::confident || opt_.decoder == decoder_kind::best_of_n))
        throw_input(std::string("reranker: decoder ") + dec + " needs a nar_student; " + name +
                    " is an ar_teacher (greedy, beam or sample)");
    if (model_.student && opt_.decoder == decoder_kind::beam)
        throw_input("reranker: decoder beam needs an ar_teacher; " + name + " is a nar_student");
    if (opt_.slate_length < 0 || opt_.slate_length > model_.config.max_slate)
        throw_input("reranker: slate length " + std::to_string(opt_.slate_length) + " exceeds the model's max_slate " +
                    std::to_string(model_.config.max_slate));
    L_ = opt_.slate_length > 0 ? opt_.slate_length : model_.config.max_slate;
    if (opt_.beam_width < 1 || opt_.beam_width > limits::max_samples)
        throw_input("reranker: beam width " + std::to_string(opt_.beam_width) + " outside [1, " +
                    std::to_string(limits::max_samples) + "]");
    if (opt_.best_of < 1 || opt_.best_of > limits::max_samples)
        throw_input("reranker: best_of " + std::to_string(opt_.best_of) + " outside [1, " +
                    std::to_string(limits::max_samples) + "] (limits::max_samples)");
    if (!(opt_.tau >= 0) || !std::isfinite(opt_.tau))
        throw_input("reranker: tau must be finite and > 0 (or 0 for the default)");
    tau_ = opt_.tau > 0 ? opt_.tau : opt_.decoder == decoder_kind::best_of_n ? decode::best_of_n_config{}.tau : 1.0;
    if (opt_.decoder == decoder_kind::best_of_n) {
        if (scorer_.empty())
            throw_input("reranker: best-of-n needs a scorer model (an ar_teacher, a list_evaluator or a page_evaluator)");
        if (scorer_.student)
            throw_input("reranker: the scorer " + scorer_.name() +
                        " is a nar_student; use an ar_teacher, a list_evaluator or a page_evaluator");
        if (scorer_.config.features != model_.config.features || scorer_.config.context != model_.config.context)
            throw_input("reranker: the scorer " + scorer_.name() + " takes other inputs than " + name +
                        " (features/context differ)");
        if (scorer_.config.max_slate < L_)
            throw_input("reranker: the scorer " + scorer_.name() + " scores slates of at most " +
                        std::to_string(scorer_.config.max_slate) + "; the slate length is " + std::to_string(L_));
        const decode::best_of_n_config gate_cfg;
        scorer_trusted_ = scorer_.page_eval ? decode::scorer_trusted(decode::page_evaluator_scorer<float>{scorer_.page_eval.get()}, gate_cfg)
                          : scorer_.teacher ? decode::scorer_trusted(decode::teacher_scorer<float>{scorer_.teacher.get()}, gate_cfg)
                                            : decode::scorer_trusted(decode::evaluator_scorer<float>{scorer_.evaluator.get()}, gate_cfg);
    } else if (!scorer_.empty()) {
        throw_input(std::string("reranker: a scorer is only used by best-of-n (the decoder is ") + dec + ")");
    }
}

DUALRERANK_SERVE_INLINE void reranker::validate(const request_view<float>& r, std::size_t capacity) const {
    using dualrerank::detail::throw_input;
    if (r.n <= 0) throw_input("reranker: request has no candidates (N = 0)");
    const int L = slate_length(r.n);
    if (capacity < std::size_t(L))
        throw_input("reranker: the slate buffer holds " + std::to_string(capacity) + " entries; the slate needs " +
                    std::to_string(L));
    dualrerank::detail::validate_request(model_.config, r, L, "reranker");
    if (!scorer_.empty()) dualrerank::detail::validate_request(scorer_.config, r, L, "reranker (scorer)");
    const std::uint64_t K = opt_.decoder == decoder_kind::best_of_n ? std::uint64_t(opt_.best_of - 1)
                            : opt_.decoder == decoder_kind::sample   ? 1
                                                                     : 0;
    if (K * std::uint64_t(L) * std::uint64_t(r.n) > (std::uint64_t(1) << 32))
        throw_input("reranker: samples * L * N exceeds the 2^32 noise counters of one request");
}

struct session::scratch {
    workspace ws;
    decode::best_of_n_workspace<float> bw;
};

DUALRERANK_SERVE_INLINE session::session(const reranker& r)
    : r_(&r), own_(std::make_unique<scratch>()), ws_(&own_->ws), bw_(&own_->bw) {}
DUALRERANK_SERVE_INLINE session::session(const reranker& r, workspace& ws, decode::best_of_n_workspace<float>& bw)
    : r_(&r), ws_(&ws), bw_(&bw) {}
DUALRERANK_SERVE_INLINE session::session(session&&) noexcept = default;
DUALRERANK_SERVE_INLINE session& session::operator=(session&&) noexcept = default;
DUALRERANK_SERVE_INLINE session::~session() = default;

DUALRERANK_SERVE_INLINE int session::rerank(const request_view<float>& r, std::uint64_t request_id, int* slate, std::size_t capacity,
                                         float* score) {
    const reranker& rk = *r_;
    rk.validate(r, capacity);
    if (!slate) dualrerank::detail::throw_input("reranker: slate buffer is null");
    const int L = rk.slate_length(r.n), n = r.n;
    const any_model& m = rk.model();
    last_ = proposals{};
    float lp = std::numeric_limits<float>::quiet_NaN();
    switch (rk.decoder()) {
        case decoder_kind::greedy:
        case decoder_kind::beam:
            if (m.teacher) {
                lp = decode::teacher_beam(*m.teacher, r, L, rk.decoder() == decoder_kind::beam ? rk.options().beam_width : 1,
                                          slate, *ws_);
                break;
            }
            [[fallthrough]];
        case decoder_kind::confident: {
            workspace& ws = *ws_;
            ws.reset();
            const auto c = m.student->infer(&r, 1, L, ws);
            decode::detail::check_logits(c.Z, L, n, std::size_t(n), "reranker");
            std::uint8_t* used = ws.alloc<std::uint8_t>(std::size_t(n));
            if (rk.decoder() == decoder_kind::confident)
                decode::confident_slate(c.Z, L, n, n, slate, used, ws.alloc<float>(std::size_t(L)));
            else
                decode::greedy_slate(c.Z, L, n, n, slate, used);
            if (score) lp = decode::slate_log_prob(c.Z, L, n, n, slate);
            break;
        }
        case decoder_kind::sample:
            if (m.teacher)
                decode::teacher_sample(*m.teacher, r, L, 1, rk.tau(), rk.key(request_id), 0, slate, score ? &lp : nullptr, *ws_);
            else
                decode::student_sample(*m.student, r, L, 1, rk.tau(), rk.key(request_id), 0, slate, score ? &lp : nullptr, *ws_);
            break;
        case decoder_kind::best_of_n: {
            decode::best_of_n_config cfg;
            cfg.n = rk.options().best_of;
            cfg.tau = rk.tau();
            const any_model& sc = rk.scorer();
            int best = 0;
            // the library's gate (decode/best_of_n.hpp): a scorer without a passing trust record
            // serves the student's greedy slate (a page evaluator carries its record in its file)
            if (sc.teacher)
                best = decode::best_of_n(*m.student, decode::teacher_scorer<float>{sc.teacher.get()}, r, L, cfg,
                                         rk.key(request_id), 0, slate, *bw_);
            else if (sc.page_eval)
                best = decode::best_of_n(*m.student, decode::page_evaluator_scorer<float>{sc.page_eval.get()}, r, L, cfg,
                                         rk.key(request_id), 0, slate, *bw_);
            else
                best = decode::best_of_n(*m.student, decode::evaluator_scorer<float>{sc.evaluator.get()}, r, L, cfg,
                                         rk.key(request_id), 0, slate, *bw_);
            if (cfg.n > 1 && bw_->gate_open) {  // gate closed: nothing was scored
                lp = bw_->scores[std::size_t(best)];
                last_ = proposals{bw_->slates.data(), bw_->scores.data(), cfg.n, L, best};
            }
            break;
        }
    }
    if (score) *score = lp;
    return L;
}

DUALRERANK_SERVE_INLINE slate session::rerank(const request_view<float>& r, std::uint64_t request_id, float* score) {
    slate y(std::size_t(r.n > 0 ? r_->slate_length(r.n) : 0));
    rerank(r, request_id, y.data(), y.size(), score);
    return y;
}

DUALRERANK_SERVE_INLINE int session::logits(const request_view<float>& r, float* Z, std::size_t capacity) {
    const any_model& m = r_->model();
    if (!m.student)
        dualrerank::detail::throw_input("reranker: logits need a nar_student; " + m.name() + " is an " + m.kind_name());
    if (r.n <= 0) dualrerank::detail::throw_input("reranker: request has no candidates (N = 0)");
    const int L = r_->slate_length(r.n);
    dualrerank::detail::validate_request(m.config, r, L, "reranker");
    if (capacity < std::size_t(L) * std::size_t(r.n))
        dualrerank::detail::throw_input("reranker: the logits buffer holds " + std::to_string(capacity) +
                                        " floats; L x N = " + std::to_string(std::size_t(L) * std::size_t(r.n)));
    if (!Z) dualrerank::detail::throw_input("reranker: logits buffer is null");
    m.student->logits(r, L, Z, *ws_);
    return L;
}

}  // namespace serving
DUALRERANK_NAMESPACE_END
