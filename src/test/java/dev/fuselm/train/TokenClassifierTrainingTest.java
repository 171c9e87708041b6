package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.baseline.MostFrequentTagBaseline;
import dev.fuselm.data.ConllData;
import dev.fuselm.data.NerEncoding;
import dev.fuselm.data.NerTags;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.TokenClassifierFiles;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.serve.NamedEntityRecognizer;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A unit-sized NER fine-tune (the CI version of the README's figure): a small random BERT (2
 * layers, hidden 64, bert-base-uncased's vocabulary) trained for 6 epochs on 400 sentences of the
 * OpenNLP dates corpus must beat the most-frequent-tag baseline's entity F1 on 120 held-out
 * sentences, and reach 0.5. The saved directory loads as a {@link NamedEntityRecognizer} that
 * tags as the trained model does, with character spans into the text.
 */
class TokenClassifierTrainingTest {
  @TempDir Path tmp;

  static Path resource(String name) {
    return Path.of("src/test/resources/ner", name);
  }

  @Test
  void fineTuneBeatsTheBaselineAndReloads() throws IOException {
    long t0 = System.nanoTime();
    ConllData train = ConllData.read(resource("dates-train.conll"));
    ConllData test = ConllData.read(resource("dates-test.conll"));
    List<String> labels = train.labels();
    assertEquals(List.of("O", "B-DATE", "I-DATE"), labels);
    WordPieceTokenizer tok = WordPieceTokenizer.bertBaseUncased();
    TokenClassifierTrainer.Examples tr = examples(train, tok, labels);
    TokenClassifierTrainer.Examples te = examples(test, tok, labels);
    double baseline = MostFrequentTagBaseline.train(train).evaluate(test).f1();
    List<ObjectNode> log = new ArrayList<>();
    double f1;
    Path dir = tmp.resolve("ner");
    List<String> sentence = test.sentences().get(0).words();
    List<String> trainedTags;
    try (ComputeContext ctx = ComputeContext.create()) {
      BertModel bert = BertModel.random(ctx,
          new BertConfig(tok.vocabSize(), 64, 2, 2, 128, 128, 2, 1e-12f, 0.1f, 0.1f), 5);
      try (TokenClassifier<BertModel> clf = TokenClassifier.of(bert, labels, 0, 9L)) {
        TokenClassifierTrainer.Config cfg = new TokenClassifierTrainer.Config(6, 16, 2e-3f, 0.01f,
            1f, true, 123, 10, false);
        try (TokenClassifierTrainer t = new TokenClassifierTrainer(clf, tr, te, cfg, 128,
            log::add)) {
          t.run();
        }
        TokenClassifierTrainer.Metrics m = TokenClassifierTrainer.evaluate(clf, te, 16);
        f1 = m.entities().f1();
        trainedTags = TokenClassifierTrainer.names(labels,
            TokenClassifierTrainer.predictWords(clf, examples(test.slice(0, 1), tok, labels), 1)
                .get(0));
        TokenClassifierFiles.save(clf, 128, dir, null);
        Checkpoint.saveVocab(tok, dir);
      }
    }
    assertEquals(6, log.size(), "one line per epoch");
    assertTrue(f1 > baseline && f1 >= 0.5, "entity F1 " + f1 + " vs baseline " + baseline);
    try (NamedEntityRecognizer ner = NamedEntityRecognizer.load(dir)) {
      assertEquals(trainedTags, ner.tag(sentence).tags());
      String text = "The film was released on 12 March 2004 in London.";
      List<NamedEntityRecognizer.Entity> ents = ner.recognize(text);
      List<String> words = new ArrayList<>();
      for (NerEncoding.Span s : NerEncoding.words(text)) {
        words.add(s.of(text));
      }
      List<NerTags.Entity> want = NerTags.entities(ner.tag(words).tags());
      assertEquals(want.size(), ents.size());
      for (NamedEntityRecognizer.Entity e : ents) {
        assertEquals(text.substring(e.start(), e.end()), e.text());
        assertEquals("DATE", e.type());
      }
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("NER unit fine-tune: test entity F1 %.3f, baseline %.3f, %.1f s%n", f1,
        baseline, seconds);
  }

  static TokenClassifierTrainer.Examples examples(ConllData d, WordPieceTokenizer tok,
      List<String> labels) {
    List<NerEncoding.Encoded> enc = new ArrayList<>();
    List<int[]> y = new ArrayList<>();
    for (int s = 0; s < d.size(); s++) {
      int[] ids = d.tagIds(s, labels);
      enc.add(NerEncoding.encode(tok, d.sentences().get(s).words(), ids, 128));
      y.add(ids);
    }
    return new TokenClassifierTrainer.Examples(enc, y, true);
  }
}
