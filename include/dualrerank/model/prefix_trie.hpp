// The prefix trie of K slates of one request: the shape Best-of-N's teacher scorer decodes
// (ar_teacher::score_slates, docs/best-of-n.md). Slates that agree on y_0..y_{t-1} have the same
// causal decoder state at position t, so each distinct prefix is one decoder row.
//
// Level t holds the distinct prefixes y_0..y_{t-1} (level 0: the empty prefix, one row, the BOS
// position); rows are numbered level by level, so a row's ancestors always come before it. Within
// a level, the rows of one parent appear in the order their items first occur among the slates
// (after grouping the slates by their parent row with a stable counting sort).
#pragma once

#include <algorithm>
#include <cstddef>

#include "../core/workspace.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace detail {

struct prefix_trie {
    int K = 0, L = 0, rows = 0;
    const int* slates = nullptr;  ///< [K x L], as given to build (not copied)
    int* node = nullptr;          ///< [L x K]: node[t*K + k] = slate k's row at level t
    int* off = nullptr;           ///< [L + 1]: level t = rows off[t] .. off[t+1]-1
    int* depth = nullptr;         ///< [rows]: a row's level (its prefix length)
    int* rep = nullptr;           ///< [rows]: a slate through the row
    int* anc = nullptr;           ///< [rows x L]: anc[g*L + i] = ancestor at level i, i <= depth[g] (itself last)

    /// Slate k's row at level t (its prefix y_0..y_{t-1}).
    int row(int k, int t) const noexcept { return node[std::size_t(t) * K + k]; }
    /// Row g's path from the root: depth[g] + 1 rows (a causal self-attention's keys).
    const int* path(int g) const noexcept { return anc + std::size_t(g) * L; }
    /// Row g's prefix items y_0..y_{depth[g]-1}.
    const int* prefix(int g) const noexcept { return slates + std::size_t(rep[g]) * L; }
    /// The item that leads into row g (y_{depth[g]-1}); -1 for the root.
    int last(int g) const noexcept { return depth[g] == 0 ? -1 : prefix(g)[depth[g] - 1]; }

    /// Merge K slates [K x L] (rows of distinct items in [0, n), validated by the caller; K, L >=
    /// 1) into a trie. Every buffer comes from ws: (3 K L + K L^2 + 2 K + L + n + 2) ints (plus
    /// alignment). O(K L^2) time (the ancestor table), no other allocation.
    static prefix_trie build(const int* slates, int K, int L, int n, workspace& ws) {
        prefix_trie tr;
        tr.K = K;
        tr.L = L;
        tr.slates = slates;
        const std::size_t LK = std::size_t(L) * K;
        tr.node = ws.alloc<int>(LK);
        tr.off = ws.alloc<int>(std::size_t(L) + 1);
        tr.depth = ws.alloc<int>(LK);
        tr.rep = ws.alloc<int>(LK);
        tr.anc = ws.alloc<int>(LK * L);
        int* order = ws.alloc<int>(std::size_t(K));
        int* start = ws.alloc<int>(std::size_t(K) + 1);
        int* child = ws.alloc<int>(std::size_t(n));
        std::fill(child, child + n, -1);
        std::fill(tr.node, tr.node + K, 0);
        tr.off[0] = 0;
        tr.off[1] = 1;
        tr.depth[0] = 0;
        tr.rep[0] = 0;
        tr.anc[0] = 0;
        const auto y = [&](int k, int t) { return slates[std::size_t(k) * L + t]; };
        for (int t = 1; t < L; ++t) {
            // group the slates by their level t-1 row (counting sort), then give each distinct
            // (row, y_{t-1}) pair a new row; child[] maps item -> row within one group
            const int base = tr.off[t - 1], parents = tr.off[t] - base;
            const int* nd = tr.node + std::size_t(t - 1) * K;
            std::fill(start, start + parents + 1, 0);
            for (int k = 0; k < K; ++k) ++start[nd[k] - base + 1];
            for (int p = 0; p < parents; ++p) start[p + 1] += start[p];
            for (int k = 0; k < K; ++k) order[start[nd[k] - base]++] = k;  // start[p] now ends group p
            int g = tr.off[t], begin_g = 0;
            for (int p = 0; p < parents; ++p) {
                const int end_g = start[p];
                for (int i = begin_g; i < end_g; ++i) {
                    const int k = order[i], item = y(k, t - 1);
                    if (child[item] < 0) {
                        child[item] = g;
                        tr.depth[g] = t;
                        tr.rep[g] = k;
                        const int par = base + p;
                        std::copy(tr.anc + std::size_t(par) * L, tr.anc + std::size_t(par) * L + t, tr.anc + std::size_t(g) * L);
                        tr.anc[std::size_t(g) * L + t] = g;
                        ++g;
                    }
                    tr.node[std::size_t(t) * K + k] = child[item];
                }
                for (int i = begin_g; i < end_g; ++i) child[y(order[i], t - 1)] = -1;
                begin_g = end_g;
            }
            tr.off[t + 1] = g;
        }
        tr.rows = tr.off[L];
        return tr;
    }
};

}  // namespace detail
DUALRERANK_NAMESPACE_END
