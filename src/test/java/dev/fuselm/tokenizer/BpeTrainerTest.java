package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {

  @Test
  void learnsTheMostFrequentPairsFirst() {
    Gpt2BpeTokenizer t = BpeTrainer.train("aaab aaab aaab xy", 259);
    // Pieces: "aaab" x1, " aaab" x2, " xy". Pair counts: (a,a) 3x2=6, (a,b) 3, (Ġ,a) 2, ... -> "aa" first.
    assertEquals("aa", t.idToToken(256));
    assertEquals("<|endoftext|>", t.idToToken(258));
    assertEquals(List.of("<|endoftext|>"), List.copyOf(t.specialTokens().keySet()));
    assertEquals(259, t.vocabSize());
  }

  @Test
  void tiesAreBrokenByTokenBytes() {
    // Same pieces in another order: "ab" and "cd" both occur twice; "ab" < "cd" so it is merged first.
    Gpt2BpeTokenizer t1 = BpeTrainer.train("cd\nab\ncd\nab\n", 260);
    Gpt2BpeTokenizer t2 = BpeTrainer.train("ab\nab\ncd\ncd\n", 260);
    assertEquals("ab", t1.idToToken(256));
    assertEquals("ab", t2.idToToken(256));
    assertEquals("cd", t1.idToToken(257));
    assertEquals("cd", t2.idToToken(257));
  }

  @Test
  // Training speed is measured by `time bin/fuselm bpe-train` (README), not asserted here.
  void corpusTrainsSavesReloadsAndRoundTrips(@TempDir Path dir) throws IOException {
    String text = TestData.corpus().substring(0, 2_000_000);
    Gpt2BpeTokenizer t = BpeTrainer.train(text, 4096);
    assertEquals(4096, t.vocabSize());
    t.save(dir);
    Gpt2BpeTokenizer back = Gpt2BpeTokenizer.fromDirectory(dir);
    assertEquals(t.vocabSize(), back.vocabSize());
    assertEquals(t.mergeCount(), back.mergeCount());
    int[] ids = back.encode(text);
    assertArrayEquals(t.encode(text), ids);
    assertEquals(text, back.decode(ids));
    assertTrue(ids.length < text.length() / 2, "4096 tokens should compress the text, got " + ids.length);
    String other = String.join("", TestData.adversarial(3, 300));
    assertEquals(other, back.decode(back.encode(other)));
    assertEquals(Files.readString(dir.resolve("vocab.bpe")).lines().count(), t.mergeCount() + 1);
  }

  @Test
  void encodingTheTrainingTextReproducesTheTrainersSegmentation() {
    // Merges applied by rank at encode time must cut every training word exactly as training left it:
    // the token count of the encoded text equals the trainer's own count.
    for (String text : new String[] {TestData.corpus().substring(0, 300_000), "aaaaaaa aaaa aaa aa a abababab abab"}) {
      BpeTrainer.Result r = BpeTrainer.trainCounting(text, 1500, List.of("<|endoftext|>"));
      assertEquals(r.trainingTokens(), r.tokenizer().encode(text).length);
    }
  }

  @Test
  void rejectsTooSmallVocabularies() {
    assertThrows(IllegalArgumentException.class, () -> BpeTrainer.train("abc", 256));
    Gpt2BpeTokenizer tiny = BpeTrainer.train("ab", 1000);   // stops when no pair is left
    assertEquals(258, tiny.vocabSize());
  }
}
