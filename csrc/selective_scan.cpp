// dfn4's fused selective scan for training: the Mamba SSM recurrence as one autograd operation with a
// hand-written backward, for src/backend/tch/fused_scan.rs (tch 0.24 cannot define autograd functions).
//
//   h[b,t,d,n] = exp(delta[b,t,d] * A[d,n]) * h[b,t-1,d,n] + delta[b,t,d] * u[b,t,d] * B[b,t,n]
//   y[b,t,d]   = sum_n h[b,t,d,n] * C[b,t,n]                                  (h[b,-1] = 0)
//
// The tensor form (src/backend/tch/scan.rs) builds a, b and h as [B, T, D, N] tensors and passes over them
// a few dozen times, forward and backward, through autograd. Here the forward walks time once per
// (b, d, n) in a register and writes h once (the backward reads it back instead of recomputing it); the
// backward walks time in reverse once, with dL/dh in a register. On CUDA both are single kernels, compiled
// at first use with NVRTC for the device's architecture (no nvcc needed where the trainer runs) and
// launched through the driver API on PyTorch's current stream; both libraries are opened with dlopen, so
// this object links only against libtorch and the CUDA runtime. On the CPU the same loops run in C++
// (float or double): that is what the gradient tests check against the tensor form in CI.
//
// C ABI: dfn4_ss_abi_version, dfn4_ss_last_error, dfn4_ss_apply (0 on success, 1 with the message in
// dfn4_ss_last_error on failure). Tensors are libtorch's at::Tensor*, as tch's C API passes them.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dirent.h>
#include <dlfcn.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstddef>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "guarded.h"

#define DFN4_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Bumped whenever a signature below changes; the Rust loader refuses a mismatching object.
constexpr int kAbiVersion = 1;
// The CUDA kernels hold one (d, n) pair per thread, 16 d by 16 n per block of 256 threads.
constexpr int kStateN = 16;
constexpr int kDPerBlock = 16;

// ---------------------------------------------------------------------------------------------------
// CUDA kernels (compiled at run time by NVRTC; no headers needed).
const char* kKernels = R"CUDA(
extern "C" __global__ void __launch_bounds__(256)
dfn4_ss_fwd(const float* __restrict__ u, const float* __restrict__ delta, const float* __restrict__ A,
            const float* __restrict__ Bm, const float* __restrict__ Cm, float* __restrict__ y,
            float* __restrict__ hs, int T, int D) {
    const int n = threadIdx.x & 15;
    const int d = blockIdx.x * 16 + (threadIdx.x >> 4);
    const long long bt = (long long)blockIdx.y * T;
    const float a_dn = A[d * 16 + n];
    float h = 0.f;
    // One step ahead: the loads of frame t+1 are in flight while frame t is computed.
    long long i = bt * D + d;
    float dt = delta[i], uu = u[i], bn = Bm[bt * 16 + n], cn = Cm[bt * 16 + n];
    for (int t = 0; t < T; ++t) {
        float dt1 = 0.f, uu1 = 0.f, bn1 = 0.f, cn1 = 0.f;
        if (t + 1 < T) {
            const long long j = i + D, k = (bt + t + 1) * 16 + n;
            dt1 = delta[j]; uu1 = u[j]; bn1 = Bm[k]; cn1 = Cm[k];
        }
        h = expf(dt * a_dn) * h + dt * uu * bn;
        hs[i * 16 + n] = h;
        float p = h * cn;
        p += __shfl_xor_sync(0xffffffffu, p, 8);
        p += __shfl_xor_sync(0xffffffffu, p, 4);
        p += __shfl_xor_sync(0xffffffffu, p, 2);
        p += __shfl_xor_sync(0xffffffffu, p, 1);
        if (n == 0) y[i] = p;
        i += D; dt = dt1; uu = uu1; bn = bn1; cn = cn1;
    }
}

// dL/dh_t = dy_t C_t + a_{t+1} dL/dh_{t+1}, walked from the last frame back. dB and dC sum over d: the
// two d of a warp by a shuffle, the eight warps of a block through shared memory (double-buffered by
// frame parity, so one barrier a frame suffices), the blocks by atomics. dA sums over b and t: in a
// register, then one atomic per thread.
extern "C" __global__ void __launch_bounds__(256)
dfn4_ss_bwd(const float* __restrict__ u, const float* __restrict__ delta, const float* __restrict__ A,
            const float* __restrict__ Bm, const float* __restrict__ Cm, const float* __restrict__ hs,
            const float* __restrict__ dy, float* __restrict__ du, float* __restrict__ ddelta,
            float* __restrict__ dA, float* __restrict__ dB, float* __restrict__ dC, int T, int D) {
    __shared__ float sb[2][8][16];
    __shared__ float sc[2][8][16];
    const int n = threadIdx.x & 15;
    const int lane = threadIdx.x & 31;
    const int w = threadIdx.x >> 5;
    const int d = blockIdx.x * 16 + (threadIdx.x >> 4);
    const long long bt = (long long)blockIdx.y * T;
    const float a_dn = A[d * 16 + n];
    float g = 0.f, da_acc = 0.f;
    for (int t = T - 1; t >= 0; --t) {
        const long long i = (bt + t) * D + d;
        const long long k = (bt + t) * 16 + n;
        const float dt = delta[i], uu = u[i], bn = Bm[k], cn = Cm[k], dyv = dy[i];
        const float h = hs[i * 16 + n];
        const float hp = t > 0 ? hs[(i - D) * 16 + n] : 0.f;
        const float a = expf(dt * a_dn);
        g += dyv * cn;
        const float da = g * hp;
        float ddt = da * a * a_dn + g * uu * bn;
        float duv = g * dt * bn;
        da_acc += da * a * dt;
        float dbv = g * dt * uu;
        float dcv = dyv * h;
        for (int off = 8; off > 0; off >>= 1) {
            ddt += __shfl_xor_sync(0xffffffffu, ddt, off);
            duv += __shfl_xor_sync(0xffffffffu, duv, off);
        }
        if (n == 0) { ddelta[i] = ddt; du[i] = duv; }
        dbv += __shfl_xor_sync(0xffffffffu, dbv, 16);
        dcv += __shfl_xor_sync(0xffffffffu, dcv, 16);
        const int buf = t & 1;
        if (lane < 16) { sb[buf][w][lane] = dbv; sc[buf][w][lane] = dcv; }
        __syncthreads();
        if (threadIdx.x < 32) {
            const int m = threadIdx.x & 15;
            float s = 0.f;
            if (threadIdx.x < 16) {
                for (int v = 0; v < 8; ++v) s += sb[buf][v][m];
                atomicAdd(&dB[(bt + t) * 16 + m], s);
            } else {
                for (int v = 0; v < 8; ++v) s += sc[buf][v][m];
                atomicAdd(&dC[(bt + t) * 16 + m], s);
            }
        }
        g *= a;
    }
    atomicAdd(&dA[d * 16 + n], da_acc);
}
)CUDA";

// ---------------------------------------------------------------------------------------------------
// NVRTC and the CUDA driver, opened at first use.
using NvrtcProgram = void*;
struct Nvrtc {
  int (*create)(NvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
  int (*compile)(NvrtcProgram, int, const char* const*);
  int (*log_size)(NvrtcProgram, size_t*);
  int (*log)(NvrtcProgram, char*);
  int (*cubin_size)(NvrtcProgram, size_t*);
  int (*cubin)(NvrtcProgram, char*);
  int (*destroy)(NvrtcProgram*);
};
struct Driver {
  CUresult (*ctx_get_current)(CUcontext*);
  CUresult (*module_load_data)(CUmodule*, const void*);
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*);
  CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                     CUstream, void**, void**);
  CUresult (*error_string)(CUresult, const char**);
};

template <typename F>
void resolve(void* lib, const char* name, F& out) {
  void* p = dlsym(lib, name);
  TORCH_CHECK(p != nullptr, "selective scan: ", name, " not found: ", dlerror());
  out = reinterpret_cast<F>(p);
}

// The folder (with its trailing '/', or empty) of the shared object that holds `symbol`.
bool folder_of(void* symbol, std::string& dir) {
  Dl_info info{};
  if (dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return false;
  dir = info.dli_fname;
  dir = dir.substr(0, dir.find_last_of('/') + 1);
  return true;
}

// libnvrtc: by soname, else beside the CUDA runtime that libtorch loaded (pip's nvidia/cu13/lib).
void* open_nvrtc() {
  if (const char* env = std::getenv("DFN4_NVRTC")) {
    if (void* h = dlopen(env, RTLD_NOW | RTLD_LOCAL)) return h;
  }
  for (const char* name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}) {
    if (void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return h;
  }
  if (std::string dir; folder_of(reinterpret_cast<void*>(&cudaFree), dir)) {
    for (const char* name : {"libnvrtc.so.13", "libnvrtc.so.12"}) {
      if (void* h = dlopen((dir + name).c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    }
  }
  TORCH_CHECK(false, "selective scan: cannot load libnvrtc (set DFN4_NVRTC to its path): ", dlerror());
}

// NVRTC opens libnvrtc-builtins by soname at compile time, which fails unless its folder is on the
// loader's path; loading it first from libnvrtc's own folder makes that lookup find it.
void preload_builtins(void* nvrtc_lib) {
  void* sym = dlsym(nvrtc_lib, "nvrtcCreateProgram");
  std::string dir;
  if (sym == nullptr || !folder_of(sym, dir)) return;
  DIR* d = opendir(dir.empty() ? "." : dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    std::string name(e->d_name);
    if (name.rfind("libnvrtc-builtins.so.", 0) == 0) {
      dlopen((dir + name).c_str(), RTLD_NOW | RTLD_GLOBAL);
    }
  }
  closedir(d);
}

const Nvrtc& nvrtc() {
  static const Nvrtc lib = [] {
    void* h = open_nvrtc();
    preload_builtins(h);
    Nvrtc n{};
    resolve(h, "nvrtcCreateProgram", n.create);
    resolve(h, "nvrtcCompileProgram", n.compile);
    resolve(h, "nvrtcGetProgramLogSize", n.log_size);
    resolve(h, "nvrtcGetProgramLog", n.log);
    resolve(h, "nvrtcGetCUBINSize", n.cubin_size);
    resolve(h, "nvrtcGetCUBIN", n.cubin);
    resolve(h, "nvrtcDestroyProgram", n.destroy);
    return n;
  }();
  return lib;
}

const Driver& driver() {
  static const Driver lib = [] {
    void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    TORCH_CHECK(h != nullptr, "selective scan: cannot load libcuda.so.1: ", dlerror());
    Driver d{};
    resolve(h, "cuCtxGetCurrent", d.ctx_get_current);
    resolve(h, "cuModuleLoadData", d.module_load_data);
    resolve(h, "cuModuleGetFunction", d.module_get_function);
    resolve(h, "cuLaunchKernel", d.launch);
    resolve(h, "cuGetErrorString", d.error_string);
    return d;
  }();
  return lib;
}

void check_cu(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* msg = nullptr;
  driver().error_string(r, &msg);
  TORCH_CHECK(false, "selective scan: ", what, ": ", msg ? msg : "unknown CUDA driver error");
}

// The driver API works on the thread's current context. The runtime binds the device's primary context
// to a thread at its first runtime call there; autograd runs the backward on a thread of its own, so this
// is checked on every launch (a cheap query) and the runtime is made to bind it where needed.
void ensure_context() {
  CUcontext ctx = nullptr;
  check_cu(driver().ctx_get_current(&ctx), "cuCtxGetCurrent");
  if (ctx == nullptr) {
    C10_CUDA_CHECK(cudaFree(nullptr));
  }
}

struct Kernels {
  CUfunction fwd = nullptr;
  CUfunction bwd = nullptr;
};

// Compiled once per device (its architecture), under a lock.
const Kernels& kernels(c10::DeviceIndex device) {
  static std::mutex mu;
  static std::map<int, Kernels> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(device);
  if (it != cache.end()) return it->second;
  c10::cuda::CUDAGuard guard(device);
  cudaDeviceProp prop{};
  C10_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  ensure_context();
  const Nvrtc& nv = nvrtc();
  NvrtcProgram prog = nullptr;
  TORCH_CHECK(nv.create(&prog, kKernels, "dfn4_selective_scan.cu", 0, nullptr, nullptr) == 0,
              "selective scan: nvrtcCreateProgram failed");
  std::string arch = "--gpu-architecture=sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
  const char* opts[] = {arch.c_str(), "--std=c++17"};
  int status = nv.compile(prog, 2, opts);
  if (status != 0) {
    size_t n = 0;
    nv.log_size(prog, &n);
    std::string log(n, '\0');
    nv.log(prog, log.data());
    nv.destroy(&prog);
    TORCH_CHECK(false, "selective scan: NVRTC could not compile the kernels for ", arch, ":\n", log);
  }
  size_t size = 0;
  nv.cubin_size(prog, &size);
  std::vector<char> cubin(size);
  nv.cubin(prog, cubin.data());
  nv.destroy(&prog);
  CUmodule module = nullptr;
  check_cu(driver().module_load_data(&module, cubin.data()), "cuModuleLoadData");
  Kernels k;
  check_cu(driver().module_get_function(&k.fwd, module, "dfn4_ss_fwd"), "cuModuleGetFunction(fwd)");
  check_cu(driver().module_get_function(&k.bwd, module, "dfn4_ss_bwd"), "cuModuleGetFunction(bwd)");
  return cache.emplace(device, k).first->second;
}

void launch(CUfunction f, const at::Tensor& like, int64_t batch, int64_t d_inner, void** args) {
  const auto device = like.device().index();
  c10::cuda::CUDAGuard guard(device);
  ensure_context();
  CUstream stream = c10::cuda::getCurrentCUDAStream(device).stream();
  check_cu(driver().launch(f, static_cast<unsigned>(d_inner / kDPerBlock), static_cast<unsigned>(batch),
                           1, kDPerBlock * kStateN, 1, 1, 0, stream, args, nullptr),
           "cuLaunchKernel");
}

// ---------------------------------------------------------------------------------------------------
// CPU loops: the same arithmetic, in the input's precision.
template <typename S>
void cpu_forward(const S* u, const S* delta, const S* A, const S* Bm, const S* Cm, S* y, S* hs, int64_t B,
                 int64_t T, int64_t D, int64_t N) {
  at::parallel_for(0, B * D, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> h(static_cast<size_t>(N));
    for (int64_t bd = begin; bd < end; ++bd) {
      const int64_t b = bd / D, d = bd % D;
      std::fill(h.begin(), h.end(), S(0));
      for (int64_t t = 0; t < T; ++t) {
        const int64_t i = (b * T + t) * D + d;
        const S dt = delta[i], du = delta[i] * u[i];
        S acc = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dt * A[d * N + n]) * h[n] + du * Bm[(b * T + t) * N + n];
          hs[i * N + n] = h[n];
          acc += h[n] * Cm[(b * T + t) * N + n];
        }
        y[i] = acc;
      }
    }
  });
}

// Sums over d (dB, dC) and over b, t (dA) cross the parallel split: each task accumulates its own copy
// and the copies are added at the end.
template <typename S>
void cpu_backward(const S* u, const S* delta, const S* A, const S* Bm, const S* Cm, const S* hs, const S* dy,
                  S* du, S* ddelta, S* dA, S* dB, S* dC, int64_t B, int64_t T, int64_t D, int64_t N) {
  for (int64_t b = 0; b < B; ++b) {
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), D));
    std::vector<std::vector<S>> dbc(static_cast<size_t>(tasks), std::vector<S>(2 * T * N, S(0)));
    at::parallel_for(0, tasks, 1, [&](int64_t tb, int64_t te) {
      std::vector<S> g(static_cast<size_t>(N));
      for (int64_t task = tb; task < te; ++task) {
        S* loc = dbc[static_cast<size_t>(task)].data();
        for (int64_t d = task * D / tasks; d < (task + 1) * D / tasks; ++d) {
          std::fill(g.begin(), g.end(), S(0));
          for (int64_t t = T - 1; t >= 0; --t) {
            const int64_t i = (b * T + t) * D + d;
            const int64_t r = (b * T + t) * N;
            const S dt = delta[i], uu = u[i], dyv = dy[i];
            S ddt = 0, duv = 0;
            for (int64_t n = 0; n < N; ++n) {
              const S a_dn = A[d * N + n];
              const S a = std::exp(dt * a_dn);
              const S hp = t > 0 ? hs[(i - D) * N + n] : S(0);
              g[n] += dyv * Cm[r + n];
              const S da = g[n] * hp;
              ddt += da * a * a_dn + g[n] * uu * Bm[r + n];
              duv += g[n] * dt * Bm[r + n];
              dA[d * N + n] += da * a * dt;  // d belongs to this task alone
              loc[t * N + n] += g[n] * dt * uu;
              loc[(T + t) * N + n] += dyv * hs[i * N + n];
              g[n] *= a;
            }
            ddelta[i] = ddt;
            du[i] = duv;
          }
        }
      }
    });
    for (const auto& loc : dbc) {
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t n = 0; n < N; ++n) {
          dB[(b * T + t) * N + n] += loc[t * N + n];
          dC[(b * T + t) * N + n] += loc[(T + t) * N + n];
        }
      }
    }
  }
}

void check_shapes(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& Bm,
                  const at::Tensor& Cm) {
  TORCH_CHECK(u.dim() == 3 && delta.sizes() == u.sizes(), "selective scan: u and delta must be [B, T, D]");
  TORCH_CHECK(A.dim() == 2 && A.size(0) == u.size(2), "selective scan: A must be [D, N]");
  const auto bn = std::vector<int64_t>{u.size(0), u.size(1), A.size(1)};
  TORCH_CHECK(Bm.sizes() == at::IntArrayRef(bn) && Cm.sizes() == at::IntArrayRef(bn),
              "selective scan: B and C must be [B, T, N]");
  for (const auto* x : {&delta, &A, &Bm, &Cm}) {
    TORCH_CHECK(x->device() == u.device() && x->scalar_type() == u.scalar_type(),
                "selective scan: all inputs on one device with one dtype");
  }
  if (u.is_cuda()) {
    TORCH_CHECK(u.scalar_type() == at::kFloat, "selective scan: CUDA kernels take float32");
    TORCH_CHECK(A.size(1) == kStateN && u.size(2) % kDPerBlock == 0,
                "selective scan: CUDA kernels need N = 16 and D a multiple of 16");
  } else {
    TORCH_CHECK(u.is_cpu(), "selective scan: CPU or CUDA tensors only");
    TORCH_CHECK(u.scalar_type() == at::kFloat || u.scalar_type() == at::kDouble,
                "selective scan: float32 or float64 on the CPU");
  }
}

// (y, h): the output and every state, for the backward.
std::pair<at::Tensor, at::Tensor> scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                               const at::Tensor& A, const at::Tensor& Bm,
                                               const at::Tensor& Cm) {
  const int64_t B = u.size(0), T = u.size(1), D = u.size(2), N = A.size(1);
  auto y = at::empty({B, T, D}, u.options());
  auto h = at::empty({B, T, D, N}, u.options());
  if (B * T == 0) return {y.zero_(), h};
  if (u.is_cuda()) {
    const Kernels& k = kernels(u.device().index());
    const float *pu = u.data_ptr<float>(), *pd = delta.data_ptr<float>(), *pa = A.data_ptr<float>(),
                *pb = Bm.data_ptr<float>(), *pc = Cm.data_ptr<float>();
    float *py = y.data_ptr<float>(), *ph = h.data_ptr<float>();
    int t32 = static_cast<int>(T), d32 = static_cast<int>(D);
    void* args[] = {&pu, &pd, &pa, &pb, &pc, &py, &ph, &t32, &d32};
    launch(k.fwd, u, B, D, args);
  } else {
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "dfn4_ss_fwd", [&] {
      cpu_forward<scalar_t>(u.data_ptr<scalar_t>(), delta.data_ptr<scalar_t>(), A.data_ptr<scalar_t>(),
                            Bm.data_ptr<scalar_t>(), Cm.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                            h.data_ptr<scalar_t>(), B, T, D, N);
    });
  }
  return {y, h};
}

torch::autograd::variable_list scan_backward(const at::Tensor& u, const at::Tensor& delta,
                                             const at::Tensor& A, const at::Tensor& Bm, const at::Tensor& Cm,
                                             const at::Tensor& h, const at::Tensor& dy) {
  const int64_t B = u.size(0), T = u.size(1), D = u.size(2), N = A.size(1);
  auto du = at::empty_like(u), ddelta = at::empty_like(delta);
  auto dA = at::zeros_like(A), dB = at::zeros_like(Bm), dC = at::zeros_like(Cm);
  if (B * T == 0) return {du.zero_(), ddelta.zero_(), dA, dB, dC};
  if (u.is_cuda()) {
    const Kernels& k = kernels(u.device().index());
    const float *pu = u.data_ptr<float>(), *pd = delta.data_ptr<float>(), *pa = A.data_ptr<float>(),
                *pb = Bm.data_ptr<float>(), *pc = Cm.data_ptr<float>(), *ph = h.data_ptr<float>(),
                *pdy = dy.data_ptr<float>();
    float *pdu = du.data_ptr<float>(), *pdd = ddelta.data_ptr<float>(), *pda = dA.data_ptr<float>(),
          *pdb = dB.data_ptr<float>(), *pdc = dC.data_ptr<float>();
    int t32 = static_cast<int>(T), d32 = static_cast<int>(D);
    void* args[] = {&pu, &pd, &pa, &pb, &pc, &ph, &pdy, &pdu, &pdd, &pda, &pdb, &pdc, &t32, &d32};
    launch(k.bwd, u, B, D, args);
  } else {
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "dfn4_ss_bwd", [&] {
      cpu_backward<scalar_t>(u.data_ptr<scalar_t>(), delta.data_ptr<scalar_t>(), A.data_ptr<scalar_t>(),
                             Bm.data_ptr<scalar_t>(), Cm.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                             dy.data_ptr<scalar_t>(), du.data_ptr<scalar_t>(), ddelta.data_ptr<scalar_t>(),
                             dA.data_ptr<scalar_t>(), dB.data_ptr<scalar_t>(), dC.data_ptr<scalar_t>(), B, T,
                             D, N);
    });
  }
  return {du, ddelta, dA, dB, dC};
}

struct SelectiveScan : torch::autograd::Function<SelectiveScan> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& u,
                            const at::Tensor& delta, const at::Tensor& A, const at::Tensor& Bm,
                            const at::Tensor& Cm) {
    auto [y, h] = scan_forward(u, delta, A, Bm, Cm);
    ctx->save_for_backward({u, delta, A, Bm, Cm, h});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto s = ctx->get_saved_variables();
    if (!grads[0].defined()) {
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    return scan_backward(s[0], s[1], s[2], s[3], s[4], s[5], grads[0].contiguous());
  }
};

const at::Tensor& as_tensor(void* p) { return *static_cast<at::Tensor*>(p); }

}  // namespace

DFN4_EXPORT int dfn4_ss_abi_version() { return kAbiVersion; }

DFN4_EXPORT const char* dfn4_ss_last_error() { return last_error.c_str(); }

// y = selective_scan(u, delta, A, B, C), differentiable in all five; *out receives a new at::Tensor* that
// the caller owns (tch wraps it).
DFN4_EXPORT int dfn4_ss_apply(void* u, void* delta, void* a, void* b, void* c, void** out) {
  *out = nullptr;
  return guarded([&] {
    auto uu = as_tensor(u).contiguous(), dd = as_tensor(delta).contiguous(), aa = as_tensor(a).contiguous(),
         bb = as_tensor(b).contiguous(), cc = as_tensor(c).contiguous();
    check_shapes(uu, dd, aa, bb, cc);
    *out = new at::Tensor(SelectiveScan::apply(uu, dd, aa, bb, cc));
  });
}
