package ai.companion.modelimport;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar on a console stream, redrawn in place at most every 100 ms:
 * {@code Converting stories260K [##########----------]  50%  22/44 tensors  0.5/1.1 MB}.
 */
public final class ConsoleProgress implements ProgressListener {
  public static final int DEFAULT_WIDTH = 30;
  private static final long REDRAW_NANOS = 100_000_000L;

  private final PrintStream out;
  private final int width;
  private String task = "";
  private long totalBytes;
  private int totalTensors;
  private long lastDraw;
  private long bytes;
  private int tensors;

  public ConsoleProgress() {
    this(System.err, DEFAULT_WIDTH);
  }

  public ConsoleProgress(PrintStream out, int width) {
    if (width < 1) throw new IllegalArgumentException("width must be >= 1, got " + width);
    this.out = out;
    this.width = width;
  }

  @Override
  public void begin(String task, long totalBytes, int totalTensors) {
    this.task = task;
    this.totalBytes = totalBytes;
    this.totalTensors = totalTensors;
    this.bytes = 0;
    this.tensors = 0;
    draw();
  }

  @Override
  public void progress(long bytesDone, int tensorsDone) {
    bytes = bytesDone;
    tensors = tensorsDone;
    long now = System.nanoTime();
    if (now - lastDraw >= REDRAW_NANOS) draw();
  }

  @Override
  public void end(boolean ok) {
    draw();
    out.println(ok ? "  done" : "  failed");
    out.flush();
  }

  /** The current line, without the carriage return. */
  public String line() {
    double frac = totalBytes > 0 ? Math.min(1.0, (double) bytes / totalBytes) : 0;
    int filled = (int) Math.round(frac * width);
    return String.format(Locale.ROOT, "%s [%s%s] %3d%%  %d/%d tensors  %s/%s", task,
        "#".repeat(filled), "-".repeat(width - filled), Math.round(frac * 100), tensors,
        totalTensors, mb(bytes), mb(totalBytes));
  }

  private void draw() {
    lastDraw = System.nanoTime();
    out.print("\r" + line());
    out.flush();
  }

  private static String mb(long b) {
    return String.format(Locale.ROOT, "%.1f MB", b / 1e6);
  }
}
