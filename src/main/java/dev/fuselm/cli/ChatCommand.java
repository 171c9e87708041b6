package dev.fuselm.cli;

import dev.fuselm.io.InstructionModel;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.StreamingDecoder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm chat}: answers instructions read from stdin with an instruction-tuned model. */
@Command(name = "chat", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Reads instructions from stdin, one a line, and streams each response to stdout"
        + " (a blank line ends the response). The prompt template is the one the model was tuned"
        + " with. An instruction too long for the context is reported on stderr and skipped (exit"
        + " code 2 at the end).")
public final class ChatCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "directory written by"
      + " finetune-instruct (a model, or LoRA adapters on their base)") Path model;
  @Option(names = "--max-new-tokens", description = "longest response (default: ${DEFAULT-VALUE})")
  int maxNew = 256;
  @Option(names = "--temperature", description = "0 = greedy (default: ${DEFAULT-VALUE})")
  float temperature = 0f;
  @Option(names = "--top-k", description = "sample from the k most likely (default: all)") int topK;
  @Option(names = "--top-p", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})")
  float topP = 1f;
  @Option(names = "--seed", description = "sampling seed (default: ${DEFAULT-VALUE})") long seed = 123;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;

  @Override
  public Integer call() throws IOException {
    GenerationConfig base;
    try {
      base = new GenerationConfig(maxNew, temperature, topK, topP, seed, -1, false);
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in,
        StandardCharsets.UTF_8));
    int failures = 0;
    try (ComputeContext ctx = ComputeContext.create()) {
      ctx.threads(threads);
      try (InstructionModel im = InstructionModel.load(ctx, model);
          Generator g = new Generator(im.model(), 1)) {
        int eot = im.endOfText();
        int context = im.model().config().contextLength();
        GenerationConfig gc = base.withStopToken(eot);
        refuseWhenNoInstructionFits(im, context);
        String line;
        while ((line = in.readLine()) != null) {
          String instruction = line.strip();
          if (instruction.isEmpty()) {
            continue;
          }
          int[] prompt = im.tokenizer().encode(im.template().prompt(instruction, ""));
          if (prompt.length >= context) {
            System.err.println("fuselm: the prompt is " + prompt.length + " tokens, the model's"
                + " context is " + context + " (it must be shorter); skipped");
            failures++;
            continue;
          }
          StreamingDecoder dec = ((Gpt2BpeTokenizer) im.tokenizer()).streamingDecoder();
          g.generate(prompt, gc, (row, id) -> {
            if (id != eot) {
              out.print(dec.push(id));
              out.flush();
            }
            return true;
          });
          out.println(dec.finish());
          out.println();
        }
      }
    }
    return failures == 0 ? 0 : Main.EXIT_USER_ERROR;
  }

  /**
   * One clear line instead of skipping every instruction: the template alone (an empty
   * instruction) must leave room for at least one token of instruction and one of response.
   */
  private void refuseWhenNoInstructionFits(InstructionModel im, int context) throws IOException {
    int templateTokens = im.tokenizer().encode(im.template().prompt("", "")).length;
    if (templateTokens + 1 < context) {
      return;
    }
    String name = InstructionModel.templateName(model);
    String what = name == null ? "the default alpaca template" : "the " + name + " template";
    throw new UserInputException(what + " alone takes " + templateTokens + " tokens and the"
        + " model's context is " + context + " tokens, so no instruction fits"
        + (name == null ? "; " + model + " is not instruction-tuned (no "
            + InstructionModel.META_FILE + "): fine-tune it with finetune-instruct first" : ""));
  }
}
