package dev.fuselm.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The two files every Hugging Face model directory has, GPT-2 or BERT alike, found with the same
 * one-line errors for a missing directory or file. A training output directory with checkpoints
 * ({@link CheckpointDirectory}) is read as the checkpoint its {@code latest} names.
 */
final class ModelDirectory {
  static final String CONFIG = "config.json";
  static final String WEIGHTS = "model.safetensors";

  private ModelDirectory() {}

  /** dir/config.json, after checking that dir is a directory and the file exists. */
  static Path config(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new IOException(dir + ": no such model directory");
    }
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    return requireFile(dir, CONFIG);
  }

  /** dir/model.safetensors, after checking that it exists. */
  static Path weights(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    return requireFile(dir, WEIGHTS);
  }

  private static Path requireFile(Path dir, String name) throws IOException {
    Path f = dir.resolve(name);
    if (!Files.isRegularFile(f)) {
      throw new IOException(dir + ": no " + name + " (is this a model directory?)");
    }
    return f;
  }
}
