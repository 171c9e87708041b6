package dev.fuselm.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's reversible map between bytes and printable characters ({@code bytes_to_unicode} in OpenAI's
 * {@code encoder.py}): the 188 printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100
 * and up, in byte order. Vocabulary files ({@code encoder.json}, {@code vocab.bpe}, {@code tokenizer.json})
 * store every byte-level token in this alphabet, so a space is written {@code Ġ} (U+0120).
 */
public final class ByteLevel {

  private static final char[] BYTE_TO_CHAR = new char[256];
  /** Inverse of {@link #BYTE_TO_CHAR}; -1 for characters outside the alphabet. Indexed up to U+0143. */
  private static final int[] CHAR_TO_BYTE = new int[0x144];
  /** The bytes in GPT-2's id order: id i of the first 256 ids of GPT-2's vocabulary is byte ORDER[i]. */
  private static final int[] ORDER = new int[256];

  static {
    Arrays.fill(CHAR_TO_BYTE, -1);
    int n = 0;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
      if (printable(b)) {
        BYTE_TO_CHAR[b] = (char) b;
        ORDER[n++] = b;
      }
    }
    for (int b = 0; b < 256; b++) {
      if (!printable(b)) {
        BYTE_TO_CHAR[b] = (char) (256 + extra++);
        ORDER[n++] = b;
      }
    }
    for (int b = 0; b < 256; b++) {
      CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
    }
  }

  private ByteLevel() {
  }

  private static boolean printable(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  }

  /** The character that stands for byte {@code b} (0..255). */
  public static char byteToChar(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /** The byte a character stands for, or -1 if the character is not in the byte-level alphabet. */
  public static int charToByte(char c) {
    return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
  }

  /** Bytes to their byte-level string. */
  public static String encode(byte[] bytes) {
    char[] out = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
    }
    return new String(out);
  }

  /** A byte-level string back to bytes, or null if it holds a character outside the alphabet. */
  public static byte[] decode(String s) {
    byte[] out = new byte[s.length()];
    for (int i = 0; i < s.length(); i++) {
      int b = charToByte(s.charAt(i));
      if (b < 0) {
        return null;
      }
      out[i] = (byte) b;
    }
    return out;
  }

  /** Byte of GPT-2's vocabulary id {@code i}, for {@code 0 <= i < 256} (GPT-2 lists the printable bytes first). */
  static int byteOfGpt2Id(int i) {
    return ORDER[i];
  }
}
