// Packing one or several requests into padded row-major buffers the models run on.
#pragma once

#include <algorithm>
#include <new>
#include <vector>

#include "../core/request.hpp"
#include "../core/workspace.hpp"
#include "config.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace detail {

/// B requests padded to n candidates each: x [B*n x F], ctx [B x Fc] (or null), rank [B*n] (or
/// null), len [B] = real candidate counts (null when every request has exactly n).
template <class T>
struct packed_batch {
    int B = 0, n = 0, F = 0, Fc = 0;
    const T* x = nullptr;
    const T* ctx = nullptr;
    const int* rank = nullptr;
    const int* len = nullptr;
    int count(int b) const noexcept { return len ? len[b] : n; }
};

/// Placement-construct an array of trivially destructible objects in a workspace.
template <class U>
U* ws_array(workspace& ws, std::size_t n) {
    U* p = ws.alloc<U>(n);
    for (std::size_t i = 0; i < n; ++i) new (p + i) U{};
    return p;
}

/// Pack requests (already validated) into the workspace. Ranks are included when `with_rank`.
template <class T>
packed_batch<T> pack(const model_config& c, const request_view<T>* reqs, int B, workspace& ws) {
    packed_batch<T> p;
    p.B = B;
    p.F = c.features;
    p.Fc = c.context;
    int n = 0;
    bool same = true;
    for (int b = 0; b < B; ++b) {
        n = std::max(n, reqs[b].n);
        if (b > 0 && reqs[b].n != reqs[0].n) same = false;
    }
    p.n = n;
    if (B == 1) {
        p.x = reqs[0].features;
        p.ctx = c.context > 0 ? reqs[0].context : nullptr;
        p.rank = c.rank_embedding ? reqs[0].upstream_rank : nullptr;
        return p;
    }
    T* x = ws.alloc<T>(std::size_t(B) * n * c.features);
    for (int b = 0; b < B; ++b) {
        const std::size_t m = std::size_t(reqs[b].n) * c.features;
        std::copy(reqs[b].features, reqs[b].features + m, x + std::size_t(b) * n * c.features);
        std::fill(x + std::size_t(b) * n * c.features + m, x + std::size_t(b + 1) * n * c.features, T(0));
    }
    p.x = x;
    if (c.context > 0) {
        T* ctx = ws.alloc<T>(std::size_t(B) * c.context);
        for (int b = 0; b < B; ++b) std::copy(reqs[b].context, reqs[b].context + c.context, ctx + std::size_t(b) * c.context);
        p.ctx = ctx;
    }
    if (c.rank_embedding) {
        int* r = ws.alloc<int>(std::size_t(B) * n);
        for (int b = 0; b < B; ++b) {
            std::copy(reqs[b].upstream_rank, reqs[b].upstream_rank + reqs[b].n, r + std::size_t(b) * n);
            std::fill(r + std::size_t(b) * n + reqs[b].n, r + std::size_t(b + 1) * n, 0);
        }
        p.rank = r;
    }
    if (!same) {
        int* len = ws.alloc<int>(B);
        for (int b = 0; b < B; ++b) len[b] = reqs[b].n;
        p.len = len;
    }
    return p;
}

}  // namespace detail

DUALRERANK_NAMESPACE_END
