package dev.fuselm.io;

import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** A BERT model directory: see {@link Checkpoint} with {@link ModelFamily#BERT}. */
@Deprecated(forRemoval = true) // merge shim: call io.Checkpoint with ModelFamily.BERT
public final class BertCheckpoint {
  public static final String CONFIG = Checkpoint.CONFIG;
  public static final String WEIGHTS = Checkpoint.WEIGHTS;
  public static final String VOCAB = Tokenizers.VOCAB_TXT;

  private BertCheckpoint() {}

  public static BertConfig readConfig(Path dir) throws IOException {
    return Checkpoint.readConfig(dir, ModelFamily.BERT);
  }

  public static BertModel load(ComputeContext ctx, Path dir) throws IOException {
    return Checkpoint.load(ctx, dir, ModelFamily.BERT);
  }

  public static void loadInto(BertModel model, SafeTensors.Reader r) throws IOException {
    Checkpoint.loadInto(ModelFamily.BERT, model, r);
  }

  public static void save(BertModel model, Path dir, Map<String, String> metadata)
      throws IOException {
    Checkpoint.save(ModelFamily.BERT, model, dir, metadata);
  }

  public static void save(BertModel model, Path dir) throws IOException {
    Checkpoint.save(ModelFamily.BERT, model, dir);
  }

  public static void saveVocab(WordPieceTokenizer tokenizer, Path dir) throws IOException {
    Checkpoint.saveVocab(tokenizer, dir);
  }

  public static WordPieceTokenizer tokenizer(Path dir) throws IOException {
    return Tokenizers.wordPiece(dir);
  }
}
