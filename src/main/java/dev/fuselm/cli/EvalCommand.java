package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.train.Evaluator;
import dev.fuselm.train.TokenData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm eval}: the loss and perplexity of a model on a text or token-id file. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Mean next-token loss of a model on a file, in non-overlapping windows of --ctx"
        + " tokens; prints {\"tokens\":N,\"loss\":L,\"perplexity\":P}.")
public final class EvalCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();
  @Option(names = "--model", required = true, description = "model directory (or a GPT-2 .gguf"
      + " file)") Path model;
  @Option(names = "--data", required = true, description = "FILE.txt or FILE.ids") Path data;
  @Option(names = {"--ctx", "--seq-len"}, description = "window length (default: the model's context)") Integer ctx;
  @Option(names = {"--batch", "--batch-size"}, description = "windows per forward pass (default: ${DEFAULT-VALUE})")
  int batch = 4;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;

  @Override
  public Integer call() throws IOException {
    model = dev.fuselm.io.GgufGpt2.modelDirectory(model); // a .gguf file: imported
    GptConfig cfg = Checkpoint.readConfig(model, ModelFamily.GPT2);
    int t = ctx == null ? cfg.contextLength() : ctx;
    if (t <= 0 || t > cfg.contextLength()) {
      throw new UserInputException("--ctx " + t + " must be between 1 and the model's context"
          + " window of " + cfg.contextLength());
    }
    if (batch <= 0) {
      throw new UserInputException("--batch must be positive");
    }
    boolean ids = data.getFileName().toString().endsWith(".ids");
    Tokenizer tok = ids ? null : Tokenizers.forModel(model, cfg.vocabSize());
    int[] tokens = TokenData.load(data, tok);
    TokenData.checkVocab(data.toString(), tokens, cfg.vocabSize());
    if (tokens.length < 2) {
      throw new UserInputException(data + ": needs at least 2 tokens to score a prediction");
    }
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads);
      try (GptModel m = Checkpoint.load(c, model, ModelFamily.GPT2)) {
        int b = Math.min(batch, (tokens.length - 1 + t - 1) / t);
        Evaluator.Result r = Evaluator.evaluate(m, tokens, 0, tokens.length, Math.max(1, b), t, 0);
        if (!Double.isFinite(r.loss())) {
          // the weights loaded finite (Checkpoint refuses NaN/Inf), so the forward pass overflowed
          throw new UserInputException(model + ": the loss on " + data + " is " + (float) r.loss()
              + ": the model's weights are finite but its forward pass overflows float32 (weights"
              + " far too large?); no score to report");
        }
        // through Jackson: a non-finite perplexity (exp overflows float) is written as a string
        ObjectNode n = JSON.createObjectNode().put("tokens", r.tokens())
            .put("loss", (float) r.loss()).put("perplexity", (float) r.perplexity());
        System.out.println(JSON.writeValueAsString(n));
      }
    }
    return 0;
  }
}
