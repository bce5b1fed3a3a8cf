// Shared pieces of the dualrerank tool: loading a model of any kind, reading queries (LETOR or
// JSON lines), the model-architecture and world options, and the decoders behind one interface.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <dualrerank/dualrerank.hpp>

#include "args.hpp"

namespace dualrerank_cli {

using namespace dualrerank;

// ------------------------------------------------------------------ models

/// A model file of any kind (exactly one pointer is set).
struct any_model {
    std::string path, kind;
    model_config config;
    std::unique_ptr<ar_teacher<float>> teacher;
    std::unique_ptr<nar_student<float>> student;
    std::unique_ptr<list_evaluator<float>> evaluator;
    int letor_index_base = 0;  ///< how its LETOR inputs are read (letor_index_base_of)
};

/// The LETOR index base a model was trained with: its "letor_index_base" metadata (written by
/// train and distill), else 0 (models written before it existed read indices literally).
inline int letor_index_base_of(const std::string& model_path) {
    const auto meta = io::safetensors_file::from_file(model_path).metadata();
    const auto it = meta.find("letor_index_base");
    if (it == meta.end()) return 0;
    if (it->second != "0" && it->second != "1")
        throw format_error("model file " + model_path + ": letor_index_base \"" + it->second + "\" is not 0 or 1");
    return it->second == "1" ? 1 : 0;
}

inline any_model load_any_model(const std::string& path) {
    any_model m;
    m.path = path;
    auto header = io::read_model_header(path);
    m.kind = header.first;
    m.config = header.second;
    if (m.kind == to_string(model_kind::teacher))
        m.teacher = std::make_unique<ar_teacher<float>>(io::load_model<ar_teacher<float>>(path));
    else if (m.kind == to_string(model_kind::student))
        m.student = std::make_unique<nar_student<float>>(io::load_model<nar_student<float>>(path));
    else if (m.kind == to_string(model_kind::evaluator))
        m.evaluator = std::make_unique<list_evaluator<float>>(io::load_model<list_evaluator<float>>(path));
    else
        throw format_error("model file " + path + ": unknown kind \"" + m.kind + "\"");
    m.letor_index_base = letor_index_base_of(path);
    return m;
}

/// The architecture options shared by train and distill.
inline void add_architecture_options(arg_parser& p, bool with_defaults) {
    p.option("d", "D", with_defaults ? "32" : "", "model width")
        .option("heads", "H", with_defaults ? "4" : "", "attention heads (must divide d)")
        .option("enc-layers", "K", with_defaults ? "2" : "", "candidate-encoder blocks")
        .option("dec-layers", "K", with_defaults ? "2" : "", "teacher decoder / student slot blocks")
        .option("ffn", "W", with_defaults ? "128" : "", "FFN hidden width");
}

inline void apply_architecture(const arg_parser& a, model_config& c) {
    if (a.has("d")) c.d = a.int_value("d", 1, limits::max_width);
    if (a.has("heads")) c.heads = a.int_value("heads", 1, limits::max_heads);
    if (a.has("enc-layers")) c.enc_layers = a.int_value("enc-layers", 0, limits::max_layers);
    if (a.has("dec-layers")) c.dec_layers = a.int_value("dec-layers", 0, limits::max_layers);
    if (a.has("ffn")) c.ffn = a.int_value("ffn", 1, 4 * limits::max_width);
    if (c.d % c.heads != 0)
        throw usage_error("--heads " + std::to_string(c.heads) + " does not divide --d " + std::to_string(c.d));
}

/// Optimizer and batch options shared by train and distill.
inline void add_optimizer_options(arg_parser& p, const std::string& steps, const std::string& lr) {
    p.option("steps", "N", steps, "optimizer steps")
        .option("batch-size", "B", "32", "requests per step")
        .option("lr", "X", lr, "peak learning rate (AdamW; linear warmup, cosine decay)")
        .option("warmup", "N", "", "warmup steps (default min(200, steps / 10))")
        .option("weight-decay", "X", "0.01", "AdamW weight decay (matrices only)")
        .option("clip-norm", "X", "1.0", "global gradient-norm clip (0: off)");
}

inline train::trainer_config trainer_config_from(const arg_parser& a, std::uint64_t seed) {
    train::trainer_config tc;
    const long steps = static_cast<long>(a.integer("steps", 1, 100000000));
    tc.batch_size = a.int_value("batch-size", 1, 4096);
    tc.seed = seed;
    tc.optimizer.lr = a.real("lr", 1e-9, 10.0);
    tc.optimizer.warmup_steps = a.has("warmup") ? static_cast<long>(a.integer("warmup", 0, 100000000)) : std::min(200L, steps / 10);
    tc.optimizer.total_steps = steps;
    tc.optimizer.weight_decay = a.real("weight-decay", 0.0, 1.0);
    tc.optimizer.clip_norm = a.real("clip-norm", 0.0, 1e9);
    tc.log_every = 0;
    tc.log = nullptr;
    return tc;
}

/// Extra metadata stored in every model the tool writes.
inline io::save_options provenance(const std::string& command, const std::string& what) {
    io::save_options o;
    o.metadata["written_by"] = std::string("dualrerank ") + command + " " + DUALRERANK_VERSION_STRING;
    o.metadata["training"] = what;
    return o;
}

// ------------------------------------------------------------------ the built-in world

inline void add_world_options(arg_parser& p) {
    p.option("world", "small|default", "", "use the built-in world (small: N = 20, L = 6; default: N = 50, L = 10)")
        .option("world-seed", "S", "1", "seed of the built-in world (which users and items exist)");
}

inline world_config world_config_from(const std::string& name) {
    if (name == "small") return world_config::small();
    if (name == "default") return world_config{};
    throw usage_error("--world: '" + name + "' is not one of small, default");
}

/// A model config that fits the world's requests.
inline model_config config_for_world(const world_config& wc) {
    model_config c;
    c.features = wc.feature_dim;
    c.context = wc.context_dim;
    c.max_slate = wc.slate_size;
    c.max_candidates = wc.num_candidates;
    c.d = 32;
    c.heads = 4;
    c.enc_layers = 2;
    c.dec_layers = 2;
    c.ffn = 128;
    return c;
}

inline void check_model_fits_world(const model_config& c, const world_config& wc, const std::string& what) {
    if (c.features != wc.feature_dim || c.context != wc.context_dim)
        throw input_error(what + " has " + std::to_string(c.features) + " features and " + std::to_string(c.context) +
                          " context features; the world's requests have " + std::to_string(wc.feature_dim) + " and " +
                          std::to_string(wc.context_dim) + " (was it trained on this --world?)");
    if (c.max_slate < wc.slate_size || c.max_candidates < wc.num_candidates)
        throw input_error(what + " was built for slates of " + std::to_string(c.max_slate) + " from " +
                          std::to_string(c.max_candidates) + " candidates; the world needs " + std::to_string(wc.slate_size) +
                          " from " + std::to_string(wc.num_candidates));
}

// ------------------------------------------------------------------ queries

/// One query: the request, its id for the output, and graded labels when known.
struct query {
    io::json id;
    request<float> req;
    std::vector<float> relevance;
    std::size_t line = 0;  ///< JSON lines: the line number (0 for LETOR)
};

inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "letor" or "jsonl": the explicit choice, else from the file name (.jsonl, .ndjson, .json -> jsonl).
inline std::string input_format(const std::string& path, const std::string& explicit_format) {
    if (explicit_format == "letor" || explicit_format == "jsonl") return explicit_format;
    if (explicit_format != "auto") throw usage_error("--format: '" + explicit_format + "' is not one of auto, letor, jsonl");
    if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson") || ends_with(path, ".json")) return "jsonl";
    return "letor";
}

/// A LETOR file (with qid:, or without and a group file), parsed (sparse); `width` > 0 pins the
/// dense width (an index beyond it is an error); `index_base` as letor_options (-1: decide from
/// the file, which train does; rerank and eval use the model's letor_index_base_of).
inline letor_dataset read_letor_sparse(const std::string& path, const std::string& group_path, int width, int index_base) {
    letor_options opt;
    opt.feature_width = width;
    opt.index_base = index_base;
    letor_dataset ds = group_path.empty() ? read_letor_file(path, opt) : read_letor_file(path, group_path, opt);
    if (ds.num_queries() == 0) throw format_error(path + ": no queries");
    return ds;
}

/// Query q of a parsed LETOR file, made dense at `width` (0: the data's width).
inline query letor_query_at(const letor_dataset& ds, std::size_t q, int width) {
    query out;
    out.id = io::json(ds.qids[q]);
    out.req = ds.to_request(q, width);
    out.relevance = ds.relevance(q);
    return out;
}

/// All queries of a LETOR file made dense (width and total caps checked before any dense buffer).
inline std::vector<query> read_letor_queries(const std::string& path, const std::string& group_path, int width,
                                             int index_base = 0, int* base_used = nullptr) {
    const letor_dataset ds = read_letor_sparse(path, group_path, width, index_base);
    if (base_used) *base_used = ds.index_base;
    ds.check_dense(width);
    std::vector<query> out(ds.num_queries());
    for (std::size_t q = 0; q < ds.num_queries(); ++q) {
        out[q].id = io::json(ds.qids[q]);
        out[q].req = ds.to_request(q, width);
        out[q].relevance = ds.relevance(q);
    }
    if (width <= 0 && out[0].req.f <= 0) throw format_error(path + ": no features in the file");
    return out;
}

/// All JSON-lines requests of a file ("-" = stdin).
inline std::vector<query> read_jsonl_queries(const std::string& path) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        file.open(path, std::ios::binary);
        if (!file) throw format_error(path + ": cannot open");
        in = &file;
    }
    io::jsonl_reader reader(*in, path == "-" ? "<stdin>" : path);
    std::vector<query> out;
    io::jsonl_request r;
    while (reader.next(r)) {
        query q;
        q.id = r.output_id();
        q.req = std::move(r.candidates);
        q.relevance = std::move(r.relevance);
        q.line = r.line;
        out.push_back(std::move(q));
    }
    if (out.empty()) throw format_error((path == "-" ? std::string("<stdin>") : path) + ": no requests");
    return out;
}

/// Labels sorted descending (stable: file order among equal labels), the first L: the
/// supervised target of a LETOR query.
inline slate target_by_label(const std::vector<float>& relevance, int L) {
    slate idx(relevance.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return relevance[a] > relevance[b]; });
    idx.resize(static_cast<std::size_t>(std::min<std::size_t>(L, idx.size())));
    return idx;
}

/// A string that says where a query came from, for error messages.
inline std::string query_name(const query& q) {
    if (q.line > 0) return "request on line " + std::to_string(q.line);
    return "query " + q.id.dump();
}

// ------------------------------------------------------------------ decoders

inline void add_decoder_options(arg_parser& p) {
    p.option("decoder", "NAME", "greedy",
             "greedy | beam (teacher) | confident (student) | best-of-n (student + --scorer) | sample (student)")
        .option("slate-length", "L", "", "slots to fill (default the model's max_slate; min(L, N) per request)")
        .option("beam-width", "B", "4", "beam width for --decoder beam")
        .option("best-of", "N", "16", "slates scored per request for --decoder best-of-n")
        .option("scorer", "MODEL", "", "teacher or evaluator model that scores the best-of-n slates")
        .option("tau", "X", "", "sampling temperature (default: 0.5 for best-of-n, 1 for sample)")
        .option("seed", "S", "1", "seed of the sampling noise");
}

/// How to decode (the --decoder family of options).
struct decoder_settings {
    std::string decoder = "greedy";
    int slate_length = 0;  ///< 0: the model's max_slate
    int beam_width = 4;
    int best_of = 16;
    std::string scorer;    ///< model path for best-of-n
    double tau = 1.0;
    std::uint64_t seed = 1;
};

inline decoder_settings decoder_settings_from(const arg_parser& a) {
    decoder_settings d;
    d.decoder = a.choice("decoder", {"greedy", "beam", "confident", "best-of-n", "sample"});
    d.slate_length = a.has("slate-length") ? a.int_value("slate-length", 1, limits::max_slate) : 0;
    d.beam_width = a.int_value("beam-width", 1, 1024);
    d.best_of = a.int_value("best-of", 1, 4096);
    d.scorer = a.str_or("scorer", "");
    d.tau = a.has("tau") ? a.real("tau", 1e-6, 1e6) : d.decoder == "best-of-n" ? decode::best_of_n_config{}.tau : 1.0;
    d.seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
    return d;
}

/// One model behind one call: request in, slate (and a score) out.
class reranker {
public:
    reranker(const any_model& m, const decoder_settings& d) : m_(m), decoder_(d.decoder) {
        if (m.evaluator)
            throw usage_error(m.path + " is a list_evaluator: it scores slates but cannot make them (use it as --scorer)");
        if (m.teacher && decoder_ != "greedy" && decoder_ != "beam")
            throw usage_error("--decoder " + decoder_ + " needs a student model; " + m.path + " is an ar_teacher (greedy or beam)");
        if (m.student && decoder_ == "beam")
            throw usage_error("--decoder beam needs a teacher model; " + m.path + " is a nar_student");
        L_ = d.slate_length > 0 ? d.slate_length : m.config.max_slate;
        if (L_ > m.config.max_slate)
            throw usage_error("--slate-length " + std::to_string(L_) + " exceeds the model's max_slate " +
                              std::to_string(m.config.max_slate));
        beam_ = d.beam_width;
        bon_.n = d.best_of;
        bon_.tau = d.tau;
        key_ = counter_key::from_seed(d.seed);
        if (decoder_ == "best-of-n") {
            if (d.scorer.empty()) throw usage_error("--decoder best-of-n needs --scorer MODEL (a teacher or an evaluator)");
            scorer_ = std::make_unique<any_model>(load_any_model(d.scorer));
            if (scorer_->student) throw usage_error("--scorer " + scorer_->path + " is a nar_student; use a teacher or an evaluator");
            if (scorer_->config.features != m.config.features || scorer_->config.context != m.config.context)
                throw usage_error("--scorer " + scorer_->path + " takes other inputs than the model (features/context differ)");
        } else if (!d.scorer.empty()) {
            throw usage_error("--scorer is only used by --decoder best-of-n");
        }
    }

    int slate_length() const noexcept { return L_; }
    const std::string& decoder() const noexcept { return decoder_; }

    /// The slate for one request (L = min(slate length, N)); `score` gets the slate's
    /// log-probability (greedy, beam, confident, sample) or the scorer's score (best-of-n).
    slate run(const request_view<float>& v, std::uint64_t request_no, double& score) {
        const int L = std::min(L_, v.n);
        if (L < 1) throw input_error("request has no candidates (N = 0)");
        slate y(static_cast<std::size_t>(L));
        score = std::numeric_limits<double>::quiet_NaN();
        const std::uint32_t base = static_cast<std::uint32_t>(request_no * std::uint64_t(bon_.n) * std::uint64_t(L) * std::uint64_t(v.n));
        if (m_.teacher) {
            score = double(decode::teacher_beam(*m_.teacher, v, L, decoder_ == "beam" ? beam_ : 1, y.data(), ws_));
            return y;
        }
        const nar_student<float>& s = *m_.student;
        if (decoder_ == "best-of-n") {
            int best = 0;
            if (scorer_->teacher) {
                decode::teacher_scorer<float> sc{scorer_->teacher.get()};
                best = decode::best_of_n(s, sc, v, L, bon_, key_, base, y.data(), bw_);
            } else {
                decode::evaluator_scorer<float> sc{scorer_->evaluator.get()};
                best = decode::best_of_n(s, sc, v, L, bon_, key_, base, y.data(), bw_);
            }
            if (bon_.n > 1) score = double(bw_.scores[static_cast<std::size_t>(best)]);
            return y;
        }
        if (decoder_ == "sample") {
            float lp = 0;
            decode::student_sample(s, v, L, 1, bon_.tau, key_, base, y.data(), &lp, ws_);
            score = double(lp);
            return y;
        }
        ws_.reset();
        auto c = s.forward(&v, 1, L, ws_);
        std::uint8_t* used = ws_.alloc<std::uint8_t>(static_cast<std::size_t>(v.n));
        if (decoder_ == "confident")
            decode::confident_slate(c.Z, L, v.n, v.n, y.data(), used, ws_.alloc<float>(static_cast<std::size_t>(L)));
        else
            decode::greedy_slate(c.Z, L, v.n, v.n, y.data(), used);
        score = double(decode::slate_log_prob(c.Z, L, v.n, v.n, y.data()));
        return y;
    }

private:
    const any_model& m_;
    std::string decoder_;
    int L_ = 0, beam_ = 4;
    counter_key key_{};
    decode::best_of_n_config bon_;
    std::unique_ptr<any_model> scorer_;
    workspace ws_;
    decode::best_of_n_workspace<float> bw_;
};

/// The model's input shapes must match the request's (a LETOR file narrower than the model is
/// zero padded by the reader); input_error otherwise (the caller names the query).
inline void check_query_fits(const any_model& m, const query& q) {
    if (q.req.f != m.config.features)
        throw input_error(std::to_string(q.req.f) + " features per candidate; " + m.path + " takes " +
                          std::to_string(m.config.features));
    if (static_cast<int>(q.req.context.size()) != m.config.context)
        throw input_error(std::to_string(q.req.context.size()) + " context features; " + m.path + " takes " +
                          std::to_string(m.config.context));
    if (m.config.rank_embedding && q.req.upstream_rank.empty())
        throw input_error("no upstream_rank; " + m.path + " uses upstream ranks");
}

/// An exception message without the library's "dualrerank: " prefix, on one line.
inline std::string one_line(std::string msg) {
    const std::string prefix = "dualrerank: ";
    while (msg.compare(0, prefix.size(), prefix) == 0) msg.erase(0, prefix.size());
    for (char& c : msg)
        if (c == '\n' || c == '\r') c = ' ';
    msg = dualrerank::detail::printable(msg);  // no raw control bytes reach the terminal
    if (msg.size() > 2000) msg = msg.substr(0, 2000) + "...";
    return msg;
}

}  // namespace dualrerank_cli
