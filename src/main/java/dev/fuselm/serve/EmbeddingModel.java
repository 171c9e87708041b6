package dev.fuselm.serve;

import java.util.List;

/**
 * What {@code POST /v1/embeddings} needs from a model: one vector per input text. A BERT encoder
 * implements it; a server without one answers that endpoint with an OpenAI-style error.
 * Implementations must be safe to call from several threads (or serialise internally).
 */
public interface EmbeddingModel {
  /** The vectors of {@code inputs} (one per text, all of the same length) and the tokens read. */
  record Embeddings(float[][] vectors, int promptTokens) {}

  /** The model's name as responses report it. */
  String name();

  /**
   * Embeds each text.
   *
   * @throws IllegalArgumentException for an input the model cannot take (the client gets a 400)
   */
  Embeddings embed(List<String> inputs);
}
