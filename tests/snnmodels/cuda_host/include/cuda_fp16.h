// Host stand-in for CUDA's <cuda_fp16.h> (tests only): __half is GCC's _Float16, an IEEE binary16.
// float -> _Float16 rounds to nearest, ties to even (the default rounding mode), overflow gives
// inf, like __float2half_rn; _Float16 -> float is exact, like __half2float. The test suite checks
// both against numpy's float16 conversion on ties, subnormals and overflow.
#pragma once

typedef _Float16 __half;

static inline __half __float2half_rn(float f) { return static_cast<_Float16>(f); }
static inline float __half2float(__half h) { return static_cast<float>(h); }
