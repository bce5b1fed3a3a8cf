// Files the examples exchange with the PyTorch side (python/dualrerank_ref/dataset.py reads and
// writes the same layouts), all safetensors:
//
// Request set (`format = dualrerank-requests`), as tests/data/golden/train_curve.fixture:
//   data.n I32 [R]                 candidates per request
//   data.features F32 [sum n, F]   candidate features, request after request
//   data.context F32 [R, Fc]       (only when Fc > 0)
//   data.upstream_rank I32 [sum n] (only when the requests carry upstream ranks)
//   data.targets I32 [R, L]        (optional) target slates
//   data.labels F32 [sum n]        (optional) graded relevance
//
// Model outputs (`format = dualrerank-outputs`): what one model produced on a request set:
//   outputs.n I32 [R]; outputs.slates I32 [R, L]; outputs.logits F32/F64 [sum L*n] (student: the
//   logits Z [L x n]; teacher: the teacher-forced Z on its own greedy slate, chosen items -inf).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <dualrerank/dualrerank.hpp>

namespace dataset_io {

using namespace dualrerank;

struct request_set {
    std::vector<request<float>> requests;
    std::vector<slate> targets;                ///< empty, or one per request
    std::vector<std::vector<float>> labels;    ///< empty, or one per request
    int L = 0;                                 ///< target length (0 when no targets)
    std::map<std::string, std::string> metadata;
};

inline void write_requests(const std::string& path, const request_set& s) {
    if (s.requests.empty()) throw input_error("write_requests: no requests");
    const int F = s.requests[0].f;
    const std::size_t Fc = s.requests[0].context.size();
    const bool ranks = !s.requests[0].upstream_rank.empty();
    std::vector<std::int32_t> n, rank, targets;
    std::vector<float> feats, ctx, labels;
    for (std::size_t i = 0; i < s.requests.size(); ++i) {
        const request<float>& r = s.requests[i];
        if (r.f != F || r.context.size() != Fc || r.upstream_rank.empty() == ranks)
            throw input_error("write_requests: request " + std::to_string(i) + " differs in shape from the first");
        n.push_back(r.n);
        feats.insert(feats.end(), r.features.begin(), r.features.end());
        ctx.insert(ctx.end(), r.context.begin(), r.context.end());
        rank.insert(rank.end(), r.upstream_rank.begin(), r.upstream_rank.end());
        if (!s.targets.empty()) {
            if (int(s.targets[i].size()) != s.L) throw input_error("write_requests: target of the wrong length");
            targets.insert(targets.end(), s.targets[i].begin(), s.targets[i].end());
        }
        if (!s.labels.empty()) labels.insert(labels.end(), s.labels[i].begin(), s.labels[i].end());
    }
    const std::size_t R = n.size(), total = feats.size() / std::size_t(F);
    std::vector<io::tensor_write> t;
    t.push_back({"data.n", io::dtype::i32, {R}, n.data()});
    t.push_back({"data.features", io::dtype::f32, {total, std::size_t(F)}, feats.data()});
    if (Fc > 0) t.push_back({"data.context", io::dtype::f32, {R, Fc}, ctx.data()});
    if (ranks) t.push_back({"data.upstream_rank", io::dtype::i32, {total}, rank.data()});
    if (!s.targets.empty()) t.push_back({"data.targets", io::dtype::i32, {R, std::size_t(s.L)}, targets.data()});
    if (!s.labels.empty()) t.push_back({"data.labels", io::dtype::f32, {total}, labels.data()});
    std::map<std::string, std::string> meta = s.metadata;
    meta["format"] = "dualrerank-requests";
    io::write_safetensors_file(path, t, meta);
}

inline request_set read_requests(const std::string& path) {
    const io::safetensors_file f = io::safetensors_file::from_file(path);
    auto fmt = f.metadata().find("format");
    if (fmt == f.metadata().end() || fmt->second != "dualrerank-requests")
        throw format_error(path + ": not a dualrerank-requests file");
    const io::tensor_info& tn = f.at("data.n");
    if (tn.shape.size() != 1) throw format_error(path + ": data.n must be 1-D");
    const std::size_t R = tn.shape[0];
    std::vector<std::int32_t> n(R);
    f.read("data.n", {R}, n.data());
    std::size_t total = 0;
    for (std::int32_t x : n) {
        if (x < 1 || x > 65536) throw format_error(path + ": data.n holds " + std::to_string(x));
        total += std::size_t(x);
    }
    const io::tensor_info& tf = f.at("data.features");
    if (tf.shape.size() != 2 || tf.shape[0] != total) throw format_error(path + ": data.features must be [sum n, F]");
    const std::size_t F = tf.shape[1];
    std::vector<float> feats(total * F);
    f.read("data.features", {total, F}, feats.data());
    std::size_t Fc = 0;
    std::vector<float> ctx;
    if (const io::tensor_info* tc = f.find("data.context")) {
        if (tc->shape.size() != 2 || tc->shape[0] != R) throw format_error(path + ": data.context must be [R, Fc]");
        Fc = tc->shape[1];
        ctx.resize(R * Fc);
        f.read("data.context", {R, Fc}, ctx.data());
    }
    std::vector<std::int32_t> rank;
    if (f.find("data.upstream_rank")) {
        rank.resize(total);
        f.read("data.upstream_rank", {total}, rank.data());
    }
    request_set s;
    std::vector<std::int32_t> targets;
    if (const io::tensor_info* tt = f.find("data.targets")) {
        if (tt->shape.size() != 2 || tt->shape[0] != R) throw format_error(path + ": data.targets must be [R, L]");
        s.L = int(tt->shape[1]);
        targets.resize(R * std::size_t(s.L));
        f.read("data.targets", {R, std::size_t(s.L)}, targets.data());
    }
    std::vector<float> labels;
    if (f.find("data.labels")) {
        labels.resize(total);
        f.read("data.labels", {total}, labels.data());
    }
    std::size_t off = 0;
    for (std::size_t i = 0; i < R; ++i) {
        request<float> r;
        r.n = n[i];
        r.f = int(F);
        r.features.assign(feats.begin() + std::ptrdiff_t(off * F), feats.begin() + std::ptrdiff_t((off + n[i]) * F));
        if (Fc) r.context.assign(ctx.begin() + std::ptrdiff_t(i * Fc), ctx.begin() + std::ptrdiff_t((i + 1) * Fc));
        if (!rank.empty()) r.upstream_rank.assign(rank.begin() + std::ptrdiff_t(off), rank.begin() + std::ptrdiff_t(off + n[i]));
        if (!targets.empty()) {
            slate y(targets.begin() + std::ptrdiff_t(i * s.L), targets.begin() + std::ptrdiff_t((i + 1) * s.L));
            for (int v : y)
                if (v < 0 || v >= r.n) throw format_error(path + ": data.targets of request " + std::to_string(i) + " out of range");
            s.targets.push_back(std::move(y));
        }
        if (!labels.empty()) s.labels.emplace_back(labels.begin() + std::ptrdiff_t(off), labels.begin() + std::ptrdiff_t(off + n[i]));
        s.requests.push_back(std::move(r));
        off += std::size_t(n[i]);
    }
    s.metadata = f.metadata();
    return s;
}

/// A LETOR file as a request set (labels kept; no targets, no context, no upstream ranks).
/// `width` pins the feature width (0: the file's own).
inline request_set read_letor_requests(const std::string& path, int width = 0) {
    letor_options opt;
    opt.feature_width = width;
    const letor_dataset d = read_letor_file(path, opt);
    request_set s;
    for (letor_query& q : to_requests(d, width)) {
        s.requests.push_back(std::move(q.candidates));
        s.labels.push_back(std::move(q.relevance));
    }
    return s;
}

/// Targets from graded labels: the top L candidates by label, ties in file order (stable).
inline slate top_by_label(const std::vector<float>& labels, int L) {
    return train::top_by_score(labels.data(), int(labels.size()), L);
}

/// What a model produced on a request set (the comparison file).
struct outputs {
    std::string kind;  ///< ar_teacher / nar_student
    int L = 0;
    std::vector<std::int32_t> n;
    std::vector<std::int32_t> slates;  ///< [R x L]
    std::vector<float> logits;         ///< [sum L*n]
};

/// Greedy slates and logits of a student or teacher on every request (the C++ side of the
/// PyTorch comparison).
template <class Model>
outputs run_model(const Model& m, const std::vector<request<float>>& reqs, int L) {
    outputs o;
    o.kind = to_string(Model::kind);
    o.L = L;
    workspace ws;
    for (const request<float>& r : reqs) {
        const auto v = r.view();
        slate y;
        std::vector<float> Z(std::size_t(L) * std::size_t(r.n));
        if constexpr (Model::kind == model_kind::student) {
            m.logits(v, L, Z.data(), ws);
            y = decode::greedy(m, v, L, ws);
        } else {
            y = decode::teacher_greedy(m, v, L, ws);
            ws.reset();
            auto c = m.forward(&v, 1, L, y.data(), ws);
            std::copy(c.Z, c.Z + Z.size(), Z.begin());
        }
        o.n.push_back(r.n);
        o.slates.insert(o.slates.end(), y.begin(), y.end());
        o.logits.insert(o.logits.end(), Z.begin(), Z.end());
    }
    return o;
}

inline void write_outputs(const std::string& path, const outputs& o, std::map<std::string, std::string> meta = {}) {
    const std::size_t R = o.n.size();
    std::vector<io::tensor_write> t;
    t.push_back({"outputs.n", io::dtype::i32, {R}, o.n.data()});
    t.push_back({"outputs.slates", io::dtype::i32, {R, std::size_t(o.L)}, o.slates.data()});
    t.push_back({"outputs.logits", io::dtype::f32, {o.logits.size()}, o.logits.data()});
    meta["format"] = "dualrerank-outputs";
    meta["kind"] = o.kind;
    meta["L"] = std::to_string(o.L);
    meta["producer"] = "c++";
    io::write_safetensors_file(path, t, meta);
}

}  // namespace dataset_io
