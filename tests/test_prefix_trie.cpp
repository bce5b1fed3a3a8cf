// The prefix trie of Best-of-N's teacher scorer (model/prefix_trie.hpp): a hand-checked example,
// the edge shapes, and on random slates with shared prefixes the invariants the tree attention
// relies on (one row per distinct prefix, paths root first, ancestors before descendants).
#include <map>
#include <set>
#include <vector>

#include "test_util.hpp"

using namespace dualrerank;
using dualrerank::detail::prefix_trie;

namespace {
// Every invariant of a trie built from slates [K x L] over n items; returns the number of rows.
int check_trie(const std::vector<int>& slates, int K, int L, const prefix_trie& tr) {
    REQUIRE(tr.K == K);
    REQUIRE(tr.L == L);
    REQUIRE(tr.off[0] == 0);
    REQUIRE(tr.off[1] == 1);
    REQUIRE(tr.off[L] == tr.rows);
    // one row per distinct prefix, and the same prefix always maps to the same row
    std::map<std::vector<int>, int> row_of;
    for (int t = 0; t < L; ++t) {
        std::set<std::vector<int>> level;
        for (int k = 0; k < K; ++k) {
            const std::vector<int> pre(slates.begin() + std::ptrdiff_t(k) * L, slates.begin() + std::ptrdiff_t(k) * L + t);
            level.insert(pre);
            const int g = tr.row(k, t);
            REQUIRE(g >= tr.off[t]);
            REQUIRE(g < tr.off[t + 1]);
            auto it = row_of.find(pre);
            if (it == row_of.end())
                row_of.emplace(pre, g);
            else
                CHECK(it->second == g);
        }
        CHECK(tr.off[t + 1] - tr.off[t] == int(level.size()));
    }
    CHECK(int(row_of.size()) == tr.rows);
    // each row: its depth, a slate through it, its prefix, its last item and its path
    for (const auto& [pre, g] : row_of) {
        const int t = int(pre.size());
        CHECK(tr.depth[g] == t);
        CHECK(tr.row(tr.rep[g], t) == g);
        CHECK(std::equal(pre.begin(), pre.end(), tr.prefix(g)));
        CHECK(tr.last(g) == (t == 0 ? -1 : pre.back()));
        const int* path = tr.path(g);
        CHECK(path[t] == g);
        for (int i = 0; i < t; ++i) {
            CHECK(path[i] == tr.row(tr.rep[g], i));
            CHECK(path[i] < g);  // ancestors come first: rows are numbered level by level
        }
    }
    return tr.rows;
}
}  // namespace

TEST_CASE("prefix trie: a hand-checked example", "[inference][prefix_trie]") {
    // slates 0..2 share y_0 = 0, slates 0 and 1 share y_0 y_1 = 0 1; slate 3 starts with 4
    const std::vector<int> y = {0, 1, 2,  //
                                0, 1, 3,  //
                                0, 2, 1,  //
                                4, 0, 1};
    workspace ws;
    const prefix_trie tr = prefix_trie::build(y.data(), 4, 3, 5, ws);
    REQUIRE(tr.rows == 6);  // {}, {0}, {4}, {0 1}, {0 2}, {4 0}
    CHECK(std::vector<int>(tr.off, tr.off + 4) == std::vector<int>{0, 1, 3, 6});
    CHECK(std::vector<int>(tr.node, tr.node + 12) == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 2, 3, 3, 4, 5});
    CHECK(std::vector<int>(tr.depth, tr.depth + 6) == std::vector<int>{0, 1, 1, 2, 2, 2});
    CHECK(tr.last(0) == -1);
    CHECK(tr.last(2) == 4);
    CHECK(tr.last(4) == 2);
    CHECK(tr.last(5) == 0);
    CHECK(std::vector<int>(tr.path(5), tr.path(5) + 3) == std::vector<int>{0, 2, 5});
    CHECK(std::vector<int>(tr.path(4), tr.path(4) + 3) == std::vector<int>{0, 1, 4});
    check_trie(y, 4, 3, tr);
}

TEST_CASE("prefix trie: edge shapes", "[inference][prefix_trie]") {
    workspace ws;
    SECTION("L = 1: only the root") {
        const std::vector<int> y = {3, 1, 3};
        const prefix_trie tr = prefix_trie::build(y.data(), 3, 1, 4, ws);
        CHECK(tr.rows == 1);
        CHECK(check_trie(y, 3, 1, tr) == 1);
    }
    SECTION("K = 1: a chain of L rows") {
        const std::vector<int> y = {2, 0, 3, 1};
        const prefix_trie tr = prefix_trie::build(y.data(), 1, 4, 4, ws);
        CHECK(tr.rows == 4);
        check_trie(y, 1, 4, tr);
    }
    SECTION("identical slates share every row") {
        const std::vector<int> y = {1, 2, 0, 1, 2, 0, 1, 2, 0};
        const prefix_trie tr = prefix_trie::build(y.data(), 3, 3, 3, ws);
        CHECK(tr.rows == 3);
        check_trie(y, 3, 3, tr);
    }
    SECTION("no shared first item: K (L - 1) + 1 rows") {
        const std::vector<int> y = {0, 1, 2, 1, 2, 0, 2, 0, 1};
        const prefix_trie tr = prefix_trie::build(y.data(), 3, 3, 3, ws);
        CHECK(tr.rows == 7);
        check_trie(y, 3, 3, tr);
    }
}

TEST_CASE("prefix trie: random slates with shared prefixes", "[inference][prefix_trie]") {
    rng g(2024);
    workspace ws;
    for (int rep = 0; rep < 60; ++rep) {
        const int n = 3 + int(g.below(10));
        const int L = 1 + int(g.below(std::uint64_t(n)));
        const int K = 1 + int(g.below(24));
        // slates drawn so that prefixes repeat: each slate copies a random earlier slate's first
        // m items and fills the rest with a random permutation of the unused items
        std::vector<int> y(std::size_t(K) * L);
        for (int k = 0; k < K; ++k) {
            std::vector<int> perm(n);
            for (int i = 0; i < n; ++i) perm[i] = i;
            for (int i = n - 1; i > 0; --i) std::swap(perm[i], perm[g.below(std::uint64_t(i + 1))]);
            int m = 0;
            if (k > 0) {
                const int src = int(g.below(std::uint64_t(k)));
                m = int(g.below(std::uint64_t(L + 1)));
                for (int i = 0; i < m; ++i) y[std::size_t(k) * L + i] = y[std::size_t(src) * L + i];
            }
            std::set<int> used(y.begin() + std::ptrdiff_t(k) * L, y.begin() + std::ptrdiff_t(k) * L + m);
            int t = m;
            for (int v : perm)
                if (t < L && !used.count(v)) y[std::size_t(k) * L + t++] = v;
        }
        ws.reset();
        const prefix_trie tr = prefix_trie::build(y.data(), K, L, n, ws);
        const int rows = check_trie(y, K, L, tr);
        CHECK(rows <= K * (L - 1) + 1);
    }
}
