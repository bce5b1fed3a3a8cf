// Writes the generated seed files of the fuzz corpora (run by tools/fuzz.sh --make-corpus; the
// output is committed under tests/fuzz/corpus/):
//   safetensors/  small files of every dtype, a scalar, an empty tensor, metadata, no CRC
//   model_load/   a teacher, a student and an evaluator with a tiny config, with and without the
//                 embedded self-test, with and without context / rank embedding
// The LETOR, JSON, JSON-lines and inference seeds are small hand-written files.
//
// usage: make_corpus <corpus dir>
#include <cstdio>
#include <fstream>
#include <string>

#include <dualrerank/dualrerank.hpp>

using namespace dualrerank;

namespace {

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<std::uint8_t> slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

model_config tiny(int context, bool rank) {
    model_config c;
    c.features = 3;
    c.context = context;
    c.d = 4;
    c.heads = 2;
    c.enc_layers = 1;
    c.dec_layers = 1;
    c.ffn = 4;
    c.max_slate = 3;
    c.max_candidates = 5;
    c.rank_embedding = rank;
    return c;
}

template <class Model>
void model_file(const std::string& dir, const std::string& name, const model_config& c, bool verify, std::uint64_t seed) {
    Model m(c);
    m.init(seed);
    io::save_options o;
    o.embed_verification = verify;
    io::save_model(m, dir + "/" + name, o);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_corpus <corpus dir>\n");
        return 2;
    }
    const std::string root = argv[1];
    const std::string st = root + "/safetensors", ml = root + "/model_load";

    // safetensors: one file per dtype family, plus edge cases
    {
        const float f32[6] = {1.0f, -2.5f, 0.0f, 3.25f, -0.0f, 1e-3f};
        const double f64[2] = {1.5, -7.0};
        const std::uint16_t f16[3] = {io::float_to_f16(1.0f), io::float_to_f16(-2.0f), io::float_to_f16(65504.0f)};
        const std::uint16_t bf16[2] = {io::float_to_bf16(3.0f), io::float_to_bf16(-1e30f)};
        const std::int64_t i64[3] = {-1, 0, 1LL << 40};
        const std::uint64_t u64[1] = {~0ULL};
        const std::int32_t i32[2] = {-5, 7};
        const std::uint32_t u32[1] = {4000000000u};
        const std::int16_t i16[2] = {-300, 300};
        const std::uint16_t u16[1] = {65535};
        const std::int8_t i8[3] = {-128, 0, 127};
        const std::uint8_t u8[2] = {0, 255};
        const std::uint8_t b[3] = {1, 0, 1};
        using io::dtype;
        write(st + "/floats.safetensors",
              io::write_safetensors_bytes({{"w", dtype::f32, {2, 3}, f32}, {"d", dtype::f64, {2}, f64},
                                           {"h", dtype::f16, {3}, f16}, {"b", dtype::bf16, {2, 1}, bf16}},
                                          {{"note", "floats"}}));
        write(st + "/ints.safetensors",
              io::write_safetensors_bytes({{"i64", dtype::i64, {3}, i64}, {"u64", dtype::u64, {1}, u64},
                                           {"i32", dtype::i32, {2}, i32}, {"u32", dtype::u32, {}, u32},
                                           {"i16", dtype::i16, {2}, i16}, {"u16", dtype::u16, {1}, u16},
                                           {"i8", dtype::i8, {3}, i8}, {"u8", dtype::u8, {2}, u8},
                                           {"flag", dtype::boolean, {3}, b}}));
        io::safetensors_write_options no_crc;
        no_crc.checksum = false;
        write(st + "/no_crc.safetensors",
              io::write_safetensors_bytes({{"w", dtype::f32, {3, 2}, f32}, {"empty", dtype::f32, {0, 4}, nullptr}}, {},
                                          no_crc));
        write(st + "/empty.safetensors", io::write_safetensors_bytes({}, {}, no_crc));
    }

    model_file<ar_teacher<float>>(ml, "teacher.safetensors", tiny(2, false), true, 1);
    model_file<nar_student<float>>(ml, "student.safetensors", tiny(2, false), true, 2);
    model_file<list_evaluator<float>>(ml, "evaluator.safetensors", tiny(2, false), true, 3);
    model_file<nar_student<float>>(ml, "student_rank_noctx.safetensors", tiny(0, true), true, 4);
    model_file<ar_teacher<float>>(ml, "teacher_noverify.safetensors", tiny(0, false), false, 5);
    model_file<list_evaluator<double>>(ml, "evaluator_f64.safetensors", tiny(1, false), true, 6);
    // the model files are also good safetensors seeds
    write(st + "/student_model.safetensors", slurp(ml + "/student.safetensors"));
    std::printf("corpus written under %s\n", root.c_str());
    return 0;
}
