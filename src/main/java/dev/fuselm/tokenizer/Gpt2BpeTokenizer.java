package dev.fuselm.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * GPT-2's byte-level BPE, token for token: GPT-2's pre-tokenisation ({@link Gpt2PreTokenizer}), UTF-8
 * bytes mapped through GPT-2's byte alphabet ({@link ByteLevel}), then, inside each piece, the adjacent
 * pair with the lowest merge rank is merged (all its occurrences, left to right) until no ranked pair is
 * left, exactly as OpenAI's {@code encoder.py}. Checked token for token against JTokkit's r50k_base and
 * Hugging Face's byte-level BPE on the parity corpus and fuzzed strings.
 *
 * <p>Speed: no regular expressions; each thread keeps a cache from piece text to ids (most pieces of
 * natural text repeat), and merges run on int arrays with a primitive pair-rank table. Pieces longer
 * than {@value #HEAP_THRESHOLD} bytes (long digit or space runs) merge with a priority queue, in
 * O(n log n) instead of O(n^2). {@link #encodeBatch(List)} and {@link #encodeParallel(String)} use all cores.
 *
 * <p>Loads GPT-2's {@code encoder.json} + {@code vocab.bpe} ({@link #fromFiles}), a Hugging Face
 * {@code tokenizer.json} of model type BPE with a byte-level alphabet ({@link #fromTokenizerJson}), or the
 * copy of GPT-2's vocabulary shipped in this jar ({@link #gpt2()}). Instances are immutable and thread-safe.
 */
public final class Gpt2BpeTokenizer implements Tokenizer {

  /** GPT-2's end-of-text token. */
  public static final String END_OF_TEXT = "<|endoftext|>";

  /** Pieces with more bytes than this merge with the priority-queue algorithm. */
  static final int HEAP_THRESHOLD = 128;
  /** Pieces with more chars than this are not cached. */
  private static final int MAX_CACHED_CHARS = 64;
  /** Texts longer than this are cut into chunks of about this size by {@link #encodeParallel}. */
  private static final int PARALLEL_CHUNK = 1 << 16;

  private static volatile Gpt2BpeTokenizer gpt2;

  private final BpeVocab vocab;
  private final byte[] flatBytes;    // every token's bytes, back to back
  private final int[] flatStart;     // id -> start in flatBytes; flatStart[size] = flatBytes.length
  private final String[] specialsByLength;   // special tokens, longest first, for allowSpecial matching
  private final ThreadLocal<Worker> workers = ThreadLocal.withInitial(() -> new Worker(this));

  Gpt2BpeTokenizer(BpeVocab vocab) {
    this.vocab = vocab;
    int total = 0;
    for (byte[] b : vocab.tokenBytes) {
      total += b.length;
    }
    flatBytes = new byte[total];
    flatStart = new int[vocab.size() + 1];
    for (int id = 0; id < vocab.size(); id++) {
      byte[] b = vocab.tokenBytes[id];
      System.arraycopy(b, 0, flatBytes, flatStart[id], b.length);
      flatStart[id + 1] = flatStart[id] + b.length;
    }
    this.specialsByLength = vocab.specials.keySet().stream()
        .sorted((a, b) -> b.length() - a.length()).toArray(String[]::new);
  }

  // ------------------------------------------------------------------------------------------------
  // Loading
  // ------------------------------------------------------------------------------------------------

  /** GPT-2's tokenizer from the vocabulary shipped in this jar (no network). Loaded once, then shared. */
  public static Gpt2BpeTokenizer gpt2() {
    Gpt2BpeTokenizer t = gpt2;
    if (t == null) {
      synchronized (Gpt2BpeTokenizer.class) {
        t = gpt2;
        if (t == null) {
          String base = "/dev/fuselm/tokenizer/gpt2/";
          try (InputStream enc = resource(base + "encoder.json");
              InputStream bpe = resource(base + "vocab.bpe")) {
            t = new Gpt2BpeTokenizer(BpeVocab.readGpt2("gpt2/encoder.json", enc, "gpt2/vocab.bpe", bpe));
          } catch (IOException e) {
            throw new UncheckedIOException("the GPT-2 vocabulary shipped in fuselm's jar is unreadable", e);
          }
          gpt2 = t;
        }
      }
    }
    return t;
  }

  static InputStream resource(String name) throws IOException {
    InputStream in = Gpt2BpeTokenizer.class.getResourceAsStream(name);
    if (in == null) {
      throw new IOException("resource " + name + " is missing from the classpath");
    }
    return in;
  }

  /** Loads GPT-2 format files: {@code encoder.json} (token to id) and {@code vocab.bpe} (merges by rank). */
  public static Gpt2BpeTokenizer fromFiles(Path encoderJson, Path vocabBpe) throws IOException {
    try (InputStream enc = Files.newInputStream(encoderJson); InputStream bpe = Files.newInputStream(vocabBpe)) {
      return new Gpt2BpeTokenizer(BpeVocab.readGpt2(encoderJson.toString(), enc, vocabBpe.toString(), bpe));
    }
  }

  /**
   * Loads a directory holding {@code encoder.json} + {@code vocab.bpe} (GPT-2 and {@link BpeTrainer} output;
   * also Hugging Face's {@code vocab.json} + {@code merges.txt} names) or a {@code tokenizer.json}.
   */
  public static Gpt2BpeTokenizer fromDirectory(Path dir) throws IOException {
    for (String[] names : new String[][] {{"encoder.json", "vocab.bpe"}, {"vocab.json", "merges.txt"}}) {
      Path enc = dir.resolve(names[0]);
      Path bpe = dir.resolve(names[1]);
      if (Files.isRegularFile(enc) && Files.isRegularFile(bpe)) {
        return fromFiles(enc, bpe);
      }
    }
    Path json = dir.resolve("tokenizer.json");
    if (Files.isRegularFile(json)) {
      return fromTokenizerJson(json);
    }
    throw new IOException(dir + ": no encoder.json + vocab.bpe, vocab.json + merges.txt or tokenizer.json in this directory");
  }

  /** Loads a Hugging Face {@code tokenizer.json} whose model is a byte-level BPE (GPT-2 style). */
  public static Gpt2BpeTokenizer fromTokenizerJson(Path tokenizerJson) throws IOException {
    try (InputStream in = Files.newInputStream(tokenizerJson)) {
      return new Gpt2BpeTokenizer(BpeVocab.readTokenizerJson(tokenizerJson.toString(), in));
    }
  }

  /**
   * Writes this vocabulary in GPT-2's format: {@code encoder.json} (token to id, special tokens included)
   * and {@code vocab.bpe} ({@code #version: 0.2}, then one merge per line in rank order). Each file is
   * written to a temporary name first and then renamed, so a reader never sees half a file.
   */
  public void save(Path dir) throws IOException {
    Files.createDirectories(dir);
    Map<String, Integer> ordered = new java.util.LinkedHashMap<>();
    for (int id = 0; id < vocab.size(); id++) {
      ordered.put(vocab.tokens[id], id);
    }
    byte[] json = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsBytes(ordered);
    StringBuilder merges = new StringBuilder("#version: 0.2\n");
    for (int r = 0; r < vocab.mergeCount(); r++) {
      merges.append(vocab.tokens[vocab.mergeLeft[r]]).append(' ').append(vocab.tokens[vocab.mergeRight[r]]).append('\n');
    }
    writeAtomically(dir.resolve("encoder.json"), json);
    writeAtomically(dir.resolve("vocab.bpe"), merges.toString().getBytes(StandardCharsets.UTF_8));
  }

  private static void writeAtomically(Path target, byte[] content) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    Files.write(tmp, content);
    try {
      Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (java.nio.file.AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /**
   * A tokenizer sharing this one's vocabulary but with empty per-thread piece caches; benchmarks use it to
   * measure a first pass over a text.
   */
  public Gpt2BpeTokenizer withFreshCache() {
    return new Gpt2BpeTokenizer(vocab);
  }

  BpeVocab vocab() {
    return vocab;
  }

  // ------------------------------------------------------------------------------------------------
  // Tokenizer
  // ------------------------------------------------------------------------------------------------

  @Override
  public int vocabSize() {
    return vocab.size();
  }

  @Override
  public Map<String, Integer> specialTokens() {
    return vocab.specials;
  }

  @Override
  public String idToToken(int id) {
    checkId(id, 0);
    return vocab.tokens[id];
  }

  @Override
  public OptionalInt tokenToId(String token) {
    Integer id = vocab.ids.get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  /** Number of merges (50,000 for GPT-2). */
  public int mergeCount() {
    return vocab.mergeCount();
  }

  /** The merge of the given rank as vocab.bpe writes it: the two tokens, one space between. */
  public String merge(int rank) {
    if (rank < 0 || rank >= vocab.mergeCount()) {
      throw new IllegalArgumentException("merge rank " + rank + " is outside [0, "
          + vocab.mergeCount() + ")");
    }
    return vocab.tokens[vocab.mergeLeft[rank]] + " " + vocab.tokens[vocab.mergeRight[rank]];
  }

  @Override
  public int[] encode(String text) {
    return encodeOrdinary(text);
  }

  /** Encodes treating special tokens as ordinary text (JTokkit's and tiktoken's {@code encode_ordinary}). */
  public int[] encodeOrdinary(String text) {
    Worker w = workers.get();
    IntList out = new IntList(text.length() / 3 + 8);
    w.encode(text, 0, text.length(), out);
    return out.toArray();
  }

  @Override
  public int[] encode(String text, boolean allowSpecial) {
    if (!allowSpecial || specialsByLength.length == 0) {
      return encodeOrdinary(text);
    }
    Worker w = workers.get();
    IntList out = new IntList(text.length() / 3 + 8);
    int pos = 0;
    while (pos < text.length()) {
      int best = -1;
      String bestToken = null;
      for (String s : specialsByLength) {      // earliest match; longest at equal positions
        int at = text.indexOf(s, pos);
        if (at >= 0 && (best < 0 || at < best)) {
          best = at;
          bestToken = s;
        }
      }
      int end = best < 0 ? text.length() : best;
      w.encode(text, pos, end, out);
      if (best < 0) {
        break;
      }
      out.add(vocab.specials.get(bestToken));
      pos = best + bestToken.length();
    }
    return out.toArray();
  }

  /** Number of tokens {@link #encodeOrdinary} would return, without building the array. */
  public int countTokens(String text) {
    Worker w = workers.get();
    IntList out = w.scratchOut;
    out.size = 0;
    w.encode(text, 0, text.length(), out);
    int n = out.size;
    if (out.data.length > 1 << 16) {
      w.scratchOut = new IntList(1024);
    }
    return n;
  }

  /** Encodes many texts on all cores (the common fork-join pool); result i belongs to text i. */
  public List<int[]> encodeBatch(List<String> texts) {
    return texts.parallelStream().map(this::encodeOrdinary).toList();
  }

  /**
   * Encodes one long text on all cores: it is cut at positions where a new piece always starts (a space
   * between two letters), the chunks are encoded in parallel and concatenated. Same ids as
   * {@link #encodeOrdinary}.
   */
  public int[] encodeParallel(String text) {
    char[] s = text.toCharArray();
    List<int[]> bounds = new ArrayList<>();
    int start = 0;
    while (s.length - start > 2 * PARALLEL_CHUNK) {
      int cut = Gpt2PreTokenizer.safeCut(s, start + PARALLEL_CHUNK, s.length);
      if (cut < 0) {
        break;
      }
      bounds.add(new int[] {start, cut});
      start = cut;
    }
    bounds.add(new int[] {start, s.length});
    if (bounds.size() == 1) {
      return encodeOrdinary(text);
    }
    // A parallel stream lets the calling thread work too (a plain join() from outside the pool would idle).
    List<int[]> parts = bounds.parallelStream().map(b -> {
      IntList out = new IntList((b[1] - b[0]) / 3 + 8);
      workers.get().encodeChars(s, b[0], b[1], out);
      return out.toArray();
    }).toList();
    int total = 0;
    for (int[] p : parts) {
      total += p.length;
    }
    int[] ids = new int[total];
    int at = 0;
    for (int[] p : parts) {
      System.arraycopy(p, 0, ids, at, p.length);
      at += p.length;
    }
    return ids;
  }

  /**
   * Decodes to text. Byte sequences that are not valid UTF-8 (a token sequence cut inside a character)
   * become U+FFFD, as GPT-2's {@code errors="replace"}; use {@link #decodeBytes} or a
   * {@link StreamingDecoder} to keep the raw bytes.
   */
  @Override
  public String decode(int[] ids) {
    return new String(decodeBytes(ids), StandardCharsets.UTF_8);
  }

  /** The exact bytes the ids stand for. */
  public byte[] decodeBytes(int[] ids) {
    // All token bytes sit in one flat array (better locality than 50k small arrays); short tokens are
    // copied with a plain loop, which beats System.arraycopy's call overhead at 1-8 bytes.
    byte[] flat = flatBytes;
    int[] start = flatStart;
    int n = 0;
    int size = vocab.size();
    for (int i = 0; i < ids.length; i++) {
      int id = ids[i];
      if (id < 0 || id >= size) {
        checkId(id, i);
      }
      n += start[id + 1] - start[id];
    }
    byte[] out = new byte[n];
    int at = 0;
    for (int id : ids) {
      int from = start[id];
      int len = start[id + 1] - from;
      if (len <= 16) {
        for (int k = 0; k < len; k++) {
          out[at + k] = flat[from + k];
        }
      } else {
        System.arraycopy(flat, from, out, at, len);
      }
      at += len;
    }
    return out;
  }

  /** The bytes of one token (special tokens: their UTF-8 text). */
  public byte[] tokenBytes(int id) {
    checkId(id, 0);
    return vocab.tokenBytes[id].clone();
  }

  /** A decoder for generation: feed ids one at a time, get text as soon as its characters are complete. */
  public StreamingDecoder streamingDecoder() {
    return new StreamingDecoder(this::rawTokenBytes, vocab.size());
  }

  private byte[] rawTokenBytes(int id) {
    return vocab.tokenBytes[id];
  }

  private void checkId(int id, int position) {
    if (id < 0 || id >= vocab.size()) {
      throw new IllegalArgumentException("token id " + id + " at position " + position
          + " is outside the vocabulary (0.." + (vocab.size() - 1) + ")");
    }
  }

  // ------------------------------------------------------------------------------------------------
  // BPE on one piece (static so tests can drive both algorithms)
  // ------------------------------------------------------------------------------------------------

  /** Merges {@code t[0, n)} in place by rank (GPT-2's algorithm); returns the new length. */
  static int mergeSimple(BpeVocab v, int[] t, int n, int[] rankBuf) {
    PairRanks ranks = v.ranks;
    for (int i = 0; i + 1 < n; i++) {
      rankBuf[i] = ranks.get(t[i], t[i + 1]);
    }
    while (n > 1) {
      int best = PairRanks.NONE;
      int at = -1;
      for (int i = 0; i + 1 < n; i++) {
        if (rankBuf[i] < best) {
          best = rankBuf[i];
          at = i;
        }
      }
      if (at < 0) {
        break;
      }
      int a = v.mergeLeft[best];
      int b = v.mergeRight[best];
      int m = v.mergeResult[best];
      int w = at;
      int i = at;
      while (i < n) {
        if (i + 1 < n && t[i] == a && t[i + 1] == b) {
          t[w++] = m;
          i += 2;
        } else {
          t[w++] = t[i++];
        }
      }
      n = w;
      for (int j = Math.max(0, at - 1); j + 1 < n; j++) {
        rankBuf[j] = ranks.get(t[j], t[j + 1]);
      }
    }
    return n;
  }

  /**
   * Same result as {@link #mergeSimple}, in O(n log n): a doubly linked list of symbols and a min-heap of
   * (rank, position). Merging happens in rounds, one per rank: all valid occurrences of the lowest-ranked
   * pair are merged left to right before the pairs they create enter the heap, which is what GPT-2's
   * "merge every occurrence, then look again" does.
   */
  static int mergeHeap(BpeVocab v, int[] t, int n) {
    PairRanks ranks = v.ranks;
    int[] next = new int[n];
    int[] prev = new int[n];
    int[] rank = new int[n];
    long[] heap = new long[Math.max(16, n)];
    int heapSize = 0;
    for (int i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      rank[i] = i + 1 < n ? ranks.get(t[i], t[i + 1]) : PairRanks.NONE;
      if (rank[i] != PairRanks.NONE) {
        heap = heapPush(heap, heapSize++, ((long) rank[i] << 32) | i);
      }
    }
    int[] touched = new int[2 * n];
    while (heapSize > 0) {
      int r = (int) (heap[0] >>> 32);
      int touchedCount = 0;
      while (heapSize > 0 && (int) (heap[0] >>> 32) == r) {
        int p = (int) heap[0];
        heapSize = heapPop(heap, heapSize);
        if (rank[p] != r || t[p] < 0) {
          continue;               // stale: this node was merged away or its pair changed
        }
        int q = next[p];
        t[p] = v.mergeResult[r];
        t[q] = -1;                  // dead
        int qn = next[q];
        next[p] = qn;
        if (qn >= 0) {
          prev[qn] = p;
        }
        rank[p] = qn >= 0 ? ranks.get(t[p], t[qn]) : PairRanks.NONE;
        rank[q] = PairRanks.NONE;
        touched[touchedCount++] = p;
        int pp = prev[p];
        if (pp >= 0) {
          rank[pp] = ranks.get(t[pp], t[p]);
          touched[touchedCount++] = pp;
        }
      }
      for (int k = 0; k < touchedCount; k++) {
        int p = touched[k];
        if (t[p] >= 0 && rank[p] != PairRanks.NONE) {
          heap = heapPush(heap, heapSize++, ((long) rank[p] << 32) | p);
        }
      }
    }
    int w = 0;
    for (int i = 0; i < n; i++) {
      if (t[i] >= 0) {
        t[w++] = t[i];
      }
    }
    return w;
  }

  private static long[] heapPush(long[] heap, int size, long v) {
    if (size == heap.length) {
      heap = Arrays.copyOf(heap, size * 2);
    }
    int i = size;
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (heap[parent] <= v) {
        break;
      }
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = v;
    return heap;
  }

  private static int heapPop(long[] heap, int size) {
    long last = heap[--size];
    int i = 0;
    while (true) {
      int c = 2 * i + 1;
      if (c >= size) {
        break;
      }
      if (c + 1 < size && heap[c + 1] < heap[c]) {
        c++;
      }
      if (heap[c] >= last) {
        break;
      }
      heap[i] = heap[c];
      i = c;
    }
    if (size > 0) {
      heap[i] = last;
    }
    return size;
  }

  // ------------------------------------------------------------------------------------------------
  // Per-thread encoder: piece cache + buffers
  // ------------------------------------------------------------------------------------------------

  /** Per-thread state. The cache maps piece text (chars) to ids, in pools so a hit allocates nothing. */
  static final class Worker implements Gpt2PreTokenizer.PieceSink {
    private static final int MAX_SLOTS = 1 << 18;

    private final BpeVocab v;
    private final int[] byteToId;
    private char[] text = new char[1024];
    private IntList out;
    IntList scratchOut = new IntList(1024);
    private byte[] bytes = new byte[256];
    private int[] work = new int[256];
    private int[] rankBuf = new int[256];

    private int[] slotHash;
    private int[] slotKey;      // offset into keyPool, or -1 for a free slot
    private int[] slotKeyLen;
    private int[] slotVal;      // offset into valPool
    private int[] slotValLen;
    private int used;
    private char[] keyPool = new char[1 << 14];
    private int keyPoolSize;
    private int[] valPool = new int[1 << 13];
    private int valPoolSize;

    Worker(Gpt2BpeTokenizer owner) {
      this.v = owner.vocab;
      this.byteToId = v.byteToId;
      allocSlots(1 << 12);
    }

    private void allocSlots(int n) {
      slotHash = new int[n];
      slotKey = new int[n];
      slotKeyLen = new int[n];
      slotVal = new int[n];
      slotValLen = new int[n];
      Arrays.fill(slotKey, -1);
      used = 0;
    }

    void encode(String s, int from, int to, IntList dst) {
      int len = to - from;
      if (text.length < len) {
        text = new char[Math.max(len, text.length * 2)];
      }
      s.getChars(from, to, text, 0);
      encodeChars(text, 0, len, dst);
      if (text.length > 1 << 22) {
        text = new char[1024];      // do not pin a huge buffer to the thread
      }
    }

    private char[] current;

    void encodeChars(char[] s, int from, int to, IntList dst) {
      current = s;
      out = dst;
      Gpt2PreTokenizer.split(s, from, to, this);
      out = null;
      current = null;
    }

    @Override
    public void piece(int start, int end) {
      char[] s = current;
      int len = end - start;
      if (len == 1 && s[start] < 0x80) {
        out.add(byteToId[s[start]]);
        return;
      }
      if (len > MAX_CACHED_CHARS) {
        int n = bpe(s, start, end);
        out.addAll(work, 0, n);
        return;
      }
      int h = 0;
      for (int i = start; i < end; i++) {
        h = 31 * h + s[i];
      }
      h ^= h >>> 16;
      h *= 0x45d9f3b;
      h ^= h >>> 16;
      int mask = slotKey.length - 1;
      int slot = h & mask;
      while (true) {
        int k = slotKey[slot];
        if (k < 0) {
          break;
        }
        if (slotHash[slot] == h && slotKeyLen[slot] == len && Arrays.equals(keyPool, k, k + len, s, start, end)) {
          out.addAll(valPool, slotVal[slot], slotValLen[slot]);
          return;
        }
        slot = (slot + 1) & mask;
      }
      int n = bpe(s, start, end);
      out.addAll(work, 0, n);
      insert(slot, h, s, start, len, n);
    }

    private void insert(int slot, int h, char[] s, int start, int len, int n) {
      if ((used + 1) * 2 > slotKey.length) {
        if (slotKey.length >= MAX_SLOTS) {
          allocSlots(slotKey.length);   // full: start over rather than grow without bound
          keyPoolSize = 0;
          valPoolSize = 0;
        } else {
          rehash(slotKey.length * 2);
        }
        int mask = slotKey.length - 1;
        slot = h & mask;
        while (slotKey[slot] >= 0) {
          slot = (slot + 1) & mask;
        }
      }
      if (keyPoolSize + len > keyPool.length) {
        keyPool = Arrays.copyOf(keyPool, Math.max(keyPool.length * 2, keyPoolSize + len));
      }
      if (valPoolSize + n > valPool.length) {
        valPool = Arrays.copyOf(valPool, Math.max(valPool.length * 2, valPoolSize + n));
      }
      System.arraycopy(s, start, keyPool, keyPoolSize, len);
      System.arraycopy(work, 0, valPool, valPoolSize, n);
      slotHash[slot] = h;
      slotKey[slot] = keyPoolSize;
      slotKeyLen[slot] = len;
      slotVal[slot] = valPoolSize;
      slotValLen[slot] = n;
      keyPoolSize += len;
      valPoolSize += n;
      used++;
    }

    private void rehash(int n) {
      int[] oh = slotHash;
      int[] ok = slotKey;
      int[] okl = slotKeyLen;
      int[] ov = slotVal;
      int[] ovl = slotValLen;
      int oldUsed = used;
      allocSlots(n);
      int mask = n - 1;
      for (int i = 0; i < ok.length; i++) {
        if (ok[i] >= 0) {
          int slot = oh[i] & mask;
          while (slotKey[slot] >= 0) {
            slot = (slot + 1) & mask;
          }
          slotHash[slot] = oh[i];
          slotKey[slot] = ok[i];
          slotKeyLen[slot] = okl[i];
          slotVal[slot] = ov[i];
          slotValLen[slot] = ovl[i];
        }
      }
      used = oldUsed;
    }

    /** UTF-8 bytes of the piece to byte tokens, merged; the result is in {@code work[0, n)}. */
    private int bpe(char[] s, int start, int end) {
      int max = (end - start) * 3;
      if (bytes.length < max) {
        bytes = new byte[max];
      }
      int n = 0;
      for (int i = start; i < end; i++) {
        char c = s[i];
        if (c < 0x80) {
          bytes[n++] = (byte) c;
        } else if (c < 0x800) {
          bytes[n++] = (byte) (0xC0 | (c >> 6));
          bytes[n++] = (byte) (0x80 | (c & 0x3F));
        } else if (Character.isSurrogate(c)) {
          if (Character.isHighSurrogate(c) && i + 1 < end && Character.isLowSurrogate(s[i + 1])) {
            int cp = Character.toCodePoint(c, s[++i]);
            bytes[n++] = (byte) (0xF0 | (cp >> 18));
            bytes[n++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
            bytes[n++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
            bytes[n++] = (byte) (0x80 | (cp & 0x3F));
          } else {
            bytes[n++] = '?';   // a lone surrogate has no UTF-8 form; String.getBytes writes '?'
          }
        } else {
          bytes[n++] = (byte) (0xE0 | (c >> 12));
          bytes[n++] = (byte) (0x80 | ((c >> 6) & 0x3F));
          bytes[n++] = (byte) (0x80 | (c & 0x3F));
        }
      }
      if (work.length < n) {
        work = new int[Math.max(n, work.length * 2)];
        rankBuf = new int[work.length];
      }
      for (int i = 0; i < n; i++) {
        work[i] = byteToId[bytes[i] & 0xFF];
      }
      return n > HEAP_THRESHOLD ? mergeHeap(v, work, n) : mergeSimple(v, work, n, rankBuf);
    }
  }
}
