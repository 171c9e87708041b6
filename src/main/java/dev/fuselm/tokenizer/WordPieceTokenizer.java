package dev.fuselm.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * BERT's WordPiece tokenizer with the behaviour of Hugging Face's {@code BertTokenizerFast}: {@link BertNormalizer}
 * (clean text, CJK spacing, and for uncased vocabularies accent stripping and lower-casing), then a split
 * on whitespace and around every punctuation character, then greedy longest-match-first WordPiece with
 * {@code ##} continuations; a word longer than {@value #MAX_INPUT_CHARS_PER_WORD} characters, or one that
 * cannot be covered by vocabulary pieces, becomes {@code [UNK]}. Checked id for id against Hugging Face's
 * {@code tokenizers} on the parity corpus with both BERT vocabularies.
 *
 * <p>{@link #encode(String)} gives the bare ids (no {@code [CLS]}/{@code [SEP]}); {@link #encodeForModel}
 * builds model inputs: special tokens, sentence pairs with token type ids, longest-first truncation and
 * padding. Immutable and thread-safe.
 */
public final class WordPieceTokenizer implements Tokenizer {

  public static final int MAX_INPUT_CHARS_PER_WORD = 100;
  public static final String UNK = "[UNK]";
  public static final String CLS = "[CLS]";
  public static final String SEP = "[SEP]";
  public static final String PAD = "[PAD]";
  public static final String MASK = "[MASK]";
  private static final String PREFIX = "##";

  private static volatile WordPieceTokenizer uncased;
  private static volatile WordPieceTokenizer cased;

  private final String[] tokens;
  private final Map<String, Integer> vocab;
  private final Map<String, Integer> specials;
  private final String[] specialsByLength;
  private final BertNormalizer normalizer;
  private final int unkId;
  private final int maxTokenChars;   // longest vocabulary entry ("##" included): no longer piece can match
  private final CharTable initialPieces;        // vocabulary entries, looked up by char range
  private final CharTable continuationPieces;   // entries starting with "##", keyed without it

  private WordPieceTokenizer(String source, String[] tokens, Map<String, Integer> vocab, boolean lowercase) throws IOException {
    this.tokens = tokens;
    this.vocab = vocab;
    this.normalizer = new BertNormalizer(lowercase);
    Integer unk = vocab.get(UNK);
    if (unk == null) {
      throw new IOException(source + ": the vocabulary has no " + UNK + " token; not a BERT vocab.txt");
    }
    this.unkId = unk;
    int longest = 0;
    for (String t : tokens) {
      longest = Math.max(longest, t == null ? 0 : t.length());
    }
    this.maxTokenChars = longest;
    this.initialPieces = new CharTable(vocab, "");
    this.continuationPieces = new CharTable(vocab, PREFIX);
    Map<String, Integer> sp = new LinkedHashMap<>();
    for (String s : new String[] {PAD, UNK, CLS, SEP, MASK}) {
      if (vocab.containsKey(s)) {
        sp.put(s, vocab.get(s));
      }
    }
    this.specials = Collections.unmodifiableMap(sp);
    this.specialsByLength = sp.keySet().stream().sorted((a, b) -> b.length() - a.length()).toArray(String[]::new);
  }

  // ------------------------------------------------------------------------------------------------
  // Loading
  // ------------------------------------------------------------------------------------------------

  /** bert-base-uncased, from the vocabulary shipped in this jar (lower-cases and strips accents). */
  public static WordPieceTokenizer bertBaseUncased() {
    WordPieceTokenizer t = uncased;
    if (t == null) {
      synchronized (WordPieceTokenizer.class) {
        if (uncased == null) {
          uncased = shipped("bert-base-uncased", true);
        }
        t = uncased;
      }
    }
    return t;
  }

  /** bert-base-cased, from the vocabulary shipped in this jar (keeps case and accents). */
  public static WordPieceTokenizer bertBaseCased() {
    WordPieceTokenizer t = cased;
    if (t == null) {
      synchronized (WordPieceTokenizer.class) {
        if (cased == null) {
          cased = shipped("bert-base-cased", false);
        }
        t = cased;
      }
    }
    return t;
  }

  private static WordPieceTokenizer shipped(String name, boolean lowercase) {
    String res = "/dev/fuselm/tokenizer/bert/" + name + "-vocab.txt";
    try (InputStream in = Gpt2BpeTokenizer.resource(res)) {
      return read(name + "-vocab.txt", in, lowercase);
    } catch (IOException e) {
      throw new UncheckedIOException("the " + name + " vocabulary shipped in fuselm's jar is unreadable", e);
    }
  }

  /**
   * Loads a BERT {@code vocab.txt} (one token per line, id = line number - 1).
   *
   * @param lowercase true for uncased vocabularies (lower-case and strip accents), false for cased ones
   */
  public static WordPieceTokenizer fromVocab(Path vocabTxt, boolean lowercase) throws IOException {
    try (InputStream in = Files.newInputStream(vocabTxt)) {
      return read(vocabTxt.toString(), in, lowercase);
    }
  }

  /**
   * Loads the WordPiece model of a Hugging Face {@code tokenizer.json} (already parsed); lower-cases when its
   * BERT normalizer says {@code lowercase: true} (the default).
   */
  static WordPieceTokenizer fromTokenizerJson(Path file, com.fasterxml.jackson.databind.JsonNode root) throws IOException {
    com.fasterxml.jackson.databind.JsonNode v = root.path("model").path("vocab");
    if (!v.isObject() || v.size() == 0) {
      throw new IOException(file + ": model.vocab is missing or empty");
    }
    String[] tokens = new String[v.size()];
    Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
    for (var it = v.fields(); it.hasNext(); ) {
      var e = it.next();
      int id = e.getValue().asInt(-1);
      if (id < 0 || id >= tokens.length || tokens[id] != null) {
        throw new IOException(file + ": model.vocab: bad or repeated id " + e.getValue() + " for " + BpeVocab.quote(e.getKey()));
      }
      tokens[id] = e.getKey();
      vocab.put(e.getKey(), id);
    }
    boolean lowercase = root.path("normalizer").path("lowercase").asBoolean(true);
    return new WordPieceTokenizer(file.toString(), tokens, vocab, lowercase);
  }

  static WordPieceTokenizer read(String name, InputStream in, boolean lowercase) throws IOException {
    List<String> lines = new ArrayList<>(32_000);
    try (BufferedReader r = new BufferedReader(BpeVocab.strictUtf8(in))) {
      String line;
      // Split on LF only (a token may hold other line separators); HF also drops a trailing CR and
      // trailing whitespace.
      StringBuilder cur = new StringBuilder();
      int ch;
      while ((ch = r.read()) >= 0) {
        if (ch == '\n') {
          lines.add(cur.toString());
          cur.setLength(0);
        } else {
          cur.append((char) ch);
        }
      }
      if (cur.length() > 0) {
        lines.add(cur.toString());
      }
    } catch (CharacterCodingException e) {
      throw new IOException(name + ": not valid UTF-8 (line " + (lines.size() + 1) + ")", e);
    }
    if (lines.isEmpty()) {
      throw new IOException(name + ": empty vocabulary file");
    }
    String[] tokens = new String[lines.size()];
    Map<String, Integer> vocab = new HashMap<>(lines.size() * 2);
    for (int i = 0; i < tokens.length; i++) {
      String t = lines.get(i).stripTrailing();
      tokens[i] = t;
      vocab.put(t, i);        // a repeated token keeps its last id, as HF's WordPiece::read_file does
    }
    return new WordPieceTokenizer(name, tokens, vocab, lowercase);
  }

  // ------------------------------------------------------------------------------------------------
  // Tokenizer
  // ------------------------------------------------------------------------------------------------

  public BertNormalizer normalizer() {
    return normalizer;
  }

  @Override
  public int vocabSize() {
    return tokens.length;
  }

  @Override
  public Map<String, Integer> specialTokens() {
    return specials;
  }

  @Override
  public String idToToken(int id) {
    checkId(id, 0);
    return tokens[id];
  }

  @Override
  public OptionalInt tokenToId(String token) {
    Integer id = vocab.get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  /** The WordPiece strings of {@code text} (no special tokens added). */
  public List<String> tokenize(String text) {
    List<String> out = new ArrayList<>();
    for (int id : encode(text)) {
      out.add(tokens[id]);
    }
    return out;
  }

  @Override
  public int[] encode(String text, boolean allowSpecial) {
    IntList out = new IntList(text.length() / 4 + 8);
    if (!allowSpecial) {
      encodeOrdinary(text, out);
      return out.toArray();
    }
    // Special tokens are matched on the raw text, before normalisation, as HF's added tokens are.
    int pos = 0;
    while (pos < text.length()) {
      int best = -1;
      String bestToken = null;
      for (String s : specialsByLength) {
        int at = text.indexOf(s, pos);
        if (at >= 0 && (best < 0 || at < best)) {
          best = at;
          bestToken = s;
        }
      }
      encodeOrdinary(text.substring(pos, best < 0 ? text.length() : best), out);
      if (best < 0) {
        break;
      }
      out.add(specials.get(bestToken));
      pos = best + bestToken.length();
    }
    return out.toArray();
  }

  private void encodeOrdinary(String text, IntList out) {
    encodeWords(text, Integer.MAX_VALUE, out);
  }

  /**
   * Normalises, splits on whitespace and around punctuation, and WordPiece-encodes word by word; stops
   * after the word that brings the number of tokens added to {@code tokenLimit} or more.
   */
  private void encodeWords(String text, int tokenLimit, IntList out) {
    String s = normalizer.normalize(text);
    int limit = tokenLimit == Integer.MAX_VALUE ? Integer.MAX_VALUE : out.size + tokenLimit;
    int wordStart = -1;
    for (int i = 0; i < s.length() && out.size < limit; ) {
      int c = s.codePointAt(i);
      int n = Character.charCount(c);
      if (BertUnicode.isWhitespace(c)) {
        if (wordStart >= 0) {
          wordPiece(s, wordStart, i, out);
          wordStart = -1;
        }
      } else if (BertUnicode.PUNCT.get(c)) {
        if (wordStart >= 0) {
          wordPiece(s, wordStart, i, out);
          wordStart = -1;
          if (out.size >= limit) {
            return;
          }
        }
        wordPiece(s, i, i + n, out);
      } else if (wordStart < 0) {
        wordStart = i;
      }
      i += n;
    }
    if (wordStart >= 0 && out.size < limit) {
      wordPiece(s, wordStart, s.length(), out);
    }
  }

  /** Greedy longest-match-first WordPiece of the word {@code s[from, to)}. */
  private void wordPiece(String s, int from, int to, IntList out) {
    if (Character.codePointCount(s, from, to) > MAX_INPUT_CHARS_PER_WORD) {
      out.add(unkId);
      return;
    }
    int mark = out.size;
    int start = from;
    while (start < to) {
      // Candidates longer than the longest vocabulary entry cannot match; start below that length (on a
      // code point boundary) instead of at the end of the word. Same result, O(n * longest) lookups.
      boolean continuation = start > from;
      int end = Math.min(to, start + maxTokenChars - (continuation ? PREFIX.length() : 0));
      if (end < to && end > start && Character.isLowSurrogate(s.charAt(end)) && Character.isHighSurrogate(s.charAt(end - 1))) {
        end--;
      }
      CharTable table = continuation ? continuationPieces : initialPieces;
      int found = -1;
      while (start < end) {
        found = table.get(s, start, end);
        if (found >= 0) {
          break;
        }
        end = Character.isLowSurrogate(s.charAt(end - 1)) && end - 2 >= start ? end - 2 : end - 1;
      }
      if (found < 0) {
        out.size = mark;        // the whole word is unknown
        out.add(unkId);
        return;
      }
      out.add(found);
      start = end;
    }
  }

  /**
   * Model input for one text or a sentence pair: {@code [CLS] first [SEP]} or {@code [CLS] first [SEP] second [SEP]},
   * token type ids 0 for the first segment and 1 for the second, as HF's BERT post-processor.
   *
   * @param second      the second sentence, or null for a single text
   * @param maxLength   0 for no truncation; otherwise the longest result including the special tokens, reached
   *                    by HF's longest-first rule (the longer text loses tokens from its end first; when both
   *                    are too long they share the room, the first getting the smaller half)
   * @param padToLength 0 for no padding; otherwise results shorter than this get {@code [PAD]} (type 0, mask 0)
   *                    appended up to this length
   */
  public BertEncoding encodeForModel(String first, String second, int maxLength, int padToLength) {
    int cls = requireSpecial(CLS);
    int sep = requireSpecial(SEP);
    if (maxLength < 0 || padToLength < 0) {
      throw new IllegalArgumentException("maxLength and padToLength must be >= 0 (0 = off), got "
          + maxLength + " and " + padToLength);
    }
    // With truncation on, HF (tokenizers 0.23, "early exit for truncation") stops encoding each text after
    // the word that brings it to maxLength tokens, before the longest-first rule below compares lengths;
    // a word can overshoot, so this changes which text counts as the longer one. Reproduced as is (the
    // fixtures pin it down), for identical ids.
    int words = maxLength > 0 ? maxLength : Integer.MAX_VALUE;
    IntList ta = new IntList(64);
    encodeWords(first, words, ta);
    int[] a = ta.toArray();
    int[] b = null;
    if (second != null) {
      IntList tb = new IntList(64);
      encodeWords(second, words, tb);
      b = tb.toArray();
    }
    int added = b == null ? 2 : 3;
    if (maxLength > 0) {
      if (maxLength < added) {
        throw new IllegalArgumentException("maxLength " + maxLength + " leaves no room for the " + added
            + " special tokens of a " + (b == null ? "single text" : "sentence pair"));
      }
      int room = maxLength - added;
      if (b == null) {
        a = Arrays.copyOf(a, Math.min(a.length, room));
      } else if (a.length + b.length > room) {
        // HF's truncate_encodings, LongestFirst: n1 is the shorter length, n2 the longer.
        boolean swap = a.length > b.length;
        int n1 = Math.min(a.length, b.length);
        int n2 = n1 > room ? n1 : Math.max(n1, room - n1);
        if (n1 + n2 > room) {
          n1 = room / 2;
          n2 = n1 + room % 2;
        }
        int na = swap ? n2 : n1;
        int nb = swap ? n1 : n2;
        a = Arrays.copyOf(a, Math.min(a.length, na));
        b = Arrays.copyOf(b, Math.min(b.length, nb));
      }
    }
    int len = a.length + (b == null ? 0 : b.length) + added;
    int total = Math.max(len, padToLength);
    int[] ids = new int[total];
    int[] types = new int[total];
    int[] mask = new int[total];
    int at = 0;
    ids[at++] = cls;
    System.arraycopy(a, 0, ids, at, a.length);
    at += a.length;
    ids[at++] = sep;
    if (b != null) {
      System.arraycopy(b, 0, ids, at, b.length);
      Arrays.fill(types, at, at + b.length + 1, 1);
      at += b.length;
      ids[at++] = sep;
    }
    Arrays.fill(mask, 0, at, 1);
    if (at < total) {
      Arrays.fill(ids, at, total, requireSpecial(PAD));
    }
    return new BertEncoding(ids, types, mask);
  }

  private int requireSpecial(String token) {
    Integer id = specials.get(token);
    if (id == null) {
      throw new IllegalStateException("this vocabulary has no " + token + " token");
    }
    return id;
  }

  /**
   * Decodes as HF's WordPiece decoder: {@code ##} pieces join the previous token, others are separated by a
   * space, and spaces before punctuation and English contractions are cleaned up. Lossy by nature
   * (normalisation is not undone).
   */
  @Override
  public String decode(int[] ids) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < ids.length; i++) {
      checkId(ids[i], i);
      String t = tokens[ids[i]];
      if (i > 0) {
        t = t.startsWith(PREFIX) ? t.substring(PREFIX.length()) : " " + t;
      }
      sb.append(cleanup(t));
    }
    return sb.toString();
  }

  private static String cleanup(String s) {
    return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
        .replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't").replace(" 's", "'s")
        .replace(" 've", "'ve").replace(" 're", "'re");
  }

  private void checkId(int id, int position) {
    if (id < 0 || id >= tokens.length) {
      throw new IllegalArgumentException("token id " + id + " at position " + position
          + " is outside the vocabulary (0.." + (tokens.length - 1) + ")");
    }
  }
}
