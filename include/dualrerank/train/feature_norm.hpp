// Feature standardization learned from a training set and stored in the model itself.
//
// fit_feature_norm computes each feature's mean and standard deviation over every candidate of
// the training requests (a feature whose deviation is below 1e-6 keeps scale 1: it carries no
// signal and would blow up). Training runs on standardized copies of the requests
// (apply_feature_norm). Before the model is saved, fold_feature_norm rewrites the candidate
// encoder's input layer so the model takes raw features and standardizes them itself:
//   ((x - mu) / sigma) W^T + b  =  x (W / sigma)^T + (b - (mu / sigma) W^T),
// exact up to rounding. So every route that loads the model file (rerank, eval, serve, the
// single header, Python) applies the normalization with no code and no cost of its own, the way
// RankLib's -norm is part of its saved model; the statistics go into the file's metadata
// (feature_norm_to_json) as a record. Folding needs a model without context features (the
// multiplicative user-item term would need a shift of its own): input_error otherwise.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"
#include "../io/json.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

struct feature_norm {
    std::vector<double> mean, scale;  ///< per feature; x' = (x - mean) / scale
    bool empty() const noexcept { return mean.empty(); }
};

/// Per-feature mean and standard deviation over all candidates of `reqs` (all of width F).
template <class T>
feature_norm fit_feature_norm(const std::vector<request<T>>& reqs) {
    if (reqs.empty()) dualrerank::detail::throw_input("fit_feature_norm: no requests");
    const int F = reqs[0].f;
    feature_norm s;
    s.mean.assign(std::size_t(F), 0.0);
    s.scale.assign(std::size_t(F), 0.0);
    double count = 0;
    for (const auto& r : reqs) {
        if (r.f != F) dualrerank::detail::throw_input("fit_feature_norm: requests of different feature widths");
        for (int i = 0; i < r.n; ++i)
            for (int f = 0; f < F; ++f) s.mean[f] += double(r.features[std::size_t(i) * F + f]);
        count += r.n;
    }
    for (auto& m : s.mean) m /= count;
    for (const auto& r : reqs)
        for (int i = 0; i < r.n; ++i)
            for (int f = 0; f < F; ++f) {
                const double d = double(r.features[std::size_t(i) * F + f]) - s.mean[f];
                s.scale[f] += d * d;
            }
    for (auto& v : s.scale) {
        v = std::sqrt(v / count);
        if (!(v >= 1e-6)) v = 1.0;
    }
    return s;
}

/// Standardize a request's features in place.
template <class T>
void apply_feature_norm(const feature_norm& s, request<T>& r) {
    if (s.empty()) return;
    if (r.f != int(s.mean.size()))
        dualrerank::detail::throw_input("apply_feature_norm: " + std::to_string(r.f) + " features, the statistics have " +
                                        std::to_string(s.mean.size()));
    for (int i = 0; i < r.n; ++i)
        for (int f = 0; f < r.f; ++f) {
            T& x = r.features[std::size_t(i) * r.f + f];
            x = T((double(x) - s.mean[f]) / s.scale[f]);
        }
}

/// Rewrite the model's encoder input layer (encoder.input.{weight,bias}) so it standardizes raw
/// features itself (see the header comment). The model must take no context features.
template <class Model>
void fold_feature_norm(Model& m, const feature_norm& s) {
    using T = typename Model::value_type;
    if (s.empty()) return;
    const int F = m.config().features, d = m.config().d;
    if (m.config().context > 0)
        dualrerank::detail::throw_input("fold_feature_norm: the model takes context features (cannot fold a shift into "
                                        "the user-item term)");
    if (int(s.mean.size()) != F)
        dualrerank::detail::throw_input("fold_feature_norm: statistics for " + std::to_string(s.mean.size()) +
                                        " features, the model takes " + std::to_string(F));
    const auto* w = m.table().find("encoder.input.weight");
    const auto* b = m.table().find("encoder.input.bias");
    if (!w || !b) dualrerank::detail::throw_input("fold_feature_norm: the model has no encoder.input layer");
    T* W = m.params() + w->offset;  // [d x F]
    T* bias = m.params() + b->offset;
    for (int o = 0; o < d; ++o) {
        double shift = 0;
        for (int f = 0; f < F; ++f) {
            const double wf = double(W[std::size_t(o) * F + f]) / s.scale[f];
            W[std::size_t(o) * F + f] = T(wf);
            shift += wf * s.mean[f];
        }
        bias[o] = T(double(bias[o]) - shift);
    }
}

/// {"method": "zscore", "folded_into": "encoder.input", "mean": [...], "scale": [...]}.
inline io::json feature_norm_to_json(const feature_norm& s) {
    io::json j = io::json::object();
    j["method"] = "zscore";
    j["folded_into"] = "encoder.input";
    io::json mu = io::json::array(), sc = io::json::array();
    for (double v : s.mean) mu.push_back(v);
    for (double v : s.scale) sc.push_back(v);
    j["mean"] = std::move(mu);
    j["scale"] = std::move(sc);
    return j;
}

}  // namespace train
DUALRERANK_NAMESPACE_END
