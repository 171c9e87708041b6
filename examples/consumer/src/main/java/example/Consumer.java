package example;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.serve.InferenceSession;
import dev.fuselm.serve.LanguageModel;
import dev.fuselm.serve.TextClassifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Uses fuselm from its installed artifacts: generates with an InferenceSession from several threads
 * and checks the answers against the same prompts run one after another, then loads the same model
 * in one call ({@code LanguageModel}) and streams a completion, then classifies two texts with a
 * fine-tuned classifier directory ({@code TextClassifier}).
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

    // one-call loading: the model directory with its tokenizer
    try (LanguageModel lm = LanguageModel.load(modelDir)) {
      GenerationConfig gc = GenerationConfig.builder().maxNewTokens(20).build();
      StringBuilder streamed = new StringBuilder();
      String text = lm.generate("ROMEO:", gc, streamed::append);
      System.out.println("language model ROMEO: -> " + text.replace("\n", "\\n"));
      if (!text.equals(streamed.toString())) {
        throw new IllegalStateException("streamed text differs from the returned text");
      }
    }

    try (TextClassifier clf = TextClassifier.load(classifierDir)) {
      for (String text : new String[] {"WINNER!! Claim your free prize now, call 09061701461",
          "Are we still meeting for lunch tomorrow?"}) {
        TextClassifier.Prediction p = clf.classify(text);
        System.out.println("classify " + text + " -> " + p.label() + " " + p.probabilities());
      }
    }
    System.out.println("consumer OK");
  }
}
