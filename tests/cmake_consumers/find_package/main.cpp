// Consumer of an installed dualrerank (find_package): build a tiny student, decode one slate, and
// serve the same request through the front door from a column-major Eigen matrix (the package
// finds Eigen for dualrerank/eigen.hpp).
#include <dualrerank/dualrerank.hpp>
#include <dualrerank/eigen.hpp>

#include <cstdio>
#include <set>

int main() {
    using namespace dualrerank;
    model_config c;
    c.features = 5; c.d = 16; c.heads = 2; c.enc_layers = 1; c.dec_layers = 1; c.ffn = 32;
    c.max_slate = 3; c.max_candidates = 8;
    nar_student<float> student(c);
    student.init(1);

    request<float> r;
    r.n = 6; r.f = 5;
    for (int i = 0; i < r.n * r.f; ++i) r.features.push_back(0.1f * float(i % 7) - 0.3f);
    workspace ws;
    const slate y = decode::greedy(student, r.view(), 3, ws);

    const std::set<int> distinct(y.begin(), y.end());
    // the front door on a column-major copy of the features: the same slate
    serving::reranker_options o;
    o.slate_length = 3;
    const serving::reranker ranker(serving::make_any_model(student), o);
    serving::session session(ranker);
    const Eigen::MatrixXf X = eigen::const_row_matrix_map(r.features.data(), r.n, r.f);
    eigen::request_buffer buf;
    int served[3] = {-1, -1, -1};
    session.rerank(buf.view(X), 7, served, 3);
    const bool ok = y.size() == 3 && distinct.size() == 3 && *distinct.begin() >= 0 && *distinct.rbegin() < r.n &&
                    decode::greedy(student, r.view(), 3, ws) == y && buf.copied() && slate(served, served + 3) == y;
    std::printf("dualrerank %s (find_package): slate %d %d %d: %s\n", DUALRERANK_VERSION_STRING, y[0], y[1], y[2],
                ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
