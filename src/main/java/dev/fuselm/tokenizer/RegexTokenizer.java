package dev.fuselm.tokenizer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The teaching tokenizer of the book's chapter 2 ({@code SimpleTokenizerV2}): the text is split on
 * whitespace and on the punctuation {@code , . : ; ? _ ! " ( ) '} and {@code --}, which are kept as tokens;
 * the vocabulary is the sorted set of pieces of a training text plus {@code <|endoftext|>} and
 * {@code <|unk|>}; a piece outside the vocabulary encodes as {@code <|unk|>}. Decoding joins with spaces
 * and removes the space before punctuation, so it is lossy. Immutable.
 */
public final class RegexTokenizer implements Tokenizer {

  public static final String END_OF_TEXT = "<|endoftext|>";
  public static final String UNK = "<|unk|>";
  private static final Pattern SPLIT = Pattern.compile("[,.:;?_!\"()']|--|\\s");
  private static final Pattern SPACE_BEFORE_PUNCT = Pattern.compile("\\s+([,.:;?!\"()'])");

  private final String[] tokens;
  private final Map<String, Integer> ids;
  private final Map<String, Integer> specials;

  private RegexTokenizer(List<String> vocabulary) {
    this.tokens = vocabulary.toArray(String[]::new);
    this.ids = new HashMap<>();
    for (int i = 0; i < tokens.length; i++) {
      ids.put(tokens[i], i);
    }
    Map<String, Integer> sp = new LinkedHashMap<>();
    sp.put(END_OF_TEXT, ids.get(END_OF_TEXT));
    sp.put(UNK, ids.get(UNK));
    this.specials = Collections.unmodifiableMap(sp);
  }

  /** Builds the vocabulary from a training text: its sorted distinct pieces, then {@code <|endoftext|>}, {@code <|unk|>}. */
  public static RegexTokenizer fromText(String text) {
    TreeSet<String> words = new TreeSet<>(split(text));
    words.remove(END_OF_TEXT);
    words.remove(UNK);
    List<String> vocab = new ArrayList<>(words);
    vocab.add(END_OF_TEXT);
    vocab.add(UNK);
    return new RegexTokenizer(vocab);
  }

  /** The pieces of a text: split on whitespace and punctuation (kept), stripped, empty pieces dropped. */
  public static List<String> split(String text) {
    List<String> out = new ArrayList<>();
    Matcher m = SPLIT.matcher(text);
    int last = 0;
    while (m.find()) {
      addStripped(out, text.substring(last, m.start()));
      addStripped(out, m.group());
      last = m.end();
    }
    addStripped(out, text.substring(last));
    return out;
  }

  private static void addStripped(List<String> out, String s) {
    String t = s.strip();
    if (!t.isEmpty()) {
      out.add(t);
    }
  }

  @Override
  public int[] encode(String text, boolean allowSpecial) {
    List<String> pieces = split(text);
    int[] out = new int[pieces.size()];
    int unk = ids.get(UNK);
    for (int i = 0; i < out.length; i++) {
      String p = pieces.get(i);
      Integer id = ids.get(p);
      boolean special = specials.containsKey(p);
      out[i] = id == null || (special && !allowSpecial) ? unk : id;
    }
    return out;
  }

  @Override
  public String decode(int[] ids) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= tokens.length) {
        throw new IllegalArgumentException("token id " + ids[i] + " at position " + i
            + " is outside the vocabulary (0.." + (tokens.length - 1) + ")");
      }
      if (i > 0) {
        sb.append(' ');
      }
      sb.append(tokens[ids[i]]);
    }
    return SPACE_BEFORE_PUNCT.matcher(sb).replaceAll("$1");
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
    if (id < 0 || id >= tokens.length) {
      throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (tokens.length - 1) + ")");
    }
    return tokens[id];
  }

  @Override
  public OptionalInt tokenToId(String token) {
    Integer id = ids.get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }
}
