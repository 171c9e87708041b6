package dev.fuselm.finetune;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** A BERT classifier directory: see {@link Checkpoint#saveClassifier} and {@link ClassifierHead}. */
@Deprecated(forRemoval = true) // merge shim: call io.Checkpoint.saveClassifier/loadClassifier
public final class BertClassifierCheckpoint {
  private BertClassifierCheckpoint() {}

  public static void save(BertSequenceClassifier clf, int maxLength, boolean pairs, Path dir,
      Path tokenizerFrom) throws IOException {
    Checkpoint.saveClassifier(ModelFamily.BERT, clf.model(), dir,
        new ClassifierHead.Meta(clf.labels(), clf.padId(), maxLength, pairs),
        Map.of(BertSequenceClassifier.WEIGHT, clf.weight(), BertSequenceClassifier.BIAS,
            clf.bias()), tokenizerFrom);
  }

  /** True when dir's config.json has {@code "model_type": "bert"}. */
  public static boolean isBertModel(Path dir) throws IOException {
    return Checkpoint.family(dir) == ModelFamily.BERT;
  }

  public static boolean sentencePairs(Path dir) throws IOException {
    return ClassifierHead.readMeta(dir).sentencePairs();
  }

  public static BertSequenceClassifier load(ComputeContext ctx, Path dir) throws IOException {
    Checkpoint.Classifier<BertModel> c = Checkpoint.loadClassifier(ctx, dir, ModelFamily.BERT);
    try {
      return new BertSequenceClassifier(c.model(), c.meta().labels(), c.meta().padId(),
          c.head().get(BertSequenceClassifier.WEIGHT), c.head().get(BertSequenceClassifier.BIAS));
    } catch (RuntimeException e) {
      c.model().close();
      throw e;
    }
  }
}
