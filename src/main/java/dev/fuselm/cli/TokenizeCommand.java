package dev.fuselm.cli;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fuselm tokenize}: the ids of a whole UTF-8 file on one line, separated by single spaces; with
 * {@code --decode}, ids back to text (for byte-level BPE the exact bytes). A fixed interface that other
 * tools call; errors are one line and exit code 2.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
  description = "Print the token ids of a UTF-8 file on one line (or, with --decode, ids back to text).")
public final class TokenizeCommand implements Callable<Integer> {

  @Option(names = "--tokenizer", required = true, paramLabel = "NAME|PATH",
    description = "gpt2, bert-base-uncased, bert-base-cased (shipped, no network), or a tokenizer directory/file")
  String tokenizer;

  @Option(names = "--input", required = true, paramLabel = "FILE",
    description = "the text (read whole as UTF-8, nothing stripped), or with --decode the ids")
  Path input;

  @Option(names = "--allow-special", description = "map written special tokens (<|endoftext|>, [SEP], ...) to their ids")
  boolean allowSpecial;

  @Option(names = "--add-special-tokens", description = "BERT: wrap the ids in [CLS] ... [SEP] (GPT-2 adds none)")
  boolean addSpecialTokens;

  @Option(names = "--decode", description = "read ids (decimal, whitespace-separated) and print the text they stand for")
  boolean decode;

  @Override
  public Integer call() throws IOException {
    Tokenizer t = Tokenizers.load(tokenizer);
    byte[] bytes = read(input);
    PrintStream out = System.out;
    if (decode) {
      int[] ids = parseIds(bytes, input);
      if (t instanceof Gpt2BpeTokenizer g) {
        out.write(g.decodeBytes(ids));
      } else {
        out.print(t.decode(ids));
      }
      out.flush();
      return 0;
    }
    String text = decodeUtf8(bytes, input);
    int[] ids;
    if (addSpecialTokens && t instanceof WordPieceTokenizer w) {
      int[] inner = w.encode(text, allowSpecial);
      ids = new int[inner.length + 2];
      ids[0] = w.specialTokenId(WordPieceTokenizer.CLS).orElseThrow(() -> new UserInputException(tokenizer + " has no [CLS] token"));
      System.arraycopy(inner, 0, ids, 1, inner.length);
      ids[ids.length - 1] = w.specialTokenId(WordPieceTokenizer.SEP).orElseThrow(() -> new UserInputException(tokenizer + " has no [SEP] token"));
    } else {
      ids = t.encode(text, allowSpecial);
    }
    StringBuilder sb = new StringBuilder(ids.length * 6 + 1);
    for (int i = 0; i < ids.length; i++) {
      if (i > 0) {
        sb.append(' ');
      }
      sb.append(ids[i]);
    }
    sb.append('\n');
    out.write(sb.toString().getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return 0;
  }

  public static byte[] read(Path file) throws IOException {
    if (Files.isDirectory(file)) {
      throw new UserInputException(file + ": is a directory, not a file (--input takes a file)");
    }
    try {
      return Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new UserInputException(file + ": no such file");
    }
  }

  /** Strict UTF-8: the error names the file and the byte offset of the first bad sequence. */
  public static String decodeUtf8(byte[] bytes, Path file) {
    CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
      .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(bytes);
    CharBuffer out = CharBuffer.allocate(bytes.length);
    CoderResult r = d.decode(in, out, true);
    if (r.isError()) {
      throw new UserInputException(file + ": invalid UTF-8 at byte offset " + in.position()
        + " (" + r.length() + " bad byte" + (r.length() == 1 ? "" : "s") + ")");
    }
    r = d.flush(out);
    out.flip();
    return out.toString();
  }

  /** Decimal ids separated by whitespace; the error names the file and the token's position. */
  static int[] parseIds(byte[] bytes, Path file) {
    int[] ids = new int[16];
    int n = 0;
    int i = 0;
    while (i < bytes.length) {
      byte b = bytes[i];
      if (b == ' ' || b == '\n' || b == '\r' || b == '\t') {
        i++;
        continue;
      }
      int start = i;
      while (i < bytes.length && bytes[i] != ' ' && bytes[i] != '\n' && bytes[i] != '\r' && bytes[i] != '\t') {
        i++;
      }
      String tok = new String(bytes, start, i - start, StandardCharsets.UTF_8);
      int id;
      try {
        id = Integer.parseInt(tok);
      } catch (NumberFormatException e) {
        throw new UserInputException(file + ": token " + n + " at byte offset " + start + " is not a decimal id: "
          + (tok.length() > 40 ? tok.substring(0, 40) + "..." : tok));
      }
      if (n == ids.length) {
        ids = java.util.Arrays.copyOf(ids, n * 2);
      }
      ids[n++] = id;
    }
    return java.util.Arrays.copyOf(ids, n);
  }
}
