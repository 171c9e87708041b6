package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.fuselm.data.InstructionData;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.AtomicFiles;
import dev.fuselm.io.InstructionModel;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code fuselm dpo-pairs}: preference pairs from an instruction dataset and an instruction-tuned
 * model. chosen = the dataset's response, rejected = the model's own sampled response to the same
 * prompt (seeded per entry, so the file is reproducible and does not depend on the order).
 */
@Command(name = "dpo-pairs", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Makes DPO preference pairs: each entry of an Alpaca-style instruction file gets"
        + " \"chosen\" (its output) and \"rejected\" (the model's own sampled response, seeded per"
        + " entry); entries whose sample equals the output are left out. Writes the book's layout"
        + " (instruction, input, output, chosen, rejected) as a JSON array.")
public final class DpoPairsCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true, description = "instruction-tuned model directory"
      + " (its instruction.json names the prompt template)") Path modelDir;
  @Option(names = "--data", required = true, description = "instruction JSON file") Path data;
  @Option(names = {"--out", "--output"}, required = true, description = "pairs JSON file to write") Path out;
  @Option(names = "--limit", description = "only the first N entries (default: all)") Integer limit;
  @Option(names = "--temperature", description = "sampling temperature (default: ${DEFAULT-VALUE})")
  float temperature = 1.0f;
  @Option(names = "--top-k", description = "sample among the K likeliest tokens, 0 = all"
      + " (default: ${DEFAULT-VALUE})") int topK = 50;
  @Option(names = "--max-new-tokens", description = "longest sampled response"
      + " (default: ${DEFAULT-VALUE})") int maxNewTokens = 64;
  @Option(names = "--seed", description = "seed; entry i samples with seed * 1000003 + i"
      + " (default: ${DEFAULT-VALUE})") long seed = 123;
  @Mixin TrainingOptions.Threads threads;

  @Override
  public Integer call() throws IOException {
    if (maxNewTokens < 1 || topK < 0 || !(temperature > 0) || (limit != null && limit < 1)) {
      throw new UserInputException("need --max-new-tokens >= 1, --top-k >= 0, --temperature > 0"
          + " and --limit >= 1");
    }
    if (Files.isDirectory(out)) {
      throw new UserInputException("--out " + out + " is a directory; give a file name");
    }
    InstructionData ds = InstructionData.read(data);
    int n = limit == null ? ds.entries().size() : Math.min(limit, ds.entries().size());
    ArrayNode arr = JSON.createArrayNode();
    int same = 0;
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads.threads);
      try (InstructionModel im = InstructionModel.load(c, modelDir);
          Generator g = new Generator(im.model(), 1)) {
        Tokenizer tok = im.tokenizer();
        GptModel model = im.model();
        GenerationConfig gc = GenerationConfig.sampling(maxNewTokens, temperature, topK, 1f, 0)
            .withStopToken(im.endOfText());
        for (int i = 0; i < n; i++) {
          InstructionData.Entry e = ds.entries().get(i);
          int[] prompt = tok.encode(im.template().prompt(e.instruction(), e.input()));
          if (prompt.length >= model.config().contextLength()) {
            throw new UserInputException("entry " + i + ": the prompt is " + prompt.length
                + " tokens, the model's context is " + model.config().contextLength());
          }
          int[] ids = g.generate(prompt, gc.withSeed(seed * 1_000_003L + e.index()), null).ids();
          if (ids.length > 0 && ids[ids.length - 1] == im.endOfText()) {
            ids = Arrays.copyOf(ids, ids.length - 1);
          }
          String rejected = tok.decode(ids).strip();
          if (rejected.equals(e.output().strip())) {
            same++;
            continue;
          }
          arr.addObject().put("instruction", e.instruction()).put("input", e.input())
              .put("output", e.output()).put("chosen", e.output()).put("rejected", rejected);
        }
      }
    }
    AtomicFiles.writeString(out, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(arr)
        + "\n");
    System.out.println(JSON.createObjectNode().put("event", "saved").put("out", out.toString())
        .put("entries", n).put("pairs", arr.size()).put("left_out_equal", same).toString());
    return 0;
  }
}
