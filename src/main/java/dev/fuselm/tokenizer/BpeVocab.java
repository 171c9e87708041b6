package dev.fuselm.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A byte-level BPE vocabulary: token strings (in GPT-2's {@link ByteLevel} alphabet) with their ids, the
 * ranked merges, and the special tokens. Immutable once built; {@link Gpt2BpeTokenizer} encodes with it.
 */
final class BpeVocab {

  final String[] tokens;            // id -> token string as written in the vocabulary file
  final byte[][] tokenBytes;        // id -> the bytes the token stands for (special tokens: their UTF-8 text)
  final Map<String, Integer> ids;   // token string -> id
  final int[] byteToId = new int[256];
  final PairRanks ranks;            // (left id, right id) -> rank
  final int[] mergeLeft;            // rank -> left id
  final int[] mergeRight;           // rank -> right id
  final int[] mergeResult;          // rank -> id of the merged token
  final Map<String, Integer> specials;

  private BpeVocab(String[] tokens, byte[][] tokenBytes, Map<String, Integer> ids, PairRanks ranks,
      int[] mergeLeft, int[] mergeRight, int[] mergeResult, Map<String, Integer> specials) {
    this.tokens = tokens;
    this.tokenBytes = tokenBytes;
    this.ids = ids;
    this.ranks = ranks;
    this.mergeLeft = mergeLeft;
    this.mergeRight = mergeRight;
    this.mergeResult = mergeResult;
    this.specials = specials;
    for (int b = 0; b < 256; b++) {
      byteToId[b] = ids.get(String.valueOf(ByteLevel.byteToChar(b)));
    }
  }

  int size() {
    return tokens.length;
  }

  int mergeCount() {
    return mergeResult.length;
  }

  // ------------------------------------------------------------------------------------------------
  // Building
  // ------------------------------------------------------------------------------------------------

  /**
   * Builds a vocabulary from token strings with ids, merges (pairs of token strings, in rank order) and
   * the set of special tokens. If {@code specialTokens} is null, every token that is neither a single
   * byte nor the result of a merge (GPT-2's {@code <|endoftext|>}) is special.
   */
  static BpeVocab build(String source, Map<String, Integer> vocab, List<String[]> merges, List<Integer> mergeLines,
      Map<String, Integer> specialTokens) throws IOException {
    return build(source, source, vocab, merges, mergeLines, specialTokens);
  }

  /**
   * {@link #build} from two files: errors in the tokens and ids name vocabSource (encoder.json),
   * errors in the merges name mergesSource (vocab.bpe).
   */
  static BpeVocab build(String vocabSource, String mergesSource, Map<String, Integer> vocab,
      List<String[]> merges, List<Integer> mergeLines, Map<String, Integer> specialTokens)
      throws IOException {
    String source = vocabSource;
    int n = vocab.size();
    String[] tokens = new String[n];
    for (Map.Entry<String, Integer> e : vocab.entrySet()) {
      int id = e.getValue();
      if (id < 0 || id >= n) {
        throw new IOException(source + ": token " + quote(e.getKey()) + " has id " + id
            + ", outside 0.." + (n - 1) + " (ids must be 0..size-1 without gaps)");
      }
      if (tokens[id] != null) {
        throw new IOException(source + ": id " + id + " is given to both " + quote(tokens[id])
            + " and " + quote(e.getKey()));
      }
      tokens[id] = e.getKey();
    }
    for (int b = 0; b < 256; b++) {
      String t = String.valueOf(ByteLevel.byteToChar(b));
      if (!vocab.containsKey(t)) {
        throw new IOException(source + ": the byte-level vocabulary lacks the token for byte " + b
            + " (" + quote(t) + "); this is not a GPT-2 style byte-level BPE vocabulary");
      }
    }
    int m = merges.size();
    PairRanks ranks = new PairRanks(m);
    int[] left = new int[m];
    int[] right = new int[m];
    int[] result = new int[m];
    boolean[] reachable = new boolean[n];
    for (int b = 0; b < 256; b++) {
      reachable[vocab.get(String.valueOf(ByteLevel.byteToChar(b)))] = true;
    }
    for (int r = 0; r < m; r++) {
      String[] pair = merges.get(r);
      String where = mergeLines == null ? "merge " + r : "line " + mergeLines.get(r);
      Integer a = vocab.get(pair[0]);
      Integer b = vocab.get(pair[1]);
      Integer c = vocab.get(pair[0] + pair[1]);
      if (a == null || b == null || c == null) {
        String missing = a == null ? pair[0] : b == null ? pair[1] : pair[0] + pair[1];
        throw new IOException(mergesSource + ": " + where + ": merge " + quote(pair[0]) + " "
            + quote(pair[1]) + " uses " + quote(missing) + ", which is not in the vocabulary");
      }
      left[r] = a;
      right[r] = b;
      result[r] = c;
      reachable[c] = true;
      // A repeated merge keeps its first (lowest) rank, as GPT-2's bpe_ranks dict and HF do.
      ranks.putIfAbsent(a, b, r);
    }
    Map<String, Integer> specials = new LinkedHashMap<>();
    if (specialTokens == null) {
      for (int id = 0; id < n; id++) {
        if (!reachable[id]) {
          specials.put(tokens[id], id);
        }
      }
    } else {
      specials.putAll(specialTokens);
    }
    byte[][] bytes = new byte[n][];
    for (int id = 0; id < n; id++) {
      byte[] decoded = specials.containsKey(tokens[id]) ? null : ByteLevel.decode(tokens[id]);
      if (decoded == null) {
        if (!specials.containsKey(tokens[id])) {
          throw new IOException(source + ": token " + quote(tokens[id]) + " (id " + id
              + ") has characters outside GPT-2's byte-level alphabet and is not a special token");
        }
        decoded = tokens[id].getBytes(StandardCharsets.UTF_8);
      }
      bytes[id] = decoded;
    }
    Map<String, Integer> ids = new HashMap<>(vocab);
    return new BpeVocab(tokens, bytes, ids, ranks, left, right, result, Collections.unmodifiableMap(specials));
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    s.codePoints().forEach(cp -> {
      if (cp < 0x20 || cp == 0x7F || cp == '"' || cp == '\\') {
        b.append(String.format("\\u%04x", cp));
      } else {
        b.appendCodePoint(cp);
      }
    });
    return b.append('"').toString();
  }

  // ------------------------------------------------------------------------------------------------
  // GPT-2 files: encoder.json + vocab.bpe
  // ------------------------------------------------------------------------------------------------

  static BpeVocab readGpt2(String encoderName, InputStream encoderJson, String mergesName, InputStream vocabBpe)
      throws IOException {
    Map<String, Integer> vocab = readEncoderJson(encoderName, encoderJson);
    List<Integer> lines = new ArrayList<>();
    List<String[]> merges = readMerges(mergesName, vocabBpe, lines);
    return build(encoderName, mergesName, vocab, merges, lines, null);
  }

  static Map<String, Integer> readEncoderJson(String name, InputStream in) throws IOException {
    Map<String, Integer> vocab = new HashMap<>(1 << 17);
    try (JsonParser p = new JsonFactory().createParser(in)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException(name + ": expected a JSON object of token -> id at "
            + location(p));
      }
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        String token = p.currentName();
        if (p.nextToken() != JsonToken.VALUE_NUMBER_INT) {
          throw new IOException(name + ": the id of token " + quote(token) + " is not an integer, at "
              + location(p));
        }
        if (vocab.put(token, p.getIntValue()) != null) {
          throw new IOException(name + ": token " + quote(token) + " appears twice, at " + location(p));
        }
      }
      if (t != JsonToken.END_OBJECT) {
        throw new IOException(name + ": unexpected " + t + " at " + location(p));
      }
    } catch (JsonProcessingException e) {
      throw new IOException(name + ": not valid JSON at " + location(e) + ": " + e.getOriginalMessage(), e);
    }
    if (vocab.size() < 256) {
      throw new IOException(name + ": only " + vocab.size() + " tokens; a byte-level vocabulary has at least 256");
    }
    return vocab;
  }

  private static String location(JsonParser p) {
    return "line " + p.currentLocation().getLineNr() + ", column " + p.currentLocation().getColumnNr();
  }

  private static String location(JsonProcessingException e) {
    return e.getLocation() == null ? "an unknown position"
        : "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
  }

  /** Reads GPT-2's vocab.bpe: an optional {@code #version} header, then one "left right" merge per line. */
  static List<String[]> readMerges(String name, InputStream in, List<Integer> lineNumbers) throws IOException {
    List<String[]> merges = new ArrayList<>(50_000);
    try (BufferedReader r = new BufferedReader(strictUtf8(in))) {
      String line;
      int no = 0;
      while ((line = r.readLine()) != null) {
        no++;
        if ((no == 1 && line.startsWith("#version")) || line.isEmpty()) {
          continue;
        }
        int sp = line.indexOf(' ');
        if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
          throw new IOException(name + ": line " + no + ": expected two tokens separated by one space, got "
              + quote(line.length() > 80 ? line.substring(0, 80) + "..." : line));
        }
        merges.add(new String[] {line.substring(0, sp), line.substring(sp + 1)});
        lineNumbers.add(no);
      }
    } catch (CharacterCodingException e) {
      throw new IOException(name + ": not valid UTF-8", e);
    }
    return merges;
  }

  static Reader strictUtf8(InputStream in) {
    return new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT));
  }

  // ------------------------------------------------------------------------------------------------
  // Hugging Face tokenizer.json
  // ------------------------------------------------------------------------------------------------

  static BpeVocab readTokenizerJson(String name, InputStream in) throws IOException {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(strictUtf8(in));
    } catch (JsonProcessingException e) {
      throw new IOException(name + ": not valid JSON at " + location(e) + ": " + e.getOriginalMessage(), e);
    } catch (CharacterCodingException e) {
      throw new IOException(name + ": not valid UTF-8", e);
    }
    JsonNode model = root == null ? null : root.get("model");
    if (model == null || !model.isObject()) {
      throw new IOException(name + ": no \"model\" object; not a Hugging Face tokenizer.json");
    }
    String type = model.path("type").asText("BPE");
    if (!type.equals("BPE")) {
      throw new IOException(name + ": model type is " + type + ", expected BPE");
    }
    JsonNode v = model.get("vocab");
    if (v == null || !v.isObject()) {
      throw new IOException(name + ": model.vocab is missing or not an object");
    }
    Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
    for (var it = v.fields(); it.hasNext(); ) {
      var e = it.next();
      if (!e.getValue().canConvertToInt()) {
        throw new IOException(name + ": model.vocab: the id of " + quote(e.getKey()) + " is not an integer");
      }
      vocab.put(e.getKey(), e.getValue().asInt());
    }
    List<String[]> merges = new ArrayList<>();
    JsonNode m = model.path("merges");
    for (int i = 0; i < m.size(); i++) {
      JsonNode e = m.get(i);
      if (e.isTextual()) {
        String s = e.asText();
        int sp = s.indexOf(' ');
        if (sp <= 0 || sp == s.length() - 1 || s.indexOf(' ', sp + 1) >= 0) {
          throw new IOException(name + ": model.merges[" + i + "]: expected \"left right\", got " + quote(s));
        }
        merges.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
      } else if (e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
        merges.add(new String[] {e.get(0).asText(), e.get(1).asText()});
      } else {
        throw new IOException(name + ": model.merges[" + i + "]: expected a string or a pair of strings");
      }
    }
    Map<String, Integer> specials = new LinkedHashMap<>();
    for (JsonNode t : root.path("added_tokens")) {
      String content = t.path("content").asText(null);
      if (content == null || !t.path("id").canConvertToInt()) {
        throw new IOException(name + ": added_tokens entry without content or id: " + t);
      }
      int id = t.path("id").asInt();
      Integer old = vocab.putIfAbsent(content, id);
      if (old != null && old != id) {
        throw new IOException(name + ": added token " + quote(content) + " has id " + id
            + " but the vocabulary gives it " + old);
      }
      if (t.path("special").asBoolean(false)) {
        specials.put(content, id);
      }
    }
    return build(name, vocab, merges, null, specials);
  }
}
