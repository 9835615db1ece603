package ai.companion.node.impl;

import java.io.PrintStream;

/** A one-line console progress bar; on a non-terminal it prints a line per 10 %. */
public final class ProgressBar {
  private static final int WIDTH = 30;
  private final PrintStream out;
  private final String label;
  private final long total;
  private final boolean terminal = System.console() != null;
  private int lastDecile = -1;

  public ProgressBar(PrintStream out, String label, long total) {
    this.out = out;
    this.label = label;
    this.total = Math.max(1, total);
  }

  public void update(long done, String detail) {
    double f = Math.min(1.0, (double) done / total);
    if (terminal) {
      int filled = (int) Math.round(f * WIDTH);
      out.printf("\r%s [%s%s] %3d%% %s\u001b[K", label, "#".repeat(filled), ".".repeat(WIDTH - filled),
          Math.round(f * 100), detail == null ? "" : detail);
      out.flush();
    } else {
      int decile = (int) (f * 10);
      if (decile != lastDecile) {
        lastDecile = decile;
        out.printf("%s %3d%% %s%n", label, decile * 10, detail == null ? "" : detail);
      }
    }
  }

  public void finish() {
    if (terminal) out.println();
  }
}
