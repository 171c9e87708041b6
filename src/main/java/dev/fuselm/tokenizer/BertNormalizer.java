package dev.fuselm.tokenizer;

/**
 * BERT's text normalisation, as Hugging Face's {@code BertNormalizer} does it, in its order:
 * <ol>
 *   <li>clean text: delete NUL, U+FFFD and control/format/private-use characters (TAB, LF, CR excepted),
 *       then turn every whitespace character into U+0020;</li>
 *   <li>put a space on both sides of every CJK ideograph;</li>
 *   <li>strip accents: NFD, then delete non-spacing marks;</li>
 *   <li>lower-case, character by character (so {@code İ} becomes {@code i̇} and a final sigma stays {@code σ}).</li>
 * </ol>
 * The character classes are Hugging Face's own ({@link BertUnicode}), not this JDK's. Immutable.
 */
public final class BertNormalizer {

  private final boolean cleanText;
  private final boolean handleChineseChars;
  private final boolean stripAccents;
  private final boolean lowercase;

  /** BERT's defaults for an uncased ({@code lowercase = true}, accents stripped) or cased vocabulary. */
  public BertNormalizer(boolean lowercase) {
    this(true, true, lowercase, lowercase);
  }

  public BertNormalizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase) {
    this.cleanText = cleanText;
    this.handleChineseChars = handleChineseChars;
    this.stripAccents = stripAccents;
    this.lowercase = lowercase;
  }

  public boolean lowercase() {
    return lowercase;
  }

  public String normalize(String text) {
    StringBuilder a = new StringBuilder(text.length() + 16);
    for (int i = 0; i < text.length(); ) {
      int c = text.codePointAt(i);
      i += Character.charCount(c);
      if (cleanText) {
        if (BertUnicode.REMOVED.get(c)) {
          continue;
        }
        if (BertUnicode.isWhitespace(c)) {
          c = ' ';
        }
      }
      if (handleChineseChars && BertUnicode.isChinese(c)) {
        a.append(' ').appendCodePoint(c).append(' ');
      } else {
        a.appendCodePoint(c);
      }
    }
    if (!stripAccents && !lowercase) {
      return a.toString();
    }
    String s = stripAccents ? BertUnicode.nfd(a.toString()) : a.toString();
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      i += Character.charCount(c);
      if (stripAccents && BertUnicode.NONSPACING_MARK.get(c)) {
        continue;
      }
      if (lowercase) {
        BertUnicode.appendLower(b, c);
      } else {
        b.appendCodePoint(c);
      }
    }
    return b.toString();
  }
}
