package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The burst rule on made-up clocks: waves are bursts, after quiet or back to back; steady traffic is not. */
class ArrivalPaceTest {
  private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
  private static final long GAP = 5 * MS;
  private static final long T0 = 1_000_000 * MS;

  @Test void aWaveAfterAQuietSpellIsABurst() {
    ArrivalPace pace = new ArrivalPace(GAP);
    pace.arrived(T0);
    assertFalse(pace.outpaces(), "one arrival is no burst");
    // 2000 clients within 200 ms, nothing before
    for (int i = 1; i < 2000; i++) {
      pace.arrived(T0 + i * 100_000L);
      assertTrue(pace.outpaces(), "arrival " + i);
    }
  }

  @Test void wavesBackToBackAreBursts() {
    ArrivalPace pace = new ArrivalPace(GAP);
    // each wave: 2000 within 300 ms; the next 2.5 s after the one before began
    for (int wave = 0; wave < 4; wave++) {
      long start = T0 + wave * 2500 * MS;
      int held = 0;
      for (int i = 0; i < 2000; i++) {
        pace.arrived(start + i * 150_000L);
        if (pace.outpaces()) held++;
      }
      // after the first: 2000 a 2.5 s (800 a second) before, 6,667 a second now; its first arrivals, taken over
      // 150 ms, are not yet twice 800 a second
      assertTrue(held >= 1700, "wave " + wave + ": " + held + " of 2000 arrivals in a burst");
      assertTrue(pace.outpaces(), "wave " + wave + " at its end");
    }
  }

  @Test void steadyTrafficIsNoBurst() {
    for (int rate : new int[] {50, 100, 400, 800, 1600}) {
      ArrivalPace pace = new ArrivalPace(GAP);
      SplittableRandom random = new SplittableRandom(rate);
      double meanGapNanos = 1e9 / rate;
      long t = T0;
      long end = T0 + TimeUnit.SECONDS.toNanos(20);
      int arrivals = 0;
      int bursts = 0;
      int firstSecond = 0;
      while (t < end) {
        t += (long) (-Math.log(1 - random.nextDouble()) * meanGapNanos);
        pace.arrived(t);
        // the first arrivals after a quiet spell are a burst, rightly; here they last a few hundred ms
        if (t - T0 < TimeUnit.SECONDS.toNanos(1)) {
          if (pace.outpaces()) firstSecond++;
          continue;
        }
        arrivals++;
        if (pace.outpaces()) bursts++;
      }
      assertTrue(bursts <= arrivals / 1000, rate + "/s: " + bursts + " of " + arrivals + " arrivals in a burst");
      assertTrue(firstSecond <= rate / 2, rate + "/s: " + firstSecond + " arrivals of the first second in a burst");
    }
  }

  @Test void theBunchAfterAShortStallOfSteadyTrafficIsNoBurst() {
    // 800 a second for 2 s, then the node stalls (nothing is submitted) and the requests that came meanwhile are
    // submitted within 2 ms: after 140 ms 112 of them, no burst; after 400 ms 320, a burst (that far behind, the
    // newcomers first is right)
    for (long stallMs : new long[] {140, 400}) {
      ArrivalPace pace = new ArrivalPace(GAP);
      for (int i = 0; i < 1600; i++) pace.arrived(T0 + i * 1_250_000L);
      long resumed = T0 + 2000 * MS + stallMs * MS;
      int bunch = (int) (stallMs * 800 / 1000);
      for (int i = 0; i < bunch; i++) pace.arrived(resumed + i * (2 * MS / bunch));
      assertEquals(stallMs == 400, pace.outpaces(), "a " + stallMs + " ms stall's bunch of " + bunch
          + " against " + pace.rateBefore() + " a second before");
    }
  }

  @Test void aPauseOfTheGapStartsANewBurstWithItsOwnPace() {
    ArrivalPace pace = new ArrivalPace(GAP);
    for (int i = 0; i < 400; i++) pace.arrived(T0 + i * 5 * MS);   // 200 a second for 2 s
    long t = T0 + 2000 * MS;
    // 100 arrivals within 10 ms: 667 a second (taken over 150 ms) against 200 before
    for (int i = 0; i < 100; i++) pace.arrived(t + i * 100_000L);
    assertTrue(pace.outpaces());
    assertEquals(200, pace.rateBefore(), 5);
    // a pause of the gap, then one arrival every 4 ms: 167 a second over 150 ms, less than twice the 250 a second
    // before (the fast burst now counts there); without the pause the fast burst would still be this one
    long u = t + 10 * MS + GAP;
    for (int i = 0; i < 25; i++) {
      pace.arrived(u + i * 4 * MS);
      assertFalse(pace.outpaces(), "arrival " + i + " of the slow burst");
    }
  }

  @Test void aGapMustBePositive() {
    assertThrows(IllegalArgumentException.class, () -> new ArrivalPace(0));
  }
}
