package dev.fuselm.train;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.data.MlmBatches;
import dev.fuselm.data.MlmDataset;
import dev.fuselm.data.MlmMasking;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.nn.Dropout;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * BERT pretraining, the MLM/NSP task of the {@link TrainingEngine}: masked-language-model loss
 * (plus the next-sentence loss with sentence pairs), validation on fixed masked batches, a Hugging
 * Face BERT directory as checkpoint. The engine does the rest (schedule, accumulation, AdamW with
 * clipping, periodic validation and checkpoints, exact resume, divergence stop); the AdamW
 * settings come from the config ({@link TrainConfig#bertPretraining}).
 *
 * <p>The config's {@code ctx} is the sequence length T; {@code stride} is not used. Validation
 * uses the last {@code valFraction} of the sentences (lines), cut and masked the same way but with
 * fixed masks, so every evaluation scores the same positions. As in {@link Trainer}, everything a
 * step depends on is a function of the saved state, so interrupted + resumed runs give the losses
 * of the uninterrupted run bit for bit; a NaN or infinite loss or gradient norm stops the loop
 * before the weights are touched.
 */
public final class MlmTrainer implements TrainingTask, AutoCloseable {
  /** Callbacks for progress, logging and saves; every method is optional. */
  public interface Listener {
    /** loss = mlmLoss + nspLoss (nspLoss is NaN without sentence pairs). */
    default void onStep(long step, float loss, float mlmLoss, float nspLoss, float lr,
        float gradNorm, double tokensPerSecond) {}

    default void onEval(long step, Eval result) {}

    default void onSave(long step, Path dir) {}
  }

  /**
   * A validation result: mean MLM loss and accuracy over the masked positions, and (with sentence
   * pairs) the mean NSP loss and accuracy over the sequences; NaN where not applicable.
   */
  public record Eval(long maskedTokens, double mlmLoss, double mlmAccuracy, long sequences,
      double nspLoss, double nspAccuracy) {
    public double loss() {
      return Double.isNaN(nspLoss) ? mlmLoss : mlmLoss + nspLoss;
    }
  }

  private final BertModel model;
  private final TrainConfig cfg;
  private final boolean nsp;
  private final MlmMasking masking;
  private final MlmBatches loader;
  private final MlmBatches valLoader;
  private final MlmBatches.Batch batch;
  private final TrainingEngine engine;
  private final long fingerprint;
  private final long dataTokens;
  private Listener listener;
  private double mlmSum;
  private double nspSum;
  private float lastMlm = Float.NaN;
  private float lastNsp = Float.NaN;
  private BatchShare share = BatchShare.single();

  /**
   * @param sentences the corpus as WordPiece ids per line ({@link MlmDataset#sentences})
   * @param nsp sentence pairs with the next-sentence loss, else contiguous MLM-only blocks
   */
  public MlmTrainer(BertModel model, WordPieceTokenizer tok, List<int[]> sentences, boolean nsp,
      boolean wholeWord, TrainConfig cfg, Listener listener) {
    if (!model.hasHeads()) {
      throw new IllegalArgumentException("MLM pretraining needs a model with the pre-training"
          + " heads (cls.*); this one has none");
    }
    if (cfg.ctx() > model.config().maxPositions()) {
      throw new IllegalArgumentException("--seq-len " + cfg.ctx() + " is longer than the model's"
          + " max_position_embeddings of " + model.config().maxPositions());
    }
    if (tok.vocabSize() > model.config().vocabSize()) {
      throw new IllegalArgumentException("the tokenizer has " + tok.vocabSize() + " ids but the"
          + " model's vocab_size is " + model.config().vocabSize());
    }
    if (nsp && model.config().typeVocabSize() < 2) {
      throw new IllegalArgumentException("--nsp needs type_vocab_size >= 2 (segments A and B)");
    }
    this.model = model;
    this.cfg = cfg;
    this.nsp = nsp;
    this.masking = MlmMasking.forTokenizer(tok, wholeWord);
    int val = (int) Math.round(sentences.size() * (double) cfg.valFraction());
    List<int[]> trainPart = sentences.subList(0, sentences.size() - val);
    List<int[]> valPart = sentences.subList(sentences.size() - val, sentences.size());
    this.loader = new MlmBatches(dataset(trainPart, tok), masking, cfg.batch(), cfg.shuffle(),
        cfg.seed());
    MlmBatches v = null;
    if (val > 0) {
      try {
        v = new MlmBatches(dataset(valPart, tok), masking, cfg.batch(), false, cfg.seed() + 1);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--val-fraction " + cfg.valFraction() + " holds out "
            + val + " lines, too few for one validation batch: raise it or use 0 ("
            + e.getMessage() + ")");
      }
    }
    this.valLoader = v;
    this.batch = loader.newBatch();
    int n = 0;
    for (int[] s : sentences) {
      n += s.length + 1;
    }
    int[] flat = new int[n];
    int at = 0;
    for (int[] s : sentences) {
      System.arraycopy(s, 0, flat, at, s.length);
      at += s.length;
      flat[at++] = -1; // line boundary: the same ids split differently are different data
    }
    this.fingerprint = TokenData.fingerprint(flat);
    this.dataTokens = n - sentences.size();
    model.enableGradients();
    this.engine = new TrainingEngine(this, cfg, model.context());
    setListener(listener);
  }

  private MlmDataset dataset(List<int[]> sentences, WordPieceTokenizer tok) {
    return nsp ? MlmDataset.sentencePairs(sentences, cfg.ctx(), tok)
        : MlmDataset.contiguous(sentences, cfg.ctx(), tok);
  }

  /** Replaces the listener (null: none). */
  public void setListener(Listener l) {
    Listener to = l == null ? new Listener() {} : l;
    this.listener = to;
    engine.setListener(new TrainingEngine.Listener() {
      @Override
      public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
        to.onStep(step, loss, lastMlm, lastNsp, lr, gradNorm, tps);
      }

      @Override
      public void onSave(long step, Path dir) {
        to.onSave(step, dir);
      }
    });
  }

  /**
   * Trains data-parallel over the group's processes (every rank calls it, after loading the
   * weights and before resume/run): see {@link TrainingEngine#distribute}.
   */
  public void distribute(ProcessGroup group) {
    engine.distribute(group);
  }

  /** How many checkpoint directories a save keeps in the output directory (default 2). */
  public void keepCheckpoints(int k) {
    engine.keepCheckpoints(k);
  }

  /** Extra entries for the checkpoint metadata (for example the tokenizer used). */
  public void putMetadata(String key, String value) {
    engine.putMetadata(key, value);
  }

  public long step() {
    return engine.step();
  }

  public LossHistory history() {
    return engine.history();
  }

  public MlmBatches loader() {
    return loader;
  }

  /** Training sequences (one epoch), and validation sequences (0 without validation). */
  public int trainSequences() {
    return loader.dataset().size();
  }

  public int valSequences() {
    return valLoader == null ? 0 : valLoader.dataset().size();
  }

  /** Sequence positions (padding included) per optimizer step. */
  public long tokensPerStep() {
    return engine.tokensPerStep();
  }

  @Override
  public Map<String, String> runMetadata() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("seq_len", Integer.toString(cfg.ctx()));
    m.put("grad_accum", Integer.toString(cfg.gradAccum()));
    m.put("shuffle", Boolean.toString(cfg.shuffle()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("val_fraction", Float.toString(cfg.valFraction()));
    m.put("nsp", Boolean.toString(nsp));
    m.put("whole_word", Boolean.toString(masking.wholeWord()));
    m.put("data_tokens", Long.toString(dataTokens));
    m.put("data_fingerprint", Long.toHexString(fingerprint));
    return m;
  }

  /**
   * Continues from a checkpoint directory whose weights are already in the model: restores the
   * optimizer moments, step, data position and loss history, after checking that the run matches.
   */
  public void resume(Path dir) throws IOException {
    engine.resume(dir);
  }

  /** Writes the model directory and the training state into dir. */
  public void save(Path dir) throws IOException {
    engine.save(dir);
  }

  /** Runs until step == cfg.steps(); returns the last training loss (NaN if no step ran). */
  public float run() throws IOException {
    try {
      return engine.run();
    } finally {
      model.setTraining(false);
    }
  }

  // ---- the MLM/NSP task ----

  @Override
  public ParameterSlab params() {
    return model.params();
  }

  @Override
  public ParameterSlab grads() {
    return model.grads();
  }

  @Override
  public void beginStep(long s) {
    model.setTraining(true);
    model.zeroGrad();
    mlmSum = 0;
    nspSum = 0;
  }

  @Override
  public void shard(BatchShare share) {
    this.share = share;
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    loader.next(batch);
    model.setDropoutSeed(Dropout.mixSeed(cfg.seed(), s, micro * share.size() + share.rank()));
    if (share.sharded()) {
      return shareStep(weight);
    }
    model.forwardHidden(new TokenBatch(batch.ids, nsp ? batch.typeIds : null,
        nsp ? batch.attentionMask : null, batch.b, batch.t));
    float mlm = model.mlmHead().loss(model.hidden(), batch.labels);
    float ns = nsp ? model.nspHead().loss(model.pooled(), batch.nextSentenceLabels) : 0f;
    mlmSum += mlm;
    nspSum += ns;
    if (!Float.isFinite(mlm) || !Float.isFinite(ns)) {
      return false;
    }
    model.backward(weight, nsp ? weight : 0f, null, null);
    return true;
  }

  /**
   * This rank's rows of the global batch (every rank reads it all, so the masks and pairs are the
   * one-process run's): the MLM loss weighed by its share of the batch's masked positions, the
   * NSP loss by its share of the sequences.
   */
  private boolean shareStep(float weight) {
    int b = batch.b, t = batch.t, rows = share.rows(b);
    if (rows == 0) {
      return true;
    }
    int[] labels = share.slice(batch.labels, b, t);
    int masked = 0;
    for (int y : labels) {
      masked += y == MlmMasking.IGNORE ? 0 : 1;
    }
    double fMlm = BatchShare.fraction(masked, batch.maskedCount());
    double fNsp = BatchShare.fraction(rows, b);
    model.forwardHidden(new TokenBatch(share.slice(batch.ids, b, t),
        nsp ? share.slice(batch.typeIds, b, t) : null,
        nsp ? share.slice(batch.attentionMask, b, t) : null, rows, t));
    float mlm = model.mlmHead().loss(model.hidden(), labels);
    float ns = nsp ? model.nspHead().loss(model.pooled(),
        share.slice(batch.nextSentenceLabels, b, 1)) : 0f;
    mlmSum += mlm * fMlm;
    nspSum += ns * fNsp;
    if (!Float.isFinite(mlm) || !Float.isFinite(ns)) {
      return false;
    }
    model.backward((float) (weight * fMlm), nsp ? (float) (weight * fNsp) : 0f, null, null);
    return true;
  }

  /** mlmLoss + nspLoss, each the mean over the micro-batches (NSP: with sentence pairs only). */
  @Override
  public float stepLoss(int gradAccum) {
    return globalLoss(lossTerms(gradAccum));
  }

  /** {MLM, NSP}: this rank's shares of the means over the micro-batches (NSP 0 without pairs). */
  @Override
  public double[] lossTerms(int gradAccum) {
    return new double[] {mlmSum / gradAccum, nspSum / gradAccum};
  }

  @Override
  public float globalLoss(double[] terms) {
    lastMlm = (float) terms[0];
    lastNsp = nsp ? (float) terms[1] : Float.NaN;
    return nsp ? lastMlm + lastNsp : lastMlm;
  }

  @Override
  public double evaluate(long s) {
    if (valLoader == null) {
      return Double.NaN;
    }
    Eval r = evaluate();
    listener.onEval(s, r);
    model.setTraining(true);
    return (float) r.loss();
  }

  @Override
  public long[] dataPosition() {
    return loader.position();
  }

  @Override
  public void seek(long epoch, long batch) {
    loader.seek(epoch, batch);
  }

  @Override
  public String weightsFile() {
    return Checkpoint.WEIGHTS;
  }

  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    Checkpoint.save(ModelFamily.BERT, model, dir, metadata);
  }

  /**
   * Validation on the held-out lines: the first cfg.evalBatches() fixed batches (0: all), in
   * evaluation mode. Null without validation data.
   */
  public Eval evaluate() {
    if (valLoader == null) {
      return null;
    }
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      int batches = valLoader.batchesPerEpoch();
      if (cfg.evalBatches() > 0) {
        batches = Math.min(batches, cfg.evalBatches());
      }
      MlmBatches.Batch vb = valLoader.newBatch();
      double mlmSum = 0, nspSum = 0;
      long masked = 0, mlmCorrect = 0, seqs = 0, nspCorrect = 0;
      int v = model.config().vocabSize();
      for (int k = 0; k < batches; k++) {
        valLoader.fixed(vb, k);
        model.forwardHidden(new TokenBatch(vb.ids, nsp ? vb.typeIds : null,
            nsp ? vb.attentionMask : null, vb.b, vb.t));
        int m = vb.maskedCount();
        float loss = model.mlmHead().loss(model.hidden(), vb.labels);
        if (m > 0) {
          mlmSum += (double) loss * m;
          masked += m;
          float[] logits = model.mlmHead().logits().toFloatArray();
          for (int i = 0, row = 0; i < vb.labels.length; i++) {
            if (vb.labels[i] != MlmMasking.IGNORE) {
              mlmCorrect += argmax(logits, row * v, v) == vb.labels[i] ? 1 : 0;
              row++;
            }
          }
        }
        if (nsp) {
          nspSum += (double) model.nspHead().loss(model.pooled(), vb.nextSentenceLabels) * vb.b;
          float[] z = model.nspHead().logits(model.pooled());
          for (int i = 0; i < vb.b; i++) {
            int pred = z[2 * i + 1] > z[2 * i] ? 1 : 0;
            nspCorrect += pred == vb.nextSentenceLabels[i] ? 1 : 0;
          }
          seqs += vb.b;
        }
      }
      return new Eval(masked, masked == 0 ? Double.NaN : mlmSum / masked,
          masked == 0 ? Double.NaN : (double) mlmCorrect / masked, seqs,
          nsp ? nspSum / seqs : Double.NaN, nsp ? (double) nspCorrect / seqs : Double.NaN);
    } finally {
      model.setTraining(was);
    }
  }

  private static int argmax(float[] z, int from, int n) {
    int best = 0;
    for (int j = 1; j < n; j++) {
      if (z[from + j] > z[from + best]) {
        best = j;
      }
    }
    return best;
  }

  @Override
  public void close() {
    engine.close();
  }
}
