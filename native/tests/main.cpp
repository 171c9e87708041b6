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
  int failed = 0, run = 0, skipped = 0;
  for (auto &t : fltest::registry()) {
    if (argc > 1 && std::strstr(t.name, argv[1]) == nullptr) continue;
    run++;
    try {
      t.fn();
      std::printf("PASS %s\n", t.name);
    } catch (const fltest::Skipped &e) {
      skipped++;
      std::printf("SKIP %s: %s\n", t.name, e.what());
    } catch (const std::exception &e) {
      failed++;
      std::printf("FAIL %s\n  %s\n", t.name, e.what());
    }
  }
  std::printf("%d tests, %d failed, %d skipped\n", run, failed, skipped);
  // 77: every selected test was skipped (CTest's SKIP_RETURN_CODE shows it as Skipped, not Passed)
  if (failed == 0 && run > 0 && skipped == run) return 77;
  return failed == 0 && run > 0 ? 0 : 1;
}
