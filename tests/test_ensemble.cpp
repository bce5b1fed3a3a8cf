// Student ensembles (nar_student::ensemble): the ensemble's slot logits are the mean of its
// members', every decoder sees that mean, the model file (format_version 3, members = K, tensors
// under "member.{k}.") round-trips, and the reader refuses malformed ensemble files by name.
#include <cstdio>
#include <functional>
#include <unistd.h>

#include "test_util.hpp"

// Unity builds put several test files in one translation unit (tests/CMakeLists.txt): each file's
// code lives in its own namespace, so file-local helpers of the same name never meet.
namespace dualrerank_test_ensemble {

using namespace dualrerank;

namespace {
std::string temp_path(const std::string& name) { return test_util::temp_path("dualrerank_test_ens", name); }

std::vector<nar_student<float>> make_members(const model_config& c, int K) {
    std::vector<nar_student<float>> ms;
    for (int k = 0; k < K; ++k) {
        ms.emplace_back(c);
        ms.back().init(100 + std::uint64_t(k));
    }
    return ms;
}

/// Rewrites a model file through the writer (so its checksums are valid again) after `edit` may
/// change the metadata and the list of tensors (name -> values; verify.slate is kept as I64).
struct file_image {
    std::map<std::string, std::string> meta;
    std::vector<std::string> names;
    std::map<std::string, std::vector<std::size_t>> shapes;
    std::map<std::string, std::vector<float>> f32;
    std::vector<std::int64_t> slate;
};

file_image read_image(const std::string& path) {
    const io::safetensors_file f = io::safetensors_file::from_file(path);
    file_image im;
    im.meta = f.metadata();
    for (const auto& t : f.tensors()) {
        im.names.push_back(t.name);
        im.shapes[t.name] = t.shape;
        if (t.name == "verify.slate") {
            im.slate.resize(t.elements());
            f.read(t.name, t.shape, im.slate.data());
        } else {
            std::vector<float> v(t.elements());
            f.read(t.name, t.shape, v.data());
            im.f32[t.name] = std::move(v);
        }
    }
    return im;
}

void write_image(const file_image& im, const std::string& path) {
    std::vector<io::tensor_write> ts;
    for (const auto& n : im.names) {
        if (n == "verify.slate") ts.push_back({n, io::dtype::i64, im.shapes.at(n), im.slate.data()});
        else ts.push_back({n, io::dtype::f32, im.shapes.at(n), im.f32.at(n).data()});
    }
    std::map<std::string, std::string> meta = im.meta;
    meta.erase(io::safetensors_crc32_key);
    meta.erase(io::safetensors_file_crc32_key);
    io::write_safetensors_file(path, ts, meta);
}

void rename_tensor(file_image& im, const std::string& from, const std::string& to) {
    for (auto& n : im.names)
        if (n == from) n = to;
    im.shapes[to] = im.shapes.at(from);
    im.f32[to] = im.f32.at(from);
}

/// Adds tensor `to` as a copy of `from` (shape and values).
void add_copy(file_image& im, const std::string& from, const std::string& to) {
    im.names.push_back(to);
    im.shapes[to] = im.shapes.at(from);
    im.f32[to] = im.f32.at(from);
}
}  // namespace

TEST_CASE("ENS-1: an ensemble's slot logits are the mean of its members', and decoders use them", "[ensemble]") {
    const model_config c = test_util::small_config();
    const int K = 3;
    std::vector<nar_student<float>> ms = make_members(c, K);
    const std::vector<nar_student<float>> copies = ms;
    const nar_student<float> e = nar_student<float>::ensemble(std::move(ms));
    CHECK(e.members() == K);
    const auto reqs = test_util::random_requests<float>(c, 2, 13, 7);  // N = 13: odd, a SIMD tail
    workspace ws;
    for (int L : {1, 4, 6}) {
        for (const auto& r : reqs) {
            const auto v = r.view();
            std::vector<float> Z(std::size_t(L) * v.n), Zk(Z.size()), mean(Z.size(), 0.f);
            e.logits(v, L, Z.data(), ws);
            for (const auto& m : copies) {
                m.logits(v, L, Zk.data(), ws);
                for (std::size_t i = 0; i < Z.size(); ++i) mean[i] += Zk[i] / float(K);
            }
            for (std::size_t i = 0; i < Z.size(); ++i) CHECK(Z[i] == Approx(mean[i]).margin(1e-5));
            // the greedy slate and the full order are those of the mean logits
            std::vector<int> order(std::size_t(v.n)), want(std::size_t(v.n));
            std::vector<std::uint8_t> used(std::size_t(v.n));
            std::vector<float> row(std::size_t(v.n));
            decode::student_full_order(e, v, L, order.data(), (float*)nullptr, ws);
            decode::full_order_from_rows(mean.data(), L, v.n, v.n, want.data(), (float*)nullptr, used.data(), row.data());
            CHECK(order == want);
            const slate g = decode::greedy(e, v, L, ws);
            CHECK(std::vector<int>(g.begin(), g.end()) == std::vector<int>(want.begin(), want.begin() + L));
        }
    }
    // batched inference pads with -inf and averages the rest
    std::vector<request_view<float>> views{reqs[0].view(), reqs[1].view()};
    std::vector<float> Zb(2 * 6 * 13);
    CHECK(e.logits_batch(views.data(), 2, 6, Zb.data(), ws) == 13);
    std::vector<float> Z0(6 * 13);
    e.logits(views[1], 6, Z0.data(), ws);
    for (std::size_t i = 0; i < Z0.size(); ++i) CHECK(Zb[6 * 13 + i] == Approx(Z0[i]).margin(1e-5));
    // a one-member ensemble is that member
    std::vector<nar_student<float>> one{copies[1]};
    const nar_student<float> e1 = nar_student<float>::ensemble(std::move(one));
    CHECK(e1.members() == 1);
    std::vector<float> a(6 * 13), b(6 * 13);
    e1.logits(views[0], 6, a.data(), ws);
    copies[1].logits(views[0], 6, b.data(), ws);
    CHECK(a == b);
    // member(k) gives the members back
    for (int k = 0; k < K; ++k) {
        const nar_student<float> m = e.member(k);
        CHECK(m.members() == 1);
        CHECK(std::equal(m.params(), m.params() + m.arena_size(), copies[std::size_t(k)].params()));
    }
}

TEST_CASE("ENS-2: an ensemble is for inference only, and ensemble() checks its members", "[ensemble]") {
    const model_config c = test_util::small_config();
    const nar_student<float> e = nar_student<float>::ensemble(make_members(c, 2));
    const auto reqs = test_util::random_requests<float>(c, 1, 8, 3);
    const auto v = reqs[0].view();
    workspace ws;
    CHECK_THROWS_PART(input_error, e.forward(&v, 1, 4, ws), "for inference only");
    CHECK_THROWS_PART(input_error, e.member(2), "not in [0, 2)");
    CHECK_THROWS_PART(input_error, e.member(-1), "not in [0, 2)");
    CHECK_THROWS_PART(input_error, nar_student<float>::ensemble({}), "no members");
    model_config c2 = c;
    c2.d = 8;
    c2.heads = 2;
    std::vector<nar_student<float>> mixed = make_members(c, 2);
    mixed.emplace_back(c2);
    CHECK_THROWS_PART(input_error, nar_student<float>::ensemble(std::move(mixed)), "member 2 has another config");
    std::vector<nar_student<float>> nested{e, nar_student<float>(c)};
    CHECK_THROWS_PART(input_error, nar_student<float>::ensemble(std::move(nested)), "member 0 is itself an ensemble");
    c2 = c;
    c2.d = 4;
    c2.heads = 1;
    c2.ffn = 4;
    c2.enc_layers = 0;
    c2.dec_layers = 0;
    std::vector<nar_student<float>> many(std::size_t(nar_student<float>::max_members + 1), nar_student<float>(c2));
    CHECK_THROWS_PART(input_error, nar_student<float>::ensemble(std::move(many)), "exceed max_members");
    // the workspace bound covers every member: a budget for one member is too small for two
    workspace tight;
    workload w;
    w.n = 8;
    w.L = 4;
    tight.set_budget(max_workspace_bytes<float>(c, model_kind::student, w));
    std::vector<float> Z(4 * 8);
    CHECK_NOTHROW(e.member(0).logits(v, 4, Z.data(), tight));
    CHECK_THROWS_PART(input_error, e.logits(v, 4, Z.data(), tight), "nar_student (ensemble)");
}

TEST_CASE("ENS-3: an ensemble round-trips through its model file (format_version 3)", "[ensemble][model_io]") {
    model_config c = test_util::small_config();
    c.rank_embedding = true;
    const std::string path = temp_path("ens.safetensors");
    const nar_student<float> e = nar_student<float>::ensemble(make_members(c, 3));
    io::save_options so;
    so.metadata["members"] = "7";  // the writer sets it from the model, whatever the caller passed
    io::save_model(e, path, so);
    const io::safetensors_file f = io::safetensors_file::from_file(path);
    CHECK(f.metadata().at("format_version") == "3");
    CHECK(f.metadata().at("members") == "3");
    CHECK(f.find("member.2.slot_queries") != nullptr);
    CHECK(f.find("slot_queries") == nullptr);
    const nar_student<float> back = io::load_model<nar_student<float>>(path);  // runs the self-test
    REQUIRE(back.members() == 3);
    for (int k = 0; k < 3; ++k) {
        const nar_student<float> a = e.member(k), b = back.member(k);
        CHECK(std::equal(a.params(), a.params() + a.arena_size(), b.params()));
    }
    // the serving front door loads it as a student whose logits are the ensemble's
    const serving::any_model am = serving::load_any_model(path);
    REQUIRE(am.student);
    CHECK(am.student->members() == 3);
    const auto reqs = test_util::random_requests<float>(c, 1, 11, 5);
    workspace ws;
    std::vector<float> Za(6 * 11), Zb(6 * 11);
    e.logits(reqs[0].view(), 6, Za.data(), ws);
    am.student->logits(reqs[0].view(), 6, Zb.data(), ws);
    CHECK(Za == Zb);
    // as a double model too
    const nar_student<double> d = io::load_model<nar_student<double>>(path);
    CHECK(d.members() == 3);
    // a single student is still written as format_version 2, without "members"
    io::save_model(e.member(1), path, so);
    const io::safetensors_file f1 = io::safetensors_file::from_file(path);
    CHECK(f1.metadata().at("format_version") == "2");
    CHECK(f1.metadata().count("members") == 0);
    CHECK(io::load_model<nar_student<float>>(path).members() == 1);
    std::remove(path.c_str());
}

TEST_CASE("ENS-4: malformed ensemble files are refused by name", "[ensemble][model_io][bad_input]") {
    const model_config c = test_util::small_config();
    const std::string good = temp_path("ens_good.safetensors"), bad = temp_path("ens_bad.safetensors");
    io::save_model(nar_student<float>::ensemble(make_members(c, 3)), good);
    const file_image base = read_image(good);
    struct row {
        const char* what;
        std::function<void(file_image&)> edit;
        const char* message;
    };
    const std::vector<row> rows = {
        {"members 1", [](file_image& im) { im.meta["members"] = "1"; }, "expected an integer from 2 to 64"},
        {"members 65", [](file_image& im) { im.meta["members"] = "65"; }, "expected an integer from 2 to 64"},
        {"members 03", [](file_image& im) { im.meta["members"] = "03"; }, "\"03\""},
        {"members x", [](file_image& im) { im.meta["members"] = "x"; }, "\"x\""},
        {"members -3", [](file_image& im) { im.meta["members"] = "-3"; }, "\"-3\""},
        {"members 99999999999", [](file_image& im) { im.meta["members"] = "99999999999"; }, "expected an integer"},
        {"members without version 3", [](file_image& im) { im.meta["format_version"] = "2"; }, "needs format_version 3"},
        {"version 3 without members", [](file_image& im) { im.meta.erase("members"); }, "requires __metadata__[\"members\"]"},
        {"members 4 for 3 members", [](file_image& im) { im.meta["members"] = "4"; }, "missing tensor \"member.3."},
        {"a member's tensor missing",
         [](file_image& im) {
             im.names.erase(std::find(im.names.begin(), im.names.end(), "member.1.slot_queries"));
         },
         "missing tensor \"member.1.slot_queries\""},
        {"an unknown tensor", [](file_image& im) { rename_tensor(im, "member.2.slot_queries", "member.3.slot_queries"); },
         "missing tensor \"member.2.slot_queries\""},
        {"an extra member's tensor", [](file_image& im) { add_copy(im, "member.0.slot_queries", "member.3.slot_queries"); },
         "unknown tensor \"member.3.slot_queries\""},
        {"a plain tensor next to the members", [](file_image& im) { add_copy(im, "member.0.slot_queries", "slot_queries"); },
         "unknown tensor \"slot_queries\""},
        {"a member's weight changed",
         [](file_image& im) { im.f32.at("member.2.pointer.q.weight")[3] += 0.5f; }, "self-test failed"},
        {"a non-finite member weight",
         [](file_image& im) { im.f32.at("member.1.pointer.k.weight")[0] = std::numeric_limits<float>::infinity(); },
         "\"member.1.pointer.k.weight\" holds a non-finite value"},
        {"an ensemble teacher", [](file_image& im) { im.meta["kind"] = "ar_teacher"; }, "only a nar_student can be an ensemble"},
    };
    for (const row& r : rows) {
        INFO(r.what);
        file_image im = base;
        r.edit(im);
        write_image(im, bad);
        if (std::string(r.what) == "an ensemble teacher") {
            CHECK_THROWS_PART(format_error, io::load_model<ar_teacher<float>>(bad), r.message);
            CHECK_THROWS_PART(format_error, serving::load_any_model(bad), r.message);
        } else {
            CHECK_THROWS_PART(format_error, io::load_model<nar_student<float>>(bad), r.message);
        }
    }
    // the rewrite itself is faithful: the unedited image loads
    write_image(base, bad);
    CHECK(io::load_model<nar_student<float>>(bad).members() == 3);
    std::remove(good.c_str());
    std::remove(bad.c_str());
}

TEST_CASE("ENS-5: an ensemble's workspace bound covers its sampled decoders in one planned block", "[ensemble][memory]") {
    const model_config c = test_util::small_config();
    const nar_student<float> e = nar_student<float>::ensemble(make_members(c, 3));
    const auto reqs = test_util::random_requests<float>(c, 1, 12, 21);
    const int L = 4, K = 6;
    workload w;
    w.n = 12;
    w.L = L;
    w.samples = K;
    const std::size_t one = max_workspace_bytes<float>(c, model_kind::student, w);
    const std::size_t bound = e.workspace_bound(w);
    CHECK(e.member(1).workspace_bound(w) == one);  // a single student: the config's bound
    CHECK(bound > 2 * one);
    // a budget of exactly the ensemble's bound is enough for K sampled slates, and the call stays
    // inside the one block it planned (no spill into a second block)
    workspace ws;
    ws.set_budget(bound);
    std::vector<int> out(std::size_t(K) * L);
    std::vector<float> lp(K);
    REQUIRE_NOTHROW(decode::student_sample(e, reqs[0].view(), L, K, 1.0, counter_key::from_seed(3), 0, out.data(), lp.data(), ws));
    CHECK(ws.peak_bytes() <= bound);
    CHECK(ws.capacity_bytes() <= bound);
    // the sampled slates are the ensemble's: the same as sampling from its mean logits
    std::vector<float> Z(std::size_t(L) * 12);
    workspace ws2;
    e.logits(reqs[0].view(), L, Z.data(), ws2);
    std::vector<int> ref(out.size());
    std::vector<float> lpr(K);
    ws2.reset();
    decode::sample_slates(Z.data(), L, 12, 12, 1.0, counter_key::from_seed(3), 0, K, ref.data(), lpr.data(), ws2);
    CHECK(out == ref);
    // a budget for one member is refused up front, naming the sampler's entry point
    workspace tight;
    tight.set_budget(one);
    CHECK_THROWS_PART(input_error,
                      decode::student_sample(e, reqs[0].view(), L, K, 1.0, counter_key::from_seed(3), 0, out.data(), lp.data(), tight),
                      "student_sample");
}

}  // namespace dualrerank_test_ensemble
