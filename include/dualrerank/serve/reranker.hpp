// The serving front door (docs/serving.md): load once, then one call per request.
//
//   const serving::reranker ranker("student.safetensors");   // immutable: share it across threads
//   serving::session s(ranker);                              // per thread: owns the scratch memory
//   int slate[16];
//   int L = s.rerank(request, request_id, slate, 16);      // writes slate[0..L)
//
// The split is llama.cpp's model vs context: a `reranker` holds the loaded model(s) and the
// decoding settings and is never written after construction, so any number of threads may use
// one reranker at the same time; a `session` holds the workspaces of one thread (owned, or
// borrowed from the caller) and must not be used by two threads at once. After one warm-up call
// of the largest request shape a session allocates nothing (tests/test_zero_alloc.cpp).
//
// Noise: the sampled decoders (sample, best-of-n) draw their Gumbel noise from a counter key that
// is a bijection of the caller's 64-bit request id (request_key): distinct ids get distinct keys,
// the same id (and seed) always the same slate, and the caller does no counter arithmetic.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"
#include "../core/rng.hpp"
#include "../core/workspace.hpp"
#include "../decode/best_of_n.hpp"
#include "../decode/greedy.hpp"
#include "../decode/gumbel.hpp"
#include "../decode/sample.hpp"
#include "any_model.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace serving {

/// How a reranker turns a request into a slate.
enum class decoder_kind {
    greedy,     ///< student: argmax per slot in slot order; teacher: greedy (beam of 1)
    confident,  ///< student: the most confident free slot first (UniRank confidence order)
    beam,       ///< teacher: beam search of width beam_width
    sample,     ///< one Gumbel-Max sample at temperature tau (student or teacher)
    best_of_n,  ///< student proposes greedy + (N - 1) samples, the scorer model picks one
};

inline const char* to_string(decoder_kind d) noexcept {
    switch (d) {
        case decoder_kind::greedy: return "greedy";
        case decoder_kind::confident: return "confident";
        case decoder_kind::beam: return "beam";
        case decoder_kind::sample: return "sample";
        case decoder_kind::best_of_n: return "best-of-n";
    }
    return "unknown";
}

/// "greedy", "confident", "beam", "sample" or "best-of-n" (also "best_of_n"); input_error otherwise.
inline decoder_kind parse_decoder(const std::string& name) {
    if (name == "greedy") return decoder_kind::greedy;
    if (name == "confident") return decoder_kind::confident;
    if (name == "beam") return decoder_kind::beam;
    if (name == "sample") return decoder_kind::sample;
    if (name == "best-of-n" || name == "best_of_n") return decoder_kind::best_of_n;
    dualrerank::detail::throw_input("decoder \"" + name + "\" is not one of greedy, confident, beam, sample, best-of-n");
}

struct reranker_options {
    decoder_kind decoder = decoder_kind::greedy;
    int slate_length = 0;    ///< L; 0: the model's max_slate. A request of N < L candidates gets N.
    int beam_width = 4;      ///< beam: [1, limits::max_samples]
    int best_of = 16;        ///< best-of-n: slates scored per request, [1, limits::max_samples]
    double tau = 0;          ///< sampling temperature; 0: 0.5 for best-of-n (best_of_n_config), 1 for sample
    std::uint64_t seed = 1;  ///< noise seed, combined with each request id (request_key)
};

/// The counter key of one request: counter_key::from_seed(request_id + splitmix64(seed)), a
/// bijection of the request id for a fixed seed, so two distinct ids never share a key. Within a
/// request the sampler uses counters 0 .. K * L * N - 1 (< 2^32, checked), so no draw repeats.
inline counter_key request_key(std::uint64_t seed, std::uint64_t request_id) noexcept {
    std::uint64_t s = seed;
    return counter_key::from_seed(request_id + splitmix64(s));
}

/// The best-of-n proposals of a session's last request (valid until its next call).
struct proposals {
    const int* slates = nullptr;    ///< [count x length], row 0 the greedy slate
    const float* scores = nullptr;  ///< [count], the scorer's scores
    int count = 0, length = 0;
    int chosen = -1;                ///< index of the served slate
};

/// A loaded model (and optional scorer) with its decoding settings; immutable, shared by threads.
class reranker {
public:
    /// Loads `model_path` (and `scorer_path` for best-of-n) once. format_error for a bad file,
    /// input_error for settings the model cannot serve.
    explicit reranker(const std::string& model_path, const reranker_options& opt = {}, const std::string& scorer_path = "")
        : reranker(load_any_model(model_path), opt, scorer_path.empty() ? any_model{} : load_any_model(scorer_path)) {}

    /// Serves already-loaded models (the weights stay shared with `model` and `scorer`).
    explicit reranker(any_model model, const reranker_options& opt = {}, any_model scorer = {})
        : model_(std::move(model)), scorer_(std::move(scorer)), opt_(opt) {
        using dualrerank::detail::throw_input;
        if (model_.empty()) throw_input("reranker: no model");
        const std::string name = model_.name();
        const char* dec = to_string(opt_.decoder);
        if (model_.evaluator)
            throw_input("reranker: " + name + " is a list_evaluator: it scores slates but cannot make them (use it as the scorer)");
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
            if (scorer_.empty()) throw_input("reranker: best-of-n needs a scorer model (an ar_teacher or a list_evaluator)");
            if (scorer_.student)
                throw_input("reranker: the scorer " + scorer_.name() + " is a nar_student; use an ar_teacher or a list_evaluator");
            if (scorer_.config.features != model_.config.features || scorer_.config.context != model_.config.context)
                throw_input("reranker: the scorer " + scorer_.name() + " takes other inputs than " + name +
                            " (features/context differ)");
            if (scorer_.config.max_slate < L_)
                throw_input("reranker: the scorer " + scorer_.name() + " scores slates of at most " +
                            std::to_string(scorer_.config.max_slate) + "; the slate length is " + std::to_string(L_));
        } else if (!scorer_.empty()) {
            throw_input(std::string("reranker: a scorer is only used by best-of-n (the decoder is ") + dec + ")");
        }
    }

    const any_model& model() const noexcept { return model_; }
    const any_model& scorer() const noexcept { return scorer_; }  ///< empty unless best-of-n
    const reranker_options& options() const noexcept { return opt_; }
    decoder_kind decoder() const noexcept { return opt_.decoder; }
    /// The configured slate length L, and the length served for a request of n candidates.
    int slate_length() const noexcept { return L_; }
    int slate_length(int n) const noexcept { return n < L_ ? n : L_; }
    double tau() const noexcept { return tau_; }  ///< the temperature in effect
    counter_key key(std::uint64_t request_id) const noexcept { return request_key(opt_.seed, request_id); }

    /// The checks a session runs before any work (input_error naming the problem): the request
    /// against the model (and the scorer), and the caller's slate buffer.
    void validate(const request_view<float>& r, std::size_t capacity) const {
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

private:
    any_model model_, scorer_;
    reranker_options opt_;
    int L_ = 0;
    double tau_ = 1.0;
};

/// One thread's serving state: the workspaces (owned, or borrowed from the caller) and a
/// reference to the reranker, which must outlive the session. Not for concurrent use.
class session {
public:
    /// Owns its workspaces.
    explicit session(const reranker& r) : r_(&r), own_(std::make_unique<scratch>()), ws_(&own_->ws), bw_(&own_->bw) {}
    /// Borrows the caller's workspaces (both must outlive the session and belong to this thread).
    session(const reranker& r, workspace& ws, decode::best_of_n_workspace<float>& bw) : r_(&r), ws_(&ws), bw_(&bw) {}

    const reranker& ranker() const noexcept { return *r_; }

    /// Reranks one request into slate[0 .. L) (L = min(slate length, N); `capacity` is the size of
    /// the slate buffer) and returns L. `score`, if not null, gets the slate's log-probability under
    /// the model (greedy, confident, beam; at tau for sample) or, for best-of-n, the scorer's score of
    /// the chosen slate (NaN when best_of is 1: nothing is scored). input_error before any work on a
    /// bad request or a short buffer; allocation-free after warm-up.
    int rerank(const request_view<float>& r, std::uint64_t request_id, int* slate, std::size_t capacity, float* score = nullptr) {
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
                const auto c = m.student->forward(&r, 1, L, ws);
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
                if (sc.teacher)
                    best = decode::best_of_n(*m.student, decode::teacher_scorer<float>{sc.teacher.get()}, r, L, cfg,
                                             rk.key(request_id), 0, slate, *bw_);
                else
                    best = decode::best_of_n(*m.student, decode::evaluator_scorer<float>{sc.evaluator.get()}, r, L, cfg,
                                             rk.key(request_id), 0, slate, *bw_);
                if (cfg.n > 1) {
                    lp = bw_->scores[std::size_t(best)];
                    last_ = proposals{bw_->slates.data(), bw_->scores.data(), cfg.n, L, best};
                }
                break;
            }
        }
        if (score) *score = lp;
        return L;
    }

    /// Convenience: the slate as a vector (allocates the result; the serving path is the overload above).
    slate rerank(const request_view<float>& r, std::uint64_t request_id, float* score = nullptr) {
        slate y(std::size_t(r.n > 0 ? r_->slate_length(r.n) : 0));
        rerank(r, request_id, y.data(), y.size(), score);
        return y;
    }

    /// A student's slot logits Z [L x N] (row-major, L = the served slate length) into Z, which
    /// holds `capacity` floats; returns L. input_error for a teacher (its logits depend on the prefix).
    int logits(const request_view<float>& r, float* Z, std::size_t capacity) {
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

    /// Best-of-n's proposals and scores for the last request (count 0 for other decoders or best_of 1).
    const proposals& last_proposals() const noexcept { return last_; }

private:
    struct scratch {
        workspace ws;
        decode::best_of_n_workspace<float> bw;
    };
    const reranker* r_;
    std::unique_ptr<scratch> own_;
    workspace* ws_;
    decode::best_of_n_workspace<float>* bw_;
    proposals last_;
};

}  // namespace serving
DUALRERANK_NAMESPACE_END
