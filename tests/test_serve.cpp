// The serving front door (serve/reranker.hpp, serve/any_model.hpp) and the Eigen adapter
// (eigen.hpp): every decoder serves what the decode/ function it wraps serves, request ids give
// reproducible and distinct noise, bad settings and bad requests are input_errors before any work,
// sessions on several threads equal one thread, and row- and column-major Eigen inputs give the
// same slates. Zero allocation after warm-up: tests/test_zero_alloc.cpp ("the reranker ...").
#include "test_util.hpp"

#include <dualrerank/eigen.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace dualrerank;

namespace {

/// Three small models written to files once, and requests of varied N.
struct serve_fixture {
    model_config c;
    std::filesystem::path dir;
    std::vector<request<float>> reqs;

    static model_config config() {
        model_config c = test_util::small_config(7, 3);
        c.max_slate = 5;
        c.max_candidates = 40;
        return c;
    }
    serve_fixture() : c(config()) {
        dir = std::filesystem::temp_directory_path() /
              ("dualrerank_serve_" + std::to_string(static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count())));
        std::filesystem::create_directories(dir);
        nar_student<float> s(c);
        ar_teacher<float> t(c);
        list_evaluator<float> e(c);
        s.init(11);
        t.init(12);
        e.init(13);
        io::save_model(s, file("student"));
        io::save_model(t, file("teacher"));
        io::save_model(e, file("evaluator"));
        rng g(14);
        for (int i = 0; i < 12; ++i) reqs.push_back(test_util::random_request<float>(c, 3 + int(g.below(30)), g));
    }
    ~serve_fixture() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string file(const char* name) const { return (dir / (std::string(name) + ".safetensors")).string(); }
};

serving::reranker_options with(serving::decoder_kind d) {
    serving::reranker_options o;
    o.decoder = d;
    return o;
}

}  // namespace

TEST_CASE("serve: load_any_model loads every kind from a file", "[serve]") {
    serve_fixture fx;
    const serving::any_model s = serving::load_any_model(fx.file("student"));
    const serving::any_model t = serving::load_any_model(fx.file("teacher"));
    const serving::any_model e = serving::load_any_model(fx.file("evaluator"));
    CHECK((s.student && !s.teacher && !s.evaluator && s.kind == model_kind::student));
    CHECK((t.teacher && !t.student && t.kind == model_kind::teacher));
    CHECK((e.evaluator && !e.student && e.kind == model_kind::evaluator));
    CHECK(std::string(t.kind_name()) == "ar_teacher");
    CHECK(s.config == fx.c);
    CHECK(s.path == fx.file("student"));
    CHECK(serving::any_model{}.empty());
    CHECK_THROWS_AS(serving::load_any_model(fx.file("missing")), format_error);
    // a safetensors file that is not a dualrerank model
    io::write_safetensors_file(fx.file("other"), {}, {{"format", "pt"}});
    CHECK_THROWS_AS(serving::load_any_model(fx.file("other")), format_error);
}

TEST_CASE("serve: every decoder serves what its decode/ function serves", "[serve]") {
    serve_fixture fx;
    const auto student = io::load_model<nar_student<float>>(fx.file("student"));
    const auto teacher = io::load_model<ar_teacher<float>>(fx.file("teacher"));
    const auto evaluator = io::load_model<list_evaluator<float>>(fx.file("evaluator"));
    const serving::reranker greedy(fx.file("student"));
    const serving::reranker confident(fx.file("student"), with(serving::decoder_kind::confident));
    auto so = with(serving::decoder_kind::sample);
    so.seed = 5;
    const serving::reranker sample(fx.file("student"), so);
    auto bo = with(serving::decoder_kind::best_of_n);
    bo.best_of = 6;
    bo.seed = 9;
    const serving::reranker bon_teacher(fx.file("student"), bo, fx.file("teacher"));
    const serving::reranker bon_evaluator(fx.file("student"), bo, fx.file("evaluator"));
    const serving::reranker t_greedy(fx.file("teacher"));
    auto beam = with(serving::decoder_kind::beam);
    beam.beam_width = 3;
    const serving::reranker t_beam(fx.file("teacher"), beam);
    auto to = with(serving::decoder_kind::sample);
    to.tau = 0.7;
    const serving::reranker t_sample(fx.file("teacher"), to);
    CHECK(sample.tau() == 1.0);
    CHECK(bon_teacher.tau() == decode::best_of_n_config{}.tau);
    CHECK(t_sample.tau() == 0.7);

    serving::session sg(greedy), sc(confident), ss(sample), sbt(bon_teacher), sbe(bon_evaluator), stg(t_greedy), stb(t_beam),
        sts(t_sample);
    workspace ws;
    decode::best_of_n_workspace<float> bw;
    int sampled_differs = 0;
    for (std::size_t i = 0; i < fx.reqs.size(); ++i) {
        const request_view<float> r = fx.reqs[i].view();
        const int L = std::min(fx.c.max_slate, r.n);
        const std::uint64_t id = 1000 + i;
        int y[8], ref[8];
        float score = 0;

        REQUIRE(sg.rerank(r, id, y, 8, &score) == L);
        decode::greedy(student, r, L, ref, ws);
        CHECK(slate(y, y + L) == slate(ref, ref + L));
        {
            ws.reset();
            auto c = student.forward(&r, 1, L, ws);
            CHECK(score == decode::slate_log_prob(c.Z, L, r.n, r.n, ref));
        }
        CHECK(sg.rerank(r, id) == slate(ref, ref + L));  // the convenience overload

        sc.rerank(r, id, y, 8);
        decode::confident(student, r, L, ref, ws);
        CHECK(slate(y, y + L) == slate(ref, ref + L));

        float lp_ref = 0;
        ss.rerank(r, id, y, 8, &score);
        decode::student_sample(student, r, L, 1, 1.0, serving::request_key(5, id), 0, ref, &lp_ref, ws);
        CHECK(slate(y, y + L) == slate(ref, ref + L));
        CHECK(score == lp_ref);
        sampled_differs += slate(y, y + L) != sg.rerank(r, id);

        sbt.rerank(r, id, y, 8, &score);
        const int best = decode::best_of_n(student, decode::teacher_scorer<float>{&teacher}, r, L,
                                           decode::best_of_n_config{6, decode::best_of_n_config{}.tau}, serving::request_key(9, id), 0,
                                           ref, bw);
        CHECK(slate(y, y + L) == slate(ref, ref + L));
        // a teacher file holds no trust record: the library's gate serves greedy and scores nothing
        // (the page-evaluator scorer with a record: tests/test_page_evaluator.cpp)
        CHECK(best == 0);
        CHECK_FALSE(bon_teacher.scorer_trusted());
        CHECK(std::isnan(score));
        CHECK(sbt.last_proposals().count == 0);

        sbe.rerank(r, id, y, 8);
        decode::best_of_n(student, decode::evaluator_scorer<float>{&evaluator}, r, L, decode::best_of_n_config{6},
                          serving::request_key(9, id), 0, ref, bw);
        CHECK(slate(y, y + L) == slate(ref, ref + L));

        stg.rerank(r, id, y, 8, &score);
        CHECK(score == decode::teacher_greedy(teacher, r, L, ref, ws));
        CHECK(slate(y, y + L) == slate(ref, ref + L));
        CHECK(stg.last_proposals().count == 0);

        stb.rerank(r, id, y, 8, &score);
        CHECK(score == decode::teacher_beam(teacher, r, L, 3, ref, ws));
        CHECK(slate(y, y + L) == slate(ref, ref + L));

        sts.rerank(r, id, y, 8, &score);
        decode::teacher_sample(teacher, r, L, 1, 0.7, serving::request_key(1, id), 0, ref, &lp_ref, ws);
        CHECK(slate(y, y + L) == slate(ref, ref + L));
        CHECK(score == lp_ref);
    }
    CHECK(sampled_differs > 0);  // the samples are not all the greedy slate

    // the logits a session writes are the student's
    const request_view<float> r = fx.reqs[0].view();
    const int L = greedy.slate_length(r.n);
    std::vector<float> Z(std::size_t(L) * r.n), Zref(Z.size());
    CHECK(sg.logits(r, Z.data(), Z.size()) == L);
    student.logits(r, L, Zref.data(), ws);
    CHECK(Z == Zref);
    CHECK_THROWS_AS(stg.logits(r, Z.data(), Z.size()), input_error);
    CHECK_THROWS_AS(sg.logits(r, Z.data(), Z.size() - 1), input_error);
}

TEST_CASE("serve: a request id gives reproducible noise, distinct ids distinct keys", "[serve]") {
    // the key is a bijection of the id: 200000 consecutive ids (and ids differing in the high
    // word) never share a key
    std::set<std::uint64_t> keys;
    auto as64 = [](counter_key k) { return (std::uint64_t(k.k1) << 32) | k.k0; };
    for (std::uint64_t id = 0; id < 200000; ++id) keys.insert(as64(serving::request_key(1, id)));
    for (std::uint64_t hi = 1; hi < 1000; ++hi) keys.insert(as64(serving::request_key(1, hi << 40)));
    CHECK(keys.size() == 200000 + 999);
    CHECK(as64(serving::request_key(1, 7)) != as64(serving::request_key(2, 7)));  // the seed matters

    serve_fixture fx;
    auto so = with(serving::decoder_kind::sample);
    const serving::reranker ranker(fx.file("student"), so);
    serving::session a(ranker), b(ranker);
    const request_view<float> r = fx.reqs[1].view();
    std::set<slate> seen;
    for (std::uint64_t id = 0; id < 40; ++id) {
        const slate y = a.rerank(r, id);
        CHECK(b.rerank(r, id) == y);  // same id, same slate (on any session)
        seen.insert(y);
    }
    CHECK(seen.size() > 5);  // distinct ids draw distinct noise
}

TEST_CASE("SRV-01: reranker settings the model cannot serve are input_errors at construction", "[bad_input][serve]") {
    serve_fixture fx;
    const serving::any_model s = serving::load_any_model(fx.file("student"));
    const serving::any_model t = serving::load_any_model(fx.file("teacher"));
    const serving::any_model e = serving::load_any_model(fx.file("evaluator"));
    using serving::decoder_kind;
    CHECK_THROWS_AS(serving::reranker(serving::any_model{}), input_error);
    CHECK_THROWS_AS(serving::reranker(e), input_error);                                 // an evaluator makes no slates
    CHECK_THROWS_AS(serving::reranker(t, with(decoder_kind::confident)), input_error);  // teacher: greedy, beam, sample
    CHECK_THROWS_AS(serving::reranker(t, with(decoder_kind::best_of_n), e), input_error);
    CHECK_THROWS_AS(serving::reranker(s, with(decoder_kind::beam)), input_error);
    CHECK_THROWS_AS(serving::reranker(s, with(decoder_kind::best_of_n)), input_error);     // no scorer
    CHECK_THROWS_AS(serving::reranker(s, with(decoder_kind::best_of_n), s), input_error);  // a student cannot score
    CHECK_THROWS_AS(serving::reranker(s, with(decoder_kind::greedy), t), input_error);     // a scorer only for best-of-n
    auto o = with(decoder_kind::greedy);
    o.slate_length = fx.c.max_slate + 1;
    CHECK_THROWS_AS(serving::reranker(s, o), input_error);
    o = with(decoder_kind::best_of_n);
    o.best_of = 0;
    CHECK_THROWS_AS(serving::reranker(s, o, t), input_error);
    o.best_of = limits::max_samples + 1;
    CHECK_THROWS_AS(serving::reranker(s, o, t), input_error);
    o = with(decoder_kind::sample);
    o.tau = -1;
    CHECK_THROWS_AS(serving::reranker(s, o), input_error);
    o.tau = std::nan("");
    CHECK_THROWS_AS(serving::reranker(s, o), input_error);
    o = with(decoder_kind::beam);
    o.beam_width = 0;
    CHECK_THROWS_AS(serving::reranker(t, o), input_error);
    CHECK_THROWS_AS(serving::parse_decoder("topk"), input_error);
    CHECK(serving::parse_decoder("best-of-n") == decoder_kind::best_of_n);
    CHECK(std::string(serving::to_string(decoder_kind::confident)) == "confident");
    {  // a scorer with other inputs
        model_config c2 = fx.c;
        c2.features += 1;
        list_evaluator<float> e2(c2);
        e2.init(1);
        CHECK_THROWS_AS(serving::reranker(s, with(decoder_kind::best_of_n), serving::make_any_model(std::move(e2))), input_error);
    }

}

TEST_CASE("SRV-02: a bad request or a short buffer is an input_error before any work", "[bad_input][serve]") {
    serve_fixture fx;
    const serving::any_model s = serving::load_any_model(fx.file("student"));
    const serving::any_model t = serving::load_any_model(fx.file("teacher"));
    using serving::decoder_kind;
    // nothing is written when the request is rejected
    model_config narrow = fx.c;
    narrow.max_candidates = 10;  // a scorer that accepts fewer candidates than the student
    list_evaluator<float> e3(narrow);
    e3.init(2);
    const serving::reranker bon(s, with(decoder_kind::best_of_n), serving::make_any_model(std::move(e3), "narrow evaluator"));
    const serving::reranker greedy(s);
    serving::session sb(bon), sg(greedy);
    rng g(3);
    const request<float> big = test_util::random_request<float>(fx.c, 20, g);
    int y[8] = {-7, -7, -7, -7, -7, -7, -7, -7};
    CHECK_THROWS_AS(sb.rerank(big.view(), 1, y, 8), input_error);
    CHECK(y[0] == -7);
    CHECK_THROWS_AS(sg.rerank(big.view(), 1, y, 4), input_error);  // the buffer holds 4 < L = 5
    CHECK_THROWS_AS(sg.rerank(big.view(), 1, nullptr, 8), input_error);
    request<float> bad = big;
    bad.features[3] = std::nanf("");
    CHECK_THROWS_AS(sg.rerank(bad.view(), 1, y, 8), input_error);
    bad = big;
    bad.f -= 1;
    CHECK_THROWS_AS(sg.rerank(bad.view(), 1, y, 8), input_error);
    request_view<float> empty = big.view();
    empty.n = 0;
    CHECK_THROWS_AS(sg.rerank(empty, 1, y, 8), input_error);
    CHECK(y[0] == -7);
    CHECK(sg.rerank(big.view(), 1, y, 8) == 5);  // and a good request still serves
    // logits: a teacher has none to give, a short buffer is refused
    const serving::reranker teacher(t);
    serving::session st(teacher);
    std::vector<float> Z(5 * 20);
    CHECK_THROWS_AS(st.logits(big.view(), Z.data(), Z.size()), input_error);
    CHECK_THROWS_AS(sg.logits(big.view(), Z.data(), Z.size() - 1), input_error);
    CHECK(sg.logits(big.view(), Z.data(), Z.size()) == 5);
}

TEST_CASE("SRV-03: an Eigen context that is not a vector is an input_error", "[bad_input][serve][eigen]") {
    eigen::request_buffer buf;
    const Eigen::MatrixXf not_a_vector(2, 2);
    CHECK_THROWS_AS(buf.view(eigen::row_matrix(3, 7), not_a_vector), input_error);
    CHECK(buf.view(eigen::row_matrix(3, 7), Eigen::VectorXf(0)).context == nullptr);  // no context: null
}

TEST_CASE("serve: a session on borrowed workspaces serves the same slates", "[serve]") {
    serve_fixture fx;
    auto bo = with(serving::decoder_kind::best_of_n);
    bo.best_of = 5;
    const serving::reranker ranker(fx.file("student"), bo, fx.file("teacher"));
    workspace ws;
    decode::best_of_n_workspace<float> bw;
    serving::session own(ranker), borrowed(ranker, ws, bw);
    for (std::size_t i = 0; i < fx.reqs.size(); ++i) CHECK(own.rerank(fx.reqs[i].view(), i) == borrowed.rerank(fx.reqs[i].view(), i));
    CHECK(bw.student.capacity_bytes() > 0);  // the borrowed workspaces did the work
}

TEST_CASE("serve: one reranker shared by 4 threads, a session each, equals one thread", "[serve][threads]") {
    serve_fixture fx;
    auto bo = with(serving::decoder_kind::best_of_n);
    bo.best_of = 6;
    std::vector<serving::reranker> rankers;
    rankers.emplace_back(fx.file("student"));
    rankers.emplace_back(fx.file("student"), with(serving::decoder_kind::confident));
    rankers.emplace_back(fx.file("student"), with(serving::decoder_kind::sample));
    rankers.emplace_back(fx.file("student"), bo, fx.file("teacher"));
    rankers.emplace_back(fx.file("teacher"), with(serving::decoder_kind::beam));
    rankers.emplace_back(fx.file("teacher"), with(serving::decoder_kind::sample));
    const std::size_t R = 48;
    auto serve_all = [&](std::vector<slate>& out, std::size_t begin, std::size_t step) {
        std::vector<serving::session> sessions;
        for (const auto& rk : rankers) sessions.emplace_back(rk);
        for (std::size_t i = begin; i < R; i += step)
            for (std::size_t k = 0; k < rankers.size(); ++k)
                out[i * rankers.size() + k] = sessions[k].rerank(fx.reqs[i % fx.reqs.size()].view(), i);
    };
    std::vector<slate> one(R * rankers.size()), many(R * rankers.size());
    serve_all(one, 0, 1);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < 4; ++t) pool.emplace_back([&, t] { serve_all(many, t, 4); });
    for (auto& th : pool) th.join();
    CHECK(many == one);
}

TEST_CASE("eigen: row-major and column-major features give the same slates", "[serve][eigen]") {
    serve_fixture fx;
    const serving::reranker ranker(fx.file("student"));
    serving::session s(ranker);
    eigen::request_buffer buf;
    for (const auto& q : fx.reqs) {
        const request_view<float> r = q.view();
        const slate ref = s.rerank(r, 0);
        eigen::const_row_matrix_map rm(r.features, r.n, r.f);
        const eigen::row_matrix row = rm;
        const Eigen::MatrixXf col = rm;  // column-major copy of the same values
        const Eigen::VectorXf ctx = Eigen::Map<const Eigen::VectorXf>(r.context, r.fc);
        const Eigen::RowVectorXf ctx_row = ctx.transpose();

        request_view<float> v = buf.view(row, ctx, r.upstream_rank);
        CHECK(!buf.copied());
        CHECK(v.features == row.data());  // viewed in place
        CHECK(s.rerank(v, 0) == ref);

        v = buf.view(col, ctx_row, r.upstream_rank);
        CHECK(buf.copied());
        CHECK(s.rerank(v, 0) == ref);

        const Eigen::Ref<const eigen::row_matrix> ref_row(row);
        v = buf.view(ref_row, ctx, r.upstream_rank);
        CHECK(!buf.copied());
        CHECK(s.rerank(v, 0) == ref);

        const Eigen::Ref<const Eigen::MatrixXf> ref_col(col);
        v = buf.view(ref_col, ctx, r.upstream_rank);
        CHECK(buf.copied());
        CHECK(s.rerank(v, 0) == ref);

        // a strided block (the features are the left columns of a wider matrix) and doubles: copied
        eigen::row_matrix wide(r.n, r.f + 3);
        wide.setZero();
        wide.leftCols(r.f) = row;
        CHECK(!eigen::is_zero_copy(wide.leftCols(r.f)));
        v = buf.view(wide.leftCols(r.f), ctx, r.upstream_rank);
        CHECK(s.rerank(v, 0) == ref);
        const Eigen::MatrixXd dbl = col.cast<double>();
        v = buf.view(dbl, ctx.cast<double>(), r.upstream_rank);
        CHECK(buf.copied());
        CHECK(s.rerank(v, 0) == ref);
        CHECK(eigen::is_zero_copy(col.transpose()));  // the transpose of column-major storage is row-major
    }
    // results back as Eigen maps
    const request_view<float> r = fx.reqs[0].view();
    const int L = ranker.slate_length(r.n);
    std::vector<float> Z(std::size_t(L) * r.n);
    s.logits(r, Z.data(), Z.size());
    const auto Zm = eigen::logits_map(Z.data(), L, r.n);
    CHECK(Zm.rows() == L);
    CHECK(Zm(1, 2) == Z[std::size_t(r.n) + 2]);
    int y[8];
    s.rerank(r, 0, y, 8);
    Eigen::Index arg = -1;
    Zm.row(0).maxCoeff(&arg);
    CHECK(eigen::slate_map(y, L)(0) == int(arg));  // greedy's first slot is row 0's argmax
    const float sc[3] = {1, 3, 2};
    CHECK(eigen::scores_map(sc, 3).maxCoeff() == 3);
}
