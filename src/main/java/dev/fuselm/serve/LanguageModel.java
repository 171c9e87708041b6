package dev.fuselm.serve;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.GgufGpt2;
import dev.fuselm.io.GgufModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A GPT model directory loaded in one call with its tokenizer, generating text from text:
 *
 * <pre>{@code
 * try (LanguageModel lm = LanguageModel.load(Path.of("models/shakespeare"))) {
 *   String text = lm.generate("ROMEO:", GenerationConfig.builder().maxNewTokens(50).build());
 *   lm.generate("JULIET:", GenerationConfig.builder().temperature(0.8f).seed(1).build(),
 *       System.out::print);
 * }
 * }</pre>
 *
 * <p>It owns a compute context, the model and one {@link Generator}, and frees their native memory
 * on {@link #close()}. A config that {@linkplain GenerationConfig#stopAtEndOfText() stops at
 * end-of-text} stops at the tokenizer's {@code <|endoftext|>}; stop strings are matched on the
 * decoded text. Like its Generator it is confined to the first thread that generates with it
 * (another thread gets an {@link IllegalStateException}); to share one model between threads use
 * {@link InferenceSession}, which is thread-safe.
 */
public final class LanguageModel implements AutoCloseable {
  private final ComputeContext ctx;
  private final GptModel model;
  private final Tokenizer tokenizer;
  private final Generator generator;
  private final int endOfText;

  private LanguageModel(ComputeContext ctx, GptModel model, Tokenizer tokenizer) {
    this.ctx = ctx;
    this.model = model;
    this.tokenizer = tokenizer;
    this.generator = new Generator(model, 1);
    this.endOfText = tokenizer.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElse(-1);
  }

  /**
   * Loads a GPT-2-family directory (config.json, model.safetensors and its tokenizer files; a
   * directory with GPT-2's vocabulary size and no tokenizer files uses GPT-2's), or a GPT-2 GGUF
   * file with the tokenizer of its metadata, on a new context of the default backend using every
   * core.
   *
   * @throws IOException when the directory is not a GPT model directory or has no usable tokenizer
   */
  public static LanguageModel load(Path dir) throws IOException {
    if (GgufGpt2.isGguf(dir)) {
      return loadGguf(dir);
    }
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    ModelFamily<?, ?> family = Checkpoint.family(dir);
    if (family != ModelFamily.GPT2) {
      throw new IOException(dir + ": a " + family.modelType() + " model directory does not generate"
          + " text; load it with TextEmbedder or TextClassifier");
    }
    GptConfig cfg = Checkpoint.readConfig(dir, ModelFamily.GPT2);
    Tokenizer tok = Tokenizers.forModel(dir, cfg.vocabSize());
    Path resolved = dir;
    return OwnedModel.open(ctx -> Checkpoint.load(ctx, resolved, ModelFamily.GPT2),
        (ctx, model) -> new LanguageModel(ctx, model, tok));
  }

  /** A GPT-2 GGUF file (float32 weights) with the tokenizer of its metadata (or GPT-2's). */
  private static LanguageModel loadGguf(Path file) throws IOException {
    Tokenizer tok = GgufModel.tokenizer(file);
    if (tok == null) {
      GptConfig cfg = GgufModel.config(file);
      if (cfg.vocabSize() != 50257) {
        throw new IOException(file + ": the file has no tokenizer (tokenizer.ggml.*) and its"
            + " vocabulary (" + cfg.vocabSize() + ") is not GPT-2's");
      }
      tok = Gpt2BpeTokenizer.gpt2();
    }
    Tokenizer fileTok = tok;
    return OwnedModel.open(ctx -> GgufModel.load(ctx, file, DType.FLOAT32),
        (ctx, model) -> new LanguageModel(ctx, model, fileTok));
  }

  public GptConfig config() {
    return model.config();
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** The generated text (prompt excluded, end-of-text and stop strings removed). */
  public String generate(String prompt, GenerationConfig gc) {
    return generate(prompt, gc, null);
  }

  /**
   * Generates, giving {@code onText} each piece of new text as soon as it is certain: never half
   * a UTF-8 character, never the start of a stop string that may still complete. The pieces add
   * up to the returned text.
   */
  public String generate(String prompt, GenerationConfig gc, Consumer<String> onText) {
    GenerationConfig resolved = gc.withEndOfText(endOfText);
    TextStream stream = new TextStream(tokenizer, resolved.stopToken(), resolved.stopStrings(),
        onText);
    generator.generate(tokenizer.encode(prompt), resolved, (row, id) -> stream.push(id));
    return stream.finish();
  }

  /** Frees the generator's cache, the model and the context. */
  @Override
  public void close() {
    try {
      generator.close();
    } finally {
      try {
        model.close();
      } finally {
        ctx.close();
      }
    }
  }
}
