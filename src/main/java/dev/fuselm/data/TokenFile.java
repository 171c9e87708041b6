package dev.fuselm.data;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Token ids in a binary file, written once and memory-mapped for reading, so a corpus larger than the heap
 * trains without being loaded: only the pages a batch touches are read, by the operating system.
 *
 * <p>Format (little endian): a 32-byte header, then the ids.
 * <pre>
 *   offset  0  8 bytes  magic "FLTOKENS"
 *   offset  8  int32    format version (1)
 *   offset 12  int32    bytes per id: 2 (unsigned 16-bit, when every id fits) or 4 (int32)
 *   offset 16  int64    number of ids
 *   offset 24  int32    vocabulary size (0 if unknown)
 *   offset 28  int32    reserved (0)
 *   offset 32  ids
 * </pre>
 * Writers write to {@code NAME.tmp} and rename at the end, so a reader never sees a half-written file.
 * The mapping is released when the object becomes unreachable (Java 17 has no explicit unmap).
 */
public final class TokenFile implements TokenSequence {

  static final byte[] MAGIC = "FLTOKENS".getBytes(StandardCharsets.US_ASCII);
  static final int VERSION = 1;
  static final int HEADER = 32;
  private static final long CHUNK = 1L << 30;   // bytes per mapped region (a multiple of 4)

  private final Path path;
  private final int width;
  private final long size;
  private final int vocabSize;
  private final MappedByteBuffer[] chunks;
  private final long chunkBytes;

  private TokenFile(Path path, int width, long size, int vocabSize, MappedByteBuffer[] chunks, long chunkBytes) {
    this.chunkBytes = chunkBytes;
    this.path = path;
    this.width = width;
    this.size = size;
    this.vocabSize = vocabSize;
    this.chunks = chunks;
  }

  /** Writes {@code ids} to {@code file}; 16-bit ids if {@code vocabSize} is in 1..65536, else 32-bit. */
  public static void write(Path file, int[] ids, int vocabSize) throws IOException {
    try (Writer w = writer(file, vocabSize)) {
      w.write(ids, 0, ids.length);
    }
  }

  /** A writer that appends ids; the file appears under its name when the writer is closed. */
  public static Writer writer(Path file, int vocabSize) throws IOException {
    return new Writer(file, vocabSize);
  }

  /**
   * Tokenises a UTF-8 text file of any size into a token file, reading it in blocks of about
   * {@code blockChars} characters. Blocks are cut where the tokenizer would start a new piece anyway (for
   * GPT-2 a space between two letters; for the others after whitespace), so the ids equal those of
   * encoding the whole text at once. Returns the number of ids.
   *
   * @throws IOException naming the file if it is unreadable or not valid UTF-8
   */
  public static long encodeText(Path text, Tokenizer tokenizer, Path out, int blockChars) throws IOException {
    if (blockChars < 1024) {
      throw new IllegalArgumentException("blockChars must be at least 1024, got " + blockChars);
    }
    var decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    long total = 0;
    try (Reader r = new java.io.InputStreamReader(Files.newInputStream(text), decoder);
        Writer w = writer(out, tokenizer.vocabSize())) {
      char[] buf = new char[blockChars * 2];
      int len = 0;
      boolean eof = false;
      while (!eof || len > 0) {
        while (!eof && len < buf.length) {
          int n = r.read(buf, len, buf.length - len);
          if (n < 0) {
            eof = true;
          } else {
            len += n;
          }
        }
        int cut = eof ? len : safeCut(tokenizer, buf, Math.min(blockChars, len / 2), len);
        if (cut < 0) {
          if (len == buf.length) {
            buf = java.util.Arrays.copyOf(buf, buf.length * 2);   // no cut point yet: read more
            continue;
          }
          cut = len;
        }
        int[] ids = tokenizer.encode(new String(buf, 0, cut));
        w.write(ids, 0, ids.length);
        total += ids.length;
        System.arraycopy(buf, cut, buf, 0, len - cut);
        len -= cut;
      }
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IOException(text + ": not valid UTF-8", e);
    }
    return total;
  }

  private static int safeCut(Tokenizer tokenizer, char[] s, int from, int to) {
    if (tokenizer instanceof Gpt2BpeTokenizer) {
      for (int i = Math.max(from, 1); i + 1 < to; i++) {
        if (s[i] == ' ' && Character.isLetter(s[i - 1]) && Character.isLetter(s[i + 1])
            && !Character.isSurrogate(s[i - 1]) && !Character.isSurrogate(s[i + 1])) {
          return i;
        }
      }
      return -1;
    }
    for (int i = from; i < to; i++) {
      if (s[i] == ' ' || s[i] == '\n') {     // WordPiece and RegexTokenizer split on whitespace
        return i + 1;
      }
    }
    return -1;
  }

  /** Maps a token file for reading. */
  public static TokenFile open(Path file) throws IOException {
    return open(file, CHUNK);
  }

  /** {@link #open(Path)} with mapped regions of {@code chunkBytes} (a multiple of 4; tests use small ones). */
  static TokenFile open(Path file, long chunkBytes) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long fileSize = ch.size();
      if (fileSize < HEADER) {
        throw new IOException(file + ": " + fileSize + " bytes, shorter than the " + HEADER + "-byte header of a token file");
      }
      ByteBuffer h = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
      while (h.hasRemaining() && ch.read(h, h.position()) > 0) {
        // read the header fully
      }
      h.flip();
      byte[] magic = new byte[8];
      h.get(magic);
      if (!java.util.Arrays.equals(magic, MAGIC)) {
        throw new IOException(file + ": not a fuselm token file (bad magic)");
      }
      int version = h.getInt();
      if (version != VERSION) {
        throw new IOException(file + ": token file format version " + version + ", this fuselm reads " + VERSION);
      }
      int width = h.getInt();
      long count = h.getLong();
      int vocab = h.getInt();
      if ((width != 2 && width != 4) || count < 0) {
        throw new IOException(file + ": corrupt header (" + width + " bytes per id, " + count + " ids)");
      }
      if (fileSize != HEADER + count * width) {
        throw new IOException(file + ": header says " + count + " ids of " + width + " bytes but the file has "
            + (fileSize - HEADER) + " data bytes (truncated or still being written?)");
      }
      List<MappedByteBuffer> chunks = new ArrayList<>();
      for (long at = 0; at < count * width; at += chunkBytes) {
        long len = Math.min(chunkBytes, count * width - at);
        MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, HEADER + at, len);
        m.order(ByteOrder.LITTLE_ENDIAN);
        chunks.add(m);
      }
      return new TokenFile(file, width, count, vocab, chunks.toArray(MappedByteBuffer[]::new), chunkBytes);
    }
  }

  public Path path() {
    return path;
  }

  /** The vocabulary size recorded by the writer (0 if unknown). */
  public int vocabSize() {
    return vocabSize;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int get(long index) {
    if (index < 0 || index >= size) {
      throw new IndexOutOfBoundsException("id " + index + " of " + size + " in " + path);
    }
    long byteAt = index * width;
    MappedByteBuffer m = chunks[(int) (byteAt / chunkBytes)];
    int off = (int) (byteAt % chunkBytes);
    return width == 2 ? Short.toUnsignedInt(m.getShort(off)) : m.getInt(off);
  }

  /** Writes ids to a temporary file and renames it into place on {@link #close()}. */
  public static final class Writer implements AutoCloseable {
    private final Path target;
    private final Path tmp;
    private final FileChannel ch;
    private final int width;
    private final int vocabSize;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private long count;
    private boolean closed;

    private Writer(Path target, int vocabSize) throws IOException {
      this.target = target;
      this.tmp = target.resolveSibling(target.getFileName() + ".tmp");
      this.vocabSize = vocabSize;
      this.width = vocabSize > 0 && vocabSize <= 65536 ? 2 : 4;
      this.ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE);
      ch.position(HEADER);
    }

    public void write(int[] ids, int from, int len) throws IOException {
      for (int i = from; i < from + len; i++) {
        int id = ids[i];
        if (id < 0 || (width == 2 && id > 0xFFFF) || (vocabSize > 0 && id >= vocabSize)) {
          throw new IllegalArgumentException("id " + id + " (token " + (count + i - from) + ") is outside the vocabulary of "
              + vocabSize + " ids declared for " + target);
        }
        if (buf.remaining() < 4) {
          flush();
        }
        if (width == 2) {
          buf.putShort((short) id);
        } else {
          buf.putInt(id);
        }
      }
      count += len;
    }

    private void flush() throws IOException {
      buf.flip();
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      buf.clear();
    }

    public long count() {
      return count;
    }

    @Override
    public void close() throws IOException {
      if (closed) {
        return;
      }
      closed = true;
      try (ch) {
        flush();
        ByteBuffer h = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
        h.put(MAGIC).putInt(VERSION).putInt(width).putLong(count).putInt(Math.max(0, vocabSize)).putInt(0);
        h.flip();
        ch.write(h, 0);
        ch.force(true);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }
}
