// The C ABI's error convention, shared by dfn4's shims (csrc/cuda_graph.cpp, csrc/selective_scan.cpp):
// an entry point runs its body through guarded(), which returns 0 on success and 1 on failure with the
// message kept in this thread's last_error (each shim exports it as dfn4_*_last_error). No exception
// crosses the C boundary. Each shim is its own shared object, so each has its own last_error.
#pragma once

#include <c10/util/Exception.h>

#include <exception>
#include <string>

namespace {

thread_local std::string last_error;

template <typename F>
int guarded(F&& f) noexcept {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    last_error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return 1;
}

}  // namespace
