package dev.fuselm.serve;

import dev.fuselm.generate.Generator.StopReason;
import dev.fuselm.model.KvCache;
import dev.fuselm.serve.InferenceSession.Active;
import dev.fuselm.serve.InferenceSession.Request;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Admits one round of requests of an {@link InferenceSession} (on its scheduler thread): gives each
 * a slot, copies the prompt positions another slot already holds ({@link SlotPool}), prefills the
 * rest of all the round's prompts in as few passes as possible, and samples each first token.
 *
 * <p>Exactness: every prompt position ends up with the bits the session's plain path (one prompt
 * prefilled alone, {@code forwardCached} of all its tokens) computes, because every op of the
 * cached forward computes a row from that row alone, with one exception: the GEMM has two paths,
 * small-M (at most {@link KvCache#MAX_DECODE_ROWS} rows) and packed, whose last bits differ; within
 * a path a row's result does not depend on the other rows (same K blocking, no split over K). So:
 *
 * <ul>
 *   <li>a prompt of more than MAX_DECODE_ROWS tokens (packed alone) is prefilled in a pass of more
 *       than MAX_DECODE_ROWS rows: it reuses at most its length - MAX_DECODE_ROWS - 1 held tokens,
 *       and may share its pass with other such prompts;
 *   <li>a prompt of at most MAX_DECODE_ROWS tokens (small-M alone) reuses nothing and shares a pass
 *       only with short prompts of at most MAX_DECODE_ROWS rows in all;
 *   <li>a slot holds only prefilled prompt positions (generated ones come from decode steps);
 *   <li>an identical prompt admitted in the same round copies the whole prefill and its logits.
 * </ul>
 */
final class Prefill {
  private Prefill() {}

  /** One prompt's work: the request, and the positions copied before its prefill. */
  private record Item(Active a, int[] prompt) {
    int rows() {
      return prompt.length - a.start;
    }

    boolean packed() {
      return prompt.length > KvCache.MAX_DECODE_ROWS;
    }
  }

  /** Admits the round; returns their actives (some already finished or failed). */
  static List<Active> admit(InferenceSession s, List<Request> round) {
    List<Active> out = new ArrayList<>();
    List<Item> items = new ArrayList<>();
    Map<List<Integer>, Active> firstOf = new HashMap<>();
    for (Request r : round) {
      if (r.gc.maxNewTokens() == 0) {
        Active a = new Active(r, -1);
        a.reason = StopReason.BUDGET;
        s.finish(a);
        out.add(a);
        continue;
      }
      int[] p = r.prompt;
      List<Integer> key = Arrays.stream(p).boxed().toList();
      Active same = firstOf.get(key);
      if (same != null) { // its prefill is copied once computed
        Active a = new Active(r, s.pool.take(-1));
        a.twin = same;
        out.add(a);
        continue;
      }
      SlotPool.Match m = p.length > KvCache.MAX_DECODE_ROWS ? s.pool.longestPrefix(p) : null;
      int reuse = m == null ? 0 : Math.min(m.tokens(), p.length - KvCache.MAX_DECODE_ROWS - 1);
      Active a = new Active(r, s.pool.take(reuse > 0 ? m.slot() : -1));
      if (reuse > 0) {
        s.cache.copyPrefix(m.slot(), a.slot, reuse);
        a.start = reuse;
        s.prefixHits.incrementAndGet();
        s.prefixTokens.addAndGet(reuse);
      }
      firstOf.put(key, a);
      items.add(new Item(a, p));
      out.add(a);
    }
    // packed prompts in passes of up to maxRows rows; short ones in passes of up to
    // MAX_DECODE_ROWS rows in all
    for (boolean packed : new boolean[] {true, false}) {
      int limit = packed ? s.cache.maxRows() : KvCache.MAX_DECODE_ROWS;
      List<Item> pass = new ArrayList<>();
      int rows = 0;
      for (Item it : items) {
        if (it.packed() != packed) {
          continue;
        }
        if (!pass.isEmpty()
            && (rows + it.rows() > limit || pass.size() == s.cache.maxSequences())) {
          run(s, pass, out);
          pass.clear();
          rows = 0;
        }
        pass.add(it);
        rows += it.rows();
      }
      if (!pass.isEmpty()) {
        run(s, pass, out);
      }
    }
    return out;
  }

  /** One prefill pass, then the copies for identical prompts and every first token. */
  private static void run(InferenceSession s, List<Item> pass, List<Active> round) {
    int b = pass.size();
    int[] slots = new int[b];
    int[] starts = new int[b];
    int[] counts = new int[b];
    int total = 0;
    for (int i = 0; i < b; i++) {
      Item it = pass.get(i);
      slots[i] = it.a.slot;
      starts[i] = it.a.start;
      counts[i] = it.rows();
      total += counts[i];
    }
    int[] tokens = new int[total];
    for (int i = 0, at = 0; i < b; i++) {
      Item it = pass.get(i);
      System.arraycopy(it.prompt, it.a.start, tokens, at, counts[i]);
      at += counts[i];
    }
    float[] logits;
    try {
      logits = s.model.forwardCached(s.cache, slots, starts, counts, tokens).toFloatArray();
    } catch (RuntimeException | Error e) {
      for (Active a : round) { // a native failure cannot be attributed to one prompt
        if (a == null || a.slot < 0) {
          continue;
        }
        if (inPass(pass, a) || inPass(pass, a.twin)) {
          s.fail(a, e); // its slot holds nothing (SlotPool.take), so nothing half-written is reused
        }
      }
      return;
    }
    s.prefillPasses.incrementAndGet();
    s.prefillTokens.addAndGet(total);
    int v = s.model.config().vocabSize();
    for (int i = 0; i < b; i++) {
      Item it = pass.get(i);
      // the prefill is complete: its prompt positions are reusable from now on (a cancelled
      // request's too, as the pass ran to the end)
      s.pool.hold(it.a.slot, it.packed() ? it.prompt : null);
      for (Active t : round) {
        if (t.twin == it.a) {
          s.cache.copyPrefix(it.a.slot, t.slot, it.prompt.length);
          s.pool.hold(t.slot, it.packed() ? it.prompt : null);
          s.sharedPrefills.incrementAndGet();
        }
      }
    }
    for (int i = 0; i < b; i++) {
      Item it = pass.get(i);
      acceptSafely(s, it.a, logits, i * v);
      for (Active t : round) {
        if (t.twin == it.a) {
          acceptSafely(s, t, logits, i * v);
        }
      }
    }
  }

  private static boolean inPass(List<Item> pass, Active a) {
    for (Item it : pass) {
      if (it.a == a) {
        return true;
      }
    }
    return false;
  }

  /** The first token; a failure (a listener's) fails this request only. */
  private static void acceptSafely(InferenceSession s, Active a, float[] logits, int offset) {
    try {
      s.accept(a, logits, offset);
    } catch (RuntimeException | Error e) {
      s.fail(a, e);
    }
  }
}
