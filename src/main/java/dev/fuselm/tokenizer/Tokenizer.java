package dev.fuselm.tokenizer;

import java.util.Map;
import java.util.OptionalInt;

/**
 * Text to token ids and back.
 *
 * <p>{@link #encode(String)} treats every character of the text as ordinary text: a special token such as
 * {@code <|endoftext|>} or {@code [SEP]} written in the text is tokenised like any other word. Only
 * {@link #encode(String, boolean)} with {@code allowSpecial = true} maps the written form of a special
 * token to its id, so text from users cannot inject control tokens by accident.
 *
 * <p>Implementations are immutable and safe to share between threads.
 */
public interface Tokenizer {

  /** Encodes {@code text}; special tokens written in it are treated as ordinary text. */
  default int[] encode(String text) {
    return encode(text, false);
  }

  /**
   * Encodes {@code text}; when {@code allowSpecial} is true, the written forms of the special tokens
   * ({@link #specialTokens()}) become their ids.
   */
  int[] encode(String text, boolean allowSpecial);

  /**
   * Decodes ids back to text.
   *
   * @throws IllegalArgumentException if an id is outside {@code [0, vocabSize())}; the message names its position
   */
  String decode(int[] ids);

  /** Number of ids, special tokens included; every id is in {@code [0, vocabSize())}. */
  int vocabSize();

  /** The special tokens, written form to id (for example {@code <|endoftext|>} to 50256). Unmodifiable. */
  Map<String, Integer> specialTokens();

  /** The id of a special token, if this tokenizer has it. */
  default OptionalInt specialTokenId(String token) {
    Integer id = specialTokens().get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  /** The vocabulary entry of an id, in the notation of the tokenizer's own vocabulary file. */
  String idToToken(int id);

  /** The id of a vocabulary entry written in the notation of the tokenizer's own vocabulary file. */
  OptionalInt tokenToId(String token);
}
