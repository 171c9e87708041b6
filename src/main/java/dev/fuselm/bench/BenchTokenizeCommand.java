package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.cli.TokenizeCommand;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fuselm bench tokenize}: GPT-2 encode and decode throughput of fuselm and of JTokkit (r50k_base, the
 * same vocabulary) on the same text in the same JVM, as JSON lines, with the ratio. Each measurement is the
 * median of timed passes over the whole text after warm-up passes; single-threaded unless named "parallel".
 * JTokkit is found on the class path, or at {@code --jtokkit-jar}, or in the local Maven repository; it is
 * called through reflection so it stays out of fuselm's runtime dependencies.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
  description = "GPT-2 BPE encode/decode MB/s and tokens/s, fuselm vs JTokkit on the same text; prints JSON lines.")
public final class BenchTokenizeCommand implements Callable<Integer> {

  @Option(names = "--input", paramLabel = "FILE",
    description = "UTF-8 text to tokenize (default: ../shared/data/tokenizer-corpus.txt)")
  Path input;

  @Option(names = "--runs", description = "timed passes per measurement (default: ${DEFAULT-VALUE})")
  int runs = 7;

  @Option(names = "--warmup", description = "untimed passes first (default: ${DEFAULT-VALUE})")
  int warmup = 5;

  @Option(names = "--jtokkit-jar", paramLabel = "JAR", description = "JTokkit jar, if it is not on the class path")
  Path jtokkitJar;

  @Override
  public Integer call() throws Exception {
    if (runs < 1 || warmup < 0) {
      throw new UserInputException("--runs must be >= 1 and --warmup >= 0");
    }
    if (input == null) {
      input = Path.of("..", "shared", "data", "tokenizer-corpus.txt");
      if (!Files.isRegularFile(input)) {
        throw new UserInputException("no --input given and " + input.toAbsolutePath().normalize() + " does not exist");
      }
    }
    String text = TokenizeCommand.decodeUtf8(TokenizeCommand.read(input), input);
    double mb = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
    Gpt2BpeTokenizer gpt2 = Gpt2BpeTokenizer.gpt2();

    // fuselm: a pass with empty piece caches (a new instance each time, JIT warm), then steady state.
    int[] ids = gpt2.encode(text);
    double cold = median(() -> gpt2.withFreshCache().encode(text));
    report("fuselm", "encode_first_pass", 1, mb, ids.length, cold);
    double enc = median(() -> gpt2.encode(text));
    report("fuselm", "encode", 1, mb, ids.length, enc);
    double dec = median(() -> gpt2.decode(ids));
    report("fuselm", "decode", 1, mb, ids.length, dec);
    int cores = Runtime.getRuntime().availableProcessors();
    double par = median(() -> gpt2.encodeParallel(text));
    report("fuselm", "encode_parallel", cores, mb, ids.length, par);

    JTokkit jt = JTokkit.find(jtokkitJar);
    if (jt == null) {
      System.out.println("{\"bench\":\"tokenize\",\"impl\":\"jtokkit\",\"error\":\"JTokkit not found: put com.knuddels:jtokkit"
        + " on the class path or pass --jtokkit-jar\"}");
      return 0;
    }
    int[] ref = jt.encode(text);
    boolean same = Arrays.equals(ids, ref);
    double jenc = median(() -> jt.encode(text));
    report("jtokkit", "encode", 1, mb, ref.length, jenc);
    Object refList = jt.encodeRaw(text);
    double jdec = median(() -> jt.decode(refList));
    report("jtokkit", "decode", 1, mb, ref.length, jdec);
    new JsonLine().put("bench", "tokenize").put("ratio", "fuselm/jtokkit")
      .put("encode", jenc / enc, 2).put("decode", jdec / dec, 2)
      .put("encode_parallel_vs_jtokkit_single", jenc / par, 2).put("ids_equal", same)
      .put("input", input.toString()).put("mb", mb, 3).println(System.out);
    return same ? 0 : 1;
  }

  private static void report(String impl, String op, int threads, double mb, int tokens, double seconds) {
    new JsonLine().put("bench", "tokenize").put("impl", impl).put("op", op).put("threads", threads)
      .put("mb_per_s", mb / seconds, 2).put("tokens_per_s", tokens / seconds, 0)
      .put("seconds", seconds, 4).println(System.out);
  }

  @FunctionalInterface
  private interface Pass {
    Object run() throws Exception;
  }

  private volatile Object sink;

  private double median(Pass p) throws Exception {
    for (int i = 0; i < warmup; i++) {
      sink = p.run();
    }
    double[] t = new double[runs];
    for (int i = 0; i < runs; i++) {
      long s = System.nanoTime();
      sink = p.run();
      t[i] = (System.nanoTime() - s) / 1e9;
    }
    Arrays.sort(t);
    return t[runs / 2];
  }

  /** JTokkit's r50k_base through reflection. */
  static final class JTokkit {
    private final Object encoding;
    private final Method encodeOrdinary;
    private final Method toArray;
    private final Method decode;

    private JTokkit(ClassLoader cl) throws ReflectiveOperationException {
      Class<?> encodings = Class.forName("com.knuddels.jtokkit.Encodings", true, cl);
      Object registry = encodings.getMethod("newDefaultEncodingRegistry").invoke(null);
      Class<?> type = Class.forName("com.knuddels.jtokkit.api.EncodingType", true, cl);
      Object r50k = type.getField("R50K_BASE").get(null);
      Class<?> registryClass = Class.forName("com.knuddels.jtokkit.api.EncodingRegistry", true, cl);
      Class<?> encodingClass = Class.forName("com.knuddels.jtokkit.api.Encoding", true, cl);
      Class<?> intList = Class.forName("com.knuddels.jtokkit.api.IntArrayList", true, cl);
      encoding = registryClass.getMethod("getEncoding", type).invoke(registry, r50k);
      encodeOrdinary = encodingClass.getMethod("encodeOrdinary", String.class);
      decode = encodingClass.getMethod("decode", intList);
      toArray = intList.getMethod("toArray");
    }

    static JTokkit find(Path jar) throws Exception {
      ClassLoader cl = BenchTokenizeCommand.class.getClassLoader();
      try {
        Class.forName("com.knuddels.jtokkit.Encodings", false, cl);
        return load(cl, "the class path");
      } catch (ClassNotFoundException e) {
        // not on the class path: try a jar
      }
      Path candidate = jar != null ? jar
        : Path.of(System.getProperty("user.home"), ".m2", "repository", "com", "knuddels", "jtokkit", "1.1.0", "jtokkit-1.1.0.jar");
      if (!Files.isRegularFile(candidate)) {
        if (jar != null) {
          throw new UserInputException("--jtokkit-jar " + jar + ": no such file");
        }
        return null;
      }
      return load(new URLClassLoader(new URL[] {candidate.toUri().toURL()}, cl), candidate.toString());
    }

    private static JTokkit load(ClassLoader cl, String where) {
      try {
        return new JTokkit(cl);
      } catch (ReflectiveOperationException | LinkageError e) {
        throw new UserInputException("JTokkit from " + where + " is not usable (version 1.x expected): " + e);
      }
    }

    Object encodeRaw(String text) throws ReflectiveOperationException {
      return encodeOrdinary.invoke(encoding, text);
    }

    int[] encode(String text) throws ReflectiveOperationException {
      return (int[]) toArray.invoke(encodeRaw(text));
    }

    String decode(Object ids) throws ReflectiveOperationException {
      return (String) decode.invoke(encoding, ids);
    }
  }
}
