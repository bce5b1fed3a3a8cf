// dualrerank: the one header a user includes (and the root of the single-header amalgamation).
#pragma once

#include "version.hpp"

#include "core/aligned.hpp"
#include "core/error.hpp"
#include "core/params.hpp"
#include "core/request.hpp"
#include "core/rng.hpp"
#include "core/simd.hpp"
#include "core/workspace.hpp"

#include "nn/ops.hpp"
#include "nn/gemm.hpp"
#include "nn/linear.hpp"
#include "nn/layer_norm.hpp"
#include "nn/ffn.hpp"
#include "nn/attention.hpp"
#include "nn/block.hpp"

#include "model/config.hpp"
#include "model/model_base.hpp"
#include "model/batch.hpp"
#include "model/encoder.hpp"
#include "model/pointer.hpp"
#include "model/decoder_stack.hpp"
#include "model/nar_student.hpp"
#include "model/ar_teacher.hpp"
#include "model/evaluator.hpp"
#include "model/pointwise.hpp"
#include "model/page_evaluator.hpp"

#include "train/losses.hpp"
#include "train/adamw.hpp"
#include "train/trainer.hpp"
#include "train/skd.hpp"
#include "train/rl.hpp"
#include "train/checkpoint.hpp"
#include "train/dpo.hpp"
#include "train/evaluator_fit.hpp"
#include "train/feature_norm.hpp"
#include "train/online.hpp"

#include "decode/greedy.hpp"
#include "decode/sample.hpp"
#include "decode/gumbel.hpp"
#include "decode/best_of_n.hpp"
#include "decode/page_search.hpp"
#include "decode/full_order.hpp"

#include "data/letor.hpp"

#include "io/json.hpp"
#include "io/safetensors.hpp"
#include "io/model_io.hpp"
#include "io/page_evaluator_io.hpp"
#include "io/jsonl.hpp"
#include "io/impression_log.hpp"

#include "eval/metrics.hpp"

#include "serve.hpp"
