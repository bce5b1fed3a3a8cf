// The HTTP reranking service example (examples/rerank_service.hpp, docs/service.md), started
// in-process on a free port and driven with httplib::Client: slates and log-propensities, the
// same id the same slate, feedback joined and new versions published, 404 / 400 / 409 / 413 with
// the service still serving, concurrent clients while the trainer publishes, the greedy mode.
// Built as its own program (dualrerank_service_tests) when cpp-httplib is found.
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "rerank_service.hpp"
#include "test_util.hpp"

using namespace dualrerank;

namespace {

struct model_files {
    model_config c;
    std::string student, evaluator;
    model_files() {
        c = test_util::small_config(5, 3);
        c.max_slate = 4;
        c.max_candidates = 16;
        c.enc_layers = 1;
        c.dec_layers = 1;
        nar_student<float> s(c);
        s.init(3);
        student = test_util::temp_path("service", "student.safetensors");
        io::save_model(s, student);
        page_evaluator_config pc;
        pc.features = 5;
        pc.context = 3;
        pc.max_slate = 4;
        pc.max_candidates = 16;
        page_evaluator<float> ev(pc);
        ev.init(4);
        evaluator = test_util::temp_path("service", "evaluator.safetensors");
        io::save_page_evaluator(ev, evaluator);
    }
    ~model_files() {
        std::remove(student.c_str());
        std::remove(evaluator.c_str());
    }
};

/// A JSON-lines request of n candidates (5 features, 3 context values) drawn from seed.
std::string request_body(const std::string& id, int n, std::uint64_t seed, int width = 5) {
    rng g(seed);
    std::string s = "{\"id\":" + id + ",\"features\":[";
    for (int i = 0; i < n; ++i) {
        s += i ? ",[" : "[";
        for (int k = 0; k < width; ++k) s += (k ? "," : "") + std::to_string(g.normal());
        s += "]";
    }
    s += "],\"context\":[";
    for (int k = 0; k < 3; ++k) s += (k ? "," : "") + std::to_string(g.normal());
    return s + "]}";
}

std::string feedback_body(const std::string& id, int L, std::uint64_t seed) {
    rng g(seed);
    std::string s = "{\"id\":" + id + ",\"feedback\":[";
    for (int t = 0; t < L; ++t) {
        const int click = g.uniform() < 0.3 ? 1 : 0;
        const int lv = click && g.uniform() < 0.5 ? 1 : 0;
        s += (t ? ",[" : "[") + std::to_string(click) + "," + std::to_string(lv) + "]";
    }
    return s + "]}";
}

struct running {
    rerank_service::service svc;
    httplib::Client cl;
    explicit running(const rerank_service::options& o) : svc(o), cl("127.0.0.1", svc.start()) {
        cl.set_tcp_nodelay(true);
        cl.set_read_timeout(30, 0);
    }
    httplib::Result post(const char* path, const std::string& body) { return cl.Post(path, body, "application/json"); }
    io::json stats() {
        auto r = cl.Get("/stats");
        REQUIRE(r);
        REQUIRE(r->status == 200);
        return io::json::parse(r->body);
    }
};

rerank_service::options sample_options(const model_files& m) {
    rerank_service::options o;
    o.model = m.student;
    o.evaluator = m.evaluator;
    o.threads = 2;
    o.group = 4;
    o.lr = 1e-3;
    o.requests_per_step = 1000;  // no step unless a test asks for it
    o.publish_every = 1;
    return o;
}

struct reply {
    std::vector<int> slate;
    std::vector<double> lp;
    std::uint64_t version = 0;
};

reply parse_reply(const httplib::Result& r, int n, int L) {
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    const io::json j = io::json::parse(r->body);
    reply out;
    for (const io::json& v : j.at("slate").as_array()) out.slate.push_back(int(v.as_int()));
    for (const io::json& v : j.at("log_propensities").as_array()) out.lp.push_back(v.as_double());
    out.version = j.at("policy_version").as_uint();
    REQUIRE(int(out.slate.size()) == L);
    REQUIRE(out.lp.size() == out.slate.size());
    std::set<int> seen;
    for (int a : out.slate) {
        CHECK(a >= 0);
        CHECK(a < n);
        CHECK(seen.insert(a).second);  // a permutation prefix: no candidate twice
    }
    for (double x : out.lp) {
        CHECK(std::isfinite(x));
        CHECK(x <= 0.0);
    }
    return out;
}

template <class F>
bool wait_for(F&& done, double seconds = 60) {
    const auto t0 = std::chrono::steady_clock::now();
    while (!done()) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > seconds) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

}  // namespace

TEST_CASE("service: a valid slate and log-propensities; the same id, the same slate at a fixed version", "[service]") {
    model_files m;
    running s(sample_options(m));
    const reply a = parse_reply(s.post("/rerank", request_body("11", 9, 1)), 9, 4);
    CHECK(a.version == 0);
    // not every slot is certain: the sampler's propensities are not all 1
    CHECK(std::any_of(a.lp.begin(), a.lp.end(), [](double x) { return x < -1e-3; }));
    // while id 11 waits for its feedback, a second slate under that id is refused
    auto dup = s.post("/rerank", request_body("11", 9, 1));
    REQUIRE(dup);
    CHECK(dup->status == 409);
    REQUIRE(s.post("/feedback", feedback_body("11", 4, 5))->status == 200);
    const reply b = parse_reply(s.post("/rerank", request_body("11", 9, 1)), 9, 4);
    CHECK(b.version == a.version);
    CHECK(b.slate == a.slate);
    CHECK(b.lp == a.lp);
    // string ids work too, and N < L gives a slate of N
    parse_reply(s.post("/rerank", request_body("\"q-7\"", 3, 2)), 3, 3);
    // other ids draw other noise: over 12 ids at least two slates differ
    std::set<std::vector<int>> slates;
    for (int i = 0; i < 12; ++i) slates.insert(parse_reply(s.post("/rerank", request_body(std::to_string(100 + i), 9, 1)), 9, 4).slate);
    CHECK(slates.size() > 1);
    const io::json st = s.stats();
    CHECK(st.at("served").as_int() == 15);
    CHECK(st.at("conflicts").as_int() == 1);
    CHECK(st.at("pending").as_int() == 14);
}

TEST_CASE("service: feedback is joined and the trainer publishes new versions", "[service]") {
    model_files m;
    auto o = sample_options(m);
    o.requests_per_step = 2;
    o.publish_every = 1;
    o.save_path = test_util::temp_path("service", "saved.safetensors");
    std::remove(o.save_path.c_str());
    {
        running s(o);
        auto p0 = s.cl.Get("/policy");
        REQUIRE(p0);
        REQUIRE(p0->status == 200);
        CHECK(p0->get_header_value("X-Policy-Version") == "0");
        // feedback out of order: all slates first, then the feedback in reverse
        for (int i = 0; i < 8; ++i) parse_reply(s.post("/rerank", request_body(std::to_string(i), 12, 10 + i)), 12, 4);
        for (int i = 7; i >= 0; --i) {
            auto r = s.post("/feedback", feedback_body(std::to_string(i), 4, 20 + i));
            REQUIRE(r);
            INFO(r->body);
            CHECK(r->status == 200);
        }
        REQUIRE(wait_for([&] { return s.stats().at("records").as_int() == 8; }));
        REQUIRE(wait_for([&] { return s.stats().at("version").as_uint() >= 4; }));
        const io::json st = s.stats();
        CHECK(st.at("steps").as_int() == 4);
        CHECK(st.at("pending").as_int() == 0);
        CHECK(st.at("trainer_errors").as_int() == 0);
        CHECK(std::isfinite(st.at("kl").as_double()));
        // the new version serves and GET /policy returns it, with other weights than version 0
        const reply r = parse_reply(s.post("/rerank", request_body("100", 12, 3)), 12, 4);
        CHECK(r.version >= 4);
        auto p1 = s.cl.Get("/policy");
        REQUIRE(p1);
        CHECK(p1->get_header_value("X-Policy-Version") == std::to_string(st.at("version").as_uint()));
        const auto m0 = io::load_model_from<nar_student<float>>(io::safetensors_file::from_bytes(p0->body.data(), p0->body.size()), "v0");
        const auto m1 = io::load_model_from<nar_student<float>>(io::safetensors_file::from_bytes(p1->body.data(), p1->body.size()), "v1");
        CHECK_FALSE(std::equal(m0.params(), m0.params() + m0.arena_size(), m1.params()));
        s.svc.stop();  // flush and save
    }
    const auto saved = io::load_model<nar_student<float>>(o.save_path);
    CHECK(saved.config().max_slate == 4);
    std::remove(o.save_path.c_str());
}

TEST_CASE("service: unknown feedback ids get 404, bad bodies 400 (413 over --max-body), and the service keeps serving", "[service]") {
    model_files m;
    auto o = sample_options(m);
    o.max_body = 4096;
    running s(o);
    auto status = [&](const char* path, const std::string& body) {
        auto r = s.post(path, body);
        REQUIRE(r);
        INFO(path << " " << body.substr(0, 80) << " -> " << r->body);
        // one JSON line with an "error"
        const io::json j = io::json::parse(r->body);
        CHECK(j.at("error").is_string());
        CHECK(r->body.find('\n') == r->body.size() - 1);
        return std::make_pair(r->status, j.at("error").as_string());
    };
    auto next_ok = [&](int k) { parse_reply(s.post("/rerank", request_body(std::to_string(1000 + k), 6, k)), 6, 4); };
    const auto unknown = status("/feedback", feedback_body("424242", 4, 1));
    CHECK(unknown.first == 404);
    CHECK(unknown.second.find("unknown request id 424242") != std::string::npos);
    next_ok(0);
    struct bad {
        const char* path;
        std::string body;
        const char* names;  // the field (or problem) the message must name
    };
    const std::vector<bad> cases = {
        {"/rerank", "{\"features\": [[1, 2,", "json: unexpected end of input"},
        {"/rerank", "", "empty body"},
        {"/rerank", "{\"features\": [[1,2,3,4,5]], \"context\": [1,2,3]}\n{\"features\": [[1,2,3,4,5]]}", "a second request"},
        {"/rerank", "[1, 2]", "expected a JSON object"},
        {"/rerank", "{\"context\": [1,2,3]}", "missing field \"features\""},
        {"/rerank", "{\"features\": [[1,2,3,4,5],[1,2,3]], \"context\": [1,2,3]}", "\"features\"[1]: row has 3 values"},
        {"/rerank", "{\"features\": [[1,2,NaN,4,5]], \"context\": [1,2,3]}", "json:"},
        {"/rerank", "{\"features\": [[1,2,1e39,4,5]], \"context\": [1,2,3]}", "\"features\"[0][2]: value does not fit in a float"},
        {"/rerank", "{\"features\": [[1,2,\"x\",4,5]], \"context\": [1,2,3]}", "\"features\"[0][2]: expected a number"},
        {"/rerank", "{\"features\": [[1,2,3,4,5]], \"context\": [1,2,3], \"colour\": 1}", "unknown field \"colour\""},
        {"/rerank", request_body("5", 6, 1, 4), "feature width 4"},
        {"/rerank", "{\"id\": 1.5, \"features\": [[1,2,3,4,5]], \"context\": [1,2,3]}", "\"id\": expected a string or an integer"},
        {"/rerank", request_body("6", 17, 1), "max_candidates"},
        {"/rerank", "{\"features\": [[1,2,3,4,5]]}", "context"},
        {"/feedback", "{\"feedback\": [[1, 0]]}", "missing field \"id\""},
        {"/feedback", "{\"id\": 1}", "missing field \"feedback\""},
        {"/feedback", "{\"id\": 1, \"feedback\": [[1, 0]], \"x\": 2}", "unknown field \"x\""},
        {"/feedback", "{\"id\": 1, \"feedback\": [[1]]}", "\"feedback\"[0]: 1 values, expected 2"},
        {"/feedback", "{\"id\": 1, \"feedback\": [[2, 0]]}", "\"feedback\"[0][0]: a feedback value must be in [0, 1]"},
        {"/feedback", "{\"id\": 1, \"feedback\": [[0, 1]]}", "long_view 1.000000 exceeds click 0.000000"},
        {"/feedback", "{\"id\": 1, \"feedback\": [[NaN, 0]]}", "json:"},
        {"/feedback", "{\"id\": 1, \"feedback\": {\"click\": [1], \"lv\": [0]}}", "unknown objective \"lv\""},
        {"/feedback", "{\"id\": 1, \"feedback\": \"yes\"}", "\"feedback\": expected an array of slots or an object"},
    };
    int k = 1;
    for (const bad& b : cases) {
        INFO(b.body);
        const auto e = status(b.path, b.body);
        CHECK(e.first == 400);
        CHECK(e.second.find(b.names) != std::string::npos);
        next_ok(k++);
    }
    // feedback of the wrong length for a request that is pending: 400, and it stays pending
    next_ok(k);
    const std::string id = std::to_string(1000 + k++);
    const auto short_fb = status("/feedback", feedback_body(id, 3, 1));
    CHECK(short_fb.first == 400);
    CHECK(short_fb.second.find("showed 4 slots, so its feedback needs 4 x 2 values, got 6") != std::string::npos);
    CHECK(s.post("/feedback", feedback_body(id, 4, 1))->status == 200);
    // over --max-body: 413, one JSON error line
    const auto big = status("/rerank", request_body("7", 16, 1) + std::string(5000, ' '));
    CHECK(big.first == 413);
    CHECK(big.second.find("--max-body = 4096") != std::string::npos);
    next_ok(k++);
    const auto nowhere = status("/rerank2", request_body("8", 6, 1));
    CHECK(nowhere.first == 404);
    next_ok(k++);
    const io::json st = s.stats();
    CHECK(st.at("bad_requests").as_int() == 14);
    CHECK(st.at("feedback_bad").as_int() == 10);
    CHECK(st.at("feedback_unknown").as_int() == 1);
}

TEST_CASE("service: concurrent clients while the trainer publishes", "[service]") {
    model_files m;
    auto o = sample_options(m);
    o.threads = 4;
    o.requests_per_step = 4;
    o.publish_every = 1;
    running s(o);
    const int clients = 4, per_client = 40;
    std::atomic<int> ok{0}, failed{0};
    std::atomic<std::uint64_t> max_version{0};
    std::vector<std::thread> th;
    for (int c = 0; c < clients; ++c)
        th.emplace_back([&, c] {
            httplib::Client cl("127.0.0.1", s.svc.port());
            cl.set_tcp_nodelay(true);
            for (int i = 0; i < per_client; ++i) {
                const std::string id = std::to_string(c * 1000 + i);
                const int n = 4 + (i % 9);
                auto r = cl.Post("/rerank", request_body(id, n, std::uint64_t(c * 1000 + i)), "application/json");
                bool good = r && r->status == 200;
                if (good) {
                    const io::json j = io::json::parse(r->body);
                    std::set<int> seen;
                    for (const io::json& v : j.at("slate").as_array()) good = good && v.as_int() >= 0 && v.as_int() < n && seen.insert(int(v.as_int())).second;
                    good = good && seen.size() == std::size_t(std::min(n, 4));
                    std::uint64_t v = j.at("policy_version").as_uint(), cur = max_version.load();
                    while (v > cur && !max_version.compare_exchange_weak(cur, v)) {
                    }
                    auto f = cl.Post("/feedback", feedback_body(id, std::min(n, 4), std::uint64_t(i)), "application/json");
                    good = good && f && f->status == 200;
                }
                (good ? ok : failed)++;
            }
        });
    for (auto& t : th) t.join();
    CHECK(failed == 0);
    CHECK(ok == clients * per_client);
    REQUIRE(wait_for([&] { return s.stats().at("records").as_int() == clients * per_client; }));
    const io::json st = s.stats();
    CHECK(st.at("version").as_uint() == std::uint64_t(clients * per_client / 4));  // every step published
    CHECK(max_version.load() > 0);  // some requests were served by a published version
    CHECK(st.at("trainer_errors").as_int() == 0);
    CHECK(st.at("served").as_int() == clients * per_client);
}

TEST_CASE("service: --decoder greedy serves serving::session's slates and does not learn", "[service]") {
    model_files m;
    rerank_service::options o;
    o.model = m.student;
    o.decoder = "greedy";
    running s(o);
    const serving::reranker ranker(m.student);
    serving::session ses(ranker);
    for (int i = 0; i < 5; ++i) {
        const std::string body = request_body(std::to_string(i), 10, 50 + i);
        const reply r = parse_reply(s.post("/rerank", body), 10, 4);
        const auto req = io::parse_jsonl_request(body);
        CHECK(r.slate == ses.rerank(req.candidates.view(), std::uint64_t(i)));
        for (double x : r.lp) CHECK(x == 0.0);
    }
    auto f = s.post("/feedback", feedback_body("1", 4, 1));
    REQUIRE(f);
    CHECK(f->status == 404);
    CHECK(s.stats().at("decoder").as_string() == "greedy");
    rerank_service::options bad = o;
    bad.decoder = "beam";
    CHECK_THROWS_AS(rerank_service::service(bad), input_error);
}
