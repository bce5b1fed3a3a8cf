// Shared pieces of the dualrerank tool: loading a model of any kind, reading queries (LETOR or
// JSON lines), the model-architecture and world options, and the decoders behind one interface.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <sys/stat.h>
#if defined(_WIN32)
#include <process.h>
#define DUALRERANK_CLI_GETPID _getpid
#else
#include <unistd.h>
#define DUALRERANK_CLI_GETPID ::getpid
#endif

#include <dualrerank/dualrerank.hpp>

#include "args.hpp"

namespace dualrerank_cli {

using namespace dualrerank;

// ------------------------------------------------------------------ models

/// A model file of any kind: the library's serving::any_model (one read of the file; the weights
/// shared and immutable) plus what the tool reads from the metadata. `kind` is the kind's name,
/// which the tool prints (it hides serving::any_model::kind, the enum; kind_name() is the same text).
struct any_model : serving::any_model {
    std::string kind;          ///< "ar_teacher", "nar_student", "list_evaluator" or "page_evaluator"
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
    static_cast<serving::any_model&>(m) = serving::load_any_model(path);
    m.kind = m.kind_name();
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
inline void add_optimizer_options(arg_parser& p, const std::string& steps, const std::string& lr,
                                  const std::string& weight_decay = "0.01") {
    p.option("steps", "N", steps, "optimizer steps")
        .option("batch-size", "B", "32", "requests per step")
        .option("lr", "X", lr, "peak learning rate (AdamW; linear warmup, cosine decay)")
        .option("warmup", "N", "", "warmup steps (default min(200, steps / 10))")
        .option("weight-decay", "X", weight_decay, "AdamW weight decay (matrices only)")
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
    if (a.has("average-decay")) tc.average_decay = a.real("average-decay", 0.0, 0.999999);  // train only
    return tc;
}

/// Before any work: `path` (the value of --`option`) can be written, i.e. it is not a directory
/// and its directory exists and takes a new file (a probe file is created there and removed).
/// A run that trains for an hour must not end in "cannot create" and lose the model. An
/// error (exit status 1, a write error) naming the option; "-" (stdout) and "" pass.
inline void check_writable(const std::string& path, const std::string& option) {
    if (path.empty() || path == "-") return;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw error("--" + option + " " + path + " is a directory; give a file name");
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw error("--" + option + " " + path + ": the directory " + dir + " does not exist (create it first)");
    const std::string probe = path + ".probe." + std::to_string(static_cast<long>(DUALRERANK_CLI_GETPID()));
    std::FILE* f = std::fopen(probe.c_str(), "wb");
    if (!f) throw error("--" + option + " " + path + ": cannot create a file in " + dir + ": " + std::strerror(errno));
    std::fclose(f);
    std::remove(probe.c_str());
}

/// usage_error when the output of --`option` is also one of the command's input files (the same
/// path, or the same file under another name): writing it would replace the teacher, the logs or
/// the data the run reads (`distill --teacher t.safetensors --out t.safetensors`).
inline void check_not_an_input(const arg_parser& a, const std::string& option) {
    if (!a.has(option)) return;
    const std::string out = a.str(option);
    if (out.empty() || out == "-") return;
    struct stat so {};
    const bool out_exists = ::stat(out.c_str(), &so) == 0;
    for (const char* in : {"data", "valid", "group", "valid-group", "logs", "teacher", "reference", "student", "model", "evaluator",
                           "scorer", "input", "resume"}) {
        if (!a.has(in) || a.str(in).empty() || a.str(in) == "-") continue;
        const std::string path = a.str(in);
        struct stat si {};
        const bool same = path == out || (out_exists && ::stat(path.c_str(), &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino);
        if (same)
            throw usage_error("--" + option + " " + out + " is also --" + in + ": writing it would replace an input of the run; "
                              "give another file name");
    }
}

/// check_writable for the files a training command writes: --out and --checkpoint, and --curve
/// (the CSV, `curve_suffix` after the name: ".csv" for train and distill, "" for ldro's).
inline void check_outputs(const arg_parser& a, const std::string& curve_suffix = ".csv") {
    check_not_an_input(a, "out");
    if (a.has("out")) check_writable(a.str("out"), "out");
    if (a.has("checkpoint") && (!a.has("resume") || a.str("resume") != a.str("checkpoint")))  // resuming in place is fine
        check_not_an_input(a, "checkpoint");
    if (a.has("checkpoint")) check_writable(a.str("checkpoint"), "checkpoint");
    if (a.has("curve")) check_writable(a.str("curve") + curve_suffix, "curve");
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

/// The first byte of a file that is not white space (0 when there is none or it cannot be read).
inline char first_text_byte(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    for (int c, i = 0; f && i < 4096 && (c = f.get()) != std::char_traits<char>::eof(); ++i)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return static_cast<char>(c);
    return 0;
}

/// A float in its shortest text that reads back to it (1e+30, not 1.0000000150474662e+30).
inline std::string float_text(float x) {
    std::string s;
    io::detail::append_float(s, x);
    return s;
}

/// A LETOR file (with qid:, or without and a group file), parsed (sparse); `width` > 0 pins the
/// dense width (an index beyond it is an error); `index_base` as letor_options (-1: decide from
/// the file, which train does; rerank and eval use the model's letor_index_base_of).
inline letor_dataset read_letor_sparse(const std::string& path, const std::string& group_path, int width, int index_base) {
    letor_options opt;
    opt.feature_width = width;
    opt.index_base = index_base;
    letor_dataset ds;
    if (path == "-") {  // stdin (rerank --format letor)
        if (group_path.empty()) {
            ds = read_letor(std::cin, "<stdin>", opt);
        } else {
            std::ifstream g(group_path, std::ios::binary);
            if (!g) throw format_error(group_path + ": cannot open");
            ds = read_letor(std::cin, g, "<stdin>", group_path, opt);
        }
    } else {
        try {
            ds = group_path.empty() ? read_letor_file(path, opt) : read_letor_file(path, group_path, opt);
        } catch (const format_error& e) {  // JSON lines given as LETOR: say where they go
            if (first_text_byte(path) == '{')
                throw format_error(std::string(e.what()) + " (the file holds JSON lines, not LETOR: requests are read as JSON lines "
                                                             "with a .jsonl name or --format jsonl; impression logs go to --logs)");
            throw;
        }
    }
    if (ds.num_queries() == 0) throw format_error((path == "-" ? std::string("<stdin>") : path) + ": no queries");
    return ds;
}

/// The dense LETOR width a model reads: its item features, then its context columns.
inline int letor_width(const model_config& c) { return c.features + c.context; }

/// A model with Fc > 0 context features reads them from a LETOR file's columns after its F item
/// features (F .. F + Fc - 1 counted from the file's index base; the layout of the world's LETOR
/// export, sim/log_export.hpp: query-level features repeated on every document, as LETOR data
/// carry them). They must be equal on every document of the query. Moves them from the features
/// of `q` (width F + Fc) to its context; nothing to do when `context` is 0.
inline void take_context_columns(query& q, int features, int context, int index_base) {
    if (context <= 0) return;
    request<float>& r = q.req;
    const int width = features + context;
    if (r.f != width)
        throw input_error("query " + q.id.dump() + ": " + std::to_string(r.f) + " columns, expected " + std::to_string(features) +
                          " features + " + std::to_string(context) + " context columns");
    r.context.assign(r.features.begin() + features, r.features.begin() + width);
    for (int i = 1; i < r.n; ++i)
        for (int k = 0; k < context; ++k)
            if (r.features[std::size_t(i) * width + std::size_t(features + k)] != r.context[std::size_t(k)])
                throw input_error("query " + q.id.dump() + ": context column " + std::to_string(features + k + index_base) +
                                  " differs between documents 1 and " + std::to_string(i + 1) +
                                  " (a model with context reads columns " + std::to_string(features + index_base) + ".." +
                                  std::to_string(width - 1 + index_base) + " as the query's context, equal on every document)");
    std::vector<float> items(std::size_t(r.n) * std::size_t(features));
    for (int i = 0; i < r.n; ++i)
        std::copy(r.features.begin() + std::ptrdiff_t(std::size_t(i) * width),
                  r.features.begin() + std::ptrdiff_t(std::size_t(i) * width + std::size_t(features)),
                  items.begin() + std::ptrdiff_t(std::size_t(i) * features));
    r.features = std::move(items);
    r.f = features;
}

/// Query q of a parsed LETOR file, made dense at `width` (0: the data's width); with `context`
/// > 0 the last `context` of the `width` columns become the request's context (take_context_columns).
inline query letor_query_at(const letor_dataset& ds, std::size_t q, int width, int context = 0) {
    query out;
    out.id = io::json(ds.qids[q]);
    out.req = ds.to_request(q, width);
    out.relevance = ds.relevance(q);
    take_context_columns(out, width - context, context, ds.index_base);
    return out;
}

/// All queries of a LETOR file made dense (width and total caps checked before any dense buffer).
inline std::vector<query> read_letor_queries(const std::string& path, const std::string& group_path, int width,
                                             int index_base = 0, int* base_used = nullptr, int context = 0) {
    const letor_dataset ds = read_letor_sparse(path, group_path, width, index_base);
    if (base_used) *base_used = ds.index_base;
    ds.check_dense(width);
    std::vector<query> out(ds.num_queries());
    for (std::size_t q = 0; q < ds.num_queries(); ++q) out[q] = letor_query_at(ds, q, width, context);
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
             "greedy | beam (teacher) | confident (student) | best-of-n (student + --scorer) | sample")
        .option("slate-length", "L", "", "slots to fill (default the model's max_slate; min(L, N) per request)")
        .option("beam-width", "B", "4", "beam width for --decoder beam")
        .option("best-of", "N", "16", "slates scored per request for --decoder best-of-n")
        .option("scorer", "MODEL", "", "teacher, evaluator or page evaluator (fit-evaluator) that scores the best-of-n slates")
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
    // a decoder option the chosen decoder does not read is an error, never silently dropped
    if (d.decoder != "beam") a.no_effect({"beam-width"}, "without --decoder beam");
    if (d.decoder != "best-of-n") a.no_effect({"best-of"}, "without --decoder best-of-n");
    if (d.decoder != "best-of-n" && d.decoder != "sample") a.no_effect({"tau", "seed"}, "without --decoder sample or best-of-n");
    return d;
}

/// One model behind one call: request in, slate (and a score) out. The --decoder settings are
/// checked here with messages that name the options; the library's front door (serving::reranker
/// and one serving::session, docs/serving.md) does the work. The request number is the request id
/// of the sampling noise.
class reranker {
public:
    reranker(const any_model& m, const decoder_settings& d) : decoder_(d.decoder), ranker_(make(m, d)), session_(ranker_) {}
    reranker(const reranker&) = delete;  // the session points at ranker_
    reranker& operator=(const reranker&) = delete;

    int slate_length() const noexcept { return ranker_.slate_length(); }
    const std::string& decoder() const noexcept { return decoder_; }

    /// The slate for one request (L = min(slate length, N)); `score` gets the slate's
    /// log-probability (greedy, beam, confident, sample) or the scorer's score (best-of-n).
    slate run(const request_view<float>& v, std::uint64_t request_no, double& score) {
        slate y(static_cast<std::size_t>(v.n > 0 ? ranker_.slate_length(v.n) : 0));
        float s = 0;
        session_.rerank(v, request_no, y.data(), y.size(), &s);
        score = double(s);
        return y;
    }

private:
    static serving::reranker make(const any_model& m, const decoder_settings& d) {
        const std::string& dec = d.decoder;
        if (m.evaluator || m.page_eval)
            throw usage_error(m.path + " is a " + m.kind + ": it scores slates but cannot make them (use it as --scorer)");
        if (m.teacher && dec != "greedy" && dec != "beam" && dec != "sample")
            throw usage_error("--decoder " + dec + " needs a student model; " + m.path + " is an ar_teacher (greedy, beam or sample)");
        if (m.student && dec == "beam")
            throw usage_error("--decoder beam needs a teacher model; " + m.path + " is a nar_student");
        if (d.slate_length > m.config.max_slate)
            throw usage_error("--slate-length " + std::to_string(d.slate_length) + " exceeds the model's max_slate " +
                              std::to_string(m.config.max_slate));
        serving::any_model scorer;
        if (dec == "best-of-n") {
            if (d.scorer.empty())
                throw usage_error("--decoder best-of-n needs --scorer MODEL (a teacher, an evaluator or a page evaluator)");
            scorer = serving::load_any_model(d.scorer);
            if (scorer.student)
                throw usage_error("--scorer " + scorer.path + " is a nar_student; use a teacher, an evaluator or a page evaluator");
            if (scorer.config.features != m.config.features || scorer.config.context != m.config.context)
                throw usage_error("--scorer " + scorer.path + " takes other inputs than the model (features/context differ)");
        } else if (!d.scorer.empty()) {
            throw usage_error("--scorer is only used by --decoder best-of-n");
        }
        serving::reranker_options o;
        o.decoder = serving::parse_decoder(dec);
        o.slate_length = d.slate_length;
        o.beam_width = d.beam_width;
        o.best_of = d.best_of;
        o.tau = d.tau;
        o.seed = d.seed;
        serving::reranker r(static_cast<const serving::any_model&>(m), o, std::move(scorer));
        if (dec == "best-of-n" && d.best_of > 1 && !r.scorer_trusted())  // the library's gate (docs/evaluator.md)
            std::fprintf(stderr,
                         "dualrerank: note: --scorer %s has no trust record passing the Best-of-N gate (%.2f): every request gets "
                         "the student's greedy slate (fit-evaluator --world --student records one)\n",
                         d.scorer.c_str(), decode::best_of_n_config{}.gate);
        return r;
    }

    std::string decoder_;
    serving::reranker ranker_;
    serving::session session_;
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
