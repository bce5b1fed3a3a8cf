// Metrics on hand-computed cases.
#include "catch.hpp"

#include <cmath>
#include <vector>

using namespace dualrerank;
using Catch::Matchers::WithinAbs;

TEST_CASE("metrics: NDCG@k with exponential gain and log2 discount", "[metrics]") {
    // Ranked relevances 3,2,3,0,1,2 (the textbook example): gains 7,3,7,0,1,3.
    const std::vector<float> labels{3, 2, 3, 0, 1, 2};
    const std::vector<int> ranking{0, 1, 2, 3, 4, 5};
    const double dcg6 = 7 + 3 / std::log2(3.0) + 7 / 2.0 + 0 + 1 / std::log2(6.0) + 3 / std::log2(7.0);
    const double idcg6 = 7 + 7 / std::log2(3.0) + 3 / 2.0 + 3 / std::log2(5.0) + 1 / std::log2(6.0);
    CHECK_THAT(eval::dcg_at_k(ranking, labels, 6), WithinAbs(dcg6, 1e-12));
    CHECK_THAT(eval::ideal_dcg_at_k(labels, 0), WithinAbs(idcg6, 1e-12));
    CHECK_THAT(eval::ndcg_at_k(ranking, labels, 0), WithinAbs(0.948810748567899, 1e-12));
    CHECK_THAT(eval::ndcg_at_k(ranking, labels, 3), WithinAbs(0.959453514592680, 1e-12));
    CHECK_THAT(eval::ndcg_at_k(ranking, labels, 100), WithinAbs(0.948810748567899, 1e-12));

    // the same through scores (descending) and a perfect ranking
    const std::vector<double> scores{6, 5, 4, 3, 2, 1};
    CHECK_THAT(eval::ndcg_at_k_scores(scores, labels, 0), WithinAbs(0.948810748567899, 1e-12));
    CHECK_THAT(eval::ndcg_at_k_scores(labels, labels, 0), WithinAbs(1.0, 1e-12));

    // a slate shorter than the candidate list is compared with the ideal over all candidates
    const std::vector<int> slate2{1, 4};  // relevances 2, 1 out of {3,2,3,0,1,2}
    CHECK_THAT(eval::ndcg_at_k(slate2, labels, 2), WithinAbs((3 + 1 / std::log2(3.0)) / (7 + 7 / std::log2(3.0)), 1e-12));

    // no relevant document: 1 (LightGBM / XGBoost default)
    CHECK(eval::ndcg_at_k_scores(std::vector<double>{0.3, 0.1}, std::vector<float>{0, 0}, 5) == 1.0);

    // score ties go to the lower index: scores (1, 1, 0), labels (0, 2, 0) -> order 0, 1, 2
    const std::vector<double> tied{1, 1, 0};
    CHECK(eval::rank_by_score(tied) == std::vector<int>{0, 1, 2});
    CHECK_THAT(eval::ndcg_at_k_scores(tied, std::vector<float>{0, 2, 0}, 0), WithinAbs(1 / std::log2(3.0), 1e-12));

    CHECK_THROWS_AS(eval::ndcg_at_k(std::vector<int>{0, 0}, labels, 2), input_error);
    CHECK_THROWS_AS(eval::ndcg_at_k(std::vector<int>{6}, labels, 2), input_error);
}

TEST_CASE("metrics: MAP@k, LightGBM and XGBoost denominators", "[metrics]") {
    // ranked relevance 1,0,1,0,0,1 (R = 3)
    const std::vector<float> labels{1, 0, 1, 0, 0, 1};
    const std::vector<int> ranking{0, 1, 2, 3, 4, 5};
    // k = 4: hits at positions 1 and 3 -> (1/1 + 2/3) / min(3, 4)
    CHECK_THAT(eval::map_at_k(ranking, labels, 4), WithinAbs((1.0 + 2.0 / 3.0) / 3.0, 1e-12));
    // k = 2: one hit -> 1 / min(3, 2) (LightGBM) or 1 / 3 (XGBoost)
    CHECK_THAT(eval::map_at_k(ranking, labels, 2), WithinAbs(0.5, 1e-12));
    CHECK_THAT(eval::map_at_k(ranking, labels, 2, eval::map_convention::xgboost), WithinAbs(1.0 / 3.0, 1e-12));
    // all positions: (1 + 2/3 + 3/6) / 3
    CHECK_THAT(eval::map_at_k(ranking, labels, 0), WithinAbs((1.0 + 2.0 / 3.0 + 0.5) / 3.0, 1e-12));
    // graded labels: relevant means > 0.5
    CHECK_THAT(eval::map_at_k_scores(std::vector<double>{3, 2, 1}, std::vector<float>{0.4f, 2, 0}, 0),
               WithinAbs(0.5, 1e-12));
    CHECK(eval::map_at_k(ranking, std::vector<float>(6, 0.0f), 3) == 1.0);
}

TEST_CASE("metrics: normalized utility", "[metrics]") {
    CHECK_THAT(eval::normalized_utility(0.8, 0.3, 1.3), WithinAbs(0.5, 1e-12));
    CHECK(eval::normalized_utility(1.0, 1.0, 1.0) == 0.0);
    eval::utility_accumulator acc;
    acc.add(1.0, 0.0, 2.0);
    acc.add(3.0, 1.0, 4.0);
    CHECK_THAT(acc.mean(), WithinAbs(2.0, 1e-12));
    CHECK_THAT(acc.normalized(), WithinAbs(3.0 / 5.0, 1e-12));  // ratio of means, not mean of ratios
}

TEST_CASE("metrics: PTAR, top-k overlap and Kendall tau", "[metrics]") {
    const slate a{1, 2, 3, 4};
    CHECK(eval::ptar(a, a) == 1.0);
    CHECK(eval::ptar(a, slate{1, 3, 2, 4}) == 0.5);
    CHECK(eval::ptar(a, slate{4, 3, 2, 1}) == 0.0);
    CHECK_THROWS_AS(eval::ptar(a, slate{1, 2}), input_error);

    CHECK(eval::topk_overlap(a, slate{1, 3, 2, 4}, 2) == 0.5);
    CHECK(eval::topk_overlap(a, slate{1, 3, 2, 4}, 4) == 1.0);
    CHECK(eval::topk_overlap(a, slate{9, 8, 7, 6}, 4) == 0.0);
    CHECK(eval::topk_overlap(a, slate{2, 1}, 4) == 1.0);  // k' = min(k, |a|, |b|) = 2

    CHECK(eval::kendall_tau(a, a) == 1.0);
    CHECK(eval::kendall_tau(a, slate{4, 3, 2, 1}) == -1.0);
    // common items 1, 2, 3; in b the order is 3, 1, 2: pairs (1,2) concordant, (1,3), (2,3) discordant
    CHECK_THAT(eval::kendall_tau(slate{1, 2, 3, 9}, slate{3, 1, 7, 2}), WithinAbs(-1.0 / 3.0, 1e-12));
    CHECK(eval::kendall_tau(slate{1, 2}, slate{1, 5}) == 0.0);  // fewer than two common items
}

TEST_CASE("metrics: graded collapse rate", "[metrics]") {
    // L = 3 slots, N = 4 candidates
    const std::vector<float> all_same{0, 0, 5, 1,  //
                                      0, 1, 4, 0,  //
                                      2, 0, 3, 0};
    CHECK(eval::collapse_rate(all_same, 3, 4) == 1.0);
    const std::vector<float> distinct{5, 0, 0, 0,  //
                                      0, 5, 0, 0,  //
                                      0, 0, 5, 0};
    CHECK(eval::collapse_rate(distinct, 3, 4) == 0.0);
    const std::vector<double> half{0, 1, 0, 0,  //
                                   0, 2, 0, 0,  //
                                   0, 0, 0, 1};
    CHECK(eval::collapse_rate(half, 3, 4) == 0.5);
    // ties in a row go to the lower index: rows (1,1,0,0) and (0,1,1,0) -> argmaxes 0 and 1
    CHECK(eval::collapse_rate(std::vector<float>{1, 1, 0, 0, 0, 1, 1, 0}, 2, 4) == 0.0);
    CHECK(eval::collapse_rate(std::vector<float>{1, 2, 3}, 1, 3) == 0.0);
    CHECK_THROWS_AS(eval::collapse_rate(std::vector<float>{1, 2, 3}, 2, 2), input_error);
}

TEST_CASE("metrics: entropy-consistency gap", "[metrics]") {
    eval::entropy_gap_accumulator acc;
    const std::vector<double> teacher{1.0, 0.0, 0.0, 0.0,  //
                                      0.5, 0.5, 0.0, 0.0};
    const std::vector<float> student{0.25f, 0.25f, 0.25f, 0.25f};
    acc.add_teacher(teacher.data(), 2, 4);
    acc.add_student(student.data(), 1, 4);
    const eval::entropy_consistency r = acc.result();
    CHECK_THAT(r.teacher_entropy, WithinAbs(std::log(2.0) / 2, 1e-12));
    CHECK_THAT(r.student_entropy, WithinAbs(std::log(4.0), 1e-6));
    CHECK_THAT(r.gap, WithinAbs(std::log(4.0) - std::log(2.0) / 2, 1e-6));
    CHECK_THAT(r.teacher_top1, WithinAbs(0.75, 1e-12));
    CHECK_THAT(r.student_top1, WithinAbs(0.25, 1e-7));
    CHECK(r.teacher_rows == 2);
    CHECK(r.student_rows == 1);
    const std::vector<double> not_a_distribution{0.5, 0.2, 0.0, 0.0};
    CHECK_THROWS_AS(acc.add_teacher(not_a_distribution.data(), 1, 4), input_error);
    const std::vector<double> negative{1.5, -0.5, 0.0, 0.0};
    CHECK_THROWS_AS(acc.add_student(negative.data(), 1, 4), input_error);
}

TEST_CASE("metrics: Spearman and the within-request scorer correlation", "[metrics]") {
    const std::vector<double> x{1, 2, 3, 4};
    CHECK_THAT(eval::spearman(x, std::vector<double>{10, 20, 30, 40}), WithinAbs(1.0, 1e-12));
    CHECK_THAT(eval::spearman(x, std::vector<double>{4, 3, 2, 1}), WithinAbs(-1.0, 1e-12));
    CHECK_THAT(eval::spearman(x, std::vector<double>{1, 8, 27, 64}), WithinAbs(1.0, 1e-12));  // monotone, not linear
    // ties: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4) -> 4.5 / sqrt(4.5 * 5)
    CHECK_THAT(eval::spearman(std::vector<double>{1, 2, 2, 3}, x), WithinAbs(4.5 / std::sqrt(22.5), 1e-12));
    CHECK(eval::average_ranks(std::vector<double>{3, 1, 3}) == std::vector<double>{2.5, 1, 2.5});
    bool defined = true;
    CHECK(eval::spearman(x, std::vector<double>{1, 1, 1, 1}, &defined) == 0.0);
    CHECK_FALSE(defined);

    const std::vector<std::vector<double>> scores{{0.1, 0.5, 0.9}, {3, 2, 1}, {1, 1, 1}, {2}};
    const std::vector<std::vector<double>> utils{{1, 2, 3}, {1, 2, 3}, {1, 2, 3}, {5}};
    const eval::rank_correlation_summary s = eval::scorer_rank_correlation(scores, utils);
    CHECK(s.requests == 2);
    CHECK(s.skipped == 2);  // a constant scorer and a single slate
    CHECK_THAT(s.mean, WithinAbs(0.0, 1e-12));
    CHECK_THROWS_AS(eval::scorer_rank_correlation(scores, std::vector<std::vector<double>>(3)), input_error);
}
