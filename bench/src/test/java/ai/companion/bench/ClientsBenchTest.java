package ai.companion.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The open loop's schedule ({@code bench clients --rate}): its arrivals, not a node (the waves need a child JVM). */
class ClientsBenchTest {

  @Test void poissonArrivalsComeAtTheRateAskedWithIndependentGaps() {
    long[] at = ClientsBench.poissonArrivals(500, 20, 7);
    assertEquals(10_000, at.length);
    for (int i = 1; i < at.length; i++) assertTrue(at[i] >= at[i - 1], "arrival " + i + " before the one before it");
    // 10,000 exponential gaps of mean 2 ms: their sum within 5% of 20 s (a standard deviation is 1%)
    assertEquals(20e9, at[at.length - 1], 1e9);
    // exponential, not even: about e^-1 of the gaps are longer than the mean, and some are five times as long
    int longer = 0;
    int veryLong = 0;
    for (int i = 1; i < at.length; i++) {
      long gap = at[i] - at[i - 1];
      if (gap > 2_000_000) longer++;
      if (gap > 10_000_000) veryLong++;
    }
    assertEquals(Math.exp(-1), longer / 10_000.0, 0.03);
    assertTrue(veryLong > 20, veryLong + " gaps above five times the mean");
    assertArrayEquals(at, ClientsBench.poissonArrivals(500, 20, 7));
  }
}
