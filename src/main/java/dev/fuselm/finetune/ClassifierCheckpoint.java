package dev.fuselm.finetune;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** A GPT classifier directory: see {@link Checkpoint#saveClassifier} and {@link ClassifierHead}. */
@Deprecated(forRemoval = true) // merge shim: call io.Checkpoint.saveClassifier/loadClassifier
public final class ClassifierCheckpoint {
  public static final String HEAD_FILE = ClassifierHead.HEAD_FILE;
  public static final String META_FILE = ClassifierHead.META_FILE;

  private ClassifierCheckpoint() {}

  /** What classifier.json holds. */
  public record Meta(List<String> labels, int padId, int maxLength) {}

  public static void save(SequenceClassifier clf, int maxLength, Path dir, Path tokenizerFrom)
      throws IOException {
    Checkpoint.saveClassifier(ModelFamily.GPT2, clf.model(), dir,
        new ClassifierHead.Meta(clf.labels(), clf.padId(), maxLength, false),
        Map.of(SequenceClassifier.HEAD, clf.headWeight()), tokenizerFrom);
  }

  public static void copyTokenizerFiles(Path from, Path dir) throws IOException {
    Checkpoint.copyTokenizerFiles(ModelFamily.GPT2, from, dir);
  }

  public static Meta readMeta(Path dir) throws IOException {
    ClassifierHead.Meta m = ClassifierHead.readMeta(dir);
    return new Meta(m.labels(), m.padId(), m.maxLength());
  }

  public static SequenceClassifier load(ComputeContext ctx, Path dir) throws IOException {
    Checkpoint.Classifier<GptModel> c = Checkpoint.loadClassifier(ctx, dir, ModelFamily.GPT2);
    try {
      return new SequenceClassifier(c.model(), c.meta().labels(), c.meta().padId(),
          c.head().get(SequenceClassifier.HEAD));
    } catch (RuntimeException e) {
      c.model().close();
      throw e;
    }
  }
}
