package ai.companion.bench.impl;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Live heap of another JVM: {@code jcmd PID GC.run}, then the "used" figure of {@code jcmd PID GC.heap_info}. */
public final class HeapProbe {
  private static final Pattern USED = Pattern.compile("heap\\s+total \\d+K, used (\\d+)K");

  private HeapProbe() {}

  /** Bytes of heap in use after a full GC, or -1 where jcmd is missing or says something else. */
  public static long liveHeapBytes(long pid) {
    try {
      jcmd(pid, "GC.run");
      Matcher m = USED.matcher(jcmd(pid, "GC.heap_info"));
      return m.find() ? Long.parseLong(m.group(1)) * 1024 : -1;
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  /** The top of {@code jcmd PID GC.class_histogram} (live objects), or why not. */
  public static String histogram(long pid, int lines) {
    try {
      String[] all = jcmd(pid, "GC.class_histogram").split("\n");
      return String.join("\n", java.util.Arrays.copyOf(all, Math.min(all.length, lines)));
    } catch (IOException e) {
      return "jcmd GC.class_histogram failed: " + e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  private static String jcmd(long pid, String what) throws IOException, InterruptedException {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    Process p = new ProcessBuilder(jcmd.toString(), String.valueOf(pid), what).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("jcmd " + what + " timed out");
    }
    return new String(out, StandardCharsets.UTF_8);
  }
}
