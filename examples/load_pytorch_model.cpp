// Load a model trained elsewhere (python/train_ddp.py, or any dualrerank model file) and rerank
// requests with it: the "train big elsewhere, serve here" example.
//
//   load_pytorch_model MODEL.safetensors (--requests FILE.safetensors | --letor FILE.txt [--width W])
//                      [--L L] [--out OUTPUTS.safetensors] [--print K]
//
// io::load_model checks the file (CRC-32, tensor names and shapes against the config in the
// metadata, finite values) and recomputes the embedded self-test: the probe output the PyTorch
// model wrote must come out of the C++ model within 1e-4 relative, or the load fails. The model's
// kind decides the decoder: a student decodes greedily, a teacher with teacher_greedy; requests with
// fewer than L candidates are skipped (as train_ddp.py does). --out writes the slates and logits
// (examples/dataset_io.hpp) for python/compare_outputs.py.
#include <cstdio>
#include <string>

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

template <class Model>
dataset_io::outputs serve(const std::string& path, const dataset_io::request_set& s, int L) {
    const Model m = io::load_model<Model>(path);  // throws format_error on any mismatch
    const model_config& c = m.config();
    std::printf("loaded %s: %s, %zu parameters, d %d, %d+%d layers, features %d, context %d, max_slate %d\n",
                path.c_str(), to_string(Model::kind), m.parameter_count(), c.d, c.enc_layers, c.dec_layers, c.features,
                c.context, c.max_slate);
    if (L == 0) L = c.max_slate;
    std::vector<request<float>> reqs;  // a slate of L needs at least L candidates
    for (const request<float>& r : s.requests)
        if (r.n >= L) reqs.push_back(r);
    if (reqs.size() < s.requests.size())
        std::printf("skipped %zu requests with fewer than L = %d candidates\n", s.requests.size() - reqs.size(), L);
    return dataset_io::run_model(m, reqs, L);
}

}  // namespace

int main(int argc, char** argv) try {
    std::string model, requests, letor, out;
    int width = 0, L = 0, print = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw input_error("missing value after " + a);
            return argv[++i];
        };
        if (a == "--requests") requests = next();
        else if (a == "--letor") letor = next();
        else if (a == "--width") width = std::stoi(next());
        else if (a == "--L") L = std::stoi(next());
        else if (a == "--out") out = next();
        else if (a == "--print") print = std::stoi(next());
        else if (a == "--help" || a == "-h") {
            usage();
            return 0;
        } else if (!a.empty() && a[0] != '-' && model.empty())
            model = a;
        else
            throw input_error("unexpected argument " + a + " (see --help)");
    }
    if (model.empty() || requests.empty() == letor.empty()) {
        usage();
        return 2;
    }
    const auto header = io::read_model_header(model);  // kind and config
    const std::string& kind = header.first;
    if (width == 0) width = header.second.features;  // a LETOR file's width pinned to the model's
    const dataset_io::request_set s =
        requests.empty() ? dataset_io::read_letor_requests(letor, width) : dataset_io::read_requests(requests);
    dataset_io::outputs o;
    if (kind == "nar_student")
        o = serve<nar_student<float>>(model, s, L);
    else if (kind == "ar_teacher")
        o = serve<ar_teacher<float>>(model, s, L);
    else
        throw input_error(model + " holds a " + kind + "; this example reranks with a student or a teacher");
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
