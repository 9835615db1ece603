package ai.companion.sdk;

/** How hard ONNX Runtime optimizes and how many cores it uses (the worker's {@code optimizationLevel}). */
public enum OptimizationLevel {
  /** Basic graph optimizations, one intra-op thread: lowest memory and start-up time. */
  LOW,
  /** Extended optimizations, half the cores. */
  MEDIUM,
  /** Every optimization, every core. */
  HIGH
}
