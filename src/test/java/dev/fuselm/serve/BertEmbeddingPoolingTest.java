package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.SentenceTransformers;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.Pooling;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** /v1/embeddings' model pools as a sentence-transformers directory's Pooling module says. */
class BertEmbeddingPoolingTest {
  @TempDir Path dir;

  @Test
  void aClsPoolingDirectoryServesNormalizedClsEmbeddings() throws Exception {
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.random(c, new BertConfig(30522, 16, 2, 2, 32, 64, 2, 1e-12f, 0.1f,
            0.1f), 9)) {
      Checkpoint.save(ModelFamily.BERT, m, dir);
    }
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), dir);
    SentenceTransformers.write(dir, 16, Pooling.CLS, false);
    List<String> texts = List.of("The quick brown fox.", "a second, somewhat longer text");
    float[][] want;
    try (ComputeContext c = ComputeContext.create();
        SentenceEmbedder e = Checkpoint.loadEmbedder(c, dir, 512, 32)) {
      assertEquals(Pooling.CLS, e.pooling());
      want = e.embed(texts, Pooling.CLS, true);
    }
    try (BertEmbeddingModel emb = BertEmbeddingModel.open(dir, 0, 32)) {
      float[][] got = emb.embed(texts).vectors();
      for (int i = 0; i < texts.size(); i++) {
        assertArrayEquals(want[i], got[i], 1e-6f, "text " + i);
      }
    }
  }
}
