// Runs the libFuzzer target (fuzz_ops.cpp) without libFuzzer: on the files named on the command
// line (a corpus or a crash to replay), else on seeded pseudo-random inputs. For compilers without
// -fsanitize=fuzzer (g++), under AddressSanitizer + UndefinedBehaviorSanitizer.
//   fuselm_fuzz_driver [--runs N] [--seed S] [FILE...]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  long runs = 20000;
  unsigned long seed = 1;
  std::vector<const char *> files;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atol(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoul(argv[++i], nullptr, 10);
    else files.push_back(argv[i]);
  }
  for (const char *f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuselm_fuzz_driver: cannot read %s\n", f);
      return 2;
    }
    std::vector<uint8_t> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(d.data(), d.size());
  }
  if (!files.empty()) {
    std::printf("fuselm_fuzz_driver: %zu inputs replayed\n", files.size());
    return 0;
  }
  std::mt19937_64 rng(seed);
  for (long r = 0; r < runs; r++) {
    std::vector<uint8_t> d(rng() % 4096);
    for (auto &b : d) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(d.data(), d.size());
  }
  std::printf("fuselm_fuzz_driver: %ld random inputs (seed %lu) passed\n", runs, seed);
  return 0;
}
