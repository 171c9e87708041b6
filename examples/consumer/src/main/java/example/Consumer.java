package example;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.serve.InferenceSession;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Uses fuselm from its installed artifacts: generates with an InferenceSession from several threads
 * and checks the answers against the same prompts run one after another, then classifies two texts
 * with a fine-tuned classifier directory.
 */
public final class Consumer {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      throw new IllegalArgumentException("usage: Consumer MODEL_DIR CLASSIFIER_DIR");
    }
    Path modelDir = Path.of(args[0]);
    Path classifierDir = Path.of(args[1]);
    String[] prompts = {"ROMEO:", "JULIET:", "First Citizen:", "To be"};
    GenerationConfig greedy = GenerationConfig.greedy(20);

    try (InferenceSession session = InferenceSession.open(modelDir,
        InferenceSession.Options.defaults().withSlots(4))) {
      // one after another
      List<String> sequential = new ArrayList<>();
      for (String p : prompts) {
        sequential.add(session.complete(p, greedy));
      }
      // all at once, from four threads
      List<CompletableFuture<String>> futures = new ArrayList<>();
      for (String p : prompts) {
        futures.add(CompletableFuture.supplyAsync(() -> session.complete(p, greedy)));
      }
      for (int i = 0; i < prompts.length; i++) {
        String text = futures.get(i).get();
        System.out.println("generate " + prompts[i] + " -> " + text.replace("\n", "\\n"));
        if (!text.equals(sequential.get(i))) {
          throw new IllegalStateException("concurrent and sequential generation differ for "
              + prompts[i]);
        }
      }
      System.out.println("session " + session.stats());
    }

    Tokenizer tok = Tokenizers.forModel(classifierDir,
        Checkpoint.readConfig(classifierDir, ModelFamily.GPT2).vocabSize());
    ClassifierHead.Meta meta = ClassifierHead.readMeta(classifierDir);
    try (ComputeContext ctx = ComputeContext.create();
        SequenceClassifier<GptModel> clf = Checkpoint.loadSequenceClassifier(ctx, classifierDir,
            ModelFamily.GPT2)) {
      for (String text : new String[] {"WINNER!! Claim your free prize now, call 09061701461",
          "Are we still meeting for lunch tomorrow?"}) {
        int[] ids = tok.encode(text);
        ids = Arrays.copyOf(ids, Math.min(ids.length, meta.maxLength()));
        double[] p = clf.probabilities(TokenBatch.rightPadded(List.of(ids), clf.padId(), 0));
        int best = 0;
        for (int j = 1; j < p.length; j++) {
          best = p[j] > p[best] ? j : best;
        }
        System.out.printf("classify %s -> %s %s%n", text, clf.labels().get(best),
            Arrays.toString(p));
      }
    }
    System.out.println("consumer OK");
  }
}
