package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * finetune-classify from a BERT encoder without a pooler (a sentence-transformers model, e.g.
 * LangChain4j's MiniLM imported from ONNX): the pooler is initialised as Hugging Face's
 * BertForSequenceClassification does, said on stderr, and saved with the classifier.
 */
class PoolerlessBertFinetuneTest {
  @TempDir Path tmp;

  @Test
  void aPoolerlessEncoderFineTunesWithAFreshPooler() throws Exception {
    Path enc = tmp.resolve("encoder");
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.create(c, new BertConfig(30522, 32, 2, 2, 32, 64, 2, 1e-12f, 0.1f,
            0.1f), false, false)) {
      m.initialize(5);
      Checkpoint.save(ModelFamily.BERT, m, enc);
    }
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), enc);
    StringBuilder rows = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      rows.append(i % 2 == 0 ? "spam\twin a free prize now " + i : "ham\tsee you at lunch " + i)
          .append('\n');
    }
    Path tsv = tmp.resolve("d.tsv");
    Files.writeString(tsv, rows);
    Path clf = tmp.resolve("clf");
    ClassifyCliTest.Run r = ClassifyCliTest.run("finetune-classify", "--init", enc.toString(),
        "--data", tsv.toString(), "--text-column", "1", "--label-column", "0", "--out",
        clf.toString(), "--epochs", "1", "--batch", "8", "--max-length", "16");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.err().contains("has no pooler (bert.pooler.*): initialising one"), r.err());
    try (SafeTensors.Reader w = SafeTensors.open(clf.resolve("model.safetensors"))) {
      assertTrue(w.entries().keySet().stream().anyMatch(k -> k.contains("pooler.dense.weight")),
          w.entries().keySet().toString());
    }
    ClassifyCliTest.Run one = ClassifyCliTest.run("classify", "--model", clf.toString(), "--text",
        "win a free prize");
    assertEquals(0, one.code(), one.err());
  }
}
