package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The text pieces LanguageModel streams: whole characters, stop strings cut across tokens. */
class TextStreamTest {
  static final Gpt2BpeTokenizer TOK = Gpt2BpeTokenizer.gpt2();

  @Test
  void piecesAreWholeCharactersAndAddUpToTheDecodedText() {
    String text = "Café 🐱 and 日本語 done";
    int[] ids = TOK.encode(text);
    List<String> pieces = new ArrayList<>();
    TextStream s = new TextStream(TOK, 50256, List.of(), pieces::add);
    for (int id : ids) {
      assertTrue(s.push(id));
    }
    assertEquals(text, s.finish());
    assertEquals(text, String.join("", pieces));
    for (String p : pieces) {
      assertFalse(p.contains("\uFFFD"), "a piece holds half a character: " + pieces);
    }
    assertTrue(ids.length > pieces.size(), "some tokens were parts of one character");
  }

  @Test
  void aStopStringSplitAcrossTokensIsNeverStreamed() {
    int[] ids = TOK.encode("Hello world. THE END and more text");
    List<String> pieces = new ArrayList<>();
    TextStream s = new TextStream(TOK, 50256, List.of("THE END"), pieces::add);
    int pushed = 0;
    while (pushed < ids.length && s.push(ids[pushed])) {
      pushed++;
      assertFalse(String.join("", pieces).contains("THE"), "streamed a possible stop start");
    }
    assertTrue(pushed < ids.length, "the stop string ended the stream");
    assertEquals("Hello world. ", s.finish());
    assertEquals("Hello world. ", String.join("", pieces));
  }

  @Test
  void theEndOfTextTokenIsNotText() {
    TextStream s = new TextStream(TOK, 50256, List.of(), null);
    for (int id : TOK.encode("abc")) {
      s.push(id);
    }
    assertTrue(s.push(50256));
    assertEquals("abc", s.finish());
  }
}
