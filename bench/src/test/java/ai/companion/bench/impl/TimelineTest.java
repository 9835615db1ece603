package ai.companion.bench.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The figures' definitions, on made-up timestamps: the same as tjs-generate.mjs's. */
class TimelineTest {

  private static final long MS = 1_000_000L;

  @Test
  void ttftAndDecodeRateCountOnlyTokensAfterTheFirstEvent() {
    Timeline t = new Timeline(1000 * MS);
    t.tokens(1010 * MS, 1);   // first token 10 ms after the request
    t.tokens(1020 * MS, 1);
    t.tokens(1030 * MS, 2);   // one event with two tokens
    t.finish(1030 * MS, "length");
    assertEquals(10.0, t.ttftMs(), 1e-9);
    assertEquals(4, t.tokens());
    // 3 tokens after the first event, in 20 ms
    assertEquals(150.0, t.decodeTps(), 1e-9);
    assertEquals(1000.0 / 150.0, t.msPerToken(), 1e-9);
    assertTrue(t.ok());
  }

  @Test
  void usageOverridesTheChunkCountAndErrorsAreNotOk() {
    Timeline t = new Timeline(0);
    t.headers(5 * MS);
    t.tokens(10 * MS, 1);
    t.tokens(20 * MS, 1);
    t.totalTokens(5);
    assertEquals(5.0, t.headersMs(), 1e-9);
    assertEquals(400.0, t.decodeTps(), 1e-9);
    assertFalse(t.ok(), "no finish yet");
    t.fail(30 * MS, "HTTP 503");
    assertFalse(t.ok());
    assertEquals("HTTP 503", t.error());
  }

  @Test
  void oneEventHasNoDecodeRate() {
    Timeline t = new Timeline(0);
    t.tokens(10 * MS, 1);
    assertTrue(Double.isNaN(t.decodeTps()));
  }

  @Test
  void percentilesByNearestRank() {
    List<Double> v = List.of(5.0, 1.0, 4.0, 2.0, 3.0, Double.NaN);
    assertEquals(1.0, Stats.percentile(v, 0));
    assertEquals(3.0, Stats.percentile(v, 50));
    assertEquals(5.0, Stats.percentile(v, 99));
    assertEquals(5.0, Stats.percentile(v, 100));
    assertTrue(Double.isNaN(Stats.percentile(List.of(), 50)));
    assertEquals("2.00x", Stats.ratio(4, 2));
    assertEquals("n/a", Stats.ratio(Double.NaN, 2));
  }
}
