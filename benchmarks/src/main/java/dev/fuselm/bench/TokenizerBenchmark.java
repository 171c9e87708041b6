package dev.fuselm.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * GPT-2 BPE encode/decode, fuselm vs JTokkit (r50k_base: the same vocabulary, token-for-token identical
 * output), on the same text in the same JVM; plus BERT WordPiece encoding. One operation is one pass over
 * the whole text, so MB/s = ops/s x text size in MB (the parity corpus is 2.681 MB, 1,274,049 GPT-2 tokens).
 * Single-threaded except {@code fuselmEncodeParallel}, which uses every core.
 *
 * <p>Run from the repository root (the default input is ../shared/data/tokenizer-corpus.txt):
 * {@code java -jar benchmarks/target/benchmarks.jar TokenizerBenchmark -p input=PATH}.
 * {@code fuselm bench tokenize} prints the same comparison as JSON without JMH.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
@Threads(1)
public class TokenizerBenchmark {

  @Param({"../shared/data/tokenizer-corpus.txt"})
  public String input;

  private String text;
  private int[] ids;
  private IntArrayList jtokkitIds;
  private Gpt2BpeTokenizer fuselm;
  private Encoding jtokkit;
  private WordPieceTokenizer bert;

  @Setup(Level.Trial)
  public void setup() throws IOException {
    text = Files.readString(Path.of(input));
    fuselm = Gpt2BpeTokenizer.gpt2();
    jtokkit = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    bert = WordPieceTokenizer.bertBaseUncased();
    ids = fuselm.encode(text);
    jtokkitIds = jtokkit.encodeOrdinary(text);
    if (!java.util.Arrays.equals(ids, jtokkitIds.toArray())) {
      throw new IllegalStateException("fuselm and JTokkit disagree on " + input + "; the comparison would be meaningless");
    }
  }

  @Benchmark
  public int[] fuselmEncode() {
    return fuselm.encode(text);
  }

  @Benchmark
  public int[] fuselmEncodeParallel() {
    return fuselm.encodeParallel(text);
  }

  @Benchmark
  public String fuselmDecode() {
    return fuselm.decode(ids);
  }

  @Benchmark
  public IntArrayList jtokkitEncode() {
    return jtokkit.encodeOrdinary(text);
  }

  @Benchmark
  public String jtokkitDecode() {
    return jtokkit.decode(jtokkitIds);
  }

  @Benchmark
  public int[] bertUncasedEncode() {
    return bert.encode(text);
  }
}
