// Host emulation of the CUDA features that snnmodels' kernels use (tests only).
//
// A kernel is compiled as plain C++20 and launched block after block; each block runs one
// std::thread per CUDA thread, so __syncthreads() is a real barrier (std::barrier) and
// shared-memory races would show up as wrong results. threadIdx/blockIdx are thread-local,
// blockDim/gridDim global for the launch. A thread that returns leaves the barrier
// (arrive_and_drop, so the rest never deadlock), and the launcher then reports a block whose
// threads reached __syncthreads a different number of times: that is undefined on a GPU.
// Dynamic shared memory (extern __shared__) is one buffer per kernel, filled with NaN bytes
// before every block so that reading a slot nobody wrote shows up. atomicAdd is std::atomic_ref.
// Compile with -ffp-contract=off: the backend compiles with --fmad=false.
#pragma once

#include <math.h>

#include <atomic>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// neuron.cu takes its binary16 type from <cuda_fp16.h> under this macro (on a GPU it uses PTX).
#define SNN_HOST_EMULATION 1

// Included here, before any kernel source, so that its types live in the global namespace even
// when the emulation wraps a kernel source in a namespace (several configurations per library).
#include "cuda_fp16.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
// __restrict__ is a GCC keyword already.

struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };

inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline dim3 blockDim{1, 1, 1};
inline dim3 gridDim{1, 1, 1};

namespace emu {
inline std::barrier<>* block_barrier = nullptr;
inline thread_local long syncs = 0;
}  // namespace emu

inline void __syncthreads() {
    ++emu::syncs;
    emu::block_barrier->arrive_and_wait();
}

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline double atomicAdd(double* p, double v) { return std::atomic_ref<double>(*p).fetch_add(v); }
inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) {
    return std::atomic_ref<unsigned int>(*p).fetch_add(v);
}

namespace emu {

// One dynamic shared-memory buffer per `extern __shared__` name (registered by EMU_SHARED).
struct SharedBuf { void* ptr; std::size_t bytes; };
inline std::vector<SharedBuf>& shared_bufs() { static std::vector<SharedBuf> v; return v; }
constexpr std::size_t kSharedBytes = 48 * 1024;  // CUDA's default dynamic shared-memory limit
struct RegisterShared {
    RegisterShared(void* p, std::size_t n) { shared_bufs().push_back({p, n}); }
};

// Parameter type codes for the Python side: kind * 100 + sizeof (kind 1 pointer, 2 floating
// point, 3 signed integer, 4 unsigned integer), to check the argument tuple it packs.
template <class T>
constexpr int type_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) return 100 + int(sizeof(U));
    else if constexpr (std::is_floating_point_v<U>) return 200 + int(sizeof(U));
    else if constexpr (std::is_signed_v<U>) return 300 + int(sizeof(U));
    else return 400 + int(sizeof(U));
}

template <class... A>
int signature(void (*)(A...), int* codes, int cap) {
    constexpr int n = sizeof...(A);
    const int c[n + 1] = {type_code<A>()..., 0};
    for (int i = 0; i < n && i < cap; ++i) codes[i] = c[i];
    return n;
}

template <class... A, std::size_t... I>
void call(void (*f)(A...), void** params, std::index_sequence<I...>) {
    // params[i] points at the value of parameter i (cuLaunchKernel's kernelParams convention)
    f(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}

// Calls kernel f (type-erased as void*) with params: the only per-kernel template, so that the
// thread machinery below is compiled once per library, not once per kernel.
template <class... A>
void invoke(void* f, void** params) {
    call(reinterpret_cast<void (*)(A...)>(f), params, std::index_sequence_for<A...>{});
}

inline void set_error(char* err, std::size_t len, const char* msg) {
    if (err && len) { std::strncpy(err, msg, len - 1); err[len - 1] = 0; }
}

inline std::mutex& launch_mutex() { static std::mutex m; return m; }

// Returns 0, or 1 with a message in err (an invalid launch configuration, too much shared
// memory, or a block whose threads disagree on the number of __syncthreads calls).
inline int launch_erased(void (*run)(void*, void**), void* f, unsigned grid, unsigned block,
                         std::size_t shared, void** params, char* err, std::size_t errlen) {
    std::lock_guard<std::mutex> lock(launch_mutex());
    if (grid == 0 || block == 0 || block > 1024) {
        set_error(err, errlen, "invalid configuration argument (zero blocks, zero threads or more than 1024 threads per block)");
        return 1;
    }
    if (shared > kSharedBytes) {
        set_error(err, errlen, "too much dynamic shared memory requested");
        return 1;
    }
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    std::vector<long> counts(block);
    for (unsigned b = 0; b < grid; ++b) {
        for (auto& s : shared_bufs()) std::memset(s.ptr, 0xff, s.bytes);  // NaN bytes
        std::barrier<> bar(static_cast<std::ptrdiff_t>(block));
        block_barrier = &bar;
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([&, t, b] {
                threadIdx = uint3{t, 0, 0};
                blockIdx = uint3{b, 0, 0};
                syncs = 0;
                run(f, params);
                counts[t] = syncs;
                bar.arrive_and_drop();
            });
        }
        for (auto& th : threads) th.join();
        block_barrier = nullptr;
        for (unsigned t = 1; t < block; ++t) {
            if (counts[t] != counts[0]) {
                set_error(err, errlen, "threads of one block reached __syncthreads a different number of times");
                return 1;
            }
        }
    }
    return 0;
}

template <class... A>
int launch(void (*f)(A...), unsigned grid, unsigned block, std::size_t shared, void** params,
           char* err, std::size_t errlen) {
    return launch_erased(&invoke<A...>, reinterpret_cast<void*>(f), grid, block, shared, params,
                         err, errlen);
}

}  // namespace emu

// Exported per kernel: emu_launch_<name>(grid, block, shared, params, err, errlen) and
// emu_signature_<name>(codes, cap).
#define EMU_EXPORT(name)                                                                      \
    extern "C" int emu_launch_##name(unsigned grid, unsigned block, std::size_t shared,        \
                                      void** params, char* err, std::size_t errlen) {          \
        return emu::launch(&name, grid, block, shared, params, err, errlen);                   \
    }                                                                                          \
    extern "C" int emu_signature_##name(int* codes, int cap) {                                 \
        return emu::signature(&name, codes, cap);                                              \
    }

// Defines the buffer behind `extern __shared__ type name[]` (the kernel's own declaration).
#define EMU_SHARED(type, name)                                                                 \
    type name[emu::kSharedBytes / sizeof(type)];                                               \
    static emu::RegisterShared emu_register_##name(name, sizeof(name));
