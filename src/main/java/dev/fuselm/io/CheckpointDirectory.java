package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.ModelFamily;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A training output directory whose checkpoints are written as a whole or not at all.
 *
 * <p>Layout of {@code DIR}: one {@code checkpoint-<step>/} per save (a complete model directory:
 * config.json, model.safetensors, tokenizer files, training_state.safetensors, loss.png, ... plus
 * {@code manifest.json} with the size and SHA-256 of every file), the text file {@code latest}
 * naming the newest complete one, and a copy of that checkpoint's files at the top level (hard
 * links where the file system has them) for tools that read {@code DIR} as a plain Hugging Face
 * directory. A save is staged in a hidden {@code .checkpoint-<step>.tmp-<pid>/}, every file and the
 * directory are fsynced, it is renamed to {@code checkpoint-<step>/}, and then {@code latest} is
 * replaced atomically: at every instant {@code latest} names a complete checkpoint. fuselm's
 * loaders read {@code DIR} as the checkpoint {@code latest} names ({@link #resolve}); a directory
 * without {@code latest} (the layout before, or any Hugging Face directory) is read as it is.
 */
public final class CheckpointDirectory {
  /** The pointer file: the name of the newest complete checkpoint directory, one line. */
  public static final String POINTER = "latest";
  /** Sizes and SHA-256 digests of a checkpoint's files. */
  public static final String MANIFEST = "manifest.json";
  /** Checkpoints kept by default (the newest, and one before it). */
  public static final int DEFAULT_KEEP = 2;

  private static final String PREFIX = "checkpoint-";
  private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)(?:\\.(\\d+))?");
  private static final Pattern TEMP = Pattern.compile("\\..*\\.(?:tmp|del)-(\\d+)");
  private static final ObjectMapper JSON = new ObjectMapper();

  private CheckpointDirectory() {}

  /**
   * The directory to read as dir: the checkpoint its {@code latest} names, or dir itself when it
   * has none. The checkpoint must exist and have its manifest (a one-line error otherwise).
   */
  public static Path resolve(Path dir) throws IOException {
    Path pointer = dir.resolve(POINTER);
    if (!Files.isRegularFile(pointer)) {
      return dir;
    }
    String name = Files.readString(pointer, StandardCharsets.UTF_8).strip();
    if (!NAME.matcher(name).matches()) {
      throw new IOException(pointer + ": does not name a checkpoint directory (holds '"
          + (name.length() > 40 ? name.substring(0, 40) + "..." : name) + "')");
    }
    Path ckpt = dir.resolve(name);
    if (!Files.isRegularFile(ckpt.resolve(MANIFEST))) {
      throw new IOException(pointer + " names " + name + ", which is missing or has no "
          + MANIFEST + " (the directory was altered after the save)");
    }
    return ckpt;
  }

  /**
   * Resolves dir ({@link #resolve}) and checks the size and SHA-256 of every file its manifest
   * lists; a directory without a manifest is returned unchecked. Errors name the file.
   */
  public static Path verified(Path dir) throws IOException {
    Path ckpt = resolve(dir);
    Path manifest = ckpt.resolve(MANIFEST);
    if (!Files.isRegularFile(manifest)) {
      return ckpt;
    }
    JsonNode files;
    try {
      files = JSON.readTree(manifest.toFile()).path("files");
    } catch (IOException e) {
      throw new IOException(manifest + ": not a checkpoint manifest (" + e.getMessage() + ")");
    }
    if (!files.isObject() || files.isEmpty()) {
      throw new IOException(manifest + ": lists no files");
    }
    for (Map.Entry<String, JsonNode> e : (Iterable<Map.Entry<String, JsonNode>>) files::fields) {
      Path f = ckpt.resolve(e.getKey()).normalize();
      if (!f.startsWith(ckpt.normalize())) {
        throw new IOException(manifest + ": names a file outside the checkpoint: " + e.getKey());
      }
      if (!Files.isRegularFile(f)) {
        throw new IOException(f + ": missing (listed in " + MANIFEST + ")");
      }
      long size = Files.size(f);
      long want = e.getValue().path("size").asLong(-1);
      if (size != want) {
        throw new IOException(f + ": " + size + " bytes but the checkpoint's " + MANIFEST
            + " records " + want + ": the file is truncated or was changed after the save");
      }
      if (!sha256(f).equals(e.getValue().path("sha256").asText())) {
        throw new IOException(f + ": SHA-256 differs from the checkpoint's " + MANIFEST
            + ": the file is corrupt or was changed after the save");
      }
    }
    return ckpt;
  }

  /** Whether dir holds a checkpoint written by {@link #begin} (has {@code latest}). */
  public static boolean hasCheckpoints(Path dir) {
    return Files.isRegularFile(dir.resolve(POINTER));
  }

  /**
   * Starts a save of step into dir: cleans the leftovers of killed saves and returns the staging
   * directory to write the checkpoint's files into; {@link Staged#commit} publishes it.
   */
  public static Staged begin(Path dir, long step) throws IOException {
    Files.createDirectories(dir);
    cleanLeftovers(dir);
    Path staging = dir.resolve("." + PREFIX + step + ".tmp-" + ProcessHandle.current().pid());
    deleteTree(staging);
    Files.createDirectories(staging);
    return new Staged(dir, staging, step);
  }

  /** A checkpoint being written; nothing in it is visible to readers before {@link #commit}. */
  public static final class Staged {
    private final Path dir;
    private final Path staging;
    private final long step;

    private Staged(Path dir, Path staging, long step) {
      this.dir = dir;
      this.staging = staging;
      this.step = step;
    }

    /** Removes the staging directory of a save that failed (best effort: frees the disk). */
    public void abandon() {
      try {
        deleteTree(staging);
      } catch (IOException e) {
        // the next save in dir removes it
      }
    }

    /** Where to write the checkpoint's files. */
    public Path path() {
      return staging;
    }

    /**
     * Publishes the staged checkpoint: carries the tokenizer files of dir's top level that it
     * lacks, writes the manifest, fsyncs, renames it to {@code checkpoint-<step>}, switches
     * {@code latest} to it, mirrors its files at the top level and keeps the newest {@code keep}
     * checkpoints (at least 1). Returns the published directory.
     */
    public Path commit(int keep) throws IOException {
      carryTokenizerFiles(dir, staging);
      ObjectNode root = JSON.createObjectNode();
      root.put("format", "fuselm-checkpoint").put("step", step);
      ObjectNode files = root.putObject("files");
      for (Path f : listFiles(staging)) {
        String rel = staging.relativize(f).toString().replace('\\', '/');
        files.putObject(rel).put("size", Files.size(f)).put("sha256", sha256(f));
      }
      AtomicFiles.writeString(staging.resolve(MANIFEST),
          JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
      syncDirectory(staging);
      String current = pointed(dir);
      String name = PREFIX + step;
      for (int n = 1; name.equals(current); n++) { // a second save of the published step
        name = PREFIX + step + "." + n;
      }
      removeTree(dir.resolve(name));
      move(staging, dir.resolve(name));
      syncDirectory(dir);
      AtomicFiles.writeString(dir.resolve(POINTER), name + "\n");
      mirror(dir.resolve(name), dir);
      prune(dir, name, Math.max(1, keep));
      return dir.resolve(name);
    }
  }

  /**
   * Removes what killed saves left in dir: hidden staging directories and temporary files of
   * processes that no longer run, checkpoint directories without a manifest, and complete ones
   * newer than the one {@code latest} names (killed before the switch). Returns how many.
   */
  public static int cleanLeftovers(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return 0;
    }
    int removed = 0;
    String current = pointed(dir);
    long currentStep = current == null ? Long.MAX_VALUE : stepOf(current);
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
      for (Path p : s) {
        String n = p.getFileName().toString();
        Matcher t = TEMP.matcher(n);
        Matcher c = NAME.matcher(n);
        if (t.matches()) {
          long pid = Long.parseLong(t.group(1));
          boolean running = pid != ProcessHandle.current().pid()
              && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
          if (!running) {
            deleteTree(p);
            removed++;
          }
        } else if (c.matches() && Files.isDirectory(p) && !n.equals(current)
            && (!Files.isRegularFile(p.resolve(MANIFEST)) || stepOf(n) > currentStep)) {
          removeTree(p);
          removed++;
        }
      }
    }
    return removed;
  }

  /**
   * Finishes what a save killed after its switch left undone: the top-level copy of the checkpoint
   * {@code latest} names and the pruning to the newest {@code keep} (at least 1). A run that
   * resumes at its last step saves nothing, so without this the interrupted save's extra
   * checkpoint and a half-refreshed top level would stay.
   */
  public static void finishInterruptedSave(Path dir, int keep) throws IOException {
    String current = pointed(dir);
    if (current == null || !NAME.matcher(current).matches()
        || !Files.isRegularFile(dir.resolve(current).resolve(MANIFEST))) {
      return;
    }
    mirror(dir.resolve(current), dir);
    prune(dir, current, Math.max(1, keep));
  }

  /** The name {@code latest} holds, or null. */
  private static String pointed(Path dir) throws IOException {
    Path pointer = dir.resolve(POINTER);
    if (!Files.isRegularFile(pointer)) {
      return null;
    }
    return Files.readString(pointer, StandardCharsets.UTF_8).strip();
  }

  private static long stepOf(String name) {
    Matcher m = NAME.matcher(name);
    return m.matches() ? Long.parseLong(m.group(1)) : -1;
  }

  /** Keeps the current checkpoint and the newest others up to keep in all; removes the rest. */
  private static void prune(Path dir, String current, int keep) throws IOException {
    TreeMap<String, Path> others = new TreeMap<>(Comparator
        .comparingLong(CheckpointDirectory::stepOf)
        .thenComparingLong(n -> {
          Matcher m = NAME.matcher(n);
          return m.matches() && m.group(2) != null ? Long.parseLong(m.group(2)) : 0;
        }).reversed());
    long currentStep = stepOf(current);
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, PREFIX + "*")) {
      for (Path p : s) {
        String n = p.getFileName().toString();
        if (NAME.matcher(n).matches() && Files.isDirectory(p) && !n.equals(current)) {
          if (stepOf(n) > currentStep) {
            removeTree(p); // a later run that this one replaces (it resumed from before it)
          } else {
            others.put(n, p);
          }
        }
      }
    }
    int kept = 1;
    for (Path p : others.values()) {
      if (kept++ >= keep) {
        removeTree(p);
      }
    }
  }

  /** Files of the top level that a checkpoint needs and the trainer writes only once. */
  private static void carryTokenizerFiles(Path dir, Path staging) throws IOException {
    Set<String> names = new LinkedHashSet<>(ModelFamily.GPT2.tokenizerFiles());
    names.addAll(ModelFamily.BERT.tokenizerFiles());
    for (String n : names) {
      Path src = dir.resolve(n);
      Path dst = staging.resolve(n);
      if (Files.isRegularFile(src) && !Files.exists(dst)) {
        byte[] bytes = Files.readAllBytes(src);
        AtomicFiles.write(dst, ch -> ch.write(ByteBuffer.wrap(bytes)));
      }
    }
  }

  /**
   * Puts the checkpoint's files (all but the manifest) at dir's top level, each replaced
   * atomically: a hard link where possible, else a copy.
   */
  private static void mirror(Path ckpt, Path dir) throws IOException {
    long pid = ProcessHandle.current().pid();
    for (Path f : listFiles(ckpt)) {
      Path rel = ckpt.relativize(f);
      if (rel.toString().equals(MANIFEST)) {
        continue;
      }
      Path target = dir.resolve(rel);
      if (Files.exists(target) && Files.isSameFile(target, f)) {
        continue; // already the link (rename(2) of a link onto its twin would leave the temporary)
      }
      Files.createDirectories(target.getParent());
      Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp-" + pid);
      Files.deleteIfExists(tmp);
      try {
        Files.createLink(tmp, f);
      } catch (IOException | UnsupportedOperationException e) {
        Files.copy(f, tmp, StandardCopyOption.REPLACE_EXISTING);
      }
      move(tmp, target);
    }
    syncDirectory(dir);
  }

  private static List<Path> listFiles(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      List<Path> out = new ArrayList<>(s.filter(Files::isRegularFile).toList());
      out.sort(Comparator.comparing(Path::toString));
      return out;
    }
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Renames a directory out of sight first, so a kill while deleting leaves only a temporary. */
  private static void removeTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    Path hidden = p.resolveSibling("." + p.getFileName() + ".del-" + ProcessHandle.current().pid());
    deleteTree(hidden);
    move(p, hidden);
    deleteTree(hidden);
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(q);
      }
    }
  }

  static String sha256(Path f) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    ByteBuffer buf = ByteBuffer.allocate(1 << 20);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
      while (ch.read(buf) > 0) {
        buf.flip();
        md.update(buf);
        buf.clear();
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static void syncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // some platforms cannot open a directory; the renames are still atomic
    }
  }
}
