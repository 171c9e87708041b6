package dev.fuselm.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns an instruction (and its optional input) into the prompt text the model continues with the
 * response. {@link #alpaca()} is the Stanford Alpaca template; {@link #of(String)} makes one from
 * a text with {@code {instruction}} and {@code {input}} placeholders.
 */
@FunctionalInterface
public interface PromptTemplate {
  /** The prompt for an instruction and input (input may be empty); the response follows it. */
  String prompt(String instruction, String input);

  /**
   * Alpaca's template: a preamble, {@code ### Instruction:}, an {@code ### Input:} section only
   * when the input is not empty, and {@code ### Response:} followed by a newline.
   */
  static PromptTemplate alpaca() {
    return (instruction, input) -> "Below is an instruction that describes a task. Write a response"
        + " that appropriately completes the request.\n\n### Instruction:\n" + instruction
        + (input.isEmpty() ? "" : "\n\n### Input:\n" + input) + "\n\n### Response:\n";
  }

  /** Phi-3's chat layout: {@code <|user|>}, the instruction (and input), {@code <|assistant|>}. */
  static PromptTemplate phi3() {
    return (instruction, input) -> "<|user|>\n" + instruction
        + (input.isEmpty() ? "" : "\n" + input) + "\n<|assistant|>\n";
  }

  /**
   * A template from text: {@code {instruction}} (required) and {@code {input}} (optional) are
   * replaced literally; the response starts right after the text.
   */
  static PromptTemplate of(String template) {
    if (!template.contains("{instruction}")) {
      throw new IllegalArgumentException("a prompt template needs an {instruction} placeholder");
    }
    return (instruction, input) -> template.replace("{input}", input)
        .replace("{instruction}", instruction);
  }

  /** "alpaca", "phi3", or a UTF-8 file holding a template for {@link #of(String)}. */
  static PromptTemplate named(String spec) throws IOException {
    if (spec == null || spec.equals("alpaca")) {
      return alpaca();
    }
    if (spec.equals("phi3")) {
      return phi3();
    }
    Path p = Path.of(spec);
    if (!Files.isRegularFile(p)) {
      throw new IOException("--template " + spec + ": not 'alpaca', 'phi3' or a template file");
    }
    try {
      return of(Files.readString(p, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new IOException(p + ": " + e.getMessage());
    }
  }
}
