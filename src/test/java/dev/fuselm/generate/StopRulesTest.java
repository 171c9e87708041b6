package dev.fuselm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.generate.Generator.StopReason;
import org.junit.jupiter.api.Test;

/** The start and stop rules shared by Generator and the serving session. */
class StopRulesTest {
  @Test
  void stopReasonsAreCheckedInOneOrder() {
    GenerationConfig gc = GenerationConfig.greedy(3).withStopToken(7);
    // the stop token wins over everything else, then the listener, the budget, the context
    assertEquals(StopReason.STOP_TOKEN, StopRules.after(7, false, 3, 10, gc, 10));
    assertEquals(StopReason.LISTENER, StopRules.after(1, false, 3, 10, gc, 10));
    assertEquals(StopReason.BUDGET, StopRules.after(1, true, 3, 10, gc, 10));
    assertEquals(StopReason.CONTEXT_FULL, StopRules.after(1, true, 2, 10, gc, 10));
    assertNull(StopRules.after(1, true, 2, 9, gc, 10));
  }

  @Test
  void aPromptLongerThanTheContextIsRefusedOrKeepsItsEnd() {
    int[] prompt = {1, 2, 3, 4, 5};
    GenerationConfig gc = GenerationConfig.greedy(1);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> StopRules.fitPrompt(prompt, gc, 10, 3));
    assertTrue(e.getMessage().contains("context window of 3"), e.getMessage());
    assertArrayEquals(new int[] {3, 4, 5},
        StopRules.fitPrompt(prompt, gc.withTruncation(true), 10, 3));
    assertSame(prompt, StopRules.fitPrompt(prompt, gc, 10, 5), "a prompt that fits is kept");
    assertThrows(IllegalArgumentException.class, () -> StopRules.fitPrompt(new int[0], gc, 10, 5));
    assertThrows(IllegalArgumentException.class,
        () -> StopRules.fitPrompt(new int[] {10}, gc, 10, 5), "an id outside the vocabulary");
  }
}
