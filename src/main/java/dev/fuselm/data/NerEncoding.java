package dev.fuselm.data;

import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Word-level NER labels aligned to sub-word tokens as Hugging Face's token-classification recipe
 * aligns them: each word's first token carries the word's label, its other tokens and the special
 * tokens get {@link #IGNORE} (-100). Also the split of raw text into words with their character
 * spans, the way BERT's basic tokenizer splits (whitespace, and every punctuation character a word
 * of its own), which is how CoNLL data is tokenized.
 */
public final class NerEncoding {
  /** The label of a position without loss (PyTorch's ignore_index). */
  public static final int IGNORE = -100;

  /**
   * A sentence as model input: token ids, one label per token (IGNORE where none), the first token
   * of each word (-1: the word has no token, or was cut by the length limit).
   */
  public record Encoded(int[] ids, int[] labels, int[] firstToken) {
    public int length() {
      return ids.length;
    }

    /** Words that did not fit (or had no token), so have no prediction. */
    public int unplaced() {
      return (int) Arrays.stream(firstToken).filter(i -> i < 0).count();
    }
  }

  private NerEncoding() {}

  /**
   * Aligns one sentence: prefix, then each word's pieces, then suffix; stops before the first word
   * whose pieces would make the total exceed maxLength (0: no limit). wordLabels may be null (all
   * IGNORE: inference).
   */
  public static Encoded align(List<int[]> pieces, int[] wordLabels, int[] prefix, int[] suffix,
      int maxLength) {
    if (wordLabels != null && wordLabels.length != pieces.size()) {
      throw new IllegalArgumentException(pieces.size() + " words but " + wordLabels.length
          + " labels");
    }
    int room = maxLength <= 0 ? Integer.MAX_VALUE : maxLength - prefix.length - suffix.length;
    if (room < 1) {
      throw new IllegalArgumentException("a maximum length of " + maxLength
          + " leaves no room for a word");
    }
    List<Integer> ids = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    for (int id : prefix) {
      ids.add(id);
      labels.add(IGNORE);
    }
    int[] first = new int[pieces.size()];
    Arrays.fill(first, -1);
    int used = 0;
    for (int w = 0; w < pieces.size(); w++) {
      int[] p = pieces.get(w);
      if (used + p.length > room) {
        break;
      }
      for (int j = 0; j < p.length; j++) {
        if (j == 0) {
          first[w] = ids.size();
        }
        ids.add(p[j]);
        labels.add(j == 0 && wordLabels != null ? wordLabels[w] : IGNORE);
      }
      used += p.length;
    }
    for (int id : suffix) {
      ids.add(id);
      labels.add(IGNORE);
    }
    return new Encoded(ids.stream().mapToInt(Integer::intValue).toArray(),
        labels.stream().mapToInt(Integer::intValue).toArray(), first);
  }

  /**
   * Encodes words for a model with tokenizer tok: a WordPiece tokenizer (BERT) encodes each word on
   * its own and wraps the sentence in {@code [CLS] ... [SEP]}; any other (GPT-2 BPE) encodes each
   * word with a leading space (Hugging Face's {@code add_prefix_space} for pre-split words) and
   * adds no special token. wordLabels may be null (inference); maxLength 0: no limit.
   */
  public static Encoded encode(Tokenizer tok, List<String> words, int[] wordLabels,
      int maxLength) {
    boolean bert = tok instanceof WordPieceTokenizer;
    List<int[]> pieces = new ArrayList<>(words.size());
    for (String w : words) {
      pieces.add(tok.encode(bert ? w : " " + w, false));
    }
    int[] prefix = bert ? new int[] {special(tok, WordPieceTokenizer.CLS)} : new int[0];
    int[] suffix = bert ? new int[] {special(tok, WordPieceTokenizer.SEP)} : new int[0];
    return align(pieces, wordLabels, prefix, suffix, maxLength);
  }

  private static int special(Tokenizer tok, String token) {
    return tok.tokenToId(token).orElseThrow(() -> new IllegalArgumentException(
        "the vocabulary has no " + token + " token"));
  }

  /** A word of a text: characters [start, end). */
  public record Span(int start, int end) {
    public String of(String text) {
      return text.substring(start, end);
    }
  }

  /**
   * The words of text: runs of non-whitespace characters, with every punctuation character
   * (BERT's definition: ASCII symbols and Unicode P* categories) a word of its own.
   */
  public static List<Span> words(String text) {
    List<Span> out = new ArrayList<>();
    int start = -1;
    for (int i = 0; i < text.length(); ) {
      int c = text.codePointAt(i);
      int n = Character.charCount(c);
      if (Character.isWhitespace(c) || Character.isSpaceChar(c)) {
        if (start >= 0) {
          out.add(new Span(start, i));
          start = -1;
        }
      } else if (isPunctuation(c)) {
        if (start >= 0) {
          out.add(new Span(start, i));
          start = -1;
        }
        out.add(new Span(i, i + n));
      } else if (start < 0) {
        start = i;
      }
      i += n;
    }
    if (start >= 0) {
      out.add(new Span(start, text.length()));
    }
    return out;
  }

  /** BERT's punctuation: the ASCII non-alphanumeric printables and Unicode punctuation. */
  static boolean isPunctuation(int c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96)
        || (c >= 123 && c <= 126)) {
      return true;
    }
    return switch (Character.getType(c)) {
      case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION,
          Character.START_PUNCTUATION, Character.END_PUNCTUATION,
          Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
          Character.OTHER_PUNCTUATION -> true;
      default -> false;
    };
  }
}
