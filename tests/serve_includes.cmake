# CTest serve_header_includes: what a translation unit that includes only <dualrerank/serve.hpp>
# parses, read from the compiler's -H list (GCC and Clang). In the default header-only mode it may
# include core, nn, model, decode, io/model_io.hpp, io/safetensors.hpp, io/json.hpp and serve/, but
# no trainer (train/), simulator (sim/), JSON-lines reader (io/jsonl.hpp), LETOR reader (data/),
# metrics (eval/) or Eigen. With DUALRERANK_COMPILED_LIB it includes serve/ declarations only: no
# model implementation, decoder, layer, file-format or SIMD header (xsimd) at all.
#   cmake -DCXX=<compiler> -DINCLUDE=<repo>/include -DEXTRA_INCLUDES=<xsimd dirs> -DWORK_DIR=<dir> -P serve_includes.cmake
foreach(_v CXX INCLUDE WORK_DIR)
  if(NOT ${_v})
    message(FATAL_ERROR "serve_includes.cmake: pass -D${_v}=...")
  endif()
endforeach()
file(WRITE "${WORK_DIR}/serve_includes_tu.cpp" "#include <dualrerank/serve.hpp>\nint main() { return 0; }\n")
set(_incs "-I${INCLUDE}")
foreach(_d IN LISTS EXTRA_INCLUDES)
  if(_d)
    list(APPEND _incs "-I${_d}")
  endif()
endforeach()

function(list_includes out)
  execute_process(COMMAND "${CXX}" -std=c++17 -fsyntax-only -H ${_incs} ${ARGN} "${WORK_DIR}/serve_includes_tu.cpp"
                  RESULT_VARIABLE _rc OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "serve_includes.cmake: the translation unit does not compile (${ARGN}):\n${_e}")
  endif()
  # normalise dualrerank/serve/../nn/ops.hpp to dualrerank/nn/ops.hpp
  set(_prev "")
  while(NOT _prev STREQUAL _e)
    set(_prev "${_e}")
    string(REGEX REPLACE "/[A-Za-z0-9_]+/\\.\\./" "/" _e "${_e}")
  endwhile()
  set(${out} "${_e}" PARENT_SCOPE)
endfunction()

set(_failed "")
list_includes(_header_only)
foreach(_bad "dualrerank/train/" "dualrerank/sim/" "dualrerank/eval/" "dualrerank/data/" "dualrerank/io/jsonl.hpp" "Eigen/")
  string(FIND "${_header_only}" "${_bad}" _at)
  if(NOT _at EQUAL -1)
    list(APPEND _failed "header-only serve.hpp includes ${_bad}")
  endif()
endforeach()
foreach(_need "dualrerank/serve/reranker_impl.hpp" "dualrerank/io/model_io.hpp")
  string(FIND "${_header_only}" "${_need}" _at)
  if(_at EQUAL -1)
    list(APPEND _failed "header-only serve.hpp does not include ${_need} (is -H working?)")
  endif()
endforeach()

list_includes(_compiled -DDUALRERANK_COMPILED_LIB)
foreach(_bad "dualrerank/train/" "dualrerank/sim/" "dualrerank/eval/" "dualrerank/data/" "dualrerank/io/" "dualrerank/nn/"
             "dualrerank/decode/" "dualrerank/model/ar_teacher.hpp" "dualrerank/model/nar_student.hpp"
             "dualrerank/serve/reranker_impl.hpp" "xsimd/" "Eigen/")
  string(FIND "${_compiled}" "${_bad}" _at)
  if(NOT _at EQUAL -1)
    list(APPEND _failed "serve.hpp with DUALRERANK_COMPILED_LIB includes ${_bad}")
  endif()
endforeach()

if(_failed)
  string(REPLACE ";" "\n  " _msg "${_failed}")
  message(FATAL_ERROR "serve_includes.cmake:\n  ${_msg}")
endif()
message(STATUS "serve.hpp: no trainer, simulator, JSON-lines or LETOR reader, metrics or Eigen; compiled mode: declarations only")
