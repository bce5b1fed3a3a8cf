// A simulated-user client of examples/rerank_service (docs/service.md): closes the online RL loop
// over HTTP with the built-in world.
//
//   rerank_service_client --port P [--world small] [--world-seed 1] [--requests 3000] [--delay 20]
//                         [--drop 0.1] [--eval-requests 300]
//
// Fetches the serving policy (GET /policy); then for each request drawn from the world: POST
// /rerank, samples the world's user feedback (clicks, long views) for the returned slate, and
// POSTs it back (/feedback) after 0..--delay later requests, or never (--drop); waits until the
// trainer has consumed what was joined; fetches the policy again. Reports the closed-form utility
// of both policies' greedy slates on held-out requests of the world (oracle evaluation only: the
// service never sees the closed form), raw and normalized ((u - random) / (oracle - random)).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <dualrerank/decode/greedy.hpp>
#include <dualrerank/io/json.hpp>
#include <dualrerank/io/model_io.hpp>
#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"

using namespace dualrerank;

namespace {

struct options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string world_name = "small";
    std::uint64_t world_seed = 1;
    long requests = 3000;
    std::uint64_t first_request = 5000000;  ///< world request indices first .. first + requests - 1
    int delay = 20;
    double drop = 0.1;
    int eval_requests = 300;
    std::uint64_t seed = 1;
    double wait_seconds = 600;
};

void usage() {
    std::puts(
        "usage: rerank_service_client --port P [options]\n"
        "  --host HOST          default 127.0.0.1\n"
        "  --port P             the service's port (required)\n"
        "  --world small|default   the world the service's models were trained on (default small)\n"
        "  --world-seed S       its seed (default 1)\n"
        "  --requests R         requests to send (default 3000)\n"
        "  --first-request I    first world request index (default 5000000)\n"
        "  --delay D            feedback arrives after 0..D later requests (uniform; default 20)\n"
        "  --drop P             share of requests whose feedback never comes (default 0.1)\n"
        "  --eval-requests M    held-out world requests for the before/after utility (default 300)\n"
        "  --seed S             user and delay randomness (default 1)\n"
        "  --wait-seconds X     longest wait for the trainer to consume the joined feedback (default 600)\n");
}

options parse(int argc, char** argv) {
    options o;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--host")) o.host = a.value();
        else if (a.is("--port")) o.port = int(a.integer(1, 65535));
        else if (a.is("--world")) {
            o.world_name = a.value();
            if (o.world_name != "small" && o.world_name != "default") a.fail("expected small or default");
        } else if (a.is("--world-seed")) o.world_seed = a.u64();
        else if (a.is("--requests")) o.requests = long(a.integer(1, 100000000));
        else if (a.is("--first-request")) o.first_request = a.u64();
        else if (a.is("--delay")) o.delay = int(a.integer(0, 1000000));
        else if (a.is("--drop")) o.drop = a.real(0.0, 0.99);
        else if (a.is("--eval-requests")) o.eval_requests = int(a.integer(1, 100000));
        else if (a.is("--seed")) o.seed = a.u64();
        else if (a.is("--wait-seconds")) o.wait_seconds = a.real(0.0, 1e6);
        else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else a.unknown();
    }
    if (o.port == 0) throw input_error("--port is required");
    return o;
}

std::string request_json(std::uint64_t id, const request<float>& r) {
    std::string s = "{\"id\":" + std::to_string(id) + ",\"features\":[";
    char buf[32];
    for (int i = 0; i < r.n; ++i) {
        s += i ? ",[" : "[";
        for (int k = 0; k < r.f; ++k) {
            std::snprintf(buf, sizeof buf, k ? ",%.9g" : "%.9g", double(r.features[std::size_t(i) * r.f + k]));
            s += buf;
        }
        s += "]";
    }
    s += "],\"context\":[";
    for (std::size_t k = 0; k < r.context.size(); ++k) {
        std::snprintf(buf, sizeof buf, k ? ",%.9g" : "%.9g", double(r.context[k]));
        s += buf;
    }
    return s + "]}";
}

std::string feedback_json(std::uint64_t id, const page_feedback& f) {
    std::string s = "{\"id\":" + std::to_string(id) + ",\"feedback\":[";
    for (int t = 0; t < f.slots(); ++t)
        s += (t ? ",[" : "[") + std::to_string(int(f.clicks[std::size_t(t)])) + "," + std::to_string(int(f.long_views[std::size_t(t)])) + "]";
    return s + "]}";
}

io::json get_json(httplib::Client& c, const char* path) {
    auto res = c.Get(path);
    if (!res || res->status != 200) throw input_error(std::string("GET ") + path + " failed");
    return io::json::parse(res->body);
}

nar_student<float> get_policy(httplib::Client& c, std::uint64_t& version) {
    auto res = c.Get("/policy");
    if (!res || res->status != 200) throw input_error("GET /policy failed");
    version = std::stoull(res->get_header_value("X-Policy-Version"));
    return io::load_model_from<nar_student<float>>(io::safetensors_file::from_bytes(res->body.data(), res->body.size()), "GET /policy");
}

double mean_greedy_utility(const world& w, const nar_student<float>& m, int count) {
    workspace ws;
    double sum = 0;
    for (int i = 0; i < count; ++i) {
        const sim_request r = w.eval_request(std::uint64_t(i));
        const int L = std::min(m.config().max_slate, r.observed.n);
        slate y(static_cast<std::size_t>(L), 0);
        ws.reset();
        decode::greedy(m, r.observed.view(), L, y.data(), ws);
        sum += w.expected_utility(r, y);
    }
    return sum / count;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        const world w(o.world_name == "small" ? world_config::small() : world_config{}, o.world_seed);
        httplib::Client c(o.host, o.port);
        c.set_keep_alive(true);
        c.set_tcp_nodelay(true);
        c.set_read_timeout(60, 0);
        std::uint64_t v0 = 0, v1 = 0;
        const nar_student<float> before = get_policy(c, v0);

        struct arrival {
            long at;
            std::uint64_t id;
            std::string body;
            bool operator>(const arrival& x) const { return at > x.at; }
        };
        std::priority_queue<arrival, std::vector<arrival>, std::greater<arrival>> in_flight;
        rng g(o.seed);
        long sent = 0, rerank_errors = 0, posted = 0, joined = 0, feedback_errors = 0;
        double reward = 0;
        auto deliver = [&](const arrival& a) {
            auto res = c.Post("/feedback", a.body, "application/json");
            ++posted;
            if (res && res->status == 200) ++joined;
            else ++feedback_errors;
        };
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < o.requests; ++i) {
            const std::uint64_t id = o.first_request + std::uint64_t(i);
            const sim_request r = w.make_request(id);
            auto res = c.Post("/rerank", request_json(id, r.observed), "application/json");
            ++sent;
            if (!res || res->status != 200) {
                ++rerank_errors;
                continue;
            }
            const io::json j = io::json::parse(res->body);
            slate y;
            for (const io::json& v : j.at("slate").as_array()) y.push_back(int(v.as_int()));
            const page_feedback f = w.sample_feedback(r, y, g);
            reward += f.reward(objective_weights{});
            if (g.uniform() >= o.drop) {
                const long d = o.delay > 0 ? long(g.below(std::uint64_t(o.delay) + 1)) : 0;
                in_flight.push(arrival{i + d, id, feedback_json(id, f)});
            }
            while (!in_flight.empty() && in_flight.top().at <= i) {
                deliver(in_flight.top());
                in_flight.pop();
            }
            if ((i + 1) % 500 == 0) {
                const io::json s = get_json(c, "/stats");
                std::fprintf(stderr, "[client] %ld requests, %ld joined; service: version %llu, records %lld, reward/page %.3f, kl %.4f\n", i + 1,
                             joined, (unsigned long long)s.at("version").as_uint(), (long long)s.at("records").as_int(),
                             s.at("reward").is_number() ? s.at("reward").as_double() : 0.0, s.at("kl").is_number() ? s.at("kl").as_double() : 0.0);
            }
        }
        while (!in_flight.empty()) {
            deliver(in_flight.top());
            in_flight.pop();
        }
        const double serve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        // the trainer consumes asynchronously: wait until it has seen every joined record
        io::json s = get_json(c, "/stats");
        const auto w0 = std::chrono::steady_clock::now();
        while (s.at("records").as_int() + s.at("trainer_errors").as_int() < s.at("feedback_joined").as_int() &&
               std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() < o.wait_seconds) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            s = get_json(c, "/stats");
        }
        const double wait_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
        const nar_student<float> after = get_policy(c, v1);

        std::printf("requests %ld (errors %ld) in %.1f s; feedback posted %ld, joined %ld (errors %ld); sampled reward/page %.4f\n", sent,
                    rerank_errors, serve_s, posted, joined, feedback_errors, reward / double(std::max(sent - rerank_errors, 1L)));
        std::printf("service: version %llu -> %llu, records %lld, steps %lld, held back %lld, dropped %lld, unmatched %lld, trainer "
                    "errors %lld (waited %.1f s for the trainer)\n",
                    (unsigned long long)v0, (unsigned long long)v1, (long long)s.at("records").as_int(), (long long)s.at("steps").as_int(),
                    (long long)s.at("held_back").as_int(), (long long)s.at("dropped").as_int(), (long long)s.at("unmatched").as_int(),
                    (long long)s.at("trainer_errors").as_int(), wait_s);
        const reference_utilities ref = evaluate_reference_policies(w, world::eval_base, o.eval_requests);
        const double ub = mean_greedy_utility(w, before, o.eval_requests), ua = mean_greedy_utility(w, after, o.eval_requests);
        std::printf("greedy utility on %d held-out world requests (closed form, evaluation only): before %.4f (normalized %.4f), after "
                    "%.4f (normalized %.4f); random %.4f, oracle %.4f\n",
                    o.eval_requests, ub, ref.normalized(ub), ua, ref.normalized(ua), ref.random, ref.oracle);
        return rerank_errors == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rerank_service_client: error: %s\n", e.what());
        return 1;
    }
}
