#include "core/version.h"

#ifndef FERRUM_VERSION_STRING
#define FERRUM_VERSION_STRING "unknown"
#endif
#ifndef FERRUM_GIT_COMMIT
#define FERRUM_GIT_COMMIT "unknown"
#endif

namespace ferrum {

const char* ferrum_version() { return FERRUM_VERSION_STRING; }
const char* ferrum_git_commit() { return FERRUM_GIT_COMMIT; }

const char* ferrum_build_flags() {
  return ""
#ifdef NDEBUG
         "release"
#else
         "debug"
#endif
#ifdef __AVX2__
         " avx2"
#endif
#ifdef __FMA__
         " fma"
#endif
#ifdef __AVX512F__
         " avx512f"
#endif
#ifdef __AVX512BF16__
         " avx512bf16"
#endif
#ifdef __AVX512VNNI__
         " avx512vnni"
#endif
#ifdef __F16C__
         " f16c"
#endif
      ;
}

}  // namespace ferrum
