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
#include "any_model.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace decode {
template <class T>
struct best_of_n_workspace;
}  // namespace decode
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
    const int* slates = nullptr;    ///< [count x length], row 0 the greedy slate (count 0: nothing scored)
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
    explicit reranker(any_model model, const reranker_options& opt = {}, any_model scorer = {});

    const any_model& model() const noexcept { return model_; }
    const any_model& scorer() const noexcept { return scorer_; }  ///< empty unless best-of-n
    const reranker_options& options() const noexcept { return opt_; }
    decoder_kind decoder() const noexcept { return opt_.decoder; }
    /// The configured slate length L, and the length served for a request of n candidates.
    int slate_length() const noexcept { return L_; }
    int slate_length(int n) const noexcept { return n < L_ ? n : L_; }
    double tau() const noexcept { return tau_; }  ///< the temperature in effect
    counter_key key(std::uint64_t request_id) const noexcept { return request_key(opt_.seed, request_id); }
    /// Best-of-n: whether the scorer's trust record passes the library's gate (decode::best_of_n_config::gate,
    /// docs/evaluator.md); when false every request gets the student's greedy slate. A page evaluator
    /// carries its record in its file; an ar_teacher or list_evaluator file holds none.
    bool scorer_trusted() const noexcept { return scorer_trusted_; }

    /// The checks a session runs before any work (input_error naming the problem): the request
    /// against the model (and the scorer), and the caller's slate buffer.
    void validate(const request_view<float>& r, std::size_t capacity) const;

private:
    any_model model_, scorer_;
    reranker_options opt_;
    int L_ = 0;
    double tau_ = 1.0;
    bool scorer_trusted_ = false;
};

/// One thread's serving state: the workspaces (owned, or borrowed from the caller) and a
/// reference to the reranker, which must outlive the session. Not for concurrent use.
class session {
public:
    /// Owns its workspaces.
    explicit session(const reranker& r);
    /// Borrows the caller's workspaces (both must outlive the session and belong to this thread).
    session(const reranker& r, workspace& ws, decode::best_of_n_workspace<float>& bw);
    session(session&&) noexcept;
    session& operator=(session&&) noexcept;
    ~session();

    const reranker& ranker() const noexcept { return *r_; }

    /// Reranks one request into slate[0 .. L) (L = min(slate length, N); `capacity` is the size of
    /// the slate buffer) and returns L. `score`, if not null, gets the slate's log-probability under
    /// the model (greedy, confident, beam; at tau for sample) or, for best-of-n, the scorer's score of
    /// the chosen slate (NaN when nothing is scored: best_of 1, or the scorer's trust record does
    /// not pass the gate and the greedy slate is served, see scorer_trusted()). input_error before any work on a
    /// bad request or a short buffer; allocation-free after warm-up.
    int rerank(const request_view<float>& r, std::uint64_t request_id, int* slate, std::size_t capacity, float* score = nullptr);

    /// Convenience: the slate as a vector (allocates the result; the serving path is the overload above).
    slate rerank(const request_view<float>& r, std::uint64_t request_id, float* score = nullptr);

    /// A student's slot logits Z [L x N] (row-major, L = the served slate length) into Z, which
    /// holds `capacity` floats; returns L. input_error for a teacher (its logits depend on the prefix).
    int logits(const request_view<float>& r, float* Z, std::size_t capacity);

    /// Best-of-n's proposals and scores for the last request (count 0 for other decoders, best_of 1 or
    /// an untrusted scorer).
    const proposals& last_proposals() const noexcept { return last_; }

private:
    struct scratch;  // owned workspaces (serve/reranker_impl.hpp)
    const reranker* r_;
    std::unique_ptr<scratch> own_;
    workspace* ws_;
    decode::best_of_n_workspace<float>* bw_;
    proposals last_;
};

}  // namespace serving
DUALRERANK_NAMESPACE_END
