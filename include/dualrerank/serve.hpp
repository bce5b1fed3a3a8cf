// dualrerank/serve.hpp: what a ranking server includes (docs/serving.md). The front door
// (serving::reranker, serving::session, serving::load_any_model) and, in the default header-only
// mode, what it is made of: core, layers, models, decoders and model loading (safetensors and the
// small JSON parser its header needs). No trainer, no simulator, no JSON-lines request reader, no
// LETOR reader, no metrics: include those headers (or dualrerank.hpp) when you need them. The
// Eigen adapter is a separate opt-in header: dualrerank/eigen.hpp.
//
// With DUALRERANK_COMPILED_LIB (link dualrerank::compiled) this header declares the front door
// only and its definitions come from the library, so a serving translation unit parses no model,
// layer, SIMD or file-format header (docs/performance.md "Compile time").
//
// The namespace is `serving`, not `serve`: code that says `using namespace dualrerank;` often has
// a function of its own called serve (three in this repository's tests and examples), and a
// namespace of that name would make every such call ambiguous.
#pragma once

#include "version.hpp"

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/rng.hpp"
#include "core/workspace.hpp"
#include "model/config.hpp"

#include "serve/any_model.hpp"
#include "serve/reranker.hpp"

#ifndef DUALRERANK_COMPILED_LIB
#include "model/ar_teacher.hpp"
#include "model/nar_student.hpp"
#include "model/evaluator.hpp"

#include "decode/greedy.hpp"
#include "decode/sample.hpp"
#include "decode/gumbel.hpp"
#include "decode/best_of_n.hpp"

#include "io/model_io.hpp"

#include "serve/reranker_impl.hpp"
#endif
