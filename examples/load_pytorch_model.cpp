// Load a model trained elsewhere (python/train_ddp.py, or any dualrerank model file) and rerank
// requests with it: the "train big elsewhere, serve here" example.
//
//   load_pytorch_model MODEL.safetensors (--requests FILE.safetensors | --letor FILE.txt [--width W])
//                      [--L L] [--out OUTPUTS.safetensors] [--print K]
//
// The front door (dualrerank/serve.hpp) loads the file once, whatever it holds: serving::
// load_any_model checks it (CRC-32, tensor names and shapes against the config in the metadata,
// finite values) and recomputes the embedded self-test: the probe output the PyTorch model wrote
// must come out of the C++ model within 1e-4 relative, or the load fails. A serving::reranker with
// the greedy decoder then serves every request through one serving::session (a student's greedy,
// a teacher's greedy); requests with fewer than L candidates are skipped (as train_ddp.py does).
// --out writes the slates and logits (examples/dataset_io.hpp) for python/compare_outputs.py: a
// student's slot logits (session.logits), a teacher's teacher-forced logits along its slate.
#include <cstdio>
#include <string>

#include <dualrerank/serve.hpp>

#include "example_args.hpp"
#include "dataset_io.hpp"

using namespace dualrerank;

namespace {

void usage() {
    std::puts(
        "usage: load_pytorch_model MODEL.safetensors (--requests FILE.safetensors | --letor FILE [--width W]) [options]\n"
        "  --requests FILE  a request set (examples/export_world, python/dualrerank_ref/dataset.py)\n"
        "  --letor FILE     a LETOR file with qid: (requests = queries; width: --width or the model's)\n"
        "  --L L            slate length (default: the model's max_slate)\n"
        "  --out FILE       write the slates and logits (dualrerank-outputs) for comparison\n"
        "  --print K        print the first K slates (default 3)\n");
}

/// Greedy slates (and logits) of every request through the front door.
dataset_io::outputs serve(const serving::any_model& m, const dataset_io::request_set& s, int L) {
    const model_config& c = m.config;
    std::printf("loaded %s: %s, %zu parameters, d %d, %d+%d layers, features %d, context %d, max_slate %d\n",
                m.path.c_str(), m.kind_name(), m.teacher ? m.teacher->parameter_count() : m.student->parameter_count(), c.d,
                c.enc_layers, c.dec_layers, c.features, c.context, c.max_slate);
    serving::reranker_options opt;
    opt.slate_length = L;  // 0: the model's max_slate
    const serving::reranker ranker(m, opt);
    L = ranker.slate_length();
    serving::session session(ranker);
    dataset_io::outputs o;
    o.kind = m.kind_name();
    o.L = L;
    std::size_t skipped = 0;
    std::vector<int> y(static_cast<std::size_t>(L));
    std::vector<float> Z;
    workspace ws;  // the teacher's teacher-forced logits (a comparison output, not serving)
    for (std::size_t i = 0; i < s.requests.size(); ++i) {
        const request_view<float> v = s.requests[i].view();
        if (v.n < L) {  // a slate of L needs at least L candidates
            ++skipped;
            continue;
        }
        session.rerank(v, i, y.data(), y.size());
        Z.resize(std::size_t(L) * std::size_t(v.n));
        if (m.student) {
            session.logits(v, Z.data(), Z.size());
        } else {
            ws.reset();
            const auto c2 = m.teacher->forward(&v, 1, L, y.data(), ws);
            std::copy(c2.Z, c2.Z + Z.size(), Z.begin());
        }
        o.n.push_back(v.n);
        o.slates.insert(o.slates.end(), y.begin(), y.end());
        o.logits.insert(o.logits.end(), Z.begin(), Z.end());
    }
    if (skipped > 0) std::printf("skipped %zu requests with fewer than L = %d candidates\n", skipped, L);
    return o;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string model, requests, letor, out;
    int width = 0, L = 0, print = 3;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--requests")) requests = a.value();
        else if (a.is("--letor")) letor = a.value();
        else if (a.is("--width")) width = a.integer();
        else if (a.is("--L")) L = a.integer();
        else if (a.is("--out")) out = a.value();
        else if (a.is("--print")) print = a.integer();
        else if (a.is("--help") || a.is("-h")) {
            usage();
            return 0;
        } else if (!a.name().empty() && a.name()[0] != '-' && model.empty())
            model = a.name();
        else
            throw input_error("unexpected argument " + a.name() + " (see --help)");
    }
    if (model.empty() || requests.empty() == letor.empty()) {
        usage();
        return 2;
    }
    const serving::any_model m = serving::load_any_model(model);  // throws format_error on any mismatch
    if (m.evaluator) throw input_error(model + " holds a list_evaluator; this example reranks with a student or a teacher");
    if (width == 0) width = m.config.features;  // a LETOR file's width pinned to the model's
    const dataset_io::request_set s =
        requests.empty() ? dataset_io::read_letor_requests(letor, width) : dataset_io::read_requests(requests);
    const dataset_io::outputs o = serve(m, s, L);
    std::printf("reranked %zu requests (L %d)\n", o.n.size(), o.L);
    for (int i = 0; i < print && i < int(o.n.size()); ++i) {
        std::printf("  request %d (N %d): slate", i, o.n[std::size_t(i)]);
        for (int t = 0; t < o.L; ++t) std::printf(" %d", o.slates[std::size_t(i) * o.L + t]);
        std::printf("\n");
    }
    if (!out.empty()) {
        dataset_io::write_outputs(out, o, {{"model", model}});
        std::printf("wrote %s\n", out.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "load_pytorch_model: %s\n", e.what());
    return 1;
}
