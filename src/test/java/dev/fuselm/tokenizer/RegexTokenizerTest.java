package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegexTokenizerTest {

  static String verdict() throws IOException {
    Path p = TestData.dataDir().resolve("the-verdict.txt");
    Assumptions.assumeTrue(Files.isRegularFile(p), "no " + p);
    return Files.readString(p);
  }

  @Test
  void theBooksChapter2Example() throws IOException {
    RegexTokenizer t = RegexTokenizer.fromText(verdict());
    assertEquals(1132, t.vocabSize());   // 1,130 words + <|endoftext|> + <|unk|>
    assertEquals(1130, t.specialTokenId("<|endoftext|>").getAsInt());
    assertEquals(1131, t.specialTokenId("<|unk|>").getAsInt());
    String text = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace.";
    int[] ids = t.encode(text, true);
    assertArrayEquals(new int[] {1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7}, ids);
    assertEquals("<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>.", t.decode(ids));
    assertEquals(1131, t.encode(text)[7]);   // not allowed: the written special token is unknown text
  }

  @Test
  void splitKeepsPunctuationAndDropsWhitespace() {
    assertEquals(List.of("Hello", ",", "world", ".", "Is", "this", "--", "a", "test", "?"),
        RegexTokenizer.split("Hello, world. Is this-- a test?"));
    RegexTokenizer t = RegexTokenizer.fromText("a b c");
    assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {5}));
    assertEquals("a c", t.decode(t.encode("a c")));
  }

  @Test
  void tokenizersLoadsByNameAndPath(@TempDir Path dir) throws IOException {
    assertInstanceOf(Gpt2BpeTokenizer.class, Tokenizers.load("gpt2"));
    assertEquals(30522, Tokenizers.load("bert-base-uncased").vocabSize());
    assertEquals(28996, Tokenizers.load("bert-base-cased").vocabSize());
    assertThrows(NoSuchFileException.class, () -> Tokenizers.load(dir.resolve("nothing").toString()));

    // A BERT directory with tokenizer_config.json saying cased.
    Path bert = dir.resolve("bert");
    Files.createDirectories(bert);
    try (var in = Gpt2BpeTokenizer.resource("/dev/fuselm/tokenizer/bert/bert-base-cased-vocab.txt")) {
      Files.copy(in, bert.resolve("vocab.txt"));
    }
    Files.writeString(bert.resolve("tokenizer_config.json"), "{\"do_lower_case\": false}");
    Tokenizer cased = Tokenizers.load(bert.toString());
    assertArrayEquals(WordPieceTokenizer.bertBaseCased().encode("Hello WORLD"), cased.encode("Hello WORLD"));

    // A WordPiece tokenizer.json (the shape Hugging Face saves).
    StringBuilder json = new StringBuilder("{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},"
        + "\"model\":{\"type\":\"WordPiece\",\"vocab\":{");
    WordPieceTokenizer uncased = WordPieceTokenizer.bertBaseUncased();
    for (int id = 0; id < uncased.vocabSize(); id++) {
      json.append(id == 0 ? "" : ",").append(new com.fasterxml.jackson.databind.ObjectMapper()
          .writeValueAsString(uncased.idToToken(id))).append(':').append(id);
    }
    json.append("}}}");
    Path tj = dir.resolve("tokenizer.json");
    Files.writeString(tj, json);
    Tokenizer fromJson = Tokenizers.load(tj.toString());
    String sample = "Héllo, WORLD! 中文 unaffable";
    assertArrayEquals(uncased.encode(sample), fromJson.encode(sample));
    assertTrue(fromJson instanceof WordPieceTokenizer);
  }
}
