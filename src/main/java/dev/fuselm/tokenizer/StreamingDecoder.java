package dev.fuselm.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.function.IntFunction;

/**
 * Decodes ids one at a time, as a generator produces them. A byte-level token can end in the middle of a
 * UTF-8 character (an emoji is often two or three tokens); the decoder keeps those bytes and returns the
 * character once its last byte arrives, so the text printed so far never contains a spurious U+FFFD.
 * Bytes that can never become valid UTF-8 are replaced by U+FFFD as soon as that is certain, as
 * {@link Gpt2BpeTokenizer#decode} does. The concatenation of everything {@link #push} and {@link #finish}
 * return equals {@code decode} of all ids. Not thread-safe; one per generated sequence.
 */
public final class StreamingDecoder {

  private final IntFunction<byte[]> tokenBytes;
  private final int vocabSize;
  private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
      .onMalformedInput(CodingErrorAction.REPLACE)
      .onUnmappableCharacter(CodingErrorAction.REPLACE);
  private ByteBuffer pending = ByteBuffer.allocate(64);
  private CharBuffer chars = CharBuffer.allocate(64);
  private long position;

  StreamingDecoder(IntFunction<byte[]> tokenBytes, int vocabSize) {
    this.tokenBytes = tokenBytes;
    this.vocabSize = vocabSize;
  }

  /** Adds one id; returns the text completed by it (possibly empty). */
  public String push(int id) {
    if (id < 0 || id >= vocabSize) {
      throw new IllegalArgumentException("token id " + id + " at position " + position
          + " is outside the vocabulary (0.." + (vocabSize - 1) + ")");
    }
    position++;
    byte[] b = tokenBytes.apply(id);
    if (pending.remaining() < b.length) {
      ByteBuffer bigger = ByteBuffer.allocate(Math.max(pending.capacity() * 2, pending.position() + b.length));
      pending.flip();
      bigger.put(pending);
      pending = bigger;
    }
    pending.put(b);
    return drain(false);
  }

  /** Adds several ids; returns the text they complete. */
  public String push(int... ids) {
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      sb.append(push(id));
    }
    return sb.toString();
  }

  /** Number of bytes held back because they may start a character that is not complete yet (0..3). */
  public int pendingBytes() {
    return pending.position();
  }

  /** Ends the stream: held-back bytes of an incomplete character become U+FFFD. Resets the decoder. */
  public String finish() {
    String s = drain(true);
    utf8.reset();
    pending.clear();
    position = 0;
    return s;
  }

  private String drain(boolean end) {
    pending.flip();
    StringBuilder sb = new StringBuilder();
    while (true) {
      chars.clear();
      var result = utf8.decode(pending, chars, end);
      chars.flip();
      sb.append(chars);
      if (result.isOverflow()) {
        continue;
      }
      break;
    }
    if (end) {
      chars.clear();
      utf8.flush(chars);
      chars.flip();
      sb.append(chars);
    }
    pending.compact();
    return sb.toString();
  }
}
