// dualrerank/serve.hpp: what a ranking server includes (docs/serving.md). Core, layers, models,
// decoders, model loading (safetensors and the small JSON parser its header needs) and the
// front door (serve::reranker, serve::session). No trainer, no simulator, no JSON-lines request
// reader, no LETOR reader, no metrics: include those headers (or dualrerank.hpp) when you need them.
// The Eigen adapter is a separate opt-in header: dualrerank/eigen.hpp.
#pragma once

#include "version.hpp"

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/rng.hpp"
#include "core/workspace.hpp"

#include "model/config.hpp"
#include "model/ar_teacher.hpp"
#include "model/nar_student.hpp"
#include "model/evaluator.hpp"

#include "decode/greedy.hpp"
#include "decode/sample.hpp"
#include "decode/gumbel.hpp"
#include "decode/best_of_n.hpp"

#include "io/model_io.hpp"

#include "serve/any_model.hpp"
#include "serve/reranker.hpp"
