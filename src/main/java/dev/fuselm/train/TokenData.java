package dev.fuselm.train;

import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/** A corpus as token ids: a text file tokenised, or a {@code .ids} file of whitespace-separated ids. */
public final class TokenData {
  private TokenData() {}

  /** Loads FILE.ids as ids, anything else as UTF-8 text through the tokenizer. */
  public static int[] load(Path file, Tokenizer tokenizer) throws IOException {
    if (Files.isDirectory(file)) {
      throw new IOException(file + ": is a directory, not a data file (give a text or .ids file)");
    }
    if (!Files.isRegularFile(file)) {
      throw new IOException(file + ": no such data file");
    }
    int[] ids;
    if (file.getFileName().toString().endsWith(".ids")) {
      ids = parseIds(file.toString(), Files.readString(file, StandardCharsets.US_ASCII));
    } else {
      byte[] bytes = Files.readAllBytes(file);
      String text;
      try {
        text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
      } catch (CharacterCodingException e) {
        throw new IOException(file + ": not valid UTF-8 text (use a .ids file for token ids)");
      }
      ids = tokenizer.encode(text, true);
    }
    if (ids.length == 0) {
      throw new IOException(file + ": the data is empty (no tokens)");
    }
    return ids;
  }

  /** Parses whitespace-separated non-negative ids. */
  public static int[] parseIds(String where, String text) throws IOException {
    int[] out = new int[Math.max(16, text.length() / 4)];
    int n = 0;
    int i = 0, len = text.length();
    while (i < len) {
      char ch = text.charAt(i);
      if (Character.isWhitespace(ch)) {
        i++;
        continue;
      }
      int start = i;
      long v = 0;
      while (i < len && !Character.isWhitespace(text.charAt(i))) {
        char d = text.charAt(i);
        if (d < '0' || d > '9' || v > Integer.MAX_VALUE) {
          int end = i;
          while (end < len && !Character.isWhitespace(text.charAt(end))) {
            end++;
          }
          throw new IOException(where + ": '" + text.substring(start, Math.min(end, start + 20))
              + "' (token " + n + ") is not a token id (non-negative integer)");
        }
        v = v * 10 + (d - '0');
        i++;
      }
      if (v > Integer.MAX_VALUE) {
        throw new IOException(where + ": token " + n + " = " + v + " is too large");
      }
      if (n == out.length) {
        out = Arrays.copyOf(out, out.length * 2);
      }
      out[n++] = (int) v;
    }
    return Arrays.copyOf(out, n);
  }

  /** Checks every id is below the model's vocabulary size. */
  public static void checkVocab(String where, int[] ids, int vocabSize) throws IOException {
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] >= vocabSize) {
        throw new IOException(where + ": token " + i + " has id " + ids[i]
            + ", outside the model's vocabulary of " + vocabSize);
      }
    }
  }

  /** A 64-bit fingerprint of the ids (to refuse resuming on different data). */
  public static long fingerprint(int[] ids) {
    long h = 0xcbf29ce484222325L ^ ids.length;
    for (int id : ids) {
      h = (h ^ id) * 0x100000001b3L;
    }
    return h;
  }
}
