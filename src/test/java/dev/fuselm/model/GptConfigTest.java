package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class GptConfigTest {
  @Test
  void presetParameterCountsMatchHuggingFace() {
    assertEquals(124_439_808L, GptConfig.gpt2().parameterCount());
    assertEquals(354_823_168L, GptConfig.gpt2Medium().parameterCount());
    assertEquals(774_030_080L, GptConfig.gpt2Large().parameterCount());
    assertEquals(1_557_611_200L, GptConfig.gpt2Xl().parameterCount());
    // an untied head adds V * C
    assertEquals(124_439_808L + 50257L * 768, GptConfig.gpt2().withTiedHead(false).parameterCount());
  }

  @Test
  void presetsByName() {
    assertEquals(GptConfig.gpt2Medium(), GptConfig.preset("gpt2-medium"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> GptConfig.preset("gpt5"));
    assertTrue(e.getMessage().contains("gpt5"), e.getMessage());
  }

  @Test
  void rejectsHeadsThatDoNotDivideWidth() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> GptConfig.of(10, 8, 10, 1, 3));
    assertTrue(e.getMessage().contains("divisible"), e.getMessage());
  }
}
