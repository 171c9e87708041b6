package dev.fuselm.serve;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A BERT directory behind {@code POST /v1/embeddings}: L2-normalised sentence embeddings (as
 * OpenAI's are unit length) from a {@link SentenceEmbedder}, pooled as a sentence-transformers
 * directory's Pooling module says (mean for a plain directory). It owns its own compute
 * context, so embedding requests never touch the generation session's; calls are serialised by the
 * embedder and each batch uses every kernel thread.
 */
public final class BertEmbeddingModel implements EmbeddingModel, AutoCloseable {
  private final ComputeContext ctx;
  private final SentenceEmbedder embedder;
  private final WordPieceTokenizer tokenizer;
  private final String name;

  private BertEmbeddingModel(ComputeContext ctx, SentenceEmbedder embedder,
      WordPieceTokenizer tokenizer, String name) {
    this.ctx = ctx;
    this.embedder = embedder;
    this.tokenizer = tokenizer;
    this.name = name;
  }

  /**
   * Loads a BERT model directory (config.json, model.safetensors, vocab.txt).
   *
   * @param threads kernel threads, 0 for all cores
   */
  public static BertEmbeddingModel open(Path dir, int threads, int batchSize) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    ComputeContext ctx = ComputeContext.create();
    try {
      ctx.threads(threads);
      WordPieceTokenizer tok = Tokenizers.wordPiece(dir);
      SentenceEmbedder e = Checkpoint.loadEmbedder(ctx, dir, Integer.MAX_VALUE,
          batchSize);
      return new BertEmbeddingModel(ctx, e, tok,
          dir.toAbsolutePath().normalize().getFileName().toString());
    } catch (IOException | RuntimeException e) {
      ctx.close();
      throw e;
    }
  }

  @Override
  public String name() {
    return name;
  }

  /** The embedding width. */
  public int dimension() {
    return embedder.dimension();
  }

  /** Texts longer than the model's positions are truncated, as {@code fuselm embed} does. */
  @Override
  public Embeddings embed(List<String> inputs) {
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("no input texts");
    }
    int[][] ids = new int[inputs.size()][];
    int tokens = 0;
    for (int i = 0; i < ids.length; i++) {
      ids[i] = tokenizer.encodeForModel(inputs.get(i), null, embedder.maxLength(), 0).ids();
      tokens += ids[i].length;
    }
    return new Embeddings(embedder.embedIds(ids, true), tokens);
  }

  @Override
  public void close() {
    embedder.close();
    ctx.close();
  }
}
