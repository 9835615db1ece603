package ai.companion.router.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * Companion to the JMH run on a shared machine: the same {@code decide} path as
 * {@link RouteDecisionBenchmark#decide()}, timed per call both by the wall clock and by the thread's own CPU
 * time, so that time spent descheduled (other processes on the two cores) can be told from the router's work.
 * Arguments: [calls, default 50000]. Run like {@link RouteDecisionBench}.
 */
public final class DecisionCpuTime {
  private DecisionCpuTime() {}

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
    RouteDecisionBenchmark b = new RouteDecisionBenchmark();
    b.setup();
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    for (int i = 0; i < 20_000; i++) b.decide();   // warm-up
    long[] wall = new long[calls];
    long[] cpu = new long[calls];
    for (int i = 0; i < calls; i++) {
      long c0 = mx.getCurrentThreadCpuTime();
      long w0 = System.nanoTime();
      b.decide();
      wall[i] = System.nanoTime() - w0;
      cpu[i] = mx.getCurrentThreadCpuTime() - c0;
    }
    b.tearDown();
    Arrays.sort(wall);
    Arrays.sort(cpu);
    System.out.println(String.format(Locale.ROOT, "decide over %d calls (210 prompts cycled): wall p50 %.1f us, p99 %.1f us,"
            + " p99.9 %.1f us; thread CPU p50 %.1f us, p99 %.1f us, p99.9 %.1f us", calls, wall[calls / 2] / 1e3,
        wall[(int) (calls * 0.99)] / 1e3, wall[(int) (calls * 0.999)] / 1e3, cpu[calls / 2] / 1e3,
        cpu[(int) (calls * 0.99)] / 1e3, cpu[(int) (calls * 0.999)] / 1e3));
    System.exit(0);
  }
}
