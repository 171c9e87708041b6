package dev.fuselm.serve;

import dev.fuselm.generate.Generator.Result;
import dev.fuselm.generate.StopRules;
import dev.fuselm.generate.Generator.StopReason;
import dev.fuselm.serve.InferenceSession.TokenLogprobs;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.StreamingDecoder;
import dev.fuselm.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;

/**
 * One choice of a completion request as it generates: decodes its tokens to text on the session's
 * scheduler thread, matches the stop strings on the decoded text (across token boundaries; the
 * stop text is not emitted and generation ends at the token that completes it), holds back the
 * text that may be the start of a stop string, and collects log-probabilities. A streaming request
 * gets {@link Event}s on a queue; a plain one reads {@link #text()} when it is done.
 */
final class Choice {
  /** One token's log-probability and its alternatives, as text. */
  record TokenLogprob(String token, byte[] bytes, float logprob, int textOffset,
      List<TokenLogprob> top) {}

  /** A piece of a streamed choice: text (maybe empty), logprobs, and the finish at the end. */
  record Event(Choice choice, String text, List<TokenLogprob> logprobs, String finishReason,
      Throwable error) {}

  final int index;
  final int promptTokens;
  private final Tokenizer tok;
  private final StreamingDecoder dec;
  private final int eos;
  private final List<String> stops;
  private final int maxStop;
  private final BlockingQueue<Event> events; // null: not streamed
  private final ServerMetrics metrics;
  private final StringBuilder text = new StringBuilder();
  private final List<TokenLogprob> logprobs = new ArrayList<>();
  private int emitted; // chars of text already streamed
  private boolean stopMatched;
  private long lastTokenNanos;
  private int tokens;
  private Result result;
  private Throwable error;

  Choice(int index, int promptTokens, Tokenizer tok, int eos, List<String> stops,
      BlockingQueue<Event> events, ServerMetrics metrics) {
    this.index = index;
    this.promptTokens = promptTokens;
    this.tok = tok;
    this.dec = tok instanceof Gpt2BpeTokenizer g ? g.streamingDecoder() : null;
    this.eos = eos;
    this.stops = stops;
    this.maxStop = stops.stream().mapToInt(String::length).max().orElse(0);
    this.events = events;
    this.metrics = metrics;
    this.lastTokenNanos = System.nanoTime();
  }

  /** The session's listener: false once a stop string is complete. */
  synchronized boolean onToken(int id, TokenLogprobs lp) {
    long now = System.nanoTime();
    metrics.token(tokens++ == 0, now - lastTokenNanos);
    lastTokenNanos = now;
    if (id == eos) {
      return true; // the session stops at it; its text is not part of the completion
    }
    int offset = text.length();
    int searchFrom = Math.max(0, text.length() - maxStop + 1);
    text.append(dec != null ? dec.push(id) : tok.decode(new int[] {id}));
    List<TokenLogprob> lps = null;
    if (lp != null) {
      List<TokenLogprob> top = new ArrayList<>(lp.topIds().length);
      for (int i = 0; i < lp.topIds().length; i++) {
        top.add(tokenLogprob(lp.topIds()[i], lp.topLogprobs()[i], offset, List.of()));
      }
      TokenLogprob t = tokenLogprob(id, lp.logprob(), offset, top);
      logprobs.add(t);
      lps = List.of(t);
    }
    int stopAt = StopRules.firstStop(text, stops, searchFrom);
    if (stopAt >= 0) {
      text.setLength(Math.max(stopAt, emitted));
      stopMatched = true;
    }
    emit(stopAt >= 0 ? text.length() : text.length() - StopRules.heldBack(text, stops), lps);
    return stopAt < 0;
  }

  private TokenLogprob tokenLogprob(int id, float lp, int offset, List<TokenLogprob> top) {
    byte[] b = tok instanceof Gpt2BpeTokenizer g ? g.tokenBytes(id)
        : tok.decode(new int[] {id}).getBytes(StandardCharsets.UTF_8);
    return new TokenLogprob(new String(b, StandardCharsets.UTF_8), b, lp, offset, top);
  }


  private void emit(int upTo, List<TokenLogprob> lps) {
    if (events == null || (upTo <= emitted && lps == null)) {
      return;
    }
    String piece = upTo > emitted ? text.substring(emitted, upTo) : "";
    emitted = Math.max(emitted, upTo);
    events.add(new Event(this, piece, lps, null, null));
  }

  /** Called when the session's future completes, normally or not. */
  synchronized void finish(Result r, Throwable e) {
    if (e instanceof CompletionException && e.getCause() != null) {
      e = e.getCause();
    }
    if (r == null) {
      error = e;
      if (events != null && !(e instanceof CancellationException)) {
        events.add(new Event(this, "", null, null, e));
      }
      return;
    }
    result = r;
    if (!stopMatched && dec != null) {
      text.append(dec.finish());
    }
    if (events != null) {
      String rest = text.substring(Math.min(emitted, text.length()));
      emitted = text.length();
      events.add(new Event(this, rest, null, finishReason(), null));
    }
  }

  synchronized String text() {
    return text.toString();
  }

  synchronized List<TokenLogprob> logprobs() {
    return List.copyOf(logprobs);
  }

  synchronized Result result() {
    return result;
  }

  synchronized Throwable error() {
    return error;
  }

  /** "stop" for the end-of-text token or a stop string, "length" otherwise. */
  synchronized String finishReason() {
    return result.reason() == StopReason.STOP_TOKEN || stopMatched ? "stop" : "length";
  }
}
