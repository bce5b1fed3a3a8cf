// An HTTP reranking service with online RL behind it (docs/service.md; the server is
// examples/rerank_service.hpp):
//
//   rerank_service --model student.safetensors --evaluator page_evaluator.safetensors [--port 0]
//                  [--threads 2] [--decoder sample|greedy] [--method ldro|grpo|goalrank] [--beta 0.02] [--save PATH]
//
// Prints "listening on HOST:PORT" on stdout once it accepts requests (--port 0: any free port);
// SIGINT or SIGTERM stop it cleanly: no new requests, the joined feedback is trained on, the
// serving policy saved (--save).
#include <csignal>
#include <cstdio>
#include <sstream>
#include <string>

#include "example_args.hpp"
#include "rerank_service.hpp"

namespace {

void usage() {
    std::puts(
        "usage: rerank_service --model FILE [--evaluator FILE] [options]\n"
        "  --model FILE        the student (nar_student) that serves; the start policy and KL anchor\n"
        "  --evaluator FILE    a page evaluator: the RL group scorer (required with --decoder sample)\n"
        "  --decoder NAME      sample (Gumbel-Max at --tau, online RL; default) | greedy (serving::session, no learning)\n"
        "  --objectives LIST   objective names in the evaluator's order (default click,long_view)\n"
        "  --weights LIST      objective weights (default 1 each)\n"
        "  --host HOST         default 127.0.0.1\n"
        "  --port P            default 0 (any free port; the bound port is printed)\n"
        "  --threads T         HTTP worker threads (default 2)\n"
        "  --tau X             serving temperature (default 1)\n"
        "  --method NAME       ldro (default) | grpo | goalrank\n"
        "  --group G           slates of the model-based group (default 16)\n"
        "  --lr X              the trainer's step size (default 1e-4)\n"
        "  --beta X            weight of the KL to the start policy (default 0.02, rl_config's; docs/rl.md's experiments: 0.2)\n"
        "  --requests-per-step K   records per optimizer step (default 8)\n"
        "  --publish-every K   optimizer steps between published versions (default 4)\n"
        "  --holdout FILE      JSON-lines requests for the guard rail (publish only while not worse than the anchor)\n"
        "  --eval-every K      records between guard-rail evaluations (default 512; with --holdout)\n"
        "  --save PATH         write the serving policy here at shutdown (and every --save-every records)\n"
        "  --save-every K      records between saves (default 0: at shutdown only)\n"
        "  --max-body BYTES    largest request body (default 4194304; larger: 413)\n"
        "  --max-pending K     shown slates waiting for feedback before the oldest are dropped (default 100000)\n"
        "  --keep-alive K      requests per keep-alive connection (default 1000)\n"
        "  --no-refresh        do not refresh the evaluator online\n"
        "  --seed S            noise and trainer seed (default 1)\n"
        "  --quiet             no trainer progress lines on stderr\n");
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string x;
    while (std::getline(ss, x, ',')) out.push_back(x);
    return out;
}

rerank_service::options parse(int argc, char** argv) {
    rerank_service::options o;
    o.log = stderr;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--model")) o.model = a.value();
        else if (a.is("--evaluator")) o.evaluator = a.value();
        else if (a.is("--decoder")) o.decoder = a.value();
        else if (a.is("--objectives")) o.objectives = split(a.value());
        else if (a.is("--weights")) {
            o.weights.clear();
            for (const std::string& w : split(a.value())) {
                char* end = nullptr;
                const double x = std::strtod(w.c_str(), &end);
                if (w.empty() || *end != '\0' || !std::isfinite(x)) a.fail("'" + w + "' is not a finite number");
                o.weights.push_back(x);
            }
        } else if (a.is("--host")) o.host = a.value();
        else if (a.is("--port")) o.port = int(a.integer(0, 65535));
        else if (a.is("--threads")) o.threads = int(a.integer(1, 256));
        else if (a.is("--tau")) o.tau = a.real(1e-6, 1e6);
        else if (a.is("--method")) {
            const std::string m = a.value();
            if (m == "ldro") o.method = dualrerank::train::rl_method::ldro;
            else if (m == "grpo") o.method = dualrerank::train::rl_method::grpo;
            else if (m == "goalrank") o.method = dualrerank::train::rl_method::goalrank;
            else a.fail("expected ldro, grpo or goalrank, got " + m);
        } else if (a.is("--group")) o.group = int(a.integer(2, 4096));
        else if (a.is("--lr")) o.lr = a.real(1e-12, 1.0);
        else if (a.is("--beta")) o.beta = a.real(0.0, 1e6);
        else if (a.is("--requests-per-step")) o.requests_per_step = int(a.integer(1, 65536));
        else if (a.is("--publish-every")) o.publish_every = int(a.integer(1, 1 << 20));
        else if (a.is("--holdout")) o.holdout = a.value();
        else if (a.is("--eval-every")) o.eval_every = long(a.integer(1, INT_MAX));
        else if (a.is("--save")) o.save_path = a.value();
        else if (a.is("--save-every")) o.save_every = long(a.integer(0, INT_MAX));
        else if (a.is("--max-body")) o.max_body = std::size_t(a.integer(64, INT_MAX));
        else if (a.is("--max-pending")) o.max_pending = std::size_t(a.integer(1, INT_MAX));
        else if (a.is("--keep-alive")) o.keep_alive = std::size_t(a.integer(1, INT_MAX));
        else if (a.is("--no-refresh")) o.refresh_evaluator = false;
        else if (a.is("--seed")) o.seed = a.u64();
        else if (a.is("--quiet")) o.log = nullptr;
        else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else a.unknown();
    }
    if (o.save_every > 0 && o.save_path.empty()) throw dualrerank::input_error("--save-every needs --save PATH");
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const rerank_service::options o = parse(argc, argv);
        // SIGINT / SIGTERM are blocked in every thread (the service's threads inherit the mask) and
        // taken by sigwait below, so the shutdown runs in main, not in a signal handler
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
        rerank_service::service svc(o);
        const int port = svc.start();
        std::printf("listening on %s:%d\n", o.host.c_str(), port);
        std::fflush(stdout);
        int sig = 0;
        sigwait(&stop_signals, &sig);
        std::fprintf(stderr, "rerank_service: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        svc.stop();
        const rerank_service::stats s = svc.current_stats();
        std::fprintf(stderr, "rerank_service: served %ld, bad %ld, feedback joined %ld, records %ld, version %llu, saves %ld%s%s\n",
                     s.served, s.bad_requests, s.feedback_joined, s.progress.records, (unsigned long long)s.version, s.saves,
                     o.save_path.empty() ? "" : " -> ", o.save_path.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rerank_service: error: %s\n", rerank_service::message_of(e).c_str());
        return 1;
    }
}
