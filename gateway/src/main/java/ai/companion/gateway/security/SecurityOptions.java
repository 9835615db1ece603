package ai.companion.gateway.security;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * API keys, per-key limits and CORS of the gateway. Read from the gateway's config JSON (same object as
 * {@code GatewayOptions}); keys may also come from {@code COMPANION_API_KEYS} (see {@link ApiKeys#parse}).
 *
 * <p>No keys configured means an open gateway (the embedded default on loopback); once there is one key,
 * every endpoint but {@code /health/*}, {@code /metrics} and the static web page needs one.
 */
public class SecurityOptions {

  /** Requests per minute and key (the token bucket's refill rate). */
  public static final int DEFAULT_RATE_PER_MINUTE = 600;
  /** Requests a key may fire at once before the refill rate applies. */
  public static final int DEFAULT_BURST = 60;
  /** Generations one key may run at the same time, over every door (REST, WebSocket, gRPC). */
  public static final int DEFAULT_MAX_CONCURRENT_STREAMS = 8;
  /** Origins allowed by CORS; {@code *} allows any (keys, not cookies, protect the API). */
  public static final List<String> DEFAULT_CORS_ORIGINS = List.of("*");

  private String apiKeys = "";
  private int ratePerMinute = DEFAULT_RATE_PER_MINUTE;
  private int burst = DEFAULT_BURST;
  private int maxConcurrentStreams = DEFAULT_MAX_CONCURRENT_STREAMS;
  private List<String> corsOrigins = DEFAULT_CORS_ORIGINS;

  public SecurityOptions() {}

  public SecurityOptions(SecurityOptions other) {
    this(other.toJson());
  }

  public SecurityOptions(JsonObject json) {
    if (json == null) return;
    Object keys = json.getValue("apiKeys");
    if (keys instanceof JsonArray arr) {
      setApiKeys(String.join(",", arr.stream().map(String::valueOf).toList()));
    } else if (keys != null) {
      setApiKeys(String.valueOf(keys));
    }
    setRatePerMinute(json.getInteger("rateLimitPerMinute", DEFAULT_RATE_PER_MINUTE));
    setBurst(json.getInteger("rateLimitBurst", DEFAULT_BURST));
    setMaxConcurrentStreams(json.getInteger("maxConcurrentStreams", DEFAULT_MAX_CONCURRENT_STREAMS));
    JsonArray origins = json.getJsonArray("corsOrigins");
    if (origins != null) setCorsOrigins(origins.stream().map(String::valueOf).toList());
  }

  /** Never writes the keys themselves back out. */
  public JsonObject toJson() {
    return new JsonObject().put("apiKeys", apiKeys).put("rateLimitPerMinute", ratePerMinute)
        .put("rateLimitBurst", burst).put("maxConcurrentStreams", maxConcurrentStreams)
        .put("corsOrigins", new JsonArray(corsOrigins));
  }

  public String getApiKeys() { return apiKeys; }

  /** {@code key1:tenantA,key2:tenantB}; a key without {@code :tenant} gets tenant {@code default}. */
  public SecurityOptions setApiKeys(String apiKeys) {
    ApiKeys.parse(apiKeys); // rejects malformed lists now, not at the first request
    this.apiKeys = apiKeys == null ? "" : apiKeys;
    return this;
  }

  public int getRatePerMinute() { return ratePerMinute; }

  public SecurityOptions setRatePerMinute(int ratePerMinute) {
    if (ratePerMinute < 1) throw new IllegalArgumentException("rateLimitPerMinute must be >= 1, got " + ratePerMinute);
    this.ratePerMinute = ratePerMinute;
    return this;
  }

  public int getBurst() { return burst; }

  public SecurityOptions setBurst(int burst) {
    if (burst < 1) throw new IllegalArgumentException("rateLimitBurst must be >= 1, got " + burst);
    this.burst = burst;
    return this;
  }

  public int getMaxConcurrentStreams() { return maxConcurrentStreams; }

  public SecurityOptions setMaxConcurrentStreams(int maxConcurrentStreams) {
    if (maxConcurrentStreams < 1) {
      throw new IllegalArgumentException("maxConcurrentStreams must be >= 1, got " + maxConcurrentStreams);
    }
    this.maxConcurrentStreams = maxConcurrentStreams;
    return this;
  }

  public List<String> getCorsOrigins() { return corsOrigins; }

  public SecurityOptions setCorsOrigins(List<String> corsOrigins) {
    if (corsOrigins == null || corsOrigins.isEmpty()) throw new IllegalArgumentException("corsOrigins must not be empty");
    this.corsOrigins = List.copyOf(corsOrigins);
    return this;
  }
}
