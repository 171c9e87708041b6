// Runs every registered native test; argv[1], if given, keeps only tests whose name contains it.
#include <cstdio>
#include <cstring>

#include "testing.h"

namespace fltest {
std::vector<TestCase> &registry() {
  static std::vector<TestCase> tests;
  return tests;
}
}  // namespace fltest

int main(int argc, char **argv) {
  int failed = 0, run = 0;
  for (auto &t : fltest::registry()) {
    if (argc > 1 && std::strstr(t.name, argv[1]) == nullptr) continue;
    run++;
    try {
      t.fn();
      std::printf("PASS %s\n", t.name);
    } catch (const std::exception &e) {
      failed++;
      std::printf("FAIL %s\n  %s\n", t.name, e.what());
    }
  }
  std::printf("%d tests, %d failed\n", run, failed);
  return failed == 0 && run > 0 ? 0 : 1;
}
