// Fused multi-step IF/LIF/PLIF/LIAF kernels (snnmodels cupy backend).
//
// One thread per neuron, sequential loop over T with stride M ([T, M] time-major layout).
// Inputs/outputs are `scalar_t` (float or half_t); the state, H and all arithmetic are fp32.
// The configuration arrives as #defines prepended by source.py:
//   SCALAR_T (float|half_t), KIND (0 IF, 1 LIF, 2 PLIF), HARD, DECAY_INPUT, DETACH,
//   SURR (0 sigmoid, 1 atan, 2 piecewise quadratic), OUT (0 spike, 1 relu, 2 identity), TR,
//   STORE_H, STORE_V, HAS_GVS, DET_GK (PLIF: deterministic dL/dk, see snn_backward).
// Compiled with --fmad=false and without fast math so that every operation rounds like the
// separate torch element-wise kernels: spikes and potentials then equal the torch backend's.
#ifdef SNN_HOST_EMULATION
// The host emulation of the tests (tests/snnmodels/cuda_host): binary16 from its shim header.
#include <cuda_fp16.h>
typedef __half half_t;
__device__ __forceinline__ float half_to_float(half_t v) { return __half2float(v); }
__device__ __forceinline__ half_t float_to_half(float v) { return __float2half_rn(v); }
#else
// No <cuda_fp16.h>: CuPy >= 14 wheels ship no CUDA headers (only a CUDA toolkit or CuPy's [ctk]
// extra brings them), and these kernels need just the two conversions. They are the PTX
// instructions that __half2float and __float2half_rn (round to nearest even) compile to.
struct half_t { unsigned short bits; };
__device__ __forceinline__ float half_to_float(half_t v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
    return f;
}
__device__ __forceinline__ half_t float_to_half(float v) {
    half_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(v));
    return h;
}
#endif

typedef SCALAR_T scalar_t;
// PLIF's dL/dk accumulator: float summed with one atomicAdd per block (fast, order varies from
// run to run), or double written as one partial sum per block that the host adds in a fixed
// order (DET_GK: the same result on every run, within rounding of the numba backend's float64 sum).
#if DET_GK
typedef double acc_t;
#else
typedef float acc_t;
#endif

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(half_t v) { return half_to_float(v); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(half_t* p, float v) { *p = float_to_half(v); }

__device__ __forceinline__ float reset_of(float h, float th, float vr) {
#if HARD
    return h >= th ? vr : h;
#else
    return h >= th ? h - th : h;
#endif
}

extern "C" __global__ void snn_forward(
    const scalar_t* __restrict__ x, const float* __restrict__ v0, const float* __restrict__ kp,
    const float th, const float vr, const float tau,
    float* __restrict__ h_out, scalar_t* __restrict__ y_out, float* __restrict__ vseq_out,
    float* __restrict__ v_last, const long long M, const int T)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= M) return;
#if KIND == 2
    const float k = kp[0];
#endif
    float v = v0[j];
    for (int t = 0; t < T; ++t) {
        const long long i = (long long)t * M + j;
        const float xi = to_f(x[i]);
        float h;
#if KIND == 0
        h = v + xi;
#elif KIND == 1
  #if DECAY_INPUT
        h = v + (xi - (v - vr)) / tau;
  #else
        h = v - (v - vr) / tau + xi;
  #endif
#else
  #if DECAY_INPUT
        h = v + (xi - (v - vr)) * k;
  #else
        h = v - (v - vr) * k + xi;
  #endif
#endif
#if STORE_H
        h_out[i] = h;
#endif
#if OUT == 0
        store(&y_out[i], h >= th ? 1.0f : 0.0f);
#else
  #if TR
        float y = h - th;
  #else
        float y = h;
  #endif
  #if OUT == 1
        y = y > 0.0f ? y : 0.0f;
  #endif
        store(&y_out[i], y);
#endif
        v = reset_of(h, th, vr);
#if STORE_V
        vseq_out[i] = v;
#endif
    }
    v_last[j] = v;
}

extern "C" __global__ void snn_backward(
    const float* __restrict__ h, const float* __restrict__ v0, const float* __restrict__ kp,
    const scalar_t* __restrict__ gy, const float* __restrict__ gvl, const float* __restrict__ gvs,
    const float th, const float vr, const float tau, const float a1, const float a2,
    scalar_t* __restrict__ gx, float* __restrict__ gv0, acc_t* __restrict__ gk,
    const long long M, const int T)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
#if KIND == 2
    extern __shared__ acc_t red[];
    const float k = kp[0];
    acc_t acc = 0;
#endif
    if (j < M) {
        float carry = gvl[j];  // dL/dV[t] coming from the future
        for (int t = T - 1; t >= 0; --t) {
            const long long i = (long long)t * M + j;
            const float hh = h[i];
            const float u = hh - th;
#if SURR == 0
            const float s_ = 1.0f / (1.0f + expf(-(a1 * u)));
            const float sg = (1.0f - s_) * s_ * a1;
#elif SURR == 1
            const float z = u * a1;
            const float sg = a2 / (1.0f + z * z);
#else
            float sg = a1 - a2 * fabsf(u);
            sg = sg > 0.0f ? sg : 0.0f;
#endif
#if HARD
            float dvdh = hh >= th ? 0.0f : 1.0f;
  #if !DETACH
            dvdh = dvdh + (vr - hh) * sg;
  #endif
#else
  #if DETACH
            const float dvdh = 1.0f;
  #else
            const float dvdh = 1.0f - th * sg;
  #endif
#endif
            float gv = carry;
#if HAS_GVS
            gv = gv + gvs[i];
#endif
#if OUT == 0
            float gh = to_f(gy[i]) * sg;
#else
            float gh = to_f(gy[i]);
  #if OUT == 1
    #if TR
            gh = (hh - th) > 0.0f ? gh : 0.0f;
    #else
            gh = hh > 0.0f ? gh : 0.0f;
    #endif
  #endif
#endif
            gh = gh + gv * dvdh;
#if KIND == 0
            store(&gx[i], gh);
            carry = gh;
#elif KIND == 1
  #if DECAY_INPUT
            store(&gx[i], gh / tau);
  #else
            store(&gx[i], gh);
  #endif
            carry = gh - gh / tau;
#else
  #if DECAY_INPUT
            store(&gx[i], gh * k);
  #else
            store(&gx[i], gh);
  #endif
            carry = gh - gh * k;
            const float vp = t > 0 ? reset_of(h[i - M], th, vr) : v0[j];
  #if DECAY_INPUT
            acc += gh * ((hh - vp) / k);
  #else
            acc -= gh * (vp - vr);
  #endif
#endif
        }
        gv0[j] = carry;
    }
#if KIND == 2
    // Block tree reduction of the dL/dk partial sums (blockDim.x must be a power of two: the
    // host checks it where the block size is chosen). Every thread of the block, also those
    // past M, takes part, so __syncthreads is reached by all of them.
    red[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
  #if DET_GK
    if (threadIdx.x == 0) gk[blockIdx.x] = red[0];  // one partial per block, summed by the host
  #else
    if (threadIdx.x == 0) atomicAdd(gk, red[0]);
  #endif
#endif
}
