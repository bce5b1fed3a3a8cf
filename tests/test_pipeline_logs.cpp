// pipeline::log_source (include/dualrerank/sim/pipeline.hpp): the logged pages the page evaluator
// is fitted on. The pages it keeps in memory (up to `cache_floats` values) and the pages it
// regenerates from the world by index beyond that cap must be the same pages, so the cap (a memory
// setting) never changes a fit.
#include "catch.hpp"

#include "test_header.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace.
namespace dualrerank_test_pipeline_logs {

using namespace dualrerank;

void require_same_pages(const train::page_source<float>& a, const train::page_source<float>& b) {
    REQUIRE(a.count == b.count);
    train::page_example<float> pa, pb;
    for (std::size_t i = 0; i < a.count; ++i) {
        a.get(i, pa);
        b.get(i, pb);
        REQUIRE(pa.req.n == pb.req.n);
        REQUIRE(pa.req.f == pb.req.f);
        REQUIRE(pa.req.features == pb.req.features);
        REQUIRE(pa.req.context == pb.req.context);
        REQUIRE(pa.shown == pb.shown);
        REQUIRE(pa.labels == pb.labels);
        REQUIRE(pa.log_propensity == pb.log_propensity);
    }
}

TEST_CASE("log_source: cached and regenerated pages are the same", "[pipeline][page_evaluator]") {
    const world w(world_config::small(), 3);
    const auto logs = generate_logs(w, 0, 60, behaviour_policy{}, 5);
    const int L = w.slate_size(), F = w.config().feature_dim;
    for (bool expected : {false, true}) {
        const auto cached = pipeline::log_source(w, logs, 10, 60, expected);  // default cap: 50 pages fit
        const auto regenerated = pipeline::log_source(w, logs, 10, 60, expected, /*cache_floats=*/0);
        require_same_pages(cached, regenerated);
        // and they are the logged pages: the shown items' rows in shown order, the logged clicks
        train::page_example<float> p;
        sim_request r;
        for (std::size_t i = 0; i < cached.count; ++i) {
            cached.get(i, p);
            const logged_page& lp = logs[10 + i];
            w.make_request(lp.request_index, r);
            REQUIRE(p.req.n == L);
            for (int t = 0; t < L; ++t) {
                const auto* row = r.observed.features.data() + std::size_t(lp.shown[std::size_t(t)]) * F;
                REQUIRE(std::equal(row, row + F, p.req.features.begin() + std::ptrdiff_t(t) * F));
                if (!expected) REQUIRE(p.labels[std::size_t(t) * 2] == lp.feedback.clicks[std::size_t(t)]);
            }
            REQUIRE(p.log_propensity == lp.log_propensity);
        }
    }
    REQUIRE_THROWS_AS(pipeline::log_source(w, logs, 10, 61), input_error);
}

}  // namespace dualrerank_test_pipeline_logs
