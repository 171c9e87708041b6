package dev.fuselm.cli;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.GgufModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.StreamingDecoder;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.train.TokenData;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm generate}: continues a prompt with a model directory. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Continue a prompt. Prints the generated text as it is produced (or, with --ids,"
        + " the generated token ids). --temperature 0 is greedy decoding.")
public final class GenerateCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "model directory (config.json +"
      + " model.safetensors) or a GPT-2 .gguf file") Path model;

  static final class Prompt {
    @Option(names = "--prompt", description = "prompt text") String text;
    @Option(names = "--prompt-ids", description = "prompt token ids, e.g. \"1 2 3\"") String ids;
  }

  @ArgGroup(exclusive = true, multiplicity = "1") Prompt prompt;
  @Option(names = "--max-new-tokens", required = true, description = "token budget") int maxNew;
  @Option(names = "--temperature", description = "0 = greedy (default: ${DEFAULT-VALUE})")
  float temperature = 1.0f;
  @Option(names = "--top-k", description = "sample from the k most likely (default: all)") int topK;
  @Option(names = "--top-p", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})")
  float topP = 1.0f;
  @Option(names = "--seed", description = "sampling seed (default: ${DEFAULT-VALUE})") long seed = 42;
  @Option(names = "--ids", description = "print the generated ids instead of text") boolean printIds;
  @Option(names = "--truncate", description = "keep the end of a prompt longer than the context")
  boolean truncate;
  @Option(names = "--no-stop", description = "do not stop at <|endoftext|>") boolean noStop;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--weights", description = "matrix weights used for decoding: fp32, bf16 (a"
      + " bfloat16 copy: half the bytes read per token) or int8 (Q8_0: about a quarter; default:"
      + " ${DEFAULT-VALUE})")
  String weights = "fp32";

  /** The weight type named by a --weights value. */
  public static DType weightType(String weights) {
    switch (weights) {
      case "fp32":
        return DType.FLOAT32;
      case "bf16":
        return DType.BFLOAT16;
      case "int8":
        return DType.INT8;
      default:
        throw new UserInputException("--weights must be fp32, bf16 or int8, got '" + weights
            + "'");
    }
  }

  /** The tokenizer of the model: a GGUF file's own (or GPT-2's), a directory's files. */
  private Tokenizer tokenizer(GptConfig cfg, boolean gguf, Tokenizer ggufTok) throws IOException {
    if (!gguf) {
      return Tokenizers.forModel(model, cfg.vocabSize());
    }
    if (ggufTok != null) {
      return ggufTok;
    }
    if (cfg.vocabSize() != 50257) {
      throw new UserInputException(model + " has no tokenizer (tokenizer.ggml.*) and its"
          + " vocabulary is not GPT-2's: pass --prompt-ids and --ids");
    }
    return Gpt2BpeTokenizer.gpt2();
  }

  @Override
  public Integer call() throws IOException {
    DType weightType = weightType(weights);
    // a .gguf file loads straight in the weight type (int8: a Q8_0 file's blocks as stored)
    boolean gguf = dev.fuselm.io.GgufGpt2.isGguf(model);
    GptConfig cfg = gguf ? GgufModel.config(model) : Checkpoint.readConfig(model, ModelFamily.GPT2);
    Tokenizer ggufTok = gguf ? GgufModel.tokenizer(model) : null;
    Tokenizer tok = null;
    int[] ids;
    if (prompt.text != null) {
      tok = tokenizer(cfg, gguf, ggufTok);
      ids = tok.encode(prompt.text);
    } else {
      ids = TokenData.parseIds("--prompt-ids", prompt.ids);
      if (!printIds) {
        if ((gguf ? ggufTok == null : !Tokenizers.present(model)) && cfg.vocabSize() != 50257) {
          throw new UserInputException(model + " has no tokenizer files to turn the output into"
              + " text: add --ids to print the generated token ids");
        }
        tok = tokenizer(cfg, gguf, ggufTok);
      }
    }
    if (ids.length == 0) {
      throw new UserInputException("the prompt is empty: give at least one token");
    }
    int eos = -1;
    if (!noStop) {
      Tokenizer t = tok != null ? tok : gguf ? ggufTok
          : (Tokenizers.present(model) ? Gpt2BpeTokenizer.fromDirectory(model) : null);
      eos = t != null ? t.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElse(-1)
          : (cfg.vocabSize() == 50257 ? 50256 : -1);
    }
    GenerationConfig gc = new GenerationConfig(maxNew, temperature, topK, topP, seed, eos, truncate);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try (ComputeContext ctx = ComputeContext.create()) {
      ctx.threads(threads);
      // bf16/int8 decoding never needs the float32 block matrices: load them straight to bf16/int8
      try (GptModel m = gguf ? GgufModel.load(ctx, model, weightType)
          : weightType == DType.BFLOAT16 ? Checkpoint.loadBf16Matrices(ctx, model)
          : weightType == DType.INT8 ? Checkpoint.loadInt8Matrices(ctx, model)
          : Checkpoint.load(ctx, model, ModelFamily.GPT2);
          Generator g = new Generator(m, 1, weightType)) {
        if (printIds) {
          int[] gen = g.generate(ids, gc, null).ids();
          StringJoiner j = new StringJoiner(" ");
          for (int id : gen) {
            j.add(Integer.toString(id));
          }
          out.println(j);
        } else {
          StreamingDecoder dec = ((Gpt2BpeTokenizer) tok).streamingDecoder();
          int stop = eos;
          g.generate(ids, gc, (row, id) -> {
            if (id != stop) {
              out.print(dec.push(id));
              out.flush();
            }
            return true;
          });
          out.println(dec.finish());
        }
      }
    }
    return 0;
  }
}
