// An HTTP reranking service with online RL behind it (docs/service.md): the library's serving and
// online-RL pieces behind a network boundary, with cpp-httplib. The server lives in this header so
// that examples/rerank_service.cpp (the program) and tests/test_service.cpp (in-process, on port 0)
// run the same code.
//
//   POST /rerank    one request in the JSON-lines format of io/jsonl.hpp (docs/cli.md) ->
//                   {"id", "slate", "log_propensities", "policy_version"}
//   POST /feedback  {"id", "feedback": L rows of O values (or {"click": [L], ...})} -> joined
//   GET  /stats     version, records consumed, pending / dropped / unmatched, last progress
//   GET  /policy    the serving policy as a safetensors model file (io::load_model reads it)
//
// Two modes. `sample` (the default): every worker thread takes an online_server from a pool and
// samples the shown slate with Gumbel-Max at tau from the current policy_store version (an atomic
// shared_ptr load, no lock on the model lookup); the shown slate goes to the feedback_joiner, and a
// trainer thread feeds the joined records to an online_trainer (LDRO, GRPO or GoalRank over a
// model-based group scored by the page evaluator, which it refreshes online) that publishes new
// versions. `greedy`: serving::session per worker, no learning (pure throughput).
//
// Errors: every bad request gets one JSON line {"id": ..., "error": "..."} naming the field (the
// reader's messages, source "request"), status 400; 404 for an unknown feedback id or path, 409
// for a request id whose slate is still waiting for feedback, 413 over --max-body. The service
// keeps running.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dualrerank/decode/greedy.hpp>
#include <dualrerank/io/json.hpp>
#include <dualrerank/io/jsonl.hpp>
#include <dualrerank/io/model_io.hpp>
#include <dualrerank/io/page_evaluator_io.hpp>
#include <dualrerank/serve.hpp>
#include <dualrerank/train/online.hpp>

namespace rerank_service {

namespace dr = dualrerank;

struct options {
    std::string model;       ///< --model: a nar_student file (the start policy and the KL anchor)
    std::string evaluator;   ///< --evaluator: a page_evaluator file (the group scorer; sample mode)
    std::string decoder = "sample";  ///< --decoder sample|greedy
    std::vector<std::string> objectives = {"click", "long_view"};  ///< names, in the evaluator's order
    std::vector<double> weights;     ///< empty: 1 for each objective
    std::string host = "127.0.0.1";
    int port = 0;                    ///< 0: any free port
    int threads = 2;                 ///< HTTP worker threads
    double tau = 1.0;                ///< serving temperature (sample mode)
    dr::train::rl_method method = dr::train::rl_method::ldro;
    int group = 16;                  ///< G slates of the model-based group
    double lr = 1e-4;                ///< the trainer's AdamW step size (online_config's default)
    double beta = dr::train::rl_config{}.beta;  ///< weight of the KL to the anchor (rl_config's default)
    int requests_per_step = 8;
    int publish_every = 4;
    std::string holdout;             ///< JSON-lines requests for the guard rail (empty: none)
    long eval_every = 512;           ///< guard rail: records between held-out evaluations (with a holdout)
    std::string save_path;           ///< --save: the serving policy is written here
    long save_every = 0;             ///< records between saves (0: at shutdown only)
    std::size_t max_body = std::size_t(4) << 20;
    std::size_t max_pending = 100000;  ///< feedback_joiner: shown slates waiting for feedback
    std::size_t keep_alive = 1000;     ///< requests per keep-alive connection
    std::uint64_t seed = 1;
    bool refresh_evaluator = true;
    std::FILE* log = nullptr;        ///< trainer progress lines (nullptr: quiet)
};

/// The 64-bit key of a request id: an integer id is itself (two's complement), a string id its
/// FNV-1a hash. The key seeds the sampling noise and joins the feedback.
inline std::uint64_t id_key(const dr::io::json& id) {
    if (id.type() == dr::io::json_type::unsigned_integer) return id.as_uint();
    if (id.is_integer()) return static_cast<std::uint64_t>(id.as_int());
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : id.as_string()) h = (h ^ c) * 0x100000001b3ULL;
    return h;
}

/// An error message without the library's "dualrerank: " prefix.
inline std::string message_of(const std::exception& e) {
    std::string m = e.what();
    const std::string p = "dualrerank: ";
    if (m.compare(0, p.size(), p) == 0) m.erase(0, p.size());
    return m;
}

inline std::string error_body(const dr::io::json& id, const std::string& msg) {
    dr::io::json o = dr::io::json::object();
    o["id"] = id;
    o["error"] = msg;
    std::string s = o.dump();
    s.push_back('\n');
    return s;
}

/// What GET /stats reports (also for tests).
struct stats {
    std::string decoder, method;
    std::uint64_t version = 0;
    long served = 0, bad_requests = 0, conflicts = 0;
    long feedback_joined = 0, feedback_unknown = 0, feedback_bad = 0;
    std::size_t pending = 0;
    long dropped = 0, unmatched = 0;
    dr::train::online_progress progress;
    long trainer_errors = 0, saves = 0;
    std::string last_trainer_error;
};

/// Validated feedback of one POST /feedback body: [L x O] values in [0, 1], objectives 1.. at most
/// objective 0 (the click) per slot, as the page evaluator's refresh requires. Throws
/// dr::input_error naming the field.
inline std::vector<double> parse_feedback(const dr::io::json& fb, const std::vector<std::string>& names) {
    const std::size_t O = names.size();
    auto fail = [](const std::string& m) { throw dr::input_error(m); };
    auto number = [&](const dr::io::json& v, const std::string& where) {
        if (!v.is_number()) fail(where + ": expected a number, got " + dr::io::json_type_name(v.type()));
        const double x = v.as_double();
        if (!(x >= 0.0 && x <= 1.0)) fail(where + ": a feedback value must be in [0, 1]");
        return x;
    };
    std::vector<double> out;
    if (fb.is_array()) {
        const auto& rows = fb.as_array();
        if (rows.empty()) fail("\"feedback\": no slots");
        out.reserve(rows.size() * O);
        for (std::size_t t = 0; t < rows.size(); ++t) {
            const std::string w = "\"feedback\"[" + std::to_string(t) + "]";
            if (!rows[t].is_array()) fail(w + ": expected an array of " + std::to_string(O) + " values, got " +
                                          dr::io::json_type_name(rows[t].type()));
            const auto& row = rows[t].as_array();
            if (row.size() != O) fail(w + ": " + std::to_string(row.size()) + " values, expected " + std::to_string(O) + " (one per objective)");
            for (std::size_t o = 0; o < O; ++o) out.push_back(number(row[o], w + "[" + std::to_string(o) + "]"));
        }
    } else if (fb.is_object()) {
        std::vector<const dr::io::json*> col(O, nullptr);
        for (const auto& m : fb.as_object()) {
            std::size_t o = 0;
            while (o < O && names[o] != m.first) ++o;
            if (o == O) fail("\"feedback\": unknown objective " + dr::io::json(m.first).dump() + " (the service's objectives: " + [&] {
                std::string s;
                for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
                return s;
            }() + ")");
            col[o] = &m.second;
        }
        std::size_t L = 0;
        for (std::size_t o = 0; o < O; ++o) {
            const std::string w = "\"feedback\"." + names[o];
            if (!col[o]) fail(w + ": missing");
            if (!col[o]->is_array()) fail(w + ": expected an array, got " + dr::io::json_type_name(col[o]->type()));
            const std::size_t l = col[o]->as_array().size();
            if (o == 0) L = l;
            else if (l != L) fail(w + ": " + std::to_string(l) + " slots, " + names[0] + " has " + std::to_string(L));
        }
        if (L == 0) fail("\"feedback\": no slots");
        out.resize(L * O);
        for (std::size_t o = 0; o < O; ++o)
            for (std::size_t t = 0; t < L; ++t)
                out[t * O + o] = number(col[o]->as_array()[t], "\"feedback\"." + names[o] + "[" + std::to_string(t) + "]");
    } else {
        fail(std::string("\"feedback\": expected an array of slots or an object of objectives, got ") + dr::io::json_type_name(fb.type()));
    }
    for (std::size_t t = 0; t < out.size() / O; ++t)
        for (std::size_t o = 1; o < O; ++o)
            if (out[t * O + o] > out[t * O])
                fail("\"feedback\"[" + std::to_string(t) + "]: " + names[o] + " " + std::to_string(out[t * O + o]) + " exceeds " + names[0] +
                     " " + std::to_string(out[t * O]) + " (objectives after the first are given it, e.g. a long view given a click)");
    return out;
}

/// A free list of per-thread objects (online_server or serving::session): a worker takes one for
/// its request and gives it back. The mutex guards the list only, never the model.
template <class W>
class worker_pool {
public:
    explicit worker_pool(std::function<std::unique_ptr<W>()> make) : make_(std::move(make)) {}
    class lease {
    public:
        lease(worker_pool& p, std::unique_ptr<W> w) : p_(&p), w_(std::move(w)) {}
        lease(lease&&) = default;
        ~lease() {
            if (w_) p_->give_back(std::move(w_));
        }
        W& operator*() { return *w_; }
        W* operator->() { return w_.get(); }

    private:
        worker_pool* p_;
        std::unique_ptr<W> w_;
    };
    lease take() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (!free_.empty()) {
                std::unique_ptr<W> w = std::move(free_.back());
                free_.pop_back();
                return lease(*this, std::move(w));
            }
        }
        return lease(*this, make_());  // one per concurrently busy worker thread, made once
    }

private:
    void give_back(std::unique_ptr<W> w) {
        std::lock_guard<std::mutex> lock(mu_);
        free_.push_back(std::move(w));
    }
    std::function<std::unique_ptr<W>()> make_;
    std::mutex mu_;
    std::vector<std::unique_ptr<W>> free_;
};

class service {
public:
    /// Loads the models and builds the serving and training side; throws dr::error on bad options
    /// or files. Nothing listens until start().
    explicit service(options o) : opt_(std::move(o)) {
        if (opt_.model.empty()) throw dr::input_error("--model is required");
        if (opt_.threads < 1 || opt_.threads > 256) throw dr::input_error("--threads must be in [1, 256]");
        if (opt_.max_body < 64) throw dr::input_error("--max-body must be >= 64 bytes");
        jl_.max_line_bytes = opt_.max_body;
        if (opt_.decoder == "greedy") {
            greedy_ = true;
            dr::serving::reranker_options ro;
            ro.decoder = dr::serving::decoder_kind::greedy;
            ranker_ = std::make_unique<dr::serving::reranker>(opt_.model, ro);
            sessions_ = std::make_unique<worker_pool<dr::serving::session>>(
                [this] { return std::make_unique<dr::serving::session>(*ranker_); });
            return;
        }
        if (opt_.decoder != "sample") throw dr::input_error("--decoder: expected sample or greedy, got " + opt_.decoder);
        if (opt_.evaluator.empty()) throw dr::input_error("--evaluator is required with --decoder sample (the RL group scorer)");
        anchor_ = std::make_unique<dr::nar_student<float>>(dr::io::load_model<dr::nar_student<float>>(opt_.model));
        const dr::page_evaluator<float> ev = dr::io::load_page_evaluator<float>(opt_.evaluator);
        const auto& mc = anchor_->config();
        const auto& ec = ev.config();
        if (ec.features != mc.features || ec.context != mc.context || ec.max_slate < mc.max_slate || ec.max_candidates < mc.max_candidates)
            throw dr::input_error("--evaluator " + opt_.evaluator + " does not fit --model " + opt_.model +
                                  " (features, context must match; max_slate and max_candidates at least the model's)");
        dr::train::online_evaluator_scorer<float>::config sc;
        sc.refresh = opt_.refresh_evaluator;
        scorer_ = std::make_unique<dr::train::online_page_evaluator_scorer<float>>(ev, sc);
        dr::train::online_config oc;
        oc.objectives = opt_.objectives;
        oc.rl.method = opt_.method;
        oc.rl.group = opt_.group;
        oc.rl.beta = opt_.beta;
        oc.requests_per_step = opt_.requests_per_step;
        oc.publish_every = opt_.publish_every;
        oc.optimizer.lr = opt_.lr;
        oc.seed = opt_.seed;
        oc.log = opt_.log;
        oc.log_every = opt_.log ? 10 : 0;
        std::vector<dr::train::online_trainer<float>::holdout> hold;
        if (!opt_.holdout.empty()) {
            for (auto& r : dr::io::read_jsonl_file(opt_.holdout)) hold.push_back({std::move(r.candidates), id_key(r.output_id())});
            if (hold.empty()) throw dr::input_error("--holdout " + opt_.holdout + ": no requests");
            oc.eval_every = opt_.eval_every;
        }
        store_ = std::make_unique<dr::train::policy_store<float>>(*anchor_);
        trainer_ = std::make_unique<dr::train::online_trainer<float>>(*anchor_, *anchor_, *scorer_, *store_, oc);
        if (!opt_.weights.empty()) trainer_->set_weights(opt_.weights);
        if (!hold.empty()) {
            trainer_->set_holdout(std::move(hold));
            trainer_->evaluate();  // checks the held-out requests against the models now, not in the trainer thread
        }
        joiner_ = std::make_unique<dr::train::feedback_joiner<float>>(opt_.max_pending);
        servers_ = std::make_unique<worker_pool<dr::train::online_server<float>>>(
            [this] { return std::make_unique<dr::train::online_server<float>>(*store_, opt_.tau, opt_.seed); });
        snapshot();
    }

    service(const service&) = delete;
    service& operator=(const service&) = delete;
    ~service() { stop(); }

    /// Binds (port 0: any free port), starts the HTTP workers and the trainer; returns the port.
    int start() {
        setup_routes();
        const int port = opt_.port == 0 ? http_.bind_to_any_port(opt_.host) : (http_.bind_to_port(opt_.host, opt_.port) ? opt_.port : -1);
        if (port < 0) throw dr::input_error("cannot listen on " + opt_.host + ":" + std::to_string(opt_.port));
        port_ = port;
        if (!greedy_) trainer_thread_ = std::thread([this] { trainer_loop(); });
        http_thread_ = std::thread([this] { http_.listen_after_bind(); });
        for (int i = 0; i < 5000 && !http_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return port;
    }

    /// Stops accepting requests, then the trainer: the joined records are consumed, the last
    /// partial batch trained (online_trainer::flush), and the serving policy saved (--save).
    void stop() {
        if (stopped_.exchange(true)) return;
        http_.stop();
        if (http_thread_.joinable()) http_thread_.join();
        {
            std::lock_guard<std::mutex> lock(wake_mu_);
            stopping_ = true;
        }
        wake_cv_.notify_all();
        if (trainer_thread_.joinable()) trainer_thread_.join();
    }

    int port() const noexcept { return port_; }

    stats current_stats() const {
        stats s;
        s.decoder = greedy_ ? "greedy" : "sample";
        s.method = opt_.method == dr::train::rl_method::ldro ? "ldro" : opt_.method == dr::train::rl_method::grpo ? "grpo" : "goalrank";
        s.served = served_;
        s.bad_requests = bad_;
        s.conflicts = conflicts_;
        s.feedback_joined = fb_joined_;
        s.feedback_unknown = fb_unknown_;
        s.feedback_bad = fb_bad_;
        if (!greedy_) {
            s.version = store_->version();
            s.pending = joiner_->pending();
            s.dropped = joiner_->dropped();
            s.unmatched = joiner_->unmatched();
            std::lock_guard<std::mutex> lock(stats_mu_);
            s.progress = progress_;
            s.trainer_errors = trainer_errors_;
            s.saves = saves_;
            s.last_trainer_error = last_trainer_error_;
        }
        return s;
    }

    static std::string stats_json(const stats& s) {
        using dr::io::json;
        json o = json::object();
        o["decoder"] = s.decoder;
        o["method"] = s.method;
        o["version"] = s.version;
        o["served"] = s.served;
        o["bad_requests"] = s.bad_requests;
        o["conflicts"] = s.conflicts;
        o["feedback_joined"] = s.feedback_joined;
        o["feedback_unknown"] = s.feedback_unknown;
        o["feedback_bad"] = s.feedback_bad;
        o["pending"] = std::uint64_t(s.pending);
        o["dropped"] = s.dropped;
        o["unmatched"] = s.unmatched;
        o["records"] = s.progress.records;
        o["steps"] = s.progress.steps;
        o["published"] = s.progress.published;
        o["held_back"] = s.progress.rejected;
        auto num = [](double x) { return std::isfinite(x) ? json(x) : json(); };
        o["reward"] = num(s.progress.shown_reward);
        o["entropy"] = num(s.progress.group.entropy);
        o["kl"] = num(s.progress.group.kl);
        o["clip_frac"] = num(s.progress.shown.clip_frac);
        o["clip_frac_mean"] = num(s.progress.clip_frac_mean);
        o["evals"] = s.progress.evals;
        o["eval_policy"] = num(s.progress.eval_policy);
        o["eval_anchor"] = num(s.progress.eval_anchor);
        o["trainer_errors"] = s.trainer_errors;
        o["last_trainer_error"] = s.last_trainer_error;
        o["saves"] = s.saves;
        std::string out = o.dump();
        out.push_back('\n');
        return out;
    }

private:
    void setup_routes() {
        http_.new_task_queue = [n = opt_.threads] { return new httplib::ThreadPool(std::size_t(n)); };
        http_.set_payload_max_length(opt_.max_body);
        http_.set_keep_alive_max_count(opt_.keep_alive);
        http_.set_tcp_nodelay(true);  // small JSON replies: without it Nagle and delayed ACKs add ~40 ms per request
        const std::size_t max_body = opt_.max_body;
        http_.set_error_handler([max_body](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            std::string msg;
            if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
                msg = "cpp-httplib caps application/x-www-form-urlencoded bodies at 8192 bytes (curl -d sends that type): send "
                      "Content-Type: application/json";
            else if (res.status == 413) msg = "request body larger than --max-body = " + std::to_string(max_body) + " bytes";
            else if (res.status == 404) msg = req.method + " " + req.path + ": no such endpoint (POST /rerank, POST /feedback, GET /stats, GET /policy)";
            else msg = "HTTP status " + std::to_string(res.status);
            res.set_content(error_body(dr::io::json(), msg), "application/json");
        });
        http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string msg = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                msg = "internal error: " + message_of(e);
            } catch (...) {
            }
            res.status = 500;
            res.set_content(error_body(dr::io::json(), msg), "application/json");
        });
        http_.Post("/rerank", [this](const httplib::Request& q, httplib::Response& r) { rerank(q, r); });
        http_.Post("/feedback", [this](const httplib::Request& q, httplib::Response& r) { feedback(q, r); });
        http_.Get("/stats", [this](const httplib::Request&, httplib::Response& r) {
            r.set_content(stats_json(current_stats()), "application/json");
        });
        http_.Get("/policy", [this](const httplib::Request&, httplib::Response& r) { policy(r); });
    }

    static void reply_error(httplib::Response& r, int status, const dr::io::json& id, const std::string& msg) {
        r.status = status;
        r.set_content(error_body(id, msg), "application/json");
    }

    void rerank(const httplib::Request& q, httplib::Response& res) {
        dr::io::jsonl_request req;
        std::istringstream in(q.body);
        dr::io::jsonl_reader reader(in, "request", jl_);
        try {
            if (!reader.next(req)) throw dr::format_error("request: empty body (expected one JSON-lines request)");
            dr::io::jsonl_request extra;
            if (reader.next(extra)) throw dr::format_error("request:" + std::to_string(reader.line_number()) + ": a second request (one per POST)");
        } catch (const dr::error& e) {
            ++bad_;
            return reply_error(res, 400, reader.last_id(), message_of(e));
        }
        const dr::io::json id = req.id.is_null() ? dr::io::json(next_id_.fetch_add(1)) : req.id;
        const std::uint64_t key = id_key(id);
        const auto v = req.candidates.view();
        std::vector<int> slate;
        std::vector<float> lp;
        std::uint64_t version = 0;
        try {
            if (greedy_) {
                auto s = sessions_->take();
                const int L = ranker_->slate_length(v.n);
                slate.resize(std::size_t(std::max(L, 0)));
                float score = 0;
                s->rerank(v, key, slate.data(), slate.size(), &score);
                lp.assign(slate.size(), 0.0f);  // a deterministic policy: each slot has propensity 1
            } else {
                auto s = servers_->take();
                dr::train::shown_slate<float> shown = s->serve(v, key, std::min(anchor_->config().max_slate, std::max(v.n, 1)));
                slate = shown.items;
                lp = shown.log_propensity;
                version = shown.policy_version;
                if (!joiner_->try_log_shown(std::move(req.candidates), std::move(shown))) {
                    ++conflicts_;
                    return reply_error(res, 409, id, "request id " + id.dump() + " is still waiting for its feedback: ids must be unique per shown slate");
                }
            }
        } catch (const dr::error& e) {
            ++bad_;
            return reply_error(res, 400, id, "request:1: " + message_of(e));
        }
        ++served_;
        std::string out = "{\"id\":" + id.dump() + ",\"slate\":[";
        for (std::size_t t = 0; t < slate.size(); ++t) out += (t ? "," : "") + std::to_string(slate[t]);
        out += "],\"log_propensities\":[";
        for (std::size_t t = 0; t < lp.size(); ++t) out += (t ? "," : "") + dr::io::json(double(lp[t])).dump();
        out += "],\"policy_version\":" + std::to_string(version) + "}\n";
        res.set_content(out, "application/json");
    }

    void feedback(const httplib::Request& q, httplib::Response& res) {
        using dr::io::json;
        if (greedy_) return reply_error(res, 404, json(), "POST /feedback: this service runs --decoder greedy (no learning)");
        json id;
        std::vector<double> fb;
        try {
            dr::io::json_parse_options po;
            po.max_depth = 3;
            po.max_bytes = opt_.max_body;
            json doc;
            try {
                doc = json::parse(q.body, po);
            } catch (const dr::error& e) {
                throw dr::input_error("json: " + message_of(e));
            }
            if (!doc.is_object()) throw dr::input_error(std::string("expected a JSON object, got ") + dr::io::json_type_name(doc.type()));
            const json* f = nullptr;
            for (const auto& m : doc.as_object()) {
                if (m.first == "id") {
                    if (!m.second.is_integer() && !m.second.is_string())
                        throw dr::input_error(std::string("\"id\": expected a string or an integer, got ") + dr::io::json_type_name(m.second.type()));
                    id = m.second;
                } else if (m.first == "feedback") {
                    f = &m.second;
                } else {
                    throw dr::input_error("unknown field " + json(m.first).dump() + " (expected id, feedback)");
                }
            }
            if (id.is_null()) throw dr::input_error("missing field \"id\"");
            if (!f) throw dr::input_error("missing field \"feedback\"");
            fb = parse_feedback(*f, opt_.objectives);
        } catch (const dr::error& e) {
            ++fb_bad_;
            return reply_error(res, 400, id, "feedback: " + message_of(e));
        }
        bool joined = false;
        try {
            joined = joiner_->deliver(id_key(id), std::move(fb), opt_.objectives.size());
        } catch (const dr::error& e) {
            ++fb_bad_;
            return reply_error(res, 400, id, "feedback: \"feedback\": " + message_of(e));
        }
        if (!joined) {
            ++fb_unknown_;
            return reply_error(res, 404, id, "feedback: unknown request id " + id.dump() +
                                                 " (never served, already joined, or dropped after --max-pending newer requests)");
        }
        ++fb_joined_;
        {
            std::lock_guard<std::mutex> lock(wake_mu_);
            wake_ = true;
        }
        wake_cv_.notify_one();
        res.set_content("{\"id\":" + id.dump() + ",\"joined\":true}\n", "application/json");
    }

    void policy(httplib::Response& res) {
        std::string bytes;
        std::uint64_t version = 0;
        if (greedy_) {
            std::ifstream in(opt_.model, std::ios::binary);
            bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        } else {
            const auto snap = store_->current();
            version = snap->version;
            dr::io::save_options so;
            so.metadata["written_by"] = "rerank_service GET /policy";
            so.metadata["policy_version"] = std::to_string(version);
            const std::vector<std::uint8_t> b = dr::io::model_to_bytes(snap->model, so);
            bytes.assign(b.begin(), b.end());
        }
        res.set_header("X-Policy-Version", std::to_string(version));
        res.set_content(std::move(bytes), "application/octet-stream");
    }

    // ---- trainer thread
    void trainer_loop() {
        std::unique_lock<std::mutex> lock(wake_mu_);
        while (!stopping_) {
            wake_cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_ || wake_; });
            wake_ = false;
            lock.unlock();
            drain();
            lock.lock();
        }
        lock.unlock();
        drain();
        guarded([&] { trainer_->flush(); });
        snapshot();
        if (!opt_.save_path.empty()) save();
    }

    void drain() {
        for (auto& rec : joiner_->take_ready()) {
            guarded([&] { trainer_->consume(std::move(rec)); });
            if (opt_.save_every > 0 && !opt_.save_path.empty() && trainer_->progress().records % opt_.save_every == 0) save();
        }
        snapshot();
    }

    template <class F>
    void guarded(F&& f) {
        try {
            f();
        } catch (const std::exception& e) {  // a bad record or a non-finite step: counted, the service goes on
            std::lock_guard<std::mutex> lock(stats_mu_);
            ++trainer_errors_;
            last_trainer_error_ = message_of(e);
        }
    }

    void snapshot() {
        std::lock_guard<std::mutex> lock(stats_mu_);
        progress_ = trainer_->progress();
    }

    void save() {
        guarded([&] {
            const auto snap = store_->current();
            dr::io::save_options so;
            so.metadata["written_by"] = "rerank_service";
            so.metadata["policy_version"] = std::to_string(snap->version);
            dr::io::save_model(snap->model, opt_.save_path, so);
            std::lock_guard<std::mutex> lock(stats_mu_);
            ++saves_;
        });
    }

    options opt_;
    bool greedy_ = false;
    dr::io::jsonl_limits jl_;
    // greedy mode
    std::unique_ptr<dr::serving::reranker> ranker_;
    std::unique_ptr<worker_pool<dr::serving::session>> sessions_;
    // sample mode
    std::unique_ptr<dr::nar_student<float>> anchor_;  ///< the start policy, also the KL anchor
    std::unique_ptr<dr::train::online_page_evaluator_scorer<float>> scorer_;
    std::unique_ptr<dr::train::policy_store<float>> store_;
    std::unique_ptr<dr::train::online_trainer<float>> trainer_;
    std::unique_ptr<dr::train::feedback_joiner<float>> joiner_;
    std::unique_ptr<worker_pool<dr::train::online_server<float>>> servers_;

    httplib::Server http_;
    std::thread http_thread_, trainer_thread_;
    int port_ = -1;
    std::atomic<bool> stopped_{false};
    std::mutex wake_mu_;
    std::condition_variable wake_cv_;
    bool stopping_ = false, wake_ = false;

    mutable std::mutex stats_mu_;
    dr::train::online_progress progress_;
    long trainer_errors_ = 0, saves_ = 0;
    std::string last_trainer_error_;
    std::atomic<long> served_{0}, bad_{0}, conflicts_{0}, fb_joined_{0}, fb_unknown_{0}, fb_bad_{0};
    std::atomic<std::uint64_t> next_id_{std::uint64_t(1) << 62};  ///< ids for requests that bring none
};

}  // namespace rerank_service
