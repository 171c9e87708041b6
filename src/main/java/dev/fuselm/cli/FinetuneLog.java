package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.AtomicFiles;
import dev.fuselm.model.GptModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the fine-tuning commands (finetune-classify, finetune-instruct, finetune-dpo,
 * finetune-ner) print and keep: JSON lines on stdout and in the output's {@code log.jsonl}; on the
 * ranks other than 0 of a data-parallel run, nothing. Also their greedy test responses.
 */
final class FinetuneLog {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<String> lines = new ArrayList<>();
  private final boolean silent;

  /** A log that keeps and prints; silent: one that does neither (a rank other than 0). */
  FinetuneLog(boolean silent) {
    this.silent = silent;
  }

  /** Keeps n as a line of the log and, when print, prints it on stdout. */
  void emit(ObjectNode n, boolean print) {
    if (silent) {
      return;
    }
    try {
      String s = JSON.writeValueAsString(n);
      lines.add(s);
      if (print) {
        System.out.println(s);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Keeps and prints n. */
  void emit(ObjectNode n) {
    emit(n, true);
  }

  /** Writes the kept lines into file, one JSON object a line. */
  void write(Path file) throws IOException {
    AtomicFiles.writeString(file, String.join("\n", lines) + "\n");
  }

  /**
   * Greedy (or sampled, per gc) responses to prompts, stopping at gc's stop token (not included)
   * or the context's end; each prompt must be shorter than the context. listener, if not null,
   * sees each response's tokens.
   */
  static List<int[]> respond(GptModel model, List<int[]> prompts, GenerationConfig gc,
      Generator.TokenListener listener) {
    List<int[]> out = new ArrayList<>();
    if (prompts.isEmpty()) {
      return out;
    }
    try (Generator g = new Generator(model, 1)) {
      for (int[] p : prompts) {
        if (p.length >= model.config().contextLength()) {
          throw new IllegalArgumentException("the prompt is " + p.length + " tokens, the model's"
              + " context is " + model.config().contextLength() + " (it must be shorter)");
        }
        int[] ids = g.generate(p, gc, listener).ids();
        if (ids.length > 0 && ids[ids.length - 1] == gc.stopToken()) {
          ids = Arrays.copyOf(ids, ids.length - 1);
        }
        out.add(ids);
      }
    }
    return out;
  }
}
