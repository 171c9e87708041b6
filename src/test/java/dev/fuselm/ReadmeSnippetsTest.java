package dev.fuselm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.NativeBuffer;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compiles and runs the README's Java snippets: every {@code ```java} block preceded by the line
 * {@code <!-- readme-test -->}. A block's {@code import} lines become the class's imports, the rest
 * the body of a method; the model paths written in the blocks ({@code Path.of("fuselm-demo")} and
 * the like) are mapped to tiny fixture directories of the same kind. Each block must run and leave
 * no native memory live (its resources in try-with-resources).
 */
class ReadmeSnippetsTest {
  private static final String TAG = "<!-- readme-test -->";

  @TempDir Path tmp;

  record Snippet(int line, List<String> imports, String body) {}

  static List<Snippet> snippets() throws IOException {
    List<String> lines = Files.readAllLines(Path.of("README.md"), StandardCharsets.UTF_8);
    List<Snippet> out = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (!lines.get(i).strip().equals(TAG)) {
        continue;
      }
      assertEquals("```java", lines.get(i + 1).strip(), "README line " + (i + 2)
          + ": a " + TAG + " line must be followed by a ```java block");
      List<String> imports = new ArrayList<>();
      StringBuilder body = new StringBuilder();
      int j = i + 2;
      for (; !lines.get(j).strip().equals("```"); j++) {
        String l = lines.get(j);
        if (l.startsWith("import ")) {
          imports.add(l);
        } else {
          body.append(l).append('\n');
        }
      }
      out.add(new Snippet(i + 1, imports, body.toString()));
      i = j;
    }
    return out;
  }

  /** The directories the snippets name, written as tiny models of the same kind. */
  private Map<String, Path> fixtures() throws IOException {
    Map<String, Path> dirs = new LinkedHashMap<>();
    dirs.put("fuselm-demo", tmp.resolve("gpt"));
    dirs.put("spam-classifier", tmp.resolve("clf"));
    dirs.put("minilm", tmp.resolve("bert"));
    GptConfig gpt = GptConfig.of(50257, 64, 32, 2, 2).withDropout(0f);
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, gpt, 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, dirs.get("fuselm-demo"));
    }
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, gpt, 4);
        SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(m, List.of("ham", "spam"),
            50256, 9)) {
      Checkpoint.saveClassifier(clf, 16, false, dirs.get("spam-classifier"), null);
    }
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.random(c, new BertConfig(30522, 16, 2, 2, 32, 64, 2, 1e-12f,
            0.1f, 0.1f), 3)) {
      Checkpoint.save(ModelFamily.BERT, m, dirs.get("minilm"));
    }
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), dirs.get("minilm"));
    return dirs;
  }

  @Test
  void theTaggedReadmeSnippetsCompileRunAndFreeTheirNativeMemory() throws Exception {
    List<Snippet> snippets = snippets();
    assertTrue(snippets.size() >= 4, "expected the README's Java API snippets, found "
        + snippets.size());
    Map<String, Path> dirs = fixtures();
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertNotNull(javac, "the tests need a JDK (javax.tools) to compile the README's snippets");
    Path src = Files.createDirectories(tmp.resolve("src"));
    Path classes = Files.createDirectories(tmp.resolve("classes"));
    List<String> files = new ArrayList<>();
    for (int k = 0; k < snippets.size(); k++) {
      Snippet s = snippets.get(k);
      String body = s.body();
      for (Map.Entry<String, Path> d : dirs.entrySet()) {
        body = body.replace("Path.of(\"" + d.getKey() + "\")",
            "Path.of(\"" + d.getValue().toString().replace("\\", "\\\\") + "\")");
      }
      String code = String.join("\n", s.imports()) + "\n\n/** README line " + s.line()
          + ". */\npublic class Snippet" + k + " {\n  public static void run() throws Exception {\n"
          + body + "  }\n}\n";
      Path f = src.resolve("Snippet" + k + ".java");
      Files.writeString(f, code);
      files.add(f.toString());
    }
    List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "-cp",
        System.getProperty("java.class.path"), "-proc:none", "-nowarn"));
    args.addAll(files);
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc = javac.run(null, null, err, args.toArray(String[]::new));
    assertEquals(0, rc, "the README's snippets do not compile:\n" + err.toString(
        StandardCharsets.UTF_8));
    PrintStream stdout = System.out;
    try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()},
        getClass().getClassLoader())) {
      for (int k = 0; k < snippets.size(); k++) {
        long before = NativeBuffer.liveBytes();
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try {
          Method run = loader.loadClass("Snippet" + k).getMethod("run");
          run.invoke(null);
        } finally {
          System.setOut(stdout);
        }
        assertEquals(before, NativeBuffer.liveBytes(), "README line " + snippets.get(k).line()
            + ": the snippet leaves native memory live (use try-with-resources)");
      }
    }
  }
}
