package ai.companion.modelimport;

/**
 * Hears how far a conversion is: bytes of weights and tensors written so far. Called on the thread
 * that converts.
 */
public interface ProgressListener {
  /** Does nothing. */
  ProgressListener NONE = new ProgressListener() {};

  /** A conversion starts; totals are the weights to write. */
  default void begin(String task, long totalBytes, int totalTensors) {}

  /** Cumulative bytes and tensors written. */
  default void progress(long bytesDone, int tensorsDone) {}

  /** The conversion ended, well ({@code ok}) or not. */
  default void end(boolean ok) {}
}
