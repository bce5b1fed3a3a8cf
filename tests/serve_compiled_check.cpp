// The compiled mode (CTest serve_compiled_mode, built when DUALRERANK_BUILD_COMPILED is ON): this
// translation unit links dualrerank::compiled, so DUALRERANK_COMPILED_LIB is defined and the front
// door's functions come from the library (src/dualrerank.cpp). It writes a student to a file with
// the header-only API, serves requests through serving::reranker from the library, and requires
// the slates decode::greedy gives; exit 1 on any mismatch.
#ifndef DUALRERANK_COMPILED_LIB
#error "serve_compiled_check must be built against dualrerank::compiled"
#endif
#include <dualrerank/serve.hpp>
// the model and decoder headers only to make a reference (serve.hpp alone declares the front door)
#include <dualrerank/decode/greedy.hpp>
#include <dualrerank/io/model_io.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

int main() {
    using namespace dualrerank;
    model_config c;
    c.features = 6;
    c.context = 2;
    c.d = 16;
    c.heads = 2;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 32;
    c.max_slate = 4;
    c.max_candidates = 32;
    nar_student<float> s(c);
    s.init(3);
    const std::string path =
        (std::filesystem::temp_directory_path() / ("dualrerank_compiled_" + std::to_string(std::uint64_t(&c) & 0xffffff) +
                                                   ".safetensors")).string();
    io::save_model(s, path);
    int bad = 0;
    try {
        const serving::reranker ranker(path);
        serving::session session(ranker);
        rng g(5);
        workspace ws;
        for (int i = 0; i < 20; ++i) {
            request<float> r;
            r.n = 4 + int(g.below(20));
            r.f = c.features;
            for (int k = 0; k < r.n * r.f; ++k) r.features.push_back(float(g.normal()));
            r.context = {0.5f, -1.f};
            int y[4];
            const int L = session.rerank(r.view(), std::uint64_t(i), y, 4);
            const slate ref = decode::greedy(s, r.view(), L, ws);
            bad += slate(y, y + L) != ref;
        }
        try {  // errors cross the library boundary as the library's types
            request<float> empty;
            int y[4];
            session.rerank(empty.view(), 0, y, 4);
            ++bad;
        } catch (const input_error&) {
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "serve_compiled_check: %s\n", e.what());
        bad = 1;
    }
    std::filesystem::remove(path);
    std::printf("serve_compiled_check: %s\n", bad ? "FAILED" : "ok (the front door from dualrerank::compiled)");
    return bad ? 1 : 0;
}
