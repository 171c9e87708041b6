package dev.fuselm.serve;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The server's Prometheus metrics (Micrometer), served at {@code GET /metrics}: queue depth and
 * active slots of the session, requests by endpoint and outcome, prompt and generated tokens, and
 * histograms of the time to the first token and between tokens.
 */
final class ServerMetrics {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(
      PrometheusConfig.DEFAULT);
  private final Counter promptTokens;
  private final Counter generatedTokens;
  private final Timer timeToFirstToken;
  private final Timer interTokenLatency;

  private final Supplier<InferenceSession> session; // held: Micrometer keeps gauges' state weakly

  ServerMetrics(Supplier<InferenceSession> session) {
    this.session = session;
    Gauge.builder("fuselm.queue.depth", session,
        s -> s.get() == null ? 0 : s.get().stats().queued())
        .description("requests waiting for a slot").register(registry);
    Gauge.builder("fuselm.active.slots", session,
        s -> s.get() == null ? 0 : s.get().stats().active())
        .description("requests generating (holding a KV-cache slot)").register(registry);
    Gauge.builder("fuselm.prefix.cache.entries", session,
        s -> s.get() == null ? 0 : s.get().prefixCacheEntries())
        .description("finished prompts held for reuse").register(registry);
    prefill("fuselm.prefix.cache.hits", "requests whose prompt reused held KV entries",
        InferenceSession.PrefillStats::prefixHits);
    prefill("fuselm.prefix.cache.tokens.reused", "prompt positions copied instead of computed",
        InferenceSession.PrefillStats::prefixTokensReused);
    prefill("fuselm.prefill.shared", "choices that copied the prefill of an identical prompt"
        + " admitted with them (n > 1)", InferenceSession.PrefillStats::sharedPrefills);
    prefill("fuselm.prefill.passes", "prefill passes (one may prefill several prompts)",
        InferenceSession.PrefillStats::passes);
    prefill("fuselm.prefill.tokens", "prompt positions computed by prefill passes",
        InferenceSession.PrefillStats::computedTokens);
    promptTokens = Counter.builder("fuselm.prompt.tokens").description("prompt tokens submitted")
        .register(registry);
    generatedTokens = Counter.builder("fuselm.generated.tokens")
        .description("tokens generated").register(registry);
    timeToFirstToken = Timer.builder("fuselm.time.to.first.token")
        .description("from a choice's submission to its first token").publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(120))
        .register(registry);
    interTokenLatency = Timer.builder("fuselm.inter.token.latency")
        .description("between two tokens of one choice").publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(10))
        .register(registry);
  }

  private void prefill(String name, String description,
      java.util.function.ToLongFunction<InferenceSession.PrefillStats> value) {
    FunctionCounter.builder(name, session,
        s -> s.get() == null ? 0 : value.applyAsLong(s.get().prefillStats()))
        .description(description).register(registry);
  }

  /** A finished request: outcome from its HTTP status, or "cancelled" (status 0). */
  void request(String endpoint, int status) {
    String outcome = status == 0 ? "cancelled" : status < 400 ? "success" : status == 401
        ? "unauthorized" : status == 429 ? "rate_limited" : status < 500 ? "client_error"
        : "server_error";
    registry.counter("fuselm.requests", "endpoint", endpoint, "outcome", outcome).increment();
  }

  void promptTokens(int n) {
    promptTokens.increment(n);
  }

  /** A generated token, {@code nanos} after the previous one (or after submission when first). */
  void token(boolean first, long nanos) {
    generatedTokens.increment();
    (first ? timeToFirstToken : interTokenLatency).record(nanos, TimeUnit.NANOSECONDS);
  }

  /** The Prometheus text exposition. */
  String scrape() {
    return registry.scrape();
  }
}
