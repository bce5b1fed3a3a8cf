// Fuzz target body: the public inference entry points with fuzzer-chosen shapes and values (see
// fuzz_common.hpp for the contract).
//
// Three sets of small models (teacher, student, evaluator) are made once from fixed configs and
// seeds: A has context features, B has none but uses upstream ranks, C is A with every weight
// scaled by 1e15 so that finite inputs overflow inside the network (non-finite logits). The input
// picks the model set, the entry point, N (up to max_candidates + 2), L (-1 .. max_slate + 2),
// the feature width (right, one more, one less, zero), the context (right, null, wrong size,
// given to a model without context), upstream ranks (absent, valid, out of range), a null feature
// pointer, the beam width / sample count / Best-of-N size, the temperature (including 0, < 0,
// NaN, inf), and the feature values (small integers, or raw float bits: NaN, Inf, 1e38, ...).
// Every slate an entry point returns must be a valid slate (in range, distinct).
#pragma once

#include <array>
#include <limits>

#include "fuzz_common.hpp"

namespace dualrerank_fuzz {

namespace detail_inference {

using namespace dualrerank;

struct model_set {
    model_config config;
    ar_teacher<float> teacher;
    nar_student<float> student;
    list_evaluator<float> evaluator;
    explicit model_set(const model_config& c, std::uint64_t seed, float scale)
        : config(c), teacher(c), student(c), evaluator(c) {
        teacher.init(seed);
        student.init(seed + 1);
        evaluator.init(seed + 2);
        for (std::size_t i = 0; i < teacher.arena_size(); ++i) teacher.params()[i] *= scale;
        for (std::size_t i = 0; i < student.arena_size(); ++i) student.params()[i] *= scale;
        for (std::size_t i = 0; i < evaluator.arena_size(); ++i) evaluator.params()[i] *= scale;
    }
};

inline model_config config_a() {
    model_config c;
    c.features = 5;
    c.context = 3;
    c.d = 8;
    c.heads = 2;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 16;
    c.max_slate = 6;
    c.max_candidates = 16;
    return c;
}

inline model_config config_b() {
    model_config c = config_a();
    c.context = 0;
    c.rank_embedding = true;
    c.outputs = 2;
    c.dec_layers = 2;
    return c;
}

inline const model_set& models(int which) {
    static const model_set a(config_a(), 101, 1.0f);
    static const model_set b(config_b(), 202, 1.0f);
    static const model_set c(config_a(), 303, 1e15f);
    return which == 0 ? a : which == 1 ? b : c;
}

/// Per-process buffers, reused across inputs as a server reuses a thread's workspace (also after
/// a call threw).
struct buffers {
    workspace ws;
    decode::best_of_n_workspace<float> bw;
};

inline buffers& bufs() {
    static buffers b;
    return b;
}

enum op : int {
    op_greedy,
    op_confident,
    op_greedy_batch,
    op_teacher_greedy,
    op_teacher_beam,
    op_teacher_sample,
    op_student_sample,
    op_best_of_n_teacher,
    op_best_of_n_evaluator,
    op_evaluator_score,
    op_teacher_score,
    op_count
};

inline double pick_tau(std::uint8_t b) {
    static const double taus[] = {1.0,  0.5,  2.0, 0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                                  std::numeric_limits<double>::infinity(), 1e-30, 1e30, 1e-3, 1e-45, 0.05};
    return taus[b % (sizeof(taus) / sizeof(taus[0]))];
}

inline void check_slates(const std::vector<int>& y, int K, int L, int n, const char* what) {
    for (int k = 0; k < K; ++k) fuzz_check(valid_slate(y.data() + std::size_t(k) * L, L, n), what);
}

}  // namespace detail_inference

inline void inference_one(const std::uint8_t* data, std::size_t size) {
    using namespace dualrerank;
    using namespace detail_inference;
    byte_reader in(data, size);
    const std::uint8_t b0 = in.u8(), b1 = in.u8(), b2 = in.u8(), b3 = in.u8(), b4 = in.u8(), b5 = in.u8();
    const model_set& m = models(b0 % 3);
    const model_config& c = m.config;
    const int opn = (b0 / 3) % op_count;
    const int N = b1 % (c.max_candidates + 3);
    const int L = int(b2 % (c.max_slate + 4)) - 1;
    const int fmode = b3 & 3, cmode = (b3 >> 2) & 3;
    const bool ranks = b3 & 16, bad_ranks = b3 & 32, null_features = b3 & 64, raw_values = b3 & 128;
    const int param = b4;
    const double tau = pick_tau(b5);

    const int F = fmode == 0 ? c.features : fmode == 1 ? c.features + 1 : fmode == 2 ? c.features - 1 : 0;
    std::vector<float> features(std::size_t(N) * std::size_t(F));
    for (float& v : features) v = raw_values ? in.f32_bits() : float(std::int8_t(in.u8())) / 16.0f;
    const int Fc = cmode == 2 ? c.context + 1 : (cmode == 3 && c.context == 0) ? 2 : c.context;
    std::vector<float> context(static_cast<std::size_t>(Fc));
    for (float& v : context) v = raw_values ? in.f32_bits() : float(std::int8_t(in.u8())) / 16.0f;
    std::vector<int> rank(static_cast<std::size_t>(N));
    for (int i = 0; i < N; ++i) rank[std::size_t(i)] = bad_ranks ? int(std::int8_t(in.u8())) * 3 : (N - 1 - i);

    request_view<float> r;
    r.features = null_features ? nullptr : features.data();
    r.n = N;
    r.f = F;
    r.context = (cmode == 1 || Fc == 0) ? nullptr : context.data();
    r.fc = Fc;
    r.upstream_rank = ranks ? rank.data() : nullptr;

    buffers& B = bufs();
    const int Lp = L > 0 ? L : 1;
    try {
        switch (opn) {
            case op_greedy: {
                const slate y = decode::greedy(m.student, r, L, B.ws);
                fuzz_check(int(y.size()) == L, "greedy: wrong slate length");
                check_slates(y, 1, L, N, "greedy: invalid slate");
                break;
            }
            case op_confident: {
                const slate y = decode::confident(m.student, r, L, B.ws);
                fuzz_check(int(y.size()) == L, "confident: wrong slate length");
                check_slates(y, 1, L, N, "confident: invalid slate");
                break;
            }
            case op_greedy_batch: {
                const int nb = 1 + param % 3;
                std::vector<request_view<float>> reqs(std::size_t(nb), r);
                for (int b = 1; b < nb; ++b) reqs[std::size_t(b)].n = std::max(N - b, 0);  // a prefix of the rows
                std::vector<int> y(std::size_t(nb) * Lp, -1);
                decode::greedy_batch(m.student, reqs.data(), nb, L, y.data(), B.ws);
                for (int b = 0; b < nb; ++b)
                    fuzz_check(valid_slate(y.data() + std::size_t(b) * L, L, reqs[std::size_t(b)].n),
                               "greedy_batch: invalid slate");
                break;
            }
            case op_teacher_greedy: {
                const slate y = decode::teacher_greedy(m.teacher, r, L, B.ws);
                fuzz_check(int(y.size()) == L, "teacher_greedy: wrong slate length");
                check_slates(y, 1, L, N, "teacher_greedy: invalid slate");
                break;
            }
            case op_teacher_beam: {
                const int beam = param % 9;  // 0 is invalid
                const slate y = decode::teacher_beam(m.teacher, r, L, beam, B.ws);
                fuzz_check(int(y.size()) == L, "teacher_beam: wrong slate length");
                check_slates(y, 1, L, N, "teacher_beam: invalid slate");
                break;
            }
            case op_teacher_sample:
            case op_student_sample: {
                const int K = param % 6;  // 0 is invalid for the teacher, a no-op for the student
                std::vector<int> y(std::size_t(std::max(K, 1)) * Lp, -1);
                std::vector<float> lp(std::size_t(std::max(K, 1)));
                float* lpp = (param & 64) ? lp.data() : nullptr;
                const counter_key key = counter_key::from_seed(param);
                if (opn == op_teacher_sample)
                    decode::teacher_sample(m.teacher, r, L, K, tau, key, 7u * param, y.data(), lpp, B.ws);
                else
                    decode::student_sample(m.student, r, L, K, tau, key, 7u * param, y.data(), lpp, B.ws);
                check_slates(y, K, L, N, "sampling: invalid slate");
                break;
            }
            case op_best_of_n_teacher:
            case op_best_of_n_evaluator: {
                decode::best_of_n_config cfg;
                cfg.n = param % 7;  // 0 is invalid
                cfg.enabled = !(param & 128);
                cfg.tau = tau;
                std::vector<int> y(std::size_t(Lp), -1);
                int won = 0;
                if (opn == op_best_of_n_teacher)
                    won = decode::best_of_n(m.student, decode::teacher_scorer<float>{&m.teacher}, r, L, cfg,
                                            counter_key::from_seed(9), 0, y.data(), B.bw);
                else
                    won = decode::best_of_n(m.student, decode::evaluator_scorer<float>{&m.evaluator}, r, L, cfg,
                                            counter_key::from_seed(9), 0, y.data(), B.bw);
                fuzz_check(won >= 0 && won < std::max(cfg.n, 1), "best_of_n: winner out of range");
                check_slates(y, 1, L, N, "best_of_n: invalid slate");
                break;
            }
            case op_evaluator_score:
            case op_teacher_score: {
                const int K = param % 5;  // 0 is invalid
                std::vector<int> y(std::size_t(std::max(K, 1)) * Lp);
                for (int& v : y) v = int(in.u8() % (N + 2)) - 1;  // mostly in range, sometimes -1 or N
                std::vector<float> w(std::size_t(Lp), 1.0f), scores(std::size_t(std::max(K, 1)));
                const float* wp = (param & 32) ? w.data() : nullptr;
                if (opn == op_evaluator_score)
                    m.evaluator.score(r, K, L, y.data(), wp, scores.data(), B.ws);
                else
                    m.teacher.score_slates(r, K, L, y.data(), wp, scores.data(), B.ws);
                break;
            }
            default: break;
        }
    } catch (const dualrerank::error&) {
    }
}

}  // namespace dualrerank_fuzz
