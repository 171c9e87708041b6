package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fuselm import onnx on LangChain4j's MiniLM jar, then fuselm embed with the model's pooling. */
class OnnxImportCommandTest {
  @TempDir Path tmp;

  @Test
  void importsTheJarAndEmbedPoolsAsTheModelSays() throws Exception {
    Path jar = Path.of(((JarURLConnection) getClass().getResource("/all-minilm-l6-v2.onnx")
        .openConnection()).getJarFileURL().toURI());
    JsonNode ref;
    try (InputStream in = getClass().getResourceAsStream(
        "/dev/fuselm/io/onnx-minilm-reference.json")) {
      ref = new ObjectMapper().readTree(in);
    }
    Path out = tmp.resolve("minilm");
    EmbedCommandTest.Run r = EmbedCommandTest.run("import", "onnx", jar.toString(), "--out",
        out.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("6 layers, hidden 384, 12 heads"), r.out());
    Path input = tmp.resolve("in.txt");
    Files.writeString(input, ref.get("sentences").get(0).asText() + "\n",
        StandardCharsets.UTF_8);
    // no --normalize: the imported directory's Normalize module says so
    r = EmbedCommandTest.run("embed", "--model", out.toString(), "--input", input.toString());
    assertEquals(0, r.code(), r.err());
    JsonNode got = new ObjectMapper().readTree(r.out().trim());
    JsonNode want = ref.get("mean_normalized").get(0);
    assertEquals(want.size(), got.size());
    for (int k = 0; k < want.size(); k++) {
      assertEquals(want.get(k).asDouble(), got.get(k).asDouble(), 1e-5, "dim " + k);
    }
    // explicit flags override the model's pooling and normalisation
    r = EmbedCommandTest.run("embed", "--model", out.toString(), "--input", input.toString(),
        "--pooling", "cls", "--no-normalize");
    assertEquals(0, r.code(), r.err());
    got = new ObjectMapper().readTree(r.out().trim());
    want = ref.get("cls").get(0);
    for (int k = 0; k < want.size(); k++) {
      assertEquals(want.get(k).asDouble(), got.get(k).asDouble(), 2e-5, "cls dim " + k);
    }
    r = EmbedCommandTest.run("embed", "--model", out.toString(), "--input", input.toString(),
        "--pooling", "weightedmean");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("pooling 'weightedmean' is not one of mean, cls, max"), r.err());
  }

  @Test
  void aFileThatIsNotOnnxExitsTwoWithOneLine() throws Exception {
    Path f = tmp.resolve("model.onnx");
    Files.writeString(f, "<html>not a model</html>\n".repeat(20));
    EmbedCommandTest.Run r = EmbedCommandTest.run("import", "onnx", f.toString(), "--out",
        tmp.resolve("o").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("fuselm: ") && r.err().contains("not an ONNX model")
        && r.err().strip().lines().count() == 1, r.err());
  }
}
