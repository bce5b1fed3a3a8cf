// The one include of xsimd (and through it <immintrin.h>), with GCC 12's false positive silenced.
//
// GCC 12 with AVX-512 enabled (-march=native on an AVX-512 machine, -mavx512f) warns
// "'__Y' may be used uninitialized" inside its own avx512fintrin.h when xsimd's AVX-512 kernels
// are inlined (GCC bug 105593: the intrinsics start from _mm512_undefined_*; fixed in GCC 13).
// The warning is attributed to the header's own lines, so the state of the diagnostic there is
// the one in force where <immintrin.h> is first read: here, with -Wuninitialized and
// -Wmaybe-uninitialized off, restored right after. A consumer that includes <immintrin.h>
// (or Eigen, which does) before dualrerank gets its own state; docs/install.md says what to do.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#pragma GCC diagnostic pop
#else
#include <xsimd/xsimd.hpp>
#endif
