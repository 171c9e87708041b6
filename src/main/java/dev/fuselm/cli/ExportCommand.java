package dev.fuselm.cli;

import dev.fuselm.io.GgufGpt2;
import dev.fuselm.io.GgufType;
import dev.fuselm.model.GptConfig;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code fuselm export}: model directories out to other formats. */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Exports a model directory to another format.",
    subcommands = ExportCommand.Gguf.class)
public final class ExportCommand implements Runnable {
  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code fuselm export gguf}: a GPT-2 directory as one GGUF file, llama.cpp's layout. */
  @Command(name = "gguf", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Writes a GPT-2 model directory as a GGUF file in llama.cpp's GPT-2 layout"
          + " (tensors, gpt2.* hyperparameters and the tokenizer), readable by llama.cpp and the"
          + " gguf Python package; `fuselm import gguf` and --model FILE.gguf read it back.")
  static final class Gguf implements Callable<Integer> {
    @Parameters(paramLabel = "DIR", description = "the GPT-2 model directory") Path dir;
    @Option(names = {"--out", "--output"}, required = true, description = "the .gguf file to write") Path out;
    @Option(names = "--type", description = "how matrices are stored: f32, f16, bf16 or q8_0"
        + " (default: ${DEFAULT-VALUE}); norms and biases are always f32") String type = "f32";

    @Override
    public Integer call() throws IOException {
      GgufType t;
      try {
        t = GgufGpt2.parseType(type);
      } catch (IllegalArgumentException e) {
        throw new UserInputException("--type: " + e.getMessage());
      }
      GgufGpt2.ExportResult r;
      try (ComputeContext ctx = ComputeContext.create()) {
        r = GgufGpt2.export(ctx, dir, out, t);
      }
      GptConfig c = r.config();
      System.out.printf("exported %s: GPT-2, %d layers, d_model %d, %d heads, vocab %d,"
          + " context %d; tensors %s; %d tokens -> %s (%,d bytes)%n", dir, c.nLayer(), c.dModel(),
          c.nHead(), c.vocabSize(), c.contextLength(), counts(r.tensorsByType()), r.tokens(), out,
          Files.size(out));
      return 0;
    }
  }

  static String counts(Map<GgufType, Integer> byType) {
    return byType.entrySet().stream().map(e -> e.getValue() + " " + e.getKey())
        .collect(Collectors.joining(", "));
  }
}
