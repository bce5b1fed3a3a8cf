// Non-owning views of one request (and of a batch) as the models consume them.
#pragma once

#include <cstddef>
#include <vector>

#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// One request: N candidates with F features each (row-major), optional context features and
/// optional upstream ranks (0 = ranked first by the upstream ranker).
template <class T>
struct request_view {
    const T* features = nullptr;  ///< [n x f], row-major
    int n = 0;                    ///< number of candidates
    int f = 0;                    ///< features per candidate
    const T* context = nullptr;   ///< [fc], may be null when the model has no context input
    int fc = 0;
    const int* upstream_rank = nullptr;  ///< [n], may be null
};

/// An owning request, convenient for tests, examples and the simulator.
template <class T>
struct request {
    int n = 0, f = 0;
    std::vector<T> features;  ///< [n x f]
    std::vector<T> context;   ///< [fc]
    std::vector<int> upstream_rank;

    request_view<T> view() const noexcept {
        request_view<T> v;
        v.features = features.data();
        v.n = n;
        v.f = f;
        v.context = context.empty() ? nullptr : context.data();
        v.fc = static_cast<int>(context.size());
        v.upstream_rank = upstream_rank.empty() ? nullptr : upstream_rank.data();
        return v;
    }
};

/// A slate: L distinct candidate indices, best slot first.
using slate = std::vector<int>;

DUALRERANK_NAMESPACE_END
