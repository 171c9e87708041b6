package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.PromptTemplate;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An instruction-tuned model directory as {@code finetune-instruct} writes it, loaded for chat: a
 * plain model ({@code config.json} + {@code model.safetensors}, also what {@code --merge} writes),
 * or LoRA adapters ({@code adapter_config.json} + {@code adapter_model.safetensors}) on the base
 * model that {@code base_model_name_or_path} names. {@code instruction.json} records the prompt
 * template (Alpaca when absent); the tokenizer files sit beside them.
 */
public final class InstructionModel implements AutoCloseable {
  public static final String META_FILE = "instruction.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final GptModel model; // owns its adapters, if any
  private final Tokenizer tokenizer;
  private final PromptTemplate template;
  private final int eot;

  private InstructionModel(GptModel model, Tokenizer tokenizer, PromptTemplate template,
      int eot) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.template = template;
    this.eot = eot;
  }

  /** The end-of-text id of a tokenizer, or an IOException saying the model cannot stop. */
  public static int endOfText(Tokenizer tok, Path dir) throws IOException {
    return tok.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElseThrow(() -> new IOException(dir
        + ": the tokenizer has no " + Gpt2BpeTokenizer.END_OF_TEXT + " token, which instruction"
        + " fine-tuning pads with and stops at"));
  }

  /** Writes instruction.json: the template's name ("alpaca", "phi3" or "custom" + its text). */
  public static void saveMeta(Path dir, String templateSpec, boolean maskPrompt)
      throws IOException {
    ObjectNode n = JSON.createObjectNode();
    if (templateSpec == null || templateSpec.equals("alpaca") || templateSpec.equals("phi3")) {
      n.put("template", templateSpec == null ? "alpaca" : templateSpec);
    } else {
      n.put("template", "custom").put("template_text", Files.readString(Path.of(templateSpec)));
    }
    n.put("mask_prompt", maskPrompt);
    AtomicFiles.writeString(dir.resolve(META_FILE),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
  }

  /**
   * The name of the template recorded in dir's instruction.json ("alpaca", "phi3" or "custom"),
   * or null when dir has none (the model was not instruction-tuned by fuselm).
   */
  public static String templateName(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    Path f = dir.resolve(META_FILE);
    if (!Files.isRegularFile(f)) {
      return null;
    }
    JsonNode n = JSON.readTree(f.toFile());
    return n == null ? null : n.path("template").asText();
  }

  /** The template recorded in dir (Alpaca when dir has no instruction.json). */
  public static PromptTemplate readTemplate(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    Path f = dir.resolve(META_FILE);
    if (!Files.isRegularFile(f)) {
      return PromptTemplate.alpaca();
    }
    JsonNode n;
    try {
      n = JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new IOException(f + ": not valid JSON: " + e.getMessage());
    }
    String t = n == null ? "" : n.path("template").asText();
    switch (t) {
      case "alpaca":
        return PromptTemplate.alpaca();
      case "phi3":
        return PromptTemplate.phi3();
      case "custom":
        try {
          return PromptTemplate.of(n.path("template_text").asText());
        } catch (IllegalArgumentException e) {
          throw new IOException(f + ": " + e.getMessage());
        }
      default:
        throw new IOException(f + ": unknown template '" + t + "'");
    }
  }

  /** Loads dir onto ctx (see the class comment for the two layouts). */
  public static InstructionModel load(ComputeContext ctx, Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    PromptTemplate template = readTemplate(dir);
    boolean plain = Files.isRegularFile(dir.resolve(Checkpoint.WEIGHTS));
    Path base = dir;
    if (!plain) {
      if (!PeftAdapters.present(dir)) {
        throw new IOException(dir + ": neither " + Checkpoint.WEIGHTS + " nor "
            + PeftAdapters.CONFIG + " (is this a model directory?)");
      }
      String b = PeftAdapters.readMeta(dir).baseModel();
      if (b == null) {
        throw new IOException(dir.resolve(PeftAdapters.CONFIG)
            + ": base_model_name_or_path is not set, so the base model is unknown");
      }
      base = dir.resolve(b);
    }
    var cfg = Checkpoint.readConfig(base, ModelFamily.GPT2);
    Tokenizer tok = Tokenizers.forModel(Tokenizers.present(dir) ? dir : base,
        cfg.vocabSize());
    int eot = endOfText(tok, dir);
    GptModel model = Checkpoint.load(ctx, base, ModelFamily.GPT2);
    try {
      if (!plain) {
        PeftAdapters.attach(model, dir, false);
      }
      return new InstructionModel(model, tok, template, eot);
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
  }

  public GptModel model() {
    return model;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  public PromptTemplate template() {
    return template;
  }

  public int endOfText() {
    return eot;
  }

  @Override
  public void close() {
    model.close();
  }
}
