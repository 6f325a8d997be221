// dfn4's CUDA-graph shim: a C ABI over libtorch's at::cuda::CUDAGraph and c10's current-stream switch,
// for src/backend/tch/cuda_graph.rs (tch 0.24 has no graph API of its own).
//
// build.rs compiles this file into a shared object linked against libtorch_cuda; the Rust side embeds
// that object and dlopens it only once a CUDA device is in use, so a CPU-only libtorch never needs it.
//
// Protocol, all on one thread: dfn4_cg_new → (dfn4_cg_enter, eager warm-up ops, dfn4_cg_exit)* →
// dfn4_cg_begin, the ops to record, dfn4_cg_end (or dfn4_cg_abort after a failure) → dfn4_cg_replay*.
// Every call returns 0 on success and 1 on failure, with the message in dfn4_cg_last_error().
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>

#include "guarded.h"

#define DFN4_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Bumped whenever a signature below changes; the Rust loader refuses a mismatching shim.
constexpr int kAbiVersion = 1;

// A CUDAGraph plus the side stream it is captured on. Deriving from CUDAGraph only gives access to the
// protected members an aborted capture has to clean up.
struct Graph : at::cuda::CUDAGraph {
  explicit Graph(c10::DeviceIndex dev)
      // keep_graph: capture_end leaves the cudaGraph_t alive so that its nodes can be counted before
      // instantiation.
      : at::cuda::CUDAGraph(/*keep_graph=*/true),
        device(dev),
        side(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, dev)) {}

  c10::DeviceIndex device;
  // Graphs cannot be captured on the default stream; warm-up runs here too, so that lazily created
  // per-stream resources (cuBLAS workspace, cuDNN plans) exist before capture starts.
  c10::cuda::CUDAStream side;
  std::optional<c10::cuda::CUDAStream> saved;
  std::size_t nodes = 0;

  // Makes the side stream current for this thread's work on `device`. Waits for the previous current
  // stream first: the side stream does not order itself after it, and the inputs and state were written
  // there. (A stream wait, not a device-wide one, which would also wait on other threads' work and
  // could meet another thread's capture in progress.)
  void enter() {
    c10::cuda::CUDAGuard guard(device);
    saved = c10::cuda::getCurrentCUDAStream(device);
    saved->synchronize();
    c10::cuda::setCurrentCUDAStream(side);
  }

  // Waits for the side stream and restores the previous current stream.
  void exit() {
    side.synchronize();
    if (saved) {
      c10::cuda::setCurrentCUDAStream(*saved);
      saved.reset();
    }
  }

  void begin() {
    enter();
    try {
      c10::cuda::CUDAGuard guard(device);
      // Thread-local mode: unsafe CUDA calls from this thread invalidate the capture (and are reported),
      // while other threads of the process stay free to use the device.
      capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    } catch (...) {
      abort_capture();
      throw;
    }
  }

  void end() {
    try {
      c10::cuda::CUDAGuard guard(device);
      capture_end();
      C10_CUDA_CHECK(cudaGraphGetNodes(raw_cuda_graph(), nullptr, &nodes));
      instantiate();
    } catch (...) {
      abort_capture();
      throw;
    }
    exit();
  }

  // Ends a capture that failed part-way, best effort, so that the stream, the allocator and this thread
  // are usable again; the graph itself is then only fit for destruction.
  void abort_capture() noexcept {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(side.stream(), &status) == cudaSuccess &&
        status != cudaStreamCaptureStatusNone) {
      cudaGraph_t partial = nullptr;
      if (cudaStreamEndCapture(side.stream(), &partial) == cudaSuccess && partial != nullptr) {
        cudaGraphDestroy(partial);
      }
    }
    // The failure left a non-sticky error behind; later unrelated checks must not see it.
    (void)cudaGetLastError();
    if (!capture_ended_ && (mempool_id_.first != 0 || mempool_id_.second != 0)) {
      try {
        c10::cuda::CUDACachingAllocator::endAllocateToPool(capture_dev_, mempool_id_);
      } catch (...) {
        // capture_end got past this point already.
      }
      // Lets the destructor's reset() hand the private pool back to the allocator.
      capture_ended_ = true;
    }
    try {
      exit();
    } catch (...) {
      (void)cudaGetLastError();
    }
  }
};

Graph* as_graph(void* g) { return static_cast<Graph*>(g); }

}  // namespace

DFN4_EXPORT int dfn4_cg_abi_version() { return kAbiVersion; }

DFN4_EXPORT const char* dfn4_cg_last_error() { return last_error.c_str(); }

DFN4_EXPORT int dfn4_cg_new(int device, void** out) {
  *out = nullptr;
  return guarded([&] {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
    *out = new Graph(static_cast<c10::DeviceIndex>(device));
  });
}

DFN4_EXPORT void dfn4_cg_free(void* g) {
  // ~CUDAGraph only warns on failure, never throws.
  delete as_graph(g);
}

DFN4_EXPORT int dfn4_cg_enter(void* g) {
  return guarded([&] { as_graph(g)->enter(); });
}

DFN4_EXPORT int dfn4_cg_exit(void* g) {
  return guarded([&] { as_graph(g)->exit(); });
}

DFN4_EXPORT int dfn4_cg_begin(void* g) {
  return guarded([&] { as_graph(g)->begin(); });
}

DFN4_EXPORT int dfn4_cg_end(void* g, std::size_t* nodes) {
  return guarded([&] {
    as_graph(g)->end();
    *nodes = as_graph(g)->nodes;
  });
}

DFN4_EXPORT void dfn4_cg_abort(void* g) { as_graph(g)->abort_capture(); }

DFN4_EXPORT int dfn4_cg_replay(void* g) {
  return guarded([&] { as_graph(g)->replay(); });
}
