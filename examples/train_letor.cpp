// Train a teacher and a student on LETOR files and report NDCG@k on a held-out file.
//
//   train_letor TRAIN.txt TEST.txt [--train-query FILE] [--test-query FILE] [--L 10] [--k 10]
//               [--steps 400] [--batch 16] [--d 32] [--heads 4] [--layers 2] [--ffn 64] [--lr 2e-3]
//               [--seed 1] [--save DIR] [--verbose]
//
// Every training query is used: the target is its documents by label (ties in a random order
// redrawn each step), a query with N < L documents filling min(L, N) slots. On the test file (its feature width pinned
// to the training file's) every query is reranked: the teacher with teacher_greedy, the student with
// greedy, at slate length min(L, n), and scored with NDCG@k (LightGBM's gain 2^label - 1); the
// file order and a random order are the baselines. --save DIR writes teacher.safetensors and
// student.safetensors, and each model's slates and logits on the test queries with at least L
// documents (<model>.outputs.safetensors) for python/load_cpp_model.py.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <sys/stat.h>

#include <dualrerank/sim/policies.hpp>  // random_slate, the random baseline

#include "example_args.hpp"
#include "dataset_io.hpp"

using namespace dualrerank;

namespace {

struct options {
    std::string train, test, train_query, test_query, save;
    int L = 10, k = 10, batch = 16, d = 32, heads = 4, layers = 2, ffn = 64;
    long steps = 400;
    double lr = 2e-3;
    std::uint64_t seed = 1;
    bool verbose = false;
};

void usage() {
    std::puts(
        "usage: train_letor TRAIN.txt TEST.txt [options]\n"
        "  --train-query F / --test-query F   group (query size) files for data without qid:\n"
        "  --L L          slate length and target length (default 10)\n"
        "  --k K          NDCG cutoff, <= L (default 10)\n"
        "  --steps S      training steps per model (default 400)\n"
        "  --batch B      requests per step (default 16)\n"
        "  --d D --heads H --layers N --ffn F   model size (default 32, 4, 2, 64; N encoder and decoder layers)\n"
        "  --lr LR        peak learning rate (default 2e-3)\n"
        "  --seed S       initialisation and batch seed (default 1)\n"
        "  --save DIR     write the models and their test outputs into DIR\n"
        "  --verbose      training progress lines\n");
}

options parse(int argc, char** argv) {
    options o;
    std::vector<std::string> pos;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--train-query")) o.train_query = a.value();
        else if (a.is("--test-query")) o.test_query = a.value();
        else if (a.is("--L")) o.L = a.integer();
        else if (a.is("--k")) o.k = a.integer();
        else if (a.is("--steps")) o.steps = a.integer(LLONG_MIN, LLONG_MAX);
        else if (a.is("--batch")) o.batch = a.integer();
        else if (a.is("--d")) o.d = a.integer();
        else if (a.is("--heads")) o.heads = a.integer();
        else if (a.is("--layers")) o.layers = a.integer();
        else if (a.is("--ffn")) o.ffn = a.integer();
        else if (a.is("--lr")) o.lr = a.real();
        else if (a.is("--seed")) o.seed = a.u64();
        else if (a.is("--save")) o.save = a.value();
        else if (a.is("--verbose")) o.verbose = true;
        else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else if (!a.name().empty() && a.name()[0] != '-')
            pos.push_back(a.name());
        else
            throw input_error("unknown option " + a.name() + " (see --help)");
    }
    if (pos.size() != 2) {
        usage();
        std::exit(2);
    }
    o.train = pos[0];
    o.test = pos[1];
    if (o.L < 1 || o.k < 1 || o.k > o.L) throw input_error("need 1 <= k <= L");
    if (o.steps < 1 || o.batch < 1) throw input_error("--steps and --batch must be >= 1");
    return o;
}

letor_dataset read(const std::string& path, const std::string& query, int width) {
    letor_options opt;
    opt.feature_width = width;
    return query.empty() ? read_letor_file(path, opt) : read_letor_file(path, query, opt);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) try {
    const options o = parse(argc, argv);
    const auto t0 = std::chrono::steady_clock::now();
    const letor_dataset train_file = read(o.train, o.train_query, 0);
    const int width = train_file.width();
    if (width < 1) throw input_error(o.train + ": no features");
    const letor_dataset test_file = read(o.test, o.test_query, width);
    const std::vector<letor_query> train_q = to_requests(train_file, width), test_q = to_requests(test_file, width);

    train::slate_dataset<float> data;
    data.L = o.L;
    int max_n = 0;
    for (const letor_query& q : train_q) {
        max_n = std::max(max_n, q.candidates.n);
        // every query: a short one trains on min(L, N) slots; with labels the target order is
        // redrawn each step (ties in random order), see train::fit_supervised
        data.requests.push_back(q.candidates);
        data.targets.push_back(dataset_io::top_by_label(q.relevance, std::min(o.L, q.candidates.n)));
        data.labels.emplace_back(q.relevance.begin(), q.relevance.end());
    }
    for (const letor_query& q : test_q) max_n = std::max(max_n, q.candidates.n);
    if (data.size() == 0) throw input_error(o.train + ": no queries");
    std::printf("train_letor: %s: %zu queries, %zu rows, width %d; %s: %zu queries (%.1fs)\n", o.train.c_str(), train_q.size(),
                train_file.num_rows(), width, o.test.c_str(), test_q.size(), seconds_since(t0));

    model_config mc;
    mc.features = width;
    mc.context = 0;
    mc.d = o.d;
    mc.heads = o.heads;
    mc.enc_layers = o.layers;
    mc.dec_layers = o.layers;
    mc.ffn = o.ffn;
    mc.max_slate = o.L;
    mc.max_candidates = max_n;
    train::trainer_config tc;
    tc.batch_size = o.batch;
    tc.seed = o.seed;
    tc.optimizer.lr = o.lr;
    tc.optimizer.warmup_steps = std::min(200L, o.steps / 10);
    tc.optimizer.total_steps = o.steps;
    tc.log_every = o.verbose ? 50 : 0;

    auto t1 = std::chrono::steady_clock::now();
    ar_teacher<float> teacher(mc);
    teacher.init(o.seed + 1);
    {
        train::trainer<ar_teacher<float>> tr(teacher, tc);
        train::fit_supervised(tr, data, o.steps, "teacher");
        std::printf("teacher: %zu parameters, %ld steps, final loss %.4f (%.1fs)\n", teacher.parameter_count(), o.steps,
                    tr.last_loss(), seconds_since(t1));
    }
    t1 = std::chrono::steady_clock::now();
    nar_student<float> student(mc);
    student.init(o.seed + 2);
    {
        train::trainer<nar_student<float>> tr(student, tc);
        train::fit_supervised(tr, data, o.steps, "student");
        std::printf("student: %zu parameters, %ld steps, final loss %.4f (%.1fs)\n", student.parameter_count(), o.steps,
                    tr.last_loss(), seconds_since(t1));
    }

    // NDCG@k on the held-out file
    workspace ws;
    rng pick(o.seed + 3);
    double nd_file = 0, nd_random = 0, nd_teacher = 0, nd_student = 0;
    for (const letor_query& q : test_q) {
        const int n = q.candidates.n, L = std::min(o.L, n);
        slate file_order(static_cast<std::size_t>(n));
        std::iota(file_order.begin(), file_order.end(), 0);
        file_order.resize(static_cast<std::size_t>(L));
        nd_file += eval::ndcg_at_k(file_order, q.relevance, o.k);
        nd_random += eval::ndcg_at_k(random_slate(n, L, pick), q.relevance, o.k);
        nd_teacher += eval::ndcg_at_k(decode::teacher_greedy(teacher, q.candidates.view(), L, ws), q.relevance, o.k);
        nd_student += eval::ndcg_at_k(decode::greedy(student, q.candidates.view(), L, ws), q.relevance, o.k);
    }
    const double Q = double(test_q.size());
    std::printf("\nNDCG@%d on %s (%zu queries)\n", o.k, o.test.c_str(), test_q.size());
    std::printf("  %-28s %.4f\n", "random order", nd_random / Q);
    std::printf("  %-28s %.4f\n", "file order", nd_file / Q);
    std::printf("  %-28s %.4f\n", "teacher (AR, greedy)", nd_teacher / Q);
    std::printf("  %-28s %.4f\n", "student (NAR, greedy)", nd_student / Q);

    if (!o.save.empty()) {
        ::mkdir(o.save.c_str(), 0755);
        std::vector<request<float>> full;
        for (const letor_query& q : test_q)
            if (q.candidates.n >= o.L) full.push_back(q.candidates);
        const std::map<std::string, std::string> meta{{"data", o.test}, {"queries", "test queries with >= L documents"}};
        io::save_options so;
        so.metadata = {{"trainer", "examples/train_letor"}, {"data", o.train}, {"steps", std::to_string(o.steps)}};
        io::save_model(teacher, o.save + "/teacher.safetensors", so);
        io::save_model(student, o.save + "/student.safetensors", so);
        dataset_io::write_outputs(o.save + "/teacher.outputs.safetensors", dataset_io::run_model(teacher, full, o.L), meta);
        dataset_io::write_outputs(o.save + "/student.outputs.safetensors", dataset_io::run_model(student, full, o.L), meta);
        std::printf("\nwrote %s/{teacher,student}.safetensors and their outputs on %zu test queries\n", o.save.c_str(),
                    full.size());
    }
    std::printf("total %.1fs\n", seconds_since(t0));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "train_letor: %s\n", e.what());
    return 1;
}
