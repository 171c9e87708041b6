package dev.fuselm.serve;

import java.util.Iterator;
import java.util.LinkedHashSet;

/**
 * The KV-cache slots of an {@link InferenceSession} as its scheduler sees them (scheduler thread
 * only): which are busy, and which prompt's prefill each slot holds, so that a later prompt with
 * the same first tokens copies their keys and values instead of recomputing them (exact prefix
 * caching).
 *
 * <p>A slot "holds" a prompt when positions 0..prompt.length-1 of its cache are exactly what a
 * prefill of that prompt on the GEMM's packed path computes (prompts of more than {@link
 * dev.fuselm.model.KvCache#MAX_DECODE_ROWS} tokens); generated positions are never held, as decode
 * steps compute them on the other path. A busy slot holds its request's prompt while it decodes
 * (decoding writes only later positions); a free slot keeps its prompt while it is one of the
 * {@code entries} most recently used free slots (LRU), and forgets it when evicted or reused.
 */
final class SlotPool {
  /** The best source of a prompt's first tokens: a slot and how many leading tokens it shares. */
  record Match(int slot, int tokens) {}

  private final int entries;
  private final boolean[] busy;
  private final int[][] held;
  private final LinkedHashSet<Integer> cached = new LinkedHashSet<>(); // least recently used first

  /**
   * @param slots all slots of the cache
   * @param entries free slots that may keep their prompt (0: no prefix caching at all)
   */
  SlotPool(int slots, int entries) {
    this.entries = entries;
    this.busy = new boolean[slots];
    this.held = new int[slots][];
  }

  boolean enabled() {
    return entries > 0;
  }

  /** Free slots that hold a prompt now. */
  int cachedEntries() {
    return cached.size();
  }

  /**
   * The slot (busy or free) whose held prompt shares the most leading tokens with {@code prompt};
   * null when prefix caching is off or none shares any. A free slot that matches becomes the most
   * recently used.
   */
  Match longestPrefix(int[] prompt) {
    if (!enabled()) {
      return null;
    }
    int best = -1;
    int bestLen = 0;
    for (int s = 0; s < held.length; s++) {
      int[] h = held[s];
      if (h == null) {
        continue;
      }
      int n = Math.min(h.length, prompt.length);
      int k = 0;
      while (k < n && h[k] == prompt[k]) {
        k++;
      }
      if (k > bestLen) {
        best = s;
        bestLen = k;
      }
    }
    if (best < 0) {
      return null;
    }
    if (cached.remove(best)) {
      cached.add(best);
    }
    return new Match(best, bestLen);
  }

  /**
   * Takes a free slot for a new request: one that holds nothing, else the least recently used
   * cached one other than {@code keep} (evicting its prompt), else {@code keep} itself (the caller
   * reuses its positions in place). The slot holds nothing until {@link #hold}. -1 when every slot
   * is busy.
   */
  int take(int keep) {
    int pick = -1;
    for (int s = 0; s < busy.length && pick < 0; s++) {
      if (!busy[s] && held[s] == null) {
        pick = s;
      }
    }
    if (pick < 0) {
      for (Iterator<Integer> it = cached.iterator(); it.hasNext() && pick < 0; ) {
        int s = it.next();
        if (s != keep) {
          pick = s;
        }
      }
    }
    if (pick < 0 && keep >= 0 && !busy[keep]) {
      pick = keep;
    }
    if (pick >= 0) {
      busy[pick] = true;
      cached.remove(pick);
      held[pick] = null; // until its prefill succeeds (hold)
    }
    return pick;
  }

  /** The busy slot now holds the prefill of {@code prompt} (null: nothing reusable). */
  void hold(int slot, int[] prompt) {
    held[slot] = enabled() ? prompt : null;
  }

  /**
   * Frees a busy slot; it keeps its held prompt as the most recently used entry, evicting the least
   * recently used beyond the bound.
   */
  void release(int slot) {
    busy[slot] = false;
    if (held[slot] == null || !enabled()) {
      held[slot] = null;
      return;
    }
    cached.add(slot);
    while (cached.size() > entries) {
      Iterator<Integer> it = cached.iterator();
      held[it.next()] = null;
      it.remove();
    }
  }
}
