package dev.fuselm.serve;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A BERT or sentence-transformers directory loaded in one call as a sentence embedder:
 *
 * <pre>{@code
 * try (TextEmbedder embedder = TextEmbedder.load(Path.of("models/minilm"))) {
 *   float[][] vectors = embedder.embed(List.of("a cat", "a kitten"));
 * }
 * }</pre>
 *
 * <p>Pooling and normalisation are the directory's (a sentence-transformers directory's Pooling
 * and Normalize modules; a plain BERT directory: mean pooling, not normalised); texts longer than
 * the model's positions are truncated. It owns its context and model and frees them on {@link
 * #close()}. Calls are serialised ({@code synchronized}), so it may be shared between threads.
 */
public final class TextEmbedder implements AutoCloseable {
  private static final int BATCH = 32;

  private final ComputeContext ctx;
  private final SentenceEmbedder embedder;

  private TextEmbedder(ComputeContext ctx, SentenceEmbedder embedder) {
    this.ctx = ctx;
    this.embedder = embedder;
  }

  /**
   * Loads a BERT model directory (config.json, model.safetensors, its WordPiece vocabulary) on a
   * new context of the default backend.
   *
   * @throws IOException when the directory is not a BERT model directory
   */
  public static TextEmbedder load(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    ModelFamily<?, ?> family = Checkpoint.family(dir);
    if (family != ModelFamily.BERT) {
      throw new IOException(dir + ": a " + family.modelType() + " model directory is not a"
          + " sentence embedder (give a BERT or sentence-transformers directory)");
    }
    ComputeContext ctx = ComputeContext.create();
    try {
      return new TextEmbedder(ctx, Checkpoint.loadEmbedder(ctx, dir, Integer.MAX_VALUE, BATCH));
    } catch (IOException | RuntimeException | Error e) {
      ctx.close();
      throw e;
    }
  }

  /** The length of every vector. */
  public int dimension() {
    return embedder.dimension();
  }

  /** One vector per text, in order. */
  public synchronized float[][] embed(List<String> texts) {
    if (texts.isEmpty()) {
      return new float[0][];
    }
    return embedder.embed(texts);
  }

  /** The vector of one text. */
  public float[] embed(String text) {
    return embed(List.of(text))[0];
  }

  /** Frees the model and the context. */
  @Override
  public synchronized void close() {
    try {
      embedder.close();
    } finally {
      ctx.close();
    }
  }
}
