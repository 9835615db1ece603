package ai.companion.gateway.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class KeyLimitsTest {

  private final AtomicLong now = new AtomicLong();
  private final KeyLimits limits = new KeyLimits(new SecurityOptions().setRatePerMinute(60).setBurst(3)
      .setMaxConcurrentStreams(2), now::get);

  @Test
  void burstThenRefillAtTheRate() {
    for (int i = 0; i < 3; i++) assertEquals(0, limits.tryAcquireRequest("k"), "burst " + i);
    assertEquals(1, limits.tryAcquireRequest("k"), "empty bucket: retry in one second at 60/min");
    now.addAndGet(TimeUnit.MILLISECONDS.toNanos(500));
    assertEquals(1, limits.tryAcquireRequest("k"), "half a token is not enough");
    now.addAndGet(TimeUnit.MILLISECONDS.toNanos(500));
    assertEquals(0, limits.tryAcquireRequest("k"));
    now.addAndGet(TimeUnit.MINUTES.toNanos(10));
    for (int i = 0; i < 3; i++) assertEquals(0, limits.tryAcquireRequest("k"), "refilled only up to the burst");
    assertTrue(limits.tryAcquireRequest("k") > 0);
    assertEquals(0, limits.tryAcquireRequest("other"), "each key has its own bucket");
  }

  @Test
  void concurrentStreamsPerKey() {
    assertTrue(limits.tryAcquireStream("k"));
    assertTrue(limits.tryAcquireStream("k"));
    assertFalse(limits.tryAcquireStream("k"));
    assertTrue(limits.tryAcquireStream("j"));
    limits.releaseStream("k");
    assertEquals(1, limits.activeStreams("k"));
    assertTrue(limits.tryAcquireStream("k"));
    limits.releaseStream("k");
    limits.releaseStream("k");
    limits.releaseStream("k"); // one too many never goes negative
    assertEquals(0, limits.activeStreams("k"));
  }

  @Test
  void keysAreHashedAndParsed() {
    ApiKeys keys = ApiKeys.parse(" sk-one-12345:tenantA , sk-two-67890 ");
    assertEquals(2, keys.size());
    assertEquals("tenantA", keys.lookup("sk-one-12345").orElseThrow().tenant());
    assertEquals("default", keys.lookup("sk-two-67890").orElseThrow().tenant());
    assertTrue(keys.lookup("sk-one-1234").isEmpty());
    String id = keys.lookup("sk-one-12345").orElseThrow().id();
    assertEquals(ApiKeys.sha256("sk-one-12345").substring(0, 12), id);
    assertFalse(id.contains("sk-one"));
    assertFalse(ApiKeys.parse("").enabled());
    assertFalse(ApiKeys.parse(null).enabled());
    assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("short:t"));
    assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse("long-enough-key:"));
    assertEquals("abc", ApiKeys.bearer("Bearer abc"));
    assertEquals("abc", ApiKeys.bearer("bearer  abc "));
    assertEquals(null, ApiKeys.bearer("Basic abc"));
  }

  @Test
  void optionsRejectNonsense() {
    assertThrows(IllegalArgumentException.class, () -> new SecurityOptions().setRatePerMinute(0));
    assertThrows(IllegalArgumentException.class, () -> new SecurityOptions().setBurst(0));
    assertThrows(IllegalArgumentException.class, () -> new SecurityOptions().setMaxConcurrentStreams(0));
    SecurityOptions o = new SecurityOptions(new io.vertx.core.json.JsonObject().put("apiKeys",
        new io.vertx.core.json.JsonArray().add("sk-array-key-1:t1")).put("rateLimitBurst", 7));
    assertEquals(7, o.getBurst());
    assertTrue(ApiKeys.parse(o.getApiKeys()).lookup("sk-array-key-1").isPresent());
  }
}
