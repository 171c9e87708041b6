package dev.fuselm.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code fuselm bench}: quick measurements that print one JSON line each. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Measure kernels and tokenizers; each prints JSON lines.",
    subcommands = {
      BenchGemmCommand.class,
      BenchTokenizeCommand.class,
      BenchTrainCommand.class,
      BenchGenerateCommand.class,
      BenchServeCommand.class,
      BenchPrefixCacheCommand.class,
      BenchEmbedCommand.class
    })
public final class BenchCommand implements Runnable {
  @Override
  public void run() {
    CommandLine.usage(this, System.out);
  }
}
