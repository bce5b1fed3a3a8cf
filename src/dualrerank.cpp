// dualrerank::compiled (CMake option DUALRERANK_BUILD_COMPILED): the serving front door compiled
// once, like spdlog's and fmt's compiled modes. Translation units that include
// <dualrerank/serve.hpp> with DUALRERANK_COMPILED_LIB defined (the target defines it for its
// users) see only the declarations of serve/reranker.hpp and serve/any_model.hpp; the definitions,
// and with them every float instantiation of the models, layers, decoders and loaders the front
// door uses, live here. docs/serving.md "Compiled mode"; docs/performance.md "Compile time".
#ifndef DUALRERANK_COMPILED_LIB
#error "compile src/dualrerank.cpp with DUALRERANK_COMPILED_LIB defined (the dualrerank::compiled target does)"
#endif

#include <dualrerank/serve/reranker_impl.hpp>
