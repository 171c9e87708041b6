package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.io.TokenClassifierFiles;
import dev.fuselm.serve.NamedEntityRecognizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm ner}: the named entities of texts, with a token classifier from finetune-ner. */
@Command(name = "ner", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Finds the named entities of --text, or of each line of --input; prints one"
        + " entity a line: LINE<TAB>START<TAB>END<TAB>TYPE<TAB>TEXT, where LINE counts input lines"
        + " from 1 and [START, END) are character offsets into that line; --json prints one"
        + " object per line instead.")
public final class NerCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true, description = "token-classifier directory")
  Path model;

  static final class Input {
    @Option(names = "--text", required = true, description = "one text") String text;
    @Option(names = "--input", required = true, description = "a file, one text a line") Path file;
  }

  @ArgGroup(exclusive = true, multiplicity = "1") Input input;
  @Option(names = "--json", description = "one JSON object per input line: {\"line\":N,"
      + "\"entities\":[{\"type\",\"start\",\"end\",\"text\",\"score\"},...]}") boolean json;

  @Override
  public Integer call() throws IOException {
    List<String> lines = new ArrayList<>();
    if (input.text != null) {
      lines.add(input.text);
    } else {
      if (!Files.isRegularFile(input.file)) {
        throw new UserInputException(input.file + ": no such file");
      }
      for (String line : Files.readString(input.file, StandardCharsets.UTF_8).split("\n", -1)) {
        lines.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
      }
      if (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
        lines.remove(lines.size() - 1); // the file's final newline
      }
    }
    TokenClassifierFiles.readMeta(model); // a clear error before loading weights
    try (NamedEntityRecognizer ner = NamedEntityRecognizer.load(model)) {
      StringBuilder out = new StringBuilder();
      for (int i = 0; i < lines.size(); i++) {
        List<NamedEntityRecognizer.Entity> ents = ner.recognize(lines.get(i));
        if (json) {
          ObjectNode n = JSON.createObjectNode().put("line", i + 1);
          ArrayNode a = n.putArray("entities");
          for (NamedEntityRecognizer.Entity e : ents) {
            a.addObject().put("type", e.type()).put("start", e.start()).put("end", e.end())
                .put("text", e.text()).put("score", e.score());
          }
          out.append(JSON.writeValueAsString(n)).append('\n');
        } else {
          for (NamedEntityRecognizer.Entity e : ents) {
            out.append(i + 1).append('\t').append(e.start()).append('\t').append(e.end())
                .append('\t').append(e.type()).append('\t').append(e.text()).append('\n');
          }
        }
      }
      System.out.print(out);
      System.out.flush();
    }
    return 0;
  }
}
