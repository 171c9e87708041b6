package dev.fuselm.serve;

import dev.fuselm.generate.StopRules;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.StreamingDecoder;
import dev.fuselm.tokenizer.Tokenizer;
import java.util.List;
import java.util.function.Consumer;

/**
 * Turns one sequence's generated ids into text as they arrive: UTF-8-safe pieces (a character split
 * across tokens is delivered once its last byte is there, through the tokenizer's {@link
 * StreamingDecoder}), stop strings matched on the text across token boundaries (the stop text and
 * what follows are dropped), and text that may be the start of a stop string held back until it
 * is known not to be. The pieces delivered add up to {@link #text()}. One per sequence; not
 * thread-safe.
 */
final class TextStream {
  private final Tokenizer tok;
  private final StreamingDecoder dec;
  private final int endOfText;
  private final List<String> stops;
  private final int maxStop;
  private final Consumer<String> sink; // may be null
  private final StringBuilder text = new StringBuilder();
  private int emitted;
  private boolean stopped;

  TextStream(Tokenizer tok, int endOfText, List<String> stops, Consumer<String> sink) {
    this.tok = tok;
    this.dec = tok instanceof Gpt2BpeTokenizer g ? g.streamingDecoder() : null;
    this.endOfText = endOfText;
    this.stops = stops;
    this.maxStop = stops.stream().mapToInt(String::length).max().orElse(0);
    this.sink = sink;
  }

  /** Adds a generated id; false once a stop string is complete (generation should end). */
  boolean push(int id) {
    if (stopped) {
      return false;
    }
    if (id == endOfText) {
      return true; // the generator stops at it; its text is not part of the output
    }
    int searchFrom = Math.max(0, text.length() - maxStop + 1);
    text.append(dec != null ? dec.push(id) : tok.decode(new int[] {id}));
    int stopAt = StopRules.firstStop(text, stops, searchFrom);
    if (stopAt >= 0) {
      text.setLength(Math.max(stopAt, emitted));
      stopped = true;
      emit(text.length());
      return false;
    }
    emit(text.length() - StopRules.heldBack(text, stops));
    return true;
  }

  /** Flushes what was held back (and any incomplete UTF-8 bytes, as U+FFFD); returns the text. */
  String finish() {
    if (!stopped && dec != null) {
      text.append(dec.finish());
    }
    emit(text.length());
    return text.toString();
  }

  String text() {
    return text.toString();
  }


  private void emit(int upTo) {
    if (upTo > emitted) {
      String piece = text.substring(emitted, upTo);
      emitted = upTo;
      if (sink != null) {
        sink.accept(piece);
      }
    }
  }
}
