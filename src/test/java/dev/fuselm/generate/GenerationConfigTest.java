package dev.fuselm.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class GenerationConfigTest {
  @Test
  void theBuilderNamesEveryOptionAndStopsAtEndOfTextByDefault() {
    GenerationConfig gc = GenerationConfig.builder().maxNewTokens(50).temperature(0.8f).topK(40)
        .topP(0.95f).seed(42).stopStrings("\n\n", "THE END").build();
    assertEquals(new GenerationConfig(50, 0.8f, 40, 0.95f, 42, -1, false, true,
        List.of("\n\n", "THE END")), gc);
    assertTrue(gc.stopAtEndOfText());
    assertEquals(7, gc.withEndOfText(7).stopToken());
    assertEquals(3, gc.toBuilder().stopToken(3).build().withEndOfText(7).stopToken(),
        "an explicit stop token wins");
    assertEquals(-1, gc.toBuilder().stopAtEndOfText(false).build().withEndOfText(7).stopToken());
  }

  @Test
  void theOldFactoriesKeepTheirMeaning() {
    GenerationConfig g = GenerationConfig.greedy(5);
    assertEquals(new GenerationConfig(5, 0f, 0, 1f, 0, -1, false), g);
    assertFalse(g.stopAtEndOfText());
    assertEquals(-1, g.withEndOfText(7).stopToken());
    assertEquals(List.of(), GenerationConfig.sampling(3, 1f, 0, 1f, 1).stopStrings());
    assertEquals(9, g.withStopToken(9).stopToken());
    assertTrue(g.withTruncation(true).truncatePrompt());
  }

  @Test
  void errorsSpeakTheLibrarysWords() {
    assertEquals("maxNewTokens must be >= 0, got -1", assertThrows(
        IllegalArgumentException.class, () -> GenerationConfig.greedy(-1)).getMessage());
    String m = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().topP(0f).build()).getMessage();
    assertTrue(m.startsWith("topP must be in (0, 1]"), m);
    m = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().temperature(-1f).build()).getMessage();
    assertTrue(m.startsWith("temperature"), m);
    m = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().topK(-2).build()).getMessage();
    assertTrue(m.startsWith("topK"), m);
    m = assertThrows(IllegalArgumentException.class,
        () -> GenerationConfig.builder().stopStrings("").build()).getMessage();
    assertTrue(m.contains("stop string"), m);
    for (String msg : List.of(m)) {
      assertFalse(msg.contains("--"), msg);
    }
  }
}
