package dev.fuselm.finetune;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.train.AdamW;
import dev.fuselm.train.LrSchedule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Instruction fine-tuning: next-token loss on collated prompt/response batches ({@link
 * InstructionCollator}), AdamW over either every model weight or, with LoRA adapters, the adapters
 * alone (the base is frozen: no gradient slab, no moments, never written). Validation loss is
 * logged every evalEvery steps and after each epoch.
 */
public final class InstructionTrainer {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Training settings; fixedLength 0 pads each batch to its longest sequence. */
  public record Config(int epochs, int batch, float lr, float weightDecay, float clip, int warmup,
      boolean maskPrompt, int fixedLength, int evalEvery, long seed) {
    public Config {
      if (epochs < 1 || batch < 1) {
        throw new IllegalArgumentException("epochs and batch must be positive, got " + epochs
            + " and " + batch);
      }
      if (!(lr > 0) || !(weightDecay >= 0) || !(clip >= 0) || warmup < 0 || evalEvery < 0
          || fixedLength < 0) {
        throw new IllegalArgumentException("need lr > 0, weight decay >= 0, clip >= 0, warmup >= 0,"
            + " eval-every >= 0 and max-length >= 0");
      }
    }
  }

  private InstructionTrainer() {}

  /** Mean loss per target token over a set (evaluation mode), or NaN for an empty set. */
  public static double loss(GptModel model, List<InstructionCollator.Encoded> set, int batch,
      int eot, boolean maskPrompt, int fixedLength) {
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      double sum = 0;
      long count = 0;
      for (int s = 0; s < set.size(); s += batch) {
        InstructionCollator.Batch b = InstructionCollator.collate(
            set.subList(s, Math.min(set.size(), s + batch)), eot, maskPrompt, fixedLength);
        float l = model.forward(b.inputs(), b.targets(), b.b(), b.t());
        long n = model.lastTargetCount();
        if (n > 0) {
          sum += (double) l * n;
          count += n;
        }
      }
      return count == 0 ? Double.NaN : sum / count;
    } finally {
      model.setTraining(was);
    }
  }

  /**
   * Trains model (lora null: every weight; else only the adapters, which this attaches) on train,
   * logging JSON objects to log: one per step ({@code event: step}), per evaluation and per epoch.
   */
  public static void train(GptModel model, LoraAdapters lora,
      List<InstructionCollator.Encoded> train, List<InstructionCollator.Encoded> val, int eot,
      Config cfg, Consumer<ObjectNode> log) {
    ParameterSlab params;
    ParameterSlab grads;
    if (lora != null) {
      if (!lora.trainable()) {
        throw new IllegalArgumentException("the LoRA adapters were made without gradients");
      }
      model.setLora(lora);
      params = lora.params();
      grads = lora.grads();
    } else {
      model.enableGradients();
      params = model.params();
      grads = model.grads();
    }
    int stepsPerEpoch = (train.size() + cfg.batch() - 1) / cfg.batch();
    LrSchedule schedule = new LrSchedule(cfg.lr(), cfg.lr(), cfg.warmup(),
        stepsPerEpoch * cfg.epochs(), false);
    try (AdamW opt = new AdamW(model.context(), params, grads, 0.9f, 0.999f, 1e-8f,
        cfg.weightDecay(), cfg.clip())) {
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < train.size(); i++) {
        order.add(i);
      }
      Random rng = new Random(cfg.seed());
      long step = 0;
      for (int epoch = 1; epoch <= cfg.epochs(); epoch++) {
        Collections.shuffle(order, rng);
        double lossSum = 0;
        long tokens = 0;
        for (int s = 0; s < order.size(); s += cfg.batch()) {
          List<InstructionCollator.Encoded> items = new ArrayList<>();
          for (int i = s; i < Math.min(order.size(), s + cfg.batch()); i++) {
            items.add(train.get(order.get(i)));
          }
          InstructionCollator.Batch b = InstructionCollator.collate(items, eot, cfg.maskPrompt(),
              cfg.fixedLength());
          step++;
          model.setTraining(true);
          model.setDropoutSeed(cfg.seed() * 1_000_003L + step);
          grads.flat().zero();
          float loss = model.forward(b.inputs(), b.targets(), b.b(), b.t());
          model.backward(1f);
          float norm = opt.gradNorm();
          if (!Float.isFinite(loss) || !Float.isFinite(norm)) {
            throw new IllegalStateException("the training loss is " + loss + " (gradient norm "
                + norm + ") at step " + step + "; try a lower --lr");
          }
          float lr = schedule.at(step - 1);
          opt.step(step, lr, norm);
          long n = model.lastTargetCount();
          lossSum += (double) loss * n;
          tokens += n;
          ObjectNode st = JSON.createObjectNode();
          st.put("event", "step").put("epoch", epoch).put("step", step).put("loss", loss)
              .put("lr", lr).put("grad_norm", norm).put("targets", n);
          log.accept(st);
          if (cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0 && !val.isEmpty()) {
            ObjectNode ev = JSON.createObjectNode();
            ev.put("event", "eval").put("step", step).put("val_loss",
                loss(model, val, cfg.batch(), eot, cfg.maskPrompt(), cfg.fixedLength()));
            log.accept(ev);
          }
        }
        ObjectNode ep = JSON.createObjectNode();
        ep.put("event", "epoch").put("epoch", epoch).put("step", step)
            .put("train_loss", lossSum / Math.max(1, tokens));
        if (!val.isEmpty()) {
          ep.put("val_loss", loss(model, val, cfg.batch(), eot, cfg.maskPrompt(),
              cfg.fixedLength()));
        }
        log.accept(ep);
      }
    } finally {
      model.setTraining(false);
    }
  }

  /**
   * Greedy (or sampled, per gc) responses to prompts, stopping at eot or the context's end; each
   * prompt must be shorter than the context. listener, if not null, sees each response's tokens.
   */
  public static List<int[]> respond(GptModel model, List<int[]> prompts, GenerationConfig gc,
      Generator.TokenListener listener) {
    List<int[]> out = new ArrayList<>();
    try (Generator g = new Generator(model, 1)) {
      for (int[] p : prompts) {
        if (p.length >= model.config().contextLength()) {
          throw new IllegalArgumentException("the prompt is " + p.length + " tokens, the model's"
              + " context is " + model.config().contextLength() + " (it must be shorter)");
        }
        int[] ids = g.generate(p, gc, listener).ids();
        if (ids.length > 0 && ids[ids.length - 1] == gc.stopToken()) {
          ids = Arrays.copyOf(ids, ids.length - 1);
        }
        out.add(ids);
      }
    }
    return out;
  }
}
