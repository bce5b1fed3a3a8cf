// Evaluation metrics (docs/design.md section 8), in namespace dualrerank::eval.
//
// Ranking metrics (LightGBM / XGBoost conventions)
//   A ranking is either a list of candidate indices (a slate, best first; may be shorter than the
//   candidate list) or a score vector, turned into a ranking by `rank_by_score`: descending score,
//   ties broken by the lower candidate index (a stable sort, as LightGBM's and XGBoost's NDCG do).
//   k <= 0 means "all positions".
//   * DCG@k  = sum_{p < k} (2^rel_p - 1) / log2(p + 2)  (p = 0-based position)
//   * NDCG@k = DCG@k / IDCG@k, IDCG over *all* the query's labels sorted descending (so a slate that
//     misses a relevant candidate is penalized). A query with IDCG = 0 (no relevant document)
//     scores 1, as LightGBM and XGBoost's default do.
//   * MAP@k (LightGBM): relevant = label > 0.5; AP@k = sum_{p < k, relevant} hits(p) / (p + 1)
//     divided by min(R, k), R = relevant documents of the query; a query with R = 0 scores 1.
//     map_convention::xgboost divides by R instead (XGBoost's classic map@k).
// Utility
//   * normalized_utility(u, u_random, u_oracle) = (u - u_random) / (u_oracle - u_random).
// Distillation diagnostics (ours)
//   * ptar(a, b): share of slots t where a_t == b_t (equal-length slates).
//   * topk_overlap(a, b, k): |top-k(a) ∩ top-k(b)| / k', k' = min(k, |a|, |b|).
//   * kendall_tau(a, b): Kendall tau-a over the items the two slates have in common, comparing their
//     relative order: (concordant - discordant) / (m (m - 1) / 2), m = common items; 0 when m < 2
//     (no pair to compare). Set agreement is topk_overlap's job, order agreement this one's.
//   * collapse_rate(Z [L x N]): (L - #distinct per-slot argmaxes of the *un-masked* logits) / (L - 1),
//     ties in a row go to the lower index; 0 for L = 1. 1 = every slot picks the same item.
//   * entropy_gap: mean entropy (nats) of the teacher's step distributions vs mean entropy of the
//     student's slot distributions, and the teacher's mean top-1 probability (the
//     unimodal-concentration diagnostic). Rows are probability vectors (masked entries 0).
//   * spearman(x, y): Pearson correlation of average ranks (ties get the mean rank).
//   * scorer_rank_correlation: per request, Spearman between a slate scorer's scores of the K slates
//     and their true utilities; averaged over the requests where it is defined (K >= 2 and neither
//     side constant).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/request.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace eval {

// ---------------------------------------------------------------- ranking metrics

/// Candidate indices by descending score; ties go to the lower index (stable).
template <class T>
inline std::vector<int> rank_by_score(const std::vector<T>& scores) {
    std::vector<int> idx(scores.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    return idx;
}

namespace detail {

inline double gain(double rel) { return std::exp2(rel) - 1.0; }
inline double discount(std::size_t p) { return 1.0 / std::log2(static_cast<double>(p) + 2.0); }

template <class L>
inline void check_ranking(const std::vector<int>& ranking, const std::vector<L>& labels, const char* what) {
    std::vector<char> seen(labels.size(), 0);
    for (int i : ranking) {
        if (i < 0 || static_cast<std::size_t>(i) >= labels.size())
            dualrerank::detail::throw_input(std::string(what) + ": ranking holds index " + std::to_string(i) +
                                            " outside the " + std::to_string(labels.size()) + " labels");
        if (seen[i]) dualrerank::detail::throw_input(std::string(what) + ": ranking repeats index " + std::to_string(i));
        seen[i] = 1;
    }
}

inline std::size_t cutoff(int k, std::size_t n) { return k <= 0 ? n : std::min(n, static_cast<std::size_t>(k)); }

}  // namespace detail

/// DCG@k of a ranking (candidate indices, best first) given every candidate's label.
template <class L>
inline double dcg_at_k(const std::vector<int>& ranking, const std::vector<L>& labels, int k) {
    detail::check_ranking(ranking, labels, "dcg_at_k");
    const std::size_t kk = detail::cutoff(k, ranking.size());
    double dcg = 0.0;
    for (std::size_t p = 0; p < kk; ++p) dcg += detail::gain(static_cast<double>(labels[ranking[p]])) * detail::discount(p);
    return dcg;
}

/// Ideal DCG@k: the labels sorted descending.
template <class L>
inline double ideal_dcg_at_k(const std::vector<L>& labels, int k) {
    std::vector<double> s(labels.begin(), labels.end());
    std::sort(s.begin(), s.end(), std::greater<double>());
    const std::size_t kk = detail::cutoff(k, s.size());
    double dcg = 0.0;
    for (std::size_t p = 0; p < kk; ++p) dcg += detail::gain(s[p]) * detail::discount(p);
    return dcg;
}

/// NDCG@k of a ranking (e.g. a slate); 1 when the query has no relevant document.
template <class L>
inline double ndcg_at_k(const std::vector<int>& ranking, const std::vector<L>& labels, int k) {
    const double idcg = ideal_dcg_at_k(labels, k);
    const double dcg = dcg_at_k(ranking, labels, k);
    return idcg > 0.0 ? dcg / idcg : 1.0;
}

/// NDCG@k of a score vector (ranked by rank_by_score).
template <class S, class L>
inline double ndcg_at_k_scores(const std::vector<S>& scores, const std::vector<L>& labels, int k) {
    if (scores.size() != labels.size()) dualrerank::detail::throw_input("ndcg_at_k_scores: scores and labels differ in size");
    return ndcg_at_k(rank_by_score(scores), labels, k);
}

enum class map_convention {
    lightgbm,  ///< divide by min(R, k)
    xgboost    ///< divide by R
};

/// MAP@k (average precision of one query) of a ranking.
template <class L>
inline double map_at_k(const std::vector<int>& ranking, const std::vector<L>& labels, int k,
                       map_convention conv = map_convention::lightgbm) {
    detail::check_ranking(ranking, labels, "map_at_k");
    std::size_t relevant = 0;
    for (const L& l : labels) relevant += static_cast<double>(l) > 0.5;
    if (relevant == 0) return 1.0;
    const std::size_t kk = detail::cutoff(k, ranking.size());
    double sum = 0.0;
    std::size_t hits = 0;
    for (std::size_t p = 0; p < kk; ++p)
        if (static_cast<double>(labels[ranking[p]]) > 0.5) {
            ++hits;
            sum += static_cast<double>(hits) / static_cast<double>(p + 1);
        }
    const std::size_t kfull = k <= 0 ? labels.size() : static_cast<std::size_t>(k);
    const std::size_t den = conv == map_convention::lightgbm ? std::min(relevant, kfull) : relevant;
    return sum / static_cast<double>(den);
}

/// MAP@k of a score vector.
template <class S, class L>
inline double map_at_k_scores(const std::vector<S>& scores, const std::vector<L>& labels, int k,
                              map_convention conv = map_convention::lightgbm) {
    if (scores.size() != labels.size()) dualrerank::detail::throw_input("map_at_k_scores: scores and labels differ in size");
    return map_at_k(rank_by_score(scores), labels, k, conv);
}

// ---------------------------------------------------------------- utility

/// (u - u_random) / (u_oracle - u_random); 0 when the oracle is no better than random.
inline double normalized_utility(double u, double u_random, double u_oracle) noexcept {
    const double gap = u_oracle - u_random;
    return gap > 0.0 ? (u - u_random) / gap : 0.0;
}

/// Running means of expected utilities of one policy next to the random and oracle references,
/// normalized as a ratio of means (what the examples and experiments report).
struct utility_accumulator {
    double sum = 0.0, sum_random = 0.0, sum_oracle = 0.0;
    long long count = 0;
    void add(double u, double u_random, double u_oracle) noexcept {
        sum += u;
        sum_random += u_random;
        sum_oracle += u_oracle;
        ++count;
    }
    double mean() const noexcept { return count ? sum / count : 0.0; }
    double normalized() const noexcept { return normalized_utility(sum, sum_random, sum_oracle); }
};

// ---------------------------------------------------------------- slate agreement

/// Position-wise agreement rate: share of slots where the two slates hold the same item.
inline double ptar(const slate& a, const slate& b) {
    if (a.size() != b.size())
        dualrerank::detail::throw_input("ptar: slates differ in length (" + std::to_string(a.size()) + " vs " +
                                        std::to_string(b.size()) + ")");
    if (a.empty()) return 1.0;
    std::size_t same = 0;
    for (std::size_t t = 0; t < a.size(); ++t) same += a[t] == b[t];
    return static_cast<double>(same) / static_cast<double>(a.size());
}

/// |top-k(a) ∩ top-k(b)| / k', k' = min(k, |a|, |b|); 1 when k' = 0.
inline double topk_overlap(const slate& a, const slate& b, int k) {
    if (k < 0) dualrerank::detail::throw_input("topk_overlap: k must be >= 0");
    const std::size_t kk = std::min({static_cast<std::size_t>(k), a.size(), b.size()});
    if (kk == 0) return 1.0;
    std::size_t common = 0;
    for (std::size_t i = 0; i < kk; ++i)
        for (std::size_t j = 0; j < kk; ++j)
            if (a[i] == b[j]) {
                ++common;
                break;
            }
    return static_cast<double>(common) / static_cast<double>(kk);
}

/// Kendall tau-a over the items both slates contain (0 when fewer than two are common).
inline double kendall_tau(const slate& a, const slate& b) {
    // positions in b of a's items that b also holds, in a's order
    std::vector<int> pos_b;
    for (int item : a) {
        const auto it = std::find(b.begin(), b.end(), item);
        if (it != b.end()) pos_b.push_back(static_cast<int>(it - b.begin()));
    }
    const std::size_t m = pos_b.size();
    if (m < 2) return 0.0;
    long long conc = 0, disc = 0;
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = i + 1; j < m; ++j) (pos_b[i] < pos_b[j] ? conc : disc) += 1;
    return static_cast<double>(conc - disc) / (0.5 * static_cast<double>(m) * static_cast<double>(m - 1));
}

// ---------------------------------------------------------------- distillation diagnostics

/// Graded collapse of one [L x N] logit matrix (row-major): (L - #distinct row argmaxes) / (L - 1).
template <class T>
inline double collapse_rate(const T* logits, int l, int n) {
    if (l < 1 || n < 1 || !logits) dualrerank::detail::throw_input("collapse_rate: need l >= 1, n >= 1 and logits");
    if (l == 1) return 0.0;
    std::vector<int> arg(l);
    for (int t = 0; t < l; ++t) {
        const T* row = logits + static_cast<std::size_t>(t) * n;
        int best = 0;
        for (int i = 1; i < n; ++i)
            if (row[i] > row[best]) best = i;
        arg[t] = best;
    }
    std::sort(arg.begin(), arg.end());
    const auto distinct = std::unique(arg.begin(), arg.end()) - arg.begin();
    return static_cast<double>(l - distinct) / static_cast<double>(l - 1);
}

template <class T>
inline double collapse_rate(const std::vector<T>& logits, int l, int n) {
    if (logits.size() != static_cast<std::size_t>(l) * static_cast<std::size_t>(n))
        dualrerank::detail::throw_input("collapse_rate: logits size is not l * n");
    return collapse_rate(logits.data(), l, n);
}

/// Entropy in nats of a probability row (entries <= 0 contribute nothing).
template <class T>
inline double entropy(const T* p, int n) noexcept {
    double h = 0.0;
    for (int i = 0; i < n; ++i)
        if (p[i] > 0) h -= static_cast<double>(p[i]) * std::log(static_cast<double>(p[i]));
    return h;
}

/// Result of the entropy-consistency diagnostic.
struct entropy_consistency {
    double teacher_entropy = 0.0;  ///< mean entropy of the teacher's step distributions (nats)
    double student_entropy = 0.0;  ///< mean entropy of the student's slot distributions (nats)
    double gap = 0.0;              ///< student_entropy - teacher_entropy
    double teacher_top1 = 0.0;     ///< mean top-1 probability of the teacher's steps
    double student_top1 = 0.0;     ///< mean top-1 probability of the student's slots
    long long teacher_rows = 0, student_rows = 0;
};

/// Accumulates probability rows over requests and reports the entropy-consistency gap.
class entropy_gap_accumulator {
public:
    /// `rows` probability rows of width n (row-major), e.g. the teacher's L step distributions.
    template <class T>
    void add_teacher(const T* probs, int rows, int n) {
        add(probs, rows, n, h_t_, top_t_, rows_t_, "teacher");
    }
    template <class T>
    void add_student(const T* probs, int rows, int n) {
        add(probs, rows, n, h_s_, top_s_, rows_s_, "student");
    }
    entropy_consistency result() const noexcept {
        entropy_consistency r;
        r.teacher_rows = rows_t_;
        r.student_rows = rows_s_;
        if (rows_t_) {
            r.teacher_entropy = h_t_ / rows_t_;
            r.teacher_top1 = top_t_ / rows_t_;
        }
        if (rows_s_) {
            r.student_entropy = h_s_ / rows_s_;
            r.student_top1 = top_s_ / rows_s_;
        }
        r.gap = r.student_entropy - r.teacher_entropy;
        return r;
    }

private:
    template <class T>
    static void add(const T* p, int rows, int n, double& h, double& top, long long& count, const char* who) {
        if (rows < 0 || n < 1 || (rows > 0 && !p))
            dualrerank::detail::throw_input(std::string("entropy_gap_accumulator: bad ") + who + " rows");
        for (int r = 0; r < rows; ++r) {
            const T* row = p + static_cast<std::size_t>(r) * n;
            double s = 0.0, mx = 0.0;
            for (int i = 0; i < n; ++i) {
                const double v = static_cast<double>(row[i]);
                if (!(v >= 0.0) || !std::isfinite(v))
                    dualrerank::detail::throw_input(std::string("entropy_gap_accumulator: ") + who +
                                                    " row holds a negative or non-finite probability");
                s += v;
                mx = std::max(mx, v);
            }
            if (std::fabs(s - 1.0) > 1e-3)
                dualrerank::detail::throw_input(std::string("entropy_gap_accumulator: ") + who + " row sums to " +
                                                std::to_string(s) + ", not 1");
            h += entropy(row, n);
            top += mx;
            ++count;
        }
    }
    double h_t_ = 0.0, top_t_ = 0.0, h_s_ = 0.0, top_s_ = 0.0;
    long long rows_t_ = 0, rows_s_ = 0;
};

// ---------------------------------------------------------------- scorer quality

/// Average ranks (1-based; ties share the mean of their ranks).
template <class T>
inline std::vector<double> average_ranks(const std::vector<T>& x) {
    const std::size_t n = x.size();
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
    std::vector<double> rank(n);
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]]) ++j;
        const double r = 0.5 * static_cast<double>(i + j) + 1.0;
        for (std::size_t k = i; k <= j; ++k) rank[idx[k]] = r;
        i = j + 1;
    }
    return rank;
}

/// Pearson correlation; 0 when either side is constant or n < 2 (check with `defined`).
inline double pearson(const std::vector<double>& x, const std::vector<double>& y, bool* defined = nullptr) {
    if (x.size() != y.size()) dualrerank::detail::throw_input("pearson: sizes differ");
    const std::size_t n = x.size();
    if (defined) *defined = false;
    if (n < 2) return 0.0;
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx <= 0.0 || syy <= 0.0) return 0.0;
    if (defined) *defined = true;
    return sxy / std::sqrt(sxx * syy);
}

/// Spearman rank correlation (average ranks for ties); 0 when undefined (see `defined`).
template <class T, class U>
inline double spearman(const std::vector<T>& x, const std::vector<U>& y, bool* defined = nullptr) {
    if (x.size() != y.size()) dualrerank::detail::throw_input("spearman: sizes differ");
    return pearson(average_ranks(x), average_ranks(y), defined);
}

struct rank_correlation_summary {
    double mean = 0.0;    ///< mean Spearman over the requests where it is defined
    int requests = 0;     ///< requests that entered the mean
    int skipped = 0;      ///< requests with K < 2 or a constant side
};

/// Within-request rank correlation of a slate scorer with true utility: scores[r][j] and
/// utilities[r][j] for the K slates j of request r.
template <class S, class U>
inline rank_correlation_summary scorer_rank_correlation(const std::vector<std::vector<S>>& scores,
                                                        const std::vector<std::vector<U>>& utilities) {
    if (scores.size() != utilities.size())
        dualrerank::detail::throw_input("scorer_rank_correlation: scores and utilities differ in request count");
    rank_correlation_summary s;
    double sum = 0.0;
    for (std::size_t r = 0; r < scores.size(); ++r) {
        if (scores[r].size() != utilities[r].size())
            dualrerank::detail::throw_input("scorer_rank_correlation: request " + std::to_string(r) +
                                            " has different numbers of scores and utilities");
        bool ok = false;
        const double rho = spearman(scores[r], utilities[r], &ok);
        if (!ok) {
            ++s.skipped;
            continue;
        }
        sum += rho;
        ++s.requests;
    }
    s.mean = s.requests ? sum / s.requests : 0.0;
    return s;
}

}  // namespace eval
DUALRERANK_NAMESPACE_END
