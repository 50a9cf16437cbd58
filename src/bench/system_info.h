// Where a benchmark ran and what bounds it: the header every `ferrum bench` report starts with
// (commit, build, CPU, device and driver) and the physical limits its percentages refer to.
//
// Bounds, measured once per run unless given on the command line:
//   memory bandwidth: CPU: the benchmark's threads each summing their part of a 512 MiB buffer
//     (decode only reads its weights); CUDA: a device-to-device cudaMemcpy, counting bytes read
//     plus written, as bandwidth tests do, so a decode that only reads can exceed 100% slightly.
//   compute: CPU: fused multiply-adds on registers over the benchmark's threads, in the widest
//     vector width this build compiles for (f32), and for quantized weights, which the CPU
//     multiplies in 8-bit integers, the int8 dot-product instruction's rate; CUDA: the card's
//     datasheet dense bf16 figure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"

namespace ferrum::bench {

struct SystemInfo {
  std::string ferrum_version;
  std::string ferrum_commit;
  std::string build_flags;
  std::string date;  // UTC, ISO 8601
  std::string cpu_model;
  size_t cpu_threads = 0;  // hardware threads
  uint64_t host_memory_bytes = 0;
  std::string device;       // "cpu" or "cuda"
  std::string device_name;  // the CPU model, or the GPU's name
  std::string driver;       // CUDA driver and runtime versions; empty on the CPU
  uint64_t device_memory_bytes = 0;
};

Expected<SystemInfo> describe_system(const std::string& device);

struct Bound {
  double value = 0;    // GB/s or TFLOP/s
  std::string source;  // how it was obtained: "measured: ...", "datasheet: ...", "--bandwidth"
};

// Memory bandwidth of `device` in GB/s (CPU: read; CUDA: copy, bytes read + written), over
// `threads` CPU threads.
Expected<Bound> measure_memory_bandwidth(const std::string& device, size_t threads);
// Peak TFLOP/s: CPU f32 FMA throughput measured over `threads` threads; CUDA dense bf16 from the
// card's datasheet (nullopt for a card we have no figure for).
Expected<std::optional<Bound>> peak_compute(const std::string& device, const std::string& device_name, size_t threads);
// Peak tera-operations per second of 8-bit integer products (2 per product, as FLOPs count a
// multiply-add) on `threads` CPU threads; nullopt where the build has no integer dot instruction.
std::optional<Bound> cpu_int8_peak(size_t threads);

// Peak memory of this process on `device`: resident set (VmHWM) on the CPU, device memory in use
// on CUDA. reset_peak_memory starts a new measurement window (CPU: clears VmHWM).
uint64_t peak_memory_bytes(const std::string& device);
void reset_peak_memory(const std::string& device);

}  // namespace ferrum::bench
