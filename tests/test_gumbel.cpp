// The Gumbel-Max slate sampler (decode/gumbel.hpp): distribution, exactness of the SIMD path against
// the scalar reference, log-probabilities, temperature limits, the counter layout, and errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "catch.hpp"

// GCC 12: false -W(maybe-)uninitialized in the AVX-512 intrinsics when xsimd lanes are used directly.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

using namespace dualrerank;
namespace dd = dualrerank::decode::detail;

namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();

/// Upper critical value of chi-square with df degrees of freedom at p = 1e-4 (Wilson-Hilferty).
double chi2_critical_1e4(int df) {
    const double z = 3.719016485;  // standard normal upper 1e-4 quantile
    const double a = 2.0 / (9.0 * df);
    return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

/// Exact probability of an ordered slate under the masked-softmax factorization (long double).
long double slate_prob(const std::vector<double>& Z, int N, int ldz, double tau, const std::vector<int>& y) {
    long double lp = 0.0L;
    std::vector<char> used(N, 0);
    for (std::size_t t = 0; t < y.size(); ++t) {
        const double* z = Z.data() + t * ldz;
        long double mx = -INFINITY;
        for (int i = 0; i < N; ++i)
            if (!used[i] && z[i] != -INFINITY) mx = std::max<long double>(mx, z[i] / tau);
        long double s = 0.0L;
        for (int i = 0; i < N; ++i)
            if (!used[i] && z[i] != -INFINITY) s += std::exp(static_cast<long double>(z[i]) / tau - mx);
        lp += static_cast<long double>(z[y[t]]) / tau - mx - std::log(s);
        used[y[t]] = 1;
    }
    return std::exp(lp);
}

long double slate_log_prob_ref(const float* Z, int N, std::ptrdiff_t ldz, double tau, const int* y, int L) {
    long double lp = 0.0L;
    std::vector<char> used(N, 0);
    for (int t = 0; t < L; ++t) {
        const float* z = Z + t * ldz;
        long double mx = -INFINITY;
        for (int i = 0; i < N; ++i)
            if (!used[i] && z[i] != neg_inf) mx = std::max<long double>(mx, z[i] / static_cast<long double>(tau));
        long double s = 0.0L;
        for (int i = 0; i < N; ++i)
            if (!used[i] && z[i] != neg_inf) s += std::exp(z[i] / static_cast<long double>(tau) - mx);
        lp += z[y[t]] / static_cast<long double>(tau) - mx - std::log(s);
        used[y[t]] = 1;
    }
    return lp;
}

/// All ordered L-subsets of {0..N-1}.
void ordered_subsets(int N, int L, std::vector<int>& cur, std::vector<std::vector<int>>& out) {
    if (static_cast<int>(cur.size()) == L) {
        out.push_back(cur);
        return;
    }
    for (int i = 0; i < N; ++i)
        if (std::find(cur.begin(), cur.end(), i) == cur.end()) {
            cur.push_back(i);
            ordered_subsets(N, L, cur, out);
            cur.pop_back();
        }
}

/// Chi-square of observed slate counts against probabilities (slates encoded base N).
double chi_square(const std::vector<int>& slates, int K, int L, int N, const std::vector<std::vector<int>>& cells,
                  const std::vector<double>& p) {
    std::map<long, long> count;
    for (int k = 0; k < K; ++k) {
        long code = 0;
        for (int t = 0; t < L; ++t) code = code * N + slates[k * L + t];
        ++count[code];
    }
    double chi = 0.0;
    for (std::size_t c = 0; c < cells.size(); ++c) {
        long code = 0;
        for (int t = 0; t < L; ++t) code = code * N + cells[c][t];
        const double e = p[c] * K;
        const double o = static_cast<double>(count.count(code) ? count[code] : 0);
        chi += (o - e) * (o - e) / e;
    }
    return chi;
}

std::vector<float> random_logits(std::size_t n, double sigma, std::uint64_t seed) {
    rng r(seed);
    std::vector<float> z(n);
    for (auto& v : z) v = static_cast<float>(r.normal(0.0, sigma));
    return z;
}

bool is_permutation_prefix(const int* y, int L, int N) {
    std::vector<char> seen(N, 0);
    for (int t = 0; t < L; ++t) {
        if (y[t] < 0 || y[t] >= N || seen[y[t]]) return false;
        seen[y[t]] = 1;
    }
    return true;
}

}  // namespace

TEST_CASE("gumbel noise: lanes equal the scalar and are accurate over all 2^23 uniforms", "[gumbel]") {
    using B = xsimd::batch<float>;
    using BU = xsimd::batch<std::uint32_t>;
    constexpr std::size_t W = B::size;
    alignas(64) std::uint32_t bits[W];
    alignas(64) float e_lane[W];
    alignas(64) float l_lane[W];
    double worst_e = 0.0, worst_log = 0.0, worst_bound = 0.0;
    std::size_t bad_q = 0;
    std::size_t mismatches = 0;
    for (std::uint32_t m0 = 0; m0 < (1u << 23); m0 += W) {
        for (std::size_t j = 0; j < W; ++j) bits[j] = ((m0 + static_cast<std::uint32_t>(j)) << 9) | 0x1ffu * (j & 1);
        const B e = dd::exp_noise_from_bits<B>(BU::load_aligned(bits));
        e.store_aligned(e_lane);
        dd::log_lanes(e).store_aligned(l_lane);
        for (std::size_t j = 0; j < W; ++j) {
            const float es = dd::exp_noise_from_bits<float>(bits[j]);
            const float ls = dd::log_lanes(es);
            if (std::memcmp(&es, &e_lane[j], sizeof es) != 0 || std::memcmp(&ls, &l_lane[j], sizeof ls) != 0)
                ++mismatches;
            const long double F = static_cast<long double>(((bits[j] >> 8) | 1u));
            const long double u = F / 16777216.0L;
            const long double et = -std::log(u);
            worst_e = std::max(worst_e, static_cast<double>(std::fabs((es - et) / et)));
            const long double lt = std::log(static_cast<long double>(es));
            worst_log = std::max(worst_log, static_cast<double>(std::fabs(ls - lt) / std::max(std::fabs(lt), 1e-30L)));
            // The filtered kernel's bound: q 2^-24 <= 1 - U <= E (1 + 2^-19) for the computed E,
            // with q = ~bits >> 8 from the complemented counter word.
            worst_bound = std::max(worst_bound, static_cast<double>((1.0L - u) / es));
            if (static_cast<long double>(static_cast<float>(~bits[j] >> 8)) / 16777216.0L > 1.0L - u) ++bad_q;
        }
    }
    CHECK(mismatches == 0);
    CHECK(worst_e < 2.5e-7);
    CHECK(worst_log < 2.5e-7);
    CHECK(worst_bound <= 1.0 + 0x1.0p-19);
    CHECK(bad_q == 0);
}

TEST_CASE("gumbel noise: counter hash lanes equal core counter_bits, uniforms in (0, 1)", "[gumbel]") {
    using BU = xsimd::batch<std::uint32_t>;
    constexpr std::size_t W = BU::size;
    alignas(64) std::uint32_t c[W];
    alignas(64) std::uint32_t out[W];
    for (std::uint64_t seed : {0ULL, 1ULL, 0xdeadbeefULL}) {
        const counter_key key = counter_key::from_seed(seed);
        for (std::uint32_t base : {0u, 12345u, 0xfffffff0u}) {
            for (std::size_t j = 0; j < W; ++j) c[j] = base + static_cast<std::uint32_t>(j * 977);
            dd::counter_bits_lanes(BU::load_aligned(c), key.k0, key.k1).store_aligned(out);
            for (std::size_t j = 0; j < W; ++j) REQUIRE(out[j] == counter_bits(key, c[j]));
            dd::counter_bits_not_lanes(BU::load_aligned(c), key.k0, key.k1).store_aligned(out);
            for (std::size_t j = 0; j < W; ++j) REQUIRE(out[j] == ~counter_bits(key, c[j]));
        }
    }
    const counter_key key = counter_key::from_seed(7);
    for (std::uint32_t i = 0; i < 100000; ++i) {
        const float u = decode::gumbel_uniform(key, i);
        REQUIRE(u > 0.0f);
        REQUIRE(u < 1.0f);
        REQUIRE(u == static_cast<float>(((counter_bits(key, i) >> 9) + 0.5) * 0x1.0p-23));
    }
}

TEST_CASE("gumbel: one logit row gives Plackett-Luce slate frequencies (chi-square)", "[gumbel]") {
    struct scenario {
        int N, L;
        double tau;
        std::vector<float> z;
    };
    const std::vector<scenario> cases = {{4, 4, 1.0, {1.0f, 0.2f, -0.5f, 0.7f}},
                                         {5, 3, 0.8, {0.3f, -1.0f, 1.2f, 0.0f, 0.5f}}};
    workspace ws;
    for (const auto& sc : cases) {
        const int K = 200000;
        std::vector<int> slates(static_cast<std::size_t>(K) * sc.L);
        decode::sample_slates(sc.z.data(), sc.L, sc.N, 0, sc.tau, counter_key::from_seed(2024), 0u, K, slates.data(),
                              static_cast<float*>(nullptr), ws);
        ws.reset();
        std::vector<std::vector<int>> cells;
        std::vector<int> cur;
        ordered_subsets(sc.N, sc.L, cur, cells);
        std::vector<double> zd(sc.z.begin(), sc.z.end());
        std::vector<double> zrows;
        for (int t = 0; t < sc.L; ++t) zrows.insert(zrows.end(), zd.begin(), zd.end());
        std::vector<double> p, p_wrong_tau, p_uniform(cells.size(), 1.0 / cells.size());
        double total = 0.0;
        for (auto& y : cells) {
            p.push_back(static_cast<double>(slate_prob(zrows, sc.N, sc.N, sc.tau, y)));
            p_wrong_tau.push_back(static_cast<double>(slate_prob(zrows, sc.N, sc.N, sc.tau * 1.5, y)));
            total += p.back();
        }
        REQUIRE(std::fabs(total - 1.0) < 1e-9);
        const int df = static_cast<int>(cells.size()) - 1;
        const double crit = chi2_critical_1e4(df);
        const double chi = chi_square(slates, K, sc.L, sc.N, cells, p);
        INFO("N = " << sc.N << ", L = " << sc.L << ", chi2 = " << chi << ", critical(1e-4) = " << crit);
        CHECK(chi < crit);
        // The test has power: a uniform model and a model at the wrong temperature are rejected.
        CHECK(chi_square(slates, K, sc.L, sc.N, cells, p_uniform) > 10 * crit);
        CHECK(chi_square(slates, K, sc.L, sc.N, cells, p_wrong_tau) > crit);
    }
}

TEST_CASE("gumbel: per-slot marginals of a general Z match the exact slot-order factorization", "[gumbel]") {
    const int N = 50, L = 10, K = 100000;
    const double tau = 0.7;
    const std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, 1.0, 99);
    std::vector<int> slates(static_cast<std::size_t>(K) * L);
    workspace ws;
    decode::sample_slates(Z.data(), L, N, N, tau, counter_key::from_seed(5), 1000u, K, slates.data(),
                          static_cast<float*>(nullptr), ws);
    // Exact marginals of slots 0, 1, 2 (O(N^3)).
    std::vector<std::vector<double>> e(3, std::vector<double>(N));
    std::vector<double> tot(3, 0.0);
    for (int t = 0; t < 3; ++t)
        for (int i = 0; i < N; ++i) {
            e[t][i] = std::exp(Z[t * N + i] / tau);
            tot[t] += e[t][i];
        }
    std::vector<std::vector<double>> marg(3, std::vector<double>(N, 0.0));
    for (int a = 0; a < N; ++a) {
        const double pa = e[0][a] / tot[0];
        marg[0][a] += pa;
        for (int b = 0; b < N; ++b) {
            if (b == a) continue;
            const double pb = pa * e[1][b] / (tot[1] - e[1][a]);
            marg[1][b] += pb;
            const double rest = tot[2] - e[2][a] - e[2][b];
            for (int c = 0; c < N; ++c)
                if (c != a && c != b) marg[2][c] += pb * e[2][c] / rest;
        }
    }
    for (int t = 0; t < 3; ++t) {
        std::vector<int> count(N, 0);
        for (int k = 0; k < K; ++k) ++count[slates[static_cast<std::size_t>(k) * L + t]];
        for (int i = 0; i < N; ++i) {
            const double p = marg[t][i];
            const double f = static_cast<double>(count[i]) / K;
            INFO("slot " << t << " candidate " << i << ": p = " << p << ", frequency = " << f);
            CHECK(std::fabs(f - p) <= 5.0 * std::sqrt(p * (1.0 - p) / K) + 1e-4);
        }
    }
    for (int k = 0; k < K; ++k) REQUIRE(is_permutation_prefix(slates.data() + static_cast<std::size_t>(k) * L, L, N));
}

TEST_CASE("gumbel: SIMD and scalar give identical slates and log-probs", "[gumbel]") {
    workspace ws;
    int cases = 0;
    for (int N : {1, 2, 7, 13, 16, 17, 33, 100}) {
        for (int L : {1, 3, 10}) {
            if (L > N) continue;
            for (int K : {1, 3, 8, 17, 40}) {
                for (double tau : {1.0, 0.05, 5.0}) {
                    for (int variant = 0; variant < 3; ++variant) {  // 0 general Z, 1 shared row, 2 with -inf
                        const std::ptrdiff_t ldz = variant == 1 ? 0 : N;
                        std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, 1.5, 1000 + N * 31 + L);
                        if (variant == 2)
                            for (int t = 0; t < L; ++t)
                                for (int i = 0; i < N; ++i)
                                    if ((i * 7 + t) % 5 == 0 && i > t) Z[static_cast<std::size_t>(t) * N + i] = neg_inf;
                        const counter_key key = counter_key::from_seed(static_cast<std::uint64_t>(N * 1000 + K));
                        const std::uint32_t base = 0xfffff000u + static_cast<std::uint32_t>(L);
                        std::vector<int> ys(static_cast<std::size_t>(K) * L);
                        std::vector<float> lps(K);
                        decode::sample_slates_scalar(Z.data(), L, N, ldz, tau, key, base, K, ys.data(), lps.data(), ws);
                        ws.reset();
                        for (auto policy : {dd::lanes_kernel::automatic, dd::lanes_kernel::plain, dd::lanes_kernel::filtered}) {
                            std::vector<int> yv(static_cast<std::size_t>(K) * L, -1);
                            std::vector<float> lpv(K);
                            dd::sample_slates_impl<true>(Z.data(), L, N, ldz, tau, key, base, K, yv.data(), lpv.data(),
                                                         ws, "sample_slates", policy);
                            ws.reset();
                            INFO("N = " << N << ", L = " << L << ", K = " << K << ", tau = " << tau << ", variant = "
                                        << variant << ", policy = " << static_cast<int>(policy));
                            REQUIRE(yv == ys);
                            for (int k = 0; k < K; ++k) REQUIRE(std::fabs(lpv[k] - lps[k]) <= 1e-6f);
                            ++cases;
                        }
                        for (int k = 0; k < K; ++k) {
                            const int* y = ys.data() + static_cast<std::size_t>(k) * L;
                            REQUIRE(is_permutation_prefix(y, L, N));
                            for (int t = 0; t < L; ++t) REQUIRE(Z[t * ldz + y[t]] != neg_inf);
                        }
                    }
                }
            }
        }
    }
    CHECK(cases > 500);
    // double logits follow the same path
    const int N = 33, L = 5, K = 20;
    const std::vector<float> zf = random_logits(static_cast<std::size_t>(L) * N, 2.0, 3);
    const std::vector<double> zd(zf.begin(), zf.end());
    std::vector<int> a(K * L), b(K * L);
    std::vector<double> la(K), lb(K);
    decode::sample_slates(zd.data(), L, N, N, 0.9, counter_key::from_seed(1), 0u, K, a.data(), la.data(), ws);
    ws.reset();
    decode::sample_slates_scalar(zd.data(), L, N, N, 0.9, counter_key::from_seed(1), 0u, K, b.data(), lb.data(), ws);
    ws.reset();
    CHECK(a == b);
    CHECK(la == lb);
}

TEST_CASE("gumbel: filtered kernel equals the scalar reference on benchmark-sized calls", "[gumbel]") {
    // K = 64 slates of L = 10 over N = 100 (the benchmark's shape) from flat to very peaked rows,
    // per-slot rows and one shared row (peaked shared rows mask the likely winners early, so
    // lanes start rounds with no finite key), with and without -inf logits; the slates must not
    // depend on whether log-probs are requested.
    workspace ws;
    const int N = 100, L = 10, K = 64;
    int cases = 0;
    for (double sigma : {0.0, 0.5, 1.5, 3.0, 8.0}) {
        for (int variant = 0; variant < 3; ++variant) {  // 0 per-slot rows, 1 shared row, 2 with -inf
            const std::ptrdiff_t ldz = variant == 1 ? 0 : N;
            std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, sigma, 4242 + variant);
            if (variant == 2)
                for (std::size_t i = 0; i < Z.size(); i += 3) Z[i] = neg_inf;
            for (std::uint64_t seed : {1ULL, 2ULL, 3ULL}) {
                const counter_key key = counter_key::from_seed(seed);
                const std::uint32_t base = static_cast<std::uint32_t>(seed * 7919u);
                std::vector<int> ys(static_cast<std::size_t>(K) * L), yv(ys.size()), yn(ys.size());
                std::vector<float> lps(K), lpv(K);
                decode::sample_slates_scalar(Z.data(), L, N, ldz, 1.0, key, base, K, ys.data(), lps.data(), ws);
                ws.reset();
                dd::sample_slates_impl<true>(Z.data(), L, N, ldz, 1.0, key, base, K, yv.data(), lpv.data(), ws,
                                             "sample_slates", dd::lanes_kernel::filtered);
                ws.reset();
                decode::sample_slates(Z.data(), L, N, ldz, 1.0, key, base, K, yn.data(), static_cast<float*>(nullptr), ws);
                ws.reset();
                INFO("sigma = " << sigma << ", variant = " << variant << ", seed = " << seed);
                REQUIRE(yv == ys);
                REQUIRE(yn == ys);
                for (int k = 0; k < K; ++k) REQUIRE(std::fabs(lpv[k] - lps[k]) <= 1e-6f);
                ++cases;
            }
        }
    }
    CHECK(cases == 45);
}

TEST_CASE("gumbel_argmax: SIMD equals scalar for odd n, masks and double logits", "[gumbel]") {
    for (int n : {1, 7, 13, 33, 100}) {
        const std::vector<float> z = random_logits(static_cast<std::size_t>(n), 1.3, 17 + n);
        const std::vector<double> zd(z.begin(), z.end());
        std::vector<std::uint8_t> used(n, 0);
        for (int i = 0; i < n; i += 3) used[i] = (n > 1) ? 1 : 0;
        const counter_key key = counter_key::from_seed(static_cast<std::uint64_t>(n));
        for (std::uint32_t c = 0; c < 3000; c += 7) {
            for (float inv_tau : {1.0f, 0.3f, 20.0f}) {
                const int a = decode::gumbel_argmax(z.data(), n, used.data(), inv_tau, key, c * 977u);
                REQUIRE(a == decode::gumbel_argmax_scalar(z.data(), n, used.data(), inv_tau, key, c * 977u));
                REQUIRE(!used[a]);
                REQUIRE(decode::gumbel_argmax(zd.data(), n, used.data(), inv_tau, key, c * 977u) == a);
                const int b = decode::gumbel_argmax(z.data(), n, nullptr, inv_tau, key, c * 977u);
                REQUIRE(b == decode::gumbel_argmax_scalar(z.data(), n, nullptr, inv_tau, key, c * 977u));
            }
        }
    }
}

TEST_CASE("gumbel_argmax / gumbel_sample: distribution and log-probability of one step", "[gumbel]") {
    const std::vector<float> z = {0.5f, -0.2f, 1.1f, 0.0f, neg_inf, 0.8f, -1.0f};
    const std::vector<std::uint8_t> used = {0, 0, 1, 0, 0, 0, 0};
    const float inv_tau = 1.25f;
    const int n = static_cast<int>(z.size()), S = 200000;
    const counter_key key = counter_key::from_seed(31);
    std::vector<double> p(n, 0.0);
    double s = 0.0;
    for (int i = 0; i < n; ++i)
        if (!used[i] && z[i] != neg_inf) s += p[i] = std::exp(static_cast<double>(z[i]) * inv_tau);
    for (auto& v : p) v /= s;
    std::vector<int> count(n, 0);
    for (int k = 0; k < S; ++k) ++count[decode::gumbel_argmax(z.data(), n, used.data(), inv_tau, key, k * 7u)];
    double chi = 0.0;
    int cells = 0;
    for (int i = 0; i < n; ++i) {
        if (p[i] == 0.0) {
            CHECK(count[i] == 0);
            continue;
        }
        chi += (count[i] - S * p[i]) * (count[i] - S * p[i]) / (S * p[i]);
        ++cells;
    }
    CHECK(chi < chi2_critical_1e4(cells - 1));
    const decode::gumbel_pick pick = decode::gumbel_sample(z.data(), n, used.data(), inv_tau, key, 5u);
    CHECK(pick.index == decode::gumbel_argmax(z.data(), n, used.data(), inv_tau, key, 5u));
    CHECK_THAT(pick.log_prob, Catch::Matchers::WithinAbs(std::log(p[pick.index]), 1e-12));
}

TEST_CASE("gumbel: returned log-probs equal the masked log-softmax sum", "[gumbel]") {
    workspace ws;
    for (double tau : {1.0, 0.3, 0.02, 4.0}) {
        const int N = 40, L = 8, K = 50;
        std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, 2.0, 77);
        for (int t = 0; t < L; ++t) Z[static_cast<std::size_t>(t) * N + (t * 13 + 5) % N] = neg_inf;
        std::vector<int> y(K * L);
        std::vector<float> lp(K);
        std::vector<double> lpd(K);
        const std::vector<double> Zd(Z.begin(), Z.end());
        decode::sample_slates(Z.data(), L, N, N, tau, counter_key::from_seed(8), 0u, K, y.data(), lp.data(), ws);
        ws.reset();
        std::vector<int> yd(K * L);
        decode::sample_slates(Zd.data(), L, N, N, tau, counter_key::from_seed(8), 0u, K, yd.data(), lpd.data(), ws);
        ws.reset();
        REQUIRE(yd == y);
        for (int k = 0; k < K; ++k) {
            const long double ref = slate_log_prob_ref(Z.data(), N, N, tau, y.data() + k * L, L);
            INFO("tau = " << tau << ", slate " << k << ": " << lpd[k] << " vs " << static_cast<double>(ref));
            CHECK(std::fabs(lpd[k] - static_cast<double>(ref)) <= 1e-9 * (1.0 + std::fabs(static_cast<double>(ref))));
            CHECK(std::fabs(lp[k] - static_cast<double>(ref)) <= 1e-6 * (1.0 + std::fabs(static_cast<double>(ref))));
            CHECK(lpd[k] <= 0.0);
        }
    }
}

TEST_CASE("gumbel: temperature limits (tiny tau is greedy, huge tau is uniform)", "[gumbel]") {
    workspace ws;
    const int N = 12, L = 6, K = 40;
    // distinct logits, gaps >= 0.05, different per row
    std::vector<float> Z(static_cast<std::size_t>(L) * N);
    for (int t = 0; t < L; ++t)
        for (int i = 0; i < N; ++i) Z[static_cast<std::size_t>(t) * N + i] = 0.05f * static_cast<float>((i * 5 + t * 7) % N);
    std::vector<int> greedy(L);
    {
        std::vector<char> used(N, 0);
        for (int t = 0; t < L; ++t) {
            int best = -1;
            for (int i = 0; i < N; ++i)
                if (!used[i] && (best < 0 || Z[t * N + i] > Z[t * N + best])) best = i;
            greedy[t] = best;
            used[best] = 1;
        }
    }
    for (double tau : {1e-4, 1e-12, 1e-40}) {
        std::vector<int> y(K * L);
        std::vector<float> lp(K);
        decode::sample_slates(Z.data(), L, N, N, tau, counter_key::from_seed(3), 0u, K, y.data(), lp.data(), ws);
        ws.reset();
        std::vector<int> ys(K * L);
        decode::sample_slates_scalar(Z.data(), L, N, N, tau, counter_key::from_seed(3), 0u, K, ys.data(), static_cast<float*>(nullptr), ws);
        ws.reset();
        CHECK(ys == y);
        for (int k = 0; k < K; ++k) {
            for (int t = 0; t < L; ++t) REQUIRE(y[k * L + t] == greedy[t]);
            CHECK(lp[k] > -1e-6f);
        }
    }
    // huge tau: slot-0 and slot-1 frequencies near uniform
    const int S = 40000;
    std::vector<int> y(static_cast<std::size_t>(S) * L);
    decode::sample_slates(Z.data(), L, N, N, 1e4, counter_key::from_seed(4), 0u, S, y.data(), static_cast<float*>(nullptr), ws);
    ws.reset();
    for (int t = 0; t < 2; ++t) {
        std::vector<int> c(N, 0);
        for (int k = 0; k < S; ++k) ++c[y[static_cast<std::size_t>(k) * L + t]];
        double chi = 0.0;
        for (int i = 0; i < N; ++i) chi += (c[i] - S / double(N)) * (c[i] - S / double(N)) / (S / double(N));
        CHECK(chi < chi2_critical_1e4(N - 1));
    }
}

TEST_CASE("gumbel: reproducible from key and counter, documented counter layout", "[gumbel]") {
    workspace ws;
    const int N = 30, L = 5, K = 21;
    const std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, 1.0, 12);
    const counter_key key = counter_key::from_seed(77);
    auto run = [&](counter_key k, std::uint32_t base, int count) {
        std::vector<int> y(static_cast<std::size_t>(count) * L);
        decode::sample_slates(Z.data(), L, N, N, 1.0, k, base, count, y.data(), static_cast<float*>(nullptr), ws);
        ws.reset();
        return y;
    };
    const std::uint32_t base = 0xffffff00u;  // wraps around 2^32 inside the call
    const std::vector<int> a = run(key, base, K);
    CHECK(run(key, base, K) == a);
    CHECK(run(key, base + static_cast<std::uint32_t>(K * L * N), K) != a);
    CHECK(run(key, base + 1u, K) != a);
    CHECK(run(counter_key::from_seed(78), base, K) != a);
    // slate k of a call at `base` is slate 0 of a call at base + k L N (mod 2^32)
    for (int k = 0; k < K; ++k) {
        const std::vector<int> one = run(key, base + static_cast<std::uint32_t>(k * L * N), 1);
        REQUIRE(std::equal(one.begin(), one.end(), a.begin() + k * L));
    }
    // the thread-local overload gives the same slates
    std::vector<int> b(static_cast<std::size_t>(K) * L);
    decode::sample_slates(Z.data(), L, N, N, 1.0, key, base, K, b.data(), static_cast<float*>(nullptr));
    CHECK(b == a);
    // a step-by-step decoder with gumbel_argmax draws the same uniforms: slot t of slate k uses
    // counter_base + (k L + t) N + i; with well-separated keys it chooses the same items.
    for (int k = 0; k < K; ++k) {
        std::vector<std::uint8_t> used(N, 0);
        int agree = 0;
        for (int t = 0; t < L; ++t) {
            const int i = decode::gumbel_argmax(Z.data() + t * N, N, used.data(), 1.0f, key,
                                                decode::slot_counter(base, k, t, L, N));
            agree += (i == a[k * L + t]);
            used[a[k * L + t]] = 1;  // follow the batch sampler's slate
        }
        CHECK(agree == L);
    }
}

TEST_CASE("gumbel: no allocation after warm-up", "[gumbel]") {
    workspace ws;
    const int N = 100, L = 10, K = 64;
    const std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, 1.5, 1);
    std::vector<int> y(K * L);
    std::vector<float> lp(K);
    decode::sample_slates(Z.data(), L, N, N, 1.0, counter_key::from_seed(1), 0u, K, y.data(), lp.data(), ws);
    ws.reset();
    const std::size_t blocks = ws.block_allocations();
    for (int r = 0; r < 5; ++r) {
        decode::sample_slates(Z.data(), L, N, N, 1.0, counter_key::from_seed(1), r * 64000u, K, y.data(), lp.data(), ws);
        ws.reset();
    }
    CHECK(ws.block_allocations() == blocks);
}

TEST_CASE("gumbel: bad arguments are input_error, -inf logits are never chosen", "[gumbel]") {
    workspace ws;
    const int N = 6, L = 3;
    std::vector<float> Z = random_logits(static_cast<std::size_t>(L) * N, 1.0, 2);
    std::vector<int> y(100 * L);
    std::vector<float> lp(100);
    const counter_key key = counter_key::from_seed(1);
    auto call = [&](const float* z, int l, int n, std::ptrdiff_t ldz, double tau, int K) {
        ws.reset();
        decode::sample_slates(z, l, n, ldz, tau, key, 0u, K, y.data(), lp.data(), ws);
    };
    CHECK_NOTHROW(call(Z.data(), L, N, N, 1.0, 4));
    for (double tau : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity(), 1e-320})
        CHECK_THROWS_AS(call(Z.data(), L, N, N, tau, 4), input_error);
    CHECK_THROWS_AS(call(Z.data(), N + 1, N, N, 1.0, 4), input_error);  // L > N
    CHECK_THROWS_AS(call(Z.data(), 0, N, N, 1.0, 4), input_error);
    CHECK_THROWS_AS(call(Z.data(), L, 0, N, 1.0, 4), input_error);
    CHECK_THROWS_AS(call(Z.data(), L, N, N - 1, 1.0, 4), input_error);
    CHECK_THROWS_AS(call(Z.data(), L, N, N, 1.0, -1), input_error);
    CHECK_THROWS_AS(call(nullptr, L, N, N, 1.0, 4), input_error);
    {
        std::vector<float> bad = Z;
        bad[N + 2] = std::nanf("");
        CHECK_THROWS_AS(call(bad.data(), L, N, N, 1.0, 4), input_error);
        bad[N + 2] = std::numeric_limits<float>::infinity();
        CHECK_THROWS_AS(call(bad.data(), L, N, N, 1.0, 4), input_error);
    }
    {
        // row 2 has only 2 finite logits: slot 2 may find nothing left
        std::vector<float> bad = Z;
        for (int i = 2; i < N; ++i) bad[2 * N + i] = neg_inf;
        CHECK_THROWS_AS(call(bad.data(), L, N, N, 1.0, 4), input_error);
        bad[2 * N + 4] = 0.5f;  // 3 finite: fine
        CHECK_NOTHROW(call(bad.data(), L, N, N, 1.0, 4));
    }
    {
        // 2^32 counters per call at most
        std::vector<float> big(1000, 0.0f);
        std::vector<int> yy(1);
        ws.reset();
        CHECK_THROWS_AS(decode::sample_slates(big.data(), 1, 1000, 1000, 1.0, key, 0u, 4294968, yy.data(),
                                              static_cast<float*>(nullptr), ws),
                        input_error);
    }
    {
        // -inf logits are never chosen, whatever the temperature
        std::vector<float> z = {0.1f, neg_inf, -3.0f, neg_inf, 0.0f, -0.5f};
        const int K = 2000;
        std::vector<int> yy(K * 4);
        for (double tau : {0.01, 1.0, 100.0}) {
            ws.reset();
            decode::sample_slates(z.data(), 4, 6, 0, tau, key, 0u, K, yy.data(), static_cast<float*>(nullptr), ws);
            for (int v : yy) REQUIRE((v != 1 && v != 3));
        }
    }
    // the one-row primitive
    std::vector<std::uint8_t> all(N, 1);
    CHECK_THROWS_AS(decode::gumbel_argmax(Z.data(), N, all.data(), 1.0f, key, 0u), input_error);
    CHECK_THROWS_AS(decode::gumbel_argmax(Z.data(), 0, nullptr, 1.0f, key, 0u), input_error);
    CHECK_THROWS_AS(decode::gumbel_argmax(Z.data(), N, nullptr, 0.0f, key, 0u), input_error);
    CHECK_THROWS_AS(decode::gumbel_argmax(Z.data(), N, nullptr, std::nanf(""), key, 0u), input_error);
    std::vector<float> zn = Z;
    zn[3] = std::nanf("");
    CHECK_THROWS_AS(decode::gumbel_argmax(zn.data(), N, nullptr, 1.0f, key, 0u), input_error);
    std::vector<float> zi(N, neg_inf);
    CHECK_THROWS_AS(decode::gumbel_argmax(zi.data(), N, nullptr, 1.0f, key, 0u), input_error);
}
