package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.baseline.NgramModel;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fuselm ngram train|eval}: outputs, the in-one-go form, and one-line errors with exit 2. */
class NgramCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  private Path text(String name, int from, int to) throws IOException {
    Path f = tmp.resolve(name);
    byte[] all = DemoCommandTest.bundled();
    Files.write(f, Arrays.copyOfRange(all, from, to));
    return f;
  }

  @Test
  void trainThenEvalAndInOneGo() throws IOException {
    Path train = text("train.txt", 0, 20_000);
    Path valid = text("valid.txt", 20_000, 24_000);
    Path model = tmp.resolve("m.ngram");
    DemoCommandTest.Run t = DemoCommandTest.run("ngram", "train", "--text", train.toString(),
        "--tokenizer", "gpt2", "--order", "3", "--out", model.toString());
    assertEquals(0, t.code(), t.err());
    JsonNode tj = JSON.readTree(t.out());
    assertEquals(3, tj.get("order").asInt());
    assertEquals("kn", tj.get("smoothing").asText());
    assertEquals(50257, tj.get("vocab_size").asInt());
    assertEquals(3, tj.get("discounts").size());
    assertTrue(Files.isRegularFile(model));

    DemoCommandTest.Run e = DemoCommandTest.run("ngram", "eval", "--model", model.toString(),
        "--text", valid.toString());
    assertEquals(0, e.code(), e.err());
    JsonNode ej = JSON.readTree(e.out());
    int[] ids = Gpt2BpeTokenizer.gpt2().encode(Files.readString(valid), true);
    assertEquals(ids.length - 1, ej.get("tokens").asInt());
    assertEquals(3, ej.get("order").asInt());
    assertEquals("kn", ej.get("smoothing").asText());
    double ppl = ej.get("perplexity").asDouble();
    assertEquals(Math.exp(ej.get("loss").asDouble()), ppl, 1e-3 * ppl);
    assertTrue(ppl > 1 && ppl < 50257, e.out());

    // the same model trained in one go, and the same evaluation on token ids
    DemoCommandTest.Run once = DemoCommandTest.run("ngram", "eval", "--train", train.toString(),
        "--text", valid.toString(), "--order", "3");
    assertEquals(0, once.code(), once.err());
    assertEquals(e.out(), once.out());
    Path validIds = tmp.resolve("valid.tokens");
    Files.writeString(validIds, Arrays.stream(ids).mapToObj(Integer::toString)
        .collect(Collectors.joining(" ")) + "\n");
    DemoCommandTest.Run onIds = DemoCommandTest.run("ngram", "eval", "--model", model.toString(),
        "--tokens", validIds.toString());
    assertEquals(0, onIds.code(), onIds.err());
    assertEquals(e.out(), onIds.out());

    // add-k is much worse than Kneser-Ney here (a 50,257-id vocabulary, 6k training tokens)
    DemoCommandTest.Run addk = DemoCommandTest.run("ngram", "eval", "--train", train.toString(),
        "--text", valid.toString(), "--order", "2", "--smoothing", "addk", "--k", "0.1");
    assertEquals(0, addk.code(), addk.err());
    JsonNode aj = JSON.readTree(addk.out());
    assertEquals("addk", aj.get("smoothing").asText());
    assertEquals(0.1, aj.get("k").asDouble(), 1e-12);
    assertTrue(aj.get("perplexity").asDouble() > ppl, addk.out());
  }

  /** Token ids with a vocabulary size and no tokenizer: the model file records none. */
  @Test
  void tokenIdsWithAVocabularySize() throws IOException {
    Path ids = tmp.resolve("a.txt");
    Files.writeString(ids, "0 1 0 1 2 0\n");
    Path model = tmp.resolve("m.ngram");
    DemoCommandTest.Run t = DemoCommandTest.run("ngram", "train", "--tokens", ids.toString(),
        "--vocab-size", "4", "--order", "2", "--discount", "0.5", "--out", model.toString());
    assertEquals(0, t.code(), t.err());
    assertEquals(null, NgramModel.load(model).tokenizer());
    Path probe = tmp.resolve("b.txt");
    Files.writeString(probe, "0 1 2 3");
    DemoCommandTest.Run e = DemoCommandTest.run("ngram", "eval", "--model", model.toString(),
        "--tokens", probe.toString());
    assertEquals(0, e.code(), e.err());
    // NgramModelTest.bigramKneserNeyByHand: p(b|a) p(c|b) p(d|c)
    double loss = -(Math.log(0.8046875) + Math.log(0.359375) + Math.log(0.046875)) / 3;
    assertEquals((float) loss, (float) JSON.readTree(e.out()).get("loss").asDouble());
    expectError(null, "names no tokenizer", "ngram", "eval", "--model", model.toString(),
        "--text", probe.toString());
  }

  @Test
  void badInputIsOneLineAndExitCodeTwo() throws IOException {
    Path ids = tmp.resolve("ids.txt");
    Files.writeString(ids, "1 2 3 1 2 3\n");
    String out = tmp.resolve("m.ngram").toString();
    String[] base = {"ngram", "train", "--tokens", ids.toString(), "--vocab-size", "8", "--out", out};
    expectError(null, "--order must be at least 1", concat(base, "--order", "0"));
    expectError(null, "order must be between 1 and 10", concat(base, "--order", "11"));
    expectError(null, "--k must be > 0", concat(base, "--smoothing", "addk", "--k", "0"));
    expectError(null, "--k must be > 0", concat(base, "--smoothing", "addk", "--k", "-1"));
    expectError(null, "--discount must be in (0, 1]", concat(base, "--discount", "1.5"));
    expectError(null, "--k is for --smoothing addk", concat(base, "--k", "0.5"));
    expectError(null, "unknown n-gram smoothing 'wb'", concat(base, "--smoothing", "wb"));
    expectError(null, "--vocab-size 8 is smaller", "ngram", "train", "--tokens", ids.toString(),
        "--vocab-size", "8", "--tokenizer", "gpt2", "--out", out);
    expectError(null, "token 2 has id 3, outside the vocabulary of 3", "ngram", "train",
        "--tokens", ids.toString(), "--vocab-size", "3", "--out", out);
    expectError(null, "no such token file", "ngram", "train", "--tokens",
        tmp.resolve("absent").toString(), "--vocab-size", "8", "--out", out);
    expectError(null, "no such data file", "ngram", "train", "--text",
        tmp.resolve("absent.txt").toString(), "--out", out);
    Path words = tmp.resolve("words.txt");
    Files.writeString(words, "1 2 x 4\n");
    expectError(null, "'x' (token 2) is not a token id", "ngram", "train", "--tokens",
        words.toString(), "--vocab-size", "8", "--out", out);
    Path latin1 = tmp.resolve("latin1.txt");
    Files.write(latin1, new byte[] {'a', (byte) 0xe9, '\n'});
    expectError(null, "not valid UTF-8", "ngram", "train", "--text", latin1.toString(), "--out", out);

    DemoCommandTest.Run ok = DemoCommandTest.run(base);
    assertEquals(0, ok.code(), ok.err());
    Path one = tmp.resolve("one.txt");
    Files.writeString(one, "5");
    expectError(null, "needs at least 2 tokens", "ngram", "eval", "--model", out, "--tokens",
        one.toString());
    Path big = tmp.resolve("big.txt");
    Files.writeString(big, "5 9");
    expectError(null, "token 1 has id 9, outside the vocabulary of 8", "ngram", "eval", "--model",
        out, "--tokens", big.toString());
    expectError(null, "--order is for training", "ngram", "eval", "--model", out, "--tokens",
        ids.toString(), "--order", "2");
    Path notModel = tmp.resolve("not.ngram");
    Files.writeString(notModel, "{\"order\": 3}\n");
    expectError(null, "not a fuselm n-gram model", "ngram", "eval", "--model",
        notModel.toString(), "--tokens", ids.toString());
    expectError(null, "no such n-gram model file", "ngram", "eval", "--model",
        tmp.resolve("absent.ngram").toString(), "--tokens", ids.toString());
    // picocli's own usage errors keep its wording, and exit code 2 too
    expectError("", "", "ngram", "eval", "--tokens", ids.toString());
  }

  /** Runs args, expects exit 2 and, unless prefix is "", one line starting "fuselm: " with part. */
  private static void expectError(String prefix, String part, String... args) {
    DemoCommandTest.Run r = DemoCommandTest.run(args);
    assertEquals(2, r.code(), String.join(" ", args) + "\n" + r.out() + r.err());
    assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    if (prefix == null) {
      assertTrue(r.err().startsWith("fuselm: ") && r.err().contains(part), r.err());
      assertEquals(1, r.err().strip().lines().count(), r.err());
    }
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
