package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.Pooling;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** modules.json and 1_Pooling/config.json as sentence-transformers writes them. */
class SentenceTransformersTest {
  @TempDir Path dir;

  static final String MODULES = "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":"
      + "\"sentence_transformers.models.Transformer\"},{\"idx\":1,\"name\":\"1\",\"path\":"
      + "\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}%s]";

  void write(String extraModules, String pooling) throws IOException {
    Files.writeString(dir.resolve("modules.json"), String.format(MODULES, extraModules));
    Files.createDirectories(dir.resolve("1_Pooling"));
    Files.writeString(dir.resolve("1_Pooling/config.json"), pooling);
  }

  @Test
  void aPlainDirectoryHasNoPipeline() throws IOException {
    assertNull(SentenceTransformers.read(dir));
  }

  @Test
  void readsClsMeanMaxAndNormalize() throws IOException {
    write("", "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": true,"
        + " \"pooling_mode_mean_tokens\": false, \"pooling_mode_max_tokens\": false}");
    assertEquals(new SentenceTransformers.Pipeline(Pooling.CLS, false),
        SentenceTransformers.read(dir));
    write(",{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":"
        + "\"sentence_transformers.models.Normalize\"}", "{\"pooling_mode_max_tokens\": true}");
    assertEquals(new SentenceTransformers.Pipeline(Pooling.MAX, true),
        SentenceTransformers.read(dir));
    write("", "{\"pooling_mode\": \"mean\"}");
    assertEquals(Pooling.MEAN, SentenceTransformers.read(dir).pooling());
  }

  @Test
  void writtenPipelinesReadBack() throws IOException {
    for (Pooling p : Pooling.values()) {
      SentenceTransformers.write(dir, 8, p, p != Pooling.CLS);
      assertEquals(new SentenceTransformers.Pipeline(p, p != Pooling.CLS),
          SentenceTransformers.read(dir));
      Files.deleteIfExists(dir.resolve("2_Normalize"));
    }
  }

  @Test
  void modulesFuselmDoesNotRunAreRefusedByName() throws IOException {
    write(",{\"idx\":2,\"name\":\"2\",\"path\":\"2_Dense\",\"type\":"
        + "\"sentence_transformers.models.Dense\"}", "{\"pooling_mode_mean_tokens\": true}");
    String m = assertThrows(IOException.class, () -> SentenceTransformers.read(dir))
        .getMessage();
    assertTrue(m.contains("'2_Dense' (sentence_transformers.models.Dense) is not supported"), m);
    write("", "{\"pooling_mode_mean_sqrt_len_tokens\": true}");
    m = assertThrows(IOException.class, () -> SentenceTransformers.read(dir)).getMessage();
    assertTrue(m.contains("pooling_mode_mean_sqrt_len_tokens is not supported"), m);
    write("", "{\"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": true}");
    m = assertThrows(IOException.class, () -> SentenceTransformers.read(dir)).getMessage();
    assertTrue(m.contains("together"), m);
  }
}
