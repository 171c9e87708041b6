package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one resolver: which files make a tokenizer of a model directory, and its errors. */
class TokenizersTest {
  @TempDir Path tmp;

  @Test
  void presentNeedsBothBpeFilesOrTokenizerJson() throws IOException {
    assertFalse(Tokenizers.present(tmp));
    Files.writeString(tmp.resolve("encoder.json"), "{}");
    assertFalse(Tokenizers.present(tmp), "encoder.json without vocab.bpe is no tokenizer");
    Files.writeString(tmp.resolve("vocab.bpe"), "");
    assertTrue(Tokenizers.present(tmp));
    Path other = Files.createDirectories(tmp.resolve("json"));
    Files.writeString(other.resolve("tokenizer.json"), "{}");
    assertTrue(Tokenizers.present(other));
  }

  @Test
  void forModelFallsBackToGpt2OnlyForItsVocabulary() throws IOException {
    assertEquals(50257, Tokenizers.forModel(tmp, 50257).vocabSize());
    IOException e = assertThrows(IOException.class, () -> Tokenizers.forModel(tmp, 300));
    assertTrue(e.getMessage().contains("no tokenizer files") && e.getMessage().contains("(300)"),
        e.getMessage());
  }

  @Test
  void gpt2BpeResolvesTheShippedNameAndRefusesWhatIsNotThere() throws IOException {
    assertEquals(50257, Tokenizers.gpt2Bpe("gpt2").vocabSize());
    assertEquals(50257, Tokenizers.gpt2Bpe(null).vocabSize());
    IOException e = assertThrows(IOException.class,
        () -> Tokenizers.gpt2Bpe(tmp.resolve("nothing").toString()));
    assertTrue(e.getMessage().contains("not 'gpt2', a tokenizer directory or a tokenizer.json"),
        e.getMessage());
  }

  @Test
  void wordPieceLowerCasesAsTheVocabularyOrItsConfigSays() throws IOException {
    Path uncased = Files.createDirectories(tmp.resolve("uncased"));
    Files.writeString(uncased.resolve("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    assertTrue(Tokenizers.wordPiece(uncased).normalizer().lowercase());
    Path cased = Files.createDirectories(tmp.resolve("cased"));
    Files.writeString(cased.resolve("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nHello\n");
    assertFalse(Tokenizers.wordPiece(cased).normalizer().lowercase());
    Files.writeString(cased.resolve("tokenizer_config.json"), "{\"do_lower_case\": true}");
    assertTrue(Tokenizers.wordPiece(cased).normalizer().lowercase());
    IOException e = assertThrows(IOException.class,
        () -> Tokenizers.wordPiece(Files.createDirectories(tmp.resolve("empty"))));
    assertTrue(e.getMessage().contains("no vocab.txt or tokenizer.json"), e.getMessage());
  }

  @Test
  void wordPieceFilesThatAreNotUtf8AreNamed() throws IOException {
    Path d = Files.createDirectories(tmp.resolve("latin1"));
    Files.write(d.resolve("vocab.txt"), new byte[] {'[', 'U', 'N', 'K', ']', '\n', 'c', 'a', 'f',
        (byte) 0xE9, '\n'});
    IOException e = assertThrows(IOException.class, () -> Tokenizers.wordPiece(d));
    assertEquals(d.resolve("vocab.txt") + ": not valid UTF-8", e.getMessage());
    Files.writeString(d.resolve("vocab.txt"), "[UNK]\n");
    Files.write(d.resolve("tokenizer_config.json"), new byte[] {'{', '"', (byte) 0xFF, '"', '}'});
    e = assertThrows(IOException.class, () -> Tokenizers.wordPiece(d));
    assertEquals(d.resolve("tokenizer_config.json") + ": not valid UTF-8", e.getMessage());
  }
}
